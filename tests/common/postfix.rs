//! A private Postfix instance on loopback (its own config, queue and
//! Maildir, /etc/postfix untouched): a plain port, a submission port that
//! requires STARTTLS and AUTH, and an SMTPS port; `postfix -c <its config>
//! start-fg`, stopped by the test.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_port;
use super::pki::Pki;

pub const USER: &str = "mailuser";
pub const PASSWORD: &str = "Pf-s3cret";

pub struct Postfix {
    dir: tempfile::TempDir,
    master: Option<Child>,
    pub plain: u16,
    pub submission: u16,
    pub smtps: u16,
    /// A plain port with `message_size_limit = SMALL_LIMIT` (EHLO SIZE).
    pub small: u16,
}

/// The message size limit of the `small` port, in bytes.
pub const SMALL_LIMIT: usize = 50_000;

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (is postfix installed? scripts/setup-deps)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn wait_for_port(port: u16, deadline: Instant) {
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "postfix did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Postfix {
    pub fn start(pki: &Pki) -> Postfix {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        let etc = d.join("etc");
        std::fs::create_dir_all(etc.join("sasl")).unwrap();
        std::fs::copy(pki.path("server.pem"), etc.join("server.pem")).unwrap();
        std::fs::copy(pki.path("server.key"), etc.join("server.key")).unwrap();
        let mail = d.join("mail");
        std::fs::create_dir(&mail).unwrap();
        run(Command::new("chown").args(["65534:65534"]).arg(&mail));
        std::fs::create_dir(d.join("queue")).unwrap();
        std::fs::create_dir(d.join("data")).unwrap();
        run(Command::new("chown").arg("postfix").arg(d.join("data")));
        let (plain, submission, smtps, small) =
            (free_port(), free_port(), free_port(), free_port());
        let ds = d.display();
        std::fs::write(
            etc.join("main.cf"),
            format!(
                "compatibility_level = 3.6
queue_directory = {ds}/queue
data_directory = {ds}/data
maillog_file = {ds}/maillog
maillog_file_prefixes = {ds}
myhostname = mx.example.test
mydomain = example.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
virtual_mailbox_domains = example.test
virtual_mailbox_base = {ds}/mail
virtual_mailbox_maps = static:catchall/
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
relayhost = [127.0.0.1]:1
smtpd_tls_cert_file = {ds}/etc/server.pem
smtpd_tls_key_file = {ds}/etc/server.key
smtpd_tls_security_level = may
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = {ds}/etc/sasl
smtpd_sasl_local_domain = mx.example.test
smtpd_recipient_restrictions = check_recipient_access inline:{{ reject@example.test=REJECT }}, permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
"
            ),
        )
        .unwrap();
        let auth = "-o smtpd_sasl_auth_enable=yes -o smtpd_client_restrictions=permit_sasl_authenticated,reject";
        std::fs::write(
            etc.join("master.cf"),
            format!(
                "{plain} inet n - n - - smtpd
{submission} inet n - n - - smtpd -o smtpd_tls_security_level=encrypt {auth}
{smtps} inet n - n - - smtpd -o smtpd_tls_wrappermode=yes {auth}
{small} inet n - n - - smtpd -o message_size_limit={SMALL_LIMIT}
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
virtual unix - n n - - virtual
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"
            ),
        )
        .unwrap();
        let sasldb = etc.join("sasldb2");
        std::fs::write(
            etc.join("sasl/smtpd.conf"),
            format!(
                "pwcheck_method: auxprop\nauxprop_plugin: sasldb\nmech_list: PLAIN LOGIN\nsasldb_path: {}\n",
                sasldb.display()
            ),
        )
        .unwrap();
        let mut child = Command::new("saslpasswd2")
            .args(["-p", "-c", "-f"])
            .arg(&sasldb)
            .args(["-u", "mx.example.test", USER])
            .stdin(Stdio::piped())
            .spawn()
            .expect("saslpasswd2 (sasl2-bin) is needed");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(PASSWORD.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "saslpasswd2 failed");
        run(Command::new("chown").arg("postfix").arg(&sasldb));
        run(Command::new("postfix").arg("-c").arg(&etc).arg("check"));
        let master = Command::new("postfix")
            .arg("-c")
            .arg(&etc)
            .arg("start-fg")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("postfix start-fg");
        let deadline = Instant::now() + Duration::from_secs(30);
        for p in [plain, submission, smtps, small] {
            wait_for_port(p, deadline);
        }
        Postfix {
            dir,
            master: Some(master),
            plain,
            submission,
            smtps,
            small,
        }
    }

    /// The catch-all Maildir: every message delivered to @example.test.
    pub fn maildir(&self) -> PathBuf {
        self.dir.path().join("mail/catchall/new")
    }

    /// Waits until `n` messages were delivered; returns them, oldest first.
    pub fn wait_for(&self, n: usize) -> Vec<Vec<u8>> {
        super::wait_for_maildir(&self.maildir(), n, || self.log())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default()
    }

    fn etc(&self) -> PathBuf {
        self.dir.path().join("etc")
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = Command::new("postfix")
            .arg("-c")
            .arg(self.etc())
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(mut m) = self.master.take() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while m.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = m.kill();
            let _ = m.wait();
        }
        // The master may outlive its start-fg parent: kill it by its pid file.
        if let Ok(pid) = std::fs::read_to_string(self.dir.path().join("queue/pid/master.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}
