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
//!   handle are serialised. No panic crosses the boundary.
//!
//! Layout: `ffi` (the only unsafe code) -> `command` (the table) ->
//! `registry` (handles) -> `session` (sequence rules, draft) -> `settings`,
//! `props` (parsing), `compose` (MIME), `transport` (SMTP).

#![deny(unsafe_code)]
#![warn(missing_debug_implementations)]
#![warn(rust_2018_idioms)]

mod charset;
pub mod command;
mod compose;
mod dkim;
pub mod error;
#[allow(unsafe_code)]
pub mod ffi;
mod files;
mod logfile;
mod props;
mod registry;
mod session;
mod settings;
mod smime;
mod transport;

pub use error::LnccmdStatus;

/// Entry points for the fuzz targets only (`cargo fuzz` builds with
/// `--cfg fuzzing`): the pure parsers, which the C ABI reaches only through
/// a session.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    /// The property-string parser (SPEC §2), with `password` as a secret.
    pub fn properties(s: &str) -> bool {
        crate::props::parse_properties_with_secrets(s, &["password"]).is_ok()
    }

    /// The address-list parser (SPEC §3).
    pub fn addresses(s: &str) -> bool {
        crate::props::parse_address_list(s).is_ok()
    }

    /// MAILSMTP's settings (every key, file checks included).
    pub fn settings(s: &str) -> bool {
        crate::settings::parse(s).is_ok()
    }
}
pub use ffi::{LNCCMD_RESULT_LEN, lnccmd, lnccmd_fixed, lnccmd_strerror, lnccmd_version};
