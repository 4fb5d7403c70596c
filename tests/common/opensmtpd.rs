//! A private OpenSMTPD 6.8 on loopback, plain SMTP only: its own smtpd.conf,
//! queue, control socket and Maildir in a temporary folder.
//!
//! How it runs (Debian 12, opensmtpd 6.8.0p2-4+b4):
//! - The package conflicts with postfix, so scripts/setup-deps unpacks its
//!   .deb with `dpkg-deb -x` into `target/mta-root` (see [`super::mta_root`]).
//! - smtpd has its paths compiled in and no option to move them: the queue
//!   in /var/spool/smtpd, the control socket and pid file in /var/run (a
//!   second instance refuses to start while the socket answers), the
//!   privilege-separation chroot /var/lib/opensmtpd/empty, and its delivery
//!   helpers (mail.maildir, mail.mda) in /usr/libexec/opensmtpd. So each
//!   instance runs in its own mount namespace (`unshare --mount`, root
//!   needed): a private folder is bind-mounted over /var, and the unpacked
//!   /usr/libexec is stacked over the system's with a read-only overlay.
//!   Outside the namespace nothing changes; the mounts go with the last
//!   process. `smtpd -d` stays in the foreground, stopped by its PID.
//! - The users `opensmtpd` and `opensmtpq` must exist (smtpd exits with
//!   "unknown user" otherwise): its unprivileged processes run as them,
//!   chrooted. setup-deps adds them, as the package's postinst would.
//! - Delivery to a Maildir as `nobody` (a `virtual` table maps every
//!   recipient to it).
//!
//! Plain SMTP only: OpenSMTPD 6.8's TLS does not work on Debian 12 with
//! OpenSSL 3 (OpenSMTPD issues #1171 and #1239). Tried here with `listen on
//! ... tls pki` and `... smtps pki`: every handshake ends in a "tlsv1 alert
//! internal error" and smtpd logs `io-error: error:0A080006:SSL
//! routines::EVP lib`. So no STARTTLS, no SMTPS, and hence no AUTH either
//! ("auth requires tls/smtps" is a config error).
//!
//! Refusals, always on: a sender local part starting with `reject` / `busy`
//! gets 550 5.7.1 / 451 4.3.0 at MAIL FROM, a recipient one 550 5.1.1 /
//! 451 4.3.0 at RCPT TO (builtin filters).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{free_port, mta_root, stop_child, wait_for_listen, wait_for_maildir};

#[derive(Clone)]
pub struct OpenSmtpdBuilder {
    max_mails: u32,
    max_rcpt: Option<u32>,
    max_message_size: Option<String>,
}

impl OpenSmtpdBuilder {
    /// `smtp limit max-mails`: after n accepted messages in a session, MAIL
    /// gets `452 4.5.3 Too many recipients: Too many messages sent` (refused
    /// ones do not count). Default 100 (smtpd's own).
    pub fn max_mails(mut self, n: u32) -> Self {
        self.max_mails = n;
        self
    }

    /// `smtp limit max-rcpt` per transaction. Default 1000.
    pub fn max_rcpt(mut self, n: u32) -> Self {
        self.max_rcpt = Some(n);
        self
    }

    /// `smtp max-message-size`, e.g. "20K": larger gets
    /// `554 5.3.4 Message too big for system`. Default 35M.
    pub fn max_message_size(mut self, size: &str) -> Self {
        self.max_message_size = Some(size.to_string());
        self
    }

    pub fn start(self) -> OpenSmtpd {
        OpenSmtpd::start_with(self)
    }
}

pub struct OpenSmtpd {
    dir: tempfile::TempDir,
    child: Option<Child>,
    pub port: u16,
}

fn run(cmd: &mut Command) {
    super::smime::run_ok(cmd);
}

impl OpenSmtpd {
    pub fn builder() -> OpenSmtpdBuilder {
        OpenSmtpdBuilder {
            max_mails: 100,
            max_rcpt: None,
            max_message_size: None,
        }
    }

