//! What MailKit, smtplib and libcurl users expect (issue #17): headers of
//! the program's own (MAILHDR), a bounce address (ReturnPath), what the last
//! MAILSEND did (MAILINFO, the log's new columns), a protocol trace
//! (TraceFile), and attachment names that cannot pose as another type.
//! Against aiosmtpd and a private Postfix.

mod common;

use common::pki::Pki;
use common::postfix::Postfix;
use common::*;
use std::os::unix::fs::PermissionsExt;

#[test]
fn mailhdr_headers_arrive_and_the_librarys_own_are_refused() {
    let server = SmtpServer::start();
    let mut h = open(&server);
    // Refusals, on a draft of their own (a failed MAILHDR stops its MAILSEND).
    ok(&mut h, "MAILPREP", "bob@example.test", "refusals");
    for (name, value, code) in [
        ("From", "evil@example.test", 106),
        ("content-type", "text/html", 106),
        ("Message-ID", "<x@y>", 106),
        ("Resent-To", "x@example.test", 106),
        ("X Bad", "v", 106),
        ("X:Bad", "v", 106),
        ("X-Empty", "", 106),
        ("X-Note", "line\r\nBcc: evil@example.test", 110),
    ] {
        let (rc, text) = call(&mut h, "MAILHDR", name, value);
        assert_eq!(rc, code, "{name}: {text}");
    }
    let (rc, text) = call(&mut h, "MAILHDR", "Subject", "x");
    assert!(text.contains("MAILPREP's subject or MAILSUBJ"), "{text}");
    assert_eq!(rc, 106);
    let (rc, text) = call(&mut h, "MAILSEND", "", "");
    assert_eq!(rc, 114, "{text}");
    assert!(text.contains("MAILHDR #1 failed with 106"), "{text}");

    ok(&mut h, "MAILPREP", "bob@example.test", "with headers");
    ok(
        &mut h,
        "MAILHDR",
        "List-Unsubscribe",
        "<mailto:unsubscribe@example.test?subject=invoices>, <https://example.test/u/42>",
    );
    ok(
        &mut h,
        "MAILHDR",
        "List-Unsubscribe-Post",
        "List-Unsubscribe=One-Click",
    );
    ok(
        &mut h,
        "MAILHDR",
        "In-Reply-To",
        "<order-42@shop.example.test>",
    );
    ok(
        &mut h,
        "MAILHDR",
        "References",
        "<order-42@shop.example.test>",
    );
    ok(&mut h, "MAILHDR", "Auto-Submitted", "auto-generated");
    ok(&mut h, "MAILHDR", "X-Invoice", "first value");
    ok(&mut h, "MAILHDR", "x-invoice", "Facture n°42 échue");
    ok(&mut h, "MAILSEND", "", "");
    ok(&mut h, "MAILEND", "", "");
    let m = &server.wait_for(1)[0];
    assert_eq!(
        header(m, "List-Unsubscribe"),
        Some("<mailto:unsubscribe@example.test?subject=invoices>, <https://example.test/u/42>")
    );
    assert_eq!(
        header(m, "List-Unsubscribe-Post"),
        Some("List-Unsubscribe=One-Click")
    );
    assert_eq!(
        header(m, "In-Reply-To"),
        Some("<order-42@shop.example.test>")
    );
    assert_eq!(
        header(m, "References"),
        Some("<order-42@shop.example.test>")
    );
    assert_eq!(header(m, "Auto-Submitted"), Some("auto-generated"));
    // The same name again replaced the value; non-ASCII came back decoded
    // from its RFC 2047 encoded-words.
    assert_eq!(header_count(m, "X-Invoice"), 1);
    assert_eq!(header(m, "X-Invoice"), Some("Facture n°42 échue"));
    let raw = String::from_utf8_lossy(&server.raw(1)).to_string();
    assert!(raw.contains("X-Invoice: Facture =?UTF-8?Q?"), "{raw}");
    assert!(!raw.contains("evil"), "{raw}");
}

#[test]
fn return_path_is_the_envelope_sender_and_from_stays_the_sender() {
    let server = SmtpServer::start();
    let mut h = 0;
    ok(
        &mut h,
        "MAILSMTP",
        &format!("{};ReturnPath=bounces@example.test", server.props()),
        "",
    );
    ok(&mut h, "MAILPREP", "bob@example.test", "bounces elsewhere");
    ok(&mut h, "MAILSEND", "", "");
    ok(&mut h, "MAILEND", "", "");
    let m = &server.wait_for(1)[0];
    assert_eq!(m["mail_from"], "bounces@example.test");
    assert_eq!(header(m, "From"), Some("Tech <tech@example.test>"));
    let mut h = 0;
    let (rc, text) = call(
        &mut h,
        "MAILSMTP",
        &format!("{};ReturnPath=bounces@", server.props()),
        "",
    );
    assert_eq!(rc, 108, "{text}");
}

