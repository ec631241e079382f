"""Reads the offline demo's tables with three real readers (the Python `deltalake` package,
Polars and DuckDB's delta extension) and checks each against the contract (column order, types,
nullability, partitioning) and against the bundled fixtures: every value exact, as Decimal.

usage: check_tables.py <lake> <fixtures/coinbase/demo>
       check_tables.py --keys <table>   prints {reader: [[asset_pair, unix seconds], ...]} as JSON
"""

import glob
import json
import os
import sys
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import duckdb
import duckdb_extension_delta
import polars as pl
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
POLARS = {
    "timestamp": pl.Datetime("us", "UTC"), "_extracted_at": pl.Datetime("us", "UTC"),
    "open": pl.Decimal(38, 18), "high": pl.Decimal(38, 18), "low": pl.Decimal(38, 18),
    "close": pl.Decimal(38, 18), "volume": pl.Decimal(38, 18), "is_mock": pl.Boolean,
    "partition_date": pl.Date,
}
DUCKDB = {
    "timestamp": "TIMESTAMP WITH TIME ZONE", "_extracted_at": "TIMESTAMP WITH TIME ZONE",
    "open": "DECIMAL(38,18)", "high": "DECIMAL(38,18)", "low": "DECIMAL(38,18)",
    "close": "DECIMAL(38,18)", "volume": "DECIMAL(38,18)", "is_mock": "BOOLEAN",
    "partition_date": "DATE",
}
PERIOD = {"1h": "month", "1d": "year"}
PRICES = ("open", "high", "low", "close", "volume")


def fixture_candles(fixtures: Path, pair: str, tf: str) -> dict:
    body = json.loads((fixtures / f"{pair}-{tf}.json").read_text())
    out = {}
    for c in body["candles"]:
        t = datetime.fromtimestamp(int(c["start"]), tz=timezone.utc)
        out[t] = {k: Decimal(c[k]) for k in PRICES}
    return out


def read_deltalake(path: str) -> list:
    table = DeltaTable(path)
    assert table.metadata().partition_columns == ["partition_date", "partition_asset_pair"]
    data = table.to_pyarrow_table()
    got = [(f.name, f.type, f.nullable) for f in data.schema]
    want = [(name, typ, False) for name, typ in SCHEMA]
    assert got == want, f"deltalake schema\n got  {got}\n want {want}"
    return data.to_pylist()


def read_polars(path: str) -> list:
    df = pl.read_delta(path)
    assert df.columns == [name for name, _ in SCHEMA], f"polars columns {df.columns}"
    for name, typ in POLARS.items():
        assert df.schema[name] == typ, f"polars {name}: {df.schema[name]} != {typ}"
    return df.to_dicts()


def read_duckdb(path: str) -> list:
    ext = glob.glob(os.path.join(os.path.dirname(duckdb_extension_delta.__file__), "extensions", "**", "*.duckdb_extension"), recursive=True)
    con = duckdb.connect()
    con.execute(f"LOAD '{ext[0]}'")
    con.execute("SET TimeZone = 'UTC'")
    rel = con.sql(f"SELECT * FROM delta_scan('{path}')")
    types = dict(zip(rel.columns, [str(t) for t in rel.types]))
    assert rel.columns == [name for name, _ in SCHEMA], f"duckdb columns {rel.columns}"
    for name, typ in DUCKDB.items():
        assert types[name] == typ, f"duckdb {name}: {types[name]} != {typ}"
    return [dict(zip(rel.columns, row)) for row in rel.fetchall()]


def check(lake: Path, fixtures: Path) -> None:
    for reader in (read_deltalake, read_polars, read_duckdb):
        checked = 0
        for tf, period in PERIOD.items():
            rows = reader(str(lake / f"raw_market_data_{tf}"))
            assert rows, f"{reader.__name__} {tf}: empty table"
            for row in rows:
                pair, t = row["asset_pair"], row["timestamp"].astimezone(timezone.utc)
                expected = fixture_candles(fixtures, pair, tf)[t]
                for k, v in expected.items():
                    assert row[k] == v, f"{reader.__name__} {tf} {pair} {t} {k}: {row[k]} != {v}"
                assert row["timeframe"] == tf and row["source_provider"] == "coinbase"
                assert row["volume_kind"] == "base" and row["is_mock"] is True
                assert row["partition_asset_pair"] == pair
                d = t.date()
                want_date = d.replace(day=1) if period == "month" else d.replace(month=1, day=1)
                assert row["partition_date"] == want_date, f"{t}: partition {row['partition_date']}"
                checked += 1
            keys = [(r["asset_pair"], r["timestamp"]) for r in rows]
            assert len(keys) == len(set(keys)), f"{tf}: duplicate (pair, timestamp)"
        print(f"{reader.__name__} read {checked} rows; schema and every value match")


def keys(table: Path) -> None:
    out = {}
    for reader in (read_deltalake, read_polars, read_duckdb):
        rows = reader(str(table))
        out[reader.__name__] = sorted(
            [r["asset_pair"], int(r["timestamp"].timestamp())] for r in rows
        )
    print(json.dumps(out))


if __name__ == "__main__":
    if sys.argv[1] == "--keys":
        keys(Path(sys.argv[2]))
    else:
        check(Path(sys.argv[1]), Path(sys.argv[2]))
