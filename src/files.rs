//! Files named by the caller (MAILBODYF, MAILLATT): the checks made when a
//! command names a file, and the read at MAILSEND, each failure naming the path.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::Path;

use crate::error::{Error, LnccmdStatus, Result};
use crate::props::printable;

fn shown(path: &Path) -> String {
    printable(&path.to_string_lossy())
}

/// A Windows path, as the vendor's examples and IBM i programs carry them:
/// a drive (`c:\temp\x.txt`, `c:/temp`) or a UNC share
/// (`\\srv\partage\log.txt`). Here it would name a strange file in the
/// current folder, so it gets a hint instead.
pub fn is_windows_path(v: &str) -> bool {
    let b = v.as_bytes();
    let drive = b.len() >= 3
        && b[0].is_ascii_alphabetic()
        && b[1] == b':'
        && (b[2] == b'\\' || b[2] == b'/');
    drive || v.starts_with("\\\\")
}

/// The hint for a Windows path, one text for `logfile`, `TraceFile`,
/// MAILLATT and MAILBODYF, after "... is a Windows path"; `example` is a
/// path on this machine for that use, whose folder the `mkdir -p` names.
pub fn windows_hint(example: &str) -> String {
    let folder = Path::new(example)
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(
        "use a path on this machine (copy the file or mount the share), such as {example}; create its folder if missing (mkdir -p {folder})"
    )
}

fn open_error(what: &str, path: &Path, e: &std::io::Error) -> Error {
    let status = if e.kind() == ErrorKind::NotFound {
        LnccmdStatus::FileNotFound
    } else {
        LnccmdStatus::FileUnreadable
    };
    let why = match e.kind() {
        ErrorKind::NotFound if is_windows_path(&path.to_string_lossy()) => {
            format!(
                "is a Windows path: {}",
                windows_hint("/var/lnccmd/invoice.pdf")
            )
        }
        ErrorKind::NotFound => "does not exist".to_string(),
        ErrorKind::PermissionDenied => "cannot be read: permission denied".to_string(),
        _ => format!("cannot be read: {e}"),
    };
    Error::new(status, format!("{what} '{}' {why}", shown(path)))
}

/// Opens a regular file (symbolic links followed) for reading. Folders,
/// devices, pipes and sockets are refused: reading them could block or never end.
pub fn open_regular(what: &str, path: &Path) -> Result<(File, u64)> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_NONBLOCK: opening a FIFO must not wait for a writer. It does not
    // change how a regular file is read.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| open_error(what, path, &e))?;
    let meta = file.metadata().map_err(|e| open_error(what, path, &e))?;
    if meta.is_dir() {
        return Err(Error::new(
            LnccmdStatus::FileUnreadable,
            format!("{what} '{}' is a folder, not a file", shown(path)),
        ));
    }
    if !meta.is_file() {
        return Err(Error::new(
            LnccmdStatus::FileUnreadable,
            format!(
                "{what} '{}' is not a regular file (device, pipe or socket)",
                shown(path)
            ),
        ));
    }
    Ok((file, meta.len()))
}

/// The whole content of a regular file, at most `MAX_FILE` bytes (checked
/// again while reading: the file may have grown since it was named).
pub fn read(what: &str, path: &Path) -> Result<Vec<u8>> {
    let (file, len) = open_regular(what, path)?;
    if len > MAX_FILE {
        return Err(too_large(what, path, len));
    }
    let mut buf = Vec::with_capacity(len as usize);
    file.take(MAX_FILE + 1)
        .read_to_end(&mut buf)
        .map_err(|e| open_error(what, path, &e))?;
    if buf.len() as u64 > MAX_FILE {
        return Err(too_large(what, path, buf.len() as u64));
    }
    Ok(buf)
}

/// Largest file lnccmd reads (an attachment, an HTML body), and largest sum
/// of attachments in one message: far above what mail servers accept, and
/// low enough that building the message (about 3 times its size) fits in
/// memory.
pub(crate) const MAX_FILE: u64 = 1 << 30;

pub fn too_large(what: &str, path: &Path, len: u64) -> Error {
    Error::new(
        LnccmdStatus::TooLarge,
        format!(
            "{what} '{}' makes {len} bytes; lnccmd sends at most {MAX_FILE} bytes of files per message",
            shown(path)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_paths_drive_or_unc_get_a_hint() {
        for p in [
            r"c:\temp\log.txt",
            "C:/temp/x.pdf",
            r"\\srv\partage\log.txt",
        ] {
            assert!(is_windows_path(p), "{p}");
        }
        for p in ["/tmp/x", "x.pdf", r"a\b", "c:x"] {
            assert!(!is_windows_path(p), "{p}");
        }
        let hint = "use a path on this machine (copy the file or mount the share), such as /var/lnccmd/invoice.pdf; create its folder if missing (mkdir -p /var/lnccmd)";
        for p in [r"c:\factures\42.pdf", r"\\srv\partage\42.pdf"] {
            let e = open_regular("attachment", Path::new(p)).unwrap_err();
            assert_eq!(e.status, LnccmdStatus::FileNotFound);
            assert_eq!(
                e.detail,
                format!("attachment '{p}' is a Windows path: {hint}")
            );
            let e = read("HTML file", Path::new(p)).unwrap_err();
            assert!(e.detail.ends_with(hint), "{}", e.detail);
        }
    }

    #[test]
    fn errors_name_the_path_and_kind() {
        let e = read("attachment", Path::new("/no/such/file.pdf")).unwrap_err();
        assert_eq!(e.status, LnccmdStatus::FileNotFound);
        assert_eq!(e.detail, "attachment '/no/such/file.pdf' does not exist");
        let e = read("attachment", Path::new("/tmp")).unwrap_err();
        assert_eq!(e.status, LnccmdStatus::FileUnreadable);
        assert!(e.detail.contains("is a folder"), "{}", e.detail);
        let e = read("attachment", Path::new("/dev/null")).unwrap_err();
        assert!(e.detail.contains("not a regular file"), "{}", e.detail);
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let e = read("attachment", &fifo).unwrap_err();
        assert!(e.detail.contains("not a regular file"), "{}", e.detail);
        let empty = dir.path().join("empty.txt");
        std::fs::write(&empty, b"").unwrap();
        assert_eq!(read("attachment", &empty).unwrap(), b"");
    }
}
