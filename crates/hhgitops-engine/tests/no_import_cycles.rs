//! The engine's modules form a layered graph with no import cycles (ARCHITECTURE.md, "Layers"); so do those of
//! `hhgitops-git`, `hhgitops-kube` and the CLI.
//!
//! Reads every `src/**/*.rs` of a crate, takes the references each file makes to the crate's own modules
//! (`use crate::…`, `use super::…`, `use self::…`, paths `crate::…::`/`super::…::` in the code, a child module
//! named bare), resolves each to the module (file) that defines it — through `pub use` re-exports, so a name a
//! folder's `mod.rs` re-exports counts as its defining file's — and fails naming the cycle if the module graph has
//! one. A module is a file; `foo/mod.rs` is `foo`. Comments, strings and `#[cfg(test)]` items (and files declared
//! only under `#[cfg(test)]`) are left out: test code may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module path inside the crate: `[]` is the crate root, `["ingest", "read"]` is `ingest/read.rs`.
type ModPath = Vec<String>;

struct Crate {
    /// Module → its source with comments, strings and `#[cfg(test)]` items blanked.
    sources: BTreeMap<ModPath, String>,
    /// Module → re-exported name → the path it stands for (absolute, inside the crate).
    reexports: BTreeMap<ModPath, BTreeMap<String, ModPath>>,
    /// Modules declared only under `#[cfg(test)]`.
    test_only: BTreeSet<ModPath>,
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn module_of(src: &Path, file: &Path) -> ModPath {
    let rel = file.strip_prefix(src).expect("file under src");
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|l| l == "mod") {
        parts.pop();
    }
    if parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main") {
        parts.clear();
    }
    parts
}

/// The source with comments blanked and string and character literals emptied, lines kept.
fn strip_comments_and_strings(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    while i < b.len() {
        let c = b[i];
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if b[i] == b'\n' {
                        out.push('\n');
                    }
                    i += 1;
                }
            }
            continue;
        }
        let prev_ident = i > 0 && ident(b[i - 1]);
        // Raw strings: r"…", r#"…"#, br"…".
        if !prev_ident && (c == b'r' || (c == b'b' && b.get(i + 1) == Some(&b'r'))) {
            let mut j = if c == b'b' { i + 2 } else { i + 1 };
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) == Some(&b'"') {
                let mut end = vec![b'"'];
                end.extend(std::iter::repeat_n(b'#', hashes));
                j += 1;
                while j < b.len() && !b[j..].starts_with(&end) {
                    if b[j] == b'\n' {
                        out.push('\n');
                    }
                    j += 1;
                }
                out.push_str("\"\"");
                i = j + end.len();
                continue;
            }
        }
        if c == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                if b[j] == b'\n' {
                    out.push('\n');
                }
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            out.push_str("\"\"");
            i = j + 1;
            continue;
        }
        if c == b'\'' {
            // A character literal ('a', '\n', '\u{1F600}', '"'), not a lifetime ('a).
            let rest = &b[i + 1..];
            let close = if rest.first() == Some(&b'\\') {
                rest.iter().skip(2).position(|&x| x == b'\'').map(|p| p + 2)
            } else if rest.len() > 1 && rest[1] == b'\'' {
                Some(1)
            } else {
                // A multi-byte character: its closing quote within 4 bytes.
                (2..=4).find(|&k| {
                    rest.get(k) == Some(&b'\'')
                        && std::str::from_utf8(&rest[..k]).is_ok_and(|s| s.chars().count() == 1)
                })
            };
            if let Some(close) = close {
                out.push_str("' '");
                i += close + 2;
                continue;
            }
        }
        out.push(c as char);
        i += 1;
    }
    out
}

