//! The apply and prune stages of a sync: a plan per object from the drift computation, then its execution —
//! server-side apply in dependency order (all of one rank before the next, bounded concurrency within a
//! rank), deletes in reverse order — where a rejected object holds back only what depends on it, and a failure
//! of the API server itself stops the run.
//!
//! Execution is cancellation-safe: it spawns nothing, so dropping its future drops the requests in flight; what
//! was answered before stays applied, and the next sync carries on from the cluster's state.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use futures::StreamExt;
use hhgitops_core::diff::{diff_object, Change, DriftEntry, DriftStatus, FieldDiff};
use hhgitops_core::kinds::Kind;
use hhgitops_core::path::{FieldPath, PathSegment};
use serde::Serialize;
use serde_json::Value;

use crate::cluster::{Cluster, LiveObjects};
use crate::error::RequestError;
use crate::refs::live_references;

/// What a sync does with one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Not in the cluster: apply creates it.
    Create,
    /// Differs, or lacks this fabric's label or record: apply updates it.
    Update,
    /// In sync: no request.
    Unchanged,
    /// Ours, no longer in Git: deleted with `--prune`, reported otherwise.
    Prune,
    /// In Git, but the cluster's object carries another fabric's label: left alone (`--adopt` takes it over).
    Conflict,
}

/// How one object fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Created or updated.
    Applied,
    /// Pruned.
    Deleted,
    /// Already in sync: nothing sent.
    Unchanged,
    /// Dry run: the change the API server accepted (or could not check yet, see the message).
    Planned,
    /// Would be pruned; kept because `--prune` was not given.
    Kept,
    /// The API server refused it (validation, admission webhook): see the message.
    Rejected,
    /// The request failed (unreachable, timeout, 5xx): the run stopped.
    Failed,
    /// Not attempted because something it depends on (or that depends on it, for a delete) did not go through.
    Skipped,
    /// Not attempted because the run stopped after a failure.
    NotAttempted,
    /// Not applied: another fabric's label claims the object (see the message).
    Conflict,
}

/// One object of the plan.
#[derive(Debug, Clone)]
pub struct PlannedObject {
    pub kind: Kind,
    pub name: String,
    pub action: Action,
    /// What is applied (create/update).
    pub body: Option<Value>,
    /// What differs (update).
    pub fields: Vec<FieldDiff>,
    /// What it depends on: applied before it, deleted after it.
    pub refs: Vec<(Kind, String)>,
    /// The listed object's uid (prune): a delete only removes that very object.
    pub uid: Option<String>,
    /// Why an update of an in-sync object is due (adoption).
    pub note: Option<String>,
}

/// The outcome for one object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectOutcome {
    #[serde(serialize_with = "serialize_kind")]
    pub kind: Kind,
    pub name: String,
    pub action: Action,
    pub status: Status,
    /// The server's message (rejected, failed), why it was skipped, or a note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The HTTP status of a rejection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    /// What differed before the update.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldDiff>,
    /// Fields that still differ after the apply (the server changed what was sent, e.g. a webhook).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub still_differs: Vec<String>,
}

fn serialize_kind<S: serde::Serializer>(kind: &Kind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.name())
}

/// The desired objects in their applied form ([`hhgitops_core::diff::applied_object`]).
pub type DesiredObjects = BTreeMap<(Kind, String), Value>;
/// What each desired object refers to ([`crate::refs::references`]).
pub type References = BTreeMap<(Kind, String), Vec<(Kind, String)>>;

