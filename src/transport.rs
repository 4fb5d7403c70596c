//! The SMTP side of a session: TLS (STARTTLS required or implicit), AUTH,
//! one connection kept open across MAILSENDs, the MAIL/RCPT/DATA dialogue
//! with DSN and per-recipient results, and the mapping of every failure to a
//! status code (docs/contract.md §4.9, §4.10, §8, §9 4xx/5xx).

use std::io;

use lettre::Address;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    Certificate, PendingInput, SmtpConnection, TlsParameters, TlsParametersBuilder, TlsVersion,
};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::{
    ClientId, Extension, MailBodyParameter, MailParameter, RcptParameter,
};
use lettre::transport::smtp::response::Response;

use crate::compose::Outgoing;
use crate::error::{Error, LnccmdStatus, Result};
use crate::props::escape_controls;
use crate::settings::{AuthMethod, Credential, Endpoint, TlsMode};

type SmtpError = lettre::transport::smtp::Error;

/// An open SMTP connection and the endpoint it was opened for.
pub struct Connection {
    endpoint: Endpoint,
    smtp: SmtpConnection,
    /// When it last carried a command: an idle connection is checked with NOOP.
    last_used: std::time::Instant,
    /// The process that opened it: after fork() the child must never write
    /// to the socket it shares with its parent (`forget_if_inherited`).
    pid: u32,
    /// Under TLS, what was negotiated and with whom (`MAILINFO TLS`, the log).
    tls: Option<TlsInfo>,
}

/// An encrypted connection: "TLSv1.3 TLS_AES_256_GCM_SHA384" and the
/// relay certificate's subject ("CN=mx.example.com").
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsInfo {
    pub protocol: String,
    pub subject: String,
}

/// What the sender asks of the transport for one message.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Delivery status notifications: RET=HDRS, ENVID, NOTIFY on each RCPT.
    pub dsn: bool,
}

/// What a successful DATA transaction reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Recipients the server refused, with its reply ("550 5.1.1 no such user").
    pub refused: Vec<(Address, String)>,
    /// The server's reply to the final dot.
    pub reply: String,
    /// A report was asked for but the server does not offer DSN.
    pub dsn_not_offered: bool,
    /// The server's queue id for the message, when its reply says it.
    pub queue_id: Option<String>,
    /// Under TLS, what was negotiated and the relay's certificate subject.
    pub tls: Option<TlsInfo>,
}

/// The step of the dialogue a failure happened in; decides the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Connect,
    Tls,
    Mail,
    Data,
    Message,
}

impl Stage {
    fn waiting_for(self) -> &'static str {
        match self {
            Stage::Connect => "the greeting or the reply to EHLO",
            Stage::Tls => "the TLS handshake",
            Stage::Mail => "the reply to MAIL FROM or RCPT TO",
            Stage::Data => "the reply to DATA",
            Stage::Message => "the reply to the end of the message",
        }
    }
}

/// True when an I/O error in the chain is a socket timeout. lettre's own
/// `is_timeout()` misses Linux read timeouts, which come back as WouldBlock;
/// a TLS handshake cut by the timeout says "interrupted".
fn is_timeout(e: &SmtpError) -> bool {
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<io::Error>()
            && matches!(
                io.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            )
        {
            return true;
        }
        src = s.source();
    }
    e.to_string().contains("handshake process was interrupted")
}

/// "550 5.1.1 <x@y>: Recipient address rejected" from a reply error.
/// The server's words are escaped: a hostile server could send control bytes.
fn reply_text(e: &SmtpError) -> String {
    let text = match (e.status(), std::error::Error::source(e)) {
        (Some(code), Some(text)) => format!("{code} {text}"),
        (Some(code), None) => code.to_string(),
        (None, _) => e.to_string(),
    };
    escape_controls(&text, 500)
}

/// The enhanced status code (RFC 3463) at the start of a reply's text
/// ("550 5.1.1 ..." gives `('5', 1, 1)`), when it has one that agrees with
/// the basic code's class.
fn enhanced_code(reply: &str) -> Option<(char, u16, u16)> {
    let mut words = reply.split_whitespace();
    let basic = words.next()?;
    let mut parts = words.next()?.split('.');
    let class = parts.next()?;
    let subject: u16 = parts.next()?.parse().ok()?;
    let detail: u16 = parts.next()?.parse().ok()?;
    let class = match class {
        "2" | "4" | "5" if basic.starts_with(class) => class.chars().next()?,
        _ => return None,
    };
    if parts.next().is_some() || subject > 999 || detail > 999 {
        return None;
    }
    Some((class, subject, detail))
}

/// Maps a failure to a status, with a message naming the server and the step.
fn classify(e: &SmtpError, stage: Stage, ep: &Endpoint) -> Error {
    let server = ep.display();
    if is_timeout(e) {
        return Error::new(
            LnccmdStatus::Timeout,
            format!(
                "no answer from {server} within {} s while waiting for {}",
                ep.timeout.as_secs(),
                stage.waiting_for()
            ),
        );
    }
    if let Some(code) = e.status() {
        let reply = reply_text(e);
        // The enhanced status code (RFC 3463), when the reply has one, says
        // what was wrong more precisely than the basic code: OpenSMTPD says
        // "554 5.3.4" for a message too big, Exim "552" with 5.7.x for policy.
        let enhanced = enhanced_code(&reply);
        let too_large = match enhanced {
            Some((_, subject, detail)) => {
                (subject, detail) == (3, 4) || (subject, detail) == (2, 3)
            }
            None => code.to_string() == "552" && stage != Stage::Mail,
        };
        let (status, what) = if e.is_transient() {
            (LnccmdStatus::TemporaryFailure, "temporarily refused")
        } else if too_large && stage != Stage::Connect && stage != Stage::Tls {
            (LnccmdStatus::TooLarge, "refused the message as too large")
        } else {
            match stage {
                Stage::Connect | Stage::Tls => (LnccmdStatus::Connect, "refused the session"),
                Stage::Mail => (LnccmdStatus::SenderRefused, "refused the sender"),
                Stage::Data | Stage::Message => {
                    (LnccmdStatus::MessageRefused, "refused the message")
                }
            }
        };
        return Error::new(status, format!("server {server} {what}: {reply}"));
    }
    let text = e.to_string();
    if text.contains("STARTTLS injection") {
        return Error::new(
            LnccmdStatus::TlsHandshake,
            format!(
                "{server} sent data after its reply to STARTTLS, before the TLS handshake (STARTTLS injection): connection closed, nothing sent"
            ),
        );
    }
    if stage == Stage::Tls || e.is_tls() {
        let status = if text.contains("certificate verify failed") {
            LnccmdStatus::CertNotTrusted
        } else {
            LnccmdStatus::TlsHandshake
        };
        let detail = text.strip_prefix("Connection error: ").unwrap_or(&text);
        return Error::new(
            status,
            format!("TLS handshake with {server} failed: {detail}"),
        );
    }
    if e.is_response() && !text.contains("incomplete response") {
        return Error::new(
            LnccmdStatus::Protocol,
            format!(
                "{server} sent a reply that is not valid SMTP while we waited for {}: {text}",
                stage.waiting_for()
            ),
        );
    }
    if stage == Stage::Connect && !text.contains("incomplete response") {
        return Error::new(
            LnccmdStatus::Connect,
            format!("cannot connect to {server}: {text}"),
        );
    }
    Error::new(
        LnccmdStatus::ConnectionLost,
        format!(
            "connection to {server} lost while waiting for {}: {text}",
            stage.waiting_for()
        ),
    )
}

/// TLS 1.2 at least; the server's name (SNI and verification) is `Server`.
/// The connector is the process's for the endpoint's trust configuration,
/// built at the first connection that needs it (`connectors`); the name is
/// each connection's, and OpenSSL checks it at each handshake.
fn tls_parameters(ep: &Endpoint) -> Result<TlsParameters> {
    if let Some(params) = connectors::get(ep) {
        return Ok(params.with_domain(ep.server.clone()));
    }
    // Built without the cache's lock held: it takes tens of milliseconds.
    let params = build_tls_parameters(ep)?;
    connectors::put(ep, &params);
    Ok(params)
}

