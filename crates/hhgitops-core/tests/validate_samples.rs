//! Every sample of `../shared/samples` validates on its own (parse + cross-object rules, zero errors), and its
//! normalized objects are snapshotted.

#[path = "validate_support/mod.rs"]
mod common;

use hhgitops_core::normalize::content_hash;
use hhgitops_core::settings::FabricSettings;
use hhgitops_core::validate::parse_source;
use hhgitops_core::yaml::Limits;

/// The samples' fabric: the defaults, with the gateway enabled (some samples have gateways).
fn settings() -> FabricSettings {
    FabricSettings {
        enable_gateway: true,
        ..FabricSettings::default()
    }
}

#[test]
fn every_sample_validates() {
    let Some(samples) = common::samples() else {
        return;
    };
    assert!(!samples.is_empty(), "no samples found");
    for (name, bytes) in samples {
        let (report, state_report) = common::validate_file(&name, &bytes, &settings());
        assert!(report.errors.is_empty(), "{name}: {:#?}", report.errors);
        assert!(!report.objects.is_empty(), "{name}: no objects");
        assert!(report.objects.iter().all(|o| o.valid));
        assert!(
            state_report.errors.is_empty(),
            "{name}: {:#?}",
            state_report.errors
        );
        assert!(state_report.checked > 0);
    }
}

#[test]
fn samples_normalize_idempotently() {
    let Some(samples) = common::samples() else {
        return;
    };
    let settings = settings();
    for (name, bytes) in samples {
        let report = parse_source(&name, &bytes, &Limits::default(), &settings);
        for o in &report.objects {
            let again = parse_source(
                "normalized",
                o.normalized().as_bytes(),
                &Limits::default(),
                &settings,
            );
            assert!(
                again.errors.is_empty(),
                "{name} {} {}: {:#?}\n{}",
                o.kind,
                o.name,
                again.errors,
                o.normalized()
            );
            assert_eq!(again.objects.len(), 1);
            assert_eq!(
                again.objects[0].normalized(),
                o.normalized(),
                "{name} {} {}",
                o.kind,
                o.name
            );
            assert_eq!(
                again.objects[0].object, o.object,
                "{name} {} {}: typed value changed",
                o.kind, o.name
            );
            assert_eq!(
                content_hash(again.objects[0].normalized().as_bytes()),
                content_hash(o.normalized().as_bytes())
            );
        }
    }
}

#[test]
fn sample_snapshots() {
    let Some(samples) = common::samples() else {
        return;
    };
    let settings = settings();
    for (name, bytes) in samples {
        let report = parse_source(&name, &bytes, &Limits::default(), &settings);
        let mut out = String::new();
        for o in &report.objects {
            out.push_str(&format!(
                "# {} {} (document {})\n",
                o.kind, o.name, o.document
            ));
            out.push_str(&o.normalized());
            out.push_str("---\n");
        }
        let snap = name.trim_end_matches(".yaml").replace("__", "-");
        insta::assert_snapshot!(format!("normalized-{snap}"), out);
    }
}

/// The derived agent-fixture samples are partial fabrics, but every reference in them resolves; what they lack is
/// only counted as unchecked (the built-in `vs` profile where it is not included).
#[test]
fn sample_unchecked_counts() {
    let Some(samples) = common::samples() else {
        return;
    };
    for (name, bytes) in samples {
        let (report, st) = common::validate_file(&name, &bytes, &FabricSettings::default());
        eprintln!(
            "{name}: {} objects, {} checked, {} unchecked {:?}",
            report.objects.len(),
            st.checked,
            st.unchecked,
            st.unchecked_reasons
        );
        assert!(
            st.unchecked_reasons
                .keys()
                .all(|r| r.contains("SwitchProfile vs")),
            "{name}: {:?}",
            st.unchecked_reasons
        );
    }
}
