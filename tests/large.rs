//! A 200 MB attachment goes out whole, and the process that sends it never
//! holds more than 4 times the file in memory (peak RSS, measured in a child
//! process so the test harness itself does not count).

mod common;

use common::*;
use std::io::Write;
use std::time::Duration;

const CHILD_ENV: &str = "LNCCMD_TEST_LARGE_CHILD";
const SIZE: usize = 200 << 20;

fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Runs in a child process only: sends the file, prints its peak RSS.
#[test]
#[ignore = "a child process of another test of this file"]
fn large_child_process() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (props, path) = spec.split_once('|').unwrap();
    let before = vm_hwm_kib();
    let mut h = 0;
    ok(&mut h, "MAILSMTP", props, "");
    ok(&mut h, "MAILPREP", "bob@example.test", "big");
    ok(&mut h, "MAILTEXT", "200 MB attached", "");
    ok(&mut h, "MAILLATT", path, "");
    ok(&mut h, "MAILSEND", "", "");
    ok(&mut h, "MAILEND", "", "");
    println!("\nPEAK_KIB {before} {}", vm_hwm_kib());
}

#[test]
fn a_200_mb_attachment_arrives_whole_in_bounded_memory() {
    let server = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    let mut hasher = openssl::sha::Sha256::new();
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let mut chunk = vec![0u8; 1 << 20];
        for i in 0..(SIZE >> 20) {
            openssl::rand::rand_bytes(&mut chunk).unwrap();
            // Some lines that look like SMTP's end of data, to be stuffed.
            if i % 7 == 0 {
                chunk[..5].copy_from_slice(b"\r\n.\r\n");
            }
            hasher.update(&chunk);
            f.write_all(&chunk).unwrap();
        }
    }
    let sha: String = hasher.finish().iter().map(|b| format!("{b:02x}")).collect();
    let out = wait_child(
        spawn_child(
            "large_child_process",
            (
                CHILD_ENV,
                format!("{};Timeout=300|{}", server.props(), path.display()),
            ),
        ),
        Duration::from_secs(600),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let peak: Vec<u64> = stdout
        .lines()
        .find_map(|l| l.split_once("PEAK_KIB ").map(|(_, v)| v.trim()))
        .expect("the child reports its peak RSS")
        .split(' ')
        .map(|n| n.parse().unwrap())
        .collect();
    let m = &server.wait_for(1)[0];
    let parts = leaf_parts(m);
    assert_eq!(parts[1]["size"], SIZE);
    assert_eq!(parts[1]["sha256"], sha);
    let growth = (peak[1] - peak[0]) * 1024;
    eprintln!(
        "200 MB attachment: peak RSS {} MiB ({:.2}x the file)",
        peak[1] / 1024,
        growth as f64 / SIZE as f64
    );
    assert!(
        growth < 4 * SIZE as u64,
        "peak RSS grew by {growth} bytes for a {SIZE}-byte file"
    );
}
