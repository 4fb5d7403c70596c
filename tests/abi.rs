//! The C boundary itself (contract §1, §9): NULLs, blanks, fixed fields, RESULT
//! capacity, handles, bad bytes, exported symbols, status texts.

mod common;

use common::*;
use lnccmd::{
    LNCCMD_FIXED_FIELD_MAX, LNCCMD_RESULT_LEN, LnccmdStatus, lnccmd, lnccmd_fixed, lnccmd_strerror,
    lnccmd_version,
};
use std::ffi::{CStr, c_char};
use std::ptr::null;

const GOOD: &str = "Server=127.0.0.1;Sender=tech@example.test;Timeout=2";

#[test]
fn null_arguments_return_100_and_write_nothing() {
    let mut h = 0;
    let mut result = [b'#' as c_char; LNCCMD_RESULT_LEN];
    let cmd = c"MAILSMTP".as_ptr();
    let p1 = c"Server=127.0.0.1;Sender=tech@example.test".as_ptr();
    unsafe {
        assert_eq!(
            lnccmd(
                std::ptr::null_mut(),
                cmd,
                null(),
                p1,
                null(),
                result.as_mut_ptr()
            ),
            100
        );
        assert_eq!(
            lnccmd(&mut h, null(), null(), p1, null(), result.as_mut_ptr()),
            100
        );
        assert_eq!(
            lnccmd(&mut h, cmd, null(), p1, null(), std::ptr::null_mut()),
            100
        );
        assert_eq!(
            lnccmd_fixed(
                &mut h,
                null(),
                8,
                null(),
                0,
                p1,
                10,
                null(),
                0,
                result.as_mut_ptr(),
                10
            ),
            100
        );
    }
    assert_eq!(h, 0, "no session was opened");
    assert!(
        result.iter().all(|&b| b == b'#' as c_char),
        "RESULT was written"
    );
}

#[test]
fn null_opt_and_parms_are_empty() {
    let mut h = 0;
    ok(&mut h, "MAILSMTP", GOOD, "");
    let mut result = [0 as c_char; LNCCMD_RESULT_LEN];
    let rc = unsafe {
        lnccmd(
            &mut h,
            c"MAILPREP".as_ptr(),
            null(),
            null(),
            null(),
            result.as_mut_ptr(),
        )
    };
    assert_eq!(rc, 0);
    let rc = unsafe {
        lnccmd(
            &mut h,
            c"MAILSEND".as_ptr(),
            null(),
            null(),
            null(),
            result.as_mut_ptr(),
        )
    };
    assert_eq!(rc, 109, "{:?}", unsafe { CStr::from_ptr(result.as_ptr()) });
    ok(&mut h, "MAILEND", "", "");
}

#[test]
fn unknown_and_empty_commands() {
    let mut h = 0;
    let (rc, text) = call(&mut h, "MAILFOO", "", "");
    assert_eq!(rc, 101);
    assert!(
        text.starts_with("101 MAILFOO: unknown command") && text.contains("MAILSMTP"),
        "{text}"
    );
    let (rc, text) = call(&mut h, "   ", "", "");
    assert_eq!(rc, 101);
    assert!(text.contains("(empty)"), "{text}");
    // Blanks and case around a known name are fine.
    ok(&mut h, "  mailsmtp\t", GOOD, "");
    ok(&mut h, "MailEnd", "", "");
}

#[test]
fn handles_bad_stale_forged_and_after_mailend() {
    let mut h = 0;
    for cmd in ["MAILPREP", "MAILSEND", "MAILEND", "MAILTO"] {
        let (rc, text) = call(&mut h, cmd, "", "");
        assert_eq!(rc, 102, "{text}");
        assert!(text.contains("call MAILSMTP first"), "{text}");
    }
    ok(&mut h, "MAILSMTP", GOOD, "");
    let live = h;
    ok(&mut h, "MAILEND", "", "");
    assert_eq!(h, 0);
    let mut stale = live;
    let (rc, text) = call(&mut stale, "MAILPREP", "", "");
    assert_eq!(rc, 102);
    assert!(text.contains("closed"), "{text}");
    assert_eq!(stale, live, "a refused call leaves the handle alone");
    for forged in [i32::MAX - 1, -5, live + 1_000_000] {
        let mut f = forged;
        let (rc, text) = call(&mut f, "MAILPREP", "", "");
        assert_eq!(rc, 102, "{text}");
    }
    // MAILSMTP on a stale handle does not silently open a new session.
    let mut stale = live;
    assert_eq!(call(&mut stale, "MAILSMTP", GOOD, "").0, 102);
}

