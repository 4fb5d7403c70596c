//! Against Exim and OpenSMTPD, next to Postfix (tests/postfix.rs): private
//! instances on loopback, started and stopped here, delivering to a Maildir
//! the test reads. Smoke tests of the paths every later test builds on.

mod common;

use common::exim::{Exim, PASSWORD, TlsMode, USER};
use common::opensmtpd::OpenSmtpd;
use common::pki::Pki;
use common::*;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

fn text(msg: &[u8]) -> String {
    String::from_utf8_lossy(msg).replace("\r\n", "\n")
}

/// One message through MAILSMTP … MAILEND with `props`.
fn send(props: &str, to: &str, prep: &str, body: &str) {
    let mut h = 0;
    ok(&mut h, "MAILSMTP", props, "");
    ok(&mut h, "MAILPREP", to, prep);
    ok(&mut h, "MAILTEXT", body, "");
    ok(&mut h, "MAILSEND", "", "");
    ok(&mut h, "MAILEND", "", "");
}

fn only(delivered: &[Vec<u8>], needle: &str) -> String {
    let found: Vec<String> = delivered
        .iter()
        .map(|m| text(m))
        .filter(|m| m.contains(needle))
        .collect();
    assert_eq!(found.len(), 1, "one message with {needle}: {delivered:#?}");
    found.into_iter().next().unwrap()
}

/// Exim's Received header names the protocol (s: TLS, a: AUTH) and the TLS
/// version.
fn assert_received(m: &str, protocol: &str) {
    let received = m
        .split("\nReceived: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no Received header: {m}"));
    assert!(received.contains(&format!("with {protocol} ")), "{m}");
    if protocol.starts_with("esmtps") {
        assert!(received.contains("(TLS1."), "{m}");
    }
}

#[test]
fn exim_plain() {
    let pki = Pki::new();
    let exim = Exim::start();
    send(
        &exim.props(&pki, ""),
        "bob@example.test",
        "subject=\"exim plain\"",
        "Plain SMTP to Exim.",
    );
    let m = only(&exim.wait_for(1), "Subject: exim plain");
    assert!(m.contains("Plain SMTP to Exim."), "{m}");
    assert!(m.contains("Envelope-to: bob@example.test"), "{m}");
    assert!(m.contains("Return-path: <tech@example.test>"), "{m}");
    assert!(m.contains("with esmtp (Exim 4.96)"), "{m}");
}

/// STARTTLS and SMTPS, the CA trusted: P=esmtps, received over TLS (Exim
/// names the protocol in Received).
#[test]
fn exim_starttls_and_smtps() {
    let pki = Pki::new();
    for (mode, name) in [(TlsMode::StartTls, "starttls"), (TlsMode::Smtps, "smtps")] {
        let exim = Exim::builder().tls(mode, &pki).start();
        let subject = format!("exim {name}");
        send(
            &exim.props(&pki, ""),
            "bob@example.test",
            &format!("subject=\"{subject}\""),
            &format!("Over {name}."),
        );
        let m = only(&exim.wait_for(1), &format!("Subject: {subject}"));
        assert_received(&m, "esmtps");
    }
}

#[test]
fn exim_auth_over_starttls() {
    let pki = Pki::new();
    let exim = Exim::builder().tls(TlsMode::StartTls, &pki).auth().start();
    for method in ["PLAIN", "LOGIN"] {
        send(
            &exim.props(
                &pki,
                &format!("UserId={USER};password={PASSWORD};AuthMethod={method}"),
            ),
            "dave@example.test",
            &format!("subject=\"exim auth {method}\""),
            "Authenticated.",
        );
    }
    let delivered = exim.wait_for(2);
    for method in ["PLAIN", "LOGIN"] {
        let m = only(&delivered, &format!("Subject: exim auth {method}"));
        // P=esmtpsa: TLS and AUTH.
        assert_received(&m, "esmtpsa");
    }
    // Without AUTH, the ACL refuses MAIL with 530: the draft is kept.
    let mut h = 0;
    ok(&mut h, "MAILSMTP", &exim.props(&pki, ""), "");
    ok(&mut h, "MAILPREP", "dave@example.test", "no auth");
    let (rc, t) = call(&mut h, "MAILSEND", "", "");
    assert_ne!(rc, 0, "{t}");
    assert!(t.contains("530"), "{t}");
    ok(&mut h, "MAILEND", "", "");
    assert!(exim.log().contains("A=plain:exuser"), "{}", exim.log());
    assert!(exim.log().contains("A=login:exuser"), "{}", exim.log());
}

