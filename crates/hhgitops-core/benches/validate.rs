//! Validation benchmark: parse + validate + normalize of generated fabrics at full, half and quarter size (the full
//! one is the ~5,700-object reference input of SPEC §9, in a form that validates; see `fabric_args`), and CATALOGUE
//! §8's example fabric, reporting the median time, the time per object
//! (linearity) and the peak heap, measured by a counting global allocator.
//!
//! Run: `cargo bench -p hhgitops-core --bench validate`. Needs `python3` and `../shared/tools/gen_vlab_wiring.py`
//! (or `$HHGITOPS_SHARED/tools/…`).
//! Targets: under 100 ms and 64 MiB for the full fabric, cost linear in the number of objects.
//! Measured (thread CPU time, shared machine): full 81.8 ms and catalog 109.7 ms before the emitter's fast path for
//! plain words, 73.5 ms and 96.8 ms after; callgrind: 183.0 M → 166.5 M instructions per quarter-fabric run.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use hhgitops_core::settings::FabricSettings;
use hhgitops_core::state::FabricState;
use hhgitops_core::validate::{parse_source, validate_state};
use hhgitops_core::yaml::Limits;

/// Counts live heap bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let now = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size
                    - layout.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn generate(args: &[String]) -> Option<Vec<u8>> {
    let shared = std::env::var_os("HHGITOPS_SHARED").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
        PathBuf::from,
    );
    let tool = shared.join("tools/gen_vlab_wiring.py");
    if !tool.is_file() {
        eprintln!("note: {} is absent, skipping", tool.display());
        return None;
    }
    match Command::new("python3").arg(&tool).args(args).output() {
        Ok(o) if o.status.success() => Some(o.stdout),
        Ok(o) => {
            eprintln!("generator failed: {}", String::from_utf8_lossy(&o.stderr));
            None
        }
        Err(e) => {
            eprintln!("note: cannot run python3 ({e}), skipping");
            None
        }
    }
}

