//! The contract of `parse_source` / `validate_state` as the engine and the CLI use it.

use std::sync::Arc;

use hhgitops_core::kinds::Kind;
use hhgitops_core::normalize::content_hash;
use hhgitops_core::settings::FabricSettings;
use hhgitops_core::state::{FabricState, Origin};
use hhgitops_core::validate::{
    parse_source, validate_state, ParsedObject, SourceReport, StateReport,
};
use hhgitops_core::yaml::Limits;

const VPCS: &str = "\
# leading comment
---
apiVersion: vpc.githedgehog.com/v1beta1
kind: IPv4Namespace
metadata:
  name: default
spec:
  subnets: [10.0.0.0/16]
---
# a comment-only document
---
apiVersion: vpc.githedgehog.com/v1beta1
kind: VPC
metadata:
  name: vpc-1
  uid: 1234
  labels: {b: \"2\", a: \"1\"}
spec:
  vlanNamespace: default
  subnets:
    default: {subnet: 10.0.1.0/24, vlan: 1001}
status: {}
";

fn parse(text: &str) -> SourceReport {
    parse_source(
        "raw/vpcs.yaml",
        text.as_bytes(),
        &Limits::default(),
        &FabricSettings::default(),
    )
}

#[test]
fn counts_documents_and_normalizes() {
    let r = parse(VPCS);
    assert!(r.errors.is_empty(), "{:#?}", r.errors);
    // A comment before the first `---` belongs to no document (YAML's stream prefix).
    assert_eq!(r.documents, 3);
    assert_eq!(r.empty_documents, 1);
    let kinds: Vec<(Kind, &str, usize)> = r
        .objects
        .iter()
        .map(|o| (o.kind, o.name.as_str(), o.document))
        .collect();
    assert_eq!(
        kinds,
        [(Kind::IPv4Namespace, "default", 1), (Kind::VPC, "vpc-1", 3)]
    );
    let vpc = &r.objects[1];
    assert_eq!(
        vpc.normalized(),
        "apiVersion: vpc.githedgehog.com/v1beta1\nkind: VPC\nmetadata:\n  name: vpc-1\n  namespace: default\n  labels:\n    a: '1'\n    b: '2'\nspec:\n  subnets:\n    default:\n      subnet: 10.0.1.0/24\n      vlan: 1001\n  vlanNamespace: default\n"
    );
    assert_eq!(content_hash(vpc.normalized().as_bytes()).len(), 64);
    assert!(vpc.valid);
}

#[test]
fn syntax_error_is_one_diagnostic_without_objects() {
    let r = parse("apiVersion: v1\nkind: [unclosed\n");
    assert_eq!(r.errors.len(), 1, "{:#?}", r.errors);
    assert!(r.objects.is_empty());
    let d = &r.errors[0];
    assert_eq!(d.file, "raw/vpcs.yaml");
    assert!(d.line >= 1 && d.column >= 1);
}

#[test]
fn errors_in_one_document_do_not_stop_the_others() {
    let text = "\
apiVersion: wiring.githedgehog.com/v1beta1
kind: Server
metadata: {name: BAD}
---
apiVersion: wiring.githedgehog.com/v1beta1
kind: Server
metadata: {name: server-02}
spec: {descr: x}
---
apiVersion: wiring.githedgehog.com/v1beta1
kind: Switch
metadata: {name: leaf-01}
spec: {role: server-leaf}
---
apiVersion: wiring.githedgehog.com/v1beta1
kind: Server
metadata: {name: server-03}
";
    let r = parse(text);
    let mut docs: Vec<Option<usize>> = r.errors.iter().map(|d| d.document).collect();
    docs.dedup();
    assert_eq!(docs, [Some(1), Some(2), Some(3)], "{:#?}", r.errors);
    assert!(r
        .errors
        .iter()
        .all(|d| d.file == "raw/vpcs.yaml" && d.line > 0));
    assert_eq!(r.errors[2].kind.as_deref(), Some("Switch"));
    assert_eq!(r.errors[2].name.as_deref(), Some("leaf-01"));
    // The switch decoded (its profile is missing), so it is returned, flagged invalid; server-03 is fine.
    let objs: Vec<(&str, bool)> = r
        .objects
        .iter()
        .map(|o| (o.name.as_str(), o.valid))
        .collect();
    assert_eq!(objs, [("leaf-01", false), ("server-03", true)]);
}

#[test]
fn state_errors_carry_the_file_of_the_referencing_object() {
    let managed = parse_source(
        "managed/vpcs/vpc-1.yaml",
        b"apiVersion: vpc.githedgehog.com/v1beta1\nkind: VPC\nmetadata:\n  name: vpc-1\nspec:\n  subnets:\n    default: {subnet: 10.0.1.0/24, vlan: 1001}\n",
        &Limits::default(),
        &FabricSettings::default(),
    );
    let raw = parse_source(
        "raw/new.yaml",
        b"apiVersion: vpc.githedgehog.com/v1beta1\nkind: VPC\nmetadata:\n  name: vpc-2\nspec:\n  subnets:\n    default: {subnet: 10.0.1.0/25, vlan: 1001}\n",
        &Limits::default(),
        &FabricSettings::default(),
    );
    let mut state = FabricState::new();
    state.insert_report("managed/vpcs/vpc-1.yaml", &managed);
    state.insert_report("raw/new.yaml", &raw);
    let r = validate_state(&state, &FabricSettings::default());
    // Missing namespaces are reported for both; the collisions only for the object inserted later.
    let collisions: Vec<_> = r
        .errors
        .iter()
        .filter(|d| d.message.contains("already used") || d.message.contains("overlaps"))
        .collect();
    assert_eq!(collisions.len(), 2, "{:#?}", r.errors);
    for d in collisions {
        assert_eq!(d.file, "raw/new.yaml");
        assert_eq!(d.document, Some(1));
        assert_eq!(d.name.as_deref(), Some("vpc-2"));
        assert_eq!(d.line, 7);
    }
}

#[test]
fn state_without_nodes_reports_at_the_document_start() {
    let r = parse(VPCS);
    let mut state = FabricState::new();
    for o in &r.objects {
        let span = o.span;
        state.insert(
            o.object.clone(),
            Origin {
                file: Arc::from("raw/vpcs.yaml"),
                document: o.document,
                span,
                root: None,
            },
        );
    }
    let st = validate_state(&state, &FabricSettings::default());
    let d = st
        .errors
        .iter()
        .find(|d| d.path == "spec.vlanNamespace")
        .expect("the VLAN namespace is missing");
    assert_eq!((d.line, d.document), (r.objects[1].span.line, Some(3)));
}

#[test]
fn api_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<SourceReport>();
    check::<ParsedObject>();
    check::<StateReport>();
    check::<FabricState>();
    check::<FabricSettings>();
    check::<hhgitops_core::model::Object>();
}

#[test]
fn parse_source_runs_on_many_threads() {
    let handles: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(|| parse(VPCS).objects.len()))
        .collect();
    for h in handles {
        assert_eq!(h.join().ok(), Some(2));
    }
}