#[test]
fn exim_dsn_requested() {
    let pki = Pki::new();
    let exim = Exim::builder().dsn().start();
    send(
        &exim.props(&pki, ""),
        "erin@example.test",
        "subject=\"exim dsn\";report",
        "Report delivery, please.",
    );
    // The message and Exim's success report, sent back to the sender.
    let delivered = exim.wait_for(2);
    let m = only(&delivered, "Report delivery, please.");
    let id = m
        .lines()
        .find_map(|l| l.strip_prefix("Message-ID: "))
        .unwrap()
        .trim_matches(['<', '>'])
        .to_string();
    let report = only(&delivered, "multipart/report");
    assert!(
        report.contains("Envelope-to: tech@example.test"),
        "{report}"
    );
    assert!(report.contains("Action: delivered"), "{report}");
    assert!(
        report.contains(&format!("Original-Envelope-ID: {id}")),
        "{report}"
    );
}

#[test]
fn opensmtpd_plain() {
    let smtpd = OpenSmtpd::start();
    send(
        &smtpd.props(""),
        "frank@example.test",
        "subject=\"opensmtpd plain\"",
        "Plain SMTP to OpenSMTPD.",
    );
    let m = only(&smtpd.wait_for(1), "Subject: opensmtpd plain");
    assert!(m.contains("Plain SMTP to OpenSMTPD."), "{m}");
    assert!(m.contains("Delivered-To: frank@example.test"), "{m}");
    assert!(m.contains("by mx.example.test (OpenSMTPD)"), "{m}");
}

/// A bare SMTP client, to check what the harness configures without going
/// through the library under test.
struct Raw {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Raw {
    fn connect(port: u16) -> Raw {
        let w = TcpStream::connect(("127.0.0.1", port)).unwrap();
        w.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut raw = Raw {
            r: BufReader::new(w.try_clone().unwrap()),
            w,
        };
        assert_eq!(raw.reply().0, 220);
        raw
    }

    /// One reply, all its lines: the code and the text.
    fn reply(&mut self) -> (u16, String) {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            self.r.read_line(&mut line).unwrap();
            assert!(line.len() >= 4, "short reply {line:?} after {all:?}");
            all += &line;
            if line.as_bytes()[3] == b' ' {
                return (line[..3].parse().unwrap(), all);
            }
        }
    }

    fn cmd(&mut self, line: &str) -> (u16, String) {
        self.w.write_all(format!("{line}\r\n").as_bytes()).unwrap();
        self.reply()
    }

    fn expect(&mut self, line: &str, code: u16) -> String {
        let (c, t) = self.cmd(line);
        assert_eq!(c, code, "{line} -> {t}");
        t
    }

    /// A whole message on this connection, `subject` as its Subject.
    fn message(&mut self, subject: &str, data_code: u16) {
        self.expect("MAIL FROM:<tech@example.test>", 250);
        self.expect("RCPT TO:<bob@example.test>", 250);
        self.expect("DATA", 354);
        self.expect(&format!("Subject: {subject}\r\n\r\nbody\r\n."), data_code);
    }
}