/// A new connector: parses the system's trust store (native-tls reads the
/// CA bundle twice on Linux: once for OpenSSL's default paths, once for
/// openssl-probe's) and `TrustCert`. 25 to 60 ms of CPU (BENCHMARKS.md,
/// "Issue #13 item 5"), against well under 1 ms for the handshake itself.
fn build_tls_parameters(ep: &Endpoint) -> Result<TlsParameters> {
    let fail = |e: lettre::transport::smtp::Error| {
        Error::new(
            LnccmdStatus::TlsHandshake,
            format!("cannot set up TLS for {}: {e}", ep.display()),
        )
    };
    let mut b =
        TlsParametersBuilder::new(ep.server.clone()).set_min_tls_version(TlsVersion::Tlsv12);
    if ep.test_mode {
        b = b
            .dangerous_accept_invalid_certs(true)
            .dangerous_accept_invalid_hostnames(true);
    }
    for pem in &ep.trust {
        b = b.add_root_certificate(Certificate::from_pem(pem).map_err(fail)?);
    }
    // build_native: OpenSSL, whatever other TLS features lettre may get.
    b.build_native().map_err(fail)
}

/// The process's TLS connectors, one per trust configuration: everything
/// `build_tls_parameters` takes from the endpoint but the server name
/// (`useTestMode`, the `TrustCert` certificates; the minimum version is the
/// same for all). A connector holds a parsed trust store and settings, no
/// connection; a clone is a reference to the same `SSL_CTX`, which OpenSSL
/// lets any number of threads use at once. Two sessions share a connector
/// only when their trust is the same, byte for byte.
///
/// fork(): the cache's lock is a leaf (nothing else is locked while it is
/// held, and it is held for a scan of a few entries), and the registry's
/// fork handlers hold it across fork() (`lock_for_fork`), so a child never
/// inherits it held. A connector itself is not shared with a child: OpenSSL
/// takes the trust store's lock (`X509_STORE_lock`, a write lock) while it
/// looks up an issuer during each handshake's verification, so a parent
/// thread in a handshake at the fork would leave that lock held forever in
/// the child's copy, and the child's first handshake with it would hang.
/// The entries record the process that built them; a child builds its own
/// and leaks (never frees: freeing destroys a lock that may be held) the
/// parent's, so whatever else a context locks, a child never waits on a
/// lock of its parent's contexts. In tests/fork.rs,
/// `fork_a_child_never_writes_to_the_parents_tls_connection` has children
/// connect over TLS after their parent did.
pub(crate) mod connectors {
    use std::sync::{Mutex, MutexGuard, PoisonError};
    use std::time::{Duration, Instant};

    use lettre::transport::smtp::client::TlsParameters;
    use once_cell::sync::Lazy;

    use crate::settings::Endpoint;

    /// Enough for every trust configuration a program uses; past it the
    /// oldest entry goes (a connection using it keeps its own reference).
    const MAX: usize = 16;
    /// A long-running process picks up a changed system CA bundle within
    /// this time: one rebuild an hour is nothing against one per connection.
    const MAX_AGE: Duration = Duration::from_secs(3600);

    struct Entry {
        test_mode: bool,
        trust: Vec<Vec<u8>>,
        params: TlsParameters,
        built: Instant,
    }

    pub(crate) struct Cache {
        /// The process the entries were built in (see the module's fork note).
        pid: u32,
        /// A few entries: a scan compares less than hashing the certificates.
        entries: Vec<Entry>,
    }

    static CACHE: Lazy<Mutex<Cache>> = Lazy::new(|| {
        Mutex::new(Cache {
            pid: std::process::id(),
            entries: Vec::new(),
        })
    });

    /// The lock, this process's entries only. The entries hold no state a
    /// panic could leave half-changed: a poisoned lock is used as is.
    fn cache() -> MutexGuard<'static, Cache> {
        let mut c = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
        let pid = std::process::id();
        if c.pid != pid {
            std::mem::forget(std::mem::take(&mut c.entries));
            c.pid = pid;
        }
        c
    }

    /// The cache's lock, which the registry's fork handlers hold across
    /// fork() so that a child never inherits it held by a thread it does not have.
    pub(crate) fn lock_for_fork() -> MutexGuard<'static, Cache> {
        CACHE.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn same(e: &Entry, ep: &Endpoint) -> bool {
        e.test_mode == ep.test_mode && e.trust == ep.trust
    }

    /// The connector for `ep`'s trust, if one was built in this process
    /// less than `MAX_AGE` ago (its domain is that of its first connection).
    pub(super) fn get(ep: &Endpoint) -> Option<TlsParameters> {
        cache()
            .entries
            .iter()
            .find(|e| same(e, ep) && e.built.elapsed() < MAX_AGE)
            .map(|e| e.params.clone())
    }

    /// Keeps `params` for `ep`'s trust, replacing an older one (two threads
    /// may have built one each, or it expired).
    pub(super) fn put(ep: &Endpoint, params: &TlsParameters) {
        let entry = Entry {
            test_mode: ep.test_mode,
            trust: ep.trust.clone(),
            params: params.clone(),
            built: Instant::now(),
        };
        let old = {
            let mut c = cache();
            let at = c.entries.iter().position(|e| same(e, ep)).or_else(|| {
                (c.entries.len() >= MAX).then(|| {
                    let oldest = c.entries.iter().enumerate().min_by_key(|(_, e)| e.built);
                    oldest.map_or(0, |(i, _)| i)
                })
            });
            match at {
                Some(i) => Some(std::mem::replace(&mut c.entries[i], entry)),
                None => {
                    c.entries.push(entry);
                    None
                }
            }
        };
        // Freed without the lock: freeing a trust store takes a while.
        drop(old);
    }

    /// When the connector for `ep`'s trust was built, if this process has one.
    #[cfg(test)]
    pub(super) fn built(ep: &Endpoint) -> Option<Instant> {
        cache()
            .entries
            .iter()
            .find(|e| same(e, ep))
            .map(|e| e.built)
    }

    #[cfg(test)]
    pub(super) fn len() -> usize {
        cache().entries.len()
    }
}

