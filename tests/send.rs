//! End-to-end sends through the C ABI to a real SMTP server (aiosmtpd), the
//! messages parsed back with Python's `email` package.

mod common;

use common::*;
use std::time::{Duration, Instant};

#[test]
fn text_message_arrives_with_every_header() {
    let server = SmtpServer::start();
    let log = server.dir.path().join("send log.csv");
    let mut h = 0;
    let props = format!(
        "SERVER=\"127.0.0.1\";SENDER=\"Équipe Tech <tech@example.test>\";REPLY=\"help@example.test\";logfile=\"{}\";port={};HeloName=client.example.test",
        log.display(),
        server.port
    );
    ok(&mut h, "MAILSMTP", &props, " ");
    ok(
        &mut h,
        "MAILPREP",
        "Bob <bob@example.test>; \"Doe, Zoé\" <zoe@example.test>",
        "subject=\"Prüfung ✓ of the invoice\";priority=5",
    );
    ok(&mut h, "MAILCC", "carol@example.test", "");
    ok(&mut h, "MAILBCC", "hidden@example.test", "");
    ok(&mut h, "MAILTEXT", "Hello Bob,", "");
    ok(
        &mut h,
        "MAILTEXT",
        "the invoice is attached.\r\nRegards",
        "",
    );
    ok(&mut h, "MAILSEND", "", "");
    ok(&mut h, "MAILEND", "", "");
    assert_eq!(h, 0);

    let msgs = server.wait_for(1);
    let m = &msgs[0];
    assert_eq!(m["mail_from"], "tech@example.test");
    assert_eq!(
        rcpts(m),
        [
            "bob@example.test",
            "zoe@example.test",
            "carol@example.test",
            "hidden@example.test"
        ]
    );
    assert_eq!(m["helo"], "client.example.test");
    assert_eq!(header(m, "From"), Some("Équipe Tech <tech@example.test>"));
    assert_eq!(
        header(m, "To"),
        Some("Bob <bob@example.test>, \"Doe, Zoé\" <zoe@example.test>")
    );
    assert_eq!(header(m, "Cc"), Some("carol@example.test"));
    assert_eq!(header(m, "Reply-To"), Some("help@example.test"));
    assert_eq!(header(m, "Subject"), Some("Prüfung ✓ of the invoice"));
    assert_eq!(header(m, "MIME-Version"), Some("1.0"));
    assert_eq!(header(m, "X-Priority"), Some("1 (Highest)"));
    assert_eq!(header(m, "Importance"), Some("high"));
    assert_eq!(header(m, "Priority"), Some("urgent"));
    assert_eq!(header_count(m, "Bcc"), 0);
    assert!(
        !String::from_utf8_lossy(&server.raw(1)).contains("hidden"),
        "Bcc address leaked into the message"
    );
    // Non-ASCII went out as RFC 2047 encoded-words, the raw headers are ASCII.
    let raw = server.raw(1);
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    assert!(raw[..head_end].is_ascii());
    let subject_raw = m["raw_headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h[0] == "Subject")
        .unwrap()[1]
        .as_str()
        .unwrap();
    assert!(
        subject_raw.to_ascii_lowercase().contains("=?utf-8?"),
        "{subject_raw}"
    );
    // Date: RFC 5322 with a numeric offset.
    let date = header(m, "Date").unwrap();
    let off = date.rsplit(' ').next().unwrap();
    assert!(
        off.len() == 5 && (off.starts_with('+') || off.starts_with('-')),
        "{date}"
    );
    let id = header(m, "Message-ID").unwrap();
    assert!(
        id.starts_with('<') && id.ends_with("@example.test>"),
        "{id}"
    );
    assert_eq!(m["parts"][0]["content_type"], "text/plain");
    assert_eq!(m["parts"][0]["charset"], "utf-8");
    assert_eq!(
        body_text(m),
        "Hello Bob,\nthe invoice is attached.\nRegards\n"
    );
    assert_eq!(
        m["defects"].as_array().unwrap().len(),
        0,
        "{}",
        m["defects"]
    );
}

#[test]
fn message_ids_are_unique_and_one_connection_carries_every_send() {
    let server = SmtpServer::start();
    let mut h = open(&server);
    for i in 0..5 {
        ok(&mut h, "MAILPREP", "r@example.test", &format!("msg {i}"));
        ok(&mut h, "MAILTEXT", "body", "");
        ok(&mut h, "MAILSEND", "", "");
    }
    ok(&mut h, "MAILEND", "", "");
    let msgs = server.wait_for(5);
    let ids: std::collections::HashSet<_> = msgs
        .iter()
        .map(|m| header(m, "Message-ID").unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 5);
    let peers: std::collections::HashSet<_> = msgs.iter().map(|m| m["peer"].to_string()).collect();
    assert_eq!(
        peers.len(),
        1,
        "expected one SMTP connection for the session: {peers:?}"
    );
    assert_eq!(header(&msgs[3], "Subject"), Some("msg 3"));
}

#[test]
fn failed_send_keeps_the_draft_and_retry_delivers() {
    let port = free_port();
    let mut h = 0;
    ok(
        &mut h,
        "MAILSMTP",
        &format!("Server=127.0.0.1;port={port};Sender=tech@example.test;Timeout=5"),
        "",
    );
    ok(&mut h, "MAILPREP", "bob@example.test", "subject=\"kept\"");
    ok(&mut h, "MAILTEXT", "still here", "");
    let (rc, text) = call(&mut h, "MAILSEND", "", "");
    assert_eq!(rc, 400, "{text}");
    assert!(
        text.starts_with("400 MAILSEND: cannot connect to 127.0.0.1:")
            && text.contains(&port.to_string()),
        "{text}"
    );

    // The server comes back: the same MAILSEND now delivers the same draft.
    let server = SmtpServer::start_on(port);
    ok(&mut h, "MAILSEND", "", "");
    let m = &server.wait_for(1)[0];
    assert_eq!(header(m, "Subject"), Some("kept"));
    assert_eq!(body_text(m), "still here\n");
    // Sent once: the draft is gone now.
    let (rc, text) = call(&mut h, "MAILSEND", "", "");
    assert_eq!(rc, 103, "{text}");
    assert!(text.contains("MAILPREP"), "{text}");
    ok(&mut h, "MAILEND", "", "");
}

#[test]
fn new_mailsmtp_keeps_the_draft_and_changes_server() {
    let server = SmtpServer::start();
    let mut h = 0;
    ok(
        &mut h,
        "MAILSMTP",
        &format!(
            "Server=127.0.0.1;port={};Sender=tech@example.test;Timeout=5",
            free_port()
        ),
        "",
    );
    ok(&mut h, "MAILPREP", "bob@example.test", "via backup");
    assert_eq!(call(&mut h, "MAILSEND", "", "").0, 400);
    let before = h;
    ok(&mut h, "MAILSMTP", &server.props(), "");
    assert_eq!(h, before, "a live handle keeps its number");
    ok(&mut h, "MAILSEND", "", "");
    assert_eq!(
        header(&server.wait_for(1)[0], "Subject"),
        Some("via backup")
    );
    // A MAILSMTP that fails leaves the session as it was.
    let (rc, _) = call(
        &mut h,
        "MAILSMTP",
        "Server=127.0.0.1;port=0;Sender=x@example.test",
        "",
    );
    assert_eq!(rc, 106);
    ok(&mut h, "MAILPREP", "bob@example.test", "still configured");
    ok(&mut h, "MAILSEND", "", "");
    assert_eq!(
        header(&server.wait_for(2)[1], "Subject"),
        Some("still configured")
    );
    ok(&mut h, "MAILEND", "", "");
}

#[test]
fn refused_recipients_partial_and_total() {
    let server = SmtpServer::start();
    let mut h = open(&server);
    ok(
        &mut h,
        "MAILPREP",
        "ok1@example.test; reject1@example.test",
        "partial",
    );
    ok(&mut h, "MAILCC", "busy@example.test; ok2@example.test", "");
    let (rc, text) = call(&mut h, "MAILSEND", "", "");
    assert_eq!(rc, 501, "{text}");
    assert!(
        text.contains("<reject1@example.test>: 550") && text.contains("<busy@example.test>: 450"),
        "{text}"
    );
    let m = &server.wait_for(1)[0];
    assert_eq!(rcpts(m), ["ok1@example.test", "ok2@example.test"]);
    // Partial delivery clears the draft: a retry would duplicate the mail.
    assert_eq!(call(&mut h, "MAILSEND", "", "").0, 103);

    ok(
        &mut h,
        "MAILPREP",
        "reject2@example.test; reject3@example.test",
        "none",
    );
    let (rc, text) = call(&mut h, "MAILSEND", "", "");
    assert_eq!(rc, 502, "{text}");
    assert!(
        text.contains("reject2@example.test") && text.contains("nothing was sent"),
        "{text}"
    );
    // Nothing was accepted: the draft is kept; with one more recipient it goes out.
    ok(&mut h, "MAILTO", "ok3@example.test", "");
    let (rc, text) = call(&mut h, "MAILSEND", "", "");
    assert_eq!(rc, 501, "{text}");
    let m = &server.wait_for(2)[1];
    assert_eq!(header(m, "Subject"), Some("none"));
    assert_eq!(rcpts(m), ["ok3@example.test"]);

    ok(&mut h, "MAILPREP", "busy1@example.test", "later");
    assert_eq!(call(&mut h, "MAILSEND", "", "").0, 504);
    ok(&mut h, "MAILEND", "", "");
}

#[test]
fn duplicate_recipients_are_sent_once() {
    let server = SmtpServer::start();
    let mut h = open(&server);
    ok(
        &mut h,
        "MAILPREP",
        "a@example.test; A <a@EXAMPLE.test>",
        "dups",
    );
    ok(&mut h, "MAILCC", "a@example.test, b@example.test", "");
    ok(&mut h, "MAILBCC", "b@example.test", "");
    ok(&mut h, "MAILSEND", "", "");
    ok(&mut h, "MAILEND", "", "");
    let m = &server.wait_for(1)[0];
    assert_eq!(rcpts(m), ["a@example.test", "b@example.test"]);
    assert_eq!(header(m, "To"), Some("a@example.test"));
}

#[test]
fn body_lines_dots_and_long_lines_arrive_intact() {
    let server = SmtpServer::start();
    let mut h = open(&server);
    let long = "x".repeat(2000);
    ok(&mut h, "MAILPREP", "r@example.test", "body");
    ok(&mut h, "MAILTEXT", "one\n.\ntwo\rthree\r\n..four", "");
    ok(&mut h, "MAILTEXT", &long, "");
    ok(&mut h, "MAILTEXT", ".", "");
    ok(&mut h, "MAILSEND", "", "");
    ok(&mut h, "MAILEND", "", "");
    let m = &server.wait_for(1)[0];
    assert_eq!(
        body_text(m),
        format!("one\n.\ntwo\nthree\n..four\n{long}\n.\n")
    );
    let raw = server.raw(1);
    // Only CRLF line ends, no line over 998 octets.
    for (i, w) in raw.windows(2).enumerate() {
        assert!(!(w[1] == b'\n' && w[0] != b'\r'), "bare LF at {i}");
        assert!(!(w[0] == b'\r' && w[1] != b'\n'), "bare CR at {i}");
    }
    assert!(raw.split(|&b| b == b'\n').all(|l| l.len() <= 999));
}

#[test]
fn ascii_charset() {
    let server = SmtpServer::start();
    let mut h = open(&server);
    ok(
        &mut h,
        "MAILPREP",
        "r@example.test",
        "subject=\"plain\";charset=ASCII",
    );
    ok(&mut h, "MAILTEXT", "only ascii", "");
    let (rc, text) = call(&mut h, "MAILTEXT", "café", "");
    assert_eq!(rc, 111, "{text}");
    assert!(text.contains("'é' (U+00E9) at position 4"), "{text}");
    // The refused line stops MAILSEND; the program sends what is there only
    // with SendIncomplete.
    send_anyway(&mut h, &server, "MAILTEXT #2 failed with 111");
    ok(&mut h, "MAILEND", "", "");
    let m = &server.wait_for(1)[0];
    assert_eq!(m["parts"][0]["charset"], "us-ascii");
    assert_eq!(body_text(m), "only ascii\n");
}

#[test]
fn header_injection_is_refused_and_nothing_is_smuggled() {
    let server = SmtpServer::start();
    let mut h = open(&server);
    ok(&mut h, "MAILPREP", "r@example.test", "safe");
    for (cmd, p1) in [
        ("MAILSUBJ", "Hi\r\nBcc: evil@example.test"),
        ("MAILTO", "x@example.test\nBcc: evil@example.test"),
        ("MAILCC", "Name\r <y@example.test>"),
        ("MAILBCC", "z@example.test\r\n"),
    ] {
        let (rc, text) = call(&mut h, cmd, p1, "");
        assert_eq!(rc, 110, "{cmd}: {text}");
        assert!(text.starts_with(&format!("110 {cmd}: ")), "{text}");
    }
    // The draft with refused calls is not sent; the subject is repaired by
    // a good MAILSUBJ, the additions only by MAILPREP.
    assert_eq!(call(&mut h, "MAILSEND", "", "").0, 114);
    ok(&mut h, "MAILPREP", "r@example.test", "unsafe");
    assert_eq!(
        call(&mut h, "MAILSUBJ", "Hi\r\nBcc: evil@example.test", "").0,
        110
    );
    ok(&mut h, "MAILSUBJ", "safe", "");
    ok(&mut h, "MAILSEND", "", "");
    ok(&mut h, "MAILEND", "", "");
    let m = &server.wait_for(1)[0];
    assert_eq!(rcpts(m), ["r@example.test"]);
    assert_eq!(header(m, "Subject"), Some("safe"));
    assert!(!String::from_utf8_lossy(&server.raw(1)).contains("evil"));
}

#[test]
fn stalled_server_times_out_within_twice_timeout() {
    let (_listener, addr) = silent_server();
    let mut h = 0;
    ok(
        &mut h,
        "MAILSMTP",
        &format!(
            "Server=127.0.0.1;port={};Sender=t@example.test;Timeout=1",
            addr.port()
        ),
        "",
    );
    ok(&mut h, "MAILPREP", "r@example.test", "stall");
    let t = Instant::now();
    let (rc, text) = call(&mut h, "MAILSEND", "", "");
    let took = t.elapsed();
    assert_eq!(rc, 401, "{text}");
    assert!(text.contains("within 1 s"), "{text}");
    // Generous bound: this asserts "no hang", not speed.
    assert!(took < Duration::from_secs(2 + 3), "{took:?}");
    // The draft is intact: a working server gets it.
    let good = SmtpServer::start();
    ok(&mut h, "MAILSMTP", &good.props(), "");
    ok(&mut h, "MAILSEND", "", "");
    assert_eq!(header(&good.wait_for(1)[0], "Subject"), Some("stall"));
    ok(&mut h, "MAILEND", "", "");
}

#[test]
fn sessions_on_many_threads_deliver_every_message_once() {
    let server = SmtpServer::start();
    let props = server.props();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let props = props.clone();
            std::thread::spawn(move || {
                let mut h = 0;
                ok(&mut h, "MAILSMTP", &props, "");
                for i in 0..10 {
                    ok(
                        &mut h,
                        "MAILPREP",
                        &format!("t{t}@example.test"),
                        &format!("thread {t} msg {i}"),
                    );
                    ok(&mut h, "MAILTEXT", "x", "");
                    ok(&mut h, "MAILSEND", "", "");
                }
                ok(&mut h, "MAILEND", "", "");
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let msgs = server.wait_for(80);
    let subjects: std::collections::HashSet<_> = msgs
        .iter()
        .map(|m| header(m, "Subject").unwrap().to_string())
        .collect();
    assert_eq!(subjects.len(), 80);
    let ids: std::collections::HashSet<_> = msgs
        .iter()
        .map(|m| header(m, "Message-ID").unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 80);
}

#[test]
fn one_handle_shared_by_threads_is_serialised() {
    let server = SmtpServer::start();
    let h = open(&server);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                let mut sent = 0;
                for i in 0..25 {
                    let mut hh = h;
                    // Calls interleave between threads, but each is whole:
                    // it works, or MAILSEND finds no draft (another thread
                    // sent it).
                    let (rc, text) = call(
                        &mut hh,
                        "MAILPREP",
                        &format!("t{t}@example.test"),
                        &format!("t{t} {i}"),
                    );
                    assert_eq!(rc, 0, "{text}");
                    let (rc, text) = call(&mut hh, "MAILSEND", "", "");
                    assert!(rc == 0 || rc == 103, "{text}");
                    sent += usize::from(rc == 0);
                    assert_eq!(hh, h);
                }
                sent
            })
        })
        .collect();
    let sent: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(sent >= 25, "at least one send per MAILPREP round: {sent}");
    let mut hh = h;
    ok(&mut hh, "MAILEND", "", "");
    // Exactly one message arrived per successful MAILSEND, each a whole one.
    let msgs = server.wait_for(sent);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(server.messages().len(), sent);
    for m in &msgs {
        assert_eq!(rcpts(m).len(), 1);
        assert!(header(m, "Subject").unwrap().starts_with('t'));
        assert_eq!(m["defects"].as_array().unwrap().len(), 0);
    }
}

