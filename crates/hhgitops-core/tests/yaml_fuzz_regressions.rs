//! Inputs the `yaml_front_end` fuzz target found (see `fuzz/README.md`), each with the behaviour it must have.

use hhgitops_core::yaml::{parse_stream, parse_stream_reference, Limits};

/// The fast path and the general parser agree, and the result is `want_ok`.
fn check(input: &[u8], want_ok: bool) {
    let got = parse_stream(input, &Limits::default());
    let reference = parse_stream_reference(input, &Limits::default());
    assert_eq!(format!("{got:?}"), format!("{reference:?}"), "{input:?}");
    assert_eq!(got.is_ok(), want_ok, "{got:?}");
}

/// A comment must be separated from a value by whitespace: `[]#` is an error, not an empty list.
#[test]
fn comment_glued_to_an_empty_collection() {
    check(b"a:  []#  !!", false);
    let e = parse_stream(b"a:  []#  !!", &Limits::default()).err();
    assert_eq!(e.map(|e| (e.line, e.column)), Some((1, 7)));
    check(b"a: {}#c\n", false);
    check(b"a: 'x'#c\n", false);
    check(b"a: [] #c\n", true);
}
