//! The pure heart of hhgitops: the Hedgehog API model, the positioned YAML front end, validation,
//! normalization and diffing.
//!
//! This crate does no I/O: it never sees a path on disk, a database, a clock or a network. Every function takes
//! bytes or values and returns values, so it is tested with data alone and may be called from any number of
//! tasks at once.

pub mod accept;
pub mod defaults;
pub mod diag;
pub mod diff;
pub mod fabric_config;
pub mod hydrate;
pub mod kinds;
pub mod model;
pub mod normalize;
pub mod path;
pub mod profiles;
pub mod settings;
pub mod state;
pub mod validate;
pub mod yaml;

pub use diag::{Diagnostic, Span};
pub use kinds::Kind;
pub use path::FieldPath;