/// Builds the plan from the drift entries. Unmanaged and built-in objects are not part of it; objects in
/// `held` (their file in Git is broken) are neither applied nor pruned. An object another fabric's label
/// claims is a conflict, left alone, unless `adopt` says to take it over.
pub fn plan(
    entries: &[DriftEntry],
    desired: &DesiredObjects,
    refs: &References,
    live: &LiveObjects,
    held: &BTreeSet<(Kind, String)>,
    adopt: bool,
) -> Vec<PlannedObject> {
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let key = (e.kind, e.name.clone());
        if held.contains(&key) {
            continue;
        }
        let action = match e.status {
            DriftStatus::Missing => Action::Create,
            DriftStatus::Drifted => Action::Update,
            DriftStatus::InSync if e.adopt => Action::Update,
            DriftStatus::InSync => Action::Unchanged,
            DriftStatus::Extra => Action::Prune,
            DriftStatus::Conflict if adopt => Action::Update,
            DriftStatus::Conflict => Action::Conflict,
            DriftStatus::Unmanaged | DriftStatus::Builtin => continue,
        };
        let other = e.fabric.as_deref().unwrap_or("another fabric");
        let l = live.get(&key);
        out.push(PlannedObject {
            kind: e.kind,
            name: e.name.clone(),
            action,
            body: match action {
                Action::Create | Action::Update => desired.get(&key).cloned(),
                _ => None,
            },
            fields: e.fields.clone(),
            refs: match action {
                Action::Prune => l.map(|l| live_references(e.kind, l)).unwrap_or_default(),
                _ => refs.get(&key).cloned().unwrap_or_default(),
            },
            uid: l
                .and_then(|l| l.pointer("/metadata/uid"))
                .and_then(Value::as_str)
                .map(str::to_string),
            note: match e.status {
                DriftStatus::InSync if e.adopt => Some(
                    "in sync; adds this fabric's label and the record of the applied content"
                        .to_string(),
                ),
                DriftStatus::Conflict if adopt => Some(format!(
                    "taken over from fabric {other} (--adopt): now labelled as this fabric's"
                )),
                DriftStatus::Conflict => Some(format!(
                    "the cluster's object carries the label of fabric {other}: not applied, two fabrics \
                     claim it; remove it from one of them, or take it over with `sync --adopt`"
                )),
                _ => None,
            },
        });
    }
    out
}

/// How to execute a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecuteOptions {
    /// Send every write with `dryRun=All`: the server checks it, nothing changes.
    pub dry_run: bool,
    /// Delete what the plan prunes (otherwise it is only reported).
    pub prune: bool,
}

/// What executing a plan did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Execution {
    /// Every object of the plan, in the plan's order.
    pub outcomes: Vec<ObjectOutcome>,
    /// Set when the run stopped on a failure of the API server (exit 3).
    pub aborted: Option<String>,
}

/// Receives each outcome as it is decided (progress for front ends).
pub type Progress<'a> = &'a (dyn Fn(&ObjectOutcome) + Send + Sync);

struct Run<'a> {
    cluster: &'a Cluster,
    opts: ExecuteOptions,
    aborted: AtomicBool,
    abort_message: Mutex<Option<String>>,
    progress: Option<Progress<'a>>,
}

impl Run<'_> {
    fn abort(&self, message: &str) {
        self.aborted.store(true, Ordering::SeqCst);
        let mut m = self.abort_message.lock().unwrap_or_else(|e| e.into_inner());
        if m.is_none() {
            *m = Some(message.to_string());
        }
    }

    fn report(&self, o: &ObjectOutcome) {
        if let Some(p) = self.progress {
            p(o);
        }
    }
}

fn outcome(p: &PlannedObject, status: Status, message: Option<String>) -> ObjectOutcome {
    ObjectOutcome {
        kind: p.kind,
        name: p.name.clone(),
        action: p.action,
        status,
        message,
        code: None,
        fields: p.fields.clone(),
        still_differs: Vec::new(),
    }
}

fn label(k: &(Kind, String)) -> String {
    format!("{}/{}", k.0, k.1)
}

