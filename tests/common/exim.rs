//! A private Exim 4.96 on loopback: its own config, spool, logs and Maildir
//! in a temporary folder, one port, options set by a builder.
//!
//! How it runs (Debian 12, exim4-daemon-heavy 4.96-15+deb12u11, GnuTLS):
//! - The package conflicts with postfix, so scripts/setup-deps unpacks its
//!   .deb with `dpkg-deb -x` into `target/mta-root` (see [`super::mta_root`])
//!   and the binary runs from there: `exim4 -C <config> -bdf`, the daemon in
//!   the foreground, stopped by its PID. `exim_path` in the config points
//!   re-execs (delivery, DSNs) at that binary, not at /usr/sbin/exim4.
//! - The binary looks up its compiled-in user `Debian-exim` before reading any
//!   config, so that user must exist (setup-deps adds it). Started by root
//!   with a `-C` config that is not in the compiled-in trusted list, Exim gives
//!   up root at once and runs everything (daemon, reception, delivery) as
//!   `Debian-exim` ("exim user lost privilege for using -C option" in
//!   mainlog): the helper hands spool, log and Maildir to that user and gives
//!   it a copy of the TLS key. Not as another user: Exim answers `-bd` from a
//!   caller who is neither root nor an admin (Debian-exim group) with "exim:
//!   permission denied" (tried with `setpriv --reuid=nobody`); the suite runs
//!   as root anyway (Postfix and OpenSMTPD need it).
//! - No port is privileged and no DNS is asked (`host_lookup =`).
//!
//! Refusals at each step, always on whatever the builder says, chosen by the
//! test through addresses and the Subject (the content check runs after DATA's
//! dot or BDAT LAST):
//!
//! | step      | 5xx (deny)                   | 4xx (defer)                |
//! |-----------|------------------------------|----------------------------|
//! | MAIL FROM | `reject…@`: 550 5.7.1        | `busy…@`: 451 4.3.0        |
//! | RCPT TO   | `reject…@`: 550 5.1.1        | `busy…@`: 451 4.3.0        |
//! | content   | Subject `[reject]`: 550 5.6.0 | Subject `[busy]`: 451 4.3.0 |
//!
//! With [`EximBuilder::auth`], MAIL without AUTH gets 530 5.7.0 first.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::pki::Pki;
use super::{free_port, mta_root, stop_child, wait_for_listen, wait_for_maildir};

pub const USER: &str = "exuser";
pub const PASSWORD: &str = "Ex-s3cret";

const ACLS_ROUTERS_TRANSPORTS: &str = r"
begin acl
acl_mail:
@NEED_AUTH@  deny    message = 550 5.7.1 Sender refused by the test ACL
          senders = ^reject
  defer   message = 451 4.3.0 Sender deferred by the test ACL
          senders = ^busy
  accept

acl_rcpt:
  deny    message = 550 5.1.1 Recipient refused by the test ACL
          local_parts = ^reject
  defer   message = 451 4.3.0 Recipient deferred by the test ACL
          local_parts = ^busy
  accept

acl_data:
  deny    message = 550 5.6.0 Content refused by the test ACL
          condition = ${if match{$h_subject:}{\N\[reject\]\N}}
  defer   message = 451 4.3.0 Content deferred by the test ACL
          condition = ${if match{$h_subject:}{\N\[busy\]\N}}
  accept

begin routers
catchall:
  driver = accept
  transport = maildir

begin transports
maildir:
  driver = appendfile
  directory = @DIR@/mail
  maildir_format
  create_directory
  delivery_date_add
  envelope_to_add
  return_path_add
";

const AUTHENTICATORS: &str = r"
begin authenticators
plain:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_condition = ${if and {{eq{$auth2}{@USER@}}{eq{$auth3}{@PASSWORD@}}}}
  server_set_id = $auth2
@ADVERTISE@

login:
  driver = plaintext
  public_name = LOGIN
  server_prompts = Username:: : Password::
  server_condition = ${if and {{eq{$auth1}{@USER@}}{eq{$auth2}{@PASSWORD@}}}}
  server_set_id = $auth1
@ADVERTISE@
";

/// How the one port speaks TLS.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TlsMode {
    /// No TLS offered.
    None,
    /// STARTTLS advertised.
    StartTls,
    /// TLS from the first byte (`tls_on_connect_ports`).
    Smtps,
}

/// The options of one instance. Each default is Exim 4.96's own, so a test
/// states only what it changes.
#[derive(Clone)]
pub struct EximBuilder {
    tls: TlsMode,
    cert: Option<(Vec<u8>, Vec<u8>)>,
    auth: bool,
    dsn: bool,
    smtputf8: bool,
    pipelining: bool,
    chunking: bool,
    size_limit: Option<String>,
    max_per_connection: Option<u32>,
    receive_timeout: Option<String>,
}

