//! The C ABI (docs/contract.md §1): the four exported functions and, with cms_stream.rs, the only `unsafe`
//! code of the crate. Pointers are checked here, bytes become text here, panics stop here.

use std::ffi::{CStr, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::command::{self, Command};
use crate::error::LnccmdStatus;
use crate::props::printable;
use crate::registry;

/// Capacity of RESULT for `lnccmd()`, terminating NUL included. Longer
/// messages are cut on a UTF-8 character boundary.
pub const LNCCMD_RESULT_LEN: usize = 256;

/// Longest field `lnccmd_fixed()` accepts: 1 GiB (2^30 bytes), for each of
/// `cmd_len`, `opt_len`, `parm1_len`, `parm2_len` and `result_len`.
pub const LNCCMD_FIXED_FIELD_MAX: usize = 1_073_741_824;

/// The whole call behind both entry points, in safe code: returns the
/// status and the RESULT text.
fn dispatch(handle: &mut i32, cmd: &[u8], parm1: &[u8], parm2: &[u8]) -> (LnccmdStatus, String) {
    let cmd_text = String::from_utf8_lossy(cmd);
    let cmd_text = crate::charset::trim_field(&cmd_text);
    // A program whose fields are all EBCDIC passes the name in EBCDIC too:
    // its letters are the same bytes in every EBCDIC CCSID.
    let ebcdic_name = || {
        let text = crate::ebcdic::decode_invariant(cmd);
        Command::from_name(crate::charset::trim_field(&text))
    };
    let command = Command::from_name(cmd_text).or_else(|| (!cmd.is_ascii()).then(ebcdic_name)?);
    let Some(command) = command else {
        let status = LnccmdStatus::UnknownCommand;
        let shown = if cmd_text.is_empty() {
            "(empty)".to_string()
        } else {
            printable(cmd_text)
        };
        return (
            status,
            format!(
                "{} {shown}: unknown command; the mail commands are {}",
                status.code(),
                command::all_names()
            ),
        );
    };
    match registry::run(handle, command, parm1, parm2) {
        Ok(None) => (LnccmdStatus::Ok, "0".to_string()),
        // A command that answers with a value (MAILINFO): "0 <value>".
        Ok(Some(value)) => (LnccmdStatus::Ok, format!("0 {value}")),
        Err(e) => (
            e.status,
            format!("{} {}: {}", e.status.code(), command.name(), e.detail),
        ),
    }
}

/// `dispatch` behind a panic guard: a panic becomes the internal-error code.
/// The one place a call becomes its status and RESULT text: both exported
/// functions and the Rust-level `crate::call` go through it.
pub(crate) fn guarded(
    handle: &mut i32,
    cmd: &[u8],
    parm1: &[u8],
    parm2: &[u8],
) -> (LnccmdStatus, String) {
    guard(|| dispatch(handle, cmd, parm1, parm2))
}

/// The last line of defence: sessions catch their own panics (registry), so
/// this catches one in the dispatch itself, where the command may not be
/// known: RESULT says `LNCCMD` in its place.
fn guard(f: impl FnOnce() -> (LnccmdStatus, String)) -> (LnccmdStatus, String) {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let status = LnccmdStatus::Internal;
        (
            status,
            format!(
                "{} LNCCMD: internal error (please report it): {}",
                status.code(),
                printable(&registry::panic_text(panic.as_ref()))
            ),
        )
    })
}

/// The longest prefix of `text` that fits in `max` bytes without splitting a character.
fn cut_utf8(text: &str, max: usize) -> &[u8] {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text.as_bytes()[..end]
}

/// Bytes of a NUL-terminated string; NULL is empty.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string.
unsafe fn c_bytes<'a>(p: *const c_char) -> &'a [u8] {
    if p.is_null() {
        &[]
    } else {
        // SAFETY: the caller guarantees a NUL-terminated string.
        unsafe { CStr::from_ptr(p) }.to_bytes()
    }
}

