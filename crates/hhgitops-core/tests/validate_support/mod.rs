//! Shared helpers of the validation integration tests: the shared data (read from `../shared`, relative to the
//! workspace; tests skip with a note when it is absent) and a one-file validation.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

use hhgitops_core::settings::FabricSettings;
use hhgitops_core::state::FabricState;
use hhgitops_core::validate::{parse_source, validate_state, SourceReport, StateReport};
use hhgitops_core::yaml::Limits;

/// `../shared` as seen from the workspace (`CARGO_MANIFEST_DIR/../../../shared`).
pub fn shared_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    if dir.is_dir() {
        Some(dir)
    } else if std::env::var("CI").is_ok_and(|c| c == "true") {
        panic!(
            "{} is absent: CI must run the tests that need ../shared",
            dir.display()
        );
    } else {
        eprintln!("note: {} is absent, skipping", dir.display());
        None
    }
}

/// The sample files, sorted by name.
pub fn samples() -> Option<Vec<(String, Vec<u8>)>> {
    let dir = shared_dir()?.join("samples");
    let mut out = Vec::new();
    let entries = std::fs::read_dir(&dir).ok()?;
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            let name = p.file_name()?.to_string_lossy().to_string();
            out.push((name, std::fs::read(&p).ok()?));
        }
    }
    out.sort();
    Some(out)
}

/// Parses one file and runs the cross-object rules over its objects alone.
pub fn validate_file(
    name: &str,
    bytes: &[u8],
    settings: &FabricSettings,
) -> (SourceReport, StateReport) {
    let report = parse_source(name, bytes, &Limits::default(), settings);
    let mut state = FabricState::new();
    state.insert_report(name, &report);
    let state_report = validate_state(&state, settings);
    (report, state_report)
}

/// Runs the synthetic wiring generator; `None` (with a note) when python3 or the tool is missing.
pub fn generate(args: &[&str]) -> Option<Vec<u8>> {
    let tool = shared_dir()?.join("tools/gen_vlab_wiring.py");
    if !tool.is_file() {
        eprintln!("note: {} is absent, skipping", tool.display());
        return None;
    }
    match Command::new("python3").arg(&tool).args(args).output() {
        Ok(out) if out.status.success() => Some(out.stdout),
        Ok(out) => panic!(
            "generator failed with {:?}: {}",
            args,
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => {
            eprintln!("note: cannot run python3 ({e}), skipping");
            None
        }
    }
}
