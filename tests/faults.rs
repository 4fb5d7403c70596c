//! The fault matrix of issue #6, run in a child process so that its file
//! descriptors and threads can be counted before and after: a stall at each
//! step, a 4xx and a 5xx at each command, an over-long reply line, garbage.
//! For every case: the code family, the call back within about 2 x Timeout,
//! and the same draft then delivered by a good server (the session stays
//! usable). Nothing may be left open: same fds and threads at the end.

mod common;

use common::fault::{FaultServer, Peer};
use common::*;
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "LNCCMD_TEST_FAULT_CHILD";

#[derive(Clone, Copy, PartialEq)]
enum Step {
    Greeting,
    Ehlo,
    Mail,
    Rcpt,
    Data,
    Dot,
}

#[derive(Clone, Copy)]
enum Fault {
    Stall,
    Reply(&'static str),
    LongLine,
    Garbage,
}

/// Plays a normal server until `step`, then `fault` there.
fn script(step: Step, fault: Fault) -> impl Fn(Peer, usize) + Send + Sync + 'static {
    move |mut p: Peer, _| {
        let act = |p: &mut Peer| match fault {
            Fault::Stall => p.stall(),
            Fault::Reply(r) => {
                p.send(r);
                p.stall();
            }
            Fault::LongLine => {
                p.send(&format!("250-{}\r\n250 ok\r\n", "x".repeat(1 << 20)));
                p.stall();
            }
            Fault::Garbage => {
                p.send("\u{1}\u{2}garbage\u{7f}\r\n");
                p.stall();
            }
        };
        if let Step::Greeting = step {
            return act(&mut p);
        }
        p.send("220 fault.example.test ESMTP\r\n");
        if p.line().is_none() {
            return;
        }
        if let Step::Ehlo = step {
            return act(&mut p);
        }
        p.send("250-fault.example.test\r\n250 8BITMIME\r\n");
        loop {
            let Some(l) = p.line() else { return };
            let up = l.to_ascii_uppercase();
            let here = matches!(
                (step, up.split([' ', ':']).next().unwrap_or("")),
                (Step::Mail, "MAIL") | (Step::Rcpt, "RCPT") | (Step::Data, "DATA")
            );
            if here {
                return act(&mut p);
            }
            if up == "DATA" {
                p.send("354 go\r\n");
                while p.line().is_some_and(|d| d != ".") {}
                return act(&mut p);
            }
            p.send("250 ok\r\n");
        }
    }
}

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

/// Runs in a child process only.
#[test]
#[ignore = "a child process of another test of this file"]
fn fault_matrix_child_process() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let good = SmtpServer::start();
    let mut h = open(&good);
    // Warm up: one good send, so lazily made things exist before counting.
    ok(&mut h, "MAILPREP", "bob@example.test", "warm up");
    ok(&mut h, "MAILSEND", "", "");
    good.wait_for(1);
    // A session that ends keeps its connection (KeepAlive): that starts the
    // one thread that closes kept connections; the next session takes it.
    ok(&mut h, "MAILEND", "", "");
    let mut h = open(&good);
    ok(&mut h, "MAILPREP", "bob@example.test", "warm up");
    ok(&mut h, "MAILSEND", "", "");
    good.wait_for(2);
    std::thread::sleep(Duration::from_millis(300));
    let (fds, threads) = (count("/proc/self/fd"), count("/proc/self/task"));

    let steps = [
        Step::Greeting,
        Step::Ehlo,
        Step::Mail,
        Step::Rcpt,
        Step::Data,
        Step::Dot,
    ];
    let mut cases: Vec<(Step, Fault, i32)> = Vec::new();
    for step in steps {
        // A stall after the final dot: the server may have the message.
        let stall = if step == Step::Dot { 409 } else { 401 };
        cases.push((step, Fault::Stall, stall));
        let (temp, perm) = match step {
            Step::Greeting | Step::Ehlo => (504, 400),
            Step::Mail => (504, 500),
            Step::Rcpt => (504, 502),
            Step::Data | Step::Dot => (504, 503),
        };
        cases.push((step, Fault::Reply("451 4.3.0 try later\r\n"), temp));
        cases.push((step, Fault::Reply("554 5.7.1 no\r\n"), perm));
    }
    cases.push((Step::Ehlo, Fault::LongLine, 408));
    cases.push((Step::Mail, Fault::Garbage, 408));
    let timeout = 1u64;
    for (i, (step, fault, code)) in cases.iter().enumerate() {
        let fault_server = FaultServer::start(script(*step, *fault));
        // KeepAlive=0: a connection kept for the next session is not a leak,
        // but it would hold a descriptor past the count.
        ok(
            &mut h,
            "MAILSMTP",
            &format!("{};KeepAlive=0", fault_server.props(timeout as u32)),
            "",
        );
        let subject = format!("case {i}");
        ok(
            &mut h,
            "MAILPREP",
            "bob@example.test",
            &format!("subject=\"{subject}\""),
        );
        let t = Instant::now();
        let (rc, text) = call(&mut h, "MAILSEND", "", "");
        let took = t.elapsed();
        assert_eq!(rc, *code, "case {i}: {text}");
        assert!(
            took < Duration::from_secs(2 * timeout + 3),
            "case {i} took {took:?}"
        );
        // The session is usable and the draft intact: a good server gets it.
        // After 409 only when asked: a plain MAILSEND would send it twice.
        ok(
            &mut h,
            "MAILSMTP",
            &format!("{};KeepAlive=0", good.props()),
            "",
        );
        if *code == 409 {
            assert_eq!(call(&mut h, "MAILSEND", "", "").0, 409, "case {i}");
            ok(&mut h, "MAILSEND", "RESEND", "");
        } else {
            ok(&mut h, "MAILSEND", "", "");
        }
        assert_eq!(
            header(&good.wait_for(i + 3)[i + 2], "Subject"),
            Some(subject.as_str())
        );
    }
    ok(&mut h, "MAILEND", "", "");
    let mut h = open(&good);
    ok(&mut h, "MAILEND", "", "");
    // Fault servers are dropped; their threads end when the client hangs up.
    let deadline = Instant::now() + Duration::from_secs(10);
    while (count("/proc/self/fd") > fds || count("/proc/self/task") > threads)
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    println!(
        "\nFDS {fds} {} THREADS {threads} {} CASES {}",
        count("/proc/self/fd"),
        count("/proc/self/task"),
        cases.len()
    );
}

#[test]
fn fault_matrix_leaks_nothing() {
    let out = wait_child(
        spawn_child("fault_matrix_child_process", (CHILD_ENV, "1".to_string())),
        Duration::from_secs(300),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "fault matrix failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("FDS ").map(|(_, v)| v.to_string()))
        .expect("counts");
    let n: Vec<&str> = line.split_whitespace().collect();
    // "FDS a b THREADS c d CASES e"
    let num = |i: usize| n[i].parse::<usize>().unwrap();
    // "Before" had the warm-up connection open; at the end every session is ended.
    assert!(num(1) <= num(0), "file descriptors leaked: {line}");
    assert!(num(4) <= num(3), "threads leaked: {line}");
    assert_eq!(n[6], "20", "{line}");
}
