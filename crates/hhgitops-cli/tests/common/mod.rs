//! The shared test kit (crate `hhgitops-testsupport`), for the tests of this crate.
#![allow(unused_imports)]

pub use hhgitops_testsupport::*;