    pub fn start() -> OpenSmtpd {
        Self::builder().start()
    }

    fn start_with(b: OpenSmtpdBuilder) -> OpenSmtpd {
        use std::os::unix::fs::PermissionsExt;
        let root = mta_root();
        let smtpd = root.join("usr/sbin/smtpd");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // The mda runs as nobody and must reach the Maildir.
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        // What smtpd finds as /var in its namespace.
        for sub in ["var/spool", "var/run", "var/lib/opensmtpd/empty", "mail"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        run(Command::new("chown").arg("nobody").arg(d.join("mail")));
        let port = free_port();
        let ds = d.display();
        let mut conf = format!(
            r#"table catchall {{ "@" = "nobody" }}
table refused {{ "^reject" }}
table deferred {{ "^busy" }}
smtp limit max-mails {max_mails}
"#,
            max_mails = b.max_mails
        );
        if let Some(n) = b.max_rcpt {
            conf += &format!("smtp limit max-rcpt {n}\n");
        }
        if let Some(s) = &b.max_message_size {
            conf += &format!("smtp max-message-size {s}\n");
        }
        conf += &format!(
            r#"filter "mail-reject" phase mail-from match mail-from regex <refused> reject "550 5.7.1 Sender refused by the test filter"
filter "mail-busy" phase mail-from match mail-from regex <deferred> reject "451 4.3.0 Sender deferred by the test filter"
filter "rcpt-reject" phase rcpt-to match rcpt-to regex <refused> reject "550 5.1.1 Recipient refused by the test filter"
filter "rcpt-busy" phase rcpt-to match rcpt-to regex <deferred> reject "451 4.3.0 Recipient deferred by the test filter"
filter "tests" chain {{ "mail-reject", "mail-busy", "rcpt-reject", "rcpt-busy" }}
listen on 127.0.0.1 port {port} hostname mx.example.test filter "tests"
action "deliver" maildir "{ds}/mail" virtual <catchall>
match from any for domain "example.test" action "deliver"
"#
        );
        let config = d.join("smtpd.conf");
        std::fs::write(&config, conf).unwrap();
        run(Command::new(&smtpd).arg("-n").arg("-f").arg(&config));
        let out = std::fs::File::create(d.join("smtpd.log")).unwrap();
        let mut child = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg(
                r#"mount --bind "$1/var" /var &&
mount -t overlay overlay -o "lowerdir=$2/usr/libexec:/usr/libexec" /usr/libexec &&
exec "$2/usr/sbin/smtpd" -d -f "$1/smtpd.conf""#,
            )
            .arg("sh")
            .arg(d)
            .arg(&root)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("unshare (util-linux)");
        let log = || std::fs::read_to_string(d.join("smtpd.log")).unwrap_or_default();
        wait_for_listen(port, &mut child, "smtpd", log);
        OpenSmtpd {
            dir,
            child: Some(child),
            port,
        }
    }

    /// The MAILSMTP property string for this instance, `extra` appended.
    pub fn props(&self, extra: &str) -> String {
        format!(
            "Server=127.0.0.1;port={};Sender=\"Tech <tech@example.test>\";Timeout=20;{extra}",
            self.port
        )
    }

    /// The catch-all Maildir: every message delivered to @example.test.
    pub fn maildir(&self) -> PathBuf {
        self.dir.path().join("mail/new")
    }

    /// Waits until `n` messages were delivered; returns them, oldest first,
    /// as delivered (LF line ends, Return-Path and Delivered-To added).
    pub fn wait_for(&self, n: usize) -> Vec<Vec<u8>> {
        wait_for_maildir(&self.maildir(), n, || self.log())
    }

    /// smtpd's log (its stderr under -d).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("smtpd.log")).unwrap_or_default()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for OpenSmtpd {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            stop_child(child);
        }
    }
}
