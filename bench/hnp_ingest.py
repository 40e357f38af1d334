#!/usr/bin/env python3
"""Runs the original HNP ingestion on one GitOps directory, for bench/ingest.sh.

Usage: hnp_ingest.py MIRROR DIR

MIRROR is a checkout of the original Hedgehog NetBox Plugin; its
netbox_hedgehog/services/gitops_ingestion_service.py is loaded as it is. The service imports two things from
Django, the clock and a database transaction around the file work; both are stubbed here (the clock with the
standard library's, the transaction with a context that does nothing), so what is timed is HNP's own file work:
parse every document of raw/*.yaml with PyYAML, write one annotated file per object under managed/, archive the
original, append to .hnp/archive-log.yaml. DIR must hold raw/, managed/ and .hnp/. Exits 1 when the service
reports a failure or wrote nothing.
"""

import contextlib
import datetime
import importlib.util
import sys
import types
from pathlib import Path


def stub_django():
    django = types.ModuleType("django")
    utils = types.ModuleType("django.utils")
    timezone = types.ModuleType("django.utils.timezone")
    timezone.now = lambda: datetime.datetime.now(datetime.timezone.utc)
    db = types.ModuleType("django.db")
    transaction = types.SimpleNamespace(atomic=contextlib.nullcontext)
    db.transaction = transaction
    utils.timezone = timezone
    django.utils = utils
    django.db = db
    sys.modules.update(
        {"django": django, "django.utils": utils, "django.utils.timezone": timezone, "django.db": db}
    )


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    mirror, root = Path(sys.argv[1]), Path(sys.argv[2])
    source = mirror / "netbox_hedgehog" / "services" / "gitops_ingestion_service.py"
    stub_django()
    spec = importlib.util.spec_from_file_location("hnp_gitops_ingestion_service", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fabric = types.SimpleNamespace(
        id=1,
        name="bench",
        raw_directory_path=str(root / "raw"),
        managed_directory_path=str(root / "managed"),
        kubernetes_namespace="default",
        git_repository=None,
        git_repository_url=None,
    )
    result = module.GitOpsIngestionService(fabric).process_raw_directory()
    created = len(result.get("files_created", []))
    print(f"HNP: success={result.get('success')} created={created} errors={len(result.get('errors', []))}")
    return 0 if result.get("success") and created > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
