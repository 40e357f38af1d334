//! IPv4 addresses and prefixes parsed the way Go's `net/netip` parses them (dotted quad, no leading zeros,
//! `/len` in 0..=32), as plain integers so that containment and overlap checks are cheap.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 prefix `a.b.c.d/len`. The address keeps its host bits (`10.0.1.5/24` is a valid prefix whose
/// network is `10.0.1.0`), as in Go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Prefix {
    pub addr: u32,
    pub len: u8,
}

/// Parses a dotted-quad IPv4 address; `Err` says what is wrong.
pub fn parse_addr(s: &str) -> Result<u32, String> {
    if s.contains(':') {
        return Err(format!("{s:?} is an IPv6 address, the fabric uses IPv4"));
    }
    Ipv4Addr::from_str(s)
        .map(u32::from)
        .map_err(|_| format!("{s:?} is not a valid IPv4 address (expected a.b.c.d)"))
}

/// Formats an address held as an integer.
pub fn fmt_addr(a: u32) -> String {
    Ipv4Addr::from(a).to_string()
}

impl Ipv4Prefix {
    pub const fn new(addr: u32, len: u8) -> Self {
        Ipv4Prefix { addr, len }
    }

    /// Parses `a.b.c.d/len`; `Err` says what is wrong.
    pub fn parse(s: &str) -> Result<Self, String> {
        let Some((a, l)) = s.split_once('/') else {
            return Err(format!(
                "{s:?} is not an IPv4 prefix (expected a.b.c.d/len)"
            ));
        };
        let addr = parse_addr(a)
            .map_err(|_| format!("{s:?} is not a valid IPv4 prefix (expected a.b.c.d/len)"))?;
        let len_ok = !l.is_empty()
            && l.len() <= 2
            && l.bytes().all(|b| b.is_ascii_digit())
            && !(l.len() == 2 && l.starts_with('0'));
        let len = if len_ok {
            l.parse::<u8>().ok().filter(|n| *n <= 32)
        } else {
            None
        };
        match len {
            Some(len) => Ok(Ipv4Prefix { addr, len }),
            None => Err(format!(
                "{s:?} has an invalid prefix length (expected 0 to 32)"
            )),
        }
    }

    pub const fn mask(self) -> u32 {
        if self.len == 0 {
            0
        } else {
            u32::MAX << (32 - self.len as u32)
        }
    }

    /// First address of the prefix.
    pub const fn network(self) -> u32 {
        self.addr & self.mask()
    }

    /// Last address of the prefix (the broadcast address).
    pub const fn last(self) -> u32 {
        self.network() | !self.mask()
    }

    /// The prefix with its host bits cleared.
    pub const fn masked(self) -> Self {
        Ipv4Prefix {
            addr: self.network(),
            len: self.len,
        }
    }

    /// Whether the address has no host bits set (`10.0.0.0/8`, not `10.0.0.1/8`).
    pub const fn is_canonical(self) -> bool {
        self.addr == self.network()
    }

    pub const fn contains_addr(self, a: u32) -> bool {
        a & self.mask() == self.network()
    }

    /// Whether `other` lies entirely inside `self`.
    pub const fn contains(self, other: Ipv4Prefix) -> bool {
        other.len >= self.len && self.contains_addr(other.addr)
    }

    pub const fn overlaps(self, other: Ipv4Prefix) -> bool {
        self.contains(other) || other.contains(self)
    }
}

impl fmt::Display for Ipv4Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.addr), self.len)
    }
}

impl FromStr for Ipv4Prefix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ipv4Prefix::parse(s)
    }
}

