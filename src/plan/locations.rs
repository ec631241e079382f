//! Where a run writes, checked before any request (in `--dry-run` too): the lake directory, the
//! state dir and the directories a run writes in it. Each must be a directory this user can
//! write to, or one that can be created; a file in the way or a directory without write
//! permission is a usage error naming the path, not a failure after fetching. An object-store
//! lake or state dir (`s3://...`) is not a path: its credentials are checked instead (`aws`).

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::{PlanError, Settings};

/// The directories of the state dir a run writes, and what a message calls them.
const STATE_DIRS: [(&str, &str); 4] = [
    ("dlq", "dead-letter queue"),
    ("dlq/revisions", "refetch revisions directory"),
    ("watermarks", "watermarks directory"),
    ("budget", "request budget directory"),
];

/// A directory, what it is for and the setting that moves it.
struct Place<'a> {
    path: &'a Path,
    what: &'a str,
    setting: &'a str,
}

impl Settings {
    /// Checks the places a command that writes uses: the local directories, or for an
    /// object-store lake that credentials can be found.
    pub async fn check_locations(&self) -> Result<(), PlanError> {
        if let Some(lake) = local_path(&self.lake) {
            check_dir(&Place {
                path: &lake,
                what: "lake",
                setting: "CANDLELAKE_LAKE (--lake)",
            })?;
        }
        self.check_object_store().await?;
        let Some(state_dir) = self.state_dir.local_dir() else {
            return Ok(());
        };
        let state = "CANDLELAKE_STATE_DIR (--state-dir)";
        check_dir(&Place {
            path: state_dir,
            what: "state dir",
            setting: state,
        })?;
        for (dir, what) in STATE_DIRS {
            check_dir(&Place {
                path: &state_dir.join(dir),
                what,
                setting: state,
            })?;
        }
        Ok(())
    }
}

/// The directory of a lake on this machine: a path or a `file://` URL.
fn local_path(lake: &str) -> Option<PathBuf> {
    if !lake.contains("://") {
        return Some(PathBuf::from(lake));
    }
    url::Url::parse(lake)
        .ok()
        .filter(|u| u.scheme() == "file")
        .and_then(|u| u.to_file_path().ok())
}

/// An existing directory must be writable; a missing one needs its nearest existing ancestor
/// to be a writable directory, so that it can be created.
fn check_dir(place: &Place) -> Result<(), PlanError> {
    let Place {
        path,
        what,
        setting,
    } = place;
    let shown = path.display();
    let fail = |problem: String, remedy: &str| {
        PlanError(format!(
            "the {what} {shown} {problem}; {remedy} or point {setting} elsewhere"
        ))
    };
    let (in_the_way, locked) = ("move the file away", "give this user write permission");
    match std::fs::metadata(path) {
        Ok(m) if !m.is_dir() => Err(fail("is a file, not a directory".into(), in_the_way)),
        Ok(_) if !writable(path) => Err(fail("is not writable by this user".into(), locked)),
        Ok(_) => Ok(()),
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
            let ancestor = path
                .ancestors()
                .skip(1)
                .map(|a| {
                    if a.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        a
                    }
                })
                .find(|a| a.symlink_metadata().is_ok())
                .unwrap_or(Path::new("."));
            let at = ancestor.display();
            match std::fs::metadata(ancestor) {
                Ok(m) if !m.is_dir() => Err(fail(
                    format!("cannot be created because {at} is a file, not a directory"),
                    in_the_way,
                )),
                Ok(_) if !writable(ancestor) => Err(fail(
                    format!("cannot be created because {at} is not writable by this user"),
                    locked,
                )),
                Ok(_) => Ok(()),
                Err(e) => Err(fail(
                    format!("cannot be created under {at} ({e})"),
                    "fix the path",
                )),
            }
        }
        Err(e) => Err(fail(format!("cannot be reached ({e})"), "fix the path")),
    }
}

/// Whether this user may create entries in the directory, as the kernel decides (permission
/// bits, ACLs, a read-only mount; root passes the bits).
fn writable(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `path` is a NUL-terminated string that outlives the call, which only reads it.
    unsafe { libc::access(path.as_ptr(), libc::W_OK | libc::X_OK) == 0 }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::plan::SettingsInput;

    fn settings(lake: &Path, state: &Path) -> Settings {
        Settings::resolve(SettingsInput {
            env: HashMap::from([
                ("CANDLELAKE_LAKE".into(), lake.display().to_string()),
                ("CANDLELAKE_STATE_DIR".into(), state.display().to_string()),
            ]),
            ..Default::default()
        })
        .unwrap()
    }

    #[tokio::test]
    async fn a_file_in_the_way_is_named_with_the_setting_that_moves_it() {
        // TC: (the file, the lake, the state dir, the setting named), relative to a temp dir
        let cases = [
            ("lake", "lake", "state", "CANDLELAKE_LAKE"),
            ("f", "f/lake", "state", "CANDLELAKE_LAKE"),
            ("state", "lake", "state", "CANDLELAKE_STATE_DIR"),
            ("state/dlq", "lake", "state", "CANDLELAKE_STATE_DIR"),
            ("state/budget", "lake", "state", "CANDLELAKE_STATE_DIR"),
            ("f", "lake", "f/g/state", "CANDLELAKE_STATE_DIR"),
        ];
        for (file, lake, state, setting) in cases {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join(file);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, "").unwrap();
            let err = settings(&dir.path().join(lake), &dir.path().join(state))
                .check_locations()
                .await
                .unwrap_err()
                .0;
            let expected = format!("{} is a file, not a directory", file.display());
            assert!(err.contains(&expected), "{err}");
            assert!(err.contains(setting), "{err}");
        }
    }

    #[tokio::test]
    async fn directories_that_can_be_created_pass_and_are_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let lake = dir.path().join("a/b/lake");
        let state = dir.path().join("state");
        settings(&lake, &state).check_locations().await.unwrap();
        let file_url = url::Url::from_directory_path(&lake).unwrap();
        settings(Path::new(file_url.as_str()), &state)
            .check_locations()
            .await
            .unwrap();
        settings(Path::new("relative/lake"), Path::new("relative/state"))
            .check_locations()
            .await
            .unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn the_write_check_agrees_with_a_write() {
        let dir = tempfile::tempdir().unwrap();
        let locked = dir.path().join("locked");
        std::fs::create_dir(&locked).unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
        // Root writes whatever the permission bits say; anyone else cannot write here.
        let can_write = std::fs::write(locked.join("probe"), "").is_ok();
        // TC: (lake, the words of the refusal)
        let cases = [
            (locked.clone(), "is not writable by this user"),
            (
                locked.join("lake"),
                "cannot be created because", // .. {locked} is not writable
            ),
        ];
        for (lake, words) in cases {
            let verdict = settings(&lake, &dir.path().join("state"))
                .check_locations()
                .await;
            match verdict {
                Ok(()) => assert!(can_write, "{} was found writable", lake.display()),
                Err(e) => {
                    assert!(!can_write, "{e}");
                    assert!(e.0.contains(words), "{e}");
                }
            }
        }
    }
}
