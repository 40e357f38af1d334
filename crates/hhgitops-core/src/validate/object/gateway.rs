//! Object rules of the gateway kinds: the CRD schema's enums, required fields and bounds. The gateway webhooks'
//! hydration requirements (protocol IP, VTEP, neighbors…) are not applied: hhfab writes gateways unhydrated.

use crate::field_path;
use crate::model::gateway::*;
use crate::validate::check::{list, Findings};

pub(super) fn gateway(s: &GatewaySpec, f: &mut Findings) {
    if let Some(rl) = s.logs.as_ref().and_then(|l| l.rate_limit.as_ref()) {
        for (field, v) in [
            ("burst", rl.burst),
            ("replenishPerSecond", rl.replenish_per_second),
        ] {
            if let Some(v) = v {
                if v < 0 {
                    f.push(
                        field_path!("spec", "logs", "rateLimit", field),
                        format!("expected a value of at least 0, found {v}"),
                    );
                }
            }
        }
    }
    for (i, g) in s.groups.iter().flatten().enumerate() {
        if g.name.as_deref().unwrap_or("").is_empty() {
            f.missing(
                field_path!("spec", "groups", i, "name"),
                "the name of a GatewayGroup",
            );
        }
    }
}

pub(super) fn gateway_peering(s: &GatewayPeeringSpec, f: &mut Findings) {
    for (peer, entry) in s.peering.iter().flatten() {
        for (i, e) in entry.expose.iter().flatten().enumerate() {
            let ports = e
                .nat
                .as_ref()
                .and_then(|n| n.port_forward.as_ref())
                .and_then(|p| p.ports.as_ref());
            for (j, pf) in ports.into_iter().flatten().enumerate() {
                if let Some(proto) = pf.proto.as_deref() {
                    f.one_of(
                        field_path!(
                            "spec",
                            "peering",
                            peer,
                            "expose",
                            i,
                            "nat",
                            "portForward",
                            "ports",
                            j,
                            "proto"
                        ),
                        proto,
                        PORT_FORWARD_PROTOS,
                    );
                }
            }
        }
    }
    if let Some(acl) = &s.acl {
        match acl.default.as_deref() {
            None => f.missing(
                field_path!("spec", "acl", "default"),
                &format!("one of {}", list(ACL_DEFAULTS)),
            ),
            Some(d) => {
                f.one_of(field_path!("spec", "acl", "default"), d, ACL_DEFAULTS);
            }
        }
        for (i, r) in acl.rules.iter().flatten().enumerate() {
            match r.action.as_deref() {
                None => f.missing(
                    field_path!("spec", "acl", "rules", i, "action"),
                    &format!("one of {}", list(ACL_ACTIONS)),
                ),
                Some(a) => {
                    f.one_of(
                        field_path!("spec", "acl", "rules", i, "action"),
                        a,
                        ACL_ACTIONS,
                    );
                }
            }
            if let Some(sc) = r.scope.as_deref() {
                f.one_of(
                    field_path!("spec", "acl", "rules", i, "scope"),
                    sc,
                    ACL_SCOPES,
                );
            }
        }
    }
}