/// Every option of the Exim builder does what its doc comment says.
#[test]
fn exim_harness_options_and_refusals() {
    let exim = Exim::builder()
        .dsn()
        .size_limit("10K")
        .max_per_connection(3)
        .receive_timeout("2s")
        .start();
    let mut c = Raw::connect(exim.port);
    let ehlo = c.expect("EHLO client.example.test", 250);
    for kw in ["SIZE 10240", "PIPELINING", "CHUNKING", "DSN", "SMTPUTF8"] {
        assert!(ehlo.contains(kw), "{kw}: {ehlo}");
    }
    assert!(
        !ehlo.contains("STARTTLS") && !ehlo.contains("AUTH"),
        "{ehlo}"
    );
    // A refusal at each step (3 MAILs: the limit counts MAIL commands).
    c.expect("MAIL FROM:<reject-me@example.test>", 550);
    c.expect("MAIL FROM:<busy-me@example.test>", 451);
    c.expect("MAIL FROM:<tech@example.test> SIZE=20000", 552);
    // Message 4 of the connection: 421, and Exim closes it.
    let t = c.expect("MAIL FROM:<tech@example.test>", 421);
    assert!(t.contains("too many messages"), "{t}");

    let mut c = Raw::connect(exim.port);
    c.expect("EHLO client.example.test", 250);
    c.expect("MAIL FROM:<tech@example.test>", 250);
    c.expect("RCPT TO:<reject-me@example.test>", 550);
    c.expect("RCPT TO:<busy-me@example.test>", 451);
    c.expect("RSET", 250);
    c.message("[reject] content", 550);
    c.message("[busy] content", 451);
    // Idle past smtp_receive_timeout: 421, then the connection closes.
    std::thread::sleep(Duration::from_millis(2500));
    let (code, t) = c.reply();
    assert_eq!(code, 421, "{t}");

    // Off switches.
    let exim = Exim::builder()
        .pipelining(false)
        .chunking(false)
        .smtputf8(false)
        .start();
    let mut c = Raw::connect(exim.port);
    let ehlo = c.expect("EHLO client.example.test", 250);
    for kw in ["PIPELINING", "CHUNKING", "DSN", "SMTPUTF8"] {
        assert!(!ehlo.contains(kw), "{kw}: {ehlo}");
    }
    c.message("accepted", 250);
    assert!(text(&exim.wait_for(1)[0]).contains("Subject: accepted"));
}

/// OpenSMTPD's limits and refusals, as the builder's doc comments say.
#[test]
fn opensmtpd_harness_limits_and_refusals() {
    let smtpd = OpenSmtpd::builder()
        .max_mails(2)
        .max_message_size("10K")
        .start();
    let mut c = Raw::connect(smtpd.port);
    let ehlo = c.expect("EHLO client.example.test", 250);
    for kw in ["SIZE 10240", "DSN", "ENHANCEDSTATUSCODES"] {
        assert!(ehlo.contains(kw), "{kw}: {ehlo}");
    }
    c.expect("MAIL FROM:<reject-me@example.test>", 550);
    c.expect("MAIL FROM:<busy-me@example.test>", 451);
    c.expect("MAIL FROM:<tech@example.test>", 250);
    c.expect("RCPT TO:<reject-me@example.test>", 550);
    c.expect("RCPT TO:<busy-me@example.test>", 451);
    c.expect("RSET", 250);
    c.message("one", 250);
    // Too big for the limit: 554 5.3.4 after the content.
    c.expect("MAIL FROM:<tech@example.test>", 250);
    c.expect("RCPT TO:<bob@example.test>", 250);
    c.expect("DATA", 354);
    let big = "x".repeat(70);
    let body: String = (0..200).map(|_| format!("{big}\r\n")).collect();
    let t = c.expect(&format!("Subject: big\r\n\r\n{body}."), 554);
    assert!(t.contains("5.3.4"), "{t}");
    // max-mails 2 counts accepted messages: after a second one, MAIL gets 452.
    c.message("two", 250);
    let t = c.expect("MAIL FROM:<tech@example.test>", 452);
    assert!(t.contains("4.5.3"), "{t}");
    let delivered = smtpd.wait_for(2);
    assert_eq!(delivered.len(), 2);
    only(&delivered, "Subject: one");
    only(&delivered, "Subject: two");
}

// ---- Issue #13: the limits of real servers ---------------------------------