/// The EHLO name: `HeloName`, else this host's fully qualified name, else
/// the address literal of the local address that reaches the server (RFC
/// 5321 §4.1.4). The short host name (`vm`) that lettre would send costs
/// spam points at an MX (SpamAssassin's HELO_NO_DOMAIN, FSL_HELO_NON_FQDN_1).
fn hello(ep: &Endpoint) -> ClientId {
    static FQDN: once_cell::sync::Lazy<Option<String>> =
        once_cell::sync::Lazy::new(crate::ffi::host_fqdn);
    if let Some(name) = &ep.helo {
        return ClientId::Domain(name.clone());
    }
    if let Some(name) = FQDN.as_ref() {
        return ClientId::Domain(name.clone());
    }
    // The local address a connection to the server would use: a UDP socket
    // "connected" to it asks the routing table, and sends nothing.
    let local = std::net::ToSocketAddrs::to_socket_addrs(&(ep.server.as_str(), ep.port))
        .ok()
        .and_then(|mut a| a.next())
        .and_then(|server| {
            let any: std::net::SocketAddr = if server.is_ipv4() {
                ([0, 0, 0, 0], 0).into()
            } else {
                (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
            };
            let udp = std::net::UdpSocket::bind(any).ok()?;
            udp.connect(server).ok()?;
            udp.local_addr().ok()
        });
    match local.map(|a| a.ip()) {
        Some(std::net::IpAddr::V4(ip)) => ClientId::Ipv4(ip),
        Some(std::net::IpAddr::V6(ip)) => ClientId::Ipv6(ip),
        None => ClientId::Ipv4(std::net::Ipv4Addr::LOCALHOST),
    }
}

fn open(ep: &Endpoint) -> Result<Connection> {
    // The OAuth2 token first: when the token endpoint fails, no connection
    // to the SMTP server was opened for nothing.
    let token = match ep.auth.as_ref().map(|a| &a.credential) {
        Some(Credential::OAuth2(client)) => Some(crate::oauth2::token(client)?),
        _ => None,
    };
    let hello = hello(ep);
    let addr = (ep.server.as_str(), ep.port);
    let timeout = Some(ep.timeout);
    let mut smtp = match ep.tls {
        TlsMode::None => {
            SmtpConnection::connect_traced(addr, timeout, &hello, None, None, tracer(ep))
                .map_err(|e| classify(&e, Stage::Connect, ep))?
        }
        TlsMode::Smtps => {
            let params = tls_parameters(ep)?;
            SmtpConnection::connect_traced(addr, timeout, &hello, Some(&params), None, tracer(ep))
                .map_err(|e| {
                // A TCP failure is a connect error; anything after it is TLS.
                let text = e.to_string();
                let tcp = text.contains("os error") && !text.contains("SSL");
                classify(&e, if tcp { Stage::Connect } else { Stage::Tls }, ep)
            })?
        }
        TlsMode::StartTls => {
            let params = tls_parameters(ep)?;
            let mut smtp =
                SmtpConnection::connect_traced(addr, timeout, &hello, None, None, tracer(ep))
                    .map_err(|e| classify(&e, Stage::Connect, ep))?;
            if !smtp.can_starttls() {
                smtp.abort();
                return Err(Error::new(
                    LnccmdStatus::StartTlsNotOffered,
                    format!(
                        "{} does not offer STARTTLS, which enableSSL=true requires: nothing was sent",
                        ep.display()
                    ),
                ));
            }
            // lettre sends EHLO again after the handshake: what the server
            // said before TLS is forgotten (RFC 3207 §4.2).
            smtp.starttls(&params, &hello)
                .map_err(|e| classify(&e, Stage::Tls, ep))?;
            smtp
        }
    };
    if let Some(auth) = &ep.auth {
        authenticate(&mut smtp, ep, auth, token)?;
    }
    let tls = smtp.is_encrypted().then(|| TlsInfo {
        protocol: smtp
            .tls_negotiated()
            .map(|(version, cipher)| format!("{version} {cipher}"))
            .unwrap_or_default(),
        subject: smtp
            .peer_certificate()
            .ok()
            .and_then(|der| openssl::x509::X509::from_der(&der).ok())
            .map(|cert| subject_text(cert.subject_name()))
            .unwrap_or_default(),
    });
    Ok(Connection {
        endpoint: ep.clone(),
        smtp,
        last_used: std::time::Instant::now(),
        pid: std::process::id(),
        tls,
    })
}

/// "CN=mx.example.com, O=Example": a certificate's subject as people read it.
fn subject_text(name: &openssl::x509::X509NameRef) -> String {
    name.entries()
        .map(|e| {
            let key = e.object().nid().short_name().unwrap_or("?");
            let value = e.data().to_string().unwrap_or_default();
            format!("{key}={}", escape_controls(&value, 200))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The protocol trace of `TraceFile`: every line of the dialogue with a
/// timestamp, `C:` what lnccmd sent, `S:` what the server answered; message
/// content only as its size; AUTH payloads and the client's answers to a
/// 334 challenge replaced, and the server's lines cleared of the
/// credentials as RESULT is (`redact`). The file is created 0600, like the
/// send log; a trace that cannot be written is dropped, never an error of
/// the send (it is for support cases).
fn tracer(ep: &Endpoint) -> Option<lettre::transport::smtp::client::Trace> {
    use lettre::transport::smtp::client::Traced;
    use std::io::Write;
    let path = ep.trace.as_ref()?;
    let mut file = crate::logfile::open(path).ok()?;
    let auth = ep.auth.clone();
    let server = ep.display();
    let mut challenged = false;
    let _ = writeln!(
        file,
        "{} -- connection to {server}",
        crate::compose::iso8601_now()
    );
    Some(Box::new(move |event: Traced<'_>| {
        let now = crate::compose::iso8601_now();
        let mut out = String::new();
        match event {
            Traced::Client(bytes) => {
                for line in String::from_utf8_lossy(bytes)
                    .split("\r\n")
                    .filter(|l| !l.is_empty())
                {
                    let upper = line.to_ascii_uppercase();
                    let shown = if challenged {
                        "[credentials removed]".to_string()
                    } else if upper.starts_with("AUTH ") {
                        let mut words = line.splitn(3, ' ');
                        let (verb, mechanism) =
                            (words.next().unwrap_or(""), words.next().unwrap_or(""));
                        match words.next() {
                            Some(_) => format!("{verb} {mechanism} [credentials removed]"),
                            None => format!("{verb} {mechanism}"),
                        }
                    } else {
                        escape_controls(line, 1000)
                    };
                    challenged = false;
                    out.push_str(&format!("{now} C: {shown}\n"));
                }
            }
            Traced::Content(n) => out.push_str(&format!("{now} C: [message content, {n} bytes]\n")),
            Traced::Server(line) => {
                let text = String::from_utf8_lossy(line);
                let text = text.trim_end_matches(['\r', '\n']);
                challenged = text.starts_with("334");
                let text = match &auth {
                    Some(a) => redact(text, a),
                    None => text.to_string(),
                };
                out.push_str(&format!("{now} S: {}\n", escape_controls(&text, 1000)));
            }
        }
        let _ = file.write_all(out.as_bytes());
    }))
}

/// AUTH with what the server offers (PLAIN before LOGIN with a password,
/// XOAUTH2 before OAUTHBEARER with a token) or `AuthMethod`; never over an
/// unencrypted connection unless AllowPlainAuth. `token` is the OAuth2
/// token `open` got for this connection: refused while it came from the
/// cache, it is renewed once and AUTH tried once more (issue #14).
fn authenticate(
    smtp: &mut SmtpConnection,
    ep: &Endpoint,
    auth: &crate::settings::Auth,
    token: Option<crate::oauth2::Token>,
) -> Result<()> {
    let result = authenticate_once_or_twice(smtp, ep, auth, token);
    if result.is_err() {
        // The server keeps the session open after a refused AUTH: end it
        // properly (RFC 5321 §4.1.1.10), QUIT and close_notify.
        smtp.abort();
    }
    result
}

fn authenticate_once_or_twice(
    smtp: &mut SmtpConnection,
    ep: &Endpoint,
    auth: &crate::settings::Auth,
    token: Option<crate::oauth2::Token>,
) -> Result<()> {
    if !smtp.is_encrypted() && !ep.allow_plain_auth {
        // Settings refuse this combination already; kept as the last guard.
        return Err(Error::new(
            LnccmdStatus::AuthUnavailable,
            "credentials would be sent over an unencrypted connection: nothing was sent",
        ));
    }
    let oauth2 = match &auth.credential {
        Credential::OAuth2(client) => Some(client),
        Credential::Password(_) => None,
    };
    let mechanisms: &[Mechanism] = match auth.method {
        None if oauth2.is_some() => &[Mechanism::Xoauth2, Mechanism::OAuthBearer],
        None => &[Mechanism::Plain, Mechanism::Login],
        Some(AuthMethod::Plain) => &[Mechanism::Plain],
        Some(AuthMethod::Login) => &[Mechanism::Login],
        Some(AuthMethod::Xoauth2) => &[Mechanism::Xoauth2],
        Some(AuthMethod::OAuthBearer) => &[Mechanism::OAuthBearer],
    };
    let offered = mechanisms
        .iter()
        .any(|m| smtp.server_info().supports_auth_mechanism(*m));
    if !offered {
        return Err(Error::new(
            LnccmdStatus::AuthUnavailable,
            format!(
                "{} offers no AUTH mechanism lnccmd can use ({}){}",
                ep.display(),
                mechanisms
                    .iter()
                    .map(|m| m.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                if smtp.is_encrypted() {
                    ""
                } else {
                    "; many servers offer AUTH only after STARTTLS (enableSSL=true)"
                }
            ),
        ));
    }
    let refused = |e: &SmtpError| e.status().is_some() && e.is_permanent();
    let fail = |e: SmtpError, what: String| {
        if refused(&e) {
            Error::new(
                LnccmdStatus::AuthFailed,
                format!("{} refused {what}: {}", ep.display(), reply_text(&e)),
            )
        } else {
            classify(&e, Stage::Connect, ep)
        }
    };
    let user = crate::props::printable(&auth.user);
    let (Some(client), Some(token)) = (oauth2, token) else {
        let secret = match &auth.credential {
            Credential::Password(s) => s.0.clone(),
            // `open` gets the token before it connects.
            Credential::OAuth2(_) => {
                return Err(Error::new(
                    LnccmdStatus::Internal,
                    "an OAuth2 AUTH without its token: nothing was sent",
                ));
            }
        };
        let creds = Credentials::new(auth.user.clone(), secret);
        return smtp
            .auth(mechanisms, &creds)
            .map(drop)
            .map_err(|e| fail(e, format!("the credentials of user '{user}'")));
    };
    let creds = |t: &crate::settings::Secret| Credentials::new(auth.user.clone(), t.0.clone());
    match smtp.auth(mechanisms, &creds(&token.value)) {
        Ok(_) => Ok(()),
        Err(e) if refused(&e) && token.cached => {
            // Revoked, or expired early: one new token, one new AUTH.
            let fresh = crate::oauth2::renew(client, &token.value)?;
            smtp.auth(mechanisms, &creds(&fresh.value))
                .map(drop)
                .map_err(|e| {
                    fail(
                        e,
                        format!(
                            "a new OAuth2 token for '{user}' as well as the cached one (check the app's permission to send as this mailbox, docs/oauth2.md)"
                        ),
                    )
                })
        }
        Err(e) => Err(fail(
            e,
            format!(
                "the OAuth2 token just issued for '{user}' (check the app's permission to send as this mailbox, docs/oauth2.md)"
            ),
        )),
    }
}

/// Forgets a connection opened by another process (this one is a child
/// forked after it was opened) without writing a byte to it: the parent
/// still uses that socket, and anything the child wrote (QUIT, RSET, its own
/// commands, a TLS close_notify) would land in the parent's transaction.
/// Dropping writes nothing: `SmtpConnection` has no `Drop`, native-tls's
/// OpenSSL stream is freed with `SSL_free` (never `SSL_shutdown`, so no
/// close_notify), and `TcpStream` only closes this process's descriptor (no
/// `shutdown(2)`), which leaves the parent's connection open.
fn forget_if_inherited(slot: &mut Option<Connection>) {
    if slot.as_ref().is_some_and(|c| c.pid != std::process::id()) {
        drop(slot.take());
    }
}

/// Closes the connection with QUIT and, under TLS, a close_notify (best
/// effort: the server may be gone; vendor patch 14).
pub fn close(slot: &mut Option<Connection>) {
    forget_if_inherited(slot);
    if let Some(mut c) = slot.take() {
        c.smtp.abort();
    }
}

/// Leaves the session's connection for the next session of this process
/// with the same endpoint (`KeepAlive`, issue #13: the CL pattern of one
/// MAILSMTP...MAILEND per message otherwise pays TCP, greeting, EHLO, TLS
/// and AUTH every time), or closes it when `keep` is zero or it cannot
/// carry another transaction.
pub fn park(slot: &mut Option<Connection>, keep: std::time::Duration) {
    forget_if_inherited(slot);
    let reusable = slot.as_mut().is_some_and(|c| {
        !keep.is_zero() && !c.smtp.has_broken() && c.smtp.pending_input() == PendingInput::Nothing
    });
    match slot.take() {
        Some(c) if reusable => pool::put(c, keep),
        other => close(&mut { other }),
    }
}

/// The process-wide cache of idle connections that outlived their session
/// (`KeepAlive`): each taken by one session at a time, closed with QUIT
/// when its idle time is over (a reaper thread) and at process exit, and
/// never used by another process (a child forgets them, `for_fork`).
mod pool {
    use super::{Connection, Endpoint, close};
    use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
    use std::time::{Duration, Instant};

    pub(crate) struct Parked {
        conn: Connection,
        expires: Instant,
    }

    static POOL: Mutex<Vec<Parked>> = Mutex::new(Vec::new());
    static WAKE: Condvar = Condvar::new();
    /// The process whose reaper thread runs (a child has none until it parks).
    static REAPER: Mutex<u32> = Mutex::new(0);

    fn pool() -> MutexGuard<'static, Vec<Parked>> {
        POOL.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The pool's lock, which the registry's fork handlers hold across
    /// fork() with the others (src/registry.rs).
    pub(crate) fn lock_for_fork() -> MutexGuard<'static, Vec<Parked>> {
        pool()
    }

    /// In the child of a fork, with the lock held: the parent's connections
    /// are forgotten without a byte written or a destructor run (the parent
    /// still uses those sockets; see `forget_if_inherited`).
    pub(crate) fn forget_in_child(guard: &mut MutexGuard<'static, Vec<Parked>>) {
        std::mem::forget(std::mem::take(&mut **guard));
    }

    pub(super) fn put(conn: Connection, keep: Duration) {
        pool().push(Parked {
            conn,
            expires: Instant::now() + keep,
        });
        WAKE.notify_one();
        start_reaper();
    }

    /// An idle connection to exactly `ep` (server, port, TLS, trust, test
    /// mode, HELO, credentials: everything `Endpoint` holds), taken out.
    pub(super) fn take(ep: &Endpoint) -> Option<Connection> {
        let mut p = pool();
        let pid = std::process::id();
        let i = p.iter().position(|e| {
            e.conn.endpoint == *ep && e.conn.pid == pid && e.expires > Instant::now()
        })?;
        Some(p.swap_remove(i).conn)
    }

    fn start_reaper() {
        let mut running = REAPER.lock().unwrap_or_else(PoisonError::into_inner);
        let pid = std::process::id();
        if *running == pid {
            return;
        }
        if std::thread::Builder::new()
            .name("lnccmd-keepalive".into())
            .spawn(reap)
            .is_ok()
        {
            *running = pid;
        }
    }

    /// The reaper: closes each connection when its idle time is over.
    fn reap() {
        let mut p = pool();
        loop {
            let now = Instant::now();
            let mut expired = Vec::new();
            let mut i = 0;
            while i < p.len() {
                if p[i].expires <= now {
                    expired.push(p.swap_remove(i).conn);
                } else {
                    i += 1;
                }
            }
            if !expired.is_empty() {
                drop(p);
                for c in expired {
                    close(&mut Some(c));
                }
                p = pool();
                continue;
            }
            p = match p.iter().map(|e| e.expires).min() {
                Some(next) => {
                    WAKE.wait_timeout(p, next - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => WAKE.wait(p).unwrap_or_else(PoisonError::into_inner),
            };
        }
    }

    /// At process exit (src/ffi.rs, the library's destructor): QUIT on every
    /// idle connection, each bounded by a short timeout so that a dead server
    /// cannot hold the exit. A lock held by another thread at exit is not
    /// waited for.
    pub(crate) fn close_all() {
        let Ok(mut p) = POOL.try_lock() else { return };
        let parked = std::mem::take(&mut *p);
        drop(p);
        let pid = std::process::id();
        for mut e in parked {
            if e.conn.pid != pid {
                std::mem::forget(e);
                continue;
            }
            let short = e.conn.endpoint.timeout.min(Duration::from_secs(2));
            let _ = e.conn.smtp.set_timeout(Some(short));
            close(&mut Some(e.conn));
        }
    }
}

pub(crate) use pool::{
    Parked, close_all as close_parked, forget_in_child as forget_pool_in_child,
    lock_for_fork as pool_lock_for_fork,
};

/// A connection idle for longer than this is checked with NOOP (one round
/// trip) before use; a fresher one is used directly. What a server says
/// while the connection is idle (its 421 and close at its idle timeout) is
/// seen without a round trip (`pending_input`), and a 421 or a close at
/// MAIL FROM starts the transaction again on a new connection, so the NOOP
/// is left for a path that died silently (a NAT or firewall that dropped
/// the connection). There it matters with CHUNKING: without it, the whole
/// content would go out before the silence, and a missing answer after the
/// content is 409. 60 s is below the idle timeouts of the servers and
/// middleboxes met (Postfix and Exim 300 s, RFC 5382 NATs 2 h) and above
/// the gaps of a batch job that sends back to back, which pay no NOOP: it
/// was 10 s, a round trip for every gap of 10 s or more.
const IDLE_CHECK: std::time::Duration = std::time::Duration::from_secs(60);

/// The session's open connection to `ep` when it can be reused, otherwise a
/// new one (an open connection to another endpoint is closed). The flag says
/// whether it is a reused one.
fn connection<'a>(
    slot: &'a mut Option<Connection>,
    ep: &Endpoint,
) -> Result<(&'a mut Connection, bool)> {
    forget_if_inherited(slot);
    let alive = |c: &mut Connection| {
        // Anything the server sent while the connection was idle (a stray
        // reply, a 421 before closing, its close) would be read as the
        // answer to the next command: such a connection is not reused.
        c.endpoint == *ep
            && !c.smtp.has_broken()
            && c.smtp.pending_input() == PendingInput::Nothing
            && (c.last_used.elapsed() < IDLE_CHECK || c.smtp.test_connected())
    };
    let mut reusable = slot.as_mut().is_some_and(alive);
    if !reusable {
        close(slot);
        // A connection another session of this process left (KeepAlive).
        while let Some(mut c) = pool::take(ep) {
            if alive(&mut c) {
                *slot = Some(c);
                reusable = true;
                break;
            }
            close(&mut Some(c));
        }
    }
    if !reusable {
        *slot = Some(open(ep)?);
    }
    let c = slot.as_mut().expect("connection just set");
    c.last_used = std::time::Instant::now();
    Ok((c, reusable))
}

/// Ends a failed transaction so the connection can carry the next one; drops
/// the connection when the server no longer answers.
fn reset(slot: &mut Option<Connection>) {
    if let Some(c) = slot
        && c.smtp.command(Rset).is_err()
    {
        slot.take();
    }
}

/// Refused recipients as RESULT and the log say them:
/// `<a@x>: 550 ...; <b@y>: 451 ...`.
pub fn describe_refused(refused: &[(Address, String)]) -> String {
    refused
        .iter()
        .map(|(a, r)| format!("<{a}>: {r}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The envelope of one transaction: MAIL FROM, one RCPT TO per recipient,
/// then DATA. With PIPELINING (RFC 2920) they go in one write and their
/// replies are read together: two round trips per message (this, then the
/// content) instead of three plus one per recipient. Without it, one at a
/// time, stopping where the transaction cannot go on (MAIL refused, every
/// RCPT refused), so no DATA is sent for nothing.
///
/// Replies, in the commands' order: `[MAIL, RCPT..., DATA]`, shorter when
/// a command was not sent or the connection failed (then the last element
/// is that failure, with no SMTP status).
fn envelope(
    smtp: &mut SmtpConnection,
    commands: &[String],
) -> Vec<std::result::Result<Response, SmtpError>> {
    if smtp.server_info().supports_feature(Extension::Pipelining) {
        return smtp.pipeline(commands);
    }
    let (data, rcpts) = (commands.len() - 1, 1..commands.len() - 1);
    let mut replies: Vec<std::result::Result<Response, SmtpError>> =
        Vec::with_capacity(commands.len());
    for (i, command) in commands.iter().enumerate() {
        if i == data && !replies[rcpts.clone()].iter().any(|r| r.is_ok()) {
            break;
        }
        let reply = smtp.command(command);
        let stop = match &reply {
            Err(e) => i == 0 || e.status().is_none(),
            Ok(_) => false,
        };
        replies.push(reply);
        if stop {
            break;
        }
    }
    replies
}

/// Sends one message over the session's connection (docs/contract.md §4.10).
///
/// `Ok` means the server accepted the message for at least one recipient;
/// `Delivery::refused` lists the others. `Err` means nothing was accepted
/// (or, with 409 DELIVERY_UNCERTAIN, that the server never said). Every reply
/// quoted in either is cleared of the credentials (`redact`).
pub fn send(
    slot: &mut Option<Connection>,
    ep: &Endpoint,
    out: &Outgoing,
    opts: &Options,
) -> Result<Delivery> {
    let result = transaction(slot, ep, out, opts);
    let Some(auth) = &ep.auth else {
        return result;
    };
    match result {
        Ok(mut d) => {
            d.reply = redact(&d.reply, auth);
            for (_, reply) in &mut d.refused {
                *reply = redact(reply, auth);
            }
            Ok(d)
        }
        Err(mut f) => {
            f.detail = redact(&f.detail, auth);
            Err(f)
        }
    }
}

/// What replaces a secret in a quoted reply.
const REDACTED: &str = "[credentials removed]";

/// `text` without the credentials of `auth`, for a server that quotes what
/// it was sent (some echo the AUTH line in their 535): the password as
/// text, and every base64 token that decodes to bytes holding it or that
/// is a piece of the base64 lnccmd sent (PLAIN's `\0user\0password`,
/// LOGIN's password, XOAUTH2's `user=...\x01auth=Bearer ...`). Decoding
/// each token, not only matching the strings sent, also catches an echo
/// cut short or re-encoded.
fn redact(text: &str, auth: &crate::settings::Auth) -> String {
    let secrets = match &auth.credential {
        Credential::Password(s) => vec![s.0.clone()],
        Credential::OAuth2(client) => crate::oauth2::secrets(client),
    };
    secrets.iter().fold(text.to_string(), |t, secret| {
        redact_one(&t, &auth.user, secret)
    })
}

/// `redact` for one secret.
fn redact_one(text: &str, user: &str, secret: &str) -> String {
    if secret.is_empty() {
        return text.to_string();
    }
    let mut text = text.to_string();
    if secret.len() >= 3 {
        text = text.replace(secret, REDACTED);
    }
    let sent: Vec<String> = [
        format!("\0{user}\0{secret}"),
        secret.to_string(),
        format!("user={user}\x01auth=Bearer {secret}\x01\x01"),
        format!(
            "n,a={},\x01auth=Bearer {secret}\x01\x01",
            user.replace('=', "=3D").replace(',', "=2C")
        ),
    ]
    .iter()
    .map(|s| openssl::base64::encode_block(s.as_bytes()))
    .collect();
    let is_b64 = |c: char| c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '=';
    let holds_secret = |token: &str| {
        let bare = token.trim_end_matches('=');
        if bare.len() < 8 {
            return false;
        }
        if sent.iter().any(|s| s.contains(bare)) {
            return true;
        }
        let whole = &bare[..bare.len() / 4 * 4];
        openssl::base64::decode_block(whole)
            .is_ok_and(|bytes| bytes.windows(secret.len()).any(|w| w == secret.as_bytes()))
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(start) = rest.find(is_b64) {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest.find(|c: char| !is_b64(c)).unwrap_or(rest.len());
        let token = &rest[..end];
        out.push_str(if holds_secret(token) { REDACTED } else { token });
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Why one attempt at a transaction stopped.
enum Stop {
    /// Nothing can have been delivered and the trouble is this connection's
    /// (a 421: the server is closing it; a reused connection the server had
    /// closed; a 4xx to MAIL FROM on a reused one, such as OpenSMTPD's
    /// per-connection limit): start again on a new connection.
    Restart(Error),
    /// The answer for this MAILSEND.
    Fail(Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Fail(e)
    }
}

/// New connections one MAILSEND may open after `Stop::Restart`: enough for
/// a server that closes after N messages, not a loop with one that always
/// answers 421.
const RESTARTS: u32 = 2;

/// `send` before the redaction: one transaction, started again on a new
/// connection (transparently, `Retries` or not) where nothing can have been
/// delivered and the connection was the trouble.
fn transaction(
    slot: &mut Option<Connection>,
    ep: &Endpoint,
    out: &Outgoing,
    opts: &Options,
) -> Result<Delivery> {
    let mut restarts = 0;
    loop {
        match attempt(slot, ep, out, opts) {
            Ok(d) => return Ok(d),
            Err(Stop::Restart(_)) if restarts < RESTARTS => restarts += 1,
            Err(Stop::Restart(f) | Stop::Fail(f)) => return Err(f),
        }
    }
}

/// The basic code of a reply error, as a number.
fn code_of(e: &SmtpError) -> Option<u16> {
    e.status().and_then(|c| c.to_string().parse().ok())
}

/// One attempt: MAIL FROM, RCPT TO..., then the content with DATA, or with
/// `BDAT n LAST` in the same flight when the server offers CHUNKING and
/// PIPELINING (RFC 3030: one round trip per message instead of two).
fn attempt(
    slot: &mut Option<Connection>,
    ep: &Endpoint,
    out: &Outgoing,
    opts: &Options,
) -> std::result::Result<Delivery, Stop> {
    // Any reply error below leaves the connection usable after RSET; any
    // other error (I/O, timeout, garbage) leaves it in an unknown state: drop it.
    let fail = |slot: &mut Option<Connection>, e: &SmtpError, stage: Stage| {
        let err = classify(e, stage, ep);
        if e.status().is_some() {
            reset(slot);
        } else {
            slot.take();
        }
        err
    };

    let (conn, reused) = connection(slot, ep)?;
    let info = conn.smtp.server_info();
    let mut params = Vec::new();
    let needs_utf8 =
        !out.from.to_string().is_ascii() || out.rcpts.iter().any(|r| !r.to_string().is_ascii());
    if needs_utf8 {
        if !info.supports_feature(Extension::SmtpUtfEight) {
            return Err(Error::new(
                LnccmdStatus::BadAddress,
                format!(
                    "an address has a non-ASCII local part, which needs SMTPUTF8, and {} does not offer it",
                    ep.display()
                ),
            )
            .into());
        }
        params.push(MailParameter::SmtpUtfEight);
    }
    if !out.bytes.is_ascii() {
        if !info.supports_feature(Extension::EightBitMime) {
            return Err(Error::new(
                LnccmdStatus::MessageRefused,
                format!(
                    "the message has 8-bit content and {} does not offer 8BITMIME",
                    ep.display()
                ),
            )
            .into());
        }
        params.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    // SIZE (RFC 1870): announced on MAIL FROM, and a message larger than
    // the server's limit is refused here, before any of its bytes is sent.
    if let Some(limit) = info.size_limit() {
        let size = out.bytes.len();
        if limit > 0 && size as u64 > limit {
            return Err(Error::new(
                LnccmdStatus::TooLarge,
                format!(
                    "the message is {size} bytes and {} accepts at most {limit} (its EHLO SIZE): nothing was sent; send less (smaller or fewer attachments)",
                    ep.display()
                ),
            )
            .into());
        }
        params.push(MailParameter::Size(size));
    }
    let dsn = opts.dsn && info.supports_feature(Extension::Dsn);
    if dsn {
        params.push(MailParameter::Other {
            keyword: "RET".into(),
            value: Some("HDRS".into()),
        });
        // ENVID: the Message-ID without brackets (lettre xtext-encodes it).
        params.push(MailParameter::Other {
            keyword: "ENVID".into(),
            value: Some(out.message_id.trim_matches(['<', '>']).to_string()),
        });
    }
    let chunking =
        info.supports_feature(Extension::Chunking) && info.supports_feature(Extension::Pipelining);

    let mut commands = Vec::with_capacity(out.rcpts.len() + 2);
    commands.push(Mail::new(Some(out.from.clone()), params).to_string());
    for rcpt in &out.rcpts {
        commands.push(rcpt_command(rcpt, dsn));
    }
    commands.push(if chunking {
        format!("BDAT {} LAST\r\n", out.bytes.len())
    } else {
        Data.to_string()
    });
    let last = commands.len() - 1;

    let replies = if chunking {
        conn.smtp
            .pipeline_bdat(&commands, out.bytes.chunks(1 << 20))
    } else {
        envelope(&mut conn.smtp, &commands)
    };
    // With BDAT the content went with the commands: from here on, a missing
    // answer means the server may have the message.
    let content_sent = chunking && conn.smtp.end_of_data_sent();

    // Where nothing can have been delivered and the connection is the
    // trouble, start again on a new one.
    let definite_refusal = matches!(&replies[0], Err(e) if e.status().is_some())
        || (replies.len() > out.rcpts.len()
            && replies[1..=out.rcpts.len()].iter().all(|r| r.is_err()));
    let closing = replies
        .iter()
        .find_map(|r| r.as_ref().err().filter(|e| code_of(e) == Some(421)));
    let gone = reused && matches!(replies.first(), Some(Err(e)) if e.status().is_none());
    let limit = reused && matches!(replies.first(), Some(Err(e)) if e.is_transient());
    // A 421 answers its command and closes: unless the content itself was
    // accepted, nothing was delivered.
    if let Some(e) = closing
        && !matches!(replies.get(last), Some(Ok(_)))
    {
        let f = classify(e, Stage::Mail, ep);
        slot.take();
        return Err(Stop::Restart(f));
    }
    if (gone || limit)
        && (!content_sent || definite_refusal)
        && let Err(e) = &replies[0]
    {
        let f = classify(e, Stage::Mail, ep);
        if gone {
            slot.take();
        } else {
            close(slot);
        }
        return Err(Stop::Restart(f));
    }
    // Every reply must be of the kind its command calls for (2xx to MAIL and
    // RCPT, 354 to DATA, 2xx to BDAT), and nothing may follow the last one:
    // otherwise a reply was added or lost on the way (a stray line, a reply
    // left unread) and the server's answers are out of step with the
    // commands. Before the content: drop the connection, nothing was
    // delivered; after it (BDAT), the server may have the message.
    if let Some(problem) = out_of_step(&replies, commands.len(), chunking, &mut conn.smtp) {
        slot.take();
        if content_sent {
            return Err(uncertain(
                ep,
                out,
                &format!("its replies were out of step ({problem})"),
            )
            .into());
        }
        return Err(Error::new(
            LnccmdStatus::Protocol,
            format!(
                "{} answered out of step ({problem}): connection dropped, nothing was sent; MAILSEND again",
                ep.display()
            ),
        )
        .into());
    }
    // A pipelined DATA may have been accepted (354) although the transaction
    // cannot go on: end it with an empty message before RSET.
    let data_accepted = !chunking && replies.len() == commands.len() && replies[last].is_ok();
    let abandon = |slot: &mut Option<Connection>| {
        if data_accepted
            && let Some(c) = slot
            && let Err(e) = c.smtp.end_empty_data()
            && e.status().is_none()
        {
            slot.take();
        }
    };
    if let Err(e) = &replies[0] {
        if e.status().is_none() && content_sent {
            slot.take();
            return Err(uncertain(ep, out, &no_reply(e, ep)).into());
        }
        abandon(slot);
        return Err(fail(slot, e, Stage::Mail).into());
    }
    let mut refused = Vec::new();
    for (rcpt, reply) in out.rcpts.iter().zip(&replies[1..]) {
        if let Err(e) = reply
            && e.status().is_some()
        {
            refused.push((rcpt.clone(), reply_text(e)));
        }
    }
    if refused.len() == out.rcpts.len() {
        abandon(slot);
        reset(slot);
        let list = describe_refused(&refused);
        let status = if refused.iter().all(|(_, r)| r.starts_with('4')) {
            LnccmdStatus::TemporaryFailure
        } else {
            LnccmdStatus::AllRecipientsRefused
        };
        return Err(Error::new(
            status,
            format!(
                "server {} refused every recipient, nothing was sent: {list}",
                ep.display()
            ),
        )
        .into());
    }
    if let Some(Err(e)) = replies.last()
        && e.status().is_none()
    {
        if content_sent {
            slot.take();
            return Err(uncertain(ep, out, &no_reply(e, ep)).into());
        }
        if chunking {
            // The content was cut: the server cannot have the message.
            slot.take();
            return Err(lost_mid_message(e, ep).into());
        }
        let stage = if replies.len() == commands.len() {
            Stage::Data
        } else {
            Stage::Mail
        };
        return Err(fail(slot, e, stage).into());
    }
    let dsn_not_offered = opts.dsn && !dsn;
    if chunking {
        return match &replies[last] {
            Ok(resp) => Ok(delivered(
                refused,
                resp,
                dsn_not_offered,
                slot.as_ref().and_then(|c| c.tls.clone()),
            )),
            // The server answered the content: the transaction is over, the
            // connection usable.
            Err(e) => Err(classify(e, Stage::Message, ep).into()),
        };
    }
    if let Err(e) = &replies[last] {
        return Err(fail(slot, e, Stage::Data).into());
    }
    let conn = slot.as_mut().expect("the connection carried the envelope");
    // lettre ends DATA with CRLF "." CRLF even when the message already ends
    // with CRLF, which would add an empty line to the body: give it the
    // message without its last line end. In chunks: lettre dot-stuffs each
    // part into a buffer of its size, so one part would copy the whole
    // message again; its codec keeps its state between parts.
    let data = out.bytes.strip_suffix(b"\r\n").unwrap_or(&out.bytes);
    let reply = conn.smtp.message_iter(data.chunks(1 << 20));
    // A failure before the end-of-data marker was written means the server
    // cannot have the message (it was cut); after it, only the reply is
    // missing and the server may have delivered it.
    let complete = conn.smtp.end_of_data_sent();
    // The reply to the final dot must be a completion (2xx) and the last
    // thing the server sent: a 3xx, or bytes already behind it, mean the
    // replies are out of step and this one may answer something else.
    let stray = match &reply {
        Ok(resp) if !resp.is_positive() || resp.code().to_string().starts_with('3') => {
            Some(format!(
                "its reply to the end of the message was '{}'",
                escape_controls(&resp.code().to_string(), 10)
            ))
        }
        Ok(_) if conn.smtp.pending_input() == PendingInput::Bytes => {
            Some("more replies followed its reply to the end of the message".to_string())
        }
        _ => None,
    };
    if let Some(what) = stray {
        slot.take();
        return Err(uncertain(ep, out, &format!("{what}, so they are out of step")).into());
    }
    match reply {
        Ok(resp) => {
            let tls = slot.as_ref().and_then(|c| c.tls.clone());
            Ok(delivered(refused, &resp, dsn_not_offered, tls))
        }
        Err(e) if code_of(&e) == Some(421) => {
            // The server refused the message and closes: nothing was
            // delivered, and a new connection may take it.
            slot.take();
            Err(Stop::Restart(classify(&e, Stage::Message, ep)))
        }
        Err(e) if e.status().is_some() => {
            // The server answered: the transaction is over, the connection usable.
            Err(classify(&e, Stage::Message, ep).into())
        }
        Err(e) if !complete => {
            slot.take();
            Err(lost_mid_message(&e, ep).into())
        }
        Err(e) => {
            slot.take();
            Err(uncertain(ep, out, &no_reply(&e, ep)).into())
        }
    }
}

/// RCPT TO with, for a delivery report, NOTIFY and ORCPT (RFC 3461). The
/// ORCPT of an address that is not ASCII is `utf-8;` with the address as
/// RFC 6533 §3 writes it under SMTPUTF8 (utf-8-addr-unitext: the UTF-8 as
/// is, `+`, `=`, `\` and controls as `\x{HH}`), not the raw bytes in xtext;
/// lettre would xtext-encode the value, so that command is written here.
fn rcpt_command(rcpt: &Address, dsn: bool) -> String {
    if !dsn {
        return Rcpt::new(rcpt.clone(), Vec::new()).to_string();
    }
    let notify = RcptParameter::Other {
        keyword: "NOTIFY".into(),
        value: Some("SUCCESS,FAILURE,DELAY".into()),
    };
    let text = rcpt.to_string();
    if text.is_ascii() {
        let orcpt = RcptParameter::Other {
            keyword: "ORCPT".into(),
            value: Some(format!("rfc822;{text}")),
        };
        return Rcpt::new(rcpt.clone(), vec![notify, orcpt]).to_string();
    }
    let mut unitext = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '+' || c == '=' || c == '\\' || c.is_ascii_control() || c == ' ' {
            unitext.push_str(&format!("\\x{{{:02X}}}", c as u32));
        } else {
            unitext.push(c);
        }
    }
    format!("RCPT TO:<{text}> {notify} ORCPT=utf-8;{unitext}\r\n")
}

/// What a MAILSEND whose message was accepted reports.
fn delivered(
    refused: Vec<(Address, String)>,
    resp: &Response,
    dsn_not_offered: bool,
    tls: Option<TlsInfo>,
) -> Delivery {
    let text = resp.message().collect::<Vec<_>>().join(" ");
    Delivery {
        refused,
        reply: escape_controls(&format!("{} {text}", resp.code()), 500),
        dsn_not_offered,
        queue_id: queue_id(&text).map(|q| escape_controls(q, 100)),
        tls,
    }
}

/// The queue id in a server's reply to the content, as the common servers
/// write it: Postfix "Ok: queued as 4Xyz", Exim "OK id=1tAbc-000123-AB",
/// OpenSMTPD "2.0.0 6c3a1f2e Message accepted for delivery", Gmail
/// "2.0.0 OK 1700000000 a1si123.45 - gsmtp".
fn queue_id(text: &str) -> Option<&str> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let after = |marker: &[&str]| {
        words
            .windows(marker.len() + 1)
            .find(|w| {
                w[..marker.len()]
                    .iter()
                    .zip(marker)
                    .all(|(a, b)| a.eq_ignore_ascii_case(b))
            })
            .map(|w| w[marker.len()])
    };
    if let Some(q) = after(&["queued", "as"]) {
        return Some(q.trim_end_matches(['.', ')', ',']));
    }
    if let Some(q) = words.iter().find_map(|w| w.strip_prefix("id=")) {
        return Some(q);
    }
    let before = |marker: &str| {
        words
            .iter()
            .position(|w| w.eq_ignore_ascii_case(marker))
            .filter(|i| *i > 0)
            .map(|i| words[i - 1])
    };
    if text.contains("Message accepted for delivery") {
        return before("Message");
    }
    if text.ends_with("- gsmtp") {
        return words.len().checked_sub(3).map(|i| words[i]);
    }
    None
}

/// 407 for a connection lost before the whole message was written.
fn lost_mid_message(e: &SmtpError, ep: &Endpoint) -> Error {
    let mut error = classify(e, Stage::Message, ep);
    error.detail = format!(
        "connection to {} lost while sending the message (nothing was delivered): {e}",
        ep.display()
    );
    error.status = LnccmdStatus::ConnectionLost;
    error
}

/// What happened instead of the server's answer, for `uncertain`.
fn no_reply(e: &SmtpError, ep: &Endpoint) -> String {
    if is_timeout(e) {
        format!("no reply came within {} s", ep.timeout.as_secs())
    } else {
        format!(
            "the connection failed before its reply ({})",
            escape_controls(&e.to_string(), 200)
        )
    }
}

/// The failure of a message whose every byte reached the server and whose
/// answer is unknown: 409, with what the caller must know first (the
/// server may have it, its Message-ID, check before sending again), then
/// what happened, so that the 255-byte RESULT keeps the essential part.
fn uncertain(ep: &Endpoint, out: &Outgoing, what: &str) -> Error {
    Error::new(
        LnccmdStatus::DeliveryUncertain,
        format!(
            "message {} may have been delivered: check at the server before sending it again (not retried); the whole message reached {}, then {what}",
            out.message_id,
            ep.display()
        ),
    )
}

/// Why the envelope's replies do not answer its commands (`commands`
/// commands: MAIL, RCPT..., and DATA or, `chunking`, BDAT), if they do not.
fn out_of_step(
    replies: &[std::result::Result<Response, SmtpError>],
    commands: usize,
    chunking: bool,
    smtp: &mut SmtpConnection,
) -> Option<String> {
    for (i, reply) in replies.iter().enumerate() {
        let Ok(resp) = reply else { continue };
        let code = resp.code().to_string();
        let (name, wanted) = match i {
            0 => ("MAIL FROM", '2'),
            i if i == commands - 1 && chunking => ("BDAT", '2'),
            i if i == commands - 1 => ("DATA", '3'),
            _ => ("RCPT TO", '2'),
        };
        if !code.starts_with(wanted) {
            return Some(format!("a {} reply to {name}", escape_controls(&code, 10)));
        }
    }
    // Bytes left unread count only when every reply that was due was read:
    // all of them, or up to a refusal that ended the exchange. After an I/O
    // failure (a write cut by the server's close) the replies it had sent
    // are expected to be there.
    let complete =
        replies.len() == commands || matches!(replies.last(), Some(Err(e)) if e.status().is_some());
    if complete && smtp.pending_input() == PendingInput::Bytes {
        return Some("more replies than commands".to_string());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{Auth, Secret};

    fn auth() -> Auth {
        Auth {
            user: "alice".into(),
            credential: Credential::Password(Secret("Tr0ub4dor&3".into())),
            method: None,
        }
    }

    #[test]
    fn redact_removes_the_password_in_every_form_a_server_may_echo() {
        let a = auth();
        let b64 = |s: &str| openssl::base64::encode_block(s.as_bytes());
        let plain = b64("\0alice\0Tr0ub4dor&3");
        let oauth = b64("user=alice\x01auth=Bearer Tr0ub4dor&3\x01\x01");
        for reply in [
            format!("535 5.7.8 failed: AUTH PLAIN {plain}"),
            format!("535 5.7.8 failed: {}", &plain[..20]),
            format!("535 bad {}", b64("Tr0ub4dor&3")),
            format!("454 4.7.0 {oauth} rejected"),
            "535 your password Tr0ub4dor&3 is wrong".to_string(),
            // Another alignment: the password inside other base64.
            format!("535 {}", b64("xxTr0ub4dor&3yy")),
        ] {
            let out = redact(&reply, &a);
            assert!(
                !out.contains("Tr0ub4dor&3") && !out.contains(&plain[..12]),
                "{reply} -> {out}"
            );
            assert!(out.contains("[credentials removed]"), "{out}");
        }
        // Ordinary words and base64 that holds no secret are left alone.
        let reply = "535 5.7.8 Error: authentication failed: UGFzc3dvcmQ6";
        assert_eq!(redact(reply, &a), reply);
    }

    /// RESULT is cut at 255 bytes: with a long relay name, what the caller
    /// must know (409, the Message-ID, "check before sending again") comes
    /// before the name and survives the cut.
    #[test]
    fn the_uncertain_result_keeps_its_meaning_after_the_255_byte_cut() {
        let ep = Endpoint {
            server: format!("{}.relay.example.com", "a".repeat(50)),
            port: 25,
            timeout: std::time::Duration::from_secs(30),
            helo: None,
            tls: TlsMode::None,
            test_mode: false,
            trust: Vec::new(),
            auth: None,
            allow_plain_auth: false,
            trace: None,
        };
        assert!(ep.server.len() >= 67);
        let out = Outgoing {
            bytes: Vec::new(),
            from: "a@example.com".parse().unwrap(),
            rcpts: Vec::new(),
            message_id: "<0123456789abcdef0123456789abcdef@example.com>".into(),
        };
        let f = uncertain(&ep, &out, "no reply came within 30 s");
        assert_eq!(f.status, LnccmdStatus::DeliveryUncertain);
        let result = format!("409 MAILSEND: {}", f.detail);
        let cut = &result[..255.min(result.len())];
        assert!(cut.contains(&out.message_id), "{cut}");
        assert!(
            cut.contains("may have been delivered: check at the server before sending it again"),
            "{cut}"
        );
    }

    /// A self-signed certificate (PEM) named `cn`: trust that no other test has.
    fn trust_pem(cn: &str) -> Vec<u8> {
        use openssl::{asn1, ec, hash, nid, pkey, x509};
        let group = ec::EcGroup::from_curve_name(nid::Nid::X9_62_PRIME256V1).unwrap();
        let key = pkey::PKey::from_ec_key(ec::EcKey::generate(&group).unwrap()).unwrap();
        let mut name = x509::X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", cn).unwrap();
        let name = name.build();
        let mut b = x509::X509::builder().unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&asn1::Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&asn1::Asn1Time::days_from_now(1).unwrap())
            .unwrap();
        b.sign(&key, hash::MessageDigest::sha256()).unwrap();
        b.build().to_pem().unwrap()
    }

    fn tls_endpoint(server: &str, test_mode: bool, trust: &[&[u8]]) -> Endpoint {
        Endpoint {
            server: server.into(),
            port: 25,
            timeout: std::time::Duration::from_secs(30),
            helo: None,
            tls: TlsMode::StartTls,
            test_mode,
            trust: trust.iter().map(|p| p.to_vec()).collect(),
            auth: None,
            allow_plain_auth: false,
            trace: None,
        }
    }

    #[test]
    fn one_connector_per_trust_configuration_and_the_name_per_connection() {
        let (one, two) = (trust_pem("cache one"), trust_pem("cache two"));
        let a = tls_endpoint("a.example.test", false, &[&one]);
        assert_eq!(tls_parameters(&a).unwrap().domain(), "a.example.test");
        let built = connectors::built(&a).unwrap();
        // Another session, another server, the same trust: the same connector,
        // with the new name (SNI and the host-name check use it).
        let b = tls_endpoint("b.example.test", false, &[&one]);
        assert_eq!(tls_parameters(&b).unwrap().domain(), "b.example.test");
        assert_eq!(tls_parameters(&a).unwrap().domain(), "a.example.test");
        assert_eq!(connectors::built(&b), Some(built));
        // Other certificates, more certificates, test mode: none shares it.
        for other in [
            tls_endpoint("a.example.test", false, &[&two]),
            tls_endpoint("a.example.test", false, &[&one, &two]),
            tls_endpoint("a.example.test", true, &[&one]),
        ] {
            assert_eq!(connectors::built(&other), None);
            assert_eq!(tls_parameters(&other).unwrap().domain(), "a.example.test");
            let own = connectors::built(&other).unwrap();
            assert_ne!(own, built);
            tls_parameters(&other).unwrap();
            assert_eq!(connectors::built(&other), Some(own));
        }
        assert_eq!(connectors::built(&a), Some(built));
    }

    #[test]
    fn the_connector_cache_is_bounded() {
        let pems: Vec<Vec<u8>> = (0..20).map(|i| trust_pem(&format!("bound {i}"))).collect();
        for pem in &pems {
            tls_parameters(&tls_endpoint("c.example.test", false, &[pem])).unwrap();
            assert!(connectors::len() <= 16);
        }
        // The newest stay; the first went.
        let last = tls_endpoint("c.example.test", false, &[&pems[19]]);
        assert!(connectors::built(&last).is_some());
        let first = tls_endpoint("c.example.test", false, &[&pems[0]]);
        assert_eq!(connectors::built(&first), None);
    }
}
