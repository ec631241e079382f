//! `--shard I/N`: N workers on one selection, one lake and one state dir do exactly what one
//! worker does, each taking the series whose FNV-1a hash of `{provider}/{pair}/{tf}` is I
//! modulo N (computed here independently, as another tool would).

use std::collections::BTreeSet;

use candlelake::providers::Timeframe;

use crate::support::args::{Args, backfill};
use crate::support::synth::synth_server;
use crate::support::{Workspace, cells, shard_of};

const PAIRS: &str = "BTC-USD,ETH-USD,SOL-USD,LTC-USD";

fn week() -> Args {
    backfill("coinbase", PAIRS, "1h,1d").range("2024-01-01", "2024-01-08")
}

type Key = (String, String, String);

fn keys(list: &serde_json::Value, pair_key: &str) -> BTreeSet<Key> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["provider"].as_str().unwrap().to_string(),
                s[pair_key].as_str().unwrap().to_string(),
                s["timeframe"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_prints_each_shards_part_of_the_plan() {
    let server = synth_server().await;
    let ws = Workspace::synth(&server);
    let all = keys(
        &ws.report(week().arg("--dry-run")).await["series"],
        "asset_pair",
    );
    assert_eq!(all.len(), 8);
    let mut union = BTreeSet::new();
    for i in 0..4 {
        let report = ws
            .report(week().arg("--dry-run").flag("--shard", &format!("{i}/4")))
            .await;
        assert_eq!(report["shard"], format!("{i}/4"));
        let part = keys(&report["series"], "asset_pair");
        let expected: BTreeSet<Key> = all
            .iter()
            .filter(|(p, pair, tf)| shard_of(p, pair, tf, 4) == i)
            .cloned()
            .collect();
        assert_eq!(part, expected, "shard {i}/4");
        assert!(union.is_disjoint(&part));
        union.extend(part);
    }
    assert_eq!(union, all);
    let bad = ws.run_expect(week().flag("--shard", "4/4"), 1).await;
    assert!(String::from_utf8_lossy(&bad.stderr).contains("I/N"));
}

#[tokio::test(flavor = "multi_thread")]
async fn four_shards_at_once_write_what_one_run_writes() {
    let server = synth_server().await;
    let ws = Workspace::synth(&server);
    // Three by flag, the fourth as a Kubernetes Indexed Job sees it.
    let json = |args: Args| args.global(&["--output", "json"]);
    let children: Vec<_> = (0..4)
        .map(|i| {
            let mut command = if i < 3 {
                ws.command(json(week().flag("--shard", &format!("{i}/4"))))
            } else {
                let mut c = ws.command(json(week()));
                c.env("JOB_COMPLETION_INDEX", "3")
                    .env("CANDLELAKE_SHARDS", "4");
                c
            };
            command.stdout(std::process::Stdio::piped());
            command.spawn().unwrap()
        })
        .collect();
    let mut ran = BTreeSet::new();
    for child in children {
        let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
            .await
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let part = keys(&summary["results"], "asset_pair");
        assert!(ran.is_disjoint(&part), "two shards ran one series");
        ran.extend(part);
    }
    assert_eq!(ran.len(), 8, "every series ran once");

    let reference = Workspace::synth(&server);
    reference.run_expect(week(), 0).await;
    for tf in [Timeframe::H1, Timeframe::D1] {
        assert_eq!(
            cells(ws.rows(tf).await),
            cells(reference.rows(tf).await),
            "{tf}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn topup_tops_up_only_its_shard() {
    let server = synth_server().await;
    let ws = Workspace::synth(&server);
    let day = crate::support::days_ago;
    ws.run_expect(backfill("coinbase", PAIRS, "1d").range(&day(6), &day(3)), 0)
        .await;
    let summary = ws.run_ok(["topup", "--shard", "1/2"]).await;
    let ran = keys(&summary["results"], "asset_pair");
    let expected: BTreeSet<Key> = PAIRS
        .split(',')
        .filter(|pair| shard_of("coinbase", pair, "1d", 2) == 1)
        .map(|pair| ("coinbase".into(), pair.into(), "1d".into()))
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(ran, expected, "{summary}");
}
