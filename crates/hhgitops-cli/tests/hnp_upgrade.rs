//! Trees the Hedgehog NetBox Plugin (HNP) left behind, with the real binary, real `git` and a local bare remote:
//! the plugin's ingestion (its rules, run by `hnp_support/plugin_ingest.py` with PyYAML, as the plugin writes) run
//! twice over the default VLAB leaves every object twice, annotated and with its header comment, and no manifest;
//! `init --migrate` removes the identical copies, sets the differing one aside with its diff, drops the marks, all
//! in one commit, and the next ingest finds nothing invalid.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// The plugin's ingestion over `root` (raw/ → managed/, archive, archive log).
fn plugin_ingest(root: &Path, fabric: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hnp_support/plugin_ingest.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(root)
        .arg(fabric)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "the plugin's ingestion (needs python3 with PyYAML): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The default VLAB with its VPCs, from the shared generator.
fn default_vlab() -> Option<String> {
    let tool = shared_dir()?.join("tools/gen_vlab_wiring.py");
    let out = Command::new("python3")
        .arg(tool)
        .arg("--vpcs")
        .output()
        .expect("python3");
    assert!(out.status.success());
    Some(String::from_utf8(out.stdout).unwrap())
}

/// Files below `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    tree(dir)
        .into_iter()
        .filter(|f| !f.ends_with('/'))
        .collect()
}

fn remote_show(remote: &Path, rev_path: &str) -> String {
    git(remote, &["show", rev_path])
}

