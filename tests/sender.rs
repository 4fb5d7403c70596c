//! Issue #12 point 9: every Sender and recipient that MAILSMTP and MAILTO
//! accept can be sent from and to, with the right envelope, and the
//! Message-ID is one RFC 5322 msg-id whatever the sender's address.
//! Against aiosmtpd; headers parsed back by Python's `email` package.

mod common;

use common::*;
use serde_json::Value;

/// The Message-ID as Python's `email` (policy default) parses it: the
/// header must be exactly one msg-id, with no defect.
fn assert_one_msg_id(m: &Value) -> String {
    let id = header(m, "Message-ID").expect("a Message-ID").to_string();
    let raw = m["raw_headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h[0].as_str().unwrap().eq_ignore_ascii_case("Message-ID"))
        .unwrap()[1]
        .as_str()
        .unwrap()
        .to_string();
    assert!(raw.is_ascii(), "Message-ID is not ASCII: {raw:?}");
    assert!(!raw.contains("=?"), "Message-ID has encoded-words: {raw:?}");
    let check = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import sys\n\
             from email._header_value_parser import parse_message_id\n\
             v = sys.argv[1]\n\
             t = parse_message_id(v)\n\
             bad = [repr(d) for d in t.all_defects]\n\
             ids = [x for x in t if x.token_type == 'msg-id']\n\
             print('OK' if not bad and len(ids) == 1 and str(t).strip() == v.strip() else 'BAD %r %r' % (bad, [str(x) for x in t]))",
        )
        .arg(&raw)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&check.stdout);
    assert_eq!(
        out.trim(),
        "OK",
        "{raw:?} is not one msg-id for Python: {out} {}",
        String::from_utf8_lossy(&check.stderr)
    );
    id
}

/// Sends one message from `sender` to `to` and returns what the server got.
fn send_from(sender: &str, to: &str) -> (Value, String) {
    let server = SmtpServer::start();
    let mut h = 0;
    // The value in double quotes, a quote inside doubled (contract §2).
    let props = format!(
        "Server=\"127.0.0.1\";port={};Sender=\"{}\";Timeout=10",
        server.port,
        sender.replace('"', "\"\"")
    );
    ok(&mut h, "MAILSMTP", &props, "");
    ok(&mut h, "MAILPREP", to, "subject=\"sender forms\"");
    ok(&mut h, "MAILTEXT", "Hello", "");
    let (rc, text) = call(&mut h, "MAILSEND", "", "");
    assert_eq!((rc, text.as_str()), (0, "0"), "MAILSEND from {sender}");
    ok(&mut h, "MAILEND", "", "");
    let m = server.wait_for(1).remove(0);
    let id = assert_one_msg_id(&m);
    (m, id)
}

#[test]
fn a_sender_that_mailsmtp_accepts_can_be_sent_from() {
    for (sender, mail_from, from_header, id_domain) in [
        (
            "t@[192.0.2.1]",
            "t@[192.0.2.1]",
            "t@[192.0.2.1]",
            "[192.0.2.1]",
        ),
        (
            "t@[IPv6:2001:db8::1]",
            "t@[IPv6:2001:db8::1]",
            "t@[IPv6:2001:db8::1]",
            "[IPv6:2001:db8::1]",
        ),
        (
            "\"a b\"@example.com",
            "\"a b\"@example.com",
            "\"a b\"@example.com",
            "example.com",
        ),
    ] {
        let (m, id) = send_from(sender, "bob@example.test");
        assert_eq!(m["mail_from"], mail_from, "{sender}");
        assert_eq!(header(&m, "From"), Some(from_header), "{sender}");
        assert!(
            id.ends_with(&format!("@{id_domain}>")),
            "{sender}: Message-ID {id}"
        );
    }
}

#[test]
fn a_non_ascii_sender_gets_an_ascii_message_id() {
    let (m, id) = send_from("José <josé@bücher.example>", "bob@example.test");
    assert_eq!(m["mail_from"], "josé@bücher.example");
    assert!(
        m["mail_options"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == "SMTPUTF8"),
        "{}",
        m["mail_options"]
    );
    assert_eq!(header(&m, "From"), Some("José <josé@bücher.example>"));
    assert!(id.ends_with("@xn--bcher-kva.example>"), "{id}");
    // An IDN domain with an ASCII local part goes out all ASCII.
    let (m, id) = send_from("jose@bücher.example", "bob@example.test");
    assert_eq!(m["mail_from"], "jose@xn--bcher-kva.example");
    assert!(id.ends_with("@xn--bcher-kva.example>"), "{id}");
}

