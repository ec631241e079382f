//! The offline demo: real tables from the bundled fixtures with no HTTP, and an exact rerun.

use candlelake::providers::Timeframe;

use crate::support::{Workspace, stdout_json};

#[tokio::test(flavor = "multi_thread")]
async fn demo_writes_mock_rows_and_a_rerun_writes_nothing() {
    // No provider URL: the demo must not need one.
    let ws = Workspace::offline();
    let out = ws.run_expect(["demo"], 0).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("848 candles written, 1 dead-lettered"),
        "{stdout}"
    );
    assert!(
        stdout.contains("data/demo/lake/raw_market_data_1h: 668 rows"),
        "{stdout}"
    );
    // The bundled product list, online products only, with the coverage the demo wrote.
    let listed = stdout
        .split("the bundled Coinbase product list (5 online):\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no product list: {stdout}"));
    let lines: Vec<&str> = listed.lines().take_while(|l| !l.is_empty()).collect();
    assert_eq!(
        lines,
        [
            "  BTC-USD        online    spot                BTC/USD",
            "      held 1h  2024-03-01T00:00:00Z .. 2024-03-15T00:00:00Z",
            "      held 1d  2024-01-01T00:00:00Z .. 2024-03-31T00:00:00Z",
            "  ETH-USD        online    spot                ETH/USD",
            "      held 1h  2024-03-01T00:00:00Z .. 2024-03-15T00:00:00Z",
            "      held 1d  2024-01-01T00:00:00Z .. 2024-03-31T00:00:00Z",
            "  SEI-USD        online    spot                SEI/USD",
            "  BTC-EUR        online    spot                BTC/EUR",
            "  ETH-BTC        online    spot                ETH/BTC",
        ]
    );

    let demo_lake = ws.dir.path().join("data/demo/lake").display().to_string();
    let sink = candlelake::sink::DeltaSink::new(&demo_lake, Default::default());
    let rows = sink.read_rows(Timeframe::H1).await.unwrap();
    assert_eq!(rows.len(), 668);
    assert!(rows.iter().all(|r| r.is_mock));
    assert!(
        !ws.dir.path().join("lake").exists(),
        "the demo leaves the real lake alone"
    );

    let summary = stdout_json(&ws.run(["--output", "json", "demo"]).await);
    assert_eq!(summary["total_records"], 0);
    assert_eq!(sink.read_rows(Timeframe::H1).await.unwrap().len(), 668);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_prints_commands_that_show_what_it_wrote() {
    let ws = Workspace::offline();
    let out = ws.run_expect(["demo"], 0).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let commands: Vec<Vec<String>> = stdout
        .lines()
        .map(str::trim)
        .filter_map(|l| l.strip_prefix("candlelake "))
        .map(|l| l.split(' ').map(String::from).collect())
        .collect();
    assert_eq!(commands.len(), 3, "status, gaps, dlq list: {stdout}");

    let status = ws
        .run_expect(commands[0].iter().chain([&"--json".to_string()]), 0)
        .await;
    let status = stdout_json(&status);
    assert_eq!(status["series"].as_array().unwrap().len(), 4, "{status}");
    let gaps = ws.run_expect(&commands[1], 0).await;
    assert!(String::from_utf8_lossy(&gaps.stdout).contains("BTC-USD 1h"));
    let dlq = ws.run_expect(&commands[2], 0).await;
    assert!(
        String::from_utf8_lossy(&dlq.stdout).contains("records"),
        "the demo's dead-lettered candle is listed"
    );
}