#[test]
fn handle_numbers_are_never_reused() {
    let mut seen = std::collections::HashSet::new();
    for _ in 0..200 {
        let mut h = 0;
        ok(&mut h, "MAILSMTP", GOOD, "");
        assert!(seen.insert(h), "handle {h} reused");
        ok(&mut h, "MAILEND", "", "");
    }
}

#[test]
fn failed_mailsmtp_opens_nothing() {
    let mut h = 0;
    let (rc, text) = call(
        &mut h,
        "MAILSMTP",
        "Server=x.test;Sender=\"a@b.test\r\nBcc: evil@x.test\"",
        "",
    );
    assert_eq!(rc, 110, "{text}");
    assert_eq!(h, 0);
    for (props, code) in [
        ("Server=\"x.test;Sender=a@b.test", 104),
        ("Sender=a@b.test", 105),
        ("Server=x.test;Sender=a@b.test;port=99999", 106),
        ("Server=x.test;Sender=nobody", 108),
        ("Server=x.test;Sender=a@b.test;Colour=blue", 112),
        ("Server=x.test;Sender=a@b.test;DKIMKey=/k.pem", 105),
        ("Server=x.test;Sender=a@b.test;Sign=true", 105),
        ("", 105),
    ] {
        let (rc, text) = call(&mut h, "MAILSMTP", props, "");
        assert_eq!(rc, code, "{props}: {text}");
        assert!(text.starts_with(&format!("{code} MAILSMTP: ")), "{text}");
        assert_eq!(h, 0);
    }
}

#[test]
fn non_utf8_bytes_are_refused() {
    let mut h = 0;
    let (rc, text) = call_bytes(
        &mut h,
        "MAILSMTP",
        b"Server=x.test;Sender=caf\xe9@b.test",
        b"",
    );
    assert_eq!(rc, 107, "{text}");
    assert!(
        text.contains("bad byte at offset 24") && text.contains("InputCharset"),
        "{text}"
    );
    assert_eq!(h, 0);
    ok(&mut h, "MAILSMTP", GOOD, "");
    ok(&mut h, "MAILPREP", "", "");
    let (rc, text) = call_bytes(&mut h, "MAILTEXT", b"\xff\xfe", b"");
    assert_eq!(rc, 107, "{text}");
    ok(&mut h, "MAILEND", "", "");
}

#[test]
fn huge_parameters_are_handled() {
    let mut h = 0;
    ok(&mut h, "MAILSMTP", GOOD, "");
    ok(&mut h, "MAILPREP", "", "");
    let mib = "a".repeat(1 << 20);
    ok(&mut h, "MAILTEXT", &mib, "");
    let (rc, text) = call(&mut h, "MAILTO", &mib, "");
    assert_eq!(
        rc, 106,
        "an address list that cannot fit a header line: {text}"
    );
    assert!(text.len() < LNCCMD_RESULT_LEN);
    let (rc, _) = call(
        &mut h,
        "MAILSMTP",
        &format!("Server={mib};Sender=a@b.test"),
        "",
    );
    assert_eq!(rc, 106);
    // A 1 MiB word cannot be a header line (998 octets at most); with
    // blanks, the subject folds.
    let (rc, text) = call(&mut h, "MAILSUBJ", &mib, "");
    assert_eq!(rc, 106, "{text}");
    ok(&mut h, "MAILSUBJ", &"word ".repeat(200_000), "");
    ok(&mut h, "MAILEND", "", "");
}

