//! Command lines for the binary, built in one line instead of written out flag by flag:
//! `backfill("coinbase", "BTC-USD,ETH-USD", "1h").range("2024-01-01", "2024-01-08")`.

/// The words of one command line.
#[derive(Clone, Debug)]
pub struct Args(Vec<String>);

/// `backfill --provider P --pairs PAIRS --timeframes TFS`.
pub fn backfill(provider: &str, pairs: &str, timeframes: &str) -> Args {
    Args::series("backfill", provider, pairs, timeframes)
}

/// `refetch --provider P --pairs PAIRS --timeframes TFS`.
pub fn refetch(provider: &str, pairs: &str, timeframes: &str) -> Args {
    Args::series("refetch", provider, pairs, timeframes)
}

impl Args {
    /// Any command line, word by word.
    pub fn of(words: &[&str]) -> Args {
        Args(words.iter().map(|w| w.to_string()).collect())
    }

    /// A command that selects series (`backfill`, `refetch`, `topup`).
    pub fn series(command: &str, provider: &str, pairs: &str, timeframes: &str) -> Args {
        Args::of(&[command, "--provider", provider])
            .flag("--pairs", pairs)
            .flag("--timeframes", timeframes)
    }

    /// One more word at the end (`--dry-run`, `--retry-unreachable`).
    pub fn arg(mut self, word: &str) -> Args {
        self.0.push(word.to_string());
        self
    }

    /// A flag and its value at the end.
    pub fn flag(self, name: &str, value: &str) -> Args {
        self.arg(name).arg(value)
    }

    /// `--start` only: the range ends now.
    pub fn start(self, start: &str) -> Args {
        self.flag("--start", start)
    }

    /// `--start` and `--end`.
    pub fn range(self, start: &str, end: &str) -> Args {
        self.start(start).flag("--end", end)
    }

    /// Global flags in front of the command (`--log-format json`, `--output json`).
    pub fn global(self, words: &[&str]) -> Args {
        let mut all = Args::of(words);
        all.0.extend(self.0);
        all
    }

    /// The command line as one shell line, the binary first.
    pub fn shell_line(&self) -> String {
        format!("{} {}", env!("CARGO_BIN_EXE_candlelake"), self.0.join(" "))
    }
}

impl<'a> IntoIterator for &'a Args {
    type Item = &'a String;
    type IntoIter = std::slice::Iter<'a, String>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl IntoIterator for Args {
    type Item = String;
    type IntoIter = std::vec::IntoIter<String>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}
