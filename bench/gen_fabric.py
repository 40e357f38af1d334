#!/usr/bin/env python3
"""A generated fabric of about K/2 times the reference object count that the fabric accepts, on stdout.

gen_vlab_wiring.py (../shared/tools) without VPCs: 8 spines, 16*K leaf groups of 2 and 16*K orphan leaves, 16
servers of each kind per leaf group. Spines of fabrics this large connect to more leaves than any built-in
SwitchProfile has ports (`vs` has 48, and the generator numbers uplinks E1/49, E1/53, ...), which the fabric
rejects; as the fabric itself would need, the output carries a custom SwitchProfile for every switch,
`bench-switch` (the `vs` profile with as many 25G ports as the highest port number used, in groups of 4), which
validates only with the controller setting `allowExtraSwitchProfiles: true`
(CATALOGUE §3b.6). Leaves are numbered from ASN 65101 upwards, one each, as hhfab assigns them from
`leafASNStart`: the default range (65101-65533) holds 433 leaves, so a fabric with more (K >= 10: 480 leaves)
also needs a wider `leafASNEnd`, as a real fabric of that size would. Give `--fabric-config` a file holding
`allowExtraSwitchProfiles: true` and `leafASNEnd: 65999` (what bench/hostile.sh and bench/scale.sh use).

Usage: bench/gen_fabric.py K [SHARED]   (K = 2 is about the reference size, ~6,000 objects, ~1.5 MB)
"""
import os
import re
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
k = int(sys.argv[1])
shared = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "..", "..", "shared")
groups = ",".join(["2"] * (16 * k))
text = subprocess.run(
    ["python3", os.path.join(shared, "tools", "gen_vlab_wiring.py"), "--spines", "8",
     "--eslag-leaf-groups", groups, "--orphan-leafs", str(16 * k),
     "--eslag-servers", "16", "--unbundled-servers", "16", "--bundled-servers", "16"],
    check=True, capture_output=True, text=True).stdout
docs = text.split("\n---\n")
is_switch = lambda d: "kind: Switch\n" in d
# Every switch port the connections name (E1/N, up to E1/3000 on the spines of the 4x fabric).
ports = max(int(n) for n in re.findall(r"/E1/(\d+)", text))
ports = -(-ports // 4) * 4
docs = [d.replace("profile: vs\n", "profile: bench-switch\n") if is_switch(d) else d for d in docs]
src = open(os.path.join(here, "..", "crates", "hhgitops-core", "data", "switchprofiles", "vs.yaml")).read()
head = src[src.index("apiVersion:"):src.index("  portGroups:")]
head = (head.replace("name: vs\n", "name: bench-switch\n")
        .replace("48xSFP28-25G", f"{ports}xSFP28-25G")
        .replace("displayName: Virtual Switch", "displayName: Benchmark switch"))
out = [head, "  portGroups:\n"]
for g in range(1, ports // 4 + 1):
    out.append(f'    "{g}":\n      nos: "{g}"\n      profile: SFP28-25G\n')
out.append("  portProfiles:\n    SFP28-25G:\n      speed:\n        default: 25G\n        supported:\n"
           "        - 10G\n        - 25G\n")
out.append("  ports:\n")
for p in range(1, ports + 1):
    out.append(f'    E1/{p}:\n      group: "{(p - 1) // 4 + 1}"\n      label: "{p}"\n      nos: Ethernet{p - 1}\n')
out.append("    M1:\n      management: true\n      nos: Management0\n      oniePortName: eth0\n  switchSilicon: vs\n")
sys.stdout.write("".join(out) + "---\n" + "\n---\n".join(docs))
