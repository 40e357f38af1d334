//! Strict serde decoding of a [`Node`]: the deserializer carries the field path (as a chain of stack frames,
//! turned into a [`FieldPath`] only when an error needs it) and every error is pinned to the innermost node
//! that caused it.

use std::fmt;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, EnumAccess, Expected, IntoDeserializer, MapAccess,
    SeqAccess, Unexpected, VariantAccess, Visitor,
};

use super::node::float_text;
use super::{DecodeError, Node, Value};
use crate::diag::Span;
use crate::path::FieldPath;

/// Deepest nesting decoded. Parsed trees are limited by [`super::Limits::max_depth`] already; this guards
/// the stack against trees built by hand.
pub(crate) const MAX_DECODE_DEPTH: usize = 256;

pub(crate) fn decode<T: DeserializeOwned>(node: &Node) -> Result<T, DecodeError> {
    let de = NodeDe {
        node,
        path: &Path::Root,
        depth: 0,
    };
    T::deserialize(de).map_err(|e| {
        let e = e.locate(&Path::Root, node);
        let (path, span) = e.at.unwrap_or((FieldPath::root(), node.span));
        DecodeError {
            path,
            span,
            message: e.message,
        }
    })
}

/// The path from the root to the node being decoded, one stack frame per segment.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl Path<'_> {
    fn to_field_path(self) -> FieldPath {
        let mut segs = Vec::new();
        let mut cur = self;
        loop {
            match cur {
                Path::Root => break,
                Path::Key(parent, k) => {
                    segs.push(crate::path::PathSegment::Key(k.to_owned()));
                    cur = *parent;
                }
                Path::Index(parent, i) => {
                    segs.push(crate::path::PathSegment::Index(i));
                    cur = *parent;
                }
            }
        }
        segs.reverse();
        FieldPath(segs)
    }
}

/// A decoding error on its way up; the first deserializer frame that sees it without a location pins it to
/// its node.
#[derive(Debug)]
pub(crate) struct Error {
    message: String,
    at: Option<(FieldPath, Span)>,
    /// Set by `missing_field`: the location is the mapping lacking it, the path names the field.
    missing: Option<&'static str>,
}

impl Error {
    fn new(message: String) -> Self {
        Error {
            message,
            at: None,
            missing: None,
        }
    }

    fn locate(mut self, path: &Path<'_>, node: &Node) -> Self {
        if self.at.is_some() {
            return self;
        }
        let mut fp = path.to_field_path();
        let mut span = node.span;
        if let Some(field) = self.missing {
            fp.push_key(field);
            if let Some((key, value)) = node.entry(field) {
                // Present but null: null fields count as absent.
                span = key.span;
                self.message = format!(
                    "missing required field `{field}` (its value is {})",
                    value.describe()
                );
            }
        }
        self.at = Some((fp, span));
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// `` `a`, `b` or `c` `` style lists for messages.
struct OneOf(&'static [&'static str]);

impl fmt::Display for OneOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            [] => f.write_str("nothing (no values are allowed here)"),
            [one] => write!(f, "`{one}`"),
            [a, b] => write!(f, "`{a}` or `{b}`"),
            many => {
                f.write_str("one of ")?;
                for (i, s) in many.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "`{s}`")?;
                }
                Ok(())
            }
        }
    }
}

