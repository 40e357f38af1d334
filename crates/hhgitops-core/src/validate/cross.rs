//! Cross-object rules over a whole fabric state: references resolve, ports/IPs/VLANs/subnets do not collide, and
//! the checks that need another object's data (switch profiles' ports and features, namespaces' ranges).
//!
//! Errors are located at the referencing field of the referencing object. When two objects collide, the error goes
//! to the one inserted into the state later (see [`crate::state`]). Checks that need data the state does not have
//! (a built-in SwitchProfile whose port map is not embedded) are skipped and counted as unchecked.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::diag::Diagnostic;
use crate::field_path;
use crate::kinds::Kind;
use crate::model::gateway::{PeeringEntry, EXTERNAL_PEER_PREFIX};
use crate::model::ip::{fmt_addr, Ipv4Prefix};
use crate::model::vpc::{ExternalSpec, VPCSpec};
use crate::model::wiring::*;
use crate::model::Spec;
use crate::path::FieldPath;
use crate::profiles;
use crate::settings::FabricSettings;
use crate::state::{FabricState, StateEntry};

use super::object::wiring_helpers::merged_vlan_ranges;
use super::StateReport;

struct Cx<'a> {
    state: &'a FabricState,
    settings: &'a FabricSettings,
    errors: Vec<Diagnostic>,
    checked: usize,
    unchecked: usize,
    /// (SwitchProfile name, what was skipped) → count; formatted once at the end.
    unchecked_reasons: HashMap<(&'a str, &'static str), usize>,
}

impl<'a> Cx<'a> {
    fn err(&mut self, e: &StateEntry, path: FieldPath, message: impl Into<String>) {
        let span = match &e.origin.root {
            Some(root) => super::check::locate(root, &path),
            None => e.origin.span,
        };
        let d = Diagnostic::new(message)
            .in_file(&*e.origin.file)
            .in_document(e.origin.document)
            .at(span)
            .with_path(&path)
            .for_object(e.object.kind().name(), e.object.name());
        self.errors.push(d);
    }

    /// Counts a check skipped because SwitchProfile `profile` is not available.
    fn skip(&mut self, profile: &'a str, what: &'static str) {
        self.unchecked += 1;
        *self.unchecked_reasons.entry((profile, what)).or_insert(0) += 1;
    }

    /// A reference to an object of `kind`; records an error when it does not resolve.
    fn reference(
        &mut self,
        e: &StateEntry,
        path: impl FnOnce() -> FieldPath,
        kind: Kind,
        name: &str,
        what: &str,
    ) -> Option<&'a StateEntry> {
        self.checked += 1;
        let found = self.state.get(kind, name);
        if found.is_none() {
            self.err(
                e,
                path(),
                format!(
                    "{what} {name:?} does not exist: expected the name of {} {kind} in the fabric",
                    article(kind.name())
                ),
            );
        }
        found
    }

    fn switch(&self, name: &str) -> Option<&'a SwitchSpec> {
        match self.state.get(Kind::Switch, name).map(|e| &e.defaulted) {
            Some(Spec::Switch(s)) => Some(s),
            _ => None,
        }
    }

    /// The profile a switch gets: a built-in profile the fabric registers (its spec replaces any copy in the
    /// state), else the state's SwitchProfile.
    fn profile(&self, name: &str) -> Option<&'a SwitchProfileSpec> {
        if let Some(b) = profiles::registered(name, self.settings) {
            return Some(b.spec());
        }
        match self
            .state
            .get(Kind::SwitchProfile, name)
            .map(|e| &e.defaulted)
        {
            Some(Spec::SwitchProfile(s)) => Some(s),
            _ => None,
        }
    }

    fn vpc(&self, name: &str) -> Option<&'a VPCSpec> {
        match self.state.get(Kind::VPC, name).map(|e| &e.defaulted) {
            Some(Spec::VPC(s)) => Some(s),
            _ => None,
        }
    }

    fn external(&self, name: &str) -> Option<&'a ExternalSpec> {
        match self.state.get(Kind::External, name).map(|e| &e.defaulted) {
            Some(Spec::External(s)) => Some(s),
            _ => None,
        }
    }

    /// Whether the switch's profile allows the API port `port` (`None` when the profile is not in the state).
    /// Looked up in the profile itself, never copied into a set per switch: a fabric's switches share a few
    /// profiles, and a set of port names per switch grows with switches × ports.
    fn api_port_exists(&self, switch: &str, port: &str) -> Option<bool> {
        let sw = self.switch(switch)?;
        let profile = self.profile(sw.profile.as_deref().unwrap_or(""))?;
        Some(api_port_exists(profile, sw, port))
    }
}

/// The built-in profiles a fabric with these settings registers, for messages.
fn registered_names(settings: &FabricSettings) -> String {
    profiles::all()
        .iter()
        .filter(|p| p.set.included(settings))
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `a` or `an` for a kind name.
fn article(word: &str) -> &'static str {
    if word.starts_with(['A', 'E', 'I', 'O', 'U']) {
        "an"
    } else {
        "a"
    }
}

fn entries(state: &FabricState, kind: Kind) -> Vec<&StateEntry> {
    state
        .of_kind_in_order(kind)
        .into_iter()
        .map(|(_, e)| e)
        .collect()
}

/// Runs every cross-object rule.
pub(crate) fn validate(state: &FabricState, settings: &FabricSettings) -> StateReport {
    let mut cx = Cx {
        state,
        settings,
        errors: Vec::new(),
        checked: 0,
        unchecked: 0,
        unchecked_reasons: HashMap::new(),
    };
    switches(&mut cx);
    connections(&mut cx);
    vpcs(&mut cx);
    vpc_attachments(&mut cx);
    vpc_peerings(&mut cx);
    externals(&mut cx);
    external_attachments(&mut cx);
    external_peerings(&mut cx);
    gateways(&mut cx);
    // Grouped by file and in reading order (stable, so errors at one position keep their rule order).
    let mut errors = cx.errors;
    errors.sort_by(|a, b| {
        (&a.file, a.document, a.line, a.column).cmp(&(&b.file, b.document, b.line, b.column))
    });
    StateReport {
        errors,
        checked: cx.checked,
        unchecked: cx.unchecked,
        unchecked_reasons: cx
            .unchecked_reasons
            .into_iter()
            .map(|((profile, what), n)| (format!("SwitchProfile {profile} {what}"), n))
            .collect(),
    }
}

// ---------------------------------------------------------------------------------------------------- switches

/// Whether `name` is an API port name a profile allows for a switch (`GetAPI2NOSPortsFor`): a management or
/// data port by name, or `<port>/<n>` for a sub-port of a broken-out port (1 ≤ n ≤ the lanes of the switch's
/// breakout mode for that port, else the profile's default mode; `n` written without leading zeros).
fn api_port_exists(p: &SwitchProfileSpec, sw: &SwitchSpec, name: &str) -> bool {
    let ports = p.ports.as_ref();
    if ports.is_some_and(|m| m.contains_key(name)) {
        return true;
    }
    let Some((base, lane)) = name.rsplit_once('/') else {
        return false;
    };
    let Some(n) = lane
        .parse::<usize>()
        .ok()
        .filter(|n| *n >= 1 && n.to_string() == lane)
    else {
        return false;
    };
    let Some(port) = ports.and_then(|m| m.get(base)) else {
        return false;
    };
    if port.management == Some(true) {
        return false;
    }
    let breakout = port
        .profile
        .as_deref()
        .and_then(|pr| p.port_profiles.as_ref().and_then(|m| m.get(pr)))
        .and_then(|pp| pp.breakout.as_ref());
    let Some(b) = breakout else {
        return false;
    };
    let mode = sw
        .port_breakouts
        .as_ref()
        .and_then(|m| m.get(base))
        .or(b.default.as_ref());
    mode.and_then(|m| b.supported.as_ref().and_then(|s| s.get(m)))
        .is_some_and(|m| n <= m.offsets.as_ref().map_or(0, Vec::len))
}

