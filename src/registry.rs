//! The handle table (SPEC §1.4): handle number -> session, numbers never
//! reused, the table lock held only for lookups so sessions run in parallel.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use once_cell::sync::Lazy;

use crate::charset;
use crate::command::Command;
use crate::error::{Error, LnccmdStatus, Result};
use crate::session::Session;

/// A session behind its own lock; `None` once MAILEND has closed it, for a
/// caller that was waiting on the lock while another thread ended the session.
type Slot = Arc<Mutex<Option<Session>>>;

struct Table {
    /// The next number to hand out; every number below it was used once.
    next: i32,
    sessions: HashMap<i32, Slot>,
}

static TABLE: Lazy<Mutex<Table>> = Lazy::new(|| {
    Mutex::new(Table {
        next: 1,
        sessions: HashMap::new(),
    })
});

/// The table lock. The table is a plain map updated in single statements, so
/// a panic elsewhere cannot leave it inconsistent: a poisoned lock is used as is.
fn table() -> MutexGuard<'static, Table> {
    TABLE.lock().unwrap_or_else(PoisonError::into_inner)
}

fn bad_handle(handle: i32) -> Error {
    let detail = if handle == 0 {
        "handle is 0: call MAILSMTP first to open a session".to_string()
    } else if handle > 0 && handle < table().next {
        format!(
            "session {handle} is closed (MAILEND was called): call MAILSMTP with handle 0 to open a new one"
        )
    } else {
        format!("no session has handle {handle}: call MAILSMTP with handle 0 to open one")
    };
    Error::new(LnccmdStatus::BadHandle, detail)
}

/// The text of a panic payload.
pub fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// Runs `cmd` for `*handle`: MAILSMTP with 0 opens a session and writes its
/// number, MAILEND closes it and writes 0, everything else needs a live handle.
///
/// Parameters arrive as the caller's bytes and are decoded here, with the
/// session's InputCharset; MAILSMTP's own PARM1 with the charset it names.
pub fn run(handle: &mut i32, cmd: Command, parm1: &[u8], parm2: &[u8]) -> Result<()> {
    let decode = |enc| -> Result<(String, String)> {
        Ok((
            charset::decode_param("PARM1", parm1, enc)?,
            charset::decode_param("PARM2", parm2, enc)?,
        ))
    };
    if cmd == Command::MailSmtp && *handle == 0 {
        let (parm1, _) = decode(charset::sniff_input_charset(parm1)?)?;
        let mut session = Session::open(&parm1)?;
        let mut t = table();
        if t.next == i32::MAX {
            return Err(Error::new(
                LnccmdStatus::Internal,
                "all 2147483646 handle numbers of this process have been used",
            ));
        }
        let h = t.next;
        t.next += 1;
        session.id = h;
        t.sessions.insert(h, Arc::new(Mutex::new(Some(session))));
        *handle = h;
        return Ok(());
    }
    let found = table().sessions.get(handle).cloned();
    let slot = found.ok_or_else(|| bad_handle(*handle))?;
    let mut guard = match slot.lock() {
        Ok(g) => g,
        Err(_) => {
            // A panic happened inside this session: its state cannot be
            // trusted any more. Close it and say so.
            table().sessions.remove(handle);
            return Err(Error::new(
                LnccmdStatus::BadHandle,
                format!(
                    "session {} was closed after an internal error: call MAILSMTP with handle 0 to open a new one",
                    *handle
                ),
            ));
        }
    };
    let Some(session) = guard.as_mut() else {
        return Err(bad_handle(*handle));
    };
    let enc = if cmd == Command::MailSmtp {
        charset::sniff_input_charset(parm1)?
    } else {
        session.input_charset()
    };
    // MAILEND always succeeds on a live handle: it takes no parameter.
    let decoded = match cmd {
        Command::MailEnd => Ok(Default::default()),
        // PARM2 is unused by MAILSMTP (the vendor passes ' '): not decoded.
        Command::MailSmtp => {
            charset::decode_param("PARM1", parm1, enc).map(|p1| (p1, String::new()))
        }
        _ => decode(enc),
    };
    // A call whose parameters cannot be decoded failed all the same: the
    // draft's journal must know (a MAILTEXT lost to a bad byte, say).
    let (parm1, parm2) = decoded.map_err(|e| session.failed_with(cmd, e, None))?;
    // A panic (a bug) inside the session: its state cannot be trusted any
    // more. Close it now (its connection too) and say so; the caller's
    // number is from now on a closed handle.
    let result = match catch_unwind(AssertUnwindSafe(|| session.run(cmd, &parm1, &parm2))) {
        Ok(r) => r,
        Err(panic) => {
            *guard = None;
            table().sessions.remove(handle);
            return Err(Error::new(
                LnccmdStatus::Internal,
                format!(
                    "internal error (please report it): {}; session {} was closed",
                    crate::props::printable(&panic_text(panic.as_ref())),
                    *handle
                ),
            ));
        }
    };
    if cmd == Command::MailEnd {
        *guard = None;
        table().sessions.remove(handle);
        *handle = 0;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_in_a_session_closes_it_and_is_reported() {
        let mut h = 0;
        run(
            &mut h,
            Command::MailSmtp,
            b"Server=127.0.0.1;Sender=a@x.test",
            b"",
        )
        .unwrap();
        let live = h;
        let e = run(&mut h, Command::MailPrep, b"__panic_for_test__", b"").unwrap_err();
        assert_eq!(e.status, LnccmdStatus::Internal);
        assert!(
            e.detail.contains("injected by a test") && e.detail.contains("closed"),
            "{}",
            e.detail
        );
        assert!(
            !table().sessions.contains_key(&live),
            "the session was removed at once"
        );
        let e = run(&mut h, Command::MailPrep, b"", b"").unwrap_err();
        assert_eq!(e.status, LnccmdStatus::BadHandle);
        // Other sessions are unaffected.
        let mut other = 0;
        run(
            &mut other,
            Command::MailSmtp,
            b"Server=127.0.0.1;Sender=a@x.test",
            b"",
        )
        .unwrap();
        run(&mut other, Command::MailPrep, b"", b"").unwrap();
        run(&mut other, Command::MailEnd, b"", b"").unwrap();
    }
}