/// Exactly `len` bytes at `p`; NULL is empty.
///
/// # Safety
/// `p` is NULL or points to at least `len` readable bytes.
unsafe fn fixed_bytes<'a>(p: *const c_char, len: usize) -> &'a [u8] {
    if p.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: the caller guarantees `len` readable bytes.
        unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) }
    }
}

/// Runs one LNCCMD mail command.
///
/// `handle`: in/out session number; 0 with MAILSMTP opens a session and
/// receives its number, MAILEND sets it back to 0. It is written only by
/// those two; every other call only reads it.
/// `cmd`: command name (MAILSMTP, MAILPREP, MAILTO, ...), case-insensitive.
/// `opt`: ignored by the mail commands; may be NULL.
/// `parm1`, `parm2`: NUL-terminated UTF-8 text (NULL = empty); surrounding
/// blanks are trimmed.
/// `result`: receives "0" on success or "<code> <COMMAND>: <message>" on
/// failure, NUL-terminated, at most LNCCMD_RESULT_LEN bytes with the NUL.
/// Returns 0 on success or a status code (LNCCMD_STATUS_...). With a NULL
/// `handle`, `cmd` or `result`, returns LNCCMD_STATUS_NULL_ARGUMENT and
/// writes nothing.
///
/// # Safety
/// Non-NULL pointers must be valid: strings NUL-terminated, `handle` one
/// writable int32_t, `result` LNCCMD_RESULT_LEN writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lnccmd(
    handle: *mut i32,
    cmd: *const c_char,
    opt: *const c_char,
    parm1: *const c_char,
    parm2: *const c_char,
    result: *mut c_char,
) -> i32 {
    let _ = opt;
    if handle.is_null() || cmd.is_null() || result.is_null() {
        return LnccmdStatus::NullArgument.code();
    }
    // SAFETY: checked non-NULL; the caller guarantees validity.
    let (cmd, parm1, parm2) = unsafe { (c_bytes(cmd), c_bytes(parm1), c_bytes(parm2)) };
    // SAFETY: `handle` is non-NULL and points to a writable int32_t.
    let before = unsafe { *handle };
    let mut h = before;
    let (status, text) = guarded(&mut h, cmd, parm1, parm2);
    let bytes = cut_utf8(&text, LNCCMD_RESULT_LEN - 1);
    // SAFETY: `result` has LNCCMD_RESULT_LEN writable bytes; we write at most
    // that. `handle` is written only when the call changed it (MAILSMTP
    // opening, MAILEND closing): another thread sharing the variable may have
    // written it meanwhile (MAILEND's 0), and the number read at entry is stale.
    unsafe {
        if h != before {
            *handle = h;
        }
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), result.cast::<u8>(), bytes.len());
        *result.add(bytes.len()) = 0;
    }
    status.code()
}

