//! Drives `lnccmd_fixed` with a command sequence decoded from the input:
//! each record is a command number, then PARM1 and PARM2 as length-prefixed
//! bytes. The server is a closed loopback port, so MAILSEND fails fast; what
//! is checked is that nothing crashes, RESULT is always "<code>..." with the
//! returned code, and the handle is always 0 or live.
#![no_main]

use libfuzzer_sys::fuzz_target;

const COMMANDS: [&str; 14] = [
    "MAILSMTP", "MAILPREP", "MAILTO", "MAILCC", "MAILBCC", "MAILSUBJ", "MAILTEXT",
    "MAILBODYF", "MAILLATT", "MAILPRTY", "MAILREPORT", "MAILSEND", "MAILEND", "MAILXXX",
];

fn take<'a>(data: &mut &'a [u8]) -> &'a [u8] {
    let Some((&n, rest)) = data.split_first() else { return &[] };
    let n = (n as usize).min(rest.len());
    let (field, rest) = rest.split_at(n);
    *data = rest;
    field
}

fuzz_target!(|input: &[u8]| {
    let mut data = input;
    let mut handle = 0i32;
    // A valid session first, on a port nothing listens on, with a short timeout.
    let open = b"Server=127.0.0.1;port=9;Sender=f@example.test;Timeout=1";
    let mut result = [0u8; 120];
    unsafe {
        lnccmd::lnccmd_fixed(&mut handle, b"MAILSMTP".as_ptr().cast(), 8, std::ptr::null(), 0,
            open.as_ptr().cast(), open.len(), std::ptr::null(), 0, result.as_mut_ptr().cast(), result.len());
    }
    while let Some((&c, rest)) = data.split_first() {
        data = rest;
        let cmd = COMMANDS[c as usize % COMMANDS.len()];
        let p1 = take(&mut data);
        let p2 = take(&mut data);
        let rc = unsafe {
            lnccmd::lnccmd_fixed(&mut handle, cmd.as_ptr().cast(), cmd.len(), std::ptr::null(), 0,
                p1.as_ptr().cast(), p1.len(), p2.as_ptr().cast(), p2.len(),
                result.as_mut_ptr().cast(), result.len())
        };
        let text = String::from_utf8_lossy(&result);
        assert!(text.starts_with(&rc.to_string()), "RESULT {text:?} for code {rc}");
        assert!(handle >= 0);
    }
    if handle != 0 {
        unsafe {
            lnccmd::lnccmd_fixed(&mut handle, b"MAILEND".as_ptr().cast(), 7, std::ptr::null(), 0,
                std::ptr::null(), 0, std::ptr::null(), 0, result.as_mut_ptr().cast(), result.len());
        }
    }
});
