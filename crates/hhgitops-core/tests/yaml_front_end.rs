//! The positioned YAML front end, from the outside: real samples, positions, hostile input, strict decoding
//! and the emitter's round trip.

use std::collections::BTreeMap;
use std::path::Path;

use hhgitops_core::field_path;
use hhgitops_core::yaml::{
    decode, emit, parse_stream, parse_stream_reference, DecodeError, Document, Limits, Node, Value,
    YamlError,
};
use hhgitops_core::Span;
use proptest::prelude::*;
use serde::Deserialize;
use serde_json::json;

fn parse(text: &str) -> Result<Vec<Document>, YamlError> {
    parse_stream(text.as_bytes(), &Limits::default())
}

fn parse_bytes(bytes: &[u8]) -> Result<Vec<Document>, YamlError> {
    parse_stream(bytes, &Limits::default())
}

fn first_root(text: &str) -> Node {
    match parse(text) {
        Ok(docs) => match docs.into_iter().next().and_then(|d| d.root) {
            Some(root) => root,
            None => panic!("no document in {text:?}"),
        },
        Err(e) => panic!("{text:?}: {e}"),
    }
}

fn yaml_error(bytes: &[u8]) -> YamlError {
    match parse_bytes(bytes) {
        Err(e) => e,
        Ok(docs) => panic!("parsed: {docs:?}"),
    }
}

fn span_at(root: &Node, path: &hhgitops_core::FieldPath) -> (u32, u32) {
    match root.get(path) {
        Some(n) => (n.span.line, n.span.column),
        None => panic!("no node at {path}"),
    }
}

/// `parse_stream` takes a shortcut for plain block YAML; it must give what the general parser gives, down to
/// positions and errors. (Compared through `Debug` so that NaN equals NaN.)
fn assert_same_as_reference(bytes: &[u8]) {
    let got = parse_stream(bytes, &Limits::default());
    let want = parse_stream_reference(bytes, &Limits::default());
    assert_eq!(
        format!("{got:?}"),
        format!("{want:?}"),
        "input: {:?}",
        String::from_utf8_lossy(bytes)
    );
}