fn switches(cx: &mut Cx<'_>) {
    let list = entries(cx.state, Kind::Switch);
    for e in &list {
        // References are reported at the author's positions (defaulting sorts groups and namespaces); the port
        // settings are judged defaulted (`SPEED_` stripped).
        let (Spec::Switch(authored), Spec::Switch(s)) = (&e.object.spec, &e.defaulted) else {
            continue;
        };
        switch_references(cx, e, authored, s);
    }
    switch_uniqueness(cx, &list);
}

fn switch_references<'a>(
    cx: &mut Cx<'a>,
    e: &'a StateEntry,
    s: &'a SwitchSpec,
    stored: &'a SwitchSpec,
) {
    // VLAN namespaces exist and their ranges do not overlap.
    let defaulted = s.vlan_namespaces.as_ref().is_none_or(|v| v.is_empty());
    let mut ranges: Vec<(u16, u16, &str)> = Vec::new();
    for (i, ns) in s.effective_vlan_namespaces().into_iter().enumerate() {
        if ns.is_empty() {
            continue;
        }
        let path = if defaulted {
            field_path!("spec", "vlanNamespaces")
        } else {
            field_path!("spec", "vlanNamespaces", i)
        };
        let what = if defaulted {
            "the default VLAN namespace (vlanNamespaces is empty),"
        } else {
            "VLAN namespace"
        };
        if let Some(n) = cx.reference(e, || path, Kind::VLANNamespace, ns, what) {
            if let Spec::VLANNamespace(v) = &n.defaulted {
                for (a, b) in merged_vlan_ranges(v.ranges.as_deref().unwrap_or(&[])) {
                    ranges.push((a, b, ns));
                }
            }
        }
    }
    if ranges.len() > 1 {
        cx.checked += 1;
        ranges.sort_unstable();
        for w in ranges.windows(2) {
            if w[0].1 >= w[1].0 && w[0].2 != w[1].2 {
                cx.err(
                    e,
                    field_path!("spec", "vlanNamespaces"),
                    format!("VLAN namespaces {} ({}-{}) and {} ({}-{}) overlap: expected namespaces with disjoint ranges", w[0].2, w[0].0, w[0].1, w[1].2, w[1].0, w[1].1),
                );
                break;
            }
        }
    }
    // Switch groups, including the redundancy group (the webhook appends it to groups).
    let groups = s.groups.as_deref().unwrap_or(&[]);
    for (i, g) in groups.iter().enumerate() {
        if !g.is_empty() {
            cx.reference(
                e,
                || field_path!("spec", "groups", i),
                Kind::SwitchGroup,
                g,
                "switch group",
            );
        }
    }
    let rg = s.redundancy_group();
    if !rg.is_empty() && !groups.iter().any(|g| g == rg) {
        cx.reference(
            e,
            || field_path!("spec", "redundancy", "group"),
            Kind::SwitchGroup,
            rg,
            "redundancy group",
        );
    }
    // The profile: built in and registered, in the state, built in but not included, or missing.
    let profile_name = s.profile.as_deref().unwrap_or("");
    if profile_name.is_empty() {
        return;
    }
    cx.checked += 1;
    match cx.profile(profile_name) {
        Some(p) => switch_profile_checks(cx, e, stored, p),
        None => {
            let msg = match profiles::builtin(profile_name).and_then(|b| b.set.setting()) {
                Some(setting) => format!(
                    "SwitchProfile {profile_name:?} is a built-in profile the fabric registers only with {setting} (fabric setting {setting} = false): expected a profile of the fabric's catalogue ({})",
                    registered_names(cx.settings)
                ),
                None => format!(
                    "SwitchProfile {profile_name:?} does not exist: expected a SwitchProfile in the fabric or a built-in profile ({})",
                    registered_names(cx.settings)
                ),
            };
            cx.err(e, field_path!("spec", "profile"), msg);
            cx.skip(
                profile_name,
                "does not exist: switch port settings and features",
            );
        }
    }
}

