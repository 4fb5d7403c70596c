//! The send log (SPEC §7): one `;`-separated line per MAILSEND attempt,
//! appended under an exclusive lock so processes and threads never interleave.
//!
//! Quoting is the csv crate's (RFC 4180 with `;`). The lock is `flock(2)`
//! through `std::fs::File::lock`: it is per open file description, so two
//! threads of one process exclude each other too (each opens the file).
//! The file starts with a UTF-8 byte-order mark so that Excel reads accents
//! right, then the header line.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

/// Longest wait for another writer's lock (it holds it for one write).
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Column names, in order.
pub const COLUMNS: [&str; 17] = [
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
];

/// One MAILSEND attempt.
#[derive(Debug, Clone, Default)]
pub struct Record {
    pub timestamp: String,
    pub handle: i32,
    pub code: i32,
    /// OK, PARTIAL or ERROR.
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
    fn fields(&self) -> [String; 17] {
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
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
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
}