impl EximBuilder {
    /// STARTTLS (or SMTPS) with the `server` certificate of `pki` (signed by
    /// its `ca.pem`, valid for 127.0.0.1). Default: no TLS.
    pub fn tls(mut self, mode: TlsMode, pki: &Pki) -> Self {
        self.tls = mode;
        self.cert = Some((
            std::fs::read(pki.path("server.pem")).unwrap(),
            std::fs::read(pki.path("server.key")).unwrap(),
        ));
        self
    }

    /// AUTH PLAIN and LOGIN for [`USER`]:[`PASSWORD`] (plaintext
    /// authenticators), advertised only under TLS when TLS is on, and MAIL
    /// refused with 530 5.7.0 without it. Default: no AUTH.
    pub fn auth(mut self) -> Self {
        self.auth = true;
        self
    }

    /// DSN advertised (`dsn_advertise_hosts = *`); Exim then sends success
    /// reports, which land in the same Maildir. Default: off.
    pub fn dsn(mut self) -> Self {
        self.dsn = true;
        self
    }

    /// `smtputf8_advertise_hosts`. Default: on.
    pub fn smtputf8(mut self, on: bool) -> Self {
        self.smtputf8 = on;
        self
    }

    /// `pipelining_advertise_hosts`. Default: on.
    pub fn pipelining(mut self, on: bool) -> Self {
        self.pipelining = on;
        self
    }

    /// `chunking_advertise_hosts` (BDAT). Default: on.
    pub fn chunking(mut self, on: bool) -> Self {
        self.chunking = on;
        self
    }

    /// `message_size_limit`, e.g. "20K" (SIZE advertises it; larger gets
    /// 552). Default: 50M.
    pub fn size_limit(mut self, limit: &str) -> Self {
        self.size_limit = Some(limit.to_string());
        self
    }

    /// `smtp_accept_max_per_connection`: MAIL command n+1 of a connection
    /// (refused ones count too) gets "421 too many messages in this
    /// connection" and the connection closes. Default: 1000.
    pub fn max_per_connection(mut self, n: u32) -> Self {
        self.max_per_connection = Some(n);
        self
    }

    /// `smtp_receive_timeout`, e.g. "5s": a client idle that long between
    /// commands or data lines gets "421 ... SMTP incoming data timeout" and
    /// the connection closes. Default: 5m.
    pub fn receive_timeout(mut self, t: &str) -> Self {
        self.receive_timeout = Some(t.to_string());
        self
    }

    pub fn start(self) -> Exim {
        Exim::start_with(self)
    }
}

pub struct Exim {
    dir: tempfile::TempDir,
    child: Option<Child>,
    pub port: u16,
    pub tls: TlsMode,
}

fn hosts(on: bool) -> &'static str {
    if on { "*" } else { "" }
}

