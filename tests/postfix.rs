//! Against a real MTA: a private Postfix on loopback, delivering to a
//! Maildir. STARTTLS + AUTH on the submission port, SMTPS, a wrong password,
//! and real delivery status notifications coming back to the sender.

mod common;

use common::pki::Pki;
use common::postfix::{PASSWORD, Postfix, USER};
use common::*;

fn props(pki: &Pki, port: u16, extra: &str) -> String {
    format!(
        "Server=127.0.0.1;port={port};Sender=\"Tech <tech@example.test>\";Timeout=20;TrustCert=\"{}\";{extra}",
        pki.path("ca.pem").display()
    )
}

fn text(msg: &[u8]) -> String {
    String::from_utf8_lossy(msg).replace("\r\n", "\n")
}

#[test]
fn postfix_submission_smtps_plain_auth_failures_and_dsn() {
    let pki = Pki::new();
    let pf = Postfix::start(&pki);
    let mut h = 0;

    // Submission: STARTTLS required, AUTH required.
    ok(
        &mut h,
        "MAILSMTP",
        &props(
            &pki,
            pf.submission,
            &format!("enableSSL=true;UserId={USER};password={PASSWORD}"),
        ),
        "",
    );
    ok(
        &mut h,
        "MAILPREP",
        "bob@example.test",
        "subject=\"via submission\";report",
    );
    ok(&mut h, "MAILTEXT", "Sent over STARTTLS with AUTH.", "");
    ok(&mut h, "MAILSEND", "", "");

    // SMTPS with AUTH LOGIN on the same handle: a new connection.
    ok(
        &mut h,
        "MAILSMTP",
        &props(
            &pki,
            pf.smtps,
            &format!("SSLType=SMTPS;UserId={USER};password={PASSWORD};AuthMethod=LOGIN"),
        ),
        "",
    );
    ok(&mut h, "MAILPREP", "carol@example.test", "via smtps");
    ok(&mut h, "MAILSEND", "", "");

    // A wrong password: 405 quoting Postfix's 535, the draft kept.
    ok(
        &mut h,
        "MAILSMTP",
        &props(
            &pki,
            pf.submission,
            &format!("enableSSL=true;UserId={USER};password=not-it"),
        ),
        "",
    );
    ok(
        &mut h,
        "MAILPREP",
        "dave@example.test",
        "after a wrong password",
    );
    let (rc, text_) = call(&mut h, "MAILSEND", "", "");
    assert_eq!(rc, 405, "{text_}");
    assert!(text_.contains("535"), "{text_}");
    assert!(!text_.contains("not-it"));

    // Without AUTH the submission port refuses the sender... after STARTTLS.
    ok(
        &mut h,
        "MAILSMTP",
        &props(&pki, pf.submission, "enableSSL=true"),
        "",
    );
    let (rc, text_) = call(&mut h, "MAILSEND", "", "");
    assert!(rc == 500 || rc == 502, "{text_}");

    // The plain port: no STARTTLS required, no AUTH; the kept draft goes out.
    ok(&mut h, "MAILSMTP", &props(&pki, pf.plain, ""), "");
    ok(&mut h, "MAILSEND", "", "");
    ok(&mut h, "MAILEND", "", "");

    // 3 messages + 1 delivery report for the first one.
    let delivered: Vec<String> = pf.wait_for(4).iter().map(|m| text(m)).collect();
    let find = |needle: &str| {
        delivered
            .iter()
            .find(|m| m.contains(needle))
            .unwrap_or_else(|| panic!("no message with {needle}: {delivered:#?}"))
    };
    let first = find("Subject: via submission");
    assert!(first.contains("Sent over STARTTLS with AUTH."));
    // Postfix records TLS and the authenticated user in its Received header.
    assert!(first.contains("with ESMTPSA"), "{first}");
    assert!(find("Subject: via smtps").contains("with ESMTPSA"));
    assert!(find("Subject: after a wrong password").contains("with ESMTP "));
    let id = first
        .lines()
        .find_map(|l| l.strip_prefix("Message-ID: "))
        .unwrap()
        .trim_matches(['<', '>'])
        .to_string();
    let report = find("multipart/report");
    assert!(
        report.contains(&format!("Original-Envelope-Id: {id}")),
        "{report}"
    );
    assert!(report.contains("Action: delivered"), "{report}");
    assert!(report.contains("text/rfc822-headers"), "RET=HDRS: {report}");
    assert!(
        report.contains("To: tech@example.test") || report.contains("To: <tech@example.test>"),
        "{report}"
    );
}

/// Postfix offers CHUNKING and PIPELINING: MAIL, RCPT and `BDAT n LAST`
/// with the content go in one flight (issue #13), the content unchanged
/// (no dot-stuffing with BDAT), per-recipient results exact; SIZE is
/// announced on MAIL FROM, and a message over the server's limit is refused
/// before any of its bytes is sent.
#[test]
fn postfix_chunking_size_and_per_recipient_results() {
    let pki = Pki::new();
    let pf = Postfix::start(&pki);
    let tap = WireTap::new(pf.plain);
    let mut h = 0;
    ok(&mut h, "MAILSMTP", &props(&pki, tap.port, ""), "");
    ok(
        &mut h,
        "MAILPREP",
        "bob@example.test; reject@example.test",
        "subject=\"in one flight\"",
    );
    let text_in = "first line\n.a line that starts with a dot\n..two dots\nlast line";
    ok(&mut h, "MAILTEXT", text_in, "");
    let (rc, result) = call(&mut h, "MAILSEND", "", "");
    assert_eq!(rc, 501, "{result}");
    assert!(result.contains("<reject@example.test>: 554"), "{result}");
    ok(&mut h, "MAILEND", "", "");
    let wire = String::from_utf8_lossy(&tap.bytes()).to_string();
    assert!(wire.contains("\r\nBDAT "), "{wire}");
    assert!(!wire.contains("\r\nDATA\r\n"), "{wire}");
    assert!(wire.contains(" SIZE="), "SIZE on MAIL FROM: {wire}");
    // BDAT carries the bytes as they are: the dot lines are not doubled.
    assert!(
        wire.contains("\r\n.a line that starts with a dot\r\n"),
        "{wire}"
    );
    let m = text(&pf.wait_for(1)[0]);
    assert!(
        m.contains("\n.a line that starts with a dot\n..two dots\n"),
        "{m}"
    );

    // Over the limit of the small port: 505 before anything is sent.
    let tap = WireTap::new(pf.small);
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.bin");
    std::fs::write(&big, vec![7u8; common::postfix::SMALL_LIMIT * 2]).unwrap();
    ok(&mut h, "MAILSMTP", &props(&pki, tap.port, ""), "");
    ok(&mut h, "MAILPREP", "bob@example.test", "too big");
    ok(&mut h, "MAILLATT", big.to_str().unwrap(), "");
    let (rc, result) = call(&mut h, "MAILSEND", "", "");
    assert_eq!(rc, 505, "{result}");
    assert!(
        result.contains(&format!("accepts at most {}", common::postfix::SMALL_LIMIT))
            && result.contains("nothing was sent"),
        "{result}"
    );
    ok(&mut h, "MAILEND", "", "");
    let wire = String::from_utf8_lossy(&tap.bytes()).to_string();
    assert!(!wire.contains("MAIL FROM"), "{wire}");
}