fn switch_profile_checks(cx: &mut Cx<'_>, e: &StateEntry, s: &SwitchSpec, p: &SwitchProfileSpec) {
    let pname = s.profile.as_deref().unwrap_or("");
    let empty_ports = BTreeMap::new();
    let ports = p.ports.as_ref().unwrap_or(&empty_ports);
    let empty_profiles = BTreeMap::new();
    let profiles = p.port_profiles.as_ref().unwrap_or(&empty_profiles);
    let no_features = SwitchProfileFeatures::default();
    let features = p.features.as_ref().unwrap_or(&no_features);
    let strip = |v: &str| v.strip_prefix("SPEED_").unwrap_or(v).to_string();

    for (g, speed) in s.port_group_speeds.iter().flatten() {
        cx.checked += 1;
        let path = field_path!("spec", "portGroupSpeeds", g);
        let Some(group) = p.port_groups.as_ref().and_then(|m| m.get(g)) else {
            cx.err(
                e,
                path,
                format!("port group {g:?} does not exist in SwitchProfile {pname}"),
            );
            continue;
        };
        let sp = group
            .profile
            .as_deref()
            .and_then(|pr| profiles.get(pr))
            .and_then(|pp| pp.speed.as_ref());
        let speed = strip(speed);
        match sp {
            None => cx.err(
                e,
                path,
                format!("port group {g:?} of SwitchProfile {pname} has no configurable speeds"),
            ),
            Some(sp) if !sp.supported.iter().flatten().any(|x| *x == speed) => cx.err(
                e,
                path,
                format!(
                    "port group {g:?} does not support speed {speed}: expected one of {}",
                    sp.supported.clone().unwrap_or_default().join(", ")
                ),
            ),
            _ => {}
        }
    }
    for (port, speed) in s.port_speeds.iter().flatten() {
        cx.checked += 1;
        let path = field_path!("spec", "portSpeeds", port);
        let Some(pp) = ports.get(port) else {
            cx.err(
                e,
                path,
                format!("port {port:?} does not exist in SwitchProfile {pname}"),
            );
            continue;
        };
        let sp = pp
            .profile
            .as_deref()
            .and_then(|pr| profiles.get(pr))
            .and_then(|x| x.speed.as_ref());
        let speed = strip(speed);
        match sp {
            None => cx.err(
                e,
                path,
                format!("port {port:?} has no configurable speeds in SwitchProfile {pname}"),
            ),
            Some(sp) if !sp.supported.iter().flatten().any(|x| *x == speed) => cx.err(
                e,
                path,
                format!(
                    "port {port:?} does not support speed {speed}: expected one of {}",
                    sp.supported.clone().unwrap_or_default().join(", ")
                ),
            ),
            _ => {}
        }
    }
    for (port, mode) in s.port_breakouts.iter().flatten() {
        cx.checked += 1;
        let path = field_path!("spec", "portBreakouts", port);
        let Some(pp) = ports.get(port) else {
            cx.err(
                e,
                path,
                format!("port {port:?} does not exist in SwitchProfile {pname}"),
            );
            continue;
        };
        let b = pp
            .profile
            .as_deref()
            .and_then(|pr| profiles.get(pr))
            .and_then(|x| x.breakout.as_ref());
        match b {
            None => cx.err(
                e,
                path,
                format!("port {port:?} cannot be broken out in SwitchProfile {pname}"),
            ),
            Some(b) if !b.supported.as_ref().is_some_and(|m| m.contains_key(mode)) => {
                let modes: Vec<&str> = b
                    .supported
                    .iter()
                    .flatten()
                    .map(|(k, _)| k.as_str())
                    .collect();
                cx.err(
                    e,
                    path,
                    format!(
                        "port {port:?} does not support breakout {mode}: expected one of {}",
                        modes.join(", ")
                    ),
                );
            }
            _ => {}
        }
    }
    // Ports whose auto-negotiation and FEC may be configured, and the ports port locators may name.
    let mut autoneg: HashMap<String, bool> = HashMap::new();
    let mut fec: HashSet<String> = HashSet::new();
    let mut available: HashSet<String> = HashSet::new();
    let mut total_ports: u32 = 0;
    let mut pipeline_ports: BTreeMap<&str, u32> = BTreeMap::new();
    for (name, port) in ports {
        if port.management == Some(true) {
            continue;
        }
        let pp = port.profile.as_deref().and_then(|pr| profiles.get(pr));
        let mut count = 1u32;
        match pp {
            Some(pp) if pp.breakout.is_some() => {
                let b = pp.breakout.as_ref();
                let mode = s
                    .port_breakouts
                    .as_ref()
                    .and_then(|m| m.get(name))
                    .or(b.and_then(|b| b.default.as_ref()));
                let n = mode
                    .and_then(|m| b.and_then(|b| b.supported.as_ref()).and_then(|s| s.get(m)))
                    .map_or(0, |m| m.offsets.as_ref().map_or(0, Vec::len));
                count = n as u32;
                // A breakout port in a one-lane mode takes FEC settings under its own name too.
                if n == 1 {
                    fec.insert(name.clone());
                }
                for i in 1..=n {
                    let sub = format!("{name}/{i}");
                    autoneg.insert(sub.clone(), pp.auto_neg_allowed == Some(true));
                    fec.insert(sub.clone());
                    available.insert(sub);
                }
            }
            Some(pp) => {
                autoneg.insert(name.clone(), pp.auto_neg_allowed == Some(true));
                fec.insert(name.clone());
                available.insert(name.clone());
            }
            None => {
                fec.insert(name.clone());
                available.insert(name.clone());
            }
        }
        total_ports += count;
        if let Some(pl) = port.pipeline.as_deref() {
            *pipeline_ports.entry(pl).or_insert(0) += count;
        }
    }
    for port in s.port_auto_negs.iter().flatten().map(|(k, _)| k) {
        cx.checked += 1;
        if autoneg.get(port) != Some(&true) {
            cx.err(e, field_path!("spec", "portAutoNegs", port), format!("port {port:?} does not support configuring auto-negotiation in SwitchProfile {pname}"));
        }
    }
    for port in s.port_fecs.iter().flatten().map(|(k, _)| k) {
        cx.checked += 1;
        if !fec.contains(port) {
            cx.err(
                e,
                field_path!("spec", "portFECs", port),
                format!("port {port:?} does not support configuring FEC in SwitchProfile {pname} (a broken-out port is configured per sub-port, e.g. E1/53/1)"),
            );
        }
    }
    if let Some(locators) = &s.port_locators {
        cx.checked += 1;
        if !locators.is_empty() && features.port_locator != Some(true) {
            cx.err(
                e,
                field_path!("spec", "portLocators"),
                format!("port locators are not supported by SwitchProfile {pname}"),
            );
        }
        for port in locators.keys() {
            if port != "*" && !available.contains(port) {
                cx.err(e, field_path!("spec", "portLocators", port), format!("port {port:?} is not a port of SwitchProfile {pname}: expected a port such as E1/1 (or E1/55/1 for a sub-port) or \"*\""));
            }
        }
    }
    let feature_checks = [
        (s.roce == Some(true), features.roce, "roce", "RoCEv2"),
        (
            s.ecmp.as_ref().and_then(|x| x.roce_qpn) == Some(true),
            features.ecmp_roce_qpn,
            "ecmp",
            "ECMP RoCE QPN hashing",
        ),
        (
            s.redundancy_type() == "eslag",
            features.eslag,
            "redundancy",
            "ESLAG",
        ),
    ];
    for (used, supported, field, what) in feature_checks {
        if used {
            cx.checked += 1;
            if supported != Some(true) {
                cx.err(
                    e,
                    field_path!("spec", field),
                    format!("{what} is not supported by SwitchProfile {pname}"),
                );
            }
        }
    }
    cx.checked += 1;
    if let Some(max) = p.max_ports.filter(|m| *m > 0) {
        if total_ports > u32::from(max) {
            cx.err(e, field_path!("spec", "portBreakouts"), format!("the switch would have {total_ports} ports: SwitchProfile {pname} allows at most {max}"));
        }
    }
    for (pl, n) in pipeline_ports {
        match p.pipelines.as_ref().and_then(|m| m.get(pl)) {
            Some(cfg) => {
                let max = u32::from(cfg.max_ports.unwrap_or(0));
                if n > max {
                    cx.err(e, field_path!("spec", "portBreakouts"), format!("pipeline {pl} of SwitchProfile {pname} would have {n} ports: expected at most {max}"));
                }
            }
            None => cx.err(
                e,
                field_path!("spec", "profile"),
                format!("SwitchProfile {pname} references the unknown pipeline {pl}"),
            ),
        }
    }
}

