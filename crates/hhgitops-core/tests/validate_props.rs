//! Property tests: normalization is idempotent on arbitrary objects; generated fabrics of several shapes validate;
//! renaming any object that others reference is caught by the cross-object rules.

#[path = "validate_support/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use proptest::prelude::*;
use serde_json::{json, Value};

use hhgitops_core::kinds::Kind;
use hhgitops_core::model::Object;
use hhgitops_core::normalize::normalize;
use hhgitops_core::settings::FabricSettings;
use hhgitops_core::state::{FabricState, Origin};
use hhgitops_core::validate::{parse_source, validate_state};
use hhgitops_core::yaml::Limits;
use hhgitops_core::Span;

// ------------------------------------------------------------------------------------------------ idempotence

/// Strings that YAML readers like to take for something else, plus arbitrary printable text.
fn tricky_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        prop::sample::select(vec![
            "yes",
            "no",
            "y",
            "n",
            "on",
            "off",
            "true",
            "False",
            "null",
            "~",
            "Null",
            "0x1F",
            "0o17",
            "010",
            "1e3",
            "+1",
            "-1",
            ".inf",
            "-.Inf",
            ".nan",
            "12:30:00",
            "2001-01-01",
            "1_000",
            "0b101",
            ": x",
            "- x",
            "#c",
            "a #b",
            "'q'",
            "\"dq\"",
            "@at",
            "`bt`",
            "%p",
            "!tag",
            "&a",
            "*a",
            "?",
            "-",
            "|",
            ">",
            "{}",
            "[]",
            "a: b",
            "a\nb",
            "tab\there",
            " lead",
            "trail ",
            "é ünïcödé",
            "ключ",
            "🙂",
            "\\back",
            "x\u{7f}y",
        ])
        .prop_map(String::from),
        "[ -~]{0,16}",
        "\\PC{0,8}",
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        tricky_string().prop_filter("keys are non-empty", |s| !s.is_empty()),
        "[a-z][a-z0-9-]{0,8}"
    ]
}

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,9}[a-z0-9]"
}

fn opt<T: std::fmt::Debug + Clone + 'static>(
    s: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<Option<T>> {
    prop::option::of(s).boxed()
}

fn object_strategy() -> impl Strategy<Value = (Kind, String, Value, BTreeMap<String, String>)> {
    let server = (opt(tricky_string()), opt(tricky_string()))
        .prop_map(|(d, p)| (Kind::Server, json!({"description": d, "profile": p})));
    let subnet = (opt(tricky_string()), opt(any::<u16>()), opt(any::<bool>()), opt(prop::collection::vec(tricky_string(), 0..3)))
        .prop_map(|(s, v, e, dns)| json!({"subnet": s, "vlan": v, "dhcp": {"enable": e, "options": {"dnsServers": dns, "interfaceMTU": 9036, "leaseTimeSeconds": 60}}}));
    let vpc = (
        prop::collection::btree_map(key(), subnet, 0..4),
        opt(tricky_string()),
        opt(prop::collection::vec(
            prop::collection::vec(tricky_string(), 0..3),
            0..2,
        )),
    )
        .prop_map(|(subnets, mode, permit)| {
            (
                Kind::VPC,
                json!({"mode": mode, "subnets": subnets, "permit": permit}),
            )
        });
    let switch = (
        opt(tricky_string()),
        opt(any::<u32>()),
        prop::collection::btree_map(key(), tricky_string(), 0..3),
        prop::collection::btree_map(key(), any::<bool>(), 0..3),
        opt(prop::collection::vec(tricky_string(), 0..3)),
    )
        .prop_map(|(role, asn, speeds, autoneg, groups)| {
            (Kind::Switch, json!({"role": role, "asn": asn, "portSpeeds": speeds, "portAutoNegs": autoneg, "groups": groups}))
        });
    let connection = (tricky_string(), tricky_string(), opt(any::<u16>()))
        .prop_map(|(a, b, mtu)| (Kind::Connection, json!({"unbundled": {"link": {"server": {"port": a}, "switch": {"port": b}}, "mtu": mtu}})));
    let peering = prop::collection::vec(
        prop::collection::btree_map(
            key(),
            opt(prop::collection::vec(tricky_string(), 0..2)),
            0..3,
        ),
        0..3,
    )
    .prop_map(|permit| {
        let permit: Vec<Value> = permit
            .into_iter()
            .map(|m| {
                Value::Object(
                    m.into_iter()
                        .map(|(k, s)| (k, json!({ "subnets": s })))
                        .collect(),
                )
            })
            .collect();
        (Kind::VPCPeering, json!({ "permit": permit }))
    });
    (
        prop_oneof![server, vpc, switch, connection, peering],
        name(),
        prop::collection::btree_map(key(), tricky_string(), 0..3),
    )
        .prop_map(|((kind, spec), name, annotations)| (kind, name, spec, annotations))
}

