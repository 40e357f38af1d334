//! hhgitops engine.