#[test]
fn a_stalled_send_does_not_block_other_handles() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let server = SmtpServer::start();
    let (_listener, addr) = silent_server();
    let stalled_done = Arc::new(AtomicBool::new(false));
    let done = stalled_done.clone();
    let stalled = std::thread::spawn(move || {
        let mut h = 0;
        ok(
            &mut h,
            "MAILSMTP",
            &format!(
                "Server=127.0.0.1;port={};Sender=t@example.test;Timeout=8",
                addr.port()
            ),
            "",
        );
        ok(&mut h, "MAILPREP", "r@example.test", "stuck");
        let (rc, _) = call(&mut h, "MAILSEND", "", "");
        done.store(true, Ordering::SeqCst);
        ok(&mut h, "MAILEND", "", "");
        rc
    });
    std::thread::sleep(Duration::from_millis(300));
    // Meanwhile another session opens, sends and closes.
    let mut h = open(&server);
    ok(&mut h, "MAILPREP", "r@example.test", "not blocked");
    ok(&mut h, "MAILSEND", "", "");
    ok(&mut h, "MAILEND", "", "");
    assert!(
        !stalled_done.load(Ordering::SeqCst),
        "the other session finished only after the stalled one"
    );
    assert_eq!(
        header(&server.wait_for(1)[0], "Subject"),
        Some("not blocked")
    );
    assert_eq!(stalled.join().unwrap(), 401);
}

#[test]
fn hundreds_of_recipients_in_one_list_without_blanks() {
    let server = SmtpServer::start();
    let mut h = open(&server);
    let list: Vec<String> = (0..300).map(|i| format!("r{i}@example.test")).collect();
    ok(&mut h, "MAILPREP", &list.join(";"), "many");
    ok(
        &mut h,
        "MAILCC",
        &(300..400)
            .map(|i| format!("r{i}@example.test"))
            .collect::<Vec<_>>()
            .join(","),
        "",
    );
    ok(&mut h, "MAILSEND", "", "");
    ok(&mut h, "MAILEND", "", "");
    let m = &server.wait_for(1)[0];
    assert_eq!(rcpts(m).len(), 400);
    assert_eq!(header(m, "To").unwrap().matches('@').count(), 300);
    // The To header is folded between addresses: no line over 998 octets.
    assert!(server.raw(1).split(|&b| b == b'\n').all(|l| l.len() <= 999));
}
