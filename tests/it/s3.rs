//! Object storage: `CANDLELAKE_LAKE=s3://...` against a real S3-compatible server on loopback
//! (moto, which honours `If-None-Match`), with two processes with separate state dirs
//! backfilling overlapping ranges of the same series into the same tables at once.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::crash::{synth_server, workspace};
use crate::support::Workspace;

struct Moto(Child, u16);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts moto's S3 server (`pip install moto[server]`; `.ci/run` does) with a bucket.
async fn moto() -> Moto {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("moto_server")
        .args(["-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server runs (pip install -r tests/python/requirements.txt)");
    let server = Moto(child, port);
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            let made = python(&format!(
                "import urllib.request as u; u.urlopen(u.Request('http://127.0.0.1:{port}/lake', method='PUT')); print('ok')"
            ));
            assert!(made.contains("ok"), "could not create the bucket: {made}");
            return server;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("moto did not start");
}

fn python(code: &str) -> String {
    let out = Command::new("python3").args(["-c", code]).output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn s3_env(ws: &mut Workspace, port: u16) {
    ws.env
        .insert("CANDLELAKE_LAKE".into(), "s3://lake/candles".into());
    for (k, v) in [
        ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}")),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ALLOW_HTTP", "true".into()),
    ] {
        ws.env.insert(k.into(), v);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_writers_on_s3_lose_no_commit_and_duplicate_nothing() {
    let s3 = moto().await;
    let server = synth_server().await;
    let wide = [
        "backfill",
        "--provider",
        "coinbase",
        "--pairs",
        "BTC-USD,ETH-USD",
        "--timeframes",
        "1h",
        "--start",
        "2024-01-01",
        "--end",
        "2024-02-01",
    ];
    let narrow = [
        "backfill",
        "--provider",
        "coinbase",
        "--pairs",
        "ETH-USD,BTC-USD",
        "--timeframes",
        "1h",
        "--start",
        "2024-01-10",
        "--end",
        "2024-02-01",
    ];

    // The expected rows: one clean local run.
    let reference = workspace(&server);
    assert_eq!(reference.run(&wide).await.status.code(), Some(0));
    let expected = reference
        .rows(candlelake::providers::Timeframe::H1)
        .await
        .len();

    let (mut a, mut b) = (workspace(&server), workspace(&server));
    s3_env(&mut a, s3.1);
    s3_env(&mut b, s3.1);
    let (first, second) = tokio::join!(a.run_json(&wide), b.run_json(&narrow));
    assert_eq!(first.0, 0, "{}", first.1);
    if second.0 != 0 {
        assert!(
            second
                .1
                .to_string()
                .contains("another run changed the coverage"),
            "{}",
            second.1
        );
        assert_eq!(b.run(&narrow).await.status.code(), Some(0));
    }
    assert_eq!(
        a.run(&wide).await.status.code(),
        Some(0),
        "a rerun finds everything in place"
    );

    let count = python(&format!(
        "from deltalake import DeltaTable\n\
         t = DeltaTable('s3://lake/candles/raw_market_data_1h', storage_options={{'AWS_ENDPOINT_URL': 'http://127.0.0.1:{port}', 'AWS_ACCESS_KEY_ID': 'testing', 'AWS_SECRET_ACCESS_KEY': 'testing', 'AWS_REGION': 'us-east-1', 'AWS_ALLOW_HTTP': 'true'}})\n\
         rows = t.to_pyarrow_table(columns=['asset_pair', 'timestamp']).to_pylist()\n\
         print(len(rows), len({{(r['asset_pair'], r['timestamp']) for r in rows}}))",
        port = s3.1
    ));
    assert_eq!(
        count.trim(),
        format!("{expected} {expected}"),
        "rows and unique rows on S3"
    );
}
