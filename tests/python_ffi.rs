//! examples/python/send.py, the ctypes example: run with python3 against
//! this test run's library and a real SMTP server (aiosmtpd).

mod common;

use common::*;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// Runs send.py with `args`, loading the library through LNCCMD_LIB.
fn send_py(args: &[&str]) -> Output {
    let child = Command::new("python3")
        .arg(root().join("examples/python/send.py"))
        .args(args)
        .env("LNCCMD_LIB", target_dir().join("liblnccmd.so"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 must be installed (see .ci/run)");
    wait_child(child, Duration::from_secs(60))
}

#[test]
fn send_py_sends_text_and_an_attachment() {
    let server = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let attachment = dir.path().join("report.csv");
    std::fs::write(&attachment, "month;total\nMay;1234.56\n").unwrap();
    let port = server.port.to_string();
    let out = send_py(&[
        "--server",
        "127.0.0.1",
        "--port",
        &port,
        "--sender",
        "Tech \"Python\" <tech@example.test>",
        "--to",
        "Bob <bob@example.test>; carol@example.test",
        "--subject",
        "Grüße; from \"Python\"",
        "--text",
        "Hello Bob,",
        "--text",
        "the report is attached.",
        "--attach",
        attachment.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "send.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("with lnccmd {}", env!("CARGO_PKG_VERSION"))),
        "{stdout}"
    );
    let m = &server.wait_for(1)[0];
    assert_eq!(m["mail_from"], "tech@example.test");
    assert_eq!(rcpts(m), ["bob@example.test", "carol@example.test"]);
    assert_eq!(
        header(m, "From"),
        Some("\"Tech \\\"Python\\\"\" <tech@example.test>")
    );
    assert_eq!(header(m, "Subject"), Some("Grüße; from \"Python\""));
    assert_eq!(m["structure"], "multipart/mixed(text/plain,text/csv)");
    let parts = leaf_parts(m);
    assert_eq!(text(parts[0]), "Hello Bob,\nthe report is attached.");
    assert_eq!(parts[1]["filename"], "report.csv");
    assert_eq!(
        parts[1]["sha256"],
        sha256_hex(&std::fs::read(&attachment).unwrap())
    );
}

#[test]
fn send_py_exits_with_the_code_and_prints_result_on_a_bad_address() {
    let port = free_port().to_string();
    let out = send_py(&[
        "--port",
        &port,
        "--sender",
        "tech@example.test",
        "--to",
        "bob@",
        "--text",
        "never sent",
    ]);
    assert_eq!(out.status.code(), Some(108));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("MAILPREP failed: 108 MAILPREP: address 'bob@' (position 1): ")
            && stderr.trim_end().ends_with("(malformed e-mail address)"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}
