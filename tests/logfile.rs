//! The send log (contract §7) against a real server: one whole line per MAILSEND
//! attempt, from many processes and threads at once; a log that cannot be
//! written never stops the mail.

mod common;

use common::*;

/// Set in a child process started by `many_processes_and_threads_never_interleave`.
const CHILD_ENV: &str = "LNCCMD_TEST_LOG_CHILD";

fn send_many(props: &str, tag: &str, count: usize) {
    let mut h = 0;
    ok(&mut h, "MAILSMTP", props, "");
    for i in 0..count {
        ok(
            &mut h,
            "MAILPREP",
            "bob@example.test",
            &format!("subject=\"{tag} #{i}; \"\"quoted\"\"\""),
        );
        ok(&mut h, "MAILTEXT", "x", "");
        ok(&mut h, "MAILSEND", "", "");
    }
    ok(&mut h, "MAILEND", "", "");
}

/// Runs in a child process only: 4 threads, each with its own session.
#[test]
#[ignore = "a child process of another test of this file"]
fn log_child_process() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (props, proc_id) = spec.rsplit_once('|').unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let props = props.to_string();
            let tag = format!("p{proc_id}t{t}");
            std::thread::spawn(move || send_many(&props, &tag, 50))
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn many_processes_and_threads_never_interleave() {
    let server = SmtpServer::start();
    let log = server.dir.path().join("shared.csv");
    let props = format!("{};logfile=\"{}\"", server.props(), log.display());
    let children: Vec<_> = (0..4)
        .map(|p| spawn_child("log_child_process", (CHILD_ENV, format!("{props}|{p}"))))
        .collect();
    for c in children {
        let out = wait_child(c, WAIT * 6);
        assert!(
            out.status.success(),
            "a child process failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    server.wait_for(800);
    let rows = read_log(&log);
    let columns = log_columns(&log);
    assert_eq!(rows.len(), 800, "every attempt has exactly one line");
    let mut subjects = std::collections::HashSet::new();
    for r in &rows {
        assert_eq!(r.len(), columns);
        assert_eq!(
            (r["code"].as_str(), r["status"].as_str()),
            ("0", "OK"),
            "{r:?}"
        );
        assert!(r["subject"].ends_with("; \"quoted\""), "{r:?}");
        assert!(
            r["timestamp"].len() == 25 && r["timestamp"].as_bytes()[10] == b'T',
            "{r:?}"
        );
        subjects.insert(r["subject"].clone());
    }
    assert_eq!(subjects.len(), 800);
    // The header line was written once, by whichever process was first.
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.matches("timestamp;handle;code").count(), 1);
}

#[test]
fn failures_and_partial_deliveries_are_logged_too() {
    let server = SmtpServer::start();
    let log = server.dir.path().join("send.csv");
    let mut h = 0;
    let dead = free_port();
    ok(
        &mut h,
        "MAILSMTP",
        &format!(
            "Server=127.0.0.1;port={dead};Sender=t@example.test;logfile={}",
            log.display()
        ),
        "",
    );
    ok(&mut h, "MAILPREP", "bob@example.test", "first try");
    assert_eq!(call(&mut h, "MAILSEND", "", "").0, 400);
    ok(
        &mut h,
        "MAILSMTP",
        &format!("{};logfile={}", server.props(), log.display()),
        "",
    );
    ok(&mut h, "MAILCC", "reject@example.test", "");
    ok(&mut h, "MAILBCC", "hidden@example.test", "");
    assert_eq!(call(&mut h, "MAILSEND", "", "").0, 501);
    assert_eq!(call(&mut h, "MAILSEND", "", "").0, 103);
    ok(&mut h, "MAILEND", "", "");
    let rows = read_log(&log);
    assert_eq!(rows.len(), 3);
    assert_eq!(
        (rows[0]["code"].as_str(), rows[0]["status"].as_str()),
        ("400", "ERROR")
    );
    assert_eq!(rows[0]["server"], format!("127.0.0.1:{dead}"));
    assert!(rows[0]["reply"].contains("cannot connect"), "{:?}", rows[0]);
    assert_eq!(rows[0]["subject"], "first try");
    assert!(rows[0]["message_id"].starts_with('<'), "{:?}", rows[0]);
    assert_eq!(
        (rows[1]["code"].as_str(), rows[1]["status"].as_str()),
        ("501", "PARTIAL")
    );
    assert_eq!(
        rows[1]["message_id"], rows[0]["message_id"],
        "a retry keeps the Message-ID"
    );
    assert_eq!(rows[1]["cc"], "reject@example.test");
    assert_eq!(rows[1]["bcc"], "hidden@example.test");
    assert!(
        rows[1]["reply"].contains("<reject@example.test>: 550"),
        "{:?}",
        rows[1]
    );
    assert_eq!(
        (rows[2]["code"].as_str(), rows[2]["status"].as_str()),
        ("103", "ERROR")
    );
    for r in &rows {
        assert_eq!(r["handle"], rows[0]["handle"]);
        assert_eq!(
            (r["signed"].as_str(), r["encrypted"].as_str()),
            ("no", "no")
        );
    }
}

#[test]
fn a_log_that_cannot_be_written_never_stops_the_mail() {
    let server = SmtpServer::start();
    let logdir = tempfile::tempdir().unwrap();
    let log = logdir.path().join("sub").join("send.csv");
    std::fs::create_dir(log.parent().unwrap()).unwrap();
    let mut h = 0;
    ok(
        &mut h,
        "MAILSMTP",
        &format!("{};logfile=\"{}\"", server.props(), log.display()),
        "",
    );
    // The folder disappears after MAILSMTP checked it.
    std::fs::remove_dir(log.parent().unwrap()).unwrap();
    ok(&mut h, "MAILPREP", "bob@example.test", "mail first");
    let (rc, text) = call(&mut h, "MAILSEND", "", "");
    assert_eq!(rc, 202, "{text}");
    assert!(
        text.contains("sent, but the log file") && text.contains("send.csv"),
        "{text}"
    );
    assert_eq!(
        header(&server.wait_for(1)[0], "Subject"),
        Some("mail first")
    );
    // The message went out once: the draft is gone.
    assert_eq!(call(&mut h, "MAILSEND", "", "").0, 103);
    ok(&mut h, "MAILEND", "", "");

    // A missing folder is refused at MAILSMTP, before any mail.
    let (rc, text) = call(
        &mut h,
        "MAILSMTP",
        &format!("{};logfile=/no/such/folder/x.csv", server.props()),
        "",
    );
    assert_eq!(rc, 200, "{text}");
    assert!(text.contains("/no/such/folder/x.csv"), "{text}");
}

/// Set in a child process started by `the_send_log_is_created_0600_whatever_the_umask`.
const UMASK_CHILD_ENV: &str = "LNCCMD_TEST_UMASK_CHILD";

/// Runs in a child process only: sets the umask (a process-wide setting,
/// hence not in the test process), then sends one message with a log.
#[test]
#[ignore = "a child process of another test of this file"]
fn umask_child_process() {
    let Ok(spec) = std::env::var(UMASK_CHILD_ENV) else {
        return;
    };
    let (props, umask) = spec.rsplit_once('|').unwrap();
    let umask = libc::mode_t::from_str_radix(umask, 8).unwrap();
    // SAFETY: umask(2) cannot fail; this process runs this one test.
    unsafe { libc::umask(umask) };
    send_many(props, &format!("umask {umask:03o}"), 2);
}

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().mode() & 0o7777
}

