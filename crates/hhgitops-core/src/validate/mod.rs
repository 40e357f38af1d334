//! Validation: what the engine and the CLI call.
//!
//! - [`parse_source`]: one file's bytes → its typed objects (each with its normalized form) and every error of
//!   its documents (syntax, envelope, schema, object rules, duplicates within the file).
//! - [`validate_state`]: the cross-object rules over a whole [`FabricState`] (references, collisions), with the
//!   count of checks that were skipped for lack of data.
//!
//! Both are pure and re-entrant: no globals, every type is `Send + Sync`, so files can be checked on many threads.
//!
//! Decisions where the catalogue is silent or the sources disagree:
//! - **Partial fabrics.** Every reference must resolve inside the state, with two exceptions that mirror the fabric
//!   itself: a switch may name a *built-in* SwitchProfile that the state does not contain (the fabric ships them;
//!   only their names are embedded here, so the checks that need their ports or features are skipped and counted
//!   as unchecked), and the gateway end of a gateway connection is not looked up. The derived agent-fixture samples
//!   are partial fabrics, but everything they reference is in them, so they validate under this rule.
//! - **Unchecked.** [`StateReport::unchecked`] counts checks skipped for lack of data (never guessed), with the
//!   reasons in [`StateReport::unchecked_reasons`]: ports and features of switches whose profile is built in but
//!   absent, and whether a built-in SwitchProfile in the state matches the fabric's immutable copy.
//! - **Defaulting.** The webhook defaults before it validates, so rules read effective values (VPC gateway =
//!   network+1, DHCP range = network+2 … broadcast, namespaces = `default`, switch VLAN namespaces = `[default]`)
//!   and DHCP range/options without `enable` are accepted (the webhook drops them); normalization keeps what the
//!   author wrote.
//! - **Hydration.** Unhydrated wiring (no ASN/IPs/VTEP, unnumbered links: what `hhfab` writes before hydrating)
//!   is accepted; a switch with any hydration field must have all of them, and values are checked when set
//!   ([`FabricSettings::require_hydration`] makes them mandatory).
//! - **CRD-required fields** (`interfaceMTU`/`leaseTimeSeconds` of DHCP options, `switch`/`neighbor` of an
//!   ExternalAttachment, ACL statement fields, `static.remoteIP`) are required, as the CRD schema says.
//! - **Numbered links** must have an IP on both ends or on neither.
//! - **Collisions** (ports, IPs, ASNs, VLANs, subnets, attachments) are reported on the object inserted into the
//!   state later, at its colliding field.
//! - **Invalid objects stay in the report.** An object that decoded but broke object rules is still returned
//!   ([`ParsedObject::valid`] is false), so that checking a state does not add "does not exist" errors for it.

mod check;
mod cross;
mod document;
mod object;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::diag::{Diagnostic, Span};
use crate::kinds::Kind;
use crate::model::Object;
use crate::settings::FabricSettings;
use crate::state::FabricState;
use crate::yaml::{self, Limits, Node};

pub use check::{rfc1123_subdomain_problem, Finding, Findings};
pub use document::MAX_OBJECT_NAME;

/// One object of a source file that decoded into its typed form.
#[derive(Debug, Clone)]
pub struct ParsedObject {
    pub kind: Kind,
    pub name: String,
    /// 1-based document index within the file.
    pub document: usize,
    /// Where the document starts.
    pub span: Span,
    pub object: Arc<Object>,
    /// The normalized managed-file content (see [`crate::normalize`]).
    pub normalized: String,
    /// The parsed document, for locating cross-object errors (see [`crate::state::Origin`]).
    pub root: Arc<Node>,
    /// False when the object decoded but broke object rules (its errors are in [`SourceReport::errors`]).
    pub valid: bool,
}

/// Everything [`parse_source`] found in one file.
#[derive(Debug, Clone, Default)]
pub struct SourceReport {
    /// Objects that decoded, in document order (the second of two objects with the same kind and name is left
    /// out and reported as a duplicate).
    pub objects: Vec<ParsedObject>,
    /// Documents in the stream, empty ones included (0 after a syntax error).
    pub documents: usize,
    /// Documents that hold nothing but comments (skipped).
    pub empty_documents: usize,
    /// Every error, in document order. A file with any error is rejected as a whole.
    pub errors: Vec<Diagnostic>,
}

impl SourceReport {
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }
}

/// What [`validate_state`] found.
#[derive(Debug, Clone, Default)]
pub struct StateReport {
    pub errors: Vec<Diagnostic>,
    /// Cross-object checks performed.
    pub checked: usize,
    /// Checks skipped because the state lacks the data they need (never guessed).
    pub unchecked: usize,
    /// Why checks were skipped, with how many were skipped for each reason.
    pub unchecked_reasons: BTreeMap<String, usize>,
}

impl StateReport {
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Parses and checks one source file: syntax, envelope, strict schema, object rules and duplicates within the
/// file. `file` is only used to label the diagnostics.
pub fn parse_source(
    file: &str,
    bytes: &[u8],
    limits: &Limits,
    settings: &FabricSettings,
) -> SourceReport {
    let mut report = SourceReport::default();
    let docs = match yaml::parse_stream(bytes, limits) {
        Ok(d) => d,
        Err(e) => {
            let mut d = Diagnostic::new(e.message)
                .in_file(file)
                .at(Span::new(e.line, e.column));
            d.document = e.document;
            report.errors.push(d);
            return report;
        }
    };
    report.documents = docs.len();
    let mut seen: HashMap<(Kind, String), usize> = HashMap::new();
    for doc in docs {
        let index = doc.index;
        let span = doc.span;
        let Some(root) = doc.root else {
            report.empty_documents += 1;
            continue;
        };
        let checked = document::check_document(index, Arc::new(root), settings);
        let valid = checked.errors.is_empty();
        report
            .errors
            .extend(checked.errors.into_iter().map(|d| d.in_file(file)));
        let (Some(kind), Some(name)) = (checked.kind, checked.name) else {
            continue;
        };
        if let Some(first) = seen.get(&(kind, name.clone())) {
            let span = checked
                .object
                .as_ref()
                .map(|(_, root, _)| check::locate(root, &crate::field_path!("metadata", "name")))
                .unwrap_or(span);
            report.errors.push(
                Diagnostic::new(format!("duplicate object: {kind} {name} is already defined in document {first} of this file"))
                    .in_file(file)
                    .in_document(index)
                    .at(span)
                    .with_path(&crate::field_path!("metadata", "name"))
                    .for_object(kind.name(), name.clone()),
            );
            continue;
        }
        seen.insert((kind, name.clone()), index);
        if let Some((object, root, normalized)) = checked.object {
            report.objects.push(ParsedObject {
                kind,
                name,
                document: index,
                span,
                object: Arc::new(object),
                normalized,
                root,
                valid,
            });
        }
    }
    report
}

/// Runs the cross-object rules over a whole fabric state.
pub fn validate_state(state: &FabricState, settings: &FabricSettings) -> StateReport {
    cross::validate(state, settings)
}

/// Runs the object rules of one typed object (no file, no positions): for tools and tests that build objects in
/// code.
pub fn check_object(object: &Object, settings: &FabricSettings) -> Vec<Finding> {
    let mut f = Findings::new();
    object::check_object(object, settings, &mut f);
    f.items
}

#[cfg(test)]
mod tests;
