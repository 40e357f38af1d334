//! Git for hhgitops, driven through the `git` command-line client.