/// Removes JSON nulls (absent optional fields) so that `from_json` sees what a YAML author would write.
fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// normalize(parse(normalize(x))) == normalize(x), byte for byte, and the typed value survives the round trip.
    #[test]
    fn normalize_is_idempotent((kind, name, spec, annotations) in object_strategy()) {
        let mut object = Object::from_json(kind, &name, strip_nulls(spec)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        object.metadata.annotations = (!annotations.is_empty()).then_some(annotations);
        // Normalization writes `namespace: default`; nothing else changes.
        object.metadata.namespace = Some("default".to_string());
        let first = normalize(&object);
        let report = parse_source("normalized.yaml", first.as_bytes(), &Limits::default(), &FabricSettings::default());
        prop_assert_eq!(report.objects.len(), 1, "{}\n{:#?}", first, report.errors);
        let again = &report.objects[0];
        prop_assert_eq!(&again.normalized(), &first);
        prop_assert_eq!(&*again.object, &object);
    }
}

// ------------------------------------------------------------------------------------------------ generated fabrics

const SHAPES: &[&[&str]] = &[
    &[],
    &["--vpcs"],
    &["--mesh-links", "2", "--vpcs"],
    &["--mesh-links", "1", "--gateways", "2", "--vpcs"],
    &[
        "--mesh-links",
        "2",
        "--eslag-leaf-groups",
        "2,3",
        "--orphan-leafs",
        "2",
    ],
    &["--gateways", "2", "--gateway-uplinks", "2", "--vpcs"],
    &[
        "--spines",
        "4",
        "--fabric-links",
        "3",
        "--eslag-leaf-groups",
        "2,4",
        "--orphan-leafs",
        "3",
        "--vpcs",
    ],
];

#[test]
fn generated_fabrics_validate() {
    for shape in SHAPES {
        let Some(bytes) = common::generate(shape) else {
            return;
        };
        let (report, st) = common::validate_file("generated.yaml", &bytes, &gateway_enabled());
        assert!(
            report.errors.is_empty(),
            "{shape:?}: {:#?}",
            &report.errors[..report.errors.len().min(5)]
        );
        assert!(
            st.errors.is_empty(),
            "{shape:?}: {:#?}",
            &st.errors[..st.errors.len().min(5)]
        );
        assert!(report.objects.len() > 20, "{shape:?}");
    }
}

/// The fabric settings of a fabric with the gateway enabled (the generated fabrics may have gateways).
fn gateway_enabled() -> FabricSettings {
    FabricSettings {
        enable_gateway: true,
        ..FabricSettings::default()
    }
}

