"""Runs the Dagster project of deploy/dagster in process, for tests/it/dagster.rs.

    dagster_shards.py materialize SELECTION.json   every partition of `candles` with its check
    dagster_shards.py check SELECTION.json         only the `no_gaps` check

SELECTION.json holds the `Candlelake` resource's fields and `shards`. Each partition's run
gets its own run of `candlelake ... --output json`, whose stdout (the run summary) is captured
by pointing file descriptor 1 at a file while Dagster runs it. Prints one JSON document: per
partition, whether the run succeeded, the summary, the materialization metadata and the check.
"""

import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy" / "dagster"))

from dagster import AssetSelection, materialize  # noqa: E402

from candlelake_dagster import Candlelake, build_definitions  # noqa: E402


def plain(metadata):
    return {key: value.value for key, value in metadata.items()}


def run(defs, partition=None, selection=None):
    """One partition's run (or the check's), its stdout (the child's run summary) captured."""
    with tempfile.TemporaryFile() as out:
        sys.stdout.flush()
        saved = os.dup(1)
        os.dup2(out.fileno(), 1)
        try:
            result = materialize(
                assets=[*defs.assets, *defs.asset_checks],
                resources=defs.resources,
                partition_key=None if partition is None else str(partition),
                selection=selection,
                raise_on_error=False,
            )
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
        out.seek(0)
        stdout = out.read().decode()
    summaries = [json.loads(line) for line in stdout.splitlines() if line.startswith('{"status"')]
    materializations = result.asset_materializations_for_node("candles") if selection is None else []
    checks = result.get_asset_check_evaluations()
    return {
        "partition": None if partition is None else str(partition),
        "success": result.success,
        "summaries": summaries,
        "materializations": [plain(m.metadata) for m in materializations],
        "checks": [{"passed": c.passed, "metadata": plain(c.metadata)} for c in checks],
    }


def main():
    mode, config = sys.argv[1], json.loads(Path(sys.argv[2]).read_text())
    shards = config.pop("shards")
    defs = build_definitions(shards, Candlelake(**config))
    if mode == "materialize":
        partitions = [run(defs, i) for i in range(shards)]
    else:
        check = AssetSelection.checks(*defs.asset_checks)
        partitions = [run(defs, selection=check)]
    print(json.dumps({"partitions": partitions}))


main()
