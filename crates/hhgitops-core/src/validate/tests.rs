//! Unit tests of the rules on typed values built in code.