#[test]
fn a_tree_the_plugin_ingested_twice_is_cleaned_up_in_one_migration_commit() {
    let Some(vlab) = default_vlab() else { return };
    let env = TestEnv::sqlite();
    let base = "fabrics/lab/gitops";
    // The repository the plugin worked in, at its own `<repo>/fabrics/<fabric>/gitops`.
    let work = env.path("plugin-repo");
    let root = work.join(base);
    for d in ["raw", "managed", ".hnp"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("raw/vlab.yaml"), &vlab).unwrap();
    plugin_ingest(&root, "lab");
    // The same wiring dropped again, one VPC changed: the plugin writes a `-1` copy of every object.
    let changed = vlab.replacen("leaseTimeSeconds: 3600", "leaseTimeSeconds: 7200", 1);
    assert_ne!(changed, vlab);
    std::fs::write(root.join("raw/vlab.yaml"), &changed).unwrap();
    plugin_ingest(&root, "lab");

    let objects = vlab.matches("\nkind: ").count() + usize::from(vlab.starts_with("kind: "));
    let written = files(&root.join("managed"));
    assert_eq!(written.len(), 2 * objects, "{written:?}");
    let aside_source = std::fs::read(root.join("managed/vpcs/vpc-01-1.yaml")).unwrap();
    assert!(
        String::from_utf8_lossy(&aside_source).contains("leaseTimeSeconds: 7200")
            && String::from_utf8_lossy(&aside_source)
                .contains("# Normalized by Hedgehog NetBox Plugin")
            && String::from_utf8_lossy(&aside_source).contains("hnp.githedgehog.com/ingested-at"),
        "the plugin's copy: {}",
        String::from_utf8_lossy(&aside_source)
    );
    assert!(
        !root.join(".hnp/manifest.yaml").exists(),
        "it writes no manifest"
    );
    let legit_copy_pattern = written
        .iter()
        .filter(|f| f.starts_with("switches/leaf-0"))
        .count();
    assert!(
        legit_copy_pattern > 0,
        "names like leaf-01 end in -<digits> and are no copies"
    );

    git(&work, &["init", "-q", "-b", "main"]);
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "the plugin's tree"]);
    let remote = env.path("r.git");
    git(
        env.dir.path(),
        &[
            "clone",
            "-q",
            "--bare",
            work.to_str().unwrap(),
            remote.to_str().unwrap(),
        ],
    );
    let url = format!("file://{}", remote.display());

    // `fabric add` upgrades the records but leaves the managed files alone, saying what `init --migrate` does.
    let out = env.expect_code(
        &[
            "fabric",
            "add",
            "lab",
            "--git-url",
            &url,
            "--git-path",
            base,
        ],
        0,
    );
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{} copy(ies) identical to their managed file, 1 differing",
            objects - 1
        )) && err.contains("init --fabric lab --migrate"),
        "{err}"
    );
    assert!(
        err.contains("-          leaseTimeSeconds: 3600")
            && err.contains("+          leaseTimeSeconds: 7200"),
        "the differing copy is shown with its diff: {err}"
    );
    let show = json(&env.expect_code(&["fabric", "show", "lab", "--json"], 0));
    let clone = PathBuf::from(show["root"].as_str().unwrap());
    assert_eq!(files(&clone.join("managed")).len(), 2 * objects);
    let commits_before = git(&remote, &["rev-list", "--count", "main"]);

    // The dry run lists every step and changes nothing.
    let out = env.expect_code(&["init", "--fabric", "lab", "--migrate", "--dry-run"], 0);
    let dry = stdout(&out);
    assert_eq!(
        dry.matches("would remove managed/").count(),
        objects - 1,
        "{dry}"
    );
    assert_eq!(files(&clone.join("managed")).len(), 2 * objects);

    // `init --migrate`: one commit.
    let out = env.ok(&["init", "--fabric", "lab", "--migrate"]);
    assert!(out.contains("pushed"), "{out}");
    let commits_after = git(&remote, &["rev-list", "--count", "main"]);
    assert_eq!(
        commits_after.trim().parse::<u32>().unwrap(),
        commits_before.trim().parse::<u32>().unwrap() + 1,
        "one migration commit"
    );
    let subject = git(&remote, &["log", "-1", "--format=%s", "main"]);
    assert!(
        subject.starts_with("migrate fabric lab:")
            && subject.contains(&format!(
                "clean up {} managed file(s) left by the Hedgehog NetBox Plugin",
                2 * objects
            )),
        "{subject}"
    );
    let status = git(&remote, &["show", "--name-status", "--format=", "main"]);
    let deleted: Vec<&str> = status.lines().filter(|l| l.starts_with('D')).collect();
    assert_eq!(deleted.len(), objects - 1, "{status}");
    assert!(deleted.iter().all(|l| l.ends_with("-1.yaml")), "{status}");

    // Every managed file is one object, without the plugin's marks, under its own name.
    let in_git: Vec<String> = git(&remote, &["ls-tree", "-r", "--name-only", "main"])
        .lines()
        .map(str::to_string)
        .collect();
    let managed: Vec<&String> = in_git
        .iter()
        .filter(|f| f.starts_with(&format!("{base}/managed/")))
        .collect();
    assert_eq!(managed.len(), objects, "{managed:?}");
    for f in &managed {
        let text = remote_show(&remote, &format!("main:{f}"));
        assert!(
            !text.contains("hnp.githedgehog.com") && !text.contains("Hedgehog NetBox Plugin"),
            "{f}: {text}"
        );
        assert!(text.starts_with("apiVersion: "), "normalized: {f}: {text}");
    }
    let kept = remote_show(&remote, &format!("main:{base}/managed/vpcs/vpc-01.yaml"));
    assert!(
        kept.contains("leaseTimeSeconds: 3600"),
        "never merged: {kept}"
    );
    // The differing copy waits, byte for byte, where init --check keeps pointing at it.
    let aside = format!("{base}/.hnp/hnp-duplicates/vpcs/vpc-01-1.yaml");
    assert!(in_git.contains(&aside), "{in_git:?}");
    assert_eq!(
        std::fs::read(clone.join(".hnp/hnp-duplicates/vpcs/vpc-01-1.yaml")).unwrap(),
        aside_source
    );
    let log = remote_show(&remote, &format!("main:{base}/.hnp/archive-log.yaml"));
    assert!(
        log.contains(
            "removed copies left by the Hedgehog NetBox Plugin, identical to their managed file"
        ) && log
            .contains("managed/switches/leaf-01-1.yaml (same as managed/switches/leaf-01.yaml)")
            && log.contains("managed/vpcs/vpc-01-1.yaml -> .hnp/hnp-duplicates/vpcs/vpc-01-1.yaml")
            && log.matches("legacyOperation: ingestion").count() == 2,
        "{log}"
    );
    assert!(
        !log.contains(work.to_str().unwrap()),
        "the plugin's absolute paths made relative: {log}"
    );

    // Nothing left to migrate.
    let out = env.expect_code(&["init", "--fabric", "lab", "--migrate", "--dry-run"], 0);
    assert!(!stdout(&out).contains("would"), "{}", stdout(&out));

    // The next ingest reports nothing invalid.
    let r = json(&env.expect_code(&["ingest", "--fabric", "lab", "--json"], 0));
    assert_eq!(r["managed"]["errors"], serde_json::json!([]), "{r:#}");
    assert_eq!(r["summary"]["rejected"], 0, "{r:#}");
    assert_consistent(&env, "lab", &clone);

    // Only the copy set aside needs a person; once deleted, the layout is complete.
    let out = env.expect_code(&["init", "--fabric", "lab", "--check"], 1);
    let text = stdout(&out);
    let problems: Vec<&str> = text.lines().filter(|l| l.starts_with("  ")).collect();
    assert_eq!(problems.len(), 1, "{text}");
    assert!(
        problems[0].contains(".hnp/hnp-duplicates/vpcs/vpc-01-1.yaml")
            && problems[0].contains("managed/vpcs/vpc-01.yaml"),
        "{text}"
    );
    std::fs::remove_file(clone.join(".hnp/hnp-duplicates/vpcs/vpc-01-1.yaml")).unwrap();
    env.expect_code(&["init", "--fabric", "lab", "--check"], 0);
}

