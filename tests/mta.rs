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

#[test]
fn exim_starttls() {
    let pki = Pki::new();
    let exim = Exim::builder().tls(TlsMode::StartTls, &pki).start();
    send(
        &exim.props(&pki, ""),
        "bob@example.test",
        "subject=\"exim starttls\"",
        "Over STARTTLS.",
    );
    let m = only(&exim.wait_for(1), "Subject: exim starttls");
    // P=esmtps: received over TLS (Exim names the protocol in Received).
    assert_received(&m, "esmtps");
}

#[test]
fn exim_smtps() {
    let pki = Pki::new();
    let exim = Exim::builder().tls(TlsMode::Smtps, &pki).start();
    send(
        &exim.props(&pki, ""),
        "carol@example.test",
        "subject=\"exim smtps\"",
        "Over SMTPS.",
    );
    let m = only(&exim.wait_for(1), "Subject: exim smtps");
    assert_received(&m, "esmtps");
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
