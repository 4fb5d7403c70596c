//! lnccmd: the mail commands of LAUNCHER Office's LNCCMD (MAILSMTP, MAILPREP,
//! MAILTO, MAILTEXT, MAILSEND, MAILEND...) as a C library for Linux.
//!
//! # API conventions
//! - One entry point, `lnccmd(handle, cmd, opt, parm1, parm2, result)`, and
//!   its fixed-length twin `lnccmd_fixed`; `lnccmd_strerror` and
//!   `lnccmd_version`. Nothing else is exported.
//! - The return value is the status code (0 = success, see `LnccmdStatus`);
//!   RESULT carries the same code as text, then the command name and a
//!   message: `108 MAILTO: address 'x@' ...`. RESULT never holds a password.
//! - NULL `handle`, `cmd` or `result`: status 100, nothing written. NULL
//!   `opt`, `parm1`, `parm2`: empty. Blanks around fields are trimmed.
//! - Handles are positive numbers never reused in a process; sessions are
//!   independent and may run on different threads at once; calls on one
//!   handle are serialised. No panic crosses the boundary. Only MAILSMTP
//!   (opening) and MAILEND write the caller's handle variable.
//! - After fork(), a child's sessions never use the parent's connection
//!   (each opens its own); one in use by another thread at the fork returns
//!   102 in the child instead of blocking (docs/decisions.md, "fork()").
//! - For Rust programs (not in the C ABI): `call`, the same call without
//!   pointers, and `set_dry_run_dir`, which makes MAILSEND write the composed
//!   message to a folder instead of sending it.
//!
//! Layout: `ffi` (unsafe: the C boundary) -> `command` (the table) ->
//! `registry` (handles) -> `session` (sequence rules, draft) -> `settings`,
//! `props` (parsing), `compose` (MIME), `smime` and `cms_stream` (S/MIME;
//! `cms_stream` is the other unsafe module: OpenSSL's streaming CMS
//! encoder), `transport` (SMTP).

#![deny(unsafe_code)]
#![warn(missing_debug_implementations)]
#![warn(rust_2018_idioms)]

mod charset;
#[allow(unsafe_code)]
mod cms_stream;
pub mod command;
mod compose;
mod dkim;
mod dryrun;
mod ebcdic;
#[rustfmt::skip]
mod ebcdic_tables;
mod encoded_words;
pub mod error;
#[allow(unsafe_code)]
pub mod ffi;
mod files;
mod header_protection;
mod logfile;
mod oauth2;
mod props;
mod registry;
mod session;
mod settings;
mod smime;
mod transport;

pub use dryrun::set_dry_run_dir;

/// The library version, "MAJOR.MINOR.PATCH" (what `lnccmd_version()` returns).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The local time now, ISO 8601 with its UTC offset (as the send log
/// writes it): the command line's RTVJOBA and RTVSYSVAL read the host's
/// date and time from it, the library being where `localtime_r` is called.
pub use compose::iso8601_now;
pub use error::LnccmdStatus;
/// Unicode's bidirectional controls, as RESULT escapes them (for the
/// command line's CL reader, which names them in its errors).
pub use props::is_bidi_control;

/// One LNCCMD call from Rust, without pointers: what `lnccmd()` does, for
/// Rust programs (the `lnccmd` command-line tool uses it).
///
/// Returns the status code and the full RESULT text (`0`, or
/// `<code> <COMMAND>: <message>`), produced by the same code as the C
/// functions; the text is not cut to `LNCCMD_RESULT_LEN`. `handle` is in/out
/// as in the C ABI (MAILSMTP with 0 opens a session, MAILEND writes 0).
/// `opt` is ignored by every mail command. No panic escapes.
pub fn call(handle: &mut i32, cmd: &str, opt: &str, parm1: &str, parm2: &str) -> (i32, String) {
    let _ = opt;
    let (status, text) = ffi::guarded(handle, cmd.as_bytes(), parm1.as_bytes(), parm2.as_bytes());
    (status.code(), text)
}

/// Entry points for the fuzz targets only (`cargo fuzz` builds with
/// `--cfg fuzzing`): the pure parsers, which the C ABI reaches only through
/// a session.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    /// The property-string parser (docs/contract.md §2), with `password` as a secret.
    pub fn properties(s: &str) -> bool {
        crate::props::parse_properties_with_secrets(s, &["password"]).is_ok()
    }

    /// The address-list parser (docs/contract.md §3).
    pub fn addresses(s: &str) -> bool {
        crate::props::parse_address_list(s).is_ok()
    }

    /// MAILSMTP's settings (every key, file checks included).
    pub fn settings(s: &str) -> bool {
        crate::settings::parse(s).is_ok()
    }
}
pub use ffi::{
    LNCCMD_FIXED_FIELD_MAX, LNCCMD_RESULT_LEN, lnccmd, lnccmd_fixed, lnccmd_strerror,
    lnccmd_version,
};

#[cfg(test)]
mod tests {
    #[test]
    fn call_gives_the_code_and_the_whole_result() {
        let mut h = 0;
        let (rc, text) = super::call(&mut h, "mailfoo", "", "", "");
        assert_eq!(rc, 101);
        assert!(text.starts_with("101 mailfoo: unknown command"), "{text}");
        assert!(text.ends_with("MAILSEND, MAILEND"), "{text}");
        let (rc, text) = super::call(
            &mut h,
            "MAILSMTP",
            "x",
            "Server=127.0.0.1;Sender=a@x.test",
            "",
        );
        assert_eq!((rc, text.as_str()), (0, "0"));
        assert!(h > 0);
        let (rc, _) = super::call(&mut h, "MAILTO", "", "bob@", "");
        assert_eq!(rc, 103);
        assert_eq!(
            super::call(&mut h, "MAILEND", "", "", ""),
            (0, "0".to_string())
        );
        assert_eq!(h, 0);
    }
}