impl serde::Serialize for Ipv4Prefix {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Ipv4Prefix {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ipv4Prefix::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Finds the first pair of overlapping prefixes (indexes into `prefixes`), in O(n log n).
pub fn first_overlap(prefixes: &[Ipv4Prefix]) -> Option<(usize, usize)> {
    let mut idx: Vec<usize> = (0..prefixes.len()).collect();
    idx.sort_by_key(|&i| (prefixes[i].network(), prefixes[i].len));
    let mut widest: Option<usize> = None;
    for &i in &idx {
        if let Some(w) = widest {
            if prefixes[w].last() >= prefixes[i].network() {
                return Some((w.min(i), w.max(i)));
            }
            if prefixes[i].last() > prefixes[w].last() {
                widest = Some(i);
            }
        } else {
            widest = Some(i);
        }
    }
    None
}

/// Whether `s` is a MAC address in one of the forms Go's `net.ParseMAC` accepts for 48-bit addresses
/// (`00:11:22:33:44:55`, `00-11-22-33-44-55`, `0011.2233.4455`).
pub fn is_mac(s: &str) -> bool {
    let hex = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit());
    if s.len() == 17 {
        for sep in [':', '-'] {
            let parts: Vec<&str> = s.split(sep).collect();
            if parts.len() == 6 && parts.iter().all(|p| hex(p, 2)) {
                return true;
            }
        }
        false
    } else if s.len() == 14 {
        let parts: Vec<&str> = s.split('.').collect();
        parts.len() == 3 && parts.iter().all(|p| hex(p, 4))
    } else {
        false
    }
}

/// Parses a MAC address as Go's `net.ParseMAC` does: 6, 8 or 20 octets written `aa:bb:…`, `aa-bb-…` or
/// `aabb.ccdd.…`, hex digits of either case.
pub fn parse_mac(s: &str) -> Option<Vec<u8>> {
    let hexbyte = |p: &str| {
        (p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u8::from_str_radix(p, 16).ok())
            .flatten()
    };
    let octets: Option<Vec<u8>> = if s.contains(':') || s.contains('-') {
        let sep = if s.contains(':') { ':' } else { '-' };
        s.split(sep).map(hexbyte).collect()
    } else if s.contains('.') {
        let mut out = Vec::new();
        for part in s.split('.') {
            if part.len() != 4 {
                return None;
            }
            out.push(hexbyte(&part[..2])?);
            out.push(hexbyte(&part[2..])?);
        }
        Some(out)
    } else {
        None
    };
    octets.filter(|o| matches!(o.len(), 6 | 8 | 20))
}

/// The canonical (lowercase, colon-separated) form of a MAC address, or `None` if it does not parse.
pub fn canonical_mac(s: &str) -> Option<String> {
    parse_mac(s).map(|o| {
        o.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_netip() {
        let p = Ipv4Prefix::parse("10.0.1.5/24").unwrap_or(Ipv4Prefix::new(0, 0));
        assert_eq!(p.to_string(), "10.0.1.5/24");
        assert_eq!(fmt_addr(p.network()), "10.0.1.0");
        assert_eq!(fmt_addr(p.last()), "10.0.1.255");
        assert!(!p.is_canonical());
        assert!(Ipv4Prefix::parse("10.0.0.0").is_err());
        assert!(Ipv4Prefix::parse("10.0.0.0/33").is_err());
        assert!(Ipv4Prefix::parse("10.0.0.0/024").is_err());
        assert!(Ipv4Prefix::parse("010.0.0.0/8").is_err());
        assert!(Ipv4Prefix::parse("fd00::/8").is_err());
        assert!(Ipv4Prefix::parse("0.0.0.0/0").is_ok());
        assert!(parse_addr("1.2.3.256").is_err());
    }

    #[test]
    fn overlap_and_contains() {
        let a = Ipv4Prefix::parse("10.0.0.0/16").unwrap_or(Ipv4Prefix::new(0, 0));
        let b = Ipv4Prefix::parse("10.0.3.0/24").unwrap_or(Ipv4Prefix::new(0, 0));
        let c = Ipv4Prefix::parse("10.1.0.0/24").unwrap_or(Ipv4Prefix::new(0, 0));
        assert!(a.contains(b) && !b.contains(a) && a.overlaps(b) && b.overlaps(a));
        assert!(!a.overlaps(c));
        assert_eq!(first_overlap(&[c, b, a]), Some((1, 2)));
        assert_eq!(first_overlap(&[c, b]), None);
        let all = Ipv4Prefix::parse("0.0.0.0/0").unwrap_or(Ipv4Prefix::new(1, 32));
        assert!(all.contains(c));
    }

    #[test]
    fn macs() {
        assert!(is_mac("0c:20:12:ff:00:00"));
        assert!(is_mac("0C-20-12-FF-00-00"));
        assert!(is_mac("0c20.12ff.0000"));
        assert!(!is_mac("0c:20:12:ff:00"));
        assert!(!is_mac("zz:20:12:ff:00:00"));
        assert_eq!(
            canonical_mac("0C-20-12-FF-00-0A").as_deref(),
            Some("0c:20:12:ff:00:0a")
        );
        assert_eq!(
            canonical_mac("0c20.12ff.000a").as_deref(),
            Some("0c:20:12:ff:00:0a")
        );
        assert_eq!(
            parse_mac("00:11:22:33:44:55:66:77").map(|m| m.len()),
            Some(8)
        );
        assert!(parse_mac("00:11:22:33:44").is_none());
        assert!(parse_mac("0:11:22:33:44:55").is_none());
    }
}
