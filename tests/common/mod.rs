//! Shared test support: a real SMTP server (aiosmtpd) per test on a free
//! loopback port, and a safe wrapper over the C ABI the tests drive.

#![allow(dead_code)]

pub mod exim;
pub mod fault;
pub mod oauth2;
pub mod opensmtpd;
pub mod pki;
pub mod postfix;
pub mod smime;

use std::ffi::{CStr, CString};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Longest any test waits for a server to start or a message to arrive.
pub const WAIT: Duration = Duration::from_secs(20);

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The port a test server announces on its first line of output
/// (`PORT <n>`), read within `WAIT`; the server is killed and the test
/// fails, naming `what`, when it does not come.
pub fn read_port(child: &mut Child, what: &str) -> u16 {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(WAIT).unwrap_or_default();
    match line
        .trim()
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok())
    {
        Some(port) => port,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not start within {WAIT:?}: {line:?}");
        }
    }
}

/// An aiosmtpd process storing what it receives in a temporary folder.
pub struct SmtpServer {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl SmtpServer {
    pub fn start() -> SmtpServer {
        Self::start_on(0)
    }

    /// Starts on `port` (0 = any free port) and waits until it listens.
    pub fn start_on(port: u16) -> SmtpServer {
        Self::start_with(port, &[])
    }

    /// With smtpd.py options (`--tls starttls --cert ... --auth u:p --dsn`).
    pub fn start_with(port: u16, options: &[&str]) -> SmtpServer {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new("python3")
            .arg(root().join("tests/support/smtpd.py"))
            .arg("--dir")
            .arg(dir.path())
            .arg("--port")
            .arg(port.to_string())
            .args(options)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 must be installed (see .ci/run)");
        let port = read_port(
            &mut child,
            "aiosmtpd (is it installed? pip install -r tests/support/requirements.txt)",
        );
        SmtpServer { child, port, dir }
    }

    /// SIGKILL, as a crash or a power cut would: no shutdown, no reply to a
    /// client waiting for one. What it stored stays in `dir`.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The MAILSMTP property string for this server.
    pub fn props(&self) -> String {
        format!(
            "Server=\"127.0.0.1\";port={};Sender=\"Tech <tech@example.test>\";Timeout=10",
            self.port
        )
    }

    fn count(&self) -> usize {
        std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "json")
            })
            .count()
    }

    /// Waits until `n` messages have arrived and returns them in order.
    pub fn wait_for(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + WAIT;
        while self.count() < n {
            assert!(
                Instant::now() < deadline,
                "only {} of {n} messages arrived within {WAIT:?}",
                self.count()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.messages()
    }

    pub fn messages(&self) -> Vec<Value> {
        (1..=self.count())
            .map(|i| {
                let text =
                    std::fs::read_to_string(self.dir.path().join(format!("{i}.json"))).unwrap();
                serde_json::from_str(&text).unwrap()
            })
            .collect()
    }

    pub fn raw(&self, i: usize) -> Vec<u8> {
        std::fs::read(self.dir.path().join(format!("{i}.eml"))).unwrap()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where scripts/setup-deps unpacked the .debs of exim4-daemon-heavy and
/// opensmtpd (they conflict with the installed postfix); `versions` there
/// names what was unpacked.
pub fn mta_root() -> PathBuf {
    let r = root().join("target/mta-root");
    assert!(
        r.join("versions").exists(),
        "{} is missing: run scripts/setup-deps",
        r.display()
    );
    r
}

/// Waits at most WAIT until `port` accepts connections; fails with `log()`
/// if `child` exits first or time runs out.
pub fn wait_for_listen(port: u16, child: &mut Child, what: &str, log: impl Fn() -> String) {
    let deadline = Instant::now() + WAIT;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "{what} exited ({status}) before listening on {port}:\n{}",
                log()
            );
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{what} did not listen on {port} within {WAIT:?}:\n{}",
                log()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGTERM, then SIGKILL if the process is still there after 5 s.
pub fn stop_child(mut child: Child) {
    // SAFETY: a plain kill(2) of our own child's pid, still unreaped.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(5);
    while child.try_wait().ok().flatten().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.wait();
}

/// The messages in the Maildir folder `new` (oldest first, by time then
/// name), once there are at least `n`; fails with `log()` after WAIT.
pub fn wait_for_maildir(new: &Path, n: usize, log: impl Fn() -> String) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + WAIT;
    loop {
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(new)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| (e.metadata().unwrap().modified().unwrap(), e.path()))
                    .collect()
            })
            .unwrap_or_default();
        if files.len() >= n {
            files.sort();
            return files
                .iter()
                .map(|(_, p)| std::fs::read(p).unwrap())
                .collect();
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {n} messages delivered in {} within {WAIT:?}; log:\n{}",
            files.len(),
            new.display(),
            log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A loopback port with nothing listening on it (bound, then released).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A peer that accepts connections and never says a word (a stalled server).
pub fn silent_server() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}

/// Header `name` of a parsed message (first occurrence, decoded).
pub fn header<'a>(msg: &'a Value, name: &str) -> Option<&'a str> {
    msg["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h[0].as_str().unwrap().eq_ignore_ascii_case(name))
        .map(|h| h[1].as_str().unwrap())
}