#[test]
fn an_ipv6_sender_without_its_tag_goes_out_in_the_rfc_5321_form() {
    for given in ["t@[2001:db8::1]", "t@2001:db8::1"] {
        let (m, id) = send_from(given, "bob@example.test");
        assert_eq!(m["mail_from"], "t@[IPv6:2001:db8::1]", "{given}");
        assert_eq!(header(&m, "From"), Some("t@[IPv6:2001:db8::1]"));
        assert!(id.ends_with("@[IPv6:2001:db8::1]>"), "{id}");
    }
}

#[test]
fn a_recipient_that_mailto_accepts_can_be_sent_to() {
    let server = SmtpServer::start();
    let mut h = open(&server);
    ok(&mut h, "MAILPREP", "t@[192.0.2.1]", "subject=literals");
    ok(
        &mut h,
        "MAILTO",
        "Six <u@[IPv6:2001:db8::1]>; v@[2001:db8::2]",
        "",
    );
    ok(&mut h, "MAILCC", "\"a b\"@example.com", "");
    ok(&mut h, "MAILBCC", "\"Doe, J\" <\"c d\"@[192.0.2.9]>", "");
    ok(&mut h, "MAILTEXT", "Hello", "");
    ok(&mut h, "MAILSEND", "", "");
    ok(&mut h, "MAILEND", "", "");
    let m = server.wait_for(1).remove(0);
    assert_eq!(
        rcpts(&m),
        [
            "t@[192.0.2.1]",
            "u@[IPv6:2001:db8::1]",
            "v@[IPv6:2001:db8::2]",
            "\"a b\"@example.com",
            "\"c d\"@[192.0.2.9]"
        ]
    );
    assert_eq!(
        header(&m, "To"),
        Some("t@[192.0.2.1], Six <u@[IPv6:2001:db8::1]>, v@[IPv6:2001:db8::2]")
    );
    assert_eq!(header(&m, "Cc"), Some("\"a b\"@example.com"));
    assert_eq!(header_count(&m, "Bcc"), 0);
    assert_eq!(
        m["defects"].as_array().unwrap().len(),
        0,
        "{}",
        m["defects"]
    );
    assert_one_msg_id(&m);
}

#[test]
fn a_domain_literal_that_is_no_ip_address_is_refused_where_it_is_given() {
    let server = SmtpServer::start();
    let mut h = 0;
    let props = format!(
        "Server=\"127.0.0.1\";port={};Sender=\"t@[mail]\"",
        server.port
    );
    let (rc, text) = call(&mut h, "MAILSMTP", &props, "");
    assert_eq!(rc, 108, "{text}");
    assert!(text.contains("[IPv6:2001:db8::1]"), "{text}");
    assert_eq!(h, 0);
    let mut h = open(&server);
    ok(&mut h, "MAILPREP", "bob@example.test", "subject=x");
    for bad in ["t@[mail]", "t@[999.0.2.1]", "t@[IPv6:nothing]"] {
        let (rc, text) = call(&mut h, "MAILTO", bad, "");
        assert_eq!(rc, 108, "{bad}: {text}");
        assert!(text.contains("IPv4 address as [192.0.2.1]"), "{text}");
    }
    ok(&mut h, "MAILEND", "", "");
}

/// A real MTA takes the same reverse-paths: Postfix delivers each message
/// with the Sender as its Return-Path.
#[test]
fn postfix_accepts_every_sender_form() {
    let pki = common::pki::Pki::new();
    let pf = common::postfix::Postfix::start(&pki);
    let senders = [
        "t@[192.0.2.1]",
        "t@[IPv6:2001:db8::1]",
        "\"a b\"@example.com",
    ];
    for (i, sender) in senders.iter().enumerate() {
        let mut h = 0;
        let props = format!(
            "Server=127.0.0.1;port={};Sender=\"{}\";Timeout=20",
            pf.plain,
            sender.replace('"', "\"\"")
        );
        ok(&mut h, "MAILSMTP", &props, "");
        ok(
            &mut h,
            "MAILPREP",
            "bob@example.test",
            &format!("subject=\"form {i}\""),
        );
        ok(&mut h, "MAILSEND", "", "");
        ok(&mut h, "MAILEND", "", "");
        // One at a time: the Maildir's order is by time.
        let msg = String::from_utf8_lossy(&pf.wait_for(i + 1)[i]).replace("\r\n", "\n");
        assert!(
            msg.contains(&format!("Return-Path: <{sender}>\n")),
            "{sender}: {msg}"
        );
    }
}