/// Removes each item that follows `#[cfg(test)]` (up to its `;` or its balanced `{ … }`).
fn drop_cfg_test(mut s: String) -> (String, Vec<String>) {
    let mut test_mods = Vec::new();
    while let Some(start) = s.find("#[cfg(test)]") {
        let b = s.as_bytes();
        let mut k = start + "#[cfg(test)]".len();
        while k < b.len() && b[k] != b';' && b[k] != b'{' {
            k += 1;
        }
        let head = s[start + "#[cfg(test)]".len()..k].trim().to_string();
        let end = if k < b.len() && b[k] == b';' {
            if let Some(name) = head
                .strip_prefix("pub(crate) mod ")
                .or_else(|| head.strip_prefix("pub mod "))
                .or_else(|| head.strip_prefix("mod "))
            {
                test_mods.push(name.trim().to_string());
            }
            k + 1
        } else {
            let mut depth = 0usize;
            let mut j = k;
            loop {
                match b.get(j) {
                    Some(b'{') => depth += 1,
                    Some(b'}') => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    None => break,
                    _ => {}
                }
                j += 1;
            }
            (j + 1).min(b.len())
        };
        let lines = s[start..end].matches('\n').count();
        s.replace_range(start..end, &"\n".repeat(lines));
    }
    (s, test_mods)
}

/// The paths of a `use` tree (`a::{b, c::{d as e}}` → `a::b`, `a::c::d`), with the name each binds.
fn expand_use(tree: &str) -> Vec<(String, String)> {
    let tree: String = tree.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = Vec::new();
    fn rec(prefix: &str, t: &str, out: &mut Vec<(String, String)>) {
        let mut items = Vec::new();
        let (mut depth, mut cur) = (0, String::new());
        for ch in t.chars() {
            match ch {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            if ch == ',' && depth == 0 {
                items.push(std::mem::take(&mut cur));
            } else {
                cur.push(ch);
            }
        }
        items.push(cur);
        for it in items {
            let it = it.trim();
            if it.is_empty() {
                continue;
            }
            if let Some(open) = it.find('{') {
                let inner = it[open + 1..]
                    .trim_end()
                    .strip_suffix('}')
                    .unwrap_or(&it[open + 1..]);
                rec(
                    &format!("{prefix}{}", it[..open].replace(' ', "")),
                    inner,
                    out,
                );
            } else {
                let (path, alias) = match it.split_once(" as ") {
                    Some((p, a)) => (p.replace(' ', ""), a.trim().to_string()),
                    None => {
                        let p = it.replace(' ', "");
                        let last = p.rsplit("::").next().unwrap_or("").to_string();
                        (p, last)
                    }
                };
                let full = format!("{prefix}{path}");
                let alias = if alias == "self" {
                    full.trim_end_matches("::self")
                        .rsplit("::")
                        .next()
                        .unwrap_or("")
                        .to_string()
                } else {
                    alias
                };
                out.push((full.trim_end_matches("::self").to_string(), alias));
            }
        }
    }
    rec("", &tree, &mut out);
    out
}

impl Crate {
    fn read(src: &Path) -> Crate {
        let mut files = Vec::new();
        rs_files(src, &mut files);
        let mut sources = BTreeMap::new();
        let mut test_only = BTreeSet::new();
        for f in &files {
            let m = module_of(src, f);
            let text = std::fs::read_to_string(f).expect("source file");
            let (clean, test_mods) = drop_cfg_test(strip_comments_and_strings(&text));
            for t in test_mods {
                let mut child = m.clone();
                child.push(t);
                test_only.insert(child);
            }
            sources.insert(m, clean);
        }
        let mut c = Crate {
            sources,
            reexports: BTreeMap::new(),
            test_only,
        };
        let mut reexports = BTreeMap::new();
        for (m, s) in &c.sources {
            let mut map = BTreeMap::new();
            for stmt in use_statements(s).into_iter().filter(|(public, _)| *public) {
                for (path, name) in expand_use(&stmt.1) {
                    if let Some(abs) = c.absolute(m, &path) {
                        map.insert(name, abs);
                    }
                }
            }
            reexports.insert(m.clone(), map);
        }
        c.reexports = reexports;
        c
    }

    fn is_module(&self, m: &[String]) -> bool {
        self.sources.contains_key(m)
    }

    /// `path` as written in module `m`, made absolute; `None` for a path outside the crate.
    fn absolute(&self, m: &ModPath, path: &str) -> Option<ModPath> {
        let segs: Vec<&str> = path
            .split("::")
            .filter(|s| !s.is_empty() && *s != "*")
            .collect();
        let first = *segs.first()?;
        let (mut base, rest): (ModPath, &[&str]) = match first {
            "crate" => (Vec::new(), &segs[1..]),
            "self" => (m.clone(), &segs[1..]),
            "super" => {
                let mut base = m.clone();
                let mut i = 0;
                while segs.get(i) == Some(&"super") {
                    base.pop();
                    i += 1;
                }
                (base, &segs[i..])
            }
            child => {
                let mut c = m.clone();
                c.push(child.to_string());
                if !self.is_module(&c) {
                    return None;
                }
                (m.clone(), &segs[..])
            }
        };
        base.extend(rest.iter().map(|s| s.to_string()));
        Some(base)
    }

    /// The module that defines what `abs` names: its longest prefix that is a module, followed through the
    /// re-exports of that module.
    fn resolve(&self, abs: &[String], depth: usize) -> ModPath {
        let k = (0..=abs.len())
            .rev()
            .find(|&k| self.is_module(&abs[..k]))
            .unwrap_or(0);
        let module = abs[..k].to_vec();
        if let Some(next) = abs.get(k) {
            if depth < 16 {
                if let Some(target) = self.reexports.get(&module).and_then(|r| r.get(next)) {
                    let mut t = target.clone();
                    t.extend(abs[k + 1..].iter().cloned());
                    if t != abs {
                        return self.resolve(&t, depth + 1);
                    }
                }
            }
        }
        module
    }

    /// Module → the modules it refers to, each with one reference that shows it.
    fn graph(&self) -> BTreeMap<ModPath, BTreeMap<ModPath, String>> {
        let mut graph = BTreeMap::new();
        for (m, s) in &self.sources {
            let mut edges: BTreeMap<ModPath, String> = BTreeMap::new();
            if self.test_only.iter().any(|t| m.starts_with(t)) {
                continue;
            }
            let mut paths: Vec<String> = Vec::new();
            for (_, tree) in use_statements(s) {
                paths.extend(expand_use(&tree).into_iter().map(|(p, _)| p));
            }
            paths.extend(inline_paths(s));
            for p in paths {
                let Some(abs) = self.absolute(m, &p) else {
                    continue;
                };
                let target = self.resolve(&abs, 0);
                // A reference to a module's own items is no edge.
                if &target == m {
                    continue;
                }
                edges.entry(target).or_insert(p);
            }
            graph.insert(m.clone(), edges);
        }
        graph
    }
}

/// `(is public, tree)` of every `use` statement.
fn use_statements(s: &str) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while let Some(off) = s[i..].find("use ") {
        let at = i + off;
        i = at + 4;
        if at > 0 && (b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_') {
            continue;
        }
        let Some(end) = s[i..].find(';') else { break };
        let tree = s[i..i + end].to_string();
        let before = s[..at].trim_end();
        let public = before.ends_with("pub") || (before.ends_with(')') && before.contains("pub("));
        let public = public && {
            // `pub(crate) use` or `pub use` directly before.
            let tail = &before[before.rfind(['\n', ';', '{', '}']).map_or(0, |p| p + 1)..];
            tail.trim_start().starts_with("pub")
        };
        out.push((public, tree));
        i += end;
    }
    out
}