pub fn header_count(msg: &Value, name: &str) -> usize {
    msg["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h[0].as_str().unwrap().eq_ignore_ascii_case(name))
        .count()
}

/// The text of the first text part.
pub fn body_text(msg: &Value) -> String {
    msg["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|p| p["text"].as_str())
        .unwrap_or_default()
        .to_string()
}

pub fn rcpts(msg: &Value) -> Vec<String> {
    msg["rcpt_tos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect()
}

/// Every password and certificate password the test suite uses. No RESULT
/// and no log line anywhere in the suite may contain one, nor its base64
/// (checked in `call`, `call_fixed` and `read_log`).
pub const TEST_SECRETS: &[&str] = &[
    "s3cret-pw",
    "Pf-s3cret",
    "p12-Secret!",
    "c-example pw",
    "wrong-pw",
    "not-it",
    "wrong-one",
    "Sup3rSecret",
    "Ex-s3cret",
    // tests/oauth2.rs: client secrets and certificate passwords.
    "Ms-s3cret-value",
    "Wr0ng-s3cret",
    "Cert-pw-9",
];

pub fn assert_no_secret(place: &str, text: &str) {
    for s in TEST_SECRETS {
        let b64 = openssl::base64::encode_block(s.as_bytes());
        assert!(
            !text.contains(s) && !text.contains(&b64),
            "a password in {place}: {text}"
        );
    }
}

/// One call through the exported C function `lnccmd`.
pub fn call(handle: &mut i32, cmd: &str, parm1: &str, parm2: &str) -> (i32, String) {
    call_bytes(handle, cmd, parm1.as_bytes(), parm2.as_bytes())
}

pub fn call_bytes(handle: &mut i32, cmd: &str, parm1: &[u8], parm2: &[u8]) -> (i32, String) {
    let cmd = CString::new(cmd).unwrap();
    let p1 = CString::new(parm1).unwrap();
    let p2 = CString::new(parm2).unwrap();
    let mut result = [0x55 as std::ffi::c_char; lnccmd::LNCCMD_RESULT_LEN + 16];
    let rc = unsafe {
        lnccmd::lnccmd(
            handle,
            cmd.as_ptr(),
            std::ptr::null(),
            p1.as_ptr(),
            p2.as_ptr(),
            result.as_mut_ptr(),
        )
    };
    // Nothing may be written past LNCCMD_RESULT_LEN.
    assert!(
        result[lnccmd::LNCCMD_RESULT_LEN..]
            .iter()
            .all(|&b| b == 0x55),
        "RESULT overflow"
    );
    let text = unsafe { CStr::from_ptr(result.as_ptr()) }
        .to_str()
        .unwrap()
        .to_string();
    assert_no_secret("RESULT", &text);
    assert_eq!(
        text.split(' ').next().unwrap(),
        rc.to_string(),
        "RESULT starts with the code: {text}"
    );
    (rc, text)
}

/// Calls that must succeed.
pub fn ok(handle: &mut i32, cmd: &str, parm1: &str, parm2: &str) {
    let (rc, text) = call(handle, cmd, parm1, parm2);
    assert_eq!((rc, text.as_str()), (0, "0"), "{cmd} {parm1:?} {parm2:?}");
}

/// Opens a session on `server`.
pub fn open(server: &SmtpServer) -> i32 {
    let mut h = 0;
    ok(&mut h, "MAILSMTP", &server.props(), "");
    assert!(h > 0);
    h
}

/// The directory where cargo put liblnccmd.so for this test run: `deps/`,
/// beside the test binary (`cargo test` does not copy it up to target/debug).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().to_path_buf()
}

/// The SONAME build.rs gives liblnccmd.so (`liblnccmd.so.0.1` for 0.1.z).
pub const SONAME: &str = env!("LNCCMD_SONAME");

/// A program linked with `-llnccmd` asks the loader for the SONAME, a name
/// cargo does not create: this links it in `dir` to the freshly built
/// library, for a program linked with `-Wl,-rpath,dir`.
pub fn link_soname(dir: &Path) {
    std::os::unix::fs::symlink(target_dir().join("liblnccmd.so"), dir.join(SONAME)).unwrap();
}

/// The rows of a send log, as maps from column name to value.
pub fn read_log(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let bytes = std::fs::read(path).unwrap();
    assert_no_secret("the send log", &String::from_utf8_lossy(&bytes));
    let text = bytes
        .strip_prefix(b"\xEF\xBB\xBF")
        .expect("the log starts with a UTF-8 BOM");
    let mut r = csv::ReaderBuilder::new().delimiter(b';').from_reader(text);
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            let rec = rec.expect("every log line parses");
            headers
                .iter()
                .map(String::from)
                .zip(rec.iter().map(String::from))
                .collect()
        })
        .collect()
}