#[test]
fn marks_alone_are_recognised_and_a_copy_whose_original_is_gone_takes_its_name() {
    let env = TestEnv::sqlite();
    let root = env.path("lab-gitops");
    std::fs::create_dir_all(root.join("managed/vpcs")).unwrap();
    std::fs::create_dir_all(root.join("managed/vlannamespaces")).unwrap();
    std::fs::create_dir_all(root.join("managed/ipv4namespaces")).unwrap();
    std::fs::create_dir_all(root.join("raw")).unwrap();
    let header = |kind: &str, name: &str| {
        format!("# {kind}: {name}\n# Normalized by Hedgehog NetBox Plugin\n# Generated: 2025-07-01 10:05:00 UTC\n---\n")
    };
    let annotations = "  annotations:\n    hnp.githedgehog.com/managed-by: hedgehog-netbox-plugin\n    hnp.githedgehog.com/ingested-at: '2025-07-01T10:05:00+00:00'\n";
    // No .hnp/ at all: the plugin is recognised by its marks on the files.
    let ns = NAMESPACES.split("---\n").collect::<Vec<_>>();
    std::fs::write(
        root.join("managed/vlannamespaces/default.yaml"),
        format!("{}{}", header("VLANNamespace", "default"), ns[0]),
    )
    .unwrap();
    std::fs::write(root.join("managed/ipv4namespaces/default.yaml"), ns[1]).unwrap();
    // The original vpc-1.yaml is gone; only the plugin's second copy is left.
    let v = vpc("vpc-1", 1).replacen(
        "  name: vpc-1\n",
        &format!("  name: vpc-1\n{annotations}"),
        1,
    );
    assert!(v.contains("hnp.githedgehog.com"), "{v}");
    std::fs::write(
        root.join("managed/vpcs/vpc-1-1.yaml"),
        format!("{}{v}", header("VPC", "vpc-1")),
    )
    .unwrap();
    // Marked but broken: left for a person.
    std::fs::write(
        root.join("managed/vpcs/vpc-2.yaml"),
        format!(
            "{}kind: VPC\nmetadata:\n  name: vpc-2\n{annotations}",
            header("VPC", "vpc-2")
        ),
    )
    .unwrap();

    env.ok(&["fabric", "add", "lab", "--path", root.to_str().unwrap()]);
    assert!(
        root.join("managed/vpcs/vpc-1-1.yaml").exists(),
        "fabric add changes no managed file"
    );
    let out = env.expect_code(&["init", "--fabric", "lab", "--check"], 1);
    let text = stdout(&out);
    for needle in [
        "managed/vpcs/vpc-1-1.yaml: a copy left by the Hedgehog NetBox Plugin whose original is gone",
        "managed/vlannamespaces/default.yaml: carries the Hedgehog NetBox Plugin's annotations or header comment",
        "managed/vpcs/vpc-2.yaml: written by the Hedgehog NetBox Plugin but not a managed VPC",
    ] {
        assert!(text.contains(needle), "{needle} in:\n{text}");
    }
    assert!(
        !text.contains("ipv4namespaces"),
        "an unmarked file is not the plugin's: {text}"
    );
    let ipv4_before = std::fs::read(root.join("managed/ipv4namespaces/default.yaml")).unwrap();

    let out = env.ok(&["init", "--fabric", "lab", "--migrate"]);
    assert!(
        out.contains("rename managed/vpcs/vpc-1-1.yaml -> managed/vpcs/vpc-1.yaml"),
        "{out}"
    );
    assert!(!root.join("managed/vpcs/vpc-1-1.yaml").exists());
    let renamed = std::fs::read_to_string(root.join("managed/vpcs/vpc-1.yaml")).unwrap();
    assert!(
        !renamed.contains("hnp.githedgehog.com")
            && !renamed.contains('#')
            && renamed.contains("name: vpc-1"),
        "{renamed}"
    );
    let ns_file =
        std::fs::read_to_string(root.join("managed/vlannamespaces/default.yaml")).unwrap();
    assert!(!ns_file.contains("Hedgehog NetBox Plugin"), "{ns_file}");
    assert_eq!(
        std::fs::read(root.join("managed/ipv4namespaces/default.yaml")).unwrap(),
        ipv4_before,
        "a file without the plugin's marks is not rewritten"
    );
    assert!(
        std::fs::read_to_string(root.join("managed/vpcs/vpc-2.yaml"))
            .unwrap()
            .contains("hnp.githedgehog.com"),
        "a broken file is left for a person"
    );
    // What is left is the broken file only.
    let out = env.expect_code(&["init", "--fabric", "lab", "--check"], 1);
    let text = stdout(&out);
    let problems: Vec<&str> = text.lines().filter(|l| l.starts_with("  ")).collect();
    assert_eq!(problems.len(), 1, "{text}");
    assert!(problems[0].contains("managed/vpcs/vpc-2.yaml"), "{text}");
}