/// Subjects of the delivered messages that are not delivery reports.
fn subjects(delivered: &[Vec<u8>]) -> Vec<String> {
    let mut s: Vec<String> = delivered
        .iter()
        .filter_map(|m| {
            text(m)
                .lines()
                .find_map(|l| l.strip_prefix("Subject: ").map(str::to_string))
        })
        .collect();
    s.sort();
    s
}

/// N messages on one handle, each reported sent.
fn send_many(h: &mut i32, n: usize, tag: &str) -> Vec<String> {
    (0..n)
        .map(|i| {
            let subject = format!("{tag} {i:02}");
            ok(
                h,
                "MAILPREP",
                "bob@example.test",
                &format!("subject=\"{subject}\""),
            );
            ok(h, "MAILTEXT", "one of many", "");
            ok(h, "MAILSEND", "", "");
            subject
        })
        .collect()
}

/// Exim with `smtp_accept_max_per_connection = 10` answers the 11th MAIL
/// of a connection with 421 and closes: lnccmd starts that transaction
/// again on a new connection, and 25 messages of one handle arrive once each.
#[test]
fn exim_421_after_its_per_connection_limit_is_transparent() {
    let pki = Pki::new();
    let exim = Exim::builder().max_per_connection(10).start();
    let mut h = 0;
    ok(&mut h, "MAILSMTP", &exim.props(&pki, "KeepAlive=0"), "");
    let mut sent = send_many(&mut h, 25, "limited");
    ok(&mut h, "MAILEND", "", "");
    sent.sort();
    assert_eq!(subjects(&exim.wait_for(25)), sent, "{}", exim.log());
}

/// Exim with `smtp_receive_timeout = 2s`: after a 3 s pause its "421 ...
/// timeout" and close are waiting on the idle connection; they are never
/// read as the reply to the next MAIL FROM.
#[test]
fn exim_idle_timeout_421_is_not_read_as_a_reply() {
    let pki = Pki::new();
    let exim = Exim::builder().receive_timeout("2s").start();
    let mut h = 0;
    ok(&mut h, "MAILSMTP", &exim.props(&pki, "KeepAlive=0"), "");
    let mut sent = send_many(&mut h, 1, "before the pause");
    std::thread::sleep(Duration::from_secs(3));
    sent.extend(send_many(&mut h, 1, "after the pause"));
    ok(&mut h, "MAILEND", "", "");
    sent.sort();
    assert_eq!(subjects(&exim.wait_for(2)), sent, "{}", exim.log());
}

/// OpenSMTPD's `limit max-mails` answers MAIL with `452 4.5.3 Too many
/// messages sent` once a connection has carried its messages: retried on a
/// new connection, every message arrives once.
#[test]
fn opensmtpd_max_mails_452_is_retried_on_a_new_connection() {
    let smtpd = OpenSmtpd::builder().max_mails(5).start();
    let mut h = 0;
    ok(&mut h, "MAILSMTP", &smtpd.props("KeepAlive=0"), "");
    let mut sent = send_many(&mut h, 12, "max-mails");
    ok(&mut h, "MAILEND", "", "");
    sent.sort();
    assert_eq!(subjects(&smtpd.wait_for(12)), sent, "{}", smtpd.log());
}

/// A refused AUTH ends with QUIT (RFC 5321 §4.1.1.10), and so does every
/// session: Exim logs "closed by QUIT" for both, neither "non-properly
/// terminated" nor a lost connection (as it did when the socket was
/// dropped after a 535). The close_notify that follows QUIT (vendor patch
/// 14) does not show in Exim's log: it has closed its side by then.
#[test]
fn exim_sees_quit_after_a_failed_auth() {
    let pki = Pki::new();
    let exim = Exim::builder().tls(TlsMode::StartTls, &pki).auth().start();
    let mut h = 0;
    ok(
        &mut h,
        "MAILSMTP",
        &exim.props(
            &pki,
            &format!("UserId={USER};password=wrong-one;KeepAlive=0"),
        ),
        "",
    );
    ok(&mut h, "MAILPREP", "bob@example.test", "refused auth");
    let (rc, result) = call(&mut h, "MAILSEND", "", "");
    assert_eq!(rc, 405, "{result}");
    ok(
        &mut h,
        "MAILSMTP",
        &exim.props(
            &pki,
            &format!("UserId={USER};password={PASSWORD};KeepAlive=0"),
        ),
        "",
    );
    ok(&mut h, "MAILSEND", "", "");
    ok(&mut h, "MAILEND", "", "");
    exim.wait_for(1);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while exim.log().matches("closed by QUIT").count() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = exim.log();
    assert_eq!(log.matches("closed by QUIT").count(), 2, "{log}");
    assert!(!log.contains("non-properly terminated"), "{log}");
    assert!(!log.contains("lost while reading"), "{log}");
}

