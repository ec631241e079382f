//! The tables open with the Python `deltalake` package, Polars and DuckDB with the contract's
//! column types and exact values (`tests/setup.sh` installs them).

use crate::support::workspace::python_readers;
use crate::support::{Workspace, root};

#[tokio::test(flavor = "multi_thread")]
async fn python_deltalake_reads_the_contract_schema_and_exact_values() {
    let ws = Workspace::offline();
    ws.run_expect(["demo"], 0).await;
    let lake = ws.dir.path().join("data/demo/lake");
    let check = python_readers(&[&lake, &root().join("fixtures/coinbase/demo")]);
    let stdout = String::from_utf8_lossy(&check.stdout);
    for reader in ["read_deltalake", "read_polars", "read_duckdb"] {
        assert!(
            stdout.contains(&format!("{reader} read 848 rows")),
            "{stdout}"
        );
    }
}