/// A TCP relay between lnccmd and a server that records every byte the
/// client sent: the wire itself, before any server parses it.
pub struct WireTap {
    pub port: u16,
    captured: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl WireTap {
    pub fn new(upstream: u16) -> WireTap {
        use std::io::{Read, Write};
        use std::net::TcpStream;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let captured = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let cap = captured.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { return };
                let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    return;
                };
                let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let cap = cap.clone();
                // client -> server, recorded
                std::thread::spawn(move || {
                    let mut buf = [0u8; 65536];
                    while let Ok(n) = c2.read(&mut buf) {
                        if n == 0 || s2.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        cap.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                    let _ = s2.shutdown(std::net::Shutdown::Write);
                });
                // server -> client
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut server, &mut client);
                    let _ = client.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        WireTap { port, captured }
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.captured.lock().unwrap().clone()
    }
}

/// SHA-256 as lowercase hex (openssl, as the library links it anyway).
pub fn sha256_hex(data: &[u8]) -> String {
    openssl::sha::sha256(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The decoded text of a part without the line end that ends a single-part
/// message (inside a multipart, the CRLF before a boundary belongs to it).
pub fn text(part: &Value) -> String {
    let t = part["text"].as_str().expect("a text part");
    t.strip_suffix('\n').unwrap_or(t).to_string()
}

/// Parts of a parsed message that are not multipart containers.
pub fn leaf_parts(msg: &Value) -> Vec<&Value> {
    msg["parts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["multipart"].is_null())
        .collect()
}

/// One call through `lnccmd_fixed`: any bytes, NULs included.
pub fn call_fixed(handle: &mut i32, cmd: &str, parm1: &[u8], parm2: &[u8]) -> (i32, String) {
    let mut result = [0u8; lnccmd::LNCCMD_RESULT_LEN];
    let rc = unsafe {
        lnccmd::lnccmd_fixed(
            handle,
            cmd.as_ptr().cast(),
            cmd.len(),
            std::ptr::null(),
            0,
            parm1.as_ptr().cast(),
            parm1.len(),
            parm2.as_ptr().cast(),
            parm2.len(),
            result.as_mut_ptr().cast(),
            result.len(),
        )
    };
    let text = String::from_utf8_lossy(&result).trim_end().to_string();
    assert_no_secret("RESULT", &text);
    (rc, text)
}

/// Starts the test `name` of this same test binary in a child process (it
/// is `#[ignore]`d, so it runs only this way), with `env` set.
pub fn spawn_child(name: &str, env: (&str, String)) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            name,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(env.0, env.1)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// `Command::output`, but bounded: a verifier or parser that hangs is
/// killed after `TOOL_LIMIT` and the test fails naming it. Standard input
/// is empty, as with `output()`.
pub trait OutputBounded {
    fn output_bounded(&mut self) -> std::io::Result<std::process::Output>;
}

impl OutputBounded for Command {
    fn output_bounded(&mut self) -> std::io::Result<std::process::Output> {
        let child = self
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        Ok(wait_child(child, TOOL_LIMIT))
    }
}

/// `output_bounded`, for a tool that must be installed (scripts/setup-deps).
pub fn run_bounded(cmd: &mut Command) -> std::process::Output {
    cmd.output_bounded()
        .unwrap_or_else(|e| panic!("{cmd:?} cannot run ({e}): run scripts/setup-deps"))
}

/// How long one run of an outside tool (a verifier, a parser) may take.
pub const TOOL_LIMIT: Duration = Duration::from_secs(180);

/// Waits at most `limit` for a child; kills it and fails past that.
pub fn wait_child(mut child: Child, limit: Duration) -> std::process::Output {
    let deadline = Instant::now() + limit;
    // Drain the pipes meanwhile, so a chatty child cannot block on them.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut out, &mut v);
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut err, &mut v);
        v
    });
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("child process still running after {limit:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    std::process::Output {
        status,
        stdout: out_t.join().unwrap(),
        stderr: err_t.join().unwrap(),
    }
}

