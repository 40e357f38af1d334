//! Which inputs of one run a fabric can take (pure): conflicts between the files of a run, and the loop that
//! rejects inputs until the state they produce together with the accepted state is valid.
//!
//! Both ingestion (raw files) and import (cluster objects) decide this way; the engine only maps the verdicts
//! to its reports.
//!
//! Invariants:
//! - An object defined in two files of one run rejects both files (neither is preferred).
//! - An input is rejected only for errors the cross-object rules locate in it; errors located elsewhere (in the
//!   state the inputs are laid over) never reject an input, they are returned as `other_errors`.
//! - The loop ends: every round either accepts the state or rejects at least one input.

use std::collections::BTreeMap;

use crate::diag::Diagnostic;
use crate::kinds::Kind;
use crate::settings::FabricSettings;
use crate::state::FabricState;
use crate::validate::{validate_state, SourceReport};

/// Objects defined by more than one file of a run: for each file concerned, one error per object it shares with
/// a file before it (both files get it). `files` are (file, its parsed report), in run order.
pub fn cross_file_conflicts(files: &[(&str, &SourceReport)]) -> BTreeMap<String, Vec<Diagnostic>> {
    let mut first_seen: BTreeMap<(Kind, &str), (usize, String)> = BTreeMap::new();
    let mut conflicted: BTreeMap<String, Vec<Diagnostic>> = BTreeMap::new();
    for (i, (file, rep)) in files.iter().enumerate() {
        for o in &rep.objects {
            let here = format!("{file}:{}:{}", o.span.line, o.span.column);
            match first_seen.get(&(o.kind, o.name.as_str())) {
                Some((j, there)) if *j != i => {
                    let msg = |reported_for: &str| {
                        Diagnostic::new(format!(
                            "{} {} is defined in two raw files of this run: {there} and {here}; keep it in one",
                            o.kind, o.name
                        ))
                        .in_file(reported_for)
                        .in_document(o.document)
                        .for_object(o.kind.name(), o.name.clone())
                    };
                    conflicted
                        .entry(file.to_string())
                        .or_default()
                        .push(msg(file));
                    let other = files[*j].0;
                    conflicted
                        .entry(other.to_string())
                        .or_default()
                        .push(msg(other));
                }
                Some(_) => {}
                None => {
                    first_seen.insert((o.kind, o.name.as_str()), (i, here));
                }
            }
        }
    }
    conflicted
}

/// The outcome of [`accept_until_valid`].
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    /// Indices of the inputs accepted, in input order.
    pub accepted: Vec<usize>,
    /// Inputs rejected, each with the errors located in it, in the order they were rejected.
    pub rejected: Vec<(usize, Vec<Diagnostic>)>,
    /// The valid state: the base with every accepted input laid over it.
    pub state: FabricState,
    /// Cross-object checks of the final state skipped for lack of data.
    pub unchecked: usize,
    /// Errors of the final state located outside the accepted inputs (in the base state).
    pub other_errors: Vec<Diagnostic>,
}