/// Exim's SIZE limit: announced in EHLO, so a larger message is refused with
/// 505 before any of it is sent; a message under it carries SIZE= on MAIL.
#[test]
fn exim_size_limit_refuses_before_sending() {
    let exim = Exim::builder().size_limit("40K").start();
    let tap = WireTap::new(exim.port);
    let props = format!(
        "Server=127.0.0.1;port={};Sender=tech@example.test;Timeout=20;KeepAlive=0",
        tap.port
    );
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.bin");
    std::fs::write(&big, vec![1u8; 60_000]).unwrap();
    let mut h = 0;
    ok(&mut h, "MAILSMTP", &props, "");
    ok(&mut h, "MAILPREP", "bob@example.test", "small");
    ok(&mut h, "MAILSEND", "", "");
    ok(&mut h, "MAILPREP", "bob@example.test", "big");
    ok(&mut h, "MAILLATT", big.to_str().unwrap(), "");
    let (rc, result) = call(&mut h, "MAILSEND", "", "");
    assert_eq!(rc, 505, "{result}");
    assert!(result.contains("accepts at most 40960"), "{result}");
    ok(&mut h, "MAILEND", "", "");
    let wire = String::from_utf8_lossy(&tap.bytes()).to_string();
    assert_eq!(wire.matches("MAIL FROM").count(), 1, "{wire}");
    assert!(wire.contains(" SIZE="), "{wire}");
    assert_eq!(subjects(&exim.wait_for(1)), ["small"]);
}

/// Exim offers CHUNKING and PIPELINING: the message goes with BDAT in one
/// flight, and a refusal after the content (its data ACL) is 503 with the
/// draft kept; with DSN and SMTPUTF8, a non-ASCII recipient's ORCPT is
/// RFC 6533's `utf-8;` form, which Exim accepts.
#[test]
fn exim_chunking_refusal_after_content_and_utf8_orcpt() {
    let exim = Exim::builder().dsn().smtputf8(true).start();
    let tap = WireTap::new(exim.port);
    let props = format!(
        "Server=127.0.0.1;port={};Sender=tech@example.test;Timeout=20;KeepAlive=0",
        tap.port
    );
    let mut h = 0;
    ok(&mut h, "MAILSMTP", &props, "");
    ok(
        &mut h,
        "MAILPREP",
        "bob@example.test",
        "subject=\"[reject] me\"",
    );
    let (rc, result) = call(&mut h, "MAILSEND", "", "");
    assert_eq!(rc, 503, "{result}");
    ok(&mut h, "MAILSUBJ", "accepted", "");
    ok(&mut h, "MAILSEND", "", "");
    ok(
        &mut h,
        "MAILPREP",
        "josé@example.test",
        "subject=\"utf-8 orcpt\";report",
    );
    ok(&mut h, "MAILSEND", "", "");
    ok(&mut h, "MAILEND", "", "");
    let wire = String::from_utf8_lossy(&tap.bytes()).to_string();
    assert!(wire.contains("\r\nBDAT "), "{wire}");
    assert!(!wire.contains("\r\nDATA\r\n"), "{wire}");
    assert!(wire.contains("ORCPT=utf-8;josé@example.test"), "{wire}");
    let delivered = exim.wait_for(2);
    let got = subjects(&delivered);
    assert!(got.contains(&"accepted".to_string()), "{got:?}");
    assert!(got.contains(&"utf-8 orcpt".to_string()), "{got:?}");
}