#[test]
fn result_is_cut_on_a_character_boundary() {
    let mut h = 0;
    // An unknown key full of 2-byte characters makes a long message.
    let key = "é".repeat(400);
    let (rc, text) = call(
        &mut h,
        "MAILSMTP",
        &format!("Server=x.test;Sender=a@b.test;{key}=1"),
        "",
    );
    assert!(rc == 104, "{text}");
    assert!(text.len() < LNCCMD_RESULT_LEN);
    assert!(
        text.len() >= LNCCMD_RESULT_LEN - 4,
        "the text fills RESULT: {}",
        text.len()
    );
}

#[test]
fn fixed_fields_read_exactly_len_and_pad_result() {
    let mut h = 0;
    // Fields padded with blanks and followed by garbage that must never be read.
    let cmd = b"MAILSMTP  XXXX";
    let p1 = b"Server=127.0.0.1;Sender=tech@example.test     GARBAGE";
    let p1_len = p1.len() - "GARBAGE".len();
    let mut result = [b'#'; 40];
    let rc = unsafe {
        lnccmd_fixed(
            &mut h,
            cmd.as_ptr().cast(),
            10,
            null(),
            0,
            p1.as_ptr().cast(),
            p1_len,
            b"   ".as_ptr().cast(),
            3,
            result.as_mut_ptr().cast(),
            32,
        )
    };
    assert_eq!(rc, 0);
    assert!(h > 0);
    assert_eq!(&result[..32], format!("0{}", " ".repeat(31)).as_bytes());
    assert_eq!(&result[32..], b"########", "wrote past result_len");

    // A failure fills the field with as much of the message as fits.
    let mut result = [b'#'; 20];
    let rc = unsafe {
        lnccmd_fixed(
            &mut h,
            b"MAILSEND".as_ptr().cast(),
            8,
            null(),
            0,
            null(),
            0,
            null(),
            0,
            result.as_mut_ptr().cast(),
            16,
        )
    };
    assert_eq!(rc, 103);
    assert_eq!(&result[..16], b"103 MAILSEND: no");
    assert_eq!(&result[16..], b"####");

    // Trailing NULs count as padding too; result_len 0 writes nothing.
    let field: [u8; 9] = *b"MAILEND\0\0";
    let rc = unsafe {
        lnccmd_fixed(
            &mut h,
            field.as_ptr().cast(),
            9,
            null(),
            0,
            null(),
            0,
            null(),
            0,
            result.as_mut_ptr().cast(),
            0,
        )
    };
    assert_eq!(rc, 0);
    assert_eq!(h, 0);
}

#[test]
fn strerror_and_version() {
    for s in LnccmdStatus::ALL {
        let text = unsafe { CStr::from_ptr(lnccmd_strerror(s.code())) }
            .to_str()
            .unwrap();
        assert!(!text.is_empty());
        assert_eq!(text.as_bytes(), s.message().to_bytes());
    }
    let unknown = unsafe { CStr::from_ptr(lnccmd_strerror(12345)) }
        .to_str()
        .unwrap();
    assert_eq!(unknown, "unknown status code");
    let v = unsafe { CStr::from_ptr(lnccmd_version()) }
        .to_str()
        .unwrap();
    assert_eq!(v, env!("CARGO_PKG_VERSION"));
    assert_eq!(v.split('.').count(), 3);
}

#[test]
fn connection_refused_names_the_server_and_session_stays_usable() {
    let port = free_port();
    let mut h = 0;
    ok(
        &mut h,
        "MAILSMTP",
        &format!("Server=127.0.0.1;port={port};Sender=t@example.test;Timeout=3"),
        "",
    );
    ok(&mut h, "MAILPREP", "r@example.test", "x");
    for _ in 0..3 {
        let (rc, text) = call(&mut h, "MAILSEND", "", "");
        assert_eq!(rc, 400);
        assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    }
    ok(&mut h, "MAILTEXT", "still usable", "");
    ok(&mut h, "MAILEND", "", "");
}

#[test]
fn only_the_four_functions_are_exported() {
    let so = target_dir().join("liblnccmd.so");
    let out = std::process::Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&so)
        .output()
        .expect("nm (binutils) is needed");
    assert!(out.status.success(), "nm failed on {}", so.display());
    let mut symbols: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 3).then(|| f[2].to_string())
        })
        .collect();
    symbols.sort();
    assert_eq!(
        symbols,
        [
            "lnccmd",
            "lnccmd_fixed",
            "lnccmd_strerror",
            "lnccmd_version"
        ]
    );
}

