"""Runs the Dagster project of deploy/dagster in process, for tests/it/dagster.rs.

    dagster_shards.py materialize SELECTION.json I   partition I of `candles`
    dagster_shards.py check SELECTION.json           the `no_gaps` check

SELECTION.json holds the `Candlelake` resource's fields and `shards`. The run's stdout (the
child's `candlelake ... --output json` summary) is captured by pointing file descriptor 1 at a
file while Dagster runs. Prints one JSON line: whether the run succeeded, the summaries, the
materializations' metadata and the check evaluations.
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


def run(defs, selection, partition=None):
    """One run in process, the stdout of what it starts captured."""
    with tempfile.TemporaryFile() as out:
        sys.stdout.flush()
        saved = os.dup(1)
        os.dup2(out.fileno(), 1)
        try:
            result = materialize(
                assets=[*defs.assets, *defs.asset_checks],
                resources=defs.resources,
                partition_key=partition,
                selection=selection,
                raise_on_error=False,
            )
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
        out.seek(0)
        stdout = out.read().decode()
    materialized = partition is not None
    return {
        "partition": partition,
        "success": result.success,
        "summaries": [json.loads(l) for l in stdout.splitlines() if l.startswith('{"status"')],
        "materializations": [
            plain(m.metadata) for m in result.asset_materializations_for_node("candles")
        ] if materialized else [],
        "checks": [
            {"passed": c.passed, "metadata": plain(c.metadata)}
            for c in result.get_asset_check_evaluations()
        ],
    }


def main():
    mode, config = sys.argv[1], json.loads(Path(sys.argv[2]).read_text())
    shards = config.pop("shards")
    defs = build_definitions(shards, Candlelake(**config))
    if mode == "materialize":
        report = run(defs, AssetSelection.assets(*defs.assets), partition=sys.argv[3])
    else:
        report = run(defs, AssetSelection.checks(*defs.asset_checks))
    print(json.dumps(report))


main()
