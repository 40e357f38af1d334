//! Who an operation runs for: the server runs each job as its actor (a token's name, or `watcher`), and every
//! run record and archive-log entry written meanwhile names it. The command line sets none (its entries carry
//! no actor). The actor follows the task, and the engine's own blocking work and owned tasks carry it along.

use std::cell::RefCell;
use std::future::Future;

/// The actor of the runs a watcher starts.
pub const WATCHER: &str = "watcher";

/// Actors that are the server's own work, not a token's (no token may be named so).
pub const SERVER_ACTORS: [&str; 3] = [WATCHER, "webhook", "scheduler"];

/// The Git trailer of a commit made for `actor`: `Hhgitops-Actor: token:ops` for a token's work,
/// `Hhgitops-Actor: watcher` (or `scheduler`, `webhook:github`: a name no token can have) for the server's own.
pub fn commit_trailer(actor: &str) -> String {
    if SERVER_ACTORS.contains(&actor) || actor.contains(':') {
        format!("Hhgitops-Actor: {actor}")
    } else {
        format!("Hhgitops-Actor: token:{actor}")
    }
}

/// `message` with the trailer of the current actor, if any (the command line's commits carry none).
pub fn with_commit_trailer(message: &str) -> String {
    match current() {
        Some(actor) => format!("{}\n\n{}\n", message.trim_end(), commit_trailer(&actor)),
        None => message.to_string(),
    }
}

tokio::task_local! {
    static ACTOR: Option<String>;
}

thread_local! {
    /// The actor of the blocking work running on this thread (set by [`carry`]).
    static THREAD_ACTOR: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `fut` as `actor`.
pub async fn scope<F: Future>(actor: Option<String>, fut: F) -> F::Output {
    ACTOR.scope(actor, fut).await
}

/// The actor of the current task or blocking work, if any.
pub fn current() -> Option<String> {
    ACTOR
        .try_with(|a| a.clone())
        .ok()
        .flatten()
        .or_else(|| THREAD_ACTOR.with(|a| a.borrow().clone()))
}

/// Wraps blocking work so it runs as the caller's actor on whichever thread takes it.
pub(crate) fn carry<T>(work: impl FnOnce() -> T) -> impl FnOnce() -> T {
    let actor = current();
    move || {
        let before = THREAD_ACTOR.with(|a| a.replace(actor));
        let out = work();
        THREAD_ACTOR.with(|a| *a.borrow_mut() = before);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn commits_made_for_an_actor_name_it_in_a_trailer() {
        assert_eq!(
            with_commit_trailer("ingest f"),
            "ingest f",
            "no actor: no trailer"
        );
        let token = scope(Some("ops".into()), async {
            with_commit_trailer("ingest f\n")
        })
        .await;
        assert_eq!(token, "ingest f\n\nHhgitops-Actor: token:ops\n");
        let watcher = scope(Some(WATCHER.into()), async {
            with_commit_trailer("ingest f")
        })
        .await;
        assert_eq!(watcher, "ingest f\n\nHhgitops-Actor: watcher\n");
        assert_eq!(
            commit_trailer("webhook:gitea"),
            "Hhgitops-Actor: webhook:gitea"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_actor_follows_the_task_and_its_blocking_work() {
        assert_eq!(current(), None);
        let seen = scope(Some("alice".into()), async {
            let inner = current();
            let blocking = tokio::task::spawn_blocking(carry(current)).await.unwrap();
            let plain = tokio::task::spawn_blocking(current).await.unwrap();
            (inner, blocking, plain)
        })
        .await;
        assert_eq!(
            seen,
            (Some("alice".into()), Some("alice".into()), None),
            "carried into blocking work, not into work that was not wrapped"
        );
        assert_eq!(current(), None, "the scope ended");
    }
}