/// The same as `lnccmd()` for fixed-length, blank-padded fields (RPG, COBOL,
/// CL style): exactly `*_len` bytes are read from each field, no NUL needed;
/// trailing blanks and NULs are trimmed. RESULT is written as exactly
/// `result_len` bytes, blank-padded, without a NUL.
///
/// EBCDIC fields (a program that keeps its IBM i data) are passed as they
/// are, blank-padded with 0x40, once MAILSMTP's `InputCharset` names their
/// CCSID (297, 1147, 37...); MAILSMTP's own PARM1 and the command names may
/// be EBCDIC too. RESULT stays ASCII (UTF-8).
///
/// Each length is at most LNCCMD_FIXED_FIELD_MAX (1 GiB), far above any
/// RPG, COBOL or CL field (RPG's largest is about 16 MB): a larger one is a
/// caller's bug (an unset length, a negative one cast to size_t). Then no
/// field is read and the call returns LNCCMD_STATUS_BAD_VALUE (106) with a
/// RESULT naming the length and the bound; when `result_len` itself is
/// beyond the bound, it returns 106 and writes nothing at all.
///
/// # Safety
/// Non-NULL pointers must be valid for their lengths; `handle` one writable
/// int32_t; `result` `result_len` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lnccmd_fixed(
    handle: *mut i32,
    cmd: *const c_char,
    cmd_len: usize,
    opt: *const c_char,
    opt_len: usize,
    parm1: *const c_char,
    parm1_len: usize,
    parm2: *const c_char,
    parm2_len: usize,
    result: *mut c_char,
    result_len: usize,
) -> i32 {
    let _ = opt;
    if handle.is_null() || cmd.is_null() || result.is_null() {
        return LnccmdStatus::NullArgument.code();
    }
    if result_len > LNCCMD_FIXED_FIELD_MAX {
        return LnccmdStatus::BadValue.code();
    }
    let too_long = [
        ("cmd_len", cmd_len),
        ("opt_len", opt_len),
        ("parm1_len", parm1_len),
        ("parm2_len", parm2_len),
    ]
    .into_iter()
    .find(|&(_, len)| len > LNCCMD_FIXED_FIELD_MAX);
    // SAFETY: `handle` is non-NULL and points to a writable int32_t.
    let before = unsafe { *handle };
    let mut h = before;
    let (status, text) = match too_long {
        Some((field, len)) => too_long_field(field, len),
        None => {
            // SAFETY: the caller guarantees each pointer covers its length.
            let (cmd, parm1, parm2) = unsafe {
                (
                    fixed_bytes(cmd, cmd_len),
                    fixed_bytes(parm1, parm1_len),
                    fixed_bytes(parm2, parm2_len),
                )
            };
            guarded(&mut h, cmd, parm1, parm2)
        }
    };
    let bytes = cut_utf8(&text, result_len);
    // SAFETY: `result` has `result_len` writable bytes; we write exactly that
    // many. `handle`: written only when changed, as in `lnccmd`.
    unsafe {
        if h != before {
            *handle = h;
        }
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), result.cast::<u8>(), bytes.len());
        std::ptr::write_bytes(
            result.cast::<u8>().add(bytes.len()),
            b' ',
            result_len - bytes.len(),
        );
    }
    status.code()
}

/// The status and RESULT of a `lnccmd_fixed` length beyond the bound.
fn too_long_field(field: &str, len: usize) -> (LnccmdStatus, String) {
    let status = LnccmdStatus::BadValue;
    (
        status,
        format!(
            "{} LNCCMD: {field} is {len}, more than the {LNCCMD_FIXED_FIELD_MAX} bytes (1 GiB, LNCCMD_FIXED_FIELD_MAX) a field may have: nothing was read",
            status.code()
        ),
    )
}

/// The fixed English text of a status code; never NULL. Unknown codes give
/// "unknown status code".
#[unsafe(no_mangle)]
pub extern "C" fn lnccmd_strerror(code: i32) -> *const c_char {
    match LnccmdStatus::from_code(code) {
        Some(s) => s.message().as_ptr(),
        None => c"unknown status code".as_ptr(),
    }
}

/// The library version, "MAJOR.MINOR.PATCH": the version of the library
/// actually loaded, where LNCCMD_VERSION is the header's; static, never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn lnccmd_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Registers the registry's fork handlers with `pthread_atfork` (called once,
/// when the handle table is created). The handlers are plain safe functions;
/// glibc unregisters them if the library is unloaded (dlclose), since
/// `pthread_atfork` records the calling object. A failure (ENOMEM) leaves
/// fork() as unprotected as without the handlers: nothing else to do.
pub(crate) fn at_fork(prepare: extern "C" fn(), parent: extern "C" fn(), child: extern "C" fn()) {
    // SAFETY: three valid function pointers that live as long as the library.
    unsafe {
        libc::pthread_atfork(Some(prepare), Some(parent), Some(child));
    }
}

/// The library's destructor, as a C library has one: at process exit (and
/// at dlclose) the connections kept for `KeepAlive` are closed with QUIT
/// (transport.rs). An ELF `.fini_array` entry rather than `atexit`, which
/// from a shared library would leave a pointer into unmapped code after
/// dlclose.
#[used]
#[unsafe(link_section = ".fini_array")]
static CLOSE_PARKED_AT_EXIT: extern "C" fn() = close_parked_at_exit;

