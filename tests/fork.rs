//! fork() (issue #12 point 6): a child never writes to the connection it
//! inherited, and never hangs on a lock a vanished thread held at the fork.
//! The tests fork this test process for real (libc::fork); a child only
//! makes lnccmd calls and leaves with `_exit`, so no destructor of the
//! parent's state (the servers) runs in it.

mod common;

use common::*;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Forks; the child runs `f` and leaves with its code (70 if it panicked).
fn fork(f: impl FnOnce() -> i32) -> libc::pid_t {
    // SAFETY: the child only runs `f` (lnccmd calls; the library's fork
    // handlers are what is under test) and `_exit`, never returning into
    // the test harness.
    match unsafe { libc::fork() } {
        -1 => panic!("fork failed: {}", std::io::Error::last_os_error()),
        0 => {
            let code = catch_unwind(AssertUnwindSafe(f)).unwrap_or(70);
            unsafe { libc::_exit(code) }
        }
        pid => pid,
    }
}

/// The child's exit code, or `None` if it was still running after `limit`
/// (then it is killed).
fn wait_pid(pid: libc::pid_t, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    let mut status = 0;
    loop {
        // SAFETY: plain system calls on our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        assert!(r >= 0, "waitpid: {}", std::io::Error::last_os_error());
        if r == pid {
            return Some(if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                128 + libc::WTERMSIG(status)
            });
        }
        if Instant::now() > deadline {
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A relay in front of the server that keeps, per connection, every byte
/// the clients sent: what the server saw, connection by connection.
struct ConnTap {
    port: u16,
    conns: Arc<Mutex<Vec<Captured>>>,
}

/// The bytes one client sent on one connection.
type Captured = Arc<Mutex<Vec<u8>>>;

impl ConnTap {
    fn new(upstream: u16) -> ConnTap {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let conns: Arc<Mutex<Vec<Captured>>> = Default::default();
        let all = conns.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { return };
                let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    return;
                };
                let captured = Arc::new(Mutex::new(Vec::new()));
                all.lock().unwrap().push(captured.clone());
                let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || {
                    let mut buf = [0u8; 65536];
                    while let Ok(n) = c2.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        captured.lock().unwrap().extend_from_slice(&buf[..n]);
                        if s2.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = s2.shutdown(std::net::Shutdown::Write);
                });
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut server, &mut client);
                    let _ = client.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        ConnTap { port, conns }
    }

    fn connections(&self) -> Vec<Vec<u8>> {
        self.conns
            .lock()
            .unwrap()
            .iter()
            .map(|c| c.lock().unwrap().clone())
            .collect()
    }
}

/// Checks that one connection's client bytes are a well-formed SMTP
/// dialogue: one greeting, then whole transactions, each message ended by
/// its dot, nothing but known commands between them. Returns the
/// transactions as (recipients, message text).
fn transactions(wire: &[u8]) -> Vec<(Vec<String>, String)> {
    let text = String::from_utf8(wire.to_vec()).expect("the client sent UTF-8 only");
    assert!(
        text.is_empty() || text.ends_with("\r\n"),
        "a command cut in the middle: {text:?}"
    );
    let mut lines = text.split_terminator("\r\n");
    let mut out = Vec::new();
    let mut rcpts = Vec::new();
    let mut mail = false;
    let mut greeted = false;
    while let Some(line) = lines.next() {
        let verb = line.split([' ', ':']).next().unwrap().to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" | "HELO" => {
                assert!(!greeted && !mail, "EHLO out of place: {text:?}");
                greeted = true;
            }
            "MAIL" => {
                assert!(greeted && !mail, "MAIL out of place: {text:?}");
                mail = true;
            }
            "RCPT" => {
                assert!(mail, "RCPT without MAIL: {text:?}");
                let a = line.split_once('<').unwrap().1.split_once('>').unwrap().0;
                rcpts.push(a.to_string());
            }
            "DATA" => {
                assert!(mail && !rcpts.is_empty(), "DATA out of place: {text:?}");
                let mut body = String::new();
                loop {
                    let l = lines.next().expect("a message without its dot");
                    if l == "." {
                        break;
                    }
                    body.push_str(l);
                    body.push('\n');
                }
                out.push((std::mem::take(&mut rcpts), body));
                mail = false;
            }
            "RSET" | "NOOP" => {
                rcpts.clear();
                mail = false;
            }
            "QUIT" => {
                assert!(lines.next().is_none(), "a command after QUIT: {text:?}");
            }
            _ => panic!("a garbled command {line:?} in {text:?}"),
        }
    }
    assert!(!mail, "a transaction left open: {text:?}");
    out
}

