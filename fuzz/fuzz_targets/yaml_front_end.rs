//! Arbitrary bytes through the YAML front end: parsing must never panic or run away; it must give exactly what
//! the general parser gives (the shortcut for plain block YAML may not change a result, a position or an
//! error); and whatever parses must survive `to_json` → `emit` → `parse_stream` → `to_json` unchanged.

#![no_main]

use hhgitops_core::yaml::{decode, emit, parse_stream, parse_stream_reference, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Small limits keep each run cheap; they are what the hostile-input checks are about.
    let limits = Limits {
        max_bytes: 1 << 20,
        max_alias_nodes: 10_000,
        max_depth: 64,
    };
    let parsed = parse_stream(data, &limits);
    let reference = parse_stream_reference(data, &limits);
    // Through `Debug`, so that NaN equals NaN.
    assert_eq!(format!("{parsed:?}"), format!("{reference:?}"));
    let Ok(docs) = parsed else {
        return;
    };
    for (i, doc) in docs.iter().enumerate() {
        assert_eq!(doc.index, i + 1);
        let Some(root) = &doc.root else {
            continue;
        };
        let json = root.to_json();
        // Decoding into a free-form value accepts whatever `to_json` shows, floats JSON cannot hold aside.
        let decoded = decode::<serde_json::Value>(root);
        if let Ok(decoded) = &decoded {
            assert_eq!(decoded, &json);
        }
        let text = emit(&json);
        let again = match parse_stream(text.as_bytes(), &Limits::default()) {
            Ok(again) => again,
            Err(e) => panic!("emitted YAML does not parse: {e}\n{text}"),
        };
        assert_eq!(again.len(), 1, "{text}");
        let back = again[0].root.as_ref().map(|n| n.to_json());
        assert_eq!(back.as_ref(), Some(&json), "{text}");
        assert_eq!(emit(&json), text, "emit is not deterministic");
    }
});
