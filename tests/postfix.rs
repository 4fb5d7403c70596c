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