fn switch_uniqueness(cx: &mut Cx<'_>, list: &[&StateEntry]) {
    // A collision with a gateway is reported on the gateway (see `gateways`), once.
    let mut protocol: HashMap<u32, String> = HashMap::new();
    let mut vtep: HashMap<u32, String> = HashMap::new();
    let mut mgmt: HashMap<u32, &str> = HashMap::new();
    let mut asns: HashMap<u32, &str> = HashMap::new();
    for e in list {
        let Spec::Switch(s) = &e.defaulted else {
            continue;
        };
        let name = e.object.name();
        let mclag = s.redundancy_type() == "mclag";
        if let Some(p) = s.ip.as_deref().and_then(|v| Ipv4Prefix::parse(v).ok()) {
            cx.checked += 1;
            if let Some(other) = mgmt.get(&p.addr) {
                let other = other.to_string();
                cx.err(
                    e,
                    field_path!("spec", "ip"),
                    format!(
                        "management IP {} is already used by switch {other}",
                        fmt_addr(p.addr)
                    ),
                );
            } else {
                mgmt.insert(p.addr, name);
            }
        }
        if let Some(p) = s
            .protocol_ip
            .as_deref()
            .and_then(|v| Ipv4Prefix::parse(v).ok())
        {
            cx.checked += 1;
            if let Some(other) = protocol.get(&p.addr) {
                let other = other.clone();
                cx.err(
                    e,
                    field_path!("spec", "protocolIP"),
                    format!(
                        "protocol IP {} is already used by {other}",
                        fmt_addr(p.addr)
                    ),
                );
            } else {
                protocol.insert(p.addr, format!("switch {name}"));
            }
        }
        if !s.is_leaf() {
            continue;
        }
        if let Some(asn) = s.asn.filter(|a| *a != 0) {
            cx.checked += 1;
            match asns.get(&asn) {
                Some(other) if !mclag => {
                    let other = other.to_string();
                    cx.err(
                        e,
                        field_path!("spec", "asn"),
                        format!("leaf ASN {asn} is already used by leaf {other}"),
                    );
                }
                Some(_) => {}
                None => {
                    asns.insert(asn, name);
                }
            }
        }
        if let Some(p) = s.vtep_ip.as_deref().and_then(|v| Ipv4Prefix::parse(v).ok()) {
            cx.checked += 1;
            match vtep.get(&p.addr) {
                Some(other) if !mclag => {
                    let other = other.clone();
                    cx.err(
                        e,
                        field_path!("spec", "vtepIP"),
                        format!("VTEP IP {} is already used by {other}", fmt_addr(p.addr)),
                    );
                }
                Some(_) => {}
                None => {
                    vtep.insert(p.addr, format!("switch {name}"));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------- connections

fn connections(cx: &mut Cx<'_>) {
    let list = entries(cx.state, Kind::Connection);
    let mut used_ports: HashMap<&str, &str> = HashMap::with_capacity(list.len() * 4);
    let mut used_ips: HashMap<u32, &str> = HashMap::new();
    for e in &list {
        let Spec::Connection(c) = &e.defaulted else {
            continue;
        };
        let Some(t) = c.connection_type() else {
            continue;
        };
        if matches!(t, ConnectionType::MCLAG | ConnectionType::MCLAGDomain) {
            continue;
        }
        let name = e.object.name();
        let ports = c.ports();
        // Devices exist; ports exist in the switch's profile.
        let mut seen_devices: HashSet<&str> = HashSet::new();
        let mut eslag_group: Option<(&str, &str)> = None;
        let mut eslag_switches: Vec<&str> = Vec::new();
        for pr in &ports {
            let Some((dev, local)) = split_port(pr.port) else {
                continue;
            };
            match pr.role {
                PortRole::Gateway => continue,
                PortRole::Server => {
                    if seen_devices.insert(dev) {
                        cx.reference(e, || pr.path(), Kind::Server, dev, "server");
                    }
                }
                PortRole::Switch => {
                    if seen_devices.insert(dev)
                        && cx
                            .reference(e, || pr.path(), Kind::Switch, dev, "switch")
                            .is_some()
                        && t == ConnectionType::ESLAG
                    {
                        eslag_switches.push(dev);
                    }
                    if cx.switch(dev).is_none() {
                        continue;
                    }
                    match cx.api_port_exists(dev, local) {
                        Some(true) => cx.checked += 1,
                        Some(false) => {
                            cx.checked += 1;
                            let profile = cx
                                .switch(dev)
                                .and_then(|s| s.profile.clone())
                                .unwrap_or_default();
                            cx.err(e, pr.path(), format!("port {local} does not exist on switch {dev} (SwitchProfile {profile})"));
                        }
                        None => {
                            let profile = cx
                                .switch(dev)
                                .and_then(|s| s.profile.as_deref())
                                .unwrap_or("");
                            cx.skip(
                                profile,
                                "is not in the fabric: connection ports exist on the switch",
                            );
                        }
                    }
                }
            }
        }
        for sw in eslag_switches {
            let Some(s) = cx.switch(sw) else { continue };
            let (g, ty) = (s.redundancy_group(), s.redundancy_type());
            cx.checked += 1;
            if !g.is_empty() {
                match eslag_group {
                    Some((first, other)) if first != g => {
                        cx.err(e, field_path!("spec", "eslag"), format!("all switches of an ESLAG connection must be in one redundancy group: {sw} is in {g}, {other} in {first}"));
                    }
                    None => eslag_group = Some((g, sw)),
                    _ => {}
                }
            }
            if ty != "eslag" {
                let found = if ty.is_empty() {
                    "none".to_string()
                } else {
                    ty.to_string()
                };
                cx.err(e, field_path!("spec", "eslag"), format!("switch {sw} of an ESLAG connection must have redundancy type eslag, found {found}"));
            }
        }
        if t == ConnectionType::ESLAG
            && eslag_group.is_none()
            && seen_devices.iter().any(|d| cx.switch(d).is_some())
        {
            cx.err(
                e,
                field_path!("spec", "eslag"),
                "the switches of an ESLAG connection must have a redundancy group",
            );
        }
        // Ports are used by one connection only.
        let mut own: HashSet<&str> = HashSet::new();
        for pr in &ports {
            let key = port_key(pr.port);
            if !own.insert(key) {
                continue;
            }
            cx.checked += 1;
            match used_ports.get(&key) {
                Some(other) => {
                    let other = other.to_string();
                    cx.err(
                        e,
                        pr.path(),
                        format!("port {} is already used by connection {other}", pr.port),
                    );
                }
                None => {
                    used_ports.insert(key, name);
                }
            }
        }
        // Fabric, mesh and gateway link IPs are used once.
        let field = t.field();
        for (i, (an, a), (bn, b)) in super::object::wiring_helpers::ip_links(c) {
            for (end, ip) in [(an, a), (bn, b)] {
                let Some(p) = ip.and_then(|v| Ipv4Prefix::parse(v).ok()) else {
                    continue;
                };
                cx.checked += 1;
                match used_ips.get(&p.addr) {
                    Some(other) if *other != name => {
                        let other = other.to_string();
                        cx.err(
                            e,
                            field_path!("spec", field, "links", i, end, "ip"),
                            format!(
                                "IP {} is already used by connection {other}",
                                fmt_addr(p.addr)
                            ),
                        );
                    }
                    Some(_) => {}
                    None => {
                        used_ips.insert(p.addr, name);
                    }
                }
            }
        }
        if let Some(vpc) = c
            .static_external
            .as_ref()
            .and_then(|s| s.within_vpc.as_deref())
            .filter(|v| !v.is_empty())
        {
            cx.reference(
                e,
                || field_path!("spec", "staticExternal", "withinVPC"),
                Kind::VPC,
                vpc,
                "VPC",
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------------- VPCs

struct NsPrefix<'a> {
    prefix: Ipv4Prefix,
    seq: u64,
    vpc: &'a str,
    entry: &'a StateEntry,
    subnet: &'a str,
    /// The hostBGP extra prefix key, when the prefix is one.
    extra: Option<&'a str>,
}

fn subnet_path(subnet: &str, extra: Option<&str>) -> FieldPath {
    match extra {
        Some(x) => field_path!("spec", "subnets", subnet, "hostBGPExtraPrefixes", x),
        None => field_path!("spec", "subnets", subnet, "subnet"),
    }
}

fn vpcs(cx: &mut Cx<'_>) {
    let list = entries(cx.state, Kind::VPC);
    let ipv4_prefixes: HashMap<&str, Vec<Ipv4Prefix>> = cx
        .state
        .of_kind(Kind::IPv4Namespace)
        .filter_map(|(name, e)| match &e.defaulted {
            Spec::IPv4Namespace(n) => Some((
                name,
                n.subnets
                    .iter()
                    .flatten()
                    .filter_map(|s| Ipv4Prefix::parse(s).ok())
                    .collect(),
            )),
            _ => None,
        })
        .collect();
    let vlan_ranges: HashMap<&str, Vec<(u16, u16)>> = cx
        .state
        .of_kind(Kind::VLANNamespace)
        .filter_map(|(name, e)| match &e.defaulted {
            Spec::VLANNamespace(n) => {
                Some((name, merged_vlan_ranges(n.ranges.as_deref().unwrap_or(&[]))))
            }
            _ => None,
        })
        .collect();
    let mut by_ns: HashMap<&str, Vec<NsPrefix<'_>>> = HashMap::new();
    let mut vlans: HashMap<(&str, u16), (&str, &str)> = HashMap::new();
    for e in &list {
        let Spec::VPC(v) = &e.defaulted else {
            continue;
        };
        let name = e.object.name();
        let ipns = v.ipv4_namespace();
        let vlanns = v.vlan_namespace();
        cx.reference(
            e,
            || field_path!("spec", "ipv4Namespace"),
            Kind::IPv4Namespace,
            ipns,
            "IPv4 namespace",
        );
        let ns_prefixes = ipv4_prefixes.get(ipns);
        cx.reference(
            e,
            || field_path!("spec", "vlanNamespace"),
            Kind::VLANNamespace,
            vlanns,
            "VLAN namespace",
        );
        let ns_ranges = vlan_ranges.get(vlanns);
        for (sname, sub) in v.subnets.iter().flatten() {
            let sp = |field: &str| field_path!("spec", "subnets", sname, field);
            // (prefix, extra-prefix key): paths are built only for errors.
            let mut own: Vec<(Ipv4Prefix, Option<&str>)> = Vec::new();
            if let Some(p) = sub
                .subnet
                .as_deref()
                .and_then(|s| Ipv4Prefix::parse(s).ok())
            {
                own.push((p, None));
            }
            for ps in sub.host_bgp_extra_prefixes.iter().flatten().map(|(k, _)| k) {
                if let Ok(p) = Ipv4Prefix::parse(ps) {
                    own.push((p, Some(ps.as_str())));
                }
            }
            if let Some(nsp) = ns_prefixes {
                for (p, extra) in &own {
                    cx.checked += 1;
                    if !nsp.iter().any(|n| n.contains(*p)) {
                        let shown: Vec<String> = nsp.iter().map(ToString::to_string).collect();
                        cx.err(
                            e,
                            subnet_path(sname, *extra),
                            format!(
                                "{p} is outside IPv4 namespace {ipns}: expected a prefix inside {}",
                                shown.join(", ")
                            ),
                        );
                    }
                }
            }
            for (p, extra) in own {
                by_ns.entry(ipns).or_default().push(NsPrefix {
                    prefix: p,
                    seq: e.seq,
                    vpc: name,
                    entry: e,
                    subnet: sname,
                    extra,
                });
            }
            let vlan = sub.vlan.unwrap_or(0);
            if !sub.is_host_bgp() && vlan != 0 {
                if let Some(r) = ns_ranges {
                    cx.checked += 1;
                    if !r.iter().any(|(a, b)| (*a..=*b).contains(&vlan)) {
                        let shown: Vec<String> =
                            r.iter().map(|(a, b)| format!("{a}-{b}")).collect();
                        cx.err(e, sp("vlan"), format!("VLAN {vlan} is outside VLAN namespace {vlanns}: expected a VLAN in {}", shown.join(", ")));
                    }
                }
            }
            if vlan != 0 {
                cx.checked += 1;
                match vlans.get(&(vlanns, vlan)) {
                    Some((other, other_subnet)) if *other != name => {
                        let msg = format!("VLAN {vlan} is already used by subnet {other_subnet} of VPC {other} in VLAN namespace {vlanns}");
                        cx.err(e, sp("vlan"), msg);
                    }
                    Some(_) => {}
                    None => {
                        vlans.insert((vlanns, vlan), (name, sname.as_str()));
                    }
                }
            }
            if let Some(relay_vpc) = sub
                .dhcp
                .as_ref()
                .and_then(|d| d.relay_vpc.as_deref())
                .filter(|r| !r.is_empty())
            {
                cx.reference(
                    e,
                    || field_path!("spec", "subnets", sname, "dhcp", "relayVPC"),
                    Kind::VPC,
                    relay_vpc,
                    "DHCP relay VPC",
                );
            }
        }
    }
    // Subnets of different VPCs in one IPv4 namespace do not overlap. Prefixes are nested or disjoint, so a sweep
    // in (network, length) order with a stack of the prefixes still open finds every overlapping pair.
    let mut namespaces: Vec<_> = by_ns.into_iter().collect();
    namespaces.sort_by(|a, b| a.0.cmp(b.0));
    for (ns, mut items) in namespaces {
        items.sort_by_key(|i| (i.prefix.network(), i.prefix.len, i.seq));
        let mut open: Vec<usize> = Vec::new();
        let mut reported: HashSet<(usize, usize)> = HashSet::new();
        for i in 0..items.len() {
            while let Some(&top) = open.last() {
                if items[top].prefix.last() < items[i].prefix.network() {
                    open.pop();
                } else {
                    break;
                }
            }
            cx.checked += 1;
            for &j in &open {
                let (a, b) = (&items[j], &items[i]);
                if a.vpc == b.vpc || !reported.insert((j, i)) {
                    continue;
                }
                let (earlier, later) = if a.seq <= b.seq { (a, b) } else { (b, a) };
                let msg = format!(
                    "{} overlaps {} of VPC {} in IPv4 namespace {ns}",
                    later.prefix, earlier.prefix, earlier.vpc
                );
                cx.err(later.entry, subnet_path(later.subnet, later.extra), msg);
            }
            open.push(i);
        }
    }
}

fn vpc_attachments(cx: &mut Cx<'_>) {
    let list = entries(cx.state, Kind::VPCAttachment);
    let mut pairs: HashMap<(&str, &str, &str), &str> = HashMap::new();
    let mut native: HashMap<&str, &str> = HashMap::new();
    for e in &list {
        let Spec::VPCAttachment(a) = &e.defaulted else {
            continue;
        };
        let name = e.object.name();
        let conn_name = a.connection.as_deref().unwrap_or("");
        let vs = a.vpc_subnet();
        let mut subnet = None;
        let mut vpc = None;
        if let Some((vpc_name, subnet_name)) = vs {
            if cx
                .reference(
                    e,
                    || field_path!("spec", "subnet"),
                    Kind::VPC,
                    vpc_name,
                    "VPC",
                )
                .is_some()
            {
                vpc = cx.vpc(vpc_name);
                cx.checked += 1;
                subnet = vpc.and_then(|v| v.subnet(subnet_name));
                if subnet.is_none() {
                    let names: Vec<&str> = vpc
                        .and_then(|v| v.subnets.as_ref())
                        .map(|m| m.keys().map(String::as_str).collect())
                        .unwrap_or_default();
                    cx.err(e, field_path!("spec", "subnet"), format!("subnet {subnet_name:?} does not exist in VPC {vpc_name}: expected one of {}", names.join(", ")));
                }
            }
        }
        let mut conn = None;
        if !conn_name.is_empty() {
            if let Some(c) = cx.reference(
                e,
                || field_path!("spec", "connection"),
                Kind::Connection,
                conn_name,
                "connection",
            ) {
                if let Spec::Connection(c) = &c.defaulted {
                    cx.checked += 1;
                    match c.connection_type() {
                        Some(
                            ConnectionType::Unbundled
                            | ConnectionType::Bundled
                            | ConnectionType::ESLAG,
                        ) => conn = Some(c),
                        t => {
                            let found = t.map_or("an invalid connection", |t| t.name());
                            cx.err(e, field_path!("spec", "connection"), format!("a VPC can be attached only to unbundled, bundled or eslag connections, found {found} connection {conn_name}"));
                        }
                    }
                }
            }
        }
        if let (Some(c), Some(v)) = (conn, vpc) {
            if c.eslag.is_some() && !v.mode().is_empty() {
                cx.err(
                    e,
                    field_path!("spec", "connection"),
                    format!(
                        "ESLAG connections need an L2VNI VPC, found mode {}",
                        v.mode()
                    ),
                );
            }
        }
        if let (Some(c), Some(s)) = (conn, subnet) {
            if s.is_host_bgp() {
                cx.checked += 1;
                if c.unbundled.is_none() {
                    cx.err(
                        e,
                        field_path!("spec", "connection"),
                        "only unbundled connections can be attached to a hostBGP subnet",
                    );
                }
                if a.native_vlan == Some(true) {
                    cx.err(e, field_path!("spec", "nativeVLAN"), "native VLAN is not supported for hostBGP subnets (use vlan 0 in the VPC subnet instead)");
                }
            }
        }
        if let (Some(c), Some(v)) = (conn, vpc) {
            let mut seen: HashSet<&str> = HashSet::new();
            for pr in c.ports() {
                if pr.role != PortRole::Switch {
                    continue;
                }
                let Some((sw, _)) = split_port(pr.port) else {
                    continue;
                };
                if !seen.insert(sw) {
                    continue;
                }
                let Some(s) = cx.switch(sw) else { continue };
                cx.checked += 1;
                if !s.effective_vlan_namespaces().contains(&v.vlan_namespace()) {
                    cx.err(
                        e,
                        field_path!("spec", "subnet"),
                        format!(
                            "switch {sw} of connection {conn_name} does not have VLAN namespace {}",
                            v.vlan_namespace()
                        ),
                    );
                }
                if subnet.is_some_and(|s| s.is_host_bgp())
                    && !s.redundancy_group().is_empty()
                    && s.redundancy_type() == "mclag"
                {
                    cx.err(
                        e,
                        field_path!("spec", "connection"),
                        format!(
                            "a hostBGP subnet cannot be attached to switch {sw}, an MCLAG peer"
                        ),
                    );
                }
                let pname = s.profile.as_deref().unwrap_or("");
                match cx.profile(pname) {
                    Some(p) => {
                        cx.checked += 1;
                        let no_features = SwitchProfileFeatures::default();
                        let f = p.features.as_ref().unwrap_or(&no_features);
                        let ok = if v.mode().is_empty() {
                            f.l2vni == Some(true) && f.l3vni == Some(true)
                        } else {
                            f.l3vni == Some(true)
                        };
                        if !ok {
                            let mode = if v.mode().is_empty() {
                                "l2vni (needs features l2vni and l3vni)"
                            } else {
                                "l3vni (needs feature l3vni)"
                            };
                            cx.err(e, field_path!("spec", "subnet"), format!("VPC mode {mode} is not supported by SwitchProfile {pname} of switch {sw}"));
                        }
                    }
                    None if !pname.is_empty() => cx.skip(
                        pname,
                        "is not in the fabric: VPC mode support of attached switches",
                    ),
                    None => {}
                }
            }
        }
        if let (Some((vn, sn)), false) = (vs, conn_name.is_empty()) {
            cx.checked += 1;
            match pairs.get(&(conn_name, vn, sn)) {
                Some(other) => {
                    let other = other.to_string();
                    cx.err(e, field_path!("spec", "subnet"), format!("connection {conn_name} is already attached to {vn}/{sn} by VPCAttachment {other}"));
                }
                None => {
                    pairs.insert((conn_name, vn, sn), name);
                }
            }
        }
        if a.native_vlan == Some(true) && !conn_name.is_empty() {
            cx.checked += 1;
            match native.get(conn_name) {
                Some(other) => {
                    let other = other.to_string();
                    cx.err(
                        e,
                        field_path!("spec", "nativeVLAN"),
                        format!(
                            "connection {conn_name} already has a native-VLAN attachment ({other})"
                        ),
                    );
                }
                None => {
                    native.insert(conn_name, name);
                }
            }
        }
    }
}

fn vpc_peerings(cx: &mut Cx<'_>) {
    for e in entries(cx.state, Kind::VPCPeering) {
        let Spec::VPCPeering(p) = &e.defaulted else {
            continue;
        };
        let mut found: Vec<(&str, &VPCSpec)> = Vec::new();
        for (i, entry) in p.permit.iter().flatten().enumerate() {
            for (vpc_name, peer) in entry {
                let path = field_path!("spec", "permit", i, vpc_name);
                if cx
                    .reference(e, || path.clone(), Kind::VPC, vpc_name, "VPC")
                    .is_none()
                {
                    continue;
                }
                let Some(v) = cx.vpc(vpc_name) else { continue };
                if !found.iter().any(|(n, _)| n == vpc_name) {
                    found.push((vpc_name, v));
                }
                for (j, sn) in peer.subnets.iter().flatten().enumerate() {
                    cx.checked += 1;
                    if v.subnet(sn).is_none() {
                        cx.err(
                            e,
                            path.key("subnets").index(j),
                            format!("subnet {sn:?} does not exist in VPC {vpc_name}"),
                        );
                    }
                }
            }
        }
        if let [(a, va), (b, vb)] = found.as_slice() {
            cx.checked += 1;
            if va.ipv4_namespace() != vb.ipv4_namespace()
                || va.vlan_namespace() != vb.vlan_namespace()
            {
                cx.err(
                    e,
                    field_path!("spec", "permit"),
                    format!(
                        "peered VPCs must share their namespaces: {a} uses {}/{}, {b} uses {}/{} (IPv4/VLAN)",
                        va.ipv4_namespace(),
                        va.vlan_namespace(),
                        vb.ipv4_namespace(),
                        vb.vlan_namespace()
                    ),
                );
            }
        }
    }
}

fn externals(cx: &mut Cx<'_>) {
    for e in entries(cx.state, Kind::External) {
        let Spec::External(x) = &e.defaulted else {
            continue;
        };
        cx.reference(
            e,
            || field_path!("spec", "ipv4Namespace"),
            Kind::IPv4Namespace,
            x.ipv4_namespace(),
            "IPv4 namespace",
        );
    }
}

fn external_attachments(cx: &mut Cx<'_>) {
    let mut vlans: HashMap<(&str, u16), &str> = HashMap::new();
    for e in entries(cx.state, Kind::ExternalAttachment) {
        let Spec::ExternalAttachment(a) = &e.defaulted else {
            continue;
        };
        if let Some(ext) = a.external.as_deref().filter(|x| !x.is_empty()) {
            if cx
                .reference(
                    e,
                    || field_path!("spec", "external"),
                    Kind::External,
                    ext,
                    "external",
                )
                .is_some()
            {
                if let Some(x) = cx.external(ext) {
                    cx.checked += 1;
                    match (a.r#static.is_some(), x.is_static()) {
                        (true, false) => cx.err(e, field_path!("spec", "static"), format!("the attachment is static but External {ext} is a BGP external (it has no static prefixes)")),
                        (false, true) => cx.err(e, field_path!("spec", "external"), format!("External {ext} is static: expected a static attachment (static: {{remoteIP, ip | proxy}})")),
                        _ => {}
                    }
                }
            }
        }
        let Some(conn) = a.connection.as_deref().filter(|x| !x.is_empty()) else {
            continue;
        };
        if let Some(c) = cx.reference(
            e,
            || field_path!("spec", "connection"),
            Kind::Connection,
            conn,
            "connection",
        ) {
            if let Spec::Connection(c) = &c.defaulted {
                cx.checked += 1;
                if c.connection_type() != Some(ConnectionType::External) {
                    let found = c.connection_type().map_or("an invalid", |t| t.name());
                    cx.err(
                        e,
                        field_path!("spec", "connection"),
                        format!("expected an external connection, found {found} connection {conn}"),
                    );
                }
            }
        }
        let vlan = a.vlan();
        cx.checked += 1;
        match vlans.get(&(conn, vlan)) {
            Some(other) => {
                let other = other.to_string();
                let path = if a.r#static.is_some() {
                    field_path!("spec", "static", "vlan")
                } else {
                    field_path!("spec", "switch", "vlan")
                };
                cx.err(e, path, format!("connection {conn} already has an external attachment with VLAN {vlan} ({other})"));
            }
            None => {
                vlans.insert((conn, vlan), e.object.name());
            }
        }
    }
}

fn external_peerings(cx: &mut Cx<'_>) {
    for e in entries(cx.state, Kind::ExternalPeering) {
        let Spec::ExternalPeering(p) = &e.defaulted else {
            continue;
        };
        let Some(permit) = &p.permit else { continue };
        let vpc_name = permit
            .vpc
            .as_ref()
            .and_then(|v| v.name.as_deref())
            .filter(|n| !n.is_empty());
        let ext_name = permit
            .external
            .as_ref()
            .and_then(|x| x.name.as_deref())
            .filter(|n| !n.is_empty());
        let mut vpc = None;
        if let Some(n) = vpc_name {
            if cx
                .reference(
                    e,
                    || field_path!("spec", "permit", "vpc", "name"),
                    Kind::VPC,
                    n,
                    "VPC",
                )
                .is_some()
            {
                vpc = cx.vpc(n);
            }
        }
        let mut ext = None;
        if let Some(n) = ext_name {
            if cx
                .reference(
                    e,
                    || field_path!("spec", "permit", "external", "name"),
                    Kind::External,
                    n,
                    "external",
                )
                .is_some()
            {
                ext = cx.external(n);
            }
        }
        if let Some(v) = vpc {
            for (i, sn) in permit
                .vpc
                .iter()
                .flat_map(|x| x.subnets.iter().flatten())
                .enumerate()
            {
                cx.checked += 1;
                if v.subnet(sn).is_none() {
                    cx.err(
                        e,
                        field_path!("spec", "permit", "vpc", "subnets", i),
                        format!(
                            "subnet {sn:?} does not exist in VPC {}",
                            vpc_name.unwrap_or("")
                        ),
                    );
                }
            }
        }
        if let (Some(v), Some(x)) = (vpc, ext) {
            cx.checked += 1;
            if v.ipv4_namespace() != x.ipv4_namespace() {
                cx.err(
                    e,
                    field_path!("spec", "permit"),
                    format!("VPC {} uses IPv4 namespace {} but External {} uses {}: expected one namespace", vpc_name.unwrap_or(""), v.ipv4_namespace(), ext_name.unwrap_or(""), x.ipv4_namespace()),
                );
            }
        }
    }
}

fn gateways(cx: &mut Cx<'_>) {
    // Protocol and VTEP IPs are unique across switches and gateways (separate pools), VTEP MACs across gateways.
    let addr_of = |v: Option<&str>| v.and_then(|v| Ipv4Prefix::parse(v).ok()).map(|p| p.addr);
    let mut protocol: HashMap<u32, String> = HashMap::new();
    let mut vtep: HashMap<u32, String> = HashMap::new();
    for (name, e) in cx.state.of_kind(Kind::Switch) {
        if let Spec::Switch(s) = &e.defaulted {
            if let Some(a) = addr_of(s.protocol_ip.as_deref()) {
                protocol
                    .entry(a)
                    .or_insert_with(|| format!("switch {name}"));
            }
            if let Some(a) = addr_of(s.vtep_ip.as_deref()) {
                vtep.entry(a).or_insert_with(|| format!("switch {name}"));
            }
        }
    }
    let mut macs: HashMap<String, &str> = HashMap::new();
    let mut members: HashMap<&str, usize> = HashMap::new();
    let max = cx.settings.max_gateways_per_group();
    for e in entries(cx.state, Kind::Gateway) {
        let Spec::Gateway(g) = &e.defaulted else {
            continue;
        };
        let name = e.object.name();
        for (i, m) in g.groups.iter().flatten().enumerate() {
            let Some(group) = m.name.as_deref().filter(|n| !n.is_empty()) else {
                continue;
            };
            let path = || field_path!("spec", "groups", i, "name");
            cx.reference(e, path, Kind::GatewayGroup, group, "gateway group");
            let n = members.entry(group).or_insert(0);
            if let Some(max) = max {
                cx.checked += 1;
                if *n >= max {
                    let count = *n;
                    cx.err(e, path(), format!("gateway group {group} already has too many members ({count}), max is {max} (the number of gateway communities; fabric setting gatewayCommunities has {max} entries)"));
                }
            }
            *n += 1;
        }
        for (field, v, pool) in [
            ("protocolIP", g.protocol_ip.as_deref(), &mut protocol),
            ("vtepIP", g.vtep_ip.as_deref(), &mut vtep),
        ] {
            let Some(a) = addr_of(v) else { continue };
            cx.checked += 1;
            match pool.get(&a) {
                Some(other) => {
                    let other = other.clone();
                    let what = if field == "vtepIP" {
                        "VTEP"
                    } else {
                        "protocol"
                    };
                    cx.err(
                        e,
                        field_path!("spec", field),
                        format!(
                            "gateway {name} {what} IP {} is already in use by {other}",
                            fmt_addr(a)
                        ),
                    );
                }
                None => {
                    pool.insert(a, format!("gateway {name}"));
                }
            }
        }
        if let Some(mac) = g
            .vtep_mac
            .as_deref()
            .and_then(crate::model::ip::canonical_mac)
        {
            cx.checked += 1;
            match macs.get(mac.as_str()) {
                Some(other) => {
                    let other = other.to_string();
                    cx.err(
                        e,
                        field_path!("spec", "vtepMAC"),
                        format!(
                            "gateway {name} VTEP MAC {mac} is already in use by gateway {other}"
                        ),
                    );
                }
                None => {
                    macs.insert(mac, name);
                }
            }
        }
    }
    gateway_peerings(cx);
}

/// The CIDRs a peering entry exposes: per non-default expose, its `as` CIDRs if any, else its `ips` CIDRs; an
/// item using `not` or `vpcSubnet` contributes an empty string, as in the fabric (which then fails to parse it).
fn exposed(entry: &PeeringEntry) -> Vec<String> {
    let mut out = Vec::new();
    for e in entry.expose.iter().flatten() {
        if e.default == Some(true) {
            continue;
        }
        match e.r#as.as_deref() {
            Some(a) if !a.is_empty() => {
                out.extend(a.iter().map(|x| x.cidr.clone().unwrap_or_default()))
            }
            _ => out.extend(
                e.ips
                    .iter()
                    .flatten()
                    .map(|x| x.cidr.clone().unwrap_or_default()),
            ),
        }
    }
    out
}

fn gateway_peerings(cx: &mut Cx<'_>) {
    let list = entries(cx.state, Kind::GatewayPeering);
    for (idx, e) in list.iter().enumerate() {
        let Spec::GatewayPeering(p) = &e.defaulted else {
            continue;
        };
        if let Some(g) = p.gateway_group.as_deref().filter(|g| !g.is_empty()) {
            cx.reference(
                e,
                || field_path!("spec", "gatewayGroup"),
                Kind::GatewayGroup,
                g,
                "gateway group",
            );
        }
        let peering = p.peering.clone().unwrap_or_default();
        for (key, entry) in &peering {
            let path = field_path!("spec", "peering", key);
            let Some(name) = key.strip_prefix(EXTERNAL_PEER_PREFIX) else {
                let Some(vpc) = cx
                    .reference(e, || path, Kind::VPC, key, "VPC")
                    .and_then(|v| match &v.defaulted {
                        Spec::VPC(v) => Some(v),
                        _ => None,
                    })
                else {
                    continue;
                };
                peering_members(cx, e, key, entry, vpc);
                continue;
            };
            cx.reference(e, || path, Kind::External, name, "external");
        }
        // ACL subnet references resolve against the VPC on that side.
        for (i, r) in p
            .acl
            .iter()
            .flat_map(|a| a.rules.iter().flatten())
            .enumerate()
        {
            let keys: Vec<&String> = peering.keys().collect();
            let other = |k: Option<&str>| -> Option<String> {
                keys.iter()
                    .find(|x| Some(x.as_str()) != k)
                    .map(|x| x.to_string())
            };
            let from = r
                .from
                .clone()
                .filter(|x| !x.is_empty())
                .or_else(|| other(r.to.as_deref()));
            let to =
                r.to.clone()
                    .filter(|x| !x.is_empty())
                    .or_else(|| other(r.from.as_deref()));
            let Some(m) = &r.r#match else { continue };
            for (side, items, key) in [("src", &m.src, &from), ("dst", &m.dst, &to)] {
                for (j, it) in items.iter().flatten().enumerate() {
                    let Some(sn) = it.vpc_subnet.as_deref().filter(|x| !x.is_empty()) else {
                        continue;
                    };
                    cx.checked += 1;
                    let path =
                        field_path!("spec", "acl", "rules", i, "match", side, j, "vpcSubnet");
                    let key = key.clone().unwrap_or_default();
                    let what = if side == "src" {
                        "source"
                    } else {
                        "destination"
                    };
                    let vpc = (!key.starts_with(EXTERNAL_PEER_PREFIX))
                        .then(|| cx.vpc(&key))
                        .flatten();
                    match vpc {
                        None => cx.err(e, path, format!("{what} VPC subnet {sn} referenced in ACL rule {i} but the corresponding peering entry {key:?} is not a VPC")),
                        Some(v) if v.subnet(sn).is_none() => cx.err(e, path, format!("{what} VPC subnet {sn} referenced in ACL rule {i} is not a subnet of VPC {key}")),
                        Some(_) => {}
                    }
                }
            }
        }
        // Exposed CIDRs must not overlap those of earlier peerings that involve the same other side.
        for (o, entry) in &peering {
            let Some(t) = peering.keys().find(|k| *k != o) else {
                continue;
            };
            let mine = exposed(entry);
            if mine.is_empty() {
                continue;
            }
            for other in &list[..idx] {
                let Spec::GatewayPeering(q) = &other.defaulted else {
                    continue;
                };
                let Some(qp) = &q.peering else { continue };
                if qp.len() != 2 || !qp.contains_key(t) {
                    continue;
                }
                for (qk, qe) in qp {
                    if qk == t {
                        continue;
                    }
                    for x in exposed(qe) {
                        for y in &mine {
                            cx.checked += 1;
                            let (px, py) = (Ipv4Prefix::parse(&x), Ipv4Prefix::parse(y));
                            let msg = match (px, py) {
                                (Err(err), _) => format!("failed to parse existing exposed CIDR {x} of GatewayPeering {}: {err} (the fabric cannot compare exposes that use not or vpcSubnet)", other.object.name()),
                                (_, Err(err)) => format!("failed to parse exposed CIDR {y}: {err} (the fabric cannot compare exposes that use not or vpcSubnet with those of GatewayPeering {})", other.object.name()),
                                (Ok(a), Ok(b)) if a.overlaps(b) => format!("overlap between existing exposed CIDR {x} (GatewayPeering {}) and new exposed CIDR {y}", other.object.name()),
                                _ => continue,
                            };
                            cx.err(e, field_path!("spec", "peering", o), msg);
                        }
                    }
                }
            }
        }
    }
}

/// A VPC side of a GatewayPeering: exposed `ips[].cidr` lie inside the VPC's subnets, `vpcSubnet`s name them.
fn peering_members(
    cx: &mut Cx<'_>,
    e: &StateEntry,
    key: &str,
    entry: &PeeringEntry,
    vpc: &VPCSpec,
) {
    let subnets: Vec<Ipv4Prefix> = vpc
        .subnets
        .iter()
        .flatten()
        .filter_map(|(_, s)| s.subnet.as_deref().and_then(|x| Ipv4Prefix::parse(x).ok()))
        .collect();
    for (i, x) in entry.expose.iter().flatten().enumerate() {
        if x.default == Some(true) {
            continue;
        }
        for (j, ip) in x.ips.iter().flatten().enumerate() {
            let path = || field_path!("spec", "peering", key, "expose", i, "ips", j);
            if let Some(c) = ip.cidr.as_deref().and_then(|c| Ipv4Prefix::parse(c).ok()) {
                cx.checked += 1;
                if !subnets.iter().any(|s| s.contains(c)) {
                    cx.err(e, path().key("cidr"), format!("CIDR {c} is not part of VPC {key}: expected a prefix inside one of its subnets"));
                }
            }
            if let Some(sn) = ip.vpc_subnet.as_deref() {
                cx.checked += 1;
                if vpc.subnet(sn).is_none() {
                    cx.err(
                        e,
                        path().key("vpcSubnet"),
                        format!("VPC subnet {sn} is not a subnet of VPC {key}"),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod port_tests {
    use super::*;

    fn profile() -> SwitchProfileSpec {
        serde_json::from_value(serde_json::json!({
            "ports": {
                "M1": {"nos": "Management0", "management": true},
                "E1/1": {"nos": "Ethernet0", "profile": "SFP"},
                "E1/2": {"nos": "1/2", "baseNOSName": "Ethernet4", "profile": "Q"},
            },
            "portProfiles": {
                "SFP": {"speed": {"default": "25G", "supported": ["25G"]}},
                "Q": {"breakout": {"default": "4x25G", "supported": {
                    "4x25G": {"offsets": ["0", "1", "2", "3"]},
                    "2x50G": {"offsets": ["0", "2"]},
                }}},
            },
        }))
        .unwrap()
    }

    #[test]
    fn api_ports_are_profile_ports_and_breakout_lanes() {
        let p = profile();
        let sw = SwitchSpec::default();
        for ok in ["M1", "E1/1", "E1/2", "E1/2/1", "E1/2/4"] {
            assert!(api_port_exists(&p, &sw, ok), "{ok}");
        }
        for bad in [
            "E1/3", "E1/2/5", "E1/2/0", "E1/2/01", "E1/1/1", "M1/1", "E1/2/x", "", "E1",
        ] {
            assert!(!api_port_exists(&p, &sw, bad), "{bad}");
        }
        // The switch's own breakout mode decides how many lanes a port has.
        let sw: SwitchSpec =
            serde_json::from_value(serde_json::json!({"portBreakouts": {"E1/2": "2x50G"}}))
                .unwrap();
        assert!(api_port_exists(&p, &sw, "E1/2/2"));
        assert!(!api_port_exists(&p, &sw, "E1/2/3"));
    }
}