/// One message: To `to`, the subject and text naming it.
fn send(h: &mut i32, to: &str) -> i32 {
    let steps = [
        (
            "MAILPREP",
            to.to_string(),
            format!("subject=\"payslip of {to}\""),
        ),
        ("MAILTEXT", format!("Payslip for {to} only."), String::new()),
        ("MAILSEND", String::new(), String::new()),
    ];
    for (cmd, p1, p2) in steps {
        let (rc, _) = call(h, cmd, &p1, &p2);
        if rc != 0 {
            return rc;
        }
    }
    0
}

#[test]
fn fork_a_child_never_writes_to_the_parents_connection() {
    const ROUNDS: usize = 12;
    let server = SmtpServer::start();
    let tap = ConnTap::new(server.port);
    let mut h = 0;
    ok(
        &mut h,
        "MAILSMTP",
        &format!(
            "Server=127.0.0.1;port={};Sender=payroll@example.test;Timeout=10",
            tap.port
        ),
        "",
    );
    // The connection is open before the first fork.
    assert_eq!(send(&mut h, "parent-0@example.test"), 0);
    let mut expected = vec!["parent-0@example.test".to_string()];
    for round in 1..=ROUNDS {
        let child_to = format!("child-{round}@example.test");
        let parent_to = format!("parent-{round}@example.test");
        let mut hc = h;
        let pid = fork(|| {
            let rc = send(&mut hc, &child_to);
            if rc == 0 {
                // The child's session is its own: ending it ends its own
                // connection, never the parent's.
                call(&mut hc, "MAILEND", "", "").0
            } else {
                rc.min(255)
            }
        });
        // The parent sends at the same time as the child.
        assert_eq!(send(&mut h, &parent_to), 0, "round {round}");
        let code = wait_pid(pid, WAIT);
        assert_eq!(code, Some(0), "round {round}: the child failed");
        expected.push(child_to);
        expected.push(parent_to);
    }
    ok(&mut h, "MAILEND", "", "");

    let messages = server.wait_for(expected.len());
    assert_eq!(messages.len(), expected.len(), "every message exactly once");
    let mut seen: HashMap<String, usize> = HashMap::new();
    for m in &messages {
        let to = rcpts(m);
        assert_eq!(to.len(), 1, "one recipient per message: {to:?}");
        let to = &to[0];
        assert_eq!(header(m, "To"), Some(to.as_str()));
        assert_eq!(
            header(m, "Subject"),
            Some(format!("payslip of {to}").as_str())
        );
        assert_eq!(body_text(m).trim_end(), format!("Payslip for {to} only."));
        *seen.entry(to.clone()).or_default() += 1;
    }
    for to in &expected {
        assert_eq!(seen.get(to), Some(&1), "{to} received its message once");
    }

    // What the server read, connection by connection: the parent's one
    // connection carried the parent's messages only; each child used a
    // connection of its own; no command was garbled or interleaved.
    let conns = tap.connections();
    assert_eq!(
        conns.len(),
        1 + ROUNDS,
        "the parent's connection and one per child"
    );
    let mut all = Vec::new();
    for (i, wire) in conns.iter().enumerate() {
        let t = transactions(wire);
        let whose: Vec<bool> = t.iter().map(|(r, _)| r[0].starts_with("parent-")).collect();
        assert!(
            whose.iter().all(|&p| p == whose[0]),
            "connection {i} carried both processes' messages"
        );
        for (r, body) in t {
            assert!(
                body.contains(&format!("Payslip for {} only.", r[0])),
                "connection {i}: the text of another message went to {r:?}"
            );
            all.push(r[0].clone());
        }
    }
    all.sort();
    expected.sort();
    assert_eq!(all, expected);
}