/// One page of memory that can be made read-only or inaccessible: a write
/// (or read) where none is allowed kills the test with SIGSEGV.
struct Page(*mut libc::c_void);

impl Page {
    fn new() -> Page {
        // SAFETY: an anonymous private mapping, unmapped in Drop.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED);
        Page(p)
    }

    fn protect(&self, prot: libc::c_int) {
        // SAFETY: our own mapping.
        assert_eq!(unsafe { libc::mprotect(self.0, 4096, prot) }, 0);
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        // SAFETY: our own mapping, no longer used.
        unsafe { libc::munmap(self.0, 4096) };
    }
}

/// `lnccmd` and `lnccmd_fixed` on a raw handle pointer; RESULT discarded.
fn raw_calls(h: *mut i32, cmd: &str, parm1: &str) -> (i32, i32) {
    let c = std::ffi::CString::new(cmd).unwrap();
    let p1 = std::ffi::CString::new(parm1).unwrap();
    let mut result = [0 as c_char; LNCCMD_RESULT_LEN];
    // SAFETY: valid strings and buffers; `h` is the caller's.
    unsafe {
        let a = lnccmd(
            h,
            c.as_ptr(),
            null(),
            p1.as_ptr(),
            null(),
            result.as_mut_ptr(),
        );
        let b = lnccmd_fixed(
            h,
            c.as_ptr(),
            cmd.len(),
            null(),
            0,
            p1.as_ptr(),
            parm1.len(),
            null(),
            0,
            result.as_mut_ptr(),
            result.len(),
        );
        (a, b)
    }
}

/// Issue #12 point 7: the handle variable is written only by MAILSMTP
/// opening a session and MAILEND closing it. Every other call, successful
/// or not, only reads it: with the variable on a read-only page, a write
/// would crash the test.
#[test]
fn handle_is_written_only_when_the_call_changes_it() {
    let page = Page::new();
    let h = page.0.cast::<i32>();
    let mut opened = 0;
    ok(&mut opened, "MAILSMTP", GOOD, "");
    let refused = format!(
        "Server=127.0.0.1;port={};Sender=tech@example.test;Timeout=2",
        free_port()
    );
    // SAFETY: the page is writable until `protect`.
    unsafe { *h = opened };
    page.protect(libc::PROT_READ);
    for (cmd, parm1, rc) in [
        ("MAILPREP", "bob@example.test", 0),
        ("MAILTEXT", "hello", 0),
        ("MAILSMTP", refused.as_str(), 0),
        ("MAILSEND", "", 400),
        ("NOSUCH", "", 101),
        ("MAILTO", "bob@@example.test", 108),
        ("MAILSMTP", "Server=127.0.0.1", 105),
    ] {
        assert_eq!(raw_calls(h, cmd, parm1), (rc, rc), "{cmd}");
    }
    page.protect(libc::PROT_READ | libc::PROT_WRITE);
    assert_eq!(raw_calls(h, "MAILEND", "").0, 0);
    // SAFETY: the page is readable.
    assert_eq!(unsafe { *h }, 0);
    // A stale handle (102) and handle 0 are only read too.
    page.protect(libc::PROT_READ);
    assert_eq!(raw_calls(h, "MAILPREP", ""), (102, 102));
    page.protect(libc::PROT_READ | libc::PROT_WRITE);
}

