//! Object storage against a real S3-compatible server (moto): an `s3://` source (Binance
//! archives and their checksums in a bucket) imported like local files and skipped when
//! unchanged (by ETag); with an `s3://` lake, importers claiming files by conditional puts
//! in the lake instead of lock files; and with an `s3://` state dir, importers on two machines
//! sharing their per-file states and claims there.

use candlelake::providers::Timeframe;

use super::{binance_statuses, commits, statuses, table};
use crate::support::servers::moto;
use crate::support::{Workspace, python, root};

fn with_s3(mut ws: Workspace, endpoint: &str) -> Workspace {
    for (k, v) in [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ALLOW_HTTP", "true"),
    ] {
        ws.set(k, v);
    }
    ws
}

/// Uploads the Binance fixtures to `s3://lake/vendor/binance/`.
fn upload_binance(endpoint: &str) {
    let uploaded = python(&format!(
        "import boto3, os\n\
         s3 = boto3.client('s3', endpoint_url='{}', aws_access_key_id='testing',\n\
                           aws_secret_access_key='testing', region_name='us-east-1')\n\
         d = '{}'\n\
         [s3.upload_file(os.path.join(d, n), 'lake', 'vendor/binance/' + n) for n in os.listdir(d)]\n\
         print('uploaded')",
        endpoint,
        root().join("fixtures/import/binance").display()
    ));
    assert!(uploaded.contains("uploaded"), "{uploaded}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_prefix_imports_like_a_directory() {
    let s3 = moto().await;
    upload_binance(&s3.url());
    let ws = with_s3(Workspace::offline(), &s3.url());
    let args = [
        "import",
        "--format",
        "binance-klines",
        "--source",
        "s3://lake/vendor/binance/",
    ];
    let report = ws.run_json_expect(args, 2).await;
    assert_eq!(statuses(&report), binance_statuses());
    assert_eq!(
        report["files"][1]["path"],
        "s3://lake/vendor/binance/BTCUSDT-1m-2024-01-01.zip"
    );
    assert!(
        report["files"][0]["error"]
            .as_str()
            .unwrap()
            .contains("its .CHECKSUM says")
    );
    let local = local_import().await;
    assert_eq!(
        table(&ws, Timeframe::M1).await,
        table(&local, Timeframe::M1).await
    );
    let versions = commits(&ws, "1m");
    let again = ws.run_json_expect(args, 2).await;
    let skipped = statuses(&again).iter().filter(|s| s.1 == "skipped").count();
    assert_eq!(skipped, 2, "{again}");
    assert_eq!(commits(&ws, "1m"), versions);
}

#[tokio::test(flavor = "multi_thread")]
async fn importers_on_an_s3_lake_claim_files_in_the_lake() {
    let s3 = moto().await;
    let ws = with_s3(Workspace::offline(), &s3.url()).with("CANDLELAKE_LAKE", "s3://lake/candles");
    let dir = super::fixture_dir(&ws, "binance");
    let mut args = vec!["--output".to_string(), "json".to_string()];
    args.extend(super::import("binance-klines", &dir, &[]));
    let (a, b) = (ws.spawn(&args), ws.spawn(&args));
    let (a, b) = tokio::task::spawn_blocking(move || {
        (a.wait_with_output().unwrap(), b.wait_with_output().unwrap())
    })
    .await
    .unwrap();
    // An importer that tried a bad file fails with it (exit 2); one that claimed only good
    // files, or none, exits 0.
    let (mut imported, mut failed) = (Vec::new(), Vec::new());
    for out in [&a, &b] {
        assert!(
            matches!(out.status.code(), Some(0 | 2)),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report = crate::support::stdout_json(out);
        for s in statuses(&report) {
            match s.1.as_str() {
                "success" => imported.push(s.0),
                "failed" => failed.push(s.0),
                _ => {}
            }
        }
    }
    // A failed file's claim is released, so the other importer may try it too.
    failed.sort();
    failed.dedup();
    assert_eq!(
        failed,
        ["BNBUSDT-1m-2024-01-01.zip", "SOLUSDT-1m-2024-01-01.zip"],
        "only the bad files failed"
    );
    assert!(
        [&a, &b].iter().any(|o| o.status.code() == Some(2)),
        "a failed file makes its importer exit 2"
    );
    imported.sort();
    assert_eq!(
        imported,
        ["BTCUSDT-1m-2024-01-01.zip", "ETHUSDT-1m-2025-01-01.zip"]
    );
    let locks = std::fs::read_dir(ws.state().join("imports"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "lock")
        })
        .count();
    assert_eq!(locks, 0, "an s3 lake takes its claims in the lake");
    let claims = python(&format!(
        "import boto3\n\
         s3 = boto3.client('s3', endpoint_url='{}', aws_access_key_id='testing',\n\
                           aws_secret_access_key='testing', region_name='us-east-1')\n\
         r = s3.list_objects_v2(Bucket='lake', Prefix='candles/_candlelake/import-claims/')\n\
         print('claims', r['KeyCount'])",
        s3.url()
    ));
    assert!(
        claims.contains("claims 0"),
        "released claims stay: {claims}"
    );
    assert_lake_rows_of_a_local_import(&s3.url()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn importers_on_two_machines_with_one_s3_state_dir_import_each_file_once() {
    let s3 = moto().await;
    upload_binance(&s3.url());
    let machine = || {
        with_s3(Workspace::offline(), &s3.url())
            .with("CANDLELAKE_LAKE", "s3://lake/candles")
            .with("CANDLELAKE_STATE_DIR", "s3://lake/state")
    };
    let (one, two) = (machine(), machine());
    let args = [
        "--output",
        "json",
        "import",
        "--format",
        "binance-klines",
        "--source",
        "s3://lake/vendor/binance/",
    ];
    let (a, b) = (one.spawn(args), two.spawn(args));
    let imported = super::imported(&super::outputs(a, b).await, &[0, 2]);
    assert_eq!(
        imported,
        ["BTCUSDT-1m-2024-01-01.zip", "ETHUSDT-1m-2025-01-01.zip"],
        "each good file imported by one machine, once"
    );
    for ws in [&one, &two] {
        assert!(!ws.dir.path().join("s3:").exists(), "no state on disk");
    }
    let objects = python(&format!(
        "import boto3\n\
         s3 = boto3.client('s3', endpoint_url='{}', aws_access_key_id='testing',\n\
                           aws_secret_access_key='testing', region_name='us-east-1')\n\
         r = s3.list_objects_v2(Bucket='lake', Prefix='state/imports/')\n\
         print(sorted(o['Key'].split('/', 2)[2].split('/')[0] for o in r.get('Contents', [])))",
        s3.url()
    ));
    assert_eq!(
        objects.matches(".json").count(),
        4,
        "one state object per file, and no claim left: {objects}"
    );
    assert!(!objects.contains("claims"), "{objects}");

    // A third run on either machine finds every good file done.
    let again = one.run_json_expect(&args[2..], 2).await;
    let skipped = statuses(&again).iter().filter(|s| s.1 == "skipped").count();
    assert_eq!(skipped, 2, "{again}");
    assert_lake_rows_of_a_local_import(&s3.url()).await;
}

/// The Binance fixtures imported into a local lake of their own.
async fn local_import() -> Workspace {
    let local = Workspace::offline();
    let dir = super::fixture_dir(&local, "binance");
    local
        .run_json_expect(super::import("binance-klines", &dir, &[]), 2)
        .await;
    local
}

/// The S3 lake's 1m table holds as many rows as a local import of the same files.
async fn assert_lake_rows_of_a_local_import(endpoint: &str) {
    let lake_rows = lake_rows(endpoint);
    let expected = table(&local_import().await, Timeframe::M1).await.len();
    assert!(
        lake_rows.contains(&format!("rows {expected}\n")),
        "{lake_rows}"
    );
}

/// The S3 lake's 1m table as delta-rs Python reads it: "rows N".
fn lake_rows(endpoint: &str) -> String {
    python(&format!(
        "from deltalake import DeltaTable\n\
         o = dict(AWS_ENDPOINT_URL='{endpoint}', AWS_ACCESS_KEY_ID='testing', AWS_SECRET_ACCESS_KEY='testing', AWS_REGION='us-east-1', AWS_ALLOW_HTTP='true')\n\
         t = DeltaTable('s3://lake/candles/raw_market_data_1m', storage_options=o).to_pyarrow_table()\n\
         print('rows', t.num_rows)"
    ))
}
