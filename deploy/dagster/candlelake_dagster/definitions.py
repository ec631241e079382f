"""candlelake as a Dagster asset: one static partition per shard.

Each partition's run executes `candlelake backfill|topup --shard I/N --output json` through
`PipesSubprocessClient`; the binary speaks Dagster Pipes itself and reports its run summary as
the materialization's metadata: `records`, `dead_lettered` (DLQ count), `coverage_end` (the
earliest coverage end among the shard's series), `status`, `series_count` and `series` (per
series: records, dead_lettered, coverage_end, status).

The asset check `no_gaps` runs `candlelake gaps --json` for the same selection, over every
series the lake holds (a check of the whole table, not of one partition: Dagster's partitioned
checks are still a preview). It fails when a series has a gap of kind `not_fetched` (a hole
inside what the lake claims to cover) or `removed` (rows another writer deleted); `no_trades`
and `unreachable` (the provider has nothing to give) and `dead_lettered` (already counted in
the DLQ and replayed from there) are reported as counts and do not fail it. Its metadata names
the failing series and their partitions (`shard_of`, the contract's FNV-1a rule), the ones to
run again after a repair.

Configuration: `CANDLELAKE_SHARDS` (default 4) sets N for the module-level `defs`; the
`candlelake` resource holds the binary, the command and the selection. Everything else the
binary reads (`CANDLELAKE_LAKE`, `CANDLELAKE_STATE_DIR`, which may be an `s3://` prefix that
partitions on several machines share, S3 and provider credentials) comes from the environment
of the Dagster process, which the subprocess inherits; nothing secret is
passed on a command line or written to metadata.
"""

import json
import os
import subprocess
from collections import Counter

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    ConfigurableResource,
    Definitions,
    MaterializeResult,
    PipesSubprocessClient,
    StaticPartitionsDefinition,
    asset,
    asset_check,
)

# Gap kinds that fail the check: data the lake should hold inside its coverage and does not.
FAILING_GAP_KINDS = ("not_fetched", "removed")


def shard_of(provider: str, asset_pair: str, timeframe: str, shards: int) -> int:
    """The shard of a series: FNV-1a 64-bit of `{provider}/{asset_pair}/{timeframe}`, modulo N."""
    h = 0xCBF29CE484222325
    for b in f"{provider}/{asset_pair}/{timeframe}".encode():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h % shards


class Candlelake(ConfigurableResource):
    """The binary and what each shard's run does: `topup` of everything held, unless told."""

    binary: str = "candlelake"
    command: str = "topup"
    provider: str | None = None
    pairs: str | None = None
    timeframes: str | None = None
    # `backfill` only.
    start: str | None = None
    end: str | None = None

    def _selection(self) -> list[str]:
        args = []
        for flag, value in (
            ("--provider", self.provider),
            ("--pairs", self.pairs),
            ("--timeframes", self.timeframes),
        ):
            if value:
                args += [flag, value]
        return args

    def run_command(self, shard: int, shards: int) -> list[str]:
        if self.command not in ("backfill", "topup"):
            raise ValueError(f"command must be backfill or topup, not {self.command!r}")
        args = [self.binary, self.command, "--output", "json", "--shard", f"{shard}/{shards}"]
        args += self._selection()
        if self.command == "backfill":
            for flag, value in (("--start", self.start), ("--end", self.end)):
                if value:
                    args += [flag, value]
        return args

    def gaps(self) -> list[dict]:
        """`candlelake gaps --json` for the selection: one entry per series held."""
        done = subprocess.run(
            [self.binary, "gaps", "--json", *self._selection()],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"candlelake gaps exited {done.returncode}: {done.stderr.strip()}")
        return json.loads(done.stdout)["series"]


def build_definitions(shards: int, candlelake: Candlelake) -> Definitions:
    """The `candles` asset with `shards` partitions ("0" .. "N-1") and its `no_gaps` check."""
    if shards < 1:
        raise ValueError(f"the number of shards must be at least 1, not {shards}")
    partitions = StaticPartitionsDefinition([str(i) for i in range(shards)])

    @asset(
        name="candles",
        partitions_def=partitions,
        description="OHLCV candles in the Delta lake; partition I runs shard I/N of the selection.",
    )
    def candles(
        context: AssetExecutionContext,
        candlelake: Candlelake,
        pipes_subprocess_client: PipesSubprocessClient,
    ) -> MaterializeResult:
        command = candlelake.run_command(int(context.partition_key), shards)
        return pipes_subprocess_client.run(context=context, command=command).get_materialize_result()

    @asset_check(
        asset=candles,
        name="no_gaps",
        description="No not_fetched or removed gap in any series held (candlelake gaps --json).",
    )
    def no_gaps(candlelake: Candlelake) -> AssetCheckResult:
        held = candlelake.gaps()
        kinds = Counter(g["kind"] for s in held for g in s["gaps"])
        failing = [
            s for s in held if any(g["kind"] in FAILING_GAP_KINDS for g in s["gaps"])
        ]
        return AssetCheckResult(
            passed=not failing,
            metadata={
                "series_checked": len(held),
                "failing_series": sorted(
                    f"{s['provider']}/{s['asset_pair']}/{s['timeframe']}" for s in failing
                ),
                "failing_partitions": sorted(
                    {str(shard_of(s["provider"], s["asset_pair"], s["timeframe"], shards))
                     for s in failing}
                ),
                **{f"gaps_{kind}": kinds.get(kind, 0) for kind in
                   ("not_fetched", "removed", "dead_lettered", "no_trades", "unreachable")},
            },
        )

    return Definitions(
        assets=[candles],
        asset_checks=[no_gaps],
        resources={"candlelake": candlelake, "pipes_subprocess_client": PipesSubprocessClient()},
    )


defs = build_definitions(int(os.environ.get("CANDLELAKE_SHARDS", "4")), Candlelake())
