//! `ingest --watch`.

use hhgitops_engine::{Engine, Error};

use crate::cli::IngestArgs;

pub async fn watch(_engine: &Engine, _a: IngestArgs) -> Result<u8, Error> {
    eprintln!("hhgitops: error: `ingest --watch` is not implemented yet");
    Ok(crate::output::EXIT_USAGE)
}
