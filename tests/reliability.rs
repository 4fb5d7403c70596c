//! Load and hostile input (issue #6): many sessions on many threads, one
//! handle shared by threads, every message exactly once, every log line
//! whole; control characters in every header-bound parameter of every
//! command, also when they come out of an input charset.

mod common;

use common::*;
use std::collections::HashMap;
use std::time::Duration;

#[test]
fn sixteen_sessions_and_a_shared_handle_lose_and_duplicate_nothing() {
    let server = SmtpServer::start();
    let log = server.dir.path().join("load.csv");
    let props = format!("{};logfile=\"{}\"", server.props(), log.display());
    // 16 threads, each with its own handle, 100 messages each.
    let own: Vec<_> = (0..16)
        .map(|t| {
            let props = props.clone();
            std::thread::spawn(move || {
                let mut h = 0;
                ok(&mut h, "MAILSMTP", &props, "");
                for i in 0..100 {
                    ok(
                        &mut h,
                        "MAILPREP",
                        &format!("t{t}@example.test"),
                        &format!("own {t}/{i}"),
                    );
                    ok(&mut h, "MAILTEXT", "x", "");
                    ok(&mut h, "MAILSEND", "", "");
                }
                ok(&mut h, "MAILEND", "", "");
            })
        })
        .collect();
    // 4 more threads share one handle: calls interleave, each stays whole.
    let mut shared = 0;
    ok(&mut shared, "MAILSMTP", &props, "");
    let sharers: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                let mut sent = 0usize;
                for i in 0..50 {
                    let mut h = shared;
                    ok(
                        &mut h,
                        "MAILPREP",
                        "shared@example.test",
                        &format!("shared {t}/{i}"),
                    );
                    let (rc, text) = call(&mut h, "MAILSEND", "", "");
                    assert!(rc == 0 || rc == 103, "{text}");
                    sent += usize::from(rc == 0);
                }
                sent
            })
        })
        .collect();
    for t in own {
        t.join().unwrap();
    }
    let shared_sent: usize = sharers.into_iter().map(|t| t.join().unwrap()).sum();
    ok(&mut shared, "MAILEND", "", "");
    let total = 1600 + shared_sent;
    let msgs = server.wait_for(total);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(server.messages().len(), total, "a message arrived twice");
    let mut ids: HashMap<String, usize> = HashMap::new();
    for m in &msgs {
        *ids.entry(header(m, "Message-ID").unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(ids.len(), total, "every Message-ID exactly once");
    let own_subjects = msgs
        .iter()
        .filter(|m| header(m, "Subject").unwrap().starts_with("own "))
        .count();
    assert_eq!(own_subjects, 1600);
    // The log: one whole line per MAILSEND call, 1600 + 200 of them.
    let rows = read_log(&log);
    let columns = log_columns(&log);
    assert_eq!(rows.len(), 1600 + 200);
    assert_eq!(rows.iter().filter(|r| r["status"] == "OK").count(), total);
    for r in &rows {
        assert_eq!(r.len(), columns, "a torn line: {r:?}");
    }
}

/// CR, LF and NUL in every parameter that ends up in a header or a command.
#[test]
fn control_characters_never_reach_a_header() {
    let server = SmtpServer::start();
    let tap = WireTap::new(server.port);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.txt");
    std::fs::write(&file, b"x").unwrap();
    let file = file.to_str().unwrap().to_string();
    let mut h = 0;
    ok(
        &mut h,
        "MAILSMTP",
        &format!("Server=127.0.0.1;port={};Sender=t@example.test", tap.port),
        "",
    );
    ok(&mut h, "MAILPREP", "bob@example.test", "clean");
    let evil = [
        "\r\nBcc: evil@example.test",
        "\nX-Evil: 1",
        "\rX-Evil: 1",
        "\0X-Evil",
    ];
    for e in evil {
        let attempts: Vec<(&str, String, String)> = vec![
            (
                "MAILSMTP",
                format!(
                    "Server=127.0.0.1;port={};Sender=\"t@example.test{e}\"",
                    tap.port
                ),
                String::new(),
            ),
            (
                "MAILSMTP",
                format!(
                    "Server=127.0.0.1;port={};Sender=t@example.test;reply=\"r@example.test{e}\"",
                    tap.port
                ),
                String::new(),
            ),
            (
                "MAILSMTP",
                format!(
                    "Server=127.0.0.1;port={};Sender=t@example.test;HeloName=\"h{e}\"",
                    tap.port
                ),
                String::new(),
            ),
            ("MAILPREP", format!("x@example.test{e}"), String::new()),
            (
                "MAILPREP",
                "x@example.test".into(),
                format!("subject=\"s{e}\""),
            ),
            (
                "MAILTO",
                format!("\"Name{e}\" <x@example.test>"),
                String::new(),
            ),
            ("MAILCC", format!("y@example.test{e}"), String::new()),
            ("MAILBCC", format!("z@example.test{e}"), String::new()),
            ("MAILSUBJ", format!("s{e}"), String::new()),
            ("MAILLATT", file.clone(), format!("name=\"n{e}\"")),
            ("MAILLATT", file.clone(), format!("cid=\"c{e}\"")),
            ("MAILLATT", file.clone(), format!("type=\"text/plain{e}\"")),
            ("MAILLATT", format!("{file}{e}"), String::new()),
        ];
        for (cmd, p1, p2) in attempts {
            // Each attempt on a draft of its own: a failed MAILPREP discards
            // the draft, and a failed call stops its MAILSEND (114).
            ok(&mut h, "MAILPREP", "bob@example.test", "clean");
            let (rc, text) = call_fixed(&mut h, cmd, p1.as_bytes(), p2.as_bytes());
            assert!(rc == 110 || rc == 104, "{cmd} {p1:?} {p2:?}: {text}");
        }
    }
    // A windows-1252 or UTF-16 input that decodes to CR LF is caught too.
    for (label, subject) in [
        (
            "windows-1252",
            b"caf\xe9\r\nBcc: evil@example.test".to_vec(),
        ),
        (
            "utf-16le",
            "café\r\nBcc: evil@example.test"
                .encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect(),
        ),
    ] {
        let mut other = 0;
        let props = format!(
            "Server=127.0.0.1;port={};Sender=t@example.test;InputCharset={label}",
            tap.port
        );
        let props: Vec<u8> = if label == "utf-16le" {
            props.encode_utf16().flat_map(u16::to_le_bytes).collect()
        } else {
            props.into_bytes()
        };
        assert_eq!(
            call_fixed(&mut other, "MAILSMTP", &props, &[]).0,
            0,
            "{label}"
        );
        let prep: Vec<u8> = if label == "utf-16le" {
            "x@example.test"
                .encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect()
        } else {
            b"x@example.test".to_vec()
        };
        assert_eq!(
            call_fixed(&mut other, "MAILPREP", &prep, &[]).0,
            0,
            "{label}"
        );
        let (rc, text) = call_fixed(&mut other, "MAILSUBJ", &subject, &[]);
        assert_eq!(rc, 110, "{label}: {text}");
        assert_eq!(call_fixed(&mut other, "MAILEND", &[], &[]).0, 0);
    }
    // The last draft had a refused MAILLATT: not sent.
    let (rc, text) = call(&mut h, "MAILSEND", "", "");
    assert_eq!(rc, 114, "{text}");
    assert!(text.contains("MAILLATT #1 failed with 1"), "{text}");
    ok(&mut h, "MAILPREP", "bob@example.test", "clean");
    ok(&mut h, "MAILSEND", "", "");
    ok(&mut h, "MAILEND", "", "");
    let m = &server.wait_for(1)[0];
    assert_eq!(header(m, "Subject"), Some("clean"));
    let wire = String::from_utf8_lossy(&tap.bytes()).to_string();
    assert!(!wire.contains("evil") && !wire.contains("X-Evil"), "{wire}");
}

/// A 100 MB parameter, symbolic links and device files as attachments.
#[test]
fn huge_parameters_links_and_devices() {
    let server = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.txt");
    std::fs::write(&real, b"through a link").unwrap();
    let link = dir.path().join("link.txt");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let dangling = dir.path().join("dangling.txt");
    std::os::unix::fs::symlink(dir.path().join("nothing"), &dangling).unwrap();
    let mut h = open(&server);
    ok(&mut h, "MAILPREP", "bob@example.test", "links");
    let hundred_mb = "a ".repeat(50 << 20);
    let (rc, text) = call(&mut h, "MAILTO", &hundred_mb, "");
    assert_eq!(rc, 108, "{}", &text[..text.len().min(120)]);
    ok(&mut h, "MAILLATT", link.to_str().unwrap(), "");
    assert_eq!(
        call(&mut h, "MAILLATT", dangling.to_str().unwrap(), "").0,
        200
    );
    for dev in ["/dev/null", "/dev/zero", "/dev/urandom", "/dev/stdin"] {
        assert_eq!(call(&mut h, "MAILLATT", dev, "").0, 201, "{dev}");
    }
    // Refused calls stop MAILSEND (114); SendIncomplete sends what is there.
    send_anyway(&mut h, &server, "MAILTO #1 failed with 108");
    ok(&mut h, "MAILEND", "", "");
    let m = &server.wait_for(1)[0];
    let parts = leaf_parts(m);
    assert_eq!(parts[0]["filename"], "link.txt");
    assert_eq!(parts[0]["sha256"], sha256_hex(b"through a link"));
}

const RSS_CHILD_ENV: &str = "LNCCMD_TEST_RSS_CHILD";

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Runs in a child process only: 10,000 messages through one handle.
#[test]
#[ignore = "a child process of another test of this file"]
fn rss_child_process() {
    let Ok(port) = std::env::var(RSS_CHILD_ENV) else {
        return;
    };
    let mut h = 0;
    ok(
        &mut h,
        "MAILSMTP",
        &format!("Server=127.0.0.1;port={port};Sender=t@example.test"),
        "",
    );
    let body = "a line of text for the message body\n".repeat(50);
    let mut at_1000 = 0;
    for i in 1..=10_000 {
        ok(
            &mut h,
            "MAILPREP",
            "sink@example.test",
            &format!("subject=\"message {i}\""),
        );
        ok(&mut h, "MAILTEXT", &body, "");
        ok(&mut h, "MAILSEND", "", "");
        if i == 1_000 {
            at_1000 = rss_kib();
        }
    }
    ok(&mut h, "MAILEND", "", "");
    println!("\nRSS {at_1000} {}", rss_kib());
}

/// A promise for batch jobs: a long session does not grow.
#[test]
fn a_session_of_10000_messages_does_not_grow() {
    let port = free_port();
    let mut sink = std::process::Command::new("smtp-sink")
        .args(["-u", "nobody", &format!("127.0.0.1:{port}"), "100"])
        .spawn()
        .expect("smtp-sink (postfix) is needed: scripts/setup-deps");
    let deadline = std::time::Instant::now() + WAIT;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "smtp-sink did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = wait_child(
        spawn_child("rss_child_process", (RSS_CHILD_ENV, port.to_string())),
        Duration::from_secs(300),
    );
    let _ = sink.kill();
    let _ = sink.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rss: Vec<u64> = stdout
        .lines()
        .find_map(|l| l.split_once("RSS ").map(|(_, v)| v.to_string()))
        .expect("the child reports its RSS")
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    eprintln!(
        "RSS after 1,000 messages: {} KiB, after 10,000: {} KiB",
        rss[0], rss[1]
    );
    assert!(
        rss[1] * 10 <= rss[0] * 11,
        "RSS grew more than 10 %: {rss:?}"
    );
}
