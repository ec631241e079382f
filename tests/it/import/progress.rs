//! An import's progress: on a terminal, a line per file in flight (its name and size) and a bar
//! for the run (files done of all, candles written); without one, nothing drawn and a log line
//! per file instead.

use std::path::{Path, PathBuf};

use super::import;
use crate::support::workspace::output;
use crate::support::{Workspace, root};

/// The files imported: (name, pair, candles).
const FILES: [(&str, &str, u64); 2] = [
    ("alpha.csv", "BTC-USD", 1_500),
    ("beta.csv", "ETH-USD", 700),
];

/// Generic CSV files of `FILES`, one-minute candles from 2024-01-01.
fn csv_dir(ws: &Workspace) -> PathBuf {
    let dir = ws.dir.path().join("files/csv");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, pair, candles) in FILES {
        let mut text = String::from("pair,timestamp,open,high,low,close,volume\n");
        for m in 0..candles {
            let t = 1_704_067_200 + 60 * m;
            text.push_str(&format!("{pair},{t},100.5,101.25,100,100.75,3.5\n"));
        }
        std::fs::write(dir.join(name), text).unwrap();
    }
    dir
}

fn csv_import(dir: &Path) -> Vec<String> {
    let flags = [
        "--timeframe",
        "1m",
        "--provider-name",
        "desk",
        "--timestamp-unit",
        "s",
    ];
    import("csv", dir, &flags)
}

/// What a terminal shows of `drawn`, one drawn line a line: control sequences (CSI) removed,
/// carriage returns ending lines.
fn screen(drawn: &[u8]) -> String {
    let text = String::from_utf8_lossy(drawn);
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' if chars.peek() == Some(&'[') => {
                chars.next();
                // Parameter and intermediate bytes, then one final byte in @..~.
                while chars.next().is_some_and(|c| !('@'..='~').contains(&c)) {}
            }
            '\r' => out.push('\n'),
            c => out.push(c),
        }
    }
    out
}

#[tokio::test]
async fn a_terminal_shows_each_file_and_a_bar_for_the_run() {
    let ws = Workspace::offline().with("TERM", "xterm");
    let dir = csv_dir(&ws);
    let mut args = vec![
        root()
            .join("tests/python/on_terminal.py")
            .display()
            .to_string(),
        env!("CARGO_BIN_EXE_candlelake").to_string(),
    ];
    args.extend(csv_import(&dir));
    let out = output(ws.program("python3", args)).await;
    let shown = screen(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    for (name, _, _) in FILES {
        let kib = std::fs::metadata(dir.join(name)).unwrap().len() / 1024;
        assert!(kib > 0);
        // `  {name padded to 40} {spinner} {size} KiB`
        let drawn = shown
            .split(&format!("  {name:40} "))
            .skip(1)
            .filter_map(|rest| rest.split_once(' '))
            .any(|(spinner, rest)| {
                spinner.chars().count() == 1 && rest.starts_with(&format!("{kib} KiB "))
            });
        assert!(drawn, "no line for {name} ({kib} KiB) in:\n{shown}");
    }
    let total: u64 = FILES.iter().map(|f| f.2).sum();
    let done = format!(
        "{:24} [{}] 2/2 files, {total} candles",
        "import",
        "=".repeat(30)
    );
    assert!(shown.contains(&done), "no {done:?} in:\n{shown}");
    let report = ws.run_json_expect(csv_import(&dir), 0).await;
    assert!(
        report["files"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["status"] == "skipped"),
        "the run on the terminal imported the files: {report}"
    );
}

#[tokio::test]
async fn without_a_terminal_nothing_is_drawn_and_each_file_is_logged() {
    let ws = Workspace::offline();
    let dir = csv_dir(&ws);
    let out = ws.run_expect(csv_import(&dir), 0).await;
    let logs = String::from_utf8_lossy(&out.stderr);
    for drawn in ["\x1b", "\r", "KiB", " files, ", "[="] {
        assert!(!logs.contains(drawn), "{drawn:?} in:\n{logs}");
    }
    for (name, _, candles) in FILES {
        let logged = logs.lines().filter(|l| {
            l.contains("File imported.")
                && l.contains(&format!("{name}\""))
                && l.contains(&format!("rows={candles}"))
        });
        assert_eq!(logged.count(), 1, "{name} in:\n{logs}");
    }
}