/// The reference fabric at `groups` ESLAG pairs and `orphans` orphan leaves: at 16 and 16 about 5,700 objects and
/// 1.7 MB that validate, every switch within the 48 ports of the built-in `vs` profile the generator gives them (2
/// spines with one link to each of the 48 leaves; per ESLAG pair 20 ESLAG, 20 unbundled and 13 bundled servers, per
/// orphan leaf 20 unbundled and 13 bundled; one VPC per server).
fn fabric_args(groups: usize, orphans: usize) -> Vec<String> {
    let groups = vec!["2"; groups].join(",");
    let mut args: Vec<String> = [
        "--spines",
        "2",
        "--fabric-links",
        "1",
        "--eslag-leaf-groups",
        &groups,
        "--orphan-leafs",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    args.push(orphans.to_string());
    for a in [
        "--eslag-servers",
        "20",
        "--unbundled-servers",
        "20",
        "--bundled-servers",
        "13",
        "--vpcs",
    ] {
        args.push(a.to_string());
    }
    args
}

/// CATALOGUE §8's example of a large fabric (the reference of earlier rounds): about 5,600 objects, but its 8 spines
/// use 96 ports and its ESLAG leaves up to 64 on the 48-port `vs` profile, so its 896 connections past E1/48 are
/// rejected (as the fabric would). Kept as a row, to compare with the numbers measured on it before.
fn catalogue_args() -> Vec<String> {
    let groups = vec!["2"; 16].join(",");
    [
        "--spines",
        "8",
        "--eslag-leaf-groups",
        &groups,
        "--orphan-leafs",
        "16",
        "--eslag-servers",
        "16",
        "--unbundled-servers",
        "16",
        "--bundled-servers",
        "16",
        "--vpcs",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

struct Run {
    objects: usize,
    errors: usize,
    millis: f64,
    /// CPU time of this thread, when the OS reports it: unlike wall time, not inflated by other processes.
    cpu_millis: Option<f64>,
}

/// Nanoseconds this thread has run on a CPU (Linux `/proc/thread-self/schedstat`).
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn run_once(bytes: &[u8], settings: &FabricSettings) -> Run {
    let cpu = thread_cpu_ns();
    let start = Instant::now();
    let report = parse_source("raw/fabric.yaml", bytes, &Limits::default(), settings);
    let mut state = FabricState::new();
    state.insert_report("raw/fabric.yaml", &report);
    let st = validate_state(&state, settings);
    let millis = start.elapsed().as_secs_f64() * 1000.0;
    let cpu_millis = match (cpu, thread_cpu_ns()) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / 1e6),
        _ => None,
    };
    Run {
        objects: report.objects.len(),
        errors: report.errors.len() + st.errors.len(),
        millis,
        cpu_millis,
    }
}

/// Time of each stage, for finding where the time goes (`HHGITOPS_BENCH_BREAKDOWN=1`).
fn breakdown(bytes: &[u8], settings: &FabricSettings) {
    let t = Instant::now();
    let docs = hhgitops_core::yaml::parse_stream(bytes, &Limits::default()).unwrap_or_default();
    let parse = t.elapsed();
    let t = Instant::now();
    let mut objects = Vec::new();
    for d in &docs {
        if let Some(root) = &d.root {
            let kind = root
                .get_key("kind")
                .and_then(|k| k.as_str())
                .and_then(hhgitops_core::Kind::from_kind_name);
            if let Some(k) = kind {
                if let Ok(o) = hhgitops_core::model::decode_object(k, root) {
                    objects.push(o);
                }
            }
        }
    }
    let decode = t.elapsed();
    let t = Instant::now();
    for o in &objects {
        let _ = hhgitops_core::validate::check_object(o, settings);
    }
    let rules = t.elapsed();
    let t = Instant::now();
    let mut values = Vec::new();
    for o in &objects {
        values.push(hhgitops_core::normalize::normalize_value(o));
    }
    let to_value = t.elapsed();
    let t = Instant::now();
    let mut total = 0;
    for v in &values {
        total += hhgitops_core::yaml::emit(v).len();
    }
    let emit = t.elapsed();
    let t = Instant::now();
    let report = parse_source("raw/fabric.yaml", bytes, &Limits::default(), settings);
    let mut state = FabricState::new();
    state.insert_report("raw/fabric.yaml", &report);
    let whole = t.elapsed();
    let t = Instant::now();
    let _ = validate_state(&state, settings);
    let cross = t.elapsed();
    println!(
        "  parse {:?}  decode {:?}  rules {:?}  to_value {:?}  emit {:?} ({} bytes)  parse_source {:?}  validate_state {:?}",
        parse, decode, rules, to_value, emit, total, whole, cross
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: then one quick run of the smallest size.
    let quick = !std::env::args().any(|a| a == "--bench");
    let settings = FabricSettings::default();
    let sizes: Vec<(&str, Vec<String>)> = if quick {
        vec![("quarter", fabric_args(4, 4))]
    } else {
        vec![
            ("full", fabric_args(16, 16)),
            ("half", fabric_args(8, 8)),
            ("quarter", fabric_args(4, 4)),
            ("catalog", catalogue_args()),
        ]
    };
    let iterations = if quick { 1 } else { 9 };
    println!(
        "{:<8} {:>8} {:>10} {:>10} {:>10} {:>12} {:>14}",
        "fabric", "objects", "bytes", "wall ms", "cpu ms", "µs/object", "peak heap MiB"
    );
    for (label, args) in &sizes {
        let Some(bytes) = generate(args) else {
            return;
        };
        // Warm up, then measure the peak heap of one run (input bytes included) and the median time of several.
        let warm = run_once(&bytes, &settings);
        // The reference fabric validates; only the catalogue's example has errors (its ports past vs's E1/48).
        if warm.errors != 0 {
            println!(
                "note: {label}: {} error(s){}",
                warm.errors,
                if *label == "catalog" {
                    ", ports beyond the vs profile's E1/48"
                } else {
                    ": the reference fabric should validate"
                }
            );
        }
        let before = LIVE.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let _ = run_once(&bytes, &settings);
        let peak = PEAK.load(Ordering::Relaxed);
        let runs: Vec<Run> = (0..iterations)
            .map(|_| run_once(&bytes, &settings))
            .collect();
        let median = |mut v: Vec<f64>| -> f64 {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let wall = median(runs.iter().map(|r| r.millis).collect());
        let cpu: Option<f64> = runs
            .iter()
            .map(|r| r.cpu_millis)
            .collect::<Option<Vec<f64>>>()
            .map(median);
        if std::env::var_os("HHGITOPS_BENCH_BREAKDOWN").is_some() {
            breakdown(&bytes, &settings);
        }
        // On a busy machine wall time includes waiting for a CPU; the CPU time is what the work costs.
        let per_object = cpu.unwrap_or(wall) * 1000.0 / warm.objects as f64;
        println!(
            "{:<8} {:>8} {:>10} {:>10.1} {:>10} {:>12.2} {:>14.1}",
            label,
            warm.objects,
            bytes.len(),
            wall,
            cpu.map_or("n/a".to_string(), |c| format!("{c:.1}")),
            per_object,
            peak as f64 / (1024.0 * 1024.0)
        );
    }
    hydration(quick, iterations, &settings);
}

/// Hydration from scratch of the unhydrated fabric (parse + hydrate + the file's rules), against its peer in the
/// same run: parsing the generator's hydrated output with the same rules.
fn hydration(quick: bool, iterations: usize, settings: &FabricSettings) {
    use hhgitops_core::hydrate::HydrateConfig;
    use hhgitops_core::validate::parse_source_hydrated;
    let (groups, orphans) = if quick { (4, 4) } else { (16, 16) };
    let mut args = fabric_args(groups, orphans);
    let Some(hydrated) = generate(&args) else {
        return;
    };
    args.push("--no-hydrate".into());
    let Some(plain) = generate(&args) else { return };
    let cfg = HydrateConfig::from_settings(settings);
    let median = |mut v: Vec<f64>| -> f64 {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let time = |f: &dyn Fn() -> usize| -> (f64, usize) {
        let n = f();
        let v = (0..iterations)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        (median(v), n)
    };
    let (hyd_ms, objects) = time(&|| {
        let (r, h) = parse_source_hydrated("p", &plain, &Limits::default(), settings, [], &cfg);
        assert!(h.is_some() && r.errors.is_empty(), "{:?}", r.errors.first());
        r.objects.len()
    });
    let (parse_ms, _) = time(&|| {
        parse_source("h", &hydrated, &Limits::default(), settings)
            .objects
            .len()
    });
    println!(
        "hydrate  {objects:>8} objects: parse+hydrate+rules {hyd_ms:.1} ms, parse+rules of the hydrated file {parse_ms:.1} ms (ratio {:.2})",
        hyd_ms / parse_ms
    );
}