/// serde's `Unexpected` in the words [`Node::describe`] uses.
fn describe_unexpected(u: &Unexpected<'_>) -> String {
    match *u {
        Unexpected::Bool(b) => format!("boolean {b}"),
        Unexpected::Unsigned(n) => format!("integer {n}"),
        Unexpected::Signed(n) => format!("integer {n}"),
        Unexpected::Float(x) => format!("number {}", float_text(x)),
        Unexpected::Char(c) => format!("string {:?}", c.to_string()),
        Unexpected::Str(s) => format!("string {:?}", super::resolve::abbreviate(s, 60)),
        Unexpected::Bytes(_) => "bytes".into(),
        Unexpected::Unit | Unexpected::Option => "null".into(),
        Unexpected::NewtypeStruct | Unexpected::Other(_) => u.to_string(),
        Unexpected::Seq => "a list".into(),
        Unexpected::Map => "a mapping".into(),
        Unexpected::Enum | Unexpected::UnitVariant => "an enum value".into(),
        Unexpected::NewtypeVariant | Unexpected::TupleVariant | Unexpected::StructVariant => {
            "an enum value with data".into()
        }
    }
}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::new(msg.to_string())
    }

    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        Error::new(format!(
            "expected {exp}, found {}",
            describe_unexpected(&unexp)
        ))
    }

    fn invalid_value(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        Error::new(format!(
            "expected {exp}, found {}",
            describe_unexpected(&unexp)
        ))
    }

    fn invalid_length(len: usize, exp: &dyn Expected) -> Self {
        Error::new(format!("expected {exp}, found a list of {len} items"))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Error::new(format!(
            "unknown value `{}`, expected {}",
            super::resolve::abbreviate(variant, 60),
            OneOf(expected)
        ))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let field = super::resolve::abbreviate(field, 60);
        if expected.is_empty() {
            Error::new(format!("unknown field `{field}`, there are no fields"))
        } else {
            Error::new(format!(
                "unknown field `{field}`, expected {}",
                OneOf(expected)
            ))
        }
    }

    fn missing_field(field: &'static str) -> Self {
        Error {
            message: format!("missing required field `{field}`"),
            at: None,
            missing: Some(field),
        }
    }

    fn duplicate_field(field: &'static str) -> Self {
        Error::new(format!("duplicate field `{field}`"))
    }
}

/// Deserializes one node.
struct NodeDe<'de, 'p> {
    node: &'de Node,
    path: &'p Path<'p>,
    depth: usize,
}

impl<'de> NodeDe<'de, '_> {
    fn fail(&self, expected: &str) -> Error {
        Error::new(format!(
            "expected {expected}, found {}",
            self.node.describe()
        ))
    }

    fn pin<T>(&self, r: Result<T, Error>) -> Result<T, Error> {
        r.map_err(|e| e.locate(self.path, self.node))
    }

    fn deeper(&self) -> Result<usize, Error> {
        if self.depth >= MAX_DECODE_DEPTH {
            return Err(Error::new(format!(
                "nesting deeper than {MAX_DECODE_DEPTH} levels"
            )));
        }
        Ok(self.depth + 1)
    }

    fn visit_seq<V: Visitor<'de>>(
        &self,
        items: &'de [Node],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let mut access = SeqDe {
            items: items.iter(),
            index: 0,
            path: self.path,
            depth: self.deeper()?,
        };
        let value = visitor.visit_seq(&mut access)?;
        let left = access.items.len();
        if left > 0 {
            return Err(Error::new(format!(
                "expected a list of {} items, found {} items",
                access.index,
                access.index + left
            )));
        }
        Ok(value)
    }

    fn visit_map<V: Visitor<'de>>(
        &self,
        entries: &'de [(Node, Node)],
        fields: Option<&'static [&'static str]>,
        visitor: V,
    ) -> Result<V::Value, Error> {
        let access = MapDe {
            entries: entries.iter(),
            value: None,
            fields,
            path: self.path,
            depth: self.deeper()?,
        };
        visitor.visit_map(access)
    }

    fn integer<V: Visitor<'de>>(self, ty: Int, visitor: V) -> Result<V::Value, Error> {
        let r = match &self.node.value {
            Value::Int(i) => ty.visit_i128(i128::from(*i), visitor),
            Value::UInt(u) => ty.visit_i128(i128::from(*u), visitor),
            // YAML `1.0` reaches Kubernetes as JSON `1`, which integer fields accept.
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e38 => {
                ty.visit_i128(*f as i128, visitor)
            }
            Value::Float(f) if f.is_finite() => Err(Error::new(format!(
                "expected {}, found {}",
                ty.expected(),
                float_text(*f)
            ))),
            _ => Err(self.fail(&ty.expected())),
        };
        self.pin(r)
    }
}

/// The integer types, for range checks with one message shape:
/// `expected an integer from 0 to 65535 (u16), found 70000`.
#[derive(Clone, Copy)]
enum Int {
    I8,
    I16,
    I32,
    I64,
    I128,
    U8,
    U16,
    U32,
    U64,
    U128,
}

