"""Reads the offline demo's tables with the Python `deltalake` package and checks them against
the contract (column order, types, nullability, partitioning) and against the bundled fixtures
(every value exact, as Decimal).

usage: check_tables.py <lake> <fixtures/coinbase/demo>
"""

import json
import sys
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable

DEC = pa.decimal128(38, 18)
TS = pa.timestamp("us", tz="UTC")
SCHEMA = [
    ("timestamp", TS), ("asset_pair", pa.string()), ("timeframe", pa.string()),
    ("open", DEC), ("high", DEC), ("low", DEC), ("close", DEC), ("volume", DEC),
    ("volume_kind", pa.string()), ("source_provider", pa.string()), ("_extracted_at", TS),
    ("_ingestion_id", pa.string()), ("is_mock", pa.bool_()), ("partition_date", pa.date32()),
    ("partition_asset_pair", pa.string()),
]
PERIOD = {"1h": "month", "1d": "year"}


def fixture_candles(fixtures: Path, pair: str, tf: str) -> dict:
    body = json.loads((fixtures / f"{pair}-{tf}.json").read_text())
    out = {}
    for c in body["candles"]:
        t = datetime.fromtimestamp(int(c["start"]), tz=timezone.utc)
        out[t] = {k: Decimal(c[k]) for k in ("open", "high", "low", "close", "volume")}
    return out


def check(lake: Path, fixtures: Path) -> int:
    checked = 0
    for tf, period in PERIOD.items():
        table = DeltaTable(str(lake / f"raw_market_data_{tf}"))
        assert table.metadata().partition_columns == ["partition_date", "partition_asset_pair"]
        assert table.metadata().configuration["candlelake.partitionPeriod"] == period
        data = table.to_pyarrow_table()
        got = [(f.name, f.type, f.nullable) for f in data.schema]
        want = [(name, typ, False) for name, typ in SCHEMA]
        assert got == want, f"{tf}: schema\n got  {got}\n want {want}"
        assert data.num_rows > 0, f"{tf}: empty table"
        for row in data.to_pylist():
            pair, t = row["asset_pair"], row["timestamp"]
            expected = fixture_candles(fixtures, pair, tf)[t]
            for k, v in expected.items():
                assert row[k] == v, f"{tf} {pair} {t} {k}: {row[k]} != {v}"
            assert row["timeframe"] == tf and row["source_provider"] == "coinbase"
            assert row["volume_kind"] == "base" and row["is_mock"] is True
            assert row["partition_asset_pair"] == pair
            d = t.date()
            want_date = d.replace(day=1) if period == "month" else d.replace(month=1, day=1)
            assert row["partition_date"] == want_date, f"{t}: partition {row['partition_date']}"
            checked += 1
        keys = [(r["asset_pair"], r["timestamp"]) for r in data.select(["asset_pair", "timestamp"]).to_pylist()]
        assert len(keys) == len(set(keys)), f"{tf}: duplicate (pair, timestamp)"
    print(f"python deltalake read {checked} rows; schema and every value match")
    return checked


if __name__ == "__main__":
    check(Path(sys.argv[1]), Path(sys.argv[2]))
