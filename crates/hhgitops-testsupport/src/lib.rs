//! What the integration tests share: a temporary home and database ([`TestEnv`]) running the real binary,
//! both database back ends, real `git` with local bare remotes, the shared samples and small fixtures, JSON
//! output held to the camelCase convention, and the invariants of a fabric's tree between runs.
//!
//! A dev-dependency only; never part of a release build.

pub mod env;
pub mod fixtures;
pub mod git;
pub mod json;
pub mod state;

pub use env::*;
pub use fixtures::*;
pub use git::*;
pub use json::*;
pub use state::*;