/// Executes a plan against the cluster.
pub async fn execute(
    cluster: &Cluster,
    plan: &[PlannedObject],
    opts: ExecuteOptions,
    progress: Option<Progress<'_>>,
) -> Execution {
    let run = Run {
        cluster,
        opts,
        aborted: AtomicBool::new(false),
        abort_message: Mutex::new(None),
        progress,
    };
    let concurrency = cluster.settings().concurrency.max(1);
    let mut results: HashMap<usize, ObjectOutcome> = HashMap::with_capacity(plan.len());
    // Objects whose apply or delete did not go through, and why (rejected, failed, skipped …).
    let mut blocked: HashMap<(Kind, String), Status> = HashMap::new();
    // Objects a dry run would create: they do not exist yet, so dependents cannot be checked by the server.
    let created_by_dry_run: HashSet<(Kind, String)> = if opts.dry_run {
        plan.iter()
            .filter(|p| p.action == Action::Create)
            .map(|p| (p.kind, p.name.clone()))
            .collect()
    } else {
        HashSet::new()
    };

    for (i, p) in plan.iter().enumerate() {
        if p.action == Action::Unchanged {
            let o = outcome(p, Status::Unchanged, None);
            run.report(&o);
            results.insert(i, o);
        }
        if p.action == Action::Conflict {
            // No request: the object exists (under another fabric's label), so what refers to it goes on.
            let o = outcome(p, Status::Conflict, p.note.clone());
            run.report(&o);
            results.insert(i, o);
        }
    }

    // Apply, rank by rank.
    let mut ranks: BTreeMap<u8, Vec<usize>> = BTreeMap::new();
    for (i, p) in plan.iter().enumerate() {
        if matches!(p.action, Action::Create | Action::Update) {
            ranks.entry(p.kind.apply_rank()).or_default().push(i);
        }
    }
    for indices in ranks.values() {
        let blocked_now = blocked.clone();
        let done: Vec<(usize, ObjectOutcome)> = futures::stream::iter(indices.iter().copied())
            .map(|i| {
                let p = &plan[i];
                let run = &run;
                let blocked_now = &blocked_now;
                let created = &created_by_dry_run;
                async move { (i, apply_one(run, p, blocked_now, created).await) }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        for (i, o) in done {
            if !matches!(o.status, Status::Applied | Status::Planned) {
                blocked.insert((o.kind, o.name.clone()), o.status);
            }
            results.insert(i, o);
        }
    }

    // Prune, in reverse rank order; an object stays while something that refers to it could not be deleted.
    let prune_set: HashSet<(Kind, String)> = plan
        .iter()
        .filter(|p| p.action == Action::Prune)
        .map(|p| (p.kind, p.name.clone()))
        .collect();
    let mut referrers: HashMap<(Kind, String), Vec<(Kind, String)>> = HashMap::new();
    for p in plan.iter().filter(|p| p.action == Action::Prune) {
        for r in &p.refs {
            if prune_set.contains(r) {
                referrers
                    .entry(r.clone())
                    .or_default()
                    .push((p.kind, p.name.clone()));
            }
        }
    }
    let mut prune_ranks: BTreeMap<std::cmp::Reverse<u8>, Vec<usize>> = BTreeMap::new();
    for (i, p) in plan.iter().enumerate() {
        if p.action == Action::Prune {
            prune_ranks
                .entry(std::cmp::Reverse(p.kind.apply_rank()))
                .or_default()
                .push(i);
        }
    }
    let mut undeleted: HashMap<(Kind, String), Status> = HashMap::new();
    for indices in prune_ranks.values() {
        let undeleted_now = undeleted.clone();
        let done: Vec<(usize, ObjectOutcome)> = futures::stream::iter(indices.iter().copied())
            .map(|i| {
                let p = &plan[i];
                let run = &run;
                let undeleted_now = &undeleted_now;
                let referrers = &referrers;
                async move { (i, prune_one(run, p, referrers, undeleted_now).await) }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        for (i, o) in done {
            if !matches!(o.status, Status::Deleted | Status::Planned) {
                undeleted.insert((o.kind, o.name.clone()), o.status);
            }
            results.insert(i, o);
        }
    }

    let outcomes = (0..plan.len())
        .map(|i| {
            results
                .remove(&i)
                .unwrap_or_else(|| outcome(&plan[i], Status::NotAttempted, None))
        })
        .collect();
    let aborted = run
        .abort_message
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    Execution { outcomes, aborted }
}

fn blocked_reason(status: Status) -> &'static str {
    match status {
        Status::Rejected => "was rejected",
        Status::Failed => "failed",
        Status::NotAttempted => "was not attempted",
        _ => "was skipped",
    }
}

async fn apply_one(
    run: &Run<'_>,
    p: &PlannedObject,
    blocked: &HashMap<(Kind, String), Status>,
    created_by_dry_run: &HashSet<(Kind, String)>,
) -> ObjectOutcome {
    let o = apply_inner(run, p, blocked, created_by_dry_run).await;
    run.report(&o);
    o
}

async fn apply_inner(
    run: &Run<'_>,
    p: &PlannedObject,
    blocked: &HashMap<(Kind, String), Status>,
    created_by_dry_run: &HashSet<(Kind, String)>,
) -> ObjectOutcome {
    if run.aborted.load(Ordering::SeqCst) {
        return outcome(p, Status::NotAttempted, None);
    }
    if let Some((dep, status)) = p.refs.iter().find_map(|r| blocked.get(r).map(|s| (r, *s))) {
        return outcome(
            p,
            Status::Skipped,
            Some(format!(
                "depends on {}, which {}",
                label(dep),
                blocked_reason(status)
            )),
        );
    }
    let Some(body) = &p.body else {
        return outcome(
            p,
            Status::Skipped,
            Some("nothing to apply (no desired content)".into()),
        );
    };
    if run.opts.dry_run {
        if let Some(dep) = p.refs.iter().find(|r| created_by_dry_run.contains(*r)) {
            return outcome(
                p,
                Status::Planned,
                Some(format!(
                    "not checked by the API server: depends on {}, which this sync creates",
                    label(dep)
                )),
            );
        }
    }
    // Fields someone else added are removed first: an apply cannot remove fields it does not own. Inside a
    // list the forced apply replaces the whole list anyway.
    let added: Vec<FieldPath> = p
        .fields
        .iter()
        .filter(|f| f.change == Change::Added)
        .filter_map(|f| FieldPath::parse(&f.path))
        .filter(|fp| fp.0.iter().all(|s| matches!(s, PathSegment::Key(_))))
        .collect();
    let removed = if added.is_empty() {
        Ok(())
    } else {
        run.cluster
            .remove_fields(p.kind, &p.name, &added, run.opts.dry_run)
            .await
    };
    let applied = match removed {
        Ok(()) => {
            run.cluster
                .apply(p.kind, &p.name, body, run.opts.dry_run)
                .await
        }
        Err(e) => Err(e),
    };
    match applied {
        Ok(answer) => {
            let after = diff_object(body, &answer);
            let status = if run.opts.dry_run {
                Status::Planned
            } else {
                Status::Applied
            };
            let mut o = outcome(p, status, p.note.clone());
            o.still_differs = after.fields.into_iter().map(|f| f.path).collect();
            o
        }
        Err(RequestError::Rejected { code, message }) => {
            let mut o = outcome(p, Status::Rejected, Some(message));
            o.code = Some(code);
            o
        }
        Err(RequestError::Failed { message }) => {
            run.abort(&format!("{} {}/{}: {message}", verb(p), p.kind, p.name));
            outcome(p, Status::Failed, Some(message))
        }
    }
}

fn verb(p: &PlannedObject) -> &'static str {
    match p.action {
        Action::Create => "creating",
        Action::Update => "updating",
        Action::Prune => "deleting",
        Action::Unchanged | Action::Conflict => "checking",
    }
}

async fn prune_one(
    run: &Run<'_>,
    p: &PlannedObject,
    referrers: &HashMap<(Kind, String), Vec<(Kind, String)>>,
    undeleted: &HashMap<(Kind, String), Status>,
) -> ObjectOutcome {
    let o = prune_inner(run, p, referrers, undeleted).await;
    run.report(&o);
    o
}

async fn prune_inner(
    run: &Run<'_>,
    p: &PlannedObject,
    referrers: &HashMap<(Kind, String), Vec<(Kind, String)>>,
    undeleted: &HashMap<(Kind, String), Status>,
) -> ObjectOutcome {
    if !run.opts.prune {
        return outcome(
            p,
            Status::Kept,
            Some(
                "carries this fabric's label but is no longer in Git: sync --prune deletes it"
                    .into(),
            ),
        );
    }
    if run.aborted.load(Ordering::SeqCst) {
        return outcome(p, Status::NotAttempted, None);
    }
    let key = (p.kind, p.name.clone());
    if let Some(r) = referrers
        .get(&key)
        .and_then(|rs| rs.iter().find(|r| undeleted.contains_key(*r)))
    {
        return outcome(
            p,
            Status::Skipped,
            Some(format!(
                "still referred to by {}, which was not deleted",
                label(r)
            )),
        );
    }
    match run
        .cluster
        .delete(p.kind, &p.name, p.uid.as_deref(), run.opts.dry_run)
        .await
    {
        Ok(()) => outcome(
            p,
            if run.opts.dry_run {
                Status::Planned
            } else {
                Status::Deleted
            },
            None,
        ),
        Err(RequestError::Rejected { code, message }) => {
            let mut o = outcome(p, Status::Rejected, Some(message));
            o.code = Some(code);
            o
        }
        Err(RequestError::Failed { message }) => {
            run.abort(&format!("{} {}/{}: {message}", verb(p), p.kind, p.name));
            outcome(p, Status::Failed, Some(message))
        }
    }
}

/// Counts of an execution.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionSummary {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub deleted: usize,
    /// Pruning candidates kept because `--prune` was not given.
    pub kept: usize,
    /// Dry run: changes the server accepted (or that could not be checked yet).
    pub planned: usize,
    pub rejected: usize,
    pub failed: usize,
    pub skipped: usize,
    pub not_attempted: usize,
    /// Claimed by another fabric's label, not applied.
    pub conflict: usize,
}

impl ExecutionSummary {
    pub fn of(outcomes: &[ObjectOutcome]) -> ExecutionSummary {
        let mut s = ExecutionSummary::default();
        for o in outcomes {
            match (o.status, o.action) {
                (Status::Applied, Action::Create) => s.created += 1,
                (Status::Applied, _) => s.updated += 1,
                (Status::Unchanged, _) => s.unchanged += 1,
                (Status::Deleted, _) => s.deleted += 1,
                (Status::Kept, _) => s.kept += 1,
                (Status::Planned, _) => s.planned += 1,
                (Status::Rejected, _) => s.rejected += 1,
                (Status::Failed, _) => s.failed += 1,
                (Status::Skipped, _) => s.skipped += 1,
                (Status::NotAttempted, _) => s.not_attempted += 1,
                (Status::Conflict, _) => s.conflict += 1,
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(kind: Kind, name: &str, status: DriftStatus, adopt: bool) -> DriftEntry {
        DriftEntry {
            kind,
            name: name.to_string(),
            status,
            fields: Vec::new(),
            adopt,
            fabric: None,
        }
    }

    #[test]
    fn the_plan_follows_the_drift_entries() {
        let entries = vec![
            entry(Kind::VPC, "new", DriftStatus::Missing, false),
            entry(Kind::VPC, "changed", DriftStatus::Drifted, false),
            entry(Kind::VPC, "imported", DriftStatus::InSync, true),
            entry(Kind::VPC, "same", DriftStatus::InSync, false),
            entry(Kind::External, "gone", DriftStatus::Extra, false),
            entry(Kind::VPC, "broken", DriftStatus::Extra, false),
            entry(Kind::VPC, "theirs", DriftStatus::Unmanaged, false),
            entry(Kind::SwitchProfile, "vs", DriftStatus::Builtin, false),
        ];
        let mut desired = DesiredObjects::new();
        for n in ["new", "changed", "imported", "same"] {
            desired.insert((Kind::VPC, n.to_string()), json!({"name": n}));
        }
        let mut refs = References::new();
        refs.insert(
            (Kind::VPC, "new".to_string()),
            vec![(Kind::IPv4Namespace, "default".to_string())],
        );
        let mut live = LiveObjects::new();
        live.insert(
            (Kind::External, "gone".to_string()),
            json!({"metadata": {"uid": "u-1"}, "spec": {"ipv4Namespace": "ns"}}),
        );
        let held: BTreeSet<(Kind, String)> = [(Kind::VPC, "broken".to_string())].into();
        let p = plan(&entries, &desired, &refs, &live, &held, false);
        let got: Vec<(&str, Action)> = p.iter().map(|p| (p.name.as_str(), p.action)).collect();
        assert_eq!(
            got,
            vec![
                ("new", Action::Create),
                ("changed", Action::Update),
                ("imported", Action::Update),
                ("same", Action::Unchanged),
                ("gone", Action::Prune),
            ]
        );
        assert_eq!(p[0].body, Some(json!({"name": "new"})));
        assert_eq!(
            p[0].refs,
            vec![(Kind::IPv4Namespace, "default".to_string())]
        );
        assert!(p[2].note.is_some() && p[3].body.is_none());
        assert_eq!(p[4].uid.as_deref(), Some("u-1"));
        assert_eq!(p[4].refs, vec![(Kind::IPv4Namespace, "ns".to_string())]);
    }

    #[test]
    fn an_object_claimed_by_another_fabric_is_left_alone_unless_adopted() {
        let mut theirs = entry(Kind::VPC, "shared", DriftStatus::Conflict, false);
        theirs.fabric = Some("other".into());
        let entries = vec![theirs];
        let mut desired = DesiredObjects::new();
        desired.insert((Kind::VPC, "shared".to_string()), json!({"name": "shared"}));
        let none = BTreeSet::new();
        let p = plan(
            &entries,
            &desired,
            &References::new(),
            &LiveObjects::new(),
            &none,
            false,
        );
        assert_eq!(p[0].action, Action::Conflict);
        assert!(p[0].body.is_none(), "nothing to send");
        assert!(p[0].note.as_deref().unwrap().contains("fabric other"));
        let p = plan(
            &entries,
            &desired,
            &References::new(),
            &LiveObjects::new(),
            &none,
            true,
        );
        assert_eq!(p[0].action, Action::Update);
        assert_eq!(p[0].body, Some(json!({"name": "shared"})));
    }

    #[test]
    fn summary_counts_outcomes() {
        let o = |action, status| ObjectOutcome {
            kind: Kind::VPC,
            name: "x".into(),
            action,
            status,
            message: None,
            code: None,
            fields: Vec::new(),
            still_differs: Vec::new(),
        };
        let s = ExecutionSummary::of(&[
            o(Action::Create, Status::Applied),
            o(Action::Update, Status::Applied),
            o(Action::Unchanged, Status::Unchanged),
            o(Action::Prune, Status::Kept),
            o(Action::Create, Status::Rejected),
            o(Action::Create, Status::Skipped),
        ]);
        assert_eq!(
            (
                s.created,
                s.updated,
                s.unchanged,
                s.kept,
                s.rejected,
                s.skipped
            ),
            (1, 1, 1, 1, 1, 1)
        );
        let text = serde_json::to_value(o(Action::Prune, Status::NotAttempted)).unwrap();
        assert_eq!(
            text,
            json!({"kind": "VPC", "name": "x", "action": "prune", "status": "not-attempted"})
        );
    }
}
