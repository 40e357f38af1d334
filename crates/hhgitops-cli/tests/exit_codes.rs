//! Exit codes come from the engine error's class (README, "Exit codes"): usage and not-found 2, input refused 1,
//! conflict/busy, Git, cluster, database and I/O 3.

mod common;

use common::*;

#[test]
fn each_class_has_its_exit_code() {
    let env = TestEnv::sqlite();
    let root = fabric_at(&env, "f");

    // Not found: an unknown fabric, an object that is not managed.
    let out = env.expect_code(&["status", "--fabric", "nope"], 2);
    assert!(
        stderr(&out).contains("is not registered"),
        "{}",
        stderr(&out)
    );
    let out = env.expect_code(&["delete", "--fabric", "f", "VPC/none"], 2);
    assert!(stderr(&out).contains("is not managed"), "{}", stderr(&out));

    // Conflict: a name already taken.
    let other = env.path("other");
    let out = env.expect_code(
        &["fabric", "add", "f", "--path", other.to_str().unwrap()],
        3,
    );
    assert!(
        stderr(&out).contains("already registered"),
        "{}",
        stderr(&out)
    );
    // Usage: a root inside another fabric's is a choice of path to change.
    let inner = root.join("inner");
    let out = env.expect_code(
        &["fabric", "add", "g", "--path", inner.to_str().unwrap()],
        2,
    );
    assert!(
        stderr(&out).contains("share or nest roots"),
        "{}",
        stderr(&out)
    );
    let listed = json(&env.expect_code(&["fabric", "list", "--json"], 0));
    assert_eq!(
        listed["fabrics"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );

    // Usage: a bad object reference.
    env.expect_code(&["delete", "--fabric", "f", "no-slash"], 2);
}
