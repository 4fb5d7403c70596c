//! Dry run, for Rust programs only (not in the C ABI, not in the header):
//! while a folder is set, MAILSEND composes the message exactly as it would
//! send it (S/MIME and DKIM included) and writes the bytes to
//! `<folder>/<n>-<message-id>.eml` instead of connecting to the server.
//! The draft is cleared as after a successful send; no send-log line is
//! written (a dry run is not a send attempt). The `lnccmd` command-line
//! tool's `--dry-run` uses it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::compose::Outgoing;
use crate::error::{Error, LnccmdStatus, Result};
use crate::props::printable;

static DIR: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Messages written by this process, for the `<n>` of the file names.
static COUNT: AtomicU64 = AtomicU64::new(0);

/// Turns the dry run on (`Some(folder)`) or off (`None`) for every session
/// of the process. The folder must exist; files in it are never overwritten.
pub fn set_dry_run_dir(dir: Option<PathBuf>) {
    crate::registry::watch_forks();
    *DIR.lock().unwrap_or_else(PoisonError::into_inner) = dir;
}

/// The dry-run folder, when the dry run is on.
pub(crate) fn dir() -> Option<PathBuf> {
    DIR.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

/// The dry-run lock, which the registry's fork handlers hold across fork()
/// so that a child never inherits it held by a thread it does not have.
pub(crate) fn lock_for_fork() -> MutexGuard<'static, Option<PathBuf>> {
    DIR.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `0001-<id>.eml` for the message id `<id>`: the angle brackets dropped,
/// anything but letters, digits and `.-_@` replaced by `_`.
fn file_name(n: u64, message_id: &str) -> String {
    let id: String = message_id
        .trim_start_matches('<')
        .trim_end_matches('>')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{n:04}-{id}.eml")
}

/// Writes the composed message to a new file in `dir` and returns its path.
pub(crate) fn write(dir: &Path, out: &Outgoing) -> Result<PathBuf> {
    let n = COUNT.fetch_add(1, Ordering::Relaxed) + 1;
    let path = dir.join(file_name(n, &out.message_id));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .and_then(|mut f| f.write_all(&out.bytes));
    written.map_err(|e| {
        Error::new(
            LnccmdStatus::FileUnreadable,
            format!(
                "dry run: cannot write '{}': {e}",
                printable(&path.to_string_lossy())
            ),
        )
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_numbered_and_safe() {
        assert_eq!(
            file_name(7, "<0a1b@example.test>"),
            "0007-0a1b@example.test.eml"
        );
        assert_eq!(
            file_name(12345, "<a/b c@[1.2.3.4]>"),
            "12345-a_b_c@_1.2.3.4_.eml"
        );
    }

    #[test]
    fn write_creates_a_new_file_with_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let out = Outgoing {
            bytes: b"Subject: x\r\n\r\nbody\r\n".to_vec(),
            from: "a@x.test".parse().unwrap(),
            rcpts: vec![],
            message_id: "<id1@x.test>".into(),
        };
        let path = write(dir.path(), &out).unwrap();
        assert!(
            path.to_string_lossy().ends_with("-id1@x.test.eml"),
            "{path:?}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), out.bytes);
        let e = write(&dir.path().join("missing"), &out).unwrap_err();
        assert_eq!(e.status, LnccmdStatus::FileUnreadable);
        assert!(
            e.detail.contains("dry run") && e.detail.contains("missing"),
            "{}",
            e.detail
        );
    }
}
