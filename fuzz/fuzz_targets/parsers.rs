//! The pure parsers (property strings, address lists, MAILSMTP settings) on
//! any text: they may refuse it, never crash.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        lnccmd::fuzzing::properties(s);
        lnccmd::fuzzing::addresses(s);
        lnccmd::fuzzing::settings(s);
    }
});