/// Over STARTTLS, where a child writing anything (a QUIT, a TLS
/// close_notify) to the inherited connection would break the parent's TLS
/// session: odd rounds, the child only ends the inherited session (MAILEND);
/// even rounds, it sends a message of its own. The parent keeps its one
/// connection throughout (a broken one would show as a reconnection).
#[test]
fn fork_a_child_never_writes_to_the_parents_tls_connection() {
    const ROUNDS: usize = 10;
    let pki = common::pki::Pki::new();
    let server = tls_server(&pki, "server", "starttls", &[]);
    let tap = ConnTap::new(server.port);
    let mut h = 0;
    ok(
        &mut h,
        "MAILSMTP",
        &format!(
            "Server=127.0.0.1;port={};Sender=payroll@example.test;Timeout=10;enableSSL=true;TrustCert=\"{}\"",
            tap.port,
            pki.path("ca.pem").display()
        ),
        "",
    );
    assert_eq!(send(&mut h, "parent-0@example.test"), 0);
    let mut expected = vec!["parent-0@example.test".to_string()];
    for round in 1..=ROUNDS {
        let child_to = format!("child-{round}@example.test");
        let mut hc = h;
        let pid = fork(|| {
            if round % 2 == 0 {
                let rc = send(&mut hc, &child_to);
                if rc != 0 {
                    return rc.min(255);
                }
            }
            call(&mut hc, "MAILEND", "", "").0
        });
        let code = wait_pid(pid, WAIT);
        assert_eq!(code, Some(0), "round {round}: the child failed");
        if round % 2 == 0 {
            expected.push(child_to);
        }
        let parent_to = format!("parent-{round}@example.test");
        assert_eq!(send(&mut h, &parent_to), 0, "round {round}");
        expected.push(parent_to);
    }
    ok(&mut h, "MAILEND", "", "");
    let messages = server.wait_for(expected.len());
    let mut got: Vec<String> = messages
        .iter()
        .map(|m| {
            let to = rcpts(m).join(",");
            assert_eq!(body_text(m).trim_end(), format!("Payslip for {to} only."));
            to
        })
        .collect();
    got.sort();
    expected.sort();
    assert_eq!(
        got, expected,
        "every message exactly once, to its recipient"
    );
    assert_eq!(
        tap.connections().len(),
        1 + ROUNDS / 2,
        "the parent's one connection and one per sending child"
    );
}

#[test]
fn fork_while_another_thread_is_inside_lnccmd_never_hangs_the_child() {
    const CHILDREN: usize = 200;
    let props = "Server=127.0.0.1;Sender=payroll@example.test";
    let mut busy = 0;
    ok(&mut busy, "MAILSMTP", props, "");
    let stop = Arc::new(AtomicBool::new(false));
    let text = "x".repeat(64 * 1024);
    let worker = {
        let stop = stop.clone();
        let mut h = busy;
        std::thread::spawn(move || {
            // Always inside lnccmd: the session lock (MAILPREP, MAILTEXT)
            // and the table lock (MAILSMTP, MAILEND) in turn.
            while !stop.load(Ordering::Relaxed) {
                ok(&mut h, "MAILPREP", "bob@example.test", "subject=busy");
                ok(&mut h, "MAILTEXT", &text, "");
                let mut other = 0;
                ok(&mut other, "MAILSMTP", props, "");
                ok(&mut other, "MAILEND", "", "");
            }
        })
    };
    let (mut hung, mut failed, mut in_use) = (0, Vec::new(), 0);
    for i in 0..CHILDREN {
        let mut old = busy;
        let pid = fork(|| {
            let mut h = 0;
            for (cmd, p1) in [
                ("MAILSMTP", props),
                ("MAILPREP", "carol@example.test"),
                ("MAILTEXT", "from the child"),
                ("MAILEND", ""),
            ] {
                if call(&mut h, cmd, p1, "").0 != 0 {
                    return 10;
                }
            }
            // The session the other thread was using: usable if it was
            // idle at the fork, a clear 102 if it was in use.
            let (rc, text) = call(&mut old, "MAILPREP", "dave@example.test", "");
            let code = match rc {
                0 => 0,
                102 if text.contains(
                    "was in use by another thread when this process was forked: open a new one with MAILSMTP",
                ) =>
                {
                    1
                }
                _ => return 11,
            };
            if call(&mut old, "MAILEND", "", "") != (0, "0".to_string()) || old != 0 {
                return 12;
            }
            code
        });
        match wait_pid(pid, Duration::from_secs(10)) {
            None => hung += 1,
            Some(0) => {}
            Some(1) => in_use += 1,
            Some(code) => failed.push((i, code)),
        }
    }
    stop.store(true, Ordering::Relaxed);
    worker.join().unwrap();
    eprintln!(
        "{CHILDREN} children: {hung} hung, {} failed, {in_use} found the busy session in use",
        failed.len()
    );
    assert_eq!(hung, 0, "children that hung (killed after 10 s)");
    assert_eq!(failed, [], "children that failed (index, exit code)");
    ok(&mut busy, "MAILEND", "", "");
}