impl Int {
    fn name(self) -> &'static str {
        match self {
            Int::I8 => "i8",
            Int::I16 => "i16",
            Int::I32 => "i32",
            Int::I64 => "i64",
            Int::I128 => "i128",
            Int::U8 => "u8",
            Int::U16 => "u16",
            Int::U32 => "u32",
            Int::U64 => "u64",
            Int::U128 => "u128",
        }
    }

    /// What a value of this type must be: `an integer from 0 to 65535 (u16)`.
    fn expected(self) -> String {
        format!(
            "an integer from {} to {} ({})",
            self.min(),
            self.max(),
            self.name()
        )
    }

    fn min(self) -> i128 {
        match self {
            Int::I8 => i8::MIN.into(),
            Int::I16 => i16::MIN.into(),
            Int::I32 => i32::MIN.into(),
            Int::I64 => i64::MIN.into(),
            Int::I128 => i128::MIN,
            Int::U8 | Int::U16 | Int::U32 | Int::U64 | Int::U128 => 0,
        }
    }

    fn max(self) -> u128 {
        match self {
            Int::I8 => i8::MAX as u128,
            Int::I16 => i16::MAX as u128,
            Int::I32 => i32::MAX as u128,
            Int::I64 => i64::MAX as u128,
            Int::I128 => i128::MAX as u128,
            Int::U8 => u8::MAX.into(),
            Int::U16 => u16::MAX.into(),
            Int::U32 => u32::MAX.into(),
            Int::U64 => u64::MAX.into(),
            Int::U128 => u128::MAX,
        }
    }

    fn visit_i128<'de, V: Visitor<'de>>(self, n: i128, visitor: V) -> Result<V::Value, Error> {
        let out_of_range = || Error::new(format!("expected {}, found {n}", self.expected()));
        match self {
            Int::I8 => visitor.visit_i8(i8::try_from(n).map_err(|_| out_of_range())?),
            Int::I16 => visitor.visit_i16(i16::try_from(n).map_err(|_| out_of_range())?),
            Int::I32 => visitor.visit_i32(i32::try_from(n).map_err(|_| out_of_range())?),
            Int::I64 => visitor.visit_i64(i64::try_from(n).map_err(|_| out_of_range())?),
            Int::I128 => visitor.visit_i128(n),
            Int::U8 => visitor.visit_u8(u8::try_from(n).map_err(|_| out_of_range())?),
            Int::U16 => visitor.visit_u16(u16::try_from(n).map_err(|_| out_of_range())?),
            Int::U32 => visitor.visit_u32(u32::try_from(n).map_err(|_| out_of_range())?),
            Int::U64 => visitor.visit_u64(u64::try_from(n).map_err(|_| out_of_range())?),
            Int::U128 => visitor.visit_u128(u128::try_from(n).map_err(|_| out_of_range())?),
        }
    }
}

macro_rules! integer_methods {
    ($($method:ident => $ty:ident,)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.integer(Int::$ty, visitor)
        }
    )*};
}

fn non_finite(f: f64) -> Error {
    Error::new(format!(
        "expected a number, found {} (JSON cannot represent it, so Kubernetes rejects it)",
        float_text(f)
    ))
}

