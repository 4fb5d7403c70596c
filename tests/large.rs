//! A 200 MB attachment goes out whole, and the process that sends it never
//! holds more than 4 times the file in memory (peak RSS, measured in a child
//! process so the test harness itself does not count). Texts of many MiB,
//! with every kind of line end, arrive as written.

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

/// About `size` bytes of text whose lines end in LF, CRLF and bare CR in
/// turn, with non-ASCII characters, lines that SMTP must dot-stuff, "From "
/// lines and, now and then, a line far over 998 octets. Returns the text and
/// what a reader must get: the same with every line end a LF.
fn mixed_text(size: usize) -> (String, String) {
    let ends = ["\n", "\r\n", "\r"];
    let (mut text, mut expected) = (String::with_capacity(size), String::with_capacity(size));
    let mut i = 0usize;
    while text.len() < size {
        let line = match i % 5 {
            0 => format!(".{i} a line that starts with a dot"),
            1 => format!("From line {i}: Grüße, Zoé, 1+1=2, 日本, 😀"),
            2 if i % 1000 == 2 => format!("long {i} {}", "wörter ".repeat(800)),
            _ => format!("Line {i}: invoice 4711, amount 12.34 EUR = €"),
        };
        text.push_str(&line);
        expected.push_str(&line);
        text.push_str(ends[i % 3]);
        expected.push('\n');
        i += 1;
    }
    text.push_str("the end");
    expected.push_str("the end");
    (text, expected)
}

/// Point 10 of issue #12: lettre's LF to CRLF conversion was quadratic, so a
/// text of a few MiB took seconds and 100 MB never went out. Text and HTML
/// in UTF-8 (quoted-printable), and text in UTF-7 (its own encoder).
#[test]
fn a_multi_mib_text_with_mixed_line_ends_arrives_as_written() {
    const TEXT_SIZE: usize = 12 << 20;
    let (written, expected) = mixed_text(TEXT_SIZE);
    let html = format!("<html><body><pre>\r\n{written}\n</pre></body></html>");
    let server = SmtpServer::start();
    let mut h = open(&server);
    let sent = |h: &mut i32, cmd: &str, parm1: &str, parm2: &str| {
        let (rc, result) = call(h, cmd, parm1, parm2);
        assert_eq!((rc, result.as_str()), (0, "0"), "{cmd}");
    };
    sent(
        &mut h,
        "MAILPREP",
        "bob@example.test",
        "subject=\"big text\"",
    );
    sent(&mut h, "MAILTEXT", &written, "");
    sent(&mut h, "MAILBODYF", &html, "");
    sent(&mut h, "MAILSEND", "", "");
    sent(
        &mut h,
        "MAILPREP",
        "bob@example.test",
        "subject=\"big UTF-7\";charset=UTF-7",
    );
    sent(&mut h, "MAILTEXT", &written, "");
    sent(&mut h, "MAILSEND", "", "");
    ok(&mut h, "MAILEND", "", "");
    let messages = server.wait_for(2);

    let parts = leaf_parts(&messages[0]);
    assert_eq!(
        messages[0]["structure"],
        "multipart/alternative(text/plain,text/html)"
    );
    assert_eq!(parts[0]["cte"], "quoted-printable");
    assert!(text(parts[0]) == expected, "the UTF-8 text differs");
    let expected_html = format!("<html><body><pre>\n{expected}\n</pre></body></html>");
    assert!(text(parts[1]) == expected_html, "the HTML differs");

    let parts = leaf_parts(&messages[1]);
    assert_eq!(parts[0]["charset"], "utf-7");
    assert!(text(parts[0]) == expected, "the UTF-7 text differs");

    // On the wire every line ends in CRLF: no bare CR, no bare LF.
    for i in 1..=2 {
        let raw = server.raw(i);
        let bare_lf = raw
            .iter()
            .enumerate()
            .filter(|&(j, &b)| b == b'\n' && (j == 0 || raw[j - 1] != b'\r'))
            .count();
        let bare_cr = raw
            .iter()
            .enumerate()
            .filter(|&(j, &b)| b == b'\r' && raw.get(j + 1) != Some(&b'\n'))
            .count();
        assert_eq!((bare_lf, bare_cr), (0, 0), "message {i}");
        assert!(
            raw.split(|&b| b == b'\n').all(|l| l.len() <= 1000),
            "message {i}"
        );
    }
}
