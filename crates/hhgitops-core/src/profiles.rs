//! The fabric's built-in SwitchProfiles (CATALOGUE §3b.6, Appendix B), embedded as data: the files of
//! `data/switchprofiles/` (each with its provenance header; see the README there) are parsed once, on first use.
//!
//! Which of them a fabric has depends on its settings: the base set always, the Celestica SONiC+ (`-clsp`) set
//! only with `includeSONiCCLSPlus`, `cumulus-vx` only with `includeCumulus`. The fabric replaces the spec of a
//! built-in profile with its own and rejects any other profile unless `allowExtraSwitchProfiles` is set, so a
//! switch's profile is looked up here first.

use std::sync::LazyLock;

use crate::kinds::Kind;
use crate::model::wiring::SwitchProfileSpec;
use crate::model::{decode_object, Object, Spec};
use crate::settings::FabricSettings;
use crate::yaml::{self, Limits};

/// Which part of the catalogue a built-in profile belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileSet {
    /// SONiC Broadcom: always registered.
    Base,
    /// Celestica SONiC+: registered with `includeSONiCCLSPlus`.
    ClsPlus,
    /// Cumulus: registered with `includeCumulus`.
    Cumulus,
}

impl ProfileSet {
    /// Whether a fabric with these settings registers the set.
    pub fn included(self, settings: &FabricSettings) -> bool {
        match self {
            ProfileSet::Base => true,
            ProfileSet::ClsPlus => settings.include_sonic_cls_plus,
            ProfileSet::Cumulus => settings.include_cumulus,
        }
    }

    /// The fabric setting that includes the set (`None` for the base set).
    pub fn setting(self) -> Option<&'static str> {
        match self {
            ProfileSet::Base => None,
            ProfileSet::ClsPlus => Some("includeSONiCCLSPlus"),
            ProfileSet::Cumulus => Some("includeCumulus"),
        }
    }
}

/// One built-in profile.
#[derive(Debug)]
pub struct BuiltinProfile {
    pub name: &'static str,
    pub set: ProfileSet,
    /// The object as the fabric serves it (annotation `fabric.githedgehog.com/ports` included).
    pub object: Object,
}

impl BuiltinProfile {
    pub fn spec(&self) -> &SwitchProfileSpec {
        match &self.object.spec {
            Spec::SwitchProfile(s) => s,
            // Only SwitchProfiles are loaded (see `load`).
            _ => &EMPTY,
        }
    }
}

static EMPTY: LazyLock<SwitchProfileSpec> = LazyLock::new(SwitchProfileSpec::default);

/// The embedded files, in catalogue order.
const FILES: &[(&str, ProfileSet, &[u8])] = &[
    (
        "celestica-ds2000",
        ProfileSet::Base,
        include_bytes!("../data/switchprofiles/celestica-ds2000.yaml"),
    ),
    (
        "celestica-ds3000",
        ProfileSet::Base,
        include_bytes!("../data/switchprofiles/celestica-ds3000.yaml"),
    ),
    (
        "celestica-ds4000",
        ProfileSet::Base,
        include_bytes!("../data/switchprofiles/celestica-ds4000.yaml"),
    ),
    (
        "celestica-ds4101",
        ProfileSet::Base,
        include_bytes!("../data/switchprofiles/celestica-ds4101.yaml"),
    ),
    (
        "celestica-ds5000",
        ProfileSet::Base,
        include_bytes!("../data/switchprofiles/celestica-ds5000.yaml"),
    ),
    (
        "dell-s5232f-on",
        ProfileSet::Base,
        include_bytes!("../data/switchprofiles/dell-s5232f-on.yaml"),
    ),
    (
        "dell-s5248f-on",
        ProfileSet::Base,
        include_bytes!("../data/switchprofiles/dell-s5248f-on.yaml"),
    ),
    (
        "dell-z9332f-on",
        ProfileSet::Base,
        include_bytes!("../data/switchprofiles/dell-z9332f-on.yaml"),
    ),
    (
        "edgecore-dcs203",
        ProfileSet::Base,
        include_bytes!("../data/switchprofiles/edgecore-dcs203.yaml"),
    ),
    (
        "edgecore-dcs204",
        ProfileSet::Base,
        include_bytes!("../data/switchprofiles/edgecore-dcs204.yaml"),
    ),
    (
        "edgecore-dcs240",
        ProfileSet::Base,
        include_bytes!("../data/switchprofiles/edgecore-dcs240.yaml"),
    ),
    (
        "edgecore-dcs501",
        ProfileSet::Base,
        include_bytes!("../data/switchprofiles/edgecore-dcs501.yaml"),
    ),
    (
        "edgecore-eps202",
        ProfileSet::Base,
        include_bytes!("../data/switchprofiles/edgecore-eps202.yaml"),
    ),
    (
        "edgecore-eps203",
        ProfileSet::Base,
        include_bytes!("../data/switchprofiles/edgecore-eps203.yaml"),
    ),
    (
        "supermicro-sse-c4632sb",
        ProfileSet::Base,
        include_bytes!("../data/switchprofiles/supermicro-sse-c4632sb.yaml"),
    ),
    (
        "vs",
        ProfileSet::Base,
        include_bytes!("../data/switchprofiles/vs.yaml"),
    ),
    (
        "celestica-ds2000-clsp",
        ProfileSet::ClsPlus,
        include_bytes!("../data/switchprofiles/celestica-ds2000-clsp.yaml"),
    ),
    (
        "celestica-ds3000-clsp",
        ProfileSet::ClsPlus,
        include_bytes!("../data/switchprofiles/celestica-ds3000-clsp.yaml"),
    ),
    (
        "celestica-ds4000-clsp",
        ProfileSet::ClsPlus,
        include_bytes!("../data/switchprofiles/celestica-ds4000-clsp.yaml"),
    ),
    (
        "celestica-ds4101-clsp",
        ProfileSet::ClsPlus,
        include_bytes!("../data/switchprofiles/celestica-ds4101-clsp.yaml"),
    ),
    (
        "celestica-ds5000-clsp",
        ProfileSet::ClsPlus,
        include_bytes!("../data/switchprofiles/celestica-ds5000-clsp.yaml"),
    ),
    (
        "vs-clsp",
        ProfileSet::ClsPlus,
        include_bytes!("../data/switchprofiles/vs-clsp.yaml"),
    ),
    (
        "cumulus-vx",
        ProfileSet::Cumulus,
        include_bytes!("../data/switchprofiles/cumulus-vx.yaml"),
    ),
];

