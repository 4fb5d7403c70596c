//! The send log (docs/contract.md §7): one `;`-separated line per MAILSEND attempt,
//! appended under an exclusive lock so processes and threads never interleave.
//!
//! Quoting is the csv crate's (RFC 4180 with `;`). The lock is `flock(2)`
//! through `std::fs::File::lock`: it is per open file description, so two
//! threads of one process exclude each other too (each opens the file).
//! The file starts with a UTF-8 byte-order mark so that Excel reads accents
//! right, then the header line.

use std::fs::{File, OpenOptions, Permissions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The mode of a log lnccmd creates, whatever the process's umask: read and
/// write for its owner only. The log names every recipient, Bcc included,
/// and every subject (payslips, invoices); group-readable (0640) would show
/// them to everyone in the batch user's group. An administrator who wants a
/// group to read it creates the file (or chmods it) so: the mode of an
/// existing file is never changed.
const NEW_LOG_MODE: u32 = 0o600;

/// Longest wait for another writer's lock (it holds it for one write).
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Column names, in order.
/// Columns are only appended (a spreadsheet that reads them by position
/// keeps working; rows of a log begun by an older version are longer than
/// its header).
pub const COLUMNS: [&str; 20] = [
    "timestamp",
    "handle",
    "code",
    "status",
    "server",
    "sender",
    "to",
    "cc",
    "bcc",
    "subject",
    "message_id",
    "size",
    "attachments",
    "signed",
    "encrypted",
    "duration_ms",
    "reply",
    "queue_id",
    "tls",
    "relay_certificate",
];

/// One MAILSEND attempt.
#[derive(Debug, Clone, Default)]
pub struct Record {
    pub timestamp: String,
    pub handle: i32,
    pub code: i32,
    /// OK, PARTIAL, UNCERTAIN (409: the server may have it) or ERROR.
    pub status: &'static str,
    pub server: String,
    pub sender: String,
    pub to: String,
    pub cc: String,
    pub bcc: String,
    pub subject: String,
    pub message_id: String,
    pub size: usize,
    pub attachments: usize,
    pub signed: bool,
    pub encrypted: bool,
    pub duration_ms: u128,
    /// The server's reply, or the error text.
    pub reply: String,
    /// The server's queue id for the message, when its reply gave one.
    pub queue_id: String,
    /// The TLS version and cipher suite ("TLSv1.3 TLS_AES_256_GCM_SHA384"),
    /// `no` without TLS, empty when nothing was sent.
    pub tls: String,
    /// Under TLS, the relay certificate's subject.
    pub relay_certificate: String,
}

/// A text cell that a spreadsheet would run as a formula (`=`, `+`, `-`,
/// `@`) gets a leading `'`, as OWASP advises for CSV files opened in Excel.
fn cell(s: &str) -> String {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s.to_string(),
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

impl Record {
    fn fields(&self) -> [String; 20] {
        [
            self.timestamp.clone(),
            self.handle.to_string(),
            self.code.to_string(),
            self.status.to_string(),
            cell(&self.server),
            cell(&self.sender),
            cell(&self.to),
            cell(&self.cc),
            cell(&self.bcc),
            cell(&self.subject),
            cell(&self.message_id),
            self.size.to_string(),
            self.attachments.to_string(),
            yes_no(self.signed).into(),
            yes_no(self.encrypted).into(),
            self.duration_ms.to_string(),
            cell(&self.reply),
            cell(&self.queue_id),
            self.tls.clone(),
            cell(&self.relay_certificate),
        ]
    }
}

fn csv_line<I, T>(fields: I) -> std::io::Result<Vec<u8>>
where
    I: IntoIterator<Item = T>,
    T: AsRef<[u8]>,
{
    let mut w = csv::WriterBuilder::new()
        .delimiter(b';')
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    w.write_record(fields)?;
    w.into_inner().map_err(|e| e.into_error())
}

/// Appends `record` to the log at `path`, creating it (BOM and header line)
/// if it is new or empty. One `write` under the lock: a line is whole or absent.
///
/// Nothing here can block for long: the file is opened without waiting (a
/// FIFO named as the log has no reader), must be a regular file, and the
/// lock is awaited for at most `LOCK_WAIT`.
pub fn append(path: &Path, record: &Record) -> std::io::Result<()> {
    let mut file = open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(std::io::Error::other(
                    "the log stayed locked by another writer",
                ));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
    }
    let mut buf = Vec::new();
    if file.metadata()?.len() == 0 {
        buf.extend_from_slice(b"\xEF\xBB\xBF");
        buf.extend(csv_line(COLUMNS)?);
    }
    buf.extend(csv_line(record.fields())?);
    file.write_all(&buf)?;
    // Closing the file releases the lock.
    Ok(())
}

/// Opens the log (or the protocol trace, `TraceFile`) for appending,
/// creating it with `NEW_LOG_MODE` if there is none. Creating is `O_EXCL`, so lnccmd knows the file is its own and sets
/// the mode with `fchmod` (the umask only ever applies to `open`'s mode);
/// a file that was there keeps its mode.
pub(crate) fn open(path: &Path) -> std::io::Result<File> {
    let options = |create: bool| {
        let mut o = OpenOptions::new();
        o.append(true).custom_flags(libc::O_NONBLOCK);
        if create {
            o.create_new(true).mode(NEW_LOG_MODE);
        }
        o
    };
    let created = |file: File| {
        file.set_permissions(Permissions::from_mode(NEW_LOG_MODE))?;
        Ok(file)
    };
    // Another process may create or remove the file between the two opens.
    for _ in 0..3 {
        match options(true).open(path) {
            Ok(file) => return created(file),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        match options(false).open(path) {
            Ok(file) => return Ok(file),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    // A symbolic link to a file that does not exist yet: `O_EXCL` refuses
    // the link, the plain open finds no file. Create the file it names;
    // empty and regular, it is new (or another lnccmd's, also new).
    let file = options(false).create(true).mode(NEW_LOG_MODE).open(path)?;
    let meta = file.metadata()?;
    if meta.is_file() && meta.len() == 0 {
        created(file)
    } else {
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_once_then_quoted_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("send.csv");
        let rec = Record {
            subject: "a;b \"quoted\"\nnext".into(),
            to: "=HYPERLINK(\"x\")".into(),
            status: "OK",
            ..Record::default()
        };
        append(&path, &rec).unwrap();
        append(&path, &rec).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let text = text.strip_prefix('\u{feff}').expect("BOM first");
        let mut r = csv::ReaderBuilder::new()
            .delimiter(b';')
            .from_reader(text.as_bytes());
        assert_eq!(r.headers().unwrap().iter().collect::<Vec<_>>(), COLUMNS);
        let rows: Vec<csv::StringRecord> = r.records().map(|r| r.unwrap()).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(&rows[0][9], "a;b \"quoted\"\nnext");
        assert_eq!(&rows[0][6], "'=HYPERLINK(\"x\")");
        assert_eq!(&rows[1][3], "OK");
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        assert!(append(&fifo, &Record::default()).is_err());
    }

    #[test]
    fn missing_folder_is_an_error() {
        assert!(append(Path::new("/no/such/dir/log.csv"), &Record::default()).is_err());
    }

    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).unwrap().mode() & 0o7777
    }

    #[test]
    fn a_new_log_is_0600_and_an_existing_one_keeps_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("new.csv");
        append(&new, &Record::default()).unwrap();
        assert_eq!(mode(&new), 0o600);
        for m in [0o644, 0o640, 0o666, 0o604] {
            let path = dir.path().join(format!("existing-{m:o}.csv"));
            std::fs::write(&path, b"").unwrap();
            std::fs::set_permissions(&path, Permissions::from_mode(m)).unwrap();
            append(&path, &Record::default()).unwrap();
            append(&path, &Record::default()).unwrap();
            assert_eq!(mode(&path), m, "{m:o}");
            let text = std::fs::read_to_string(&path).unwrap();
            assert_eq!(text.lines().count(), 3, "header and two lines");
        }
    }

    #[test]
    fn a_link_to_a_missing_file_creates_it_0600() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target.csv");
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        append(&link, &Record::default()).unwrap();
        assert_eq!(mode(&target), 0o600);
        append(&link, &Record::default()).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap().lines().count(), 3);
    }
}