/// Issue #12 point 7, as it happened: two threads share one handle
/// variable; while one ends the session, the other's call, which read the
/// number before MAILEND wrote 0, must not write the stale number back.
#[test]
fn mailend_on_a_shared_handle_variable_stays_0() {
    use std::sync::atomic::{AtomicI32, Ordering};
    use std::sync::{Arc, Barrier};
    const ROUNDS: usize = 300;
    let shared = Arc::new(AtomicI32::new(0));
    let mut stale = 0;
    for round in 0..ROUNDS {
        let mut h = 0;
        ok(&mut h, "MAILSMTP", GOOD, "");
        ok(&mut h, "MAILPREP", "bob@example.test", "");
        shared.store(h, Ordering::SeqCst);
        let barrier = Arc::new(Barrier::new(2));
        let other = {
            let (shared, barrier) = (shared.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                for _ in 0..20 {
                    raw_calls(shared.as_ptr(), "MAILTEXT", "more text");
                }
            })
        };
        barrier.wait();
        assert_eq!(raw_calls(shared.as_ptr(), "MAILEND", "").0, 0);
        other.join().unwrap();
        if shared.load(Ordering::SeqCst) != 0 {
            stale += 1;
            eprintln!(
                "round {round}: the handle variable is {} after MAILEND",
                shared.load(Ordering::SeqCst)
            );
        }
    }
    assert_eq!(
        stale, 0,
        "rounds of {ROUNDS} where MAILEND's 0 was overwritten"
    );
}

/// Issue #12 point 8: a `lnccmd_fixed` length beyond LNCCMD_FIXED_FIELD_MAX
/// is refused with 106 naming it, before any field is read: the fields here
/// are on an inaccessible page or NULL, and reading one would crash.
#[test]
fn fixed_lengths_beyond_the_bound_are_refused_unread() {
    let page = Page::new();
    page.protect(libc::PROT_NONE);
    let unreadable = page.0.cast::<c_char>().cast_const();
    let mut h = 0;
    ok(&mut h, "MAILSMTP", GOOD, "");
    let opened = h;
    let call = |h: &mut i32, lens: [usize; 4], ptrs: [*const c_char; 4]| {
        let mut result = [b'#'; 200];
        let rc = unsafe {
            lnccmd_fixed(
                h,
                ptrs[0],
                lens[0],
                ptrs[1],
                lens[1],
                ptrs[2],
                lens[2],
                ptrs[3],
                lens[3],
                result.as_mut_ptr().cast(),
                result.len(),
            )
        };
        (rc, String::from_utf8(result.to_vec()).unwrap())
    };
    let prep = b"MAILPREP".as_ptr().cast::<c_char>();
    let over = LNCCMD_FIXED_FIELD_MAX + 1;
    for (field, lens, ptrs) in [
        (
            "cmd_len",
            [over, 0, 0, 0],
            [unreadable, null(), null(), null()],
        ),
        (
            "cmd_len",
            [usize::MAX, 0, 0, 0],
            [prep, null(), null(), null()],
        ),
        (
            "opt_len",
            [8, over, 0, 0],
            [prep, unreadable, null(), null()],
        ),
        (
            "parm1_len",
            [8, 0, over, 0],
            [prep, null(), unreadable, null()],
        ),
        (
            "parm1_len",
            [8, 0, usize::MAX, 0],
            [prep, null(), null(), null()],
        ),
        (
            "parm2_len",
            [8, 0, 1, over],
            [prep, null(), unreadable, unreadable],
        ),
    ] {
        let (rc, text) = call(&mut h, lens, ptrs);
        assert_eq!(rc, 106, "{field}: {text}");
        let len = lens.iter().find(|&&l| l > LNCCMD_FIXED_FIELD_MAX).unwrap();
        assert!(
            text.starts_with(&format!(
                "106 LNCCMD: {field} is {len}, more than the 1073741824 bytes (1 GiB, LNCCMD_FIXED_FIELD_MAX)"
            )),
            "{text}"
        );
        assert_eq!(h, opened, "the handle is untouched");
    }
    // result_len beyond the bound: 106, nothing written (RESULT is on the
    // inaccessible page too), nothing read.
    let rc = unsafe {
        lnccmd_fixed(
            &mut h,
            prep,
            8,
            null(),
            0,
            null(),
            0,
            null(),
            0,
            page.0.cast(),
            over,
        )
    };
    assert_eq!(rc, 106);
    // Nothing happened to the session: MAILPREP at the bound's edge of
    // nothing, then a normal call, work.
    let (rc, text) = call(&mut h, [8, 0, 0, 0], [prep, null(), null(), null()]);
    assert_eq!(rc, 0, "{text}");
    ok(&mut h, "MAILEND", "", "");
}