/// Names of every built-in profile, whichever settings include them.
pub const NAMES: [&str; 23] = [
    "celestica-ds2000",
    "celestica-ds3000",
    "celestica-ds4000",
    "celestica-ds4101",
    "celestica-ds5000",
    "dell-s5232f-on",
    "dell-s5248f-on",
    "dell-z9332f-on",
    "edgecore-dcs203",
    "edgecore-dcs204",
    "edgecore-dcs240",
    "edgecore-dcs501",
    "edgecore-eps202",
    "edgecore-eps203",
    "supermicro-sse-c4632sb",
    "vs",
    "celestica-ds2000-clsp",
    "celestica-ds3000-clsp",
    "celestica-ds4000-clsp",
    "celestica-ds4101-clsp",
    "celestica-ds5000-clsp",
    "vs-clsp",
    "cumulus-vx",
];

fn load((name, set, bytes): &(&'static str, ProfileSet, &'static [u8])) -> Option<BuiltinProfile> {
    let docs = yaml::parse_stream(bytes, &Limits::default()).ok()?;
    let root = docs.into_iter().next()?.root?;
    let object = decode_object(Kind::SwitchProfile, &root).ok()?;
    (object.name() == *name).then_some(BuiltinProfile {
        name,
        set: *set,
        object,
    })
}

/// Every built-in profile that parsed (all of them: a test checks it), in catalogue order.
static PROFILES: LazyLock<Vec<BuiltinProfile>> =
    LazyLock::new(|| FILES.iter().filter_map(load).collect());

/// Every built-in profile, whichever settings include them.
pub fn all() -> &'static [BuiltinProfile] {
    &PROFILES
}

/// The built-in profile of that name, whether or not the fabric includes it.
pub fn builtin(name: &str) -> Option<&'static BuiltinProfile> {
    PROFILES.iter().find(|p| p.name == name)
}

/// The built-in profile of that name if a fabric with these settings registers it.
pub fn registered(name: &str, settings: &FabricSettings) -> Option<&'static BuiltinProfile> {
    builtin(name).filter(|p| p.set.included(settings))
}

/// Whether `name` is a built-in profile of any set.
pub fn is_builtin(name: &str) -> bool {
    NAMES.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_profile_parses_and_is_named_like_its_file() {
        assert_eq!(all().len(), FILES.len());
        assert_eq!(FILES.len(), 23);
        for (name, _, _) in FILES {
            let p = builtin(name).unwrap();
            assert_eq!(p.object.name(), *name);
            assert!(
                p.spec()
                    .ports
                    .as_ref()
                    .is_some_and(|m| m.contains_key("M1")),
                "{name}"
            );
        }
    }

    #[test]
    fn selection_follows_the_settings() {
        let base = FabricSettings::default();
        assert!(registered("vs", &base).is_some());
        assert!(registered("vs-clsp", &base).is_none());
        assert!(registered("cumulus-vx", &base).is_none());
        let clsp = FabricSettings {
            include_sonic_cls_plus: true,
            ..FabricSettings::default()
        };
        assert!(registered("celestica-ds5000-clsp", &clsp).is_some());
        assert!(registered("cumulus-vx", &clsp).is_none());
        assert!(is_builtin("cumulus-vx"));
        assert!(!is_builtin("my-switch"));
    }
}