extern "C" fn close_parked_at_exit() {
    crate::transport::close_parked();
}

/// Local broken-down time for compose's Date header (the one libc call that
/// needs `unsafe`); UTC when the local time zone cannot be used.
pub(crate) fn localtime(t: libc::time_t, tm: &mut libc::tm) {
    // SAFETY: both pointers come from references; the _r variants are thread-safe.
    unsafe {
        if libc::localtime_r(&t, tm).is_null() {
            libc::gmtime_r(&t, tm);
        }
    }
}

/// This host's fully qualified name, as the resolver gives it for the host
/// name (`AI_CANONNAME`), when it has one (a dot in it, not `localhost`):
/// the default EHLO name (RFC 5321 §4.1.4). `getaddrinfo` is the libc call
/// std does not wrap.
pub(crate) fn host_fqdn() -> Option<String> {
    let fqdn = |name: &str| name.contains('.') && !name.starts_with("localhost");
    let short = hostname_text()?;
    if fqdn(&short) {
        return Some(short);
    }
    let node = std::ffi::CString::new(short).ok()?;
    // SAFETY: hints is zeroed then filled; getaddrinfo gets valid pointers and
    // fills `res`, which is read only on success and freed once.
    unsafe {
        let mut hints: libc::addrinfo = std::mem::zeroed();
        hints.ai_flags = libc::AI_CANONNAME;
        hints.ai_socktype = libc::SOCK_STREAM;
        let mut res: *mut libc::addrinfo = std::ptr::null_mut();
        if libc::getaddrinfo(node.as_ptr(), std::ptr::null(), &hints, &mut res) != 0
            || res.is_null()
        {
            return None;
        }
        let canon = (*res).ai_canonname;
        let name = (!canon.is_null()).then(|| CStr::from_ptr(canon).to_string_lossy().into_owned());
        libc::freeaddrinfo(res);
        name.filter(|n| fqdn(n))
    }
}

/// The host name (`gethostname`).
fn hostname_text() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is writable for its length; gethostname NUL-terminates
    // within it when the name fits, and the last byte is kept 0 in any case.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len() - 1) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|b| *b == 0)?;
    std::str::from_utf8(&buf[..end]).ok().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_the_internal_code() {
        let (status, text) = guard(|| panic!("boom"));
        assert_eq!(status, LnccmdStatus::Internal);
        assert!(
            text.starts_with("900 LNCCMD: ") && text.contains("boom"),
            "{text}"
        );
    }

    #[test]
    fn cut_respects_utf8() {
        assert_eq!(cut_utf8("aé", 2), b"a");
        assert_eq!(cut_utf8("aé", 3), "aé".as_bytes());
        assert_eq!(cut_utf8("abc", 0), b"");
    }

    #[test]
    fn mailend_frees_the_session_and_its_number_is_never_reused() {
        let mut h = 0;
        let (s, _) = dispatch(
            &mut h,
            b"MAILSMTP",
            b"Server=127.0.0.1;Sender=a@x.test",
            b"",
        );
        assert_eq!(s, LnccmdStatus::Ok);
        let old = h;
        let (s, _) = dispatch(&mut h, b"MAILEND", b"", b"");
        assert_eq!((s, h), (LnccmdStatus::Ok, 0));
        let mut stale = old;
        let (s, text) = dispatch(&mut stale, b"MAILPREP", b"", b"");
        assert_eq!(s, LnccmdStatus::BadHandle);
        assert!(text.contains("closed"), "{text}");
        let (s, _) = dispatch(
            &mut h,
            b"MAILSMTP",
            b"Server=127.0.0.1;Sender=a@x.test",
            b"",
        );
        assert_eq!(s, LnccmdStatus::Ok);
        assert!(h > old);
        dispatch(&mut h, b"MAILEND", b"", b"");
    }
}