/// MAILINFO after a MAILSEND to Postfix: the Message-ID of the message, the
/// queue id Postfix gave (the one its log names), TLS with the relay's
/// certificate; the send log has the same in its new columns.
#[test]
fn mailinfo_and_the_log_say_what_the_last_mailsend_did() {
    let pki = Pki::new();
    let pf = Postfix::start(&pki);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("send.csv");
    let mut h = 0;
    ok(
        &mut h,
        "MAILSMTP",
        &format!(
            "Server=127.0.0.1;port={};Sender=tech@example.test;Timeout=20;TrustCert=\"{}\";enableSSL=true;UserId={};password={};logfile=\"{}\"",
            pf.submission,
            pki.path("ca.pem").display(),
            common::postfix::USER,
            common::postfix::PASSWORD,
            log.display()
        ),
        "",
    );
    let (rc, text) = call(&mut h, "MAILINFO", "MESSAGEID", "");
    assert_eq!(rc, 103, "{text}");
    ok(&mut h, "MAILPREP", "bob@example.test", "info");
    ok(&mut h, "MAILSEND", "", "");
    let info = |h: &mut i32, item: &str| {
        let (rc, text) = call(h, "MAILINFO", item, "");
        assert_eq!(rc, 0, "{text}");
        text.strip_prefix("0 ").expect("0 <value>").to_string()
    };
    let id = info(&mut h, "messageid");
    let queue = info(&mut h, "QUEUEID");
    let tls = info(&mut h, "TLS");
    let (rc, text) = call(&mut h, "MAILINFO", "ID", "");
    assert_eq!(rc, 106, "{text}");
    ok(&mut h, "MAILEND", "", "");
    let m = String::from_utf8_lossy(&pf.wait_for(1)[0]).to_string();
    assert!(m.contains(&format!("Message-ID: {id}")), "{id}: {m}");
    assert!(!queue.is_empty() && pf.log().contains(&queue), "{queue}");
    assert!(tls.starts_with("TLSv1.") && tls.contains("; CN="), "{tls}");
    let rows = read_log(&log);
    assert_eq!(rows[0]["queue_id"], queue);
    assert_eq!(
        format!("{}; {}", rows[0]["tls"], rows[0]["relay_certificate"]),
        tls
    );
}

/// TraceFile: the dialogue, a line each, timestamped; no password, no
/// base64 of it, no message content; created 0600.
#[test]
fn the_protocol_trace_has_the_dialogue_and_no_secret() {
    let server = SmtpServer::start_with(0, &["--auth", &format!("user:{}", TEST_SECRETS[0])]);
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace.log");
    for method in ["PLAIN", "LOGIN"] {
        let mut h = 0;
        ok(
            &mut h,
            "MAILSMTP",
            &format!(
                "{};UserId=user;password=\"{}\";AllowPlainAuth=true;AuthMethod={method};TraceFile=\"{}\";KeepAlive=0",
                server.props(),
                TEST_SECRETS[0],
                trace.display()
            ),
            "",
        );
        ok(&mut h, "MAILPREP", "bob@example.test", "traced");
        ok(&mut h, "MAILTEXT", "CONFIDENTIAL-BODY-LINE", "");
        ok(&mut h, "MAILSEND", "", "");
        ok(&mut h, "MAILEND", "", "");
    }
    server.wait_for(2);
    let text = std::fs::read_to_string(&trace).unwrap();
    assert_no_secret("the trace", &text);
    assert!(!text.contains("CONFIDENTIAL-BODY-LINE"), "{text}");
    for needle in [
        " C: EHLO ",
        " S: 250",
        " C: AUTH PLAIN [credentials removed]",
        " C: AUTH LOGIN",
        " S: 334 ",
        " C: MAIL FROM:<tech@example.test>",
        " C: RCPT TO:<bob@example.test>",
        " C: [message content, ",
        " C: QUIT",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    assert!(
        text.lines().all(|l| l.starts_with("20")),
        "every line has its time: {text}"
    );
    let mode = std::fs::metadata(&trace).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

/// A name with a bidirectional control (U+202E) would show
/// `facture\u{202E}fdp.exe` as "factureexe.pdf": refused, escaped in RESULT.
#[test]
fn attachment_names_with_bidirectional_controls_are_refused() {
    let server = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("invoice.pdf");
    std::fs::write(&file, b"%PDF").unwrap();
    let disguised = dir.path().join("facture\u{202E}fdp.exe");
    std::fs::write(&disguised, b"MZ").unwrap();
    let mut h = open(&server);
    ok(&mut h, "MAILPREP", "bob@example.test", "names");
    for (path, props) in [
        (file.to_str().unwrap(), "name=\"facture\u{202E}fdp.exe\""),
        (disguised.to_str().unwrap(), ""),
        (file.to_str().unwrap(), "name=\"a\u{2066}b.pdf\""),
    ] {
        let (rc, text) = call(&mut h, "MAILLATT", path, props);
        assert_eq!(rc, 106, "{text}");
        assert!(
            !text.contains('\u{202E}') && !text.contains('\u{2066}'),
            "{text}"
        );
        assert!(
            text.contains("\\u{202e}") || text.contains("\\u{2066}"),
            "{text}"
        );
    }
    ok(&mut h, "MAILEND", "", "");
}