/// A draft with refused calls: MAILSEND says 114 naming `first`, then the
/// program that handles its errors itself sends what is there
/// (`SendIncomplete=true` on the live handle keeps the draft).
pub fn send_anyway(h: &mut i32, server: &SmtpServer, first: &str) {
    let (rc, text) = call(h, "MAILSEND", "", "");
    assert_eq!(rc, 114, "{text}");
    assert!(text.contains(first), "{text}");
    ok(
        h,
        "MAILSMTP",
        &format!("{};SendIncomplete=true", server.props()),
        "",
    );
    ok(h, "MAILSEND", "", "");
}

/// aiosmtpd with TLS (`mode`: starttls or smtps) and the certificate
/// `<cert>.pem` / `<cert>.key` of `pki`, and more smtpd.py options.
pub fn tls_server(pki: &pki::Pki, cert: &str, mode: &str, extra: &[&str]) -> SmtpServer {
    let key = pki.path(&format!("{cert}.key"));
    let cert = pki.path(&format!("{cert}.pem"));
    let mut args = vec![
        "--tls",
        mode,
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    SmtpServer::start_with(0, &args)
}

/// The number of columns of the send log at `path`, from its header line.
pub fn log_columns(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    text.trim_start_matches('\u{feff}')
        .lines()
        .next()
        .expect("a header line")
        .split(';')
        .count()
}

/// Every file under `dir` (recursively) whose name ends in `.ext`.
pub fn files_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, ext, out);
            } else if p.extension().is_some_and(|x| x == ext) {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, ext, &mut out);
    out.sort();
    out
}

/// README.md and every docs/**/*.md.
pub fn markdown_files() -> Vec<PathBuf> {
    let mut out = vec![root().join("README.md")];
    out.extend(files_with_ext(&root().join("docs"), "md"));
    out
}

/// `python3 ARGS...`, bounded, which must succeed: its stdout.
pub fn python3<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Vec<u8> {
    let out = wait_child(
        Command::new("python3")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A message file (a `--dry-run` `.eml`) parsed by Python's email package,
/// as the test server reports a received one.
pub fn parse_eml(f: &Path) -> Value {
    let script = root().join("tests/support/smtpd.py");
    let out = python3(&[script.as_os_str(), "--parse".as_ref(), f.as_os_str()]);
    serde_json::from_slice(&out).unwrap()
}
