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
//!   itself: a switch may name a *built-in* SwitchProfile the fabric registers ([`crate::profiles`]; its embedded
//!   spec is used, and replaces a copy in the state), and the gateway end of a gateway connection is not looked up.
//! - **Unchecked.** [`StateReport::unchecked`] counts checks skipped for lack of data (never guessed), with the
//!   reasons in [`StateReport::unchecked_reasons`]: only the port and feature checks of a switch whose profile is
//!   neither built in nor in the state (which is also an error).
//! - **Defaulting.** The webhook defaults before it validates, so every rule judges
//!   [`crate::defaults::default_object`] of the object (and the cross rules the defaulted set); normalization keeps
//!   what the author wrote. Errors point at the author's field where it exists.
//! - **Hydration.** The fabric rejects a switch without ASN, management IP, protocol IP or (a leaf in spine-leaf
//!   mode) VTEP IP, and a gateway without protocol/VTEP IP, VTEP MAC, ASN, interface IPs or neighbours: one error per
//!   object names what is missing and how to hydrate. Links may stay unnumbered, as the fabric accepts them.
//! - **CRD-required fields** are judged after defaulting (CATALOGUE §6b.1): `switch`/`neighbor` of an
//!   ExternalAttachment are `{}` then, DHCP option MTU and lease time defaults are filled in.
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

pub use check::{is_go_duration, rfc1123_subdomain_problem, Finding, Findings};
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
    /// The parsed document, for locating cross-object errors (see [`crate::state::Origin`]).
    pub root: Arc<Node>,
    /// False when the object decoded but broke object rules (its errors are in [`SourceReport::errors`]).
    pub valid: bool,
}

impl ParsedObject {
    /// The normalized managed-file content (see [`crate::normalize`]). Computed on each call: parsing never
    /// normalizes, so only what is written is (a managed file that is only read is hashed, never normalized).
    pub fn normalized(&self) -> String {
        crate::normalize::normalize(&self.object)
    }
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
    match parse_documents(file, bytes, limits) {
        Ok(docs) => check_documents(file, docs, settings),
        Err(report) => report,
    }
}

/// Like [`parse_source`], but hydrates the file first (SPEC §10) against `existing` (the fabric's other objects):
/// the objects, their normalized form and every check see the hydrated values. Hydration errors are reported as
/// errors of the file, at the object and field they concern, and nothing is hydrated then. The report of what was
/// set is returned when hydration succeeded.
pub fn parse_source_hydrated<'a>(
    file: &str,
    bytes: &[u8],
    limits: &Limits,
    settings: &FabricSettings,
    existing: impl IntoIterator<Item = &'a Object>,
    hydration: &crate::hydrate::HydrateConfig,
) -> (SourceReport, Option<crate::hydrate::HydrateReport>) {
    let mut docs = match parse_documents(file, bytes, limits) {
        Ok(docs) => docs,
        Err(report) => return (report, None),
    };
    match crate::hydrate::hydrate_documents(&mut docs, existing, hydration) {
        Ok(h) => (check_documents(file, docs, settings), Some(h)),
        Err(errors) => {
            let mut located = Vec::new();
            for (doc, e) in errors {
                let mut d = Diagnostic::new(format!("hydration: {}", e.message)).in_file(file);
                if let Some(i) = doc {
                    let root = docs
                        .iter()
                        .find(|x| x.index == i)
                        .and_then(|x| x.root.as_ref());
                    let path = crate::path::FieldPath::parse(&e.path).unwrap_or_default();
                    d = d.in_document(i);
                    if let Some(root) = root {
                        d = d.at(root.locate(&path));
                    }
                    d = d.with_path(&path);
                }
                if let Some(k) = e.kind {
                    d = d.for_object(k.name(), e.name.clone());
                }
                located.push(d);
            }
            let mut report = check_documents(file, docs, settings);
            report.errors.extend(located);
            (report, None)
        }
    }
}

fn parse_documents(
    file: &str,
    bytes: &[u8],
    limits: &Limits,
) -> Result<Vec<yaml::Document>, SourceReport> {
    yaml::parse_stream(bytes, limits).map_err(|e| {
        let mut report = SourceReport::default();
        let mut d = Diagnostic::new(e.message)
            .in_file(file)
            .at(Span::new(e.line, e.column));
        d.document = e.document;
        report.errors.push(d);
        report
    })
}

fn check_documents(
    file: &str,
    docs: Vec<yaml::Document>,
    settings: &FabricSettings,
) -> SourceReport {
    let mut report = SourceReport {
        documents: docs.len(),
        ..Default::default()
    };
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
                .map(|(_, root)| check::locate(root, &crate::field_path!("metadata", "name")))
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
        if let Some((object, root)) = checked.object {
            report.objects.push(ParsedObject {
                kind,
                name,
                document: index,
                span,
                object: Arc::new(object),
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
/// code. The object is defaulted first, as the fabric does.
pub fn check_object(object: &Object, settings: &FabricSettings) -> Vec<Finding> {
    let mut f = Findings::new();
    object::check_object(&crate::defaults::default_object(object), settings, &mut f);
    f.items
}

#[cfg(test)]
mod tests;