fn data_file(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/yaml")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------------------
// Real input

#[test]
fn every_sample_parses_and_survives_emit() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/samples");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        assert!(
            !std::env::var("CI").is_ok_and(|c| c == "true"),
            "{} is absent: CI must run the tests that need ../shared",
            dir.display()
        );
        println!(
            "note: {} is absent; skipping the sample files",
            dir.display()
        );
        return;
    };
    let mut files: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "yaml"));
    files.sort();
    assert!(!files.is_empty(), "no samples in {}", dir.display());
    for file in files {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert_same_as_reference(&bytes);
        let docs = match parse_bytes(&bytes) {
            Ok(docs) => docs,
            Err(e) => panic!("{}: {e}", file.display()),
        };
        assert!(
            docs.len() > 5,
            "{}: {} documents",
            file.display(),
            docs.len()
        );
        for (i, doc) in docs.iter().enumerate() {
            assert_eq!(doc.index, i + 1);
            let Some(root) = &doc.root else { continue };
            assert!(
                root.get_key("kind").and_then(Node::as_str).is_some(),
                "{} doc {}",
                file.display(),
                doc.index
            );
            // What the emitter writes reads back as the same JSON.
            let json = root.to_json();
            let text = emit(&json);
            let again = parse(&text)
                .ok()
                .and_then(|d| d.into_iter().next())
                .and_then(|d| d.root);
            assert_eq!(
                again.map(|n| n.to_json()),
                Some(json),
                "{} doc {}",
                file.display(),
                doc.index
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Positions

#[test]
fn crlf_positions() {
    let bytes = data_file("crlf.yaml");
    assert!(
        bytes.windows(2).any(|w| w == b"\r\n"),
        "the test file must keep its CRLF line ends"
    );
    assert_same_as_reference(&bytes);
    let docs = parse_bytes(&bytes).unwrap_or_default();
    assert_eq!(docs.len(), 2);
    let root = docs[0].root.clone().unwrap_or(Node {
        span: Span::default(),
        value: Value::Null,
    });
    assert_eq!(span_at(&root, &field_path!("metadata", "name")), (4, 9));
    assert_eq!(span_at(&root, &field_path!("spec", "ranges")), (8, 3));
    assert_eq!(
        span_at(&root, &field_path!("spec", "ranges", 0usize, "to")),
        (9, 9)
    );
    assert_eq!(
        root.get(&field_path!("spec", "ranges", 0usize, "to"))
            .map(|n| &n.value),
        Some(&Value::Int(2999))
    );
    assert_eq!(
        root.locate_key(&field_path!("spec", "ranges", 0usize, "to")),
        Span::new(9, 5)
    );
    // A block scalar is placed at its first line of content.
    assert_eq!(span_at(&root, &field_path!("spec", "note")), (11, 5));
    assert_eq!(
        root.get(&field_path!("spec", "note"))
            .and_then(Node::as_str),
        Some("first\nsecond\n")
    );
    assert_eq!((docs[1].index, docs[1].span), (2, Span::new(13, 1)));
    let second = docs[1].root.clone().unwrap_or(Node {
        span: Span::default(),
        value: Value::Null,
    });
    assert_eq!(span_at(&second, &field_path!("metadata", "name")), (17, 9));
}

#[test]
fn bom_positions() {
    let bytes = data_file("bom.yaml");
    assert!(
        bytes.starts_with(b"\xEF\xBB\xBF"),
        "the test file must start with a byte order mark"
    );
    assert_same_as_reference(&bytes);
    let root = parse_bytes(&bytes)
        .ok()
        .and_then(|d| d.into_iter().next())
        .and_then(|d| d.root);
    let root = root.unwrap_or(Node {
        span: Span::default(),
        value: Value::Null,
    });
    assert_eq!(root.span, Span::new(1, 1));
    assert_eq!(span_at(&root, &field_path!("apiVersion")), (1, 13));
    assert_eq!(span_at(&root, &field_path!("metadata", "name")), (4, 9));
    assert_eq!(
        root.get(&field_path!("apiVersion")).and_then(Node::as_str),
        Some("wiring.githedgehog.com/v1beta1")
    );
    assert_eq!(
        span_at(&root, &field_path!("metadata", "annotations", "note")),
        (6, 11)
    );
    // Columns count characters, not bytes.
    assert_eq!(
        span_at(&root, &field_path!("metadata", "annotations", "flow", "b")),
        (7, 21)
    );
}

#[test]
fn tabs_in_indentation_are_errors_with_a_position() {
    let e = yaml_error(b"spec:\n\tvlan: 10\n");
    assert_eq!((e.line, e.column, e.document), (2, 1, Some(1)), "{e}");
    assert!(e.message.contains("tab"), "{e}");
    // Tabs inside a line are fine.
    assert_eq!(
        first_root("a: x\ty\t# note\nb: \t2\n").to_json(),
        json!({"a": "x\ty", "b": 2})
    );
}

#[test]
fn syntax_errors_name_document_and_position() {
    let e = yaml_error(b"a: 1\n---\nb: [1, 2\nc: 3\n");
    assert_eq!(e.document, Some(2), "{e}");
    assert!(e.line >= 3, "{e}");
    let e = yaml_error(b"a: 1\nb: 2\n  c: 3\n");
    assert_eq!((e.line, e.document), (3, Some(1)), "{e}");
    assert!(!e.message.is_empty());
    assert_eq!(
        e.to_string(),
        format!("{}:{}: {}", e.line, e.column, e.message)
    );
}

// ---------------------------------------------------------------------------------------------------------
// Keys, anchors, documents

#[test]
fn duplicate_keys_are_rejected_at_the_second() {
    let e = yaml_error(b"metadata:\n  name: a\n  labels: {}\n  name: b\n");
    assert_eq!((e.line, e.column), (4, 3), "{e}");
    assert!(
        e.message.contains("`name`") && e.message.contains("line 2"),
        "{e}"
    );
    // The same key in different mappings is fine.
    assert!(parse("a: {name: 1}\nb: {name: 2}\n").is_ok());
}

#[test]
fn anchors_and_merge_keys() {
    let text = "\
defaults: &defaults
  mtu: 9036
  speed: 25G
  vlan: 10
ports:
- <<: *defaults
  name: E1/1
- <<: *defaults
  name: E1/2
  vlan: 20
- name: E1/3
  <<: *defaults
  speed: 100G
";
    let v = first_root(text).to_json();
    assert_eq!(
        v["ports"],
        json!([
            {"mtu": 9036, "speed": "25G", "vlan": 10, "name": "E1/1"},
            {"mtu": 9036, "speed": "25G", "vlan": 20, "name": "E1/2"},
            {"name": "E1/3", "mtu": 9036, "speed": "100G", "vlan": 10},
        ])
    );
    let root = first_root(text);
    // The merged values keep the position of their definition; an alias node sits where the alias is.
    assert_eq!(span_at(&root, &field_path!("ports", 0usize, "mtu")), (2, 8));
    let aliased = first_root("a: &a [1]\nb: *a\n");
    assert_eq!(span_at(&aliased, &field_path!("b")), (2, 4));
}

#[test]
fn billion_laughs_fails_fast() {
    let mut text = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for w in names.windows(2) {
        let refs = vec![format!("*{}", w[0]); 9].join(",");
        text.push_str(&format!("{}: &{} [{}]\n", w[1], w[1], refs));
    }
    let start = std::time::Instant::now();
    let e = yaml_error(text.as_bytes());
    // The budget (100,000 nodes) runs out in the fifth level (10^5 lols), long before the ninth.
    assert_eq!(e.line, 6, "{e}");
    assert!(e.message.contains("alias"), "{e}");
    println!("billion laughs rejected in {:?}", start.elapsed());
    // With a smaller budget it stops sooner.
    let limits = Limits {
        max_alias_nodes: 50,
        ..Limits::default()
    };
    let e = parse_stream(text.as_bytes(), &limits).err();
    assert_eq!(e.map(|e| e.line), Some(2));
}

#[test]
fn document_marker_inside_a_block_scalar_is_content() {
    let docs = parse("script: |\n  echo start\n  ---\n  echo end\nnext: 1\n---\nsecond: 2\n")
        .unwrap_or_default();
    assert_eq!(docs.len(), 2);
    let first = docs[0].root.as_ref().map(Node::to_json);
    assert_eq!(
        first,
        Some(json!({"script": "echo start\n---\necho end\n", "next": 1}))
    );
    assert_eq!(
        docs[1].root.as_ref().map(Node::to_json),
        Some(json!({"second": 2}))
    );
    assert_eq!((docs[1].index, docs[1].span.line), (2, 6));
}

#[test]
fn comment_only_and_empty_documents() {
    let docs = parse("# a file of notes\n# nothing else\n").unwrap_or_default();
    assert_eq!(docs.len(), 1);
    assert!(docs[0].root.is_none());
    let docs = parse("---\n# nothing\n---\na: 1\n---\n---\n# end\n").unwrap_or_default();
    let shape: Vec<_> = docs.iter().map(|d| (d.index, d.root.is_some())).collect();
    assert_eq!(shape, [(1, false), (2, true), (3, false), (4, false)]);
    assert!(parse("").is_ok_and(|d| d.is_empty()));
}

#[test]
fn lists_and_scalars_are_documents_too() {
    let docs = parse("- a\n- b\n---\njust text\n---\n42\n").unwrap_or_default();
    let values: Vec<_> = docs
        .iter()
        .map(|d| d.root.as_ref().map(Node::to_json))
        .collect();
    assert_eq!(
        values,
        [
            Some(json!(["a", "b"])),
            Some(json!("just text")),
            Some(json!(42))
        ]
    );
}

// ---------------------------------------------------------------------------------------------------------
// Hostile input

#[test]
fn a_seven_megabyte_scalar_parses() {
    let mut text = String::with_capacity(7 << 20);
    text.push_str("data: ");
    text.extend(std::iter::repeat_n('x', 7 << 20));
    text.push('\n');
    let start = std::time::Instant::now();
    let root = first_root(&text);
    println!(
        "7 MB plain (under the 8 MiB default limit) scalar parsed in {:?}",
        start.elapsed()
    );
    assert_eq!(
        root.get_key("data").and_then(Node::as_str).map(str::len),
        Some(7 << 20)
    );
    let quoted = format!("data: '{}'\n", "y".repeat(7 << 20));
    assert_eq!(
        first_root(&quoted)
            .get_key("data")
            .and_then(Node::as_str)
            .map(str::len),
        Some(7 << 20)
    );
}

#[test]
fn deep_nesting_fails_cleanly() {
    // The parser's own limit on flow nesting (256) or ours (128): either way an error on line 1.
    let flow = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let e = yaml_error(flow.as_bytes());
    assert_eq!(e.line, 1, "{e}");
    assert!(
        e.message.contains("limit") || e.message.contains("nesting"),
        "{e}"
    );
    let maps = format!("a: {}1{}", "{a: ".repeat(10_000), "}".repeat(10_000));
    assert_eq!(yaml_error(maps.as_bytes()).line, 1);
    let flow = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let e = yaml_error(flow.as_bytes());
    assert_eq!((e.line, e.column), (1, 129), "{e}");
    assert!(e.message.contains("128 levels"), "{e}");
    let block: String = (0..1_000)
        .map(|i| format!("{}k{i}:\n", "  ".repeat(i)))
        .collect();
    let e = yaml_error(block.as_bytes());
    assert_eq!((e.line, e.column), (129, 257), "{e}");
    // Within the limit it parses, and decodes.
    let ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
    let root = first_root(&ok);
    assert!(decode::<serde_json::Value>(&root).is_ok());
}

#[test]
fn oversized_input_is_rejected_before_parsing() {
    let limits = Limits {
        max_bytes: 10,
        ..Limits::default()
    };
    let e = parse_stream(b"a: 1234567890\n", &limits).err();
    assert!(e.is_some_and(|e| e.line == 0 && e.message.contains("limit of 10 bytes")));
}

#[test]
fn non_utf8_is_rejected_at_the_bad_byte() {
    let e = yaml_error(b"kind: VPC\nmetadata:\n  name: caf\xE9\n");
    assert_eq!((e.line, e.column, e.document), (3, 12, None), "{e}");
    assert!(e.message.contains("UTF-8"), "{e}");
    // UTF-16 files are not UTF-8 either.
    assert_eq!(yaml_error(b"\xFF\xFEk\x00:\x00").line, 1);
}

#[test]
fn binary_content_is_rejected() {
    let e = yaml_error(b"a: 1\nb: \x00\x00\x00\x01\x02");
    assert_eq!((e.line, e.column), (2, 4), "{e}");
    assert!(
        e.message.contains("binary") && e.message.contains("NUL"),
        "{e}"
    );
    let e = yaml_error(b"a: \"bell\x07\"\n");
    assert_eq!((e.line, e.column), (1, 9), "{e}");
    assert!(e.message.contains("U+0007"), "{e}");
    let png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR";
    assert!(parse_bytes(png).is_err());
}

// ---------------------------------------------------------------------------------------------------------
// Strict decoding

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Object {
    api_version: String,
    kind: String,
    metadata: Metadata,
    spec: Spec,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Metadata {
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Spec {
    #[serde(default)]
    subnets: BTreeMap<String, Subnet>,
    #[serde(default)]
    mode: Option<Mode>,
    #[serde(default)]
    links: Vec<Link>,
    #[serde(default)]
    extra: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Subnet {
    subnet: String,
    vlan: u16,
    #[serde(default)]
    dhcp: Option<Dhcp>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Dhcp {
    enable: bool,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Link {
    port: String,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
enum Mode {
    L2vni,
    L3vni,
    L3Flat,
}

const VPC: &str = "\
apiVersion: vpc.githedgehog.com/v1beta1
kind: VPC
metadata:
  name: vpc-1
  labels:
    fabric.githedgehog.com/vpc: vpc-1
spec:
  mode: l3-flat
  subnets:
    default:
      subnet: 10.0.1.0/24
      vlan: 1001
      dhcp:
        enable: true
  links:
  - port: E1/1
";

fn decode_err(text: &str) -> DecodeError {
    match decode::<Object>(&first_root(text)) {
        Err(e) => e,
        Ok(v) => panic!("decoded: {v:?}"),
    }
}

#[test]
fn decodes_a_valid_object() {
    let o: Result<Object, _> = decode(&first_root(VPC));
    let o = o.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        o.metadata
            .labels
            .get("fabric.githedgehog.com/vpc")
            .map(String::as_str),
        Some("vpc-1")
    );
    assert_eq!(o.spec.mode, Some(Mode::L3Flat));
    assert_eq!(
        o.spec
            .subnets
            .get("default")
            .map(|s| (s.vlan, s.dhcp.is_some())),
        Some((1001, true))
    );
    assert_eq!(
        o.spec.links,
        [Link {
            port: "E1/1".into()
        }]
    );
}

fn assert_decode_error(text: &str, path: &str, at: (u32, u32), message: &str) {
    let e = decode_err(text);
    assert_eq!(
        (e.path.to_string(), (e.span.line, e.span.column)),
        (path.to_string(), at),
        "{e}"
    );
    assert!(e.message.contains(message), "{e}: wanted {message:?}");
}

#[test]
fn unknown_field_points_at_the_key() {
    let text = VPC.replace("      vlan: 1001\n", "      vlan: 1001\n      vlanz: 1\n");
    assert_decode_error(
        &text,
        "spec.subnets.default.vlanz",
        (13, 7),
        "unknown field `vlanz`, expected one of `subnet`, `vlan`, `dhcp`",
    );
    let text = VPC.replace("kind: VPC\n", "kind: VPC\nstatus: {}\n");
    assert_decode_error(&text, "status", (3, 1), "unknown field `status`");
}

#[test]
fn wrong_type_points_at_the_value() {
    let text = VPC.replace("subnet: 10.0.1.0/24", "subnet: 5");
    assert_decode_error(
        &text,
        "spec.subnets.default.subnet",
        (11, 15),
        "expected a string, found integer 5",
    );
    let text = VPC.replace("enable: true", "enable: maybe");
    assert_decode_error(
        &text,
        "spec.subnets.default.dhcp.enable",
        (14, 17),
        "found string \"maybe\"",
    );
    let text = VPC.replace("  - port: E1/1", "  - E1/1");
    assert_decode_error(
        &text,
        "spec.links[0]",
        (16, 5),
        "expected a mapping, found string \"E1/1\"",
    );
}

#[test]
fn out_of_range_integer() {
    let text = VPC.replace("vlan: 1001", "vlan: 70000");
    assert_decode_error(
        &text,
        "spec.subnets.default.vlan",
        (12, 13),
        "expected an integer from 0 to 65535 (u16), found 70000",
    );
}

#[test]
fn negative_integer_for_an_unsigned_field() {
    let text = VPC.replace("vlan: 1001", "vlan: -5");
    assert_decode_error(
        &text,
        "spec.subnets.default.vlan",
        (12, 13),
        "expected an integer from 0 to 65535 (u16), found -5",
    );
}

#[test]
fn bad_enum_value() {
    let text = VPC.replace("mode: l3-flat", "mode: l4");
    assert_decode_error(
        &text,
        "spec.mode",
        (8, 9),
        "unknown value `l4`, expected one of `l2vni`, `l3vni`, `l3-flat`",
    );
}

#[test]
fn missing_required_field_points_at_the_parent() {
    let text = VPC.replace("      vlan: 1001\n", "");
    assert_decode_error(
        &text,
        "spec.subnets.default.vlan",
        (11, 7),
        "missing required field `vlan`",
    );
    let text = VPC.replace("  name: vpc-1\n", "");
    assert_decode_error(
        &text,
        "metadata.name",
        (4, 3),
        "missing required field `name`",
    );
    // A null counts as missing, and is pointed at.
    let text = VPC.replace("name: vpc-1", "name: ~");
    assert_decode_error(
        &text,
        "metadata.name",
        (4, 3),
        "missing required field `name`",
    );
}

#[test]
fn nulls_are_absent_for_optional_fields() {
    let text = VPC.replace("  mode: l3-flat\n", "  mode:\n  extra: null\n");
    let o: Result<Object, _> = decode(&first_root(&text));
    assert_eq!(
        o.ok().map(|o| (o.spec.mode, o.spec.extra)),
        Some((None, None))
    );
}

// ---------------------------------------------------------------------------------------------------------
// Emitter

#[test]
fn emitter_quoting_table() {
    let cases = [
        ("name", "name"),
        ("true", "'true'"),
        ("no", "'no'"),
        ("On", "'On'"),
        ("null", "'null'"),
        ("~", "'~'"),
        ("", "''"),
        ("0755", "'0755'"),
        ("0x1F", "'0x1F'"),
        ("1e10", "'1e10'"),
        ("12:30", "'12:30'"),
        ("2024-05-01", "'2024-05-01'"),
        (".inf", "'.inf'"),
        ("10.0.1.0/24", "10.0.1.0/24"),
        ("1.2.3.4", "1.2.3.4"),
        ("E1/55", "E1/55"),
        ("*star", "'*star'"),
        ("key: value", "'key: value'"),
        ("hash #tag", "'hash #tag'"),
        (" padded ", "' padded '"),
        ("it's", "it's"),
        ("'quoted'", "'''quoted'''"),
        ("line1\nline2", "\"line1\\nline2\""),
        ("tab\tsep", "\"tab\\tsep\""),
    ];
    for (s, want) in cases {
        assert_eq!(emit(&json!({ "k": s })), format!("k: {want}\n"), "{s:?}");
        assert_eq!(
            emit(&json!({ s: 1 })),
            format!("{want}: 1\n"),
            "{s:?} as a key"
        );
    }
}

#[test]
fn emitter_is_deterministic_and_kubectl_shaped() {
    let v = first_root(VPC).to_json();
    let text = emit(&v);
    assert_eq!(text, VPC);
    assert_eq!(emit(&v), text);
    assert!(text.ends_with("E1/1\n") && !text.ends_with("\n\n") && !text.starts_with("---"));
}

fn json_leaf() -> impl Strategy<Value = serde_json::Value> {
    let words = prop::sample::select(vec![
        "",
        "yes",
        "No",
        "on",
        "y",
        "~",
        "null",
        "true",
        "0x1F",
        "0o17",
        "017",
        "1_000",
        "1:30",
        ".inf",
        ".NaN",
        "1e3",
        "2024-01-01",
        "<<",
        "=",
        "- a",
        "a: b",
        "a #b",
        "#",
        "'",
        "\"",
        "...",
        "---",
        " ",
        "\t",
        "\u{85}",
        "\u{2028}",
        "\u{feff}",
        "\r\n",
        "é",
        "10.0.0.1",
        "E1/1",
    ]);
    prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        any::<u64>().prop_map(|u| json!(u)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        words.prop_map(|w| json!(w)),
        any::<String>().prop_map(serde_json::Value::String),
        "[ -~]{0,12}".prop_map(serde_json::Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let key = prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9./:_ -]{0,10}",
        Just("yes".to_string()),
        Just("1".to_string())
    ];
    json_leaf().prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|entries| serde_json::Value::Object(entries.into_iter().collect())),
        ]
    })
}

proptest! {
    // PROPTEST_CASES raises the count for a longer run.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(512)
    ))]

    #[test]
    fn emit_then_parse_round_trips(v in json_value()) {
        let text = emit(&v);
        let docs = parse(&text);
        prop_assert!(docs.is_ok(), "{:?}\n{}", docs, text);
        let docs = docs.unwrap_or_default();
        prop_assert_eq!(docs.len(), 1, "{}", text);
        let back = docs.into_iter().next().and_then(|d| d.root).map(|n| n.to_json());
        prop_assert_eq!(back.as_ref(), Some(&v), "{}", text);
        prop_assert!(text.ends_with('\n') && !text.ends_with("\n\n"), "{}", text);
        prop_assert_eq!(emit(&v), text.clone());
        assert_same_as_reference(text.as_bytes());
    }

    /// Lines of plain block YAML and of things just outside it, in any order and indentation: the shortcut
    /// must agree with the general parser, and never accept what it rejects.
    #[test]
    fn fast_path_agrees_with_the_general_parser(lines in prop::collection::vec((0usize..7, line_fragment()), 0..14)) {
        let mut text = String::new();
        for (indent, fragment) in &lines {
            text.push_str(&" ".repeat(*indent));
            text.push_str(fragment);
            text.push('\n');
        }
        assert_same_as_reference(text.as_bytes());
        assert_same_as_reference(text.replace('\n', "\r\n").as_bytes());
    }
}

fn line_fragment() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "a: 1",
        "b:",
        "b: ",
        "c: x # note",
        "d: 'q''s'",
        "e: \"s\"",
        "f: {}",
        "g: []",
        "h: [] # c",
        "- x",
        "- k: v",
        "- k:",
        "-   y",
        "- 'q'",
        "- {}",
        "---",
        "--- # doc",
        "# comment",
        "",
        "i: -1",
        "j: a:b",
        "k#: v",
        "l: http://h:1/p",
        "m: yes",
        "n: ~",
        "o: 0x1F",
        "a: dup",
        "p: a: b",
        "q: b:",
        "- - z",
        "-",
        "r: -",
        "s: &a 1",
        "t: *a",
        "u: !!str 1",
        "v: |",
        "w: [1, 2]",
        "x: {y: 1}",
        "'k': 1",
        "key : v",
        "...",
        "%YAML 1.2",
        "--- a",
        "plain",
        "y: 'open",
        "z: \"esc\\n\"",
        "<<: {m: 1}",
        "? q",
        ": r",
        "aa: x'y",
        "bb: 'x'y",
        "cc: a ]b",
        "dd: 'a'#c",
        "ee: \"\" # c",
        "- - ",
        "ff:   x  ",
        "gg: x #",
        "--- # c",
        "hh: []#c",
        "ii: {}#",
        "- []#c",
        "jj: x#c",
        "---#c",
    ])
}