#[test]
fn the_send_log_is_created_0600_whatever_the_umask() {
    let server = SmtpServer::start();
    // 000: everything allowed; 277: not even the owner may write.
    for umask in ["000", "002", "022", "077", "277"] {
        let log = server.dir.path().join(format!("umask-{umask}.csv"));
        let props = format!("{};logfile=\"{}\"", server.props(), log.display());
        let child = spawn_child(
            "umask_child_process",
            (UMASK_CHILD_ENV, format!("{props}|{umask}")),
        );
        let out = wait_child(child, WAIT * 2);
        assert!(
            out.status.success(),
            "umask {umask}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(mode(&log), 0o600, "umask {umask}");
        let rows = read_log(&log);
        assert_eq!(rows.len(), 2, "umask {umask}");
        assert!(rows.iter().all(|r| r["code"] == "0"), "{rows:?}");
    }
}

#[test]
fn an_existing_send_log_keeps_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let server = SmtpServer::start();
    for (m, content) in [(0o644, false), (0o640, true), (0o660, false)] {
        let log = server.dir.path().join(format!("admin-{m:o}.csv"));
        std::fs::write(&log, b"").unwrap();
        std::fs::set_permissions(&log, std::fs::Permissions::from_mode(m)).unwrap();
        let props = format!("{};logfile=\"{}\"", server.props(), log.display());
        send_many(&props, &format!("mode {m:o}"), 1);
        if content {
            // A log with lines already: appended to, mode unchanged.
            send_many(&props, &format!("mode {m:o} again"), 1);
        }
        assert_eq!(mode(&log), m, "{m:o}");
        assert_eq!(read_log(&log).len(), 1 + usize::from(content), "{m:o}");
    }
}
