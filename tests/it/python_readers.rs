//! The tables open with the Python `deltalake` package, Polars and DuckDB with the contract's column types and
//! exact values (`pip install -r tests/python/requirements.txt` first; `.ci/run` does).

use std::path::Path;

use crate::support::Workspace;

#[tokio::test(flavor = "multi_thread")]
async fn python_deltalake_reads_the_contract_schema_and_exact_values() {
    let ws = Workspace::new("http://127.0.0.1:9");
    let out = ws.run(&["demo"]).await;
    assert_eq!(out.status.code(), Some(0));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let check = std::process::Command::new("python3")
        .arg(root.join("tests/python/check_tables.py"))
        .arg(ws.dir.path().join("data/demo/lake"))
        .arg(root.join("fixtures/coinbase/demo"))
        .output()
        .expect("python3 runs");
    assert!(
        check.status.success(),
        "python check failed (pip install -r tests/python/requirements.txt):\n{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let stdout = String::from_utf8_lossy(&check.stdout);
    for reader in ["read_deltalake", "read_polars", "read_duckdb"] {
        assert!(
            stdout.contains(&format!("{reader} read 848 rows")),
            "{stdout}"
        );
    }
}