#[test]
fn unhydrated_fabrics_are_rejected_once_per_switch_and_gateway() {
    for shape in [
        &["--no-hydrate"][..],
        &["--no-hydrate", "--vpcs", "--gateways", "1"][..],
    ] {
        let Some(bytes) = common::generate(shape) else {
            return;
        };
        let (report, _) = common::validate_file("generated.yaml", &bytes, &gateway_enabled());
        let unhydrated: Vec<_> = report
            .errors
            .iter()
            .filter(|d| d.message.contains("not hydrated"))
            .collect();
        let devices = report
            .objects
            .iter()
            .filter(|o| matches!(o.kind, Kind::Switch | Kind::Gateway))
            .count();
        assert_eq!(unhydrated.len(), devices, "{shape:?}: {:#?}", report.errors);
        assert!(unhydrated
            .iter()
            .all(|d| d.path == "spec" && d.message.contains("hhgitops hydrate")));
        // Links may stay unnumbered: the only errors are the unhydrated devices'.
        assert_eq!(
            report.errors.len(),
            devices,
            "{shape:?}: {:#?}",
            report.errors
        );
    }
}

// ------------------------------------------------------------------------------------------------ broken references

struct Fabric {
    state: FabricState,
    /// (kind, name) of every object that some other object refers to by name.
    referenced: Vec<(Kind, String)>,
}

fn fabric() -> Option<&'static Fabric> {
    static FABRIC: OnceLock<Option<Fabric>> = OnceLock::new();
    FABRIC
        .get_or_init(|| {
            let bytes = common::generate(&["--vpcs", "--gateways", "1"])?;
            let report = parse_source(
                "generated.yaml",
                &bytes,
                &Limits::default(),
                &gateway_enabled(),
            );
            assert!(report.errors.is_empty());
            let mut state = FabricState::new();
            state.insert_report("generated.yaml", &report);
            let specs: Vec<(Kind, String, String)> = report
                .objects
                .iter()
                .map(|o| {
                    (
                        o.kind,
                        o.name.clone(),
                        serde_json::to_string(&o.object.spec.to_json()).unwrap_or_default(),
                    )
                })
                .collect();
            let referenced = specs
                .iter()
                .filter(|(kind, name, _)| {
                    let tokens = [
                        format!("\"{name}\""),
                        format!("\"{name}/"),
                        format!(":{{\"{name}\""),
                    ];
                    // The gateway end of a gateway connection is not looked up, so a Gateway is referenced only
                    // through a name the rules resolve; GatewayGroup and the rest are found by their names.
                    *kind != Kind::Gateway
                        && specs.iter().any(|(k2, n2, spec)| {
                            (k2, n2) != (kind, name)
                                && tokens.iter().any(|t| spec.contains(t.as_str()))
                        })
                })
                .map(|(k, n, _)| (*k, n.clone()))
                .collect();
            Some(Fabric { state, referenced })
        })
        .as_ref()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Renaming the target of a reference (a single mutation) is caught, and the error names the old name.
    #[test]
    fn renaming_a_referenced_object_is_caught(pick in any::<prop::sample::Index>()) {
        let Some(f) = fabric() else { return Ok(()) };
        prop_assume!(!f.referenced.is_empty());
        let (kind, old) = &f.referenced[pick.index(f.referenced.len())];
        let mut state = f.state.clone();
        let entry = state.remove(*kind, old).ok_or_else(|| TestCaseError::fail("missing entry"))?;
        let mut object = (*entry.object).clone();
        object.metadata.name = Some(format!("{old}-renamed"));
        state.insert(Arc::new(object), Origin { file: Arc::from("renamed.yaml"), document: 1, span: Span::default(), root: None });
        let report = validate_state(&state, &gateway_enabled());
        prop_assert!(
            report.errors.iter().any(|d| d.message.contains(&format!("\"{old}\"")) || d.message.contains(&format!(" {old} "))),
            "renaming {} {} went unnoticed: {:#?}", kind, old, &report.errors[..report.errors.len().min(3)]
        );
    }
}

#[test]
fn the_reference_fixture_covers_every_referenced_kind() {
    let Some(f) = fabric() else { return };
    for kind in [
        Kind::VLANNamespace,
        Kind::IPv4Namespace,
        Kind::SwitchGroup,
        Kind::Switch,
        Kind::Server,
        Kind::Connection,
        Kind::VPC,
        Kind::GatewayGroup,
    ] {
        assert!(
            f.referenced.iter().any(|(k, _)| *k == kind),
            "no referenced {kind} in the fixture"
        );
    }
}
