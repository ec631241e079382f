//! Settings and locations a user gets wrong: an unknown or mistyped config key, an empty lake or
//! state dir, a file where a directory belongs. Each exits 1 with one line naming the file, key,
//! variable or path, before any request and with nothing written, in `--dry-run` too.

use wiremock::MockServer;

use crate::support::Workspace;
use crate::support::args::{Args, backfill, refetch};
use crate::support::servers::serve_fixture;

async fn server() -> MockServer {
    serve_fixture(200, "coinbase/invalid/SOL-USD-1h.json").await
}

const RANGE: (&str, &str) = ("2024-03-01", "2024-03-01T12:00:00Z");

fn sol() -> Args {
    backfill("coinbase", "SOL-USD", "1h").range(RANGE.0, RANGE.1)
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_settings_exit_1_naming_the_file_and_key() {
    let server = server().await;
    // TC: (candlelake.toml, extra args, env override, words the message must hold)
    type Case = (
        &'static str,
        &'static [&'static str],
        Option<(&'static str, &'static str)>,
        &'static [&'static str],
    );
    // The empty lakes are dry runs, so that a build without the check writes nothing at `/`.
    let cases: [Case; 5] = [
        (
            "lakee = \"x\"\n",
            &[],
            None,
            &["unknown key lakee", "did you mean lake?"],
        ),
        (
            "[coinbase]\nrsp = 5\n",
            &[],
            None,
            &["unknown key [coinbase] rsp", "did you mean rps?"],
        ),
        (
            "commit_rows = \"x\"\n",
            &[],
            None,
            &["commit_rows in the config file candlelake.toml is 'x'"],
        ),
        (
            "",
            &["--dry-run", "--lake", ""],
            None,
            &["CANDLELAKE_LAKE is empty"],
        ),
        (
            "",
            &["--dry-run"],
            Some(("CANDLELAKE_LAKE", "")),
            &["CANDLELAKE_LAKE is empty"],
        ),
    ];
    for (toml, extra, env, words) in cases {
        let mut ws = Workspace::new(&server.uri());
        std::fs::write(ws.dir.path().join("candlelake.toml"), toml).unwrap();
        if let Some((k, v)) = env {
            ws.env.insert(k.into(), v.into());
        }
        let out = ws.run(extra.iter().fold(sol(), |a, w| a.arg(w))).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{toml:?} {extra:?}: {stderr}");
        for w in words {
            assert!(stderr.contains(w), "{toml:?} {extra:?}: {stderr}");
        }
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        let written = crate::support::walk(ws.dir.path());
        assert_eq!(written.len(), 1, "only the config file: {written:?}");
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_in_the_way_exits_1_before_any_request() {
    let server = server().await;
    let commands = [
        sol(),
        sol().arg("--dry-run"),
        Args::of(&["topup"]),
        refetch("coinbase", "SOL-USD", "1h").range(RANGE.0, RANGE.1),
        Args::of(&["dlq", "replay"]),
    ];
    // TC: (what is in the way, relative to the workspace; the lake it sets, if not the default)
    let cases = [
        ("lake", None),
        ("state", None),
        ("state/dlq", None),
        ("blocker", Some("blocker/lake")),
    ];
    for (blocker, lake) in cases {
        for command in &commands {
            let mut ws = Workspace::new(&server.uri());
            let path = ws.dir.path().join(blocker);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, "not a directory").unwrap();
            if let Some(lake) = lake {
                let lake = ws.dir.path().join(lake).display().to_string();
                ws.env.insert("CANDLELAKE_LAKE".into(), lake);
            }
            let before = crate::support::walk(ws.dir.path());
            let out = ws.run(command).await;
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(1),
                "{blocker} {command:?}: {stderr}"
            );
            assert!(
                stderr.contains(&format!("{} is a file, not a directory", path.display())),
                "{blocker} {command:?}: {stderr}"
            );
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
            assert_eq!(crate::support::walk(ws.dir.path()), before, "{command:?}");
        }
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}

/// An `s3://` lake with no AWS credentials anywhere (no `AWS_*` variable, no `~/.aws`): one
/// line naming the variables to set, soon, whatever the instance metadata service does.
#[tokio::test(flavor = "multi_thread")]
async fn an_s3_lake_without_credentials_is_one_line_naming_the_aws_variables() {
    let server = server().await;
    let ws = Workspace::new(&server.uri());
    for command in [sol(), Args::of(&["status"])] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_candlelake"))
            .args(&command)
            .env_clear()
            .envs(&ws.env)
            .env("CANDLELAKE_LAKE", "s3://bucket/x")
            .env("HOME", ws.dir.path())
            .current_dir(ws.dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        let code = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status.code();
            }
            if started.elapsed() > std::time::Duration::from_secs(60) {
                child.kill().unwrap();
                panic!("{command:?} still runs after a minute");
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        let took = started.elapsed();
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert_eq!(code, Some(1), "{command:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{command:?}: {stderr}");
        for var in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_REGION",
            "AWS_ENDPOINT_URL",
            "AWS_ALLOW_HTTP",
        ] {
            assert!(stderr.contains(var), "{command:?}: {stderr}");
        }
        assert!(took.as_secs() < 5, "{command:?} took {took:?}");
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}