impl<'de> de::Deserializer<'de> for NodeDe<'de, '_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let r = match &self.node.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Int(i) => visitor.visit_i64(*i),
            Value::UInt(u) => visitor.visit_u64(*u),
            Value::Float(f) if f.is_finite() => visitor.visit_f64(*f),
            Value::Float(f) => Err(non_finite(*f)),
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Seq(items) => self.visit_seq(items, visitor),
            Value::Map(entries) => self.visit_map(entries, None, visitor),
        };
        self.pin(r)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let r = match &self.node.value {
            Value::Bool(b) => visitor.visit_bool(*b),
            _ => Err(self.fail("a boolean (true or false)")),
        };
        self.pin(r)
    }

    integer_methods! {
        deserialize_i8 => I8,
        deserialize_i16 => I16,
        deserialize_i32 => I32,
        deserialize_i64 => I64,
        deserialize_i128 => I128,
        deserialize_u8 => U8,
        deserialize_u16 => U16,
        deserialize_u32 => U32,
        deserialize_u64 => U64,
        deserialize_u128 => U128,
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let r = match &self.node.value {
            Value::Int(i) => visitor.visit_f64(*i as f64),
            Value::UInt(u) => visitor.visit_f64(*u as f64),
            Value::Float(f) if f.is_finite() => visitor.visit_f64(*f),
            Value::Float(f) => Err(non_finite(*f)),
            _ => Err(self.fail("a number")),
        };
        self.pin(r)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let r = match &self.node.value {
            Value::String(s) if s.chars().count() == 1 => match s.chars().next() {
                Some(c) => visitor.visit_char(c),
                None => Err(self.fail("a single character")),
            },
            _ => Err(self.fail("a single character")),
        };
        self.pin(r)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let r = match &self.node.value {
            Value::String(s) => visitor.visit_borrowed_str(s),
            _ => Err(self.fail("a string")),
        };
        self.pin(r)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let r = match &self.node.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(NodeDe {
                node: self.node,
                path: self.path,
                depth: self.depth,
            }),
        };
        self.pin(r)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let r = match &self.node.value {
            Value::Null => visitor.visit_unit(),
            _ => Err(self.fail("null")),
        };
        self.pin(r)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        let r = visitor.visit_newtype_struct(NodeDe {
            node: self.node,
            path: self.path,
            depth: self.depth,
        });
        self.pin(r)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let r = match &self.node.value {
            Value::Seq(items) => self.visit_seq(items, visitor),
            _ => Err(self.fail("a list")),
        };
        self.pin(r)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let r = match &self.node.value {
            Value::Map(entries) => self.visit_map(entries, None, visitor),
            _ => Err(self.fail("a mapping")),
        };
        self.pin(r)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let r = match &self.node.value {
            Value::Map(entries) => self.visit_map(entries, Some(fields), visitor),
            _ => Err(self.fail("a mapping")),
        };
        self.pin(r)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let r = match &self.node.value {
            Value::String(s) => visitor.visit_enum(EnumDe {
                tag: s,
                tag_node: self.node,
                value: None,
                de: &self,
            }),
            Value::Map(entries) if entries.len() == 1 => {
                let (k, v) = &entries[0];
                match &k.value {
                    Value::String(s) => visitor.visit_enum(EnumDe {
                        tag: s,
                        tag_node: k,
                        value: Some(v),
                        de: &self,
                    }),
                    _ => Err(self.fail(&format!("{}", OneOf(variants)))),
                }
            }
            _ => Err(self.fail(&format!("{}", OneOf(variants)))),
        };
        self.pin(r)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

struct SeqDe<'de, 'p> {
    items: std::slice::Iter<'de, Node>,
    index: usize,
    path: &'p Path<'p>,
    depth: usize,
}

impl<'de> SeqAccess<'de> for SeqDe<'de, '_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        let Some(node) = self.items.next() else {
            return Ok(None);
        };
        let path = Path::Index(self.path, self.index);
        self.index += 1;
        let r = seed.deserialize(NodeDe {
            node,
            path: &path,
            depth: self.depth,
        });
        r.map(Some).map_err(|e| e.locate(&path, node))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapDe<'de, 'p> {
    entries: std::slice::Iter<'de, (Node, Node)>,
    /// The entry whose key was handed out last.
    value: Option<&'de (Node, Node)>,
    /// For structs: the field names, so that null-valued fields can be skipped as absent.
    fields: Option<&'static [&'static str]>,
    path: &'p Path<'p>,
    depth: usize,
}

impl<'de> MapAccess<'de> for MapDe<'de, '_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        loop {
            let Some(entry) = self.entries.next() else {
                return Ok(None);
            };
            let (key, value) = entry;
            let name = key.key_text();
            if let Some(fields) = self.fields {
                // Kubernetes prunes nulls of non-nullable fields: a known field set to null is absent.
                if value.is_null() && fields.contains(&name.as_ref()) {
                    continue;
                }
            }
            self.value = Some(entry);
            let path = Path::Key(self.path, &name);
            let r = seed.deserialize(KeyDe { key: &key.value });
            return r.map(Some).map_err(|e| e.locate(&path, key));
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let Some((key, value)) = self.value.take() else {
            return Err(Error::new(
                "a mapping value was requested before its key".into(),
            ));
        };
        let name = key.key_text();
        let path = Path::Key(self.path, &name);
        seed.deserialize(NodeDe {
            node: value,
            path: &path,
            depth: self.depth,
        })
        .map_err(|e| e.locate(&path, value))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// Deserializes a mapping key: always a string once parsed, but map keys of other types (`u16`, `bool`)
/// are read from that string, as JSON does.
struct KeyDe<'de> {
    key: &'de Value,
}

