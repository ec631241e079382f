//! An `s3://` source: Binance archives and their checksums in a bucket of a real S3-compatible
//! server (moto), imported like local files, skipped when unchanged (by ETag).

use candlelake::providers::Timeframe;

use super::{commits, statuses, table};
use crate::support::servers::moto;
use crate::support::{Workspace, python, root};

#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_prefix_imports_like_a_directory() {
    let s3 = moto().await;
    let uploaded = python(&format!(
        "import boto3, os\n\
         s3 = boto3.client('s3', endpoint_url='{}', aws_access_key_id='testing',\n\
                           aws_secret_access_key='testing', region_name='us-east-1')\n\
         d = '{}'\n\
         [s3.upload_file(os.path.join(d, n), 'lake', 'vendor/binance/' + n) for n in os.listdir(d)]\n\
         print('uploaded')",
        s3.url(),
        root().join("fixtures/import/binance").display()
    ));
    assert!(uploaded.contains("uploaded"), "{uploaded}");
    let mut ws = Workspace::offline();
    for (k, v) in [
        ("AWS_ENDPOINT_URL", s3.url()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ALLOW_HTTP", "true".into()),
    ] {
        ws.set(k, &v);
    }
    let args = [
        "import",
        "--format",
        "binance-klines",
        "--source",
        "s3://lake/vendor/binance/",
    ];
    let report = ws.run_json_expect(args, 2).await;
    assert_eq!(
        statuses(&report),
        [
            ("BNBUSDT-1m-2024-01-01.zip".into(), "failed".into(), 0, 0, 0),
            (
                "BTCUSDT-1m-2024-01-01.zip".into(),
                "success".into(),
                3,
                1,
                1
            ),
            (
                "ETHUSDT-1m-2025-01-01.zip".into(),
                "success".into(),
                2,
                2,
                0
            ),
            ("SOLUSDT-1m-2024-01-01.zip".into(), "failed".into(), 0, 0, 0),
        ]
    );
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
    let local = Workspace::offline();
    let dir = super::fixture_dir(&local, "binance");
    local
        .run_json_expect(super::import("binance-klines", &dir, &[]), 2)
        .await;
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
