//! The test hooks a test build reads from its environment (`HHGITOPS_FAILPOINT`, `HHGITOPS_TEST_AFTER_READ`);
//! without the `test-hooks` feature each is a no-op, so release binaries carry neither.

use hhgitops_engine::txn::Failpoint;

/// Test-only crash injection (see `hhgitops_engine::txn::Failpoint`); only with the `test-hooks` feature.
#[cfg(feature = "test-hooks")]
pub fn failpoint() -> Failpoint {
    Failpoint::abort_at(
        std::env::var("HHGITOPS_FAILPOINT")
            .ok()
            .filter(|s| !s.is_empty()),
    )
}

#[cfg(not(feature = "test-hooks"))]
pub fn failpoint() -> Failpoint {
    Failpoint::default()
}

/// Test-only: `HHGITOPS_TEST_AFTER_READ` is a shell command run (with the file as `$1`) right after each raw
/// file was read, to change or remove it at that moment. Only with the `test-hooks` feature.
#[cfg(not(feature = "test-hooks"))]
pub(crate) fn after_read_hook() -> Option<hhgitops_engine::ingest::AfterRead> {
    None
}

#[cfg(feature = "test-hooks")]
pub(crate) fn after_read_hook() -> Option<hhgitops_engine::ingest::AfterRead> {
    let cmd = std::env::var("HHGITOPS_TEST_AFTER_READ")
        .ok()
        .filter(|c| !c.is_empty())?;
    Some(hhgitops_engine::ingest::AfterRead(std::sync::Arc::new(
        move |path: &std::path::Path| {
            let _ = std::process::Command::new("sh")
                .arg("-c")
                .arg(&cmd)
                .arg("sh")
                .arg(path)
                .status();
        },
    )))
}