impl KeyDe<'_> {
    fn text(&self) -> std::borrow::Cow<'_, str> {
        match self.key {
            Value::String(s) => std::borrow::Cow::Borrowed(s.as_str()),
            other => std::borrow::Cow::Owned(super::resolve::key_string(other).unwrap_or_default()),
        }
    }

    fn parse<T: std::str::FromStr>(&self, what: &str) -> Result<T, Error> {
        let text = self.text();
        text.parse()
            .map_err(|_| Error::new(format!("expected a key that is {what}, found {text:?}")))
    }
}

macro_rules! key_parse_methods {
    ($($method:ident => $visit:ident($ty:ty, $what:expr),)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            visitor.$visit(self.parse::<$ty>($what)?)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for KeyDe<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.key {
            Value::String(s) => visitor.visit_borrowed_str(s),
            _ => visitor.visit_string(self.text().into_owned()),
        }
    }

    key_parse_methods! {
        deserialize_bool => visit_bool(bool, "true or false"),
        deserialize_i8 => visit_i8(i8, "an i8"),
        deserialize_i16 => visit_i16(i16, "an i16"),
        deserialize_i32 => visit_i32(i32, "an i32"),
        deserialize_i64 => visit_i64(i64, "an i64"),
        deserialize_u8 => visit_u8(u8, "a u8"),
        deserialize_u16 => visit_u16(u16, "a u16"),
        deserialize_u32 => visit_u32(u32, "a u32"),
        deserialize_u64 => visit_u64(u64, "a u64"),
        deserialize_f32 => visit_f32(f32, "a number"),
        deserialize_f64 => visit_f64(f64, "a number"),
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_enum(self.text().into_owned().into_deserializer())
    }

    serde::forward_to_deserialize_any! {
        i128 u128 char str string bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier
        ignored_any
    }
}

/// An enum written as a string (`unit`) or as a one-entry mapping (`variant: data`).
struct EnumDe<'de, 'a, 'p> {
    tag: &'de str,
    tag_node: &'de Node,
    value: Option<&'de Node>,
    de: &'a NodeDe<'de, 'p>,
}

impl<'de, 'a, 'p> EnumAccess<'de> for EnumDe<'de, 'a, 'p> {
    type Error = Error;
    type Variant = VariantDe<'de, 'a, 'p>;

    fn variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<(T::Value, Self::Variant), Error> {
        let variant = seed.deserialize(KeyDe {
            key: &self.tag_node.value,
        });
        let variant = match (variant, self.value) {
            (Ok(v), _) => v,
            // An unknown tag of a one-entry mapping is reported at the key.
            (Err(e), Some(_)) => {
                let path = Path::Key(self.de.path, self.tag);
                return Err(e.locate(&path, self.tag_node));
            }
            (Err(e), None) => return Err(e),
        };
        Ok((
            variant,
            VariantDe {
                tag: self.tag,
                value: self.value,
                de: self.de,
            },
        ))
    }
}

struct VariantDe<'de, 'a, 'p> {
    tag: &'de str,
    value: Option<&'de Node>,
    de: &'a NodeDe<'de, 'p>,
}