/// Lays `inputs` (those `candidate` keeps) over `base` and validates the whole state; inputs with errors located
/// in them (`file_of` names the file each input's objects carry as their origin) are rejected and the rest
/// validated again, until no error falls in an accepted input.
pub fn accept_until_valid<T>(
    base: &FabricState,
    inputs: &[T],
    candidate: impl Fn(usize, &T) -> bool,
    file_of: impl Fn(&T) -> &str,
    insert: impl Fn(&mut FabricState, &T),
    settings: &FabricSettings,
) -> Verdict {
    let mut accepted: Vec<usize> = inputs
        .iter()
        .enumerate()
        .filter(|(i, t)| candidate(*i, t))
        .map(|(i, _)| i)
        .collect();
    let mut rejected = Vec::new();
    loop {
        let mut state = base.clone();
        for &i in &accepted {
            insert(&mut state, &inputs[i]);
        }
        let result = validate_state(&state, settings);
        let mut by_input: BTreeMap<usize, Vec<Diagnostic>> = BTreeMap::new();
        let mut other_errors = Vec::new();
        for d in result.errors {
            match accepted.iter().find(|&&i| file_of(&inputs[i]) == d.file) {
                Some(&i) => by_input.entry(i).or_default().push(d),
                None => other_errors.push(d),
            }
        }
        if by_input.is_empty() {
            return Verdict {
                accepted,
                rejected,
                state,
                unchecked: result.unchecked,
                other_errors,
            };
        }
        accepted.retain(|i| !by_input.contains_key(i));
        rejected.extend(by_input);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::parse_source;
    use crate::yaml::Limits;

    fn parse(file: &str, text: &str) -> SourceReport {
        let rep = parse_source(
            file,
            text.as_bytes(),
            &Limits::default(),
            &FabricSettings::default(),
        );
        assert!(rep.errors.is_empty(), "{file}: {:?}", rep.errors);
        rep
    }

    const IPV4: &str = "apiVersion: vpc.githedgehog.com/v1beta1\nkind: IPv4Namespace\nmetadata:\n  name: default\nspec:\n  subnets: [10.10.0.0/16]\n---\napiVersion: wiring.githedgehog.com/v1beta1\nkind: VLANNamespace\nmetadata:\n  name: default\nspec:\n  ranges:\n  - from: 1000\n    to: 2999\n";

    fn vpc(name: &str, subnet: &str, vlan: u16) -> String {
        format!(
            "apiVersion: vpc.githedgehog.com/v1beta1\nkind: VPC\nmetadata:\n  name: {name}\nspec:\n  subnets:\n    s1:\n      subnet: {subnet}\n      vlan: {vlan}\n"
        )
    }

    #[test]
    fn an_object_in_two_files_rejects_both_and_names_both_places() {
        let a = parse("raw/a.yaml", &vpc("vpc-1", "10.10.1.0/24", 1001));
        let b = parse(
            "raw/b.yaml",
            &format!("{IPV4}---\n{}", vpc("vpc-1", "10.10.2.0/24", 1002)),
        );
        let c = parse("raw/c.yaml", &vpc("vpc-3", "10.10.3.0/24", 1003));
        let conflicts =
            cross_file_conflicts(&[("raw/a.yaml", &a), ("raw/b.yaml", &b), ("raw/c.yaml", &c)]);
        assert_eq!(
            conflicts.keys().collect::<Vec<_>>(),
            ["raw/a.yaml", "raw/b.yaml"],
            "the file without a shared object is not concerned"
        );
        let e = &conflicts["raw/a.yaml"][0];
        assert_eq!(e.file, "raw/a.yaml");
        assert_eq!(e.kind.as_deref(), Some("VPC"));
        assert!(
            e.message.contains("raw/a.yaml:1:1") && e.message.contains("raw/b.yaml:"),
            "{}",
            e.message
        );
        let e = &conflicts["raw/b.yaml"][0];
        assert_eq!(e.file, "raw/b.yaml");
        assert_eq!(e.document, Some(3), "the document of the later definition");
    }

    #[test]
    fn inputs_are_rejected_until_the_state_is_valid_and_base_errors_never_reject() {
        let ns = parse("raw/ns.yaml", IPV4);
        let good = parse("raw/good.yaml", &vpc("vpc-1", "10.10.1.0/24", 1001));
        // Same VLAN as vpc-1: rejected (it comes later).
        let clash = parse("raw/clash.yaml", &vpc("vpc-2", "10.10.2.0/24", 1001));
        // Refers to an IPv4Namespace nobody defines.
        let orphan = parse(
            "raw/orphan.yaml",
            &vpc("vpc-3", "10.10.3.0/24", 1003)
                .replace("spec:\n", "spec:\n  ipv4Namespace: ns-9\n"),
        );
        let inputs = vec![
            ("raw/ns.yaml", ns),
            ("raw/good.yaml", good),
            ("raw/clash.yaml", clash),
            ("raw/orphan.yaml", orphan),
        ];
        let v = accept_until_valid(
            &FabricState::new(),
            &inputs,
            |_, _| true,
            |(f, _)| f,
            |st, (f, rep)| st.insert_report(f, rep),
            &FabricSettings::default(),
        );
        assert_eq!(v.accepted, [0, 1]);
        let rejected: Vec<usize> = v.rejected.iter().map(|(i, _)| *i).collect();
        assert_eq!(rejected, [2, 3]);
        assert!(v
            .rejected
            .iter()
            .all(|(i, errs)| !errs.is_empty() && errs.iter().all(|d| d.file == inputs[*i].0)));
        assert!(v.other_errors.is_empty());
        assert_eq!(v.state.len(), 3, "the two namespaces and vpc-1");
        assert!(v.state.contains(Kind::VPC, "vpc-1"));

        // Laid over a base that has the same clash itself: the base's error is reported, never rejects.
        let base_inputs = vec![
            ("managed/a.yaml", parse("managed/a.yaml", IPV4)),
            (
                "managed/b.yaml",
                parse("managed/b.yaml", &vpc("vpc-1", "10.10.1.0/24", 1001)),
            ),
            (
                "managed/c.yaml",
                parse("managed/c.yaml", &vpc("vpc-2", "10.10.2.0/24", 1001)),
            ),
        ];
        let mut base = FabricState::new();
        for (f, rep) in &base_inputs {
            base.insert_report(f, rep);
        }
        let extra = vec![(
            "raw/d.yaml",
            parse("raw/d.yaml", &vpc("vpc-4", "10.10.4.0/24", 1004)),
        )];
        let v = accept_until_valid(
            &base,
            &extra,
            |_, _| true,
            |(f, _)| f,
            |st, (f, rep)| st.insert_report(f, rep),
            &FabricSettings::default(),
        );
        assert_eq!(v.accepted, [0]);
        assert!(v.rejected.is_empty());
        assert!(
            v.other_errors.iter().any(|d| d.file == "managed/c.yaml"),
            "{:?}",
            v.other_errors
        );
    }

    #[test]
    fn inputs_the_caller_leaves_out_are_neither_laid_over_nor_judged() {
        let inputs = vec![
            ("raw/ns.yaml", parse("raw/ns.yaml", IPV4)),
            (
                "raw/v.yaml",
                parse("raw/v.yaml", &vpc("vpc-1", "10.10.1.0/24", 1001)),
            ),
        ];
        let v = accept_until_valid(
            &FabricState::new(),
            &inputs,
            |i, _| i == 1,
            |(f, _)| f,
            |st, (f, rep)| st.insert_report(f, rep),
            &FabricSettings::default(),
        );
        // Without the namespace, the VPC's reference fails: rejected.
        assert!(v.accepted.is_empty());
        assert_eq!(v.rejected.len(), 1);
        assert_eq!(v.rejected[0].0, 1);
        assert!(v.state.is_empty());
    }
}