/// The uid Exim runs as when root starts it (see the module comment).
fn exim_uid() -> u32 {
    let out = Command::new("id")
        .args(["-u", "Debian-exim"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "no user Debian-exim: run scripts/setup-deps"
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

impl Exim {
    pub fn builder() -> EximBuilder {
        EximBuilder {
            tls: TlsMode::None,
            cert: None,
            auth: false,
            dsn: false,
            smtputf8: true,
            pipelining: true,
            chunking: true,
            size_limit: None,
            max_per_connection: None,
            receive_timeout: None,
        }
    }

    /// Plain SMTP, every other option at Exim's default.
    pub fn start() -> Exim {
        Self::builder().start()
    }

    fn start_with(b: EximBuilder) -> Exim {
        use std::os::unix::fs::{PermissionsExt, chown};
        let exim = mta_root().join("usr/sbin/exim4");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // Exim, as Debian-exim, must reach its files below the temp dir.
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        let uid = Some(exim_uid());
        for sub in ["spool", "log", "mail", "etc"] {
            std::fs::create_dir(d.join(sub)).unwrap();
            chown(d.join(sub), uid, None).unwrap();
        }
        let port = free_port();
        let ds = d.display();
        let mut conf = format!(
            "exim_path = {exim}
primary_hostname = mx.example.test
qualify_domain = example.test
spool_directory = {ds}/spool
log_file_path = {ds}/log/%slog
pid_file_path = {ds}/exim.pid
log_selector = +smtp_connection +smtp_protocol_error +smtp_syntax_error \
+smtp_incomplete_transaction +smtp_no_mail +received_recipients +tls_cipher +pipelining
daemon_smtp_ports = {port}
local_interfaces = 127.0.0.1
keep_environment =
host_lookup =
rfc1413_hosts =
acl_smtp_mail = acl_mail
acl_smtp_rcpt = acl_rcpt
acl_smtp_data = acl_data
dsn_advertise_hosts = {dsn}
smtputf8_advertise_hosts = {utf8}
pipelining_advertise_hosts = {pipe}
chunking_advertise_hosts = {chunk}
",
            exim = exim.display(),
            dsn = hosts(b.dsn),
            utf8 = hosts(b.smtputf8),
            pipe = hosts(b.pipelining),
            chunk = hosts(b.chunking),
        );
        if let Some(l) = &b.size_limit {
            conf += &format!("message_size_limit = {l}\n");
        }
        if let Some(n) = b.max_per_connection {
            conf += &format!("smtp_accept_max_per_connection = {n}\n");
        }
        if let Some(t) = &b.receive_timeout {
            conf += &format!("smtp_receive_timeout = {t}\n");
        }
        match (b.tls, &b.cert) {
            (TlsMode::None, _) => conf += "tls_advertise_hosts =\n",
            (mode, Some((cert, key))) => {
                for (name, bytes) in [("server.pem", cert), ("server.key", key)] {
                    let p = d.join("etc").join(name);
                    std::fs::write(&p, bytes).unwrap();
                    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
                    chown(&p, uid, None).unwrap();
                }
                conf += &format!(
                    "tls_advertise_hosts = *\ntls_certificate = {ds}/etc/server.pem\ntls_privatekey = {ds}/etc/server.key\n"
                );
                if mode == TlsMode::Smtps {
                    conf += &format!("tls_on_connect_ports = {port}\n");
                }
            }
            (_, None) => unreachable!("tls() sets the certificate"),
        }
        let need_auth = if b.auth {
            "  deny    message = 530 5.7.0 Authentication required
          !authenticated = *
"
        } else {
            ""
        };
        conf += &ACLS_ROUTERS_TRANSPORTS
            .replace("@NEED_AUTH@", need_auth)
            .replace("@DIR@", &ds.to_string());
        if b.auth {
            let advertise = if b.tls == TlsMode::None {
                ""
            } else {
                "  server_advertise_condition = ${if def:tls_in_cipher}\n"
            };
            conf += &AUTHENTICATORS
                .replace("@ADVERTISE@\n", advertise)
                .replace("@USER@", USER)
                .replace("@PASSWORD@", PASSWORD);
        }
        let config = d.join("exim.conf");
        std::fs::write(&config, conf).unwrap();
        let out = std::fs::File::create(d.join("daemon.out")).unwrap();
        let mut child = Command::new(&exim)
            .arg("-C")
            .arg(&config)
            .arg("-bdf")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e} (run scripts/setup-deps)", exim.display()));
        let log = || Self::read_logs(d);
        wait_for_listen(port, &mut child, "exim", log);
        Exim {
            dir,
            child: Some(child),
            port,
            tls: b.tls,
        }
    }

    /// The MAILSMTP property string for this instance: STARTTLS or SMTPS as
    /// configured, the pki CA trusted, `extra` appended.
    pub fn props(&self, pki: &Pki, extra: &str) -> String {
        let tls = match self.tls {
            TlsMode::None => "",
            TlsMode::StartTls => "enableSSL=true;",
            TlsMode::Smtps => "SSLType=SMTPS;",
        };
        format!(
            "Server=127.0.0.1;port={};Sender=\"Tech <tech@example.test>\";Timeout=20;{tls}TrustCert=\"{}\";{extra}",
            self.port,
            pki.path("ca.pem").display()
        )
    }

    /// The catch-all Maildir: every delivered message, DSNs included.
    pub fn maildir(&self) -> PathBuf {
        self.dir.path().join("mail/new")
    }

    /// Waits until `n` messages were delivered; returns them, oldest first,
    /// as delivered (LF line ends, Return-path and Envelope-to added).
    pub fn wait_for(&self, n: usize) -> Vec<Vec<u8>> {
        wait_for_maildir(&self.maildir(), n, || self.log())
    }

    /// mainlog, rejectlog, paniclog and the daemon's own output.
    pub fn log(&self) -> String {
        Self::read_logs(self.dir.path())
    }

    fn read_logs(d: &Path) -> String {
        ["log/mainlog", "log/rejectlog", "log/paniclog", "daemon.out"]
            .iter()
            .map(|f| {
                let text = std::fs::read_to_string(d.join(f)).unwrap_or_default();
                format!("== {f}\n{text}")
            })
            .collect()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Exim {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            stop_child(child);
        }
    }
}