impl<'de> VariantDe<'de, '_, '_> {
    fn with_value<T>(
        self,
        expected: &str,
        f: impl FnOnce(NodeDe<'de, '_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let Some(value) = self.value else {
            return Err(Error::new(format!(
                "expected {expected} for `{}`, found a plain value",
                self.tag
            )));
        };
        let path = Path::Key(self.de.path, self.tag);
        let depth = self.de.deeper()?;
        f(NodeDe {
            node: value,
            path: &path,
            depth,
        })
        .map_err(|e| e.locate(&path, value))
    }
}

impl<'de> VariantAccess<'de> for VariantDe<'de, '_, '_> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        match self.value {
            None => Ok(()),
            Some(v) if v.is_null() => Ok(()),
            Some(v) => {
                let path = Path::Key(self.de.path, self.tag);
                Err(Error::new(format!(
                    "expected `{}` alone, found {} with it",
                    self.tag,
                    v.describe()
                ))
                .locate(&path, v))
            }
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        self.with_value("a value", |de| seed.deserialize(de))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        self.with_value("a list", |de| {
            de::Deserializer::deserialize_seq(de, visitor)
        })
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.with_value("a mapping", |de| {
            de::Deserializer::deserialize_struct(de, "", fields, visitor)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;
    use crate::yaml::{decode, parse_stream, Limits};

    fn root(s: &str) -> Node {
        let docs = parse_stream(s.as_bytes(), &Limits::default()).unwrap_or_default();
        docs.into_iter()
            .next()
            .and_then(|d| d.root)
            .unwrap_or(Node {
                span: Span::default(),
                value: Value::Null,
            })
    }

    fn fails<T: DeserializeOwned + fmt::Debug>(s: &str) -> DecodeError {
        match decode::<T>(&root(s)) {
            Err(e) => e,
            Ok(v) => panic!("{s:?} decoded to {v:?}"),
        }
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Obj {
        name: String,
        #[serde(default)]
        port: Option<u16>,
        #[serde(default)]
        tags: Vec<String>,
        #[serde(default)]
        labels: BTreeMap<String, String>,
        #[serde(default)]
        mode: Option<Mode>,
        #[serde(default)]
        inner: Option<Inner>,
        #[serde(default)]
        free: Option<serde_json::Value>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "kebab-case")]
    enum Mode {
        L2Vni,
        L3Vni,
    }

    #[derive(Debug, Deserialize, PartialEq, Default)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        vlan: u16,
        #[serde(default)]
        enabled: bool,
    }

    #[test]
    fn decodes_a_full_object() {
        let o: Result<Obj, _> = decode(&root(
            "name: x\nport: 8080\ntags: [a, b]\nlabels: {k: v}\nmode: l3-vni\ninner: {vlan: 10, enabled: yes}\nfree: {a: [1, null]}\n",
        ));
        let want = Obj {
            name: "x".into(),
            port: Some(8080),
            tags: vec!["a".into(), "b".into()],
            labels: BTreeMap::from([("k".into(), "v".into())]),
            mode: Some(Mode::L3Vni),
            inner: Some(Inner {
                vlan: 10,
                enabled: true,
            }),
            free: Some(serde_json::json!({"a": [1, null]})),
        };
        assert_eq!(o.ok(), Some(want));
    }

    #[test]
    fn null_fields_count_as_absent() {
        let o: Result<Obj, _> = decode(&root("name: x\nport: ~\ntags:\nlabels: null\ninner:\n"));
        assert_eq!(
            o.ok()
                .map(|o| (o.port, o.tags.len(), o.labels.len(), o.inner)),
            Some((None, 0, 0, None))
        );
        let e = fails::<Obj>("name: ~\n");
        assert_eq!(
            (e.path.to_string(), e.span),
            ("name".into(), Span::new(1, 1))
        );
        assert!(
            e.message.contains("missing required field `name`") && e.message.contains("null"),
            "{e}"
        );
        // Null where a value is required (a list item) is a type error.
        let e = fails::<Obj>("name: x\ntags: [a, ~]\n");
        assert_eq!(
            (e.path.to_string(), e.message.as_str()),
            ("tags[1]".into(), "expected a string, found null")
        );
    }

    #[test]
    fn errors_point_at_the_innermost_node() {
        let e = fails::<Obj>("name: x\ninner:\n  vlan: 1\n  bogus: 2\n");
        assert_eq!(
            (e.path.to_string(), e.span),
            ("inner.bogus".into(), Span::new(4, 3))
        );
        assert_eq!(
            e.message,
            "unknown field `bogus`, expected `vlan` or `enabled`"
        );
        let e = fails::<Obj>("name: 5\n");
        assert_eq!(
            (e.path.to_string(), e.span, e.message.as_str()),
            (
                "name".into(),
                Span::new(1, 7),
                "expected a string, found integer 5"
            )
        );
        let e = fails::<Obj>("name: x\nport: 70000\n");
        assert_eq!(
            (e.path.to_string(), e.span, e.message.as_str()),
            (
                "port".into(),
                Span::new(2, 7),
                "expected an integer from 0 to 65535 (u16), found 70000"
            )
        );
        let e = fails::<Obj>("name: x\nport: -1\n");
        assert_eq!(
            e.message,
            "expected an integer from 0 to 65535 (u16), found -1"
        );
        let e = fails::<Obj>("name: x\nport: '80'\n");
        assert_eq!(
            e.message,
            "expected an integer from 0 to 65535 (u16), found string \"80\""
        );
        let e = fails::<Obj>("name: x\nmode: l4-vni\n");
        assert_eq!(
            (e.path.to_string(), e.span),
            ("mode".into(), Span::new(2, 7))
        );
        assert_eq!(
            e.message,
            "unknown value `l4-vni`, expected `l2-vni` or `l3-vni`"
        );
        let e = fails::<Obj>("name: x\nmode: 3\n");
        assert_eq!(e.message, "expected `l2-vni` or `l3-vni`, found integer 3");
        let e = fails::<Obj>("name: x\ninner:\n  enabled: true\n");
        assert_eq!(
            (e.path.to_string(), e.span),
            ("inner.vlan".into(), Span::new(3, 3))
        );
        assert_eq!(e.message, "missing required field `vlan`");
        let e = fails::<Obj>("name: x\ninner: [1]\n");
        assert_eq!(
            (e.path.to_string(), e.message.as_str()),
            ("inner".into(), "expected a mapping, found a list")
        );
        let e = fails::<Obj>("name: x\ntags:\n- a\n- [b]\n");
        assert_eq!(
            (e.path.to_string(), e.span),
            ("tags[1]".into(), Span::new(4, 3))
        );
        let e = fails::<Obj>("name: x\nlabels: {a.b/c: 1}\n");
        assert_eq!(e.path.to_string(), "labels[\"a.b/c\"]");
        let e = fails::<Obj>("name: x\ninner: {vlan: 1, enabled: 'true'}\n");
        assert_eq!(
            e.message,
            "expected a boolean (true or false), found string \"true\""
        );
        let e = fails::<Obj>("name: x\nfree: .nan\n");
        assert_eq!(e.path.to_string(), "free");
        let e = fails::<Obj>("[1]");
        assert_eq!(
            (e.path.to_string(), e.span),
            (String::new(), Span::new(1, 1))
        );
    }

    #[test]
    fn integers_accept_integral_floats_and_range_check() {
        assert_eq!(decode::<u16>(&root("1.0")).ok(), Some(1));
        assert_eq!(decode::<i64>(&root("-0x10")).ok(), Some(-16));
        assert_eq!(
            decode::<u64>(&root("18446744073709551615")).ok(),
            Some(u64::MAX)
        );
        assert!(decode::<u16>(&root("1.5")).is_err());
        assert!(decode::<i64>(&root("18446744073709551615")).is_err());
        assert_eq!(
            decode::<u8>(&root("256")).err().map(|e| e.message),
            Some("expected an integer from 0 to 255 (u8), found 256".into())
        );
        assert_eq!(decode::<f64>(&root("3")).ok(), Some(3.0));
        assert_eq!(
            decode::<BTreeMap<u16, bool>>(&root("80: on")).ok(),
            Some(BTreeMap::from([(80, true)]))
        );
    }

    #[test]
    fn enums_with_data_and_tuples() {
        #[derive(Debug, Deserialize, PartialEq)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        enum Shape {
            Plain,
            Sized(u8),
            Named { a: u8 },
        }
        assert_eq!(decode::<Shape>(&root("plain")).ok(), Some(Shape::Plain));
        assert_eq!(
            decode::<Shape>(&root("sized: 3")).ok(),
            Some(Shape::Sized(3))
        );
        assert_eq!(
            decode::<Shape>(&root("named: {a: 1}")).ok(),
            Some(Shape::Named { a: 1 })
        );
        let e = decode::<Shape>(&root("named: {a: 1, b: 2}")).err();
        assert_eq!(
            e.map(|e| (e.path.to_string(), e.span)),
            Some(("named.b".into(), Span::new(1, 15)))
        );
        let e = decode::<Shape>(&root("other: 1")).err();
        assert_eq!(
            e.map(|e| (e.path.to_string(), e.span)),
            Some(("other".into(), Span::new(1, 1)))
        );
        assert_eq!(
            decode::<(u8, String)>(&root("[1, a]")).ok(),
            Some((1, "a".into()))
        );
        assert!(decode::<(u8, String)>(&root("[1, a, 3]")).is_err());
    }

    #[test]
    fn hand_built_deep_trees_fail_cleanly() {
        let mut node = Node {
            span: Span::default(),
            value: Value::Null,
        };
        for _ in 0..(MAX_DECODE_DEPTH + 10) {
            node = Node {
                span: Span::default(),
                value: Value::Seq(vec![node]),
            };
        }
        let e = decode::<serde_json::Value>(&node).err();
        assert!(e.is_some_and(|e| e.message.contains("nesting deeper")));
    }
}