/// Paths written in the code: `crate::a::b`, `super::x`, `self::y`, and `child::z` for a bare child module
/// (left to `absolute`, which drops what is not one).
fn inline_paths(s: &str) -> Vec<String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    while i < b.len() {
        if ident(b[i]) && (i == 0 || (!ident(b[i - 1]) && !s[..i].ends_with("::"))) {
            let mut j = i;
            loop {
                while j < b.len() && ident(b[j]) {
                    j += 1;
                }
                if s[j..].starts_with("::") && b.get(j + 2).is_some_and(|&c| ident(c)) {
                    j += 2;
                } else {
                    break;
                }
            }
            let path = &s[i..j];
            if path.contains("::") {
                out.push(path.to_string());
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// The first cycle found, as a list of modules and the references that tie them.
fn find_cycle(graph: &BTreeMap<ModPath, BTreeMap<ModPath, String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn name(m: &ModPath) -> String {
        if m.is_empty() {
            "crate".into()
        } else {
            m.join("::")
        }
    }
    fn visit(
        m: &ModPath,
        graph: &BTreeMap<ModPath, BTreeMap<ModPath, String>>,
        marks: &mut BTreeMap<ModPath, Mark>,
        stack: &mut Vec<ModPath>,
    ) -> Option<Vec<String>> {
        marks.insert(m.clone(), Mark::Open);
        stack.push(m.clone());
        for next in graph.get(m).into_iter().flat_map(|e| e.keys()) {
            match marks.get(next).copied().unwrap_or(Mark::New) {
                Mark::Open => {
                    let from = stack
                        .iter()
                        .position(|s| s == next)
                        .expect("open module on the stack");
                    let mut cycle: Vec<ModPath> = stack[from..].to_vec();
                    cycle.push(next.clone());
                    return Some(
                        cycle
                            .windows(2)
                            .map(|w| {
                                format!(
                                    "{} → {} (`{}`)",
                                    name(&w[0]),
                                    name(&w[1]),
                                    graph[&w[0]][&w[1]]
                                )
                            })
                            .collect(),
                    );
                }
                Mark::New if graph.contains_key(next) => {
                    if let Some(c) = visit(next, graph, marks, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        marks.insert(m.clone(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for m in graph.keys() {
        if marks.get(m).copied().unwrap_or(Mark::New) == Mark::New {
            let mut stack = Vec::new();
            if let Some(c) = visit(m, graph, &mut marks, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

fn cycle_in(crate_dir: &str) -> Option<Vec<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(crate_dir)
        .join("src");
    let c = Crate::read(&src);
    assert!(
        c.sources.len() > 1,
        "no modules read under {}",
        src.display()
    );
    find_cycle(&c.graph())
}

fn assert_no_cycle(crate_dir: &str) {
    if let Some(cycle) = cycle_in(crate_dir) {
        panic!("{crate_dir} has an import cycle:\n  {}", cycle.join("\n  "));
    }
}

#[test]
fn the_engine_has_no_import_cycles() {
    assert_no_cycle("hhgitops-engine");
}

/// The same over the crates whose cycles were broken with the engine's: the Git client, the cluster client and
/// the binary.
#[test]
fn the_git_and_kube_crates_and_the_cli_have_no_import_cycles() {
    assert_no_cycle("hhgitops-git");
    assert_no_cycle("hhgitops-kube");
    assert_no_cycle("hhgitops-cli");
}

/// The checker itself: it sees a cycle through `use`, `super::`, re-exports and bare child paths, and ignores
/// comments, strings and test code.
#[test]
fn the_checker_finds_cycles_and_only_cycles() {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("ops")).expect("mkdir");
    let write = |p: &str, s: &str| std::fs::write(src.join(p), s).expect("write");
    write(
        "lib.rs",
        "pub mod names;\npub mod ops;\npub mod top;\npub use top::Top;\n",
    );
    write("names.rs", "pub const RAW: &str = \"raw\";\n");
    write(
        "ops/mod.rs",
        "mod run;\npub use run::Run;\npub fn go() { run::start(); let _ = crate::names::RAW; }\n",
    );
    write(
        "ops/run.rs",
        "use crate::names::RAW;\n// use crate::top::Top;\nconst S: &str = \"crate::top::Top\";\n\
         #[cfg(test)]\nmod tests { use crate::Top; }\npub struct Run;\npub fn start() {}\n",
    );
    write("top.rs", "use crate::ops::{go, Run};\npub struct Top;\n");
    let acyclic = Crate::read(&src);
    let g = acyclic.graph();
    let m = |s: &str| s.split("::").map(String::from).collect::<ModPath>();
    assert!(
        g[&m("top")].contains_key(&m("ops::run")),
        "re-export followed: {g:?}"
    );
    assert!(
        g[&m("ops")].contains_key(&m("ops::run")),
        "bare child path seen: {g:?}"
    );
    assert_eq!(find_cycle(&g), None, "{g:?}");

    // A child that reaches its parent's items, and the parent's own re-export of it, is a cycle; so is one
    // through the crate root's re-export.
    write(
        "ops/run.rs",
        "pub struct Run;\npub fn start() { super::go(); }\n",
    );
    let cycle = find_cycle(&Crate::read(&src).graph()).expect("ops ↔ ops::run");
    assert!(cycle.iter().any(|l| l.contains("super::go")), "{cycle:?}");
    write(
        "ops/run.rs",
        "pub struct Run;\npub fn start() { let _: crate::Top; }\n",
    );
    let cycle = find_cycle(&Crate::read(&src).graph()).expect("ops::run → top → ops::run");
    assert!(
        cycle.iter().any(|l| l.starts_with("ops::run → top")),
        "{cycle:?}"
    );
}
