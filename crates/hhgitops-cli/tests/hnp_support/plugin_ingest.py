#!/usr/bin/env python3
"""Writes what the Hedgehog NetBox Plugin's (HNP) GitOps ingestion writes, for tests of the upgrade of its trees.

Usage: plugin_ingest.py ROOT FABRIC

Follows the plugin's ingestion rules as its ingestion service applies them (PyYAML, as the plugin uses):
- every `raw/*.yaml` / `raw/*.yml` (oldest first) is read with `safe_load_all`; each mapping with `apiVersion`,
  `kind` and `metadata.name` of one of the plugin's 12 kinds becomes `managed/<plural>/<name>.yaml`, or
  `<name>-1.yaml`, `<name>-2.yaml` … when that name is taken (re-ingestion never replaces a file);
- the object gets the plugin's `hnp.githedgehog.com/*` annotations (with the ingestion time) and the file the
  plugin's three-line header comment before `---`, then `safe_dump(sort_keys=False, width=120)`;
- the raw file is renamed to `<file>.archived`, or `<file>.archived.<n>` when that exists;
- `.hnp/archive-log.yaml` gets one `ingestion` operation per file, with absolute paths. No manifest is written.
"""

import datetime
import sys
from pathlib import Path

import yaml

PLURALS = {
    "VPC": "vpcs",
    "External": "externals",
    "ExternalAttachment": "externalattachments",
    "ExternalPeering": "externalpeerings",
    "IPv4Namespace": "ipv4namespaces",
    "VPCAttachment": "vpcattachments",
    "VPCPeering": "vpcpeerings",
    "Connection": "connections",
    "Server": "servers",
    "Switch": "switches",
    "SwitchGroup": "switchgroups",
    "VLANNamespace": "vlannamespaces",
}


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def target_for(folder, name, namespace):
    stem = name if not namespace or namespace == "default" else f"{namespace}-{name}"
    target = folder / f"{stem}.yaml"
    counter = 1
    while target.exists():
        target = folder / f"{stem}-{counter}.yaml"
        counter += 1
    return target


def write_object(root, fabric, doc, raw, index):
    kind = doc["kind"]
    name = doc["metadata"]["name"]
    folder = root / "managed" / PLURALS[kind]
    folder.mkdir(parents=True, exist_ok=True)
    target = target_for(folder, name, doc["metadata"].get("namespace", "default"))
    annotations = doc["metadata"].setdefault("annotations", {})
    annotations["hnp.githedgehog.com/managed-by"] = "hedgehog-netbox-plugin"
    annotations["hnp.githedgehog.com/fabric"] = fabric
    annotations["hnp.githedgehog.com/original-file"] = raw.name
    annotations["hnp.githedgehog.com/original-document-index"] = str(index)
    annotations["hnp.githedgehog.com/ingested-at"] = now().isoformat()
    annotations["hnp.githedgehog.com/ingestion-version"] = "1.0"
    header = f"# {kind}: {name}\n# Normalized by Hedgehog NetBox Plugin\n"
    header += f"# Generated: {now().strftime('%Y-%m-%d %H:%M:%S UTC')}\n---\n"
    with open(target, "w", encoding="utf-8") as f:
        f.write(header)
        yaml.safe_dump(doc, f, default_flow_style=False, sort_keys=False, allow_unicode=True, width=120)
    return target


def archive(raw):
    archived = raw.with_suffix(raw.suffix + ".archived")
    counter = 1
    while archived.exists():
        archived = raw.with_suffix(f"{raw.suffix}.archived.{counter}")
        counter += 1
    raw.rename(archived)
    return archived


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    root, fabric = Path(sys.argv[1]).resolve(), sys.argv[2]
    for folder in ("raw", "managed", ".hnp"):
        if not (root / folder).is_dir():
            print(f"{root / folder} is missing", file=sys.stderr)
            return 1
    raws = sorted(
        [p for pattern in ("*.yaml", "*.yml") for p in (root / "raw").glob(pattern)],
        key=lambda p: p.stat().st_mtime,
    )
    operations = []
    for raw in raws:
        with open(raw, encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if isinstance(d, dict)]
        created = []
        for index, doc in enumerate(docs):
            md = doc.get("metadata")
            if "apiVersion" in doc and doc.get("kind") in PLURALS and isinstance(md, dict) and md.get("name"):
                created.append(str(write_object(root, fabric, doc, raw, index)))
        operation = {
            "operation": "ingestion",
            "timestamp": now().isoformat(),
            "original_file": str(raw),
            "document_count": len(docs),
            "documents_created": created,
            "archived_to": None,
        }
        if created:
            operation["archived_to"] = str(archive(raw))
        operations.append(operation)
    log_path = root / ".hnp" / "archive-log.yaml"
    if log_path.exists():
        with open(log_path) as f:
            log = yaml.safe_load(f) or {}
    else:
        log = {"version": "1.0", "created_at": now().isoformat(), "operations": []}
    log.setdefault("operations", []).extend(operations)
    with open(log_path, "w") as f:
        yaml.safe_dump(log, f, default_flow_style=False, sort_keys=False)
    print(f"created {sum(len(o['documents_created']) for o in operations)} file(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
