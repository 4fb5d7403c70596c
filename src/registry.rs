//! The handle table (docs/contract.md §1.4): handle number -> session, numbers never
//! reused, the table lock held only for lookups so sessions run in parallel.
//! Also what fork() does to the table (docs/decisions.md, "fork()").

use std::cell::RefCell;
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};

use once_cell::sync::Lazy;

use crate::charset;
use crate::command::Command;
use crate::error::{Error, LnccmdStatus, Result};
use crate::session::Session;

/// A session behind its own lock; `None` once MAILEND has closed it, for a
/// caller that was waiting on the lock while another thread ended the session.
type Slot = Arc<Mutex<Option<Session>>>;

/// What a handle number stands for.
#[derive(Clone)]
enum Entry {
    Live(Slot),
    /// In a forked child: the session was in use by a thread of the parent
    /// at the fork, so its lock is held forever by a thread that does not
    /// exist here and its state may be half-changed. Its memory is leaked.
    InUseAtFork,
}

struct Table {
    /// The next number to hand out; every number below it was used once.
    next: i32,
    sessions: HashMap<i32, Entry>,
}

static TABLE: Lazy<Mutex<Table>> = Lazy::new(|| {
    crate::ffi::at_fork(before_fork, after_fork_in_parent, after_fork_in_child);
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

/// Registers the fork handlers now (they are registered with the table,
/// before any session exists): for the dry-run lock, which can be used first.
pub(crate) fn watch_forks() {
    Lazy::force(&TABLE);
}

/// The process-wide locks, held by the forking thread from `before_fork`
/// until the fork is over, so that no other thread holds them at the fork.
type ForkLocks = (
    MutexGuard<'static, Table>,
    MutexGuard<'static, Option<PathBuf>>,
    MutexGuard<'static, Vec<crate::transport::Parked>>,
    MutexGuard<'static, crate::transport::connectors::Cache>,
    MutexGuard<'static, crate::oauth2::Cache>,
);

thread_local! {
    static HELD_FOR_FORK: RefCell<Option<ForkLocks>> = const { RefCell::new(None) };
}

/// pthread_atfork "prepare", in the thread calling fork(), before the fork:
/// takes the table lock, the dry-run lock, the lock of the connections kept
/// for KeepAlive, the TLS connector cache's lock and the OAuth2 token map's
/// lock (in that order, the only order in which they are ever nested; the
/// last three are never held while another is taken), waiting for a thread
/// inside a lookup to finish (lookups are short; a token request holds its
/// own slot's lock, never the map's). The fork happens with the five locks held by the
/// forking thread, so in the child they are held by the one thread there.
extern "C" fn before_fork() {
    let locks = (
        table(),
        crate::dryrun::lock_for_fork(),
        crate::transport::pool_lock_for_fork(),
        crate::transport::connectors::lock_for_fork(),
        crate::oauth2::lock_for_fork(),
    );
    // A thread already tearing down its thread-locals cannot hold the locks
    // over the fork: they are released at once and the fork goes on without.
    let _ = HELD_FOR_FORK.try_with(|held| *held.borrow_mut() = Some(locks));
}

/// pthread_atfork "parent": releases what `before_fork` took.
extern "C" fn after_fork_in_parent() {
    let _ = HELD_FOR_FORK.try_with(|held| held.borrow_mut().take());
}

/// pthread_atfork "child", in the child's only thread, before fork() returns.
///
/// Every session whose lock is held belongs to a parent thread that was
/// inside lnccmd at the fork and does not exist in the child: the lock would
/// never be released, and a call would block forever. Such a session becomes
/// `InUseAtFork` (calls return 102); the others stay usable, and their
/// connection, opened by the parent, is replaced at the next send
/// (transport.rs). The forking thread itself holds no session lock: it is in
/// fork(), not in lnccmd (the library starts no process; only its unit tests
/// do, and their children exec at once).
///
/// What this relies on, fork being async-signal-safe territory: it runs on
/// the child's only thread, with the table lock already its own (no waiting);
/// std's Mutex on Linux is a futex word, so `try_lock` is one atomic
/// compare-exchange and the unlocks are an atomic swap and at most a
/// futex(2) wake; walking the map and overwriting a value in place allocate
/// nothing; the old slots are leaked with `mem::forget`, so no destructor and
/// no `free` runs (a session that was in use may be half-changed). The
/// thread-local was initialised in `before_fork`, before the fork.
extern "C" fn after_fork_in_child() {
    let Ok(Some((mut t, dry_run, mut parked, tls, mut tokens))) =
        HELD_FOR_FORK.try_with(|held| held.borrow_mut().take())
    else {
        return;
    };
    // The connections kept for KeepAlive are the parent's: forgotten.
    crate::transport::forget_pool_in_child(&mut parked);
    drop(parked);
    // The OAuth2 tokens' slots are the parent's: one may be locked by a
    // parent thread inside a token request (src/oauth2.rs).
    crate::oauth2::forget_in_child(&mut tokens);
    drop(tokens);
    for entry in t.sessions.values_mut() {
        let in_use = match entry {
            Entry::Live(slot) => matches!(slot.try_lock(), Err(TryLockError::WouldBlock)),
            Entry::InUseAtFork => false,
        };
        if in_use {
            std::mem::forget(std::mem::replace(entry, Entry::InUseAtFork));
        }
    }
    drop(tls);
    drop(dry_run);
    drop(t);
}

fn in_use_at_fork(handle: i32) -> Error {
    Error::new(
        LnccmdStatus::BadHandle,
        format!(
            "session {handle} was in use by another thread when this process was forked: open a new one with MAILSMTP (handle 0)"
        ),
    )
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
pub fn run(handle: &mut i32, cmd: Command, parm1: &[u8], parm2: &[u8]) -> Result<Option<String>> {
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
        t.sessions
            .insert(h, Entry::Live(Arc::new(Mutex::new(Some(session)))));
        *handle = h;
        return Ok(None);
    }
    let found = table().sessions.get(handle).cloned();
    let slot = match found {
        Some(Entry::Live(slot)) => slot,
        // MAILEND frees the number: closing what cannot be used is harmless,
        // and a program that ends every session it opened keeps working.
        Some(Entry::InUseAtFork) if cmd == Command::MailEnd => {
            table().sessions.remove(handle);
            *handle = 0;
            return Ok(None);
        }
        Some(Entry::InUseAtFork) => return Err(in_use_at_fork(*handle)),
        None => return Err(bad_handle(*handle)),
    };
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
    let result = match catch_unwind(AssertUnwindSafe(|| session.call(cmd, &parm1, &parm2))) {
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
