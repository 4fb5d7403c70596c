//! OAuth 2.0 access tokens for SMTP AUTH (docs/oauth2.md, issue #14): the
//! library gets the token itself, so a CL program's MAILSMTP with a client id
//! and a secret (or a certificate, or a Google service-account key) is enough.
//!
//! - Grants: client credentials with a secret or a JWT client assertion
//!   (RFC 6749 §4.4, RFC 7523 §2.2, Microsoft identity platform), and the JWT
//!   bearer grant of a Google service account with domain-wide delegation
//!   (RFC 7523 §2.1).
//! - When: at the first MAILSEND that needs a connection (`token`), never at
//!   MAILSMTP, which stays offline.
//! - Cache: one token per (token endpoint, client, mailbox, scope, credential)
//!   in the process, shared by every thread and session; one request at a
//!   time per key (a thread that finds the request under way waits for its
//!   result, a token or the request's error); renewed before `expires_in` runs out; after a 535 with a cached
//!   token, renewed once (`renew`). Optionally also in a file, mode 0600
//!   (`OAuth2Cache`), for one-shot processes.
//! - HTTPS: ureq with a native-tls connector built here, so the same OpenSSL
//!   and the same trust as the SMTP connection (system roots plus `TrustCert`,
//!   TLS 1.2 at least); no redirect followed; the answer read up to 64 KiB.
//!
//! The JWTs are built here rather than with a JWT crate: the two assertions
//! are fixed shapes (a header and claims, RS256), about thirty lines with
//! OpenSSL, and the JWT crates bring a second crypto library (ring) that
//! lnccmd would have to trust and ship beside OpenSSL.
//!
//! Secrets (the client secret, the key, the assertion, the tokens) never
//! reach an error message: `Debug` hides them, the identity platform's
//! `error_description` is cleared of them, and `secrets` lists them for the
//! transport's redaction of server replies.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use openssl::hash::{MessageDigest, hash};
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use serde_json::{Value, json};

use crate::error::{Error, LnccmdStatus, Result};
use crate::props::printable;
use crate::settings::Secret;

/// `OAuth2Scope` for Microsoft 365 (Exchange Online SMTP, app-only).
pub const MICROSOFT_SCOPE: &str = "https://outlook.office365.com/.default";
/// `OAuth2Scope` for Google Workspace (the only scope Gmail's SMTP takes).
pub const GOOGLE_SCOPE: &str = "https://mail.google.com/";
/// Google's token endpoint, when the service-account file names none.
pub const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";

/// Microsoft's token endpoint for a tenant (a GUID or a domain).
pub fn microsoft_token_url(tenant: &str) -> String {
    format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token")
}

/// The largest token-endpoint answer read: a token answer is a few KB.
const MAX_ANSWER: u64 = 64 * 1024;

/// How the client proves who it is.
pub enum Grant {
    /// Client credentials with `OAuth2ClientSecret`.
    Secret { client_id: String, secret: Secret },
    /// Client credentials with a JWT assertion signed by `OAuth2ClientCert`'s key.
    Certificate {
        client_id: String,
        key: PKey<Private>,
        /// base64url SHA-256 of the certificate (the `x5t#S256` header).
        x5t_s256: String,
    },
    /// JWT bearer grant of a Google service account (`OAuth2ServiceAccount`).
    ServiceAccount {
        client_email: String,
        key: PKey<Private>,
        key_id: Option<String>,
    },
}

/// A MAILSMTP's OAuth2 configuration, loaded and checked at MAILSMTP.
pub struct Client {
    pub grant: Grant,
    pub token_url: String,
    pub scope: String,
    /// The mailbox to send as (`UserId`, else the Sender's address).
    pub mailbox: String,
    /// `OAuth2Cache`.
    pub cache_file: Option<PathBuf>,
    /// The SMTP endpoint's `TrustCert` certificates (PEM) and `Timeout`.
    pub trust: Vec<Vec<u8>>,
    pub timeout: Duration,
    /// The cache key: SHA-256 of endpoint, client, mailbox, scope and a
    /// digest of the credential (a token got with one secret is never given
    /// to a configuration with another).
    key: [u8; 32],
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("client", &self.client_name())
            .field("token_url", &self.token_url)
            .field("scope", &self.scope)
            .field("mailbox", &self.mailbox)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Client {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
            && self.cache_file == other.cache_file
            && self.trust == other.trust
            && self.timeout == other.timeout
    }
}
impl Eq for Client {}

impl Client {
    /// Checks the token endpoint's URL (HTTPS, a host) and computes the cache key.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        grant: Grant,
        token_url: String,
        scope: String,
        mailbox: String,
        cache_file: Option<PathBuf>,
        trust: Vec<Vec<u8>>,
        timeout: Duration,
    ) -> Result<Client> {
        let url = url::Url::parse(&token_url).map_err(|e| {
            bad_value(format!(
                "'OAuth2TokenUrl' is not a URL ('{}': {e})",
                printable(&token_url)
            ))
        })?;
        if url.scheme() != "https" || url.host_str().is_none_or(str::is_empty) {
            return Err(bad_value(format!(
                "'OAuth2TokenUrl' must be an https:// URL: the client's credentials go to it ('{}')",
                printable(&token_url)
            )));
        }
        if scope.is_empty() || scope.chars().any(|c| c.is_control()) {
            return Err(bad_value(
                "'OAuth2Scope' is empty or holds a control character".into(),
            ));
        }
        let credential = match &grant {
            Grant::Secret { secret, .. } => hash(MessageDigest::sha256(), secret.0.as_bytes()),
            Grant::Certificate { key, .. } | Grant::ServiceAccount { key, .. } => key
                .public_key_to_der()
                .and_then(|der| hash(MessageDigest::sha256(), &der)),
        }
        .map_err(|e| internal(&e))?;
        let mut id = Vec::new();
        for part in [
            token_url.as_bytes(),
            client_name(&grant).as_bytes(),
            mailbox.as_bytes(),
            scope.as_bytes(),
            &credential,
        ] {
            id.extend_from_slice(&(part.len() as u64).to_be_bytes());
            id.extend_from_slice(part);
        }
        let digest = hash(MessageDigest::sha256(), &id).map_err(|e| internal(&e))?;
        let mut key = [0u8; 32];
        key.copy_from_slice(&digest);
        Ok(Client {
            grant,
            token_url,
            scope,
            mailbox,
            cache_file,
            trust,
            timeout,
            key,
        })
    }

    /// The client id or the service account's address.
    pub fn client_name(&self) -> &str {
        client_name(&self.grant)
    }

    /// What RESULT calls the request: "the token request of client 'x'
    /// (client credentials with a secret) to login.microsoftonline.com".
    fn step(&self) -> String {
        let how = match &self.grant {
            Grant::Secret { .. } => "client credentials with a secret",
            Grant::Certificate { .. } => "client credentials with a certificate",
            Grant::ServiceAccount { .. } => "service account, JWT bearer",
        };
        format!(
            "the token request of {} '{}' ({how}) to {}",
            match self.grant {
                Grant::ServiceAccount { .. } => "service account",
                _ => "client",
            },
            printable(self.client_name()),
            host_of(&self.token_url)
        )
    }
}

fn client_name(grant: &Grant) -> &str {
    match grant {
        Grant::Secret { client_id, .. } | Grant::Certificate { client_id, .. } => client_id,
        Grant::ServiceAccount { client_email, .. } => client_email,
    }
}

fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| printable(url))
}

fn bad_value(detail: String) -> Error {
    Error::new(LnccmdStatus::BadValue, detail)
}

fn internal(e: &dyn std::fmt::Display) -> Error {
    Error::new(LnccmdStatus::Internal, format!("OAuth2: {e}"))
}

/// `OAuth2ClientCert`: a PKCS#12 file (with `OAuth2CertPassword`) or a PEM
/// file holding the private key and the certificate. The key must be RSA
/// (the assertion is RS256, what Microsoft's identity platform verifies) and
/// the certificate valid now.
pub fn load_client_cert(file: &str, password: &str) -> Result<(PKey<Private>, String)> {
    let name = "'OAuth2ClientCert'";
    let bytes = crate::files::read("OAuth2ClientCert file", Path::new(file))?;
    let (key, cert) = if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        let cert = X509::from_pem(&bytes).map_err(|_| {
            crate::smime::cert_error(
                LnccmdStatus::CertLoad,
                file,
                format!("({name}) holds no PEM certificate"),
            )
        })?;
        let key = if password.is_empty() {
            PKey::private_key_from_pem(&bytes)
        } else {
            PKey::private_key_from_pem_passphrase(&bytes, password.as_bytes())
        }
        .map_err(|_| {
            crate::smime::cert_error(
                LnccmdStatus::CertLoad,
                file,
                format!(
                    "({name}) holds no private key that opens{}: a PEM file must hold the key and the certificate",
                    if password.is_empty() {
                        " without a password (OAuth2CertPassword)"
                    } else {
                        " with OAuth2CertPassword"
                    }
                ),
            )
        })?;
        (key, cert)
    } else {
        let parsed = crate::smime::parse_p12(file, &bytes, password, "OAuth2CertPassword")?;
        match (parsed.pkey, parsed.cert) {
            (Some(k), Some(c)) => (k, c),
            _ => {
                return Err(crate::smime::cert_error(
                    LnccmdStatus::CertLoad,
                    file,
                    format!("({name}) must hold a private key and its certificate"),
                ));
            }
        }
    };
    if key.rsa().is_err() {
        return Err(crate::smime::cert_error(
            LnccmdStatus::CertLoad,
            file,
            format!(
                "({name}) holds a {:?} key: the client assertion is signed with RS256, which needs an RSA key",
                key.id()
            ),
        ));
    }
    if !cert.public_key().is_ok_and(|p| p.public_eq(&key)) {
        return Err(crate::smime::cert_error(
            LnccmdStatus::CertKeyMismatch,
            file,
            format!("({name}) holds a private key that does not belong to its certificate"),
        ));
    }
    crate::smime::validity(&cert).map_err(|why| {
        crate::smime::cert_error(
            LnccmdStatus::CertExpired,
            file,
            format!("({name}) holds a certificate that {why}"),
        )
    })?;
    let der = cert.to_der().map_err(|e| internal(&e))?;
    let digest = hash(MessageDigest::sha256(), &der).map_err(|e| internal(&e))?;
    Ok((key, b64url(&digest)))
}

/// A Google service-account key file (JSON, `"type": "service_account"`).
pub struct ServiceAccount {
    pub client_email: String,
    pub key: PKey<Private>,
    pub key_id: Option<String>,
    pub token_uri: Option<String>,
}

/// `OAuth2ServiceAccount`: reads the key file Google Cloud gives for a
/// service account.
pub fn load_service_account(file: &str) -> Result<ServiceAccount> {
    let bytes = crate::files::read("OAuth2ServiceAccount file", Path::new(file))?;
    let bad = |why: &str| {
        bad_value(format!(
            "'OAuth2ServiceAccount' file {} {why}: give the JSON key file of the service account (Google Cloud console, IAM, Service accounts, Keys)",
            printable(file)
        ))
    };
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad("is not JSON"))?;
    if v.get("type").and_then(Value::as_str) != Some("service_account") {
        return Err(bad(
            "is not a service-account key (its \"type\" is not \"service_account\")",
        ));
    }
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let client_email = text("client_email").ok_or_else(|| bad("has no \"client_email\""))?;
    let pem = text("private_key").ok_or_else(|| bad("has no \"private_key\""))?;
    let key = PKey::private_key_from_pem(pem.as_bytes())
        .map_err(|_| bad("holds a \"private_key\" that is not a PEM private key"))?;
    if key.rsa().is_err() {
        return Err(bad("holds a key that is not RSA (the assertion is RS256)"));
    }
    Ok(ServiceAccount {
        client_email,
        key,
        key_id: text("private_key_id"),
        token_uri: text("token_uri"),
    })
}

/// An access token and whether it came from a cache (a refusal of a cached
/// token is worth one renewal; a refusal of a fresh one is not).
#[derive(Debug)]
pub struct Token {
    pub value: Secret,
    pub cached: bool,
}

/// A token held in the cache.
#[derive(Clone)]
struct Held {
    value: Secret,
    /// When to get a new one: before `expires_in` runs out.
    renew_at: Instant,
    /// The same, as a Unix time, for the cache file.
    renew_at_unix: u64,
}

#[derive(Default)]
struct Slot {
    token: Option<Held>,
    /// Tokens given out before: still quoted by a server's reply perhaps,
    /// so still removed from messages (the last few).
    previous: Vec<Secret>,
    /// The last request that failed, and when it ended: a thread that
    /// waited for that request gets its error rather than a request of its
    /// own (16 threads and an endpoint that stalls wait one Timeout, not 16).
    failed: Option<(Instant, Error)>,
}

impl Slot {
    /// The error of a request that ended while the caller, who asked at
    /// `asked`, was waiting for the slot.
    fn failed_since(&self, asked: Instant) -> Option<Error> {
        self.failed
            .as_ref()
            .filter(|(at, _)| *at >= asked)
            .map(|(_, e)| e.clone())
    }
}

/// The process's tokens. The map's lock is a leaf held for a lookup; each
/// key's slot has its own lock, held during that key's token request, so
/// threads that need the same token wait for one request.
pub(crate) struct Cache {
    /// A few keys per process (one per OAuth2 configuration): a list.
    slots: Vec<([u8; 32], Arc<Mutex<Slot>>)>,
}

static CACHE: Mutex<Cache> = Mutex::new(Cache { slots: Vec::new() });

fn cache() -> MutexGuard<'static, Cache> {
    CACHE.lock().unwrap_or_else(PoisonError::into_inner)
}

fn slot(c: &Client) -> Arc<Mutex<Slot>> {
    let mut cache = cache();
    if let Some((_, s)) = cache.slots.iter().find(|(k, _)| *k == c.key) {
        return s.clone();
    }
    let s = Arc::new(Mutex::new(Slot::default()));
    cache.slots.push((c.key, s.clone()));
    s
}

fn lock(slot: &Mutex<Slot>) -> MutexGuard<'_, Slot> {
    slot.lock().unwrap_or_else(PoisonError::into_inner)
}

/// For the registry's fork handlers (registry.rs): held across fork().
pub(crate) fn lock_for_fork() -> MutexGuard<'static, Cache> {
    cache()
}

/// In a child after fork(): the parent's slots are forgotten (a slot may be
/// locked by a parent thread inside a token request, which does not exist
/// in the child); leaked, not freed. Allocates nothing.
pub(crate) fn forget_in_child(guard: &mut MutexGuard<'static, Cache>) {
    std::mem::forget(std::mem::take(&mut guard.slots));
}

/// How long before `expires_in` runs out a token is renewed: a tenth of its
/// life, at most five minutes (a Microsoft token of 3599 s is renewed after
/// 55 minutes).
fn margin(lifetime: Duration) -> Duration {
    (lifetime / 10).min(Duration::from_secs(300))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The token for `c`: the cached one while it is fresh, else the cache
/// file's, else a new one from the token endpoint.
pub fn token(c: &Client) -> Result<Token> {
    let slot = slot(c);
    let asked = Instant::now();
    let mut s = lock(&slot);
    if let Some(t) = &s.token
        && Instant::now() < t.renew_at
    {
        return Ok(Token {
            value: t.value.clone(),
            cached: true,
        });
    }
    if let Some(file) = &c.cache_file
        && let Some(t) = disk::load(file, &c.key)
    {
        s.token = Some(t.clone());
        return Ok(Token {
            value: t.value,
            cached: true,
        });
    }
    if let Some(e) = s.failed_since(asked) {
        return Err(e);
    }
    fetch_into(c, &mut s)
}

/// A new token after the server refused `rejected`: unless another thread
/// has already replaced it, the cached one is dropped (from the file too)
/// and a new one requested.
pub fn renew(c: &Client, rejected: &Secret) -> Result<Token> {
    let slot = slot(c);
    let asked = Instant::now();
    let mut s = lock(&slot);
    if let Some(t) = &s.token
        && t.value != *rejected
        && Instant::now() < t.renew_at
    {
        return Ok(Token {
            value: t.value.clone(),
            cached: false,
        });
    }
    if let Some(e) = s.failed_since(asked) {
        return Err(e);
    }
    if let Some(old) = s.token.take() {
        remember(&mut s, old.value);
    }
    if let Some(file) = &c.cache_file {
        disk::forget(file, &c.key);
    }
    fetch_into(c, &mut s)
}

fn remember(s: &mut Slot, old: Secret) {
    s.previous.push(old);
    if s.previous.len() > 4 {
        s.previous.remove(0);
    }
}

fn fetch_into(c: &Client, s: &mut Slot) -> Result<Token> {
    let (value, lifetime) =
        request(c).inspect_err(|e| s.failed = Some((Instant::now(), e.clone())))?;
    s.failed = None;
    let life = lifetime.saturating_sub(margin(lifetime));
    let held = Held {
        value: value.clone(),
        renew_at: Instant::now() + life,
        renew_at_unix: unix_now() + life.as_secs(),
    };
    if let Some(old) = s.token.replace(held.clone()) {
        remember(s, old.value);
    }
    if let Some(file) = &c.cache_file {
        disk::store(file, &c.key, &held);
    }
    Ok(Token {
        value,
        cached: false,
    })
}

/// Every secret of `c` that a server's reply could quote: the client secret
/// and the tokens given out (for the transport's redaction).
pub fn secrets(c: &Client) -> Vec<String> {
    let mut out = Vec::new();
    if let Grant::Secret { secret, .. } = &c.grant {
        out.push(secret.0.clone());
    }
    let slot = slot(c);
    let s = lock(&slot);
    out.extend(s.token.iter().map(|t| t.value.0.clone()));
    out.extend(s.previous.iter().map(|t| t.0.clone()));
    out
}

/// base64url without padding (RFC 7515 §2).
fn b64url(bytes: &[u8]) -> String {
    openssl::base64::encode_block(bytes)
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_")
}

/// A JWS compact serialisation, RS256 (RSASSA-PKCS1-v1_5 with SHA-256).
fn jwt(header: &Value, claims: &Value, key: &PKey<Private>) -> Result<String> {
    let input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let mut signer =
        openssl::sign::Signer::new(MessageDigest::sha256(), key).map_err(|e| internal(&e))?;
    let signature = signer
        .sign_oneshot_to_vec(input.as_bytes())
        .map_err(|e| internal(&e))?;
    Ok(format!("{input}.{}", b64url(&signature)))
}

/// A unique JWT id (`jti`): 128 random bits.
fn jti() -> Result<String> {
    let mut bytes = [0u8; 16];
    openssl::rand::rand_bytes(&mut bytes).map_err(|e| internal(&e))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The fields of a token request.
type Form = Vec<(&'static str, String)>;

/// The form of the token request and the assertion in it (to clear from
/// any text the endpoint sends back).
fn form(c: &Client) -> Result<(Form, Option<String>)> {
    let now = unix_now();
    Ok(match &c.grant {
        Grant::Secret { client_id, secret } => (
            vec![
                ("grant_type", "client_credentials".into()),
                ("client_id", client_id.clone()),
                ("client_secret", secret.0.clone()),
                ("scope", c.scope.clone()),
            ],
            None,
        ),
        Grant::Certificate {
            client_id,
            key,
            x5t_s256,
        } => {
            // RFC 7523 §3; Microsoft: "Certificate credentials", x5t#S256.
            let assertion = jwt(
                &json!({"alg": "RS256", "typ": "JWT", "x5t#S256": x5t_s256}),
                &json!({
                    "aud": c.token_url,
                    "iss": client_id,
                    "sub": client_id,
                    "jti": jti()?,
                    "nbf": now,
                    "iat": now,
                    "exp": now + 600,
                }),
                key,
            )?;
            (
                vec![
                    ("grant_type", "client_credentials".into()),
                    ("client_id", client_id.clone()),
                    ("scope", c.scope.clone()),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
                    ),
                    ("client_assertion", assertion.clone()),
                ],
                Some(assertion),
            )
        }
        Grant::ServiceAccount {
            client_email,
            key,
            key_id,
        } => {
            // Google: "Using OAuth 2.0 for server to server applications".
            let mut header = json!({"alg": "RS256", "typ": "JWT"});
            if let Some(kid) = key_id {
                header["kid"] = json!(kid);
            }
            let assertion = jwt(
                &header,
                &json!({
                    "iss": client_email,
                    "sub": c.mailbox,
                    "scope": c.scope,
                    "aud": c.token_url,
                    "iat": now,
                    "exp": now + 3600,
                }),
                key,
            )?;
            (
                vec![
                    (
                        "grant_type",
                        "urn:ietf:params:oauth:grant-type:jwt-bearer".into(),
                    ),
                    ("assertion", assertion.clone()),
                ],
                Some(assertion),
            )
        }
    })
}

/// The TLS connector of the token request: OpenSSL through native-tls, the
/// system roots plus `TrustCert`, TLS 1.2 at least. `useTestMode` does not
/// apply: it is for a test SMTP server, and the client's secret is not sent
/// to a server whose certificate does not verify (docs/decisions.md).
fn connector(c: &Client) -> Result<native_tls::TlsConnector> {
    let mut b = native_tls::TlsConnector::builder();
    b.min_protocol_version(Some(native_tls::Protocol::Tlsv12));
    for pem in &c.trust {
        let cert = native_tls::Certificate::from_pem(pem).map_err(|e| internal(&e))?;
        b.add_root_certificate(cert);
    }
    b.build().map_err(|e| {
        Error::new(
            LnccmdStatus::TokenEndpoint,
            format!("cannot set up TLS for {}: {e}", c.step()),
        )
    })
}

/// Sends the token request; the token and its lifetime.
fn request(c: &Client) -> Result<(Secret, Duration)> {
    let (form, assertion) = form(c)?;
    let mut hide: Vec<&str> = Vec::new();
    if let Grant::Secret { secret, .. } = &c.grant {
        hide.push(&secret.0);
    }
    if let Some(a) = &assertion {
        hide.push(a);
    }
    let clean = |text: &str| {
        let mut t = printable(text);
        for h in &hide {
            if h.len() >= 3 {
                t = t.replace(h, "[removed]");
            }
        }
        t
    };
    let agent = ureq::AgentBuilder::new()
        .tls_connector(Arc::new(connector(c)?))
        .redirects(0)
        .timeout(c.timeout)
        .user_agent(concat!("lnccmd/", env!("CARGO_PKG_VERSION")))
        .build();
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let answer = match agent
        .post(&c.token_url)
        .set("Accept", "application/json")
        .send_form(&pairs)
    {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(ureq::Error::Transport(t)) => {
            let timed_out = t.kind() == ureq::ErrorKind::Io
                && std::error::Error::source(&t)
                    .and_then(|s| s.downcast_ref::<std::io::Error>())
                    .is_some_and(|e| {
                        matches!(
                            e.kind(),
                            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                        )
                    });
            let why = if timed_out || t.to_string().contains("timed out") {
                format!("no answer within Timeout ({} s)", c.timeout.as_secs())
            } else {
                clean(&t.to_string())
            };
            return Err(Error::new(
                LnccmdStatus::TokenEndpoint,
                format!(
                    "{} failed: {why}; nothing was sent, try again later",
                    c.step()
                ),
            ));
        }
    };
    let status = answer.status();
    let content_type = answer.content_type().to_string();
    if (300..400).contains(&status) {
        let to = answer
            .header("Location")
            .map(|l| {
                url::Url::parse(&c.token_url)
                    .and_then(|base| base.join(l))
                    .map(|u| u.host_str().unwrap_or("").to_string())
                    .unwrap_or_else(|_| printable(l))
            })
            .unwrap_or_default();
        return Err(Error::new(
            LnccmdStatus::TokenResponse,
            format!(
                "{} was answered with a redirect (HTTP {status}{}): lnccmd does not follow it with the client's credentials; set OAuth2TokenUrl to the token endpoint itself",
                c.step(),
                if to.is_empty() {
                    String::new()
                } else {
                    format!(" to {to}")
                }
            ),
        ));
    }
    let mut body = Vec::new();
    let read = answer
        .into_reader()
        .take(MAX_ANSWER + 1)
        .read_to_end(&mut body);
    if let Err(e) = read {
        return Err(Error::new(
            LnccmdStatus::TokenEndpoint,
            format!(
                "{} failed while reading the answer (HTTP {status}): {}; nothing was sent, try again later",
                c.step(),
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                ) {
                    format!("no answer within Timeout ({} s)", c.timeout.as_secs())
                } else {
                    clean(&e.to_string())
                }
            ),
        ));
    }
    if body.len() as u64 > MAX_ANSWER {
        return Err(Error::new(
            LnccmdStatus::TokenResponse,
            format!(
                "{} was answered with more than {} KiB (HTTP {status}, {}): a token answer is a few KB; is OAuth2TokenUrl the token endpoint?",
                c.step(),
                MAX_ANSWER / 1024,
                printable(&content_type)
            ),
        ));
    }
    let json: Option<serde_json::Map<String, Value>> = serde_json::from_slice(&body).ok();
    let Some(json) = json else {
        let kind = if status >= 500 {
            LnccmdStatus::TokenEndpoint
        } else {
            LnccmdStatus::TokenResponse
        };
        return Err(Error::new(
            kind,
            format!(
                "{} was answered with HTTP {status} and {} ({} bytes), not a JSON token answer: is OAuth2TokenUrl the token endpoint?",
                c.step(),
                if content_type.is_empty() {
                    "no content type".to_string()
                } else {
                    printable(&content_type)
                },
                body.len()
            ),
        ));
    };
    let text = |k: &str| json.get(k).and_then(Value::as_str);
    if let Some(error) = text("error") {
        // RFC 6749 §5.2. "temporarily_unavailable" and 5xx: try later.
        let transient = status >= 500 || error == "temporarily_unavailable";
        let description = text("error_description")
            .map(|d| {
                // Microsoft appends "Trace ID: … Correlation ID: … Timestamp: …"
                // on new lines: the first line says what is wrong.
                let first = d.lines().next().unwrap_or("").trim();
                let cut: String = first.chars().take(300).collect();
                format!(": {}", clean(&cut))
            })
            .unwrap_or_default();
        return Err(Error::new(
            if transient {
                LnccmdStatus::TokenEndpoint
            } else {
                LnccmdStatus::TokenRefused
            },
            format!(
                "{} was refused (HTTP {status}): {}{description}{}",
                c.step(),
                clean(error),
                if transient {
                    "; nothing was sent, try again later"
                } else {
                    "; nothing was sent (docs/oauth2.md says what each error means)"
                }
            ),
        ));
    }
    let token = text("access_token").filter(|t| !t.is_empty());
    let Some(token) = token.filter(|_| (200..300).contains(&status)) else {
        return Err(Error::new(
            if status >= 500 {
                LnccmdStatus::TokenEndpoint
            } else {
                LnccmdStatus::TokenResponse
            },
            format!(
                "{} was answered with HTTP {status} and JSON without an access_token",
                c.step()
            ),
        ));
    };
    // The token goes into a SASL line: visible ASCII only (RFC 6750 b64token).
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::new(
            LnccmdStatus::TokenResponse,
            format!(
                "{} was answered with an access_token that holds a character a bearer token cannot hold",
                c.step()
            ),
        ));
    }
    if let Some(kind) = text("token_type")
        && !kind.eq_ignore_ascii_case("bearer")
    {
        return Err(Error::new(
            LnccmdStatus::TokenResponse,
            format!(
                "{} was answered with a token of type '{}', not Bearer",
                c.step(),
                printable(kind)
            ),
        ));
    }
    // expires_in: a number, or (some endpoints) a number in a string; absent,
    // an hour (RFC 6749 §5.1 makes it RECOMMENDED; a refusal renews it early).
    let lifetime = match json.get("expires_in") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .unwrap_or(3600);
    Ok((Secret(token.to_string()), Duration::from_secs(lifetime)))
}

/// `OAuth2Cache`: tokens kept in a file between processes (`lnccmd sndmail`
/// run by cron gets one token an hour, not one per run). JSON, mode 0600,
/// replaced whole (a new file renamed over it) so a reader never sees half
/// of it; two processes writing at once may lose one's entry, which costs
/// one token request. A file that is not private to this user, or not
/// readable as a cache, is ignored and replaced. A file that cannot be
/// written does not fail the send: the token is still used.
mod disk {
    use super::{Held, unix_now};
    use crate::settings::Secret;
    use serde_json::{Map, Value, json};
    use std::io::Write;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    use std::path::Path;
    use std::time::{Duration, Instant};

    fn hex(key: &[u8; 32]) -> String {
        key.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn read(path: &Path) -> Map<String, Value> {
        // Another user's file of mode 0600 cannot be opened (unless by root).
        let private = std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.mode() & 0o077 == 0);
        if !private {
            return Map::new();
        }
        std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| v.get("tokens").and_then(Value::as_object).cloned())
            .unwrap_or_default()
    }

    fn write(path: &Path, mut tokens: Map<String, Value>) {
        let now = unix_now();
        tokens.retain(|_, v| v.get("renew_at").and_then(Value::as_u64).unwrap_or(0) > now);
        let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| {
                f.write_all(
                    json!({"version": 1, "tokens": tokens})
                        .to_string()
                        .as_bytes(),
                )?;
                f.sync_all()
            });
        if written.is_err() || std::fs::rename(&tmp, path).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }

    pub(super) fn load(path: &Path, key: &[u8; 32]) -> Option<Held> {
        let tokens = read(path);
        let entry = tokens.get(&hex(key))?;
        let value = entry.get("access_token")?.as_str()?.to_string();
        let renew_at_unix = entry.get("renew_at")?.as_u64()?;
        let left = renew_at_unix.checked_sub(unix_now()).filter(|l| *l > 0)?;
        Some(Held {
            value: Secret(value),
            renew_at: Instant::now() + Duration::from_secs(left),
            renew_at_unix,
        })
    }

    pub(super) fn store(path: &Path, key: &[u8; 32], held: &Held) {
        let mut tokens = read(path);
        tokens.insert(
            hex(key),
            json!({"access_token": held.value.0, "renew_at": held.renew_at_unix}),
        );
        write(path, tokens);
    }

    pub(super) fn forget(path: &Path, key: &[u8; 32]) {
        let mut tokens = read(path);
        if tokens.remove(&hex(key)).is_some() {
            write(path, tokens);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_has_no_padding_and_the_url_alphabet() {
        assert_eq!(b64url(&[0xfb, 0xff]), "-_8");
        assert_eq!(b64url(b"a"), "YQ");
    }

    #[test]
    fn the_assertion_is_an_rs256_jws_that_openssl_verifies() {
        let key = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
        let token = jwt(&json!({"alg": "RS256"}), &json!({"sub": "x"}), &key).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let unb64 = |s: &str| {
            let mut t = s.replace('-', "+").replace('_', "/");
            while !t.len().is_multiple_of(4) {
                t.push('=');
            }
            openssl::base64::decode_block(&t).unwrap()
        };
        assert_eq!(unb64(parts[1]), br#"{"sub":"x"}"#);
        let mut v = openssl::sign::Verifier::new(MessageDigest::sha256(), &key).unwrap();
        let input = format!("{}.{}", parts[0], parts[1]);
        assert!(
            v.verify_oneshot(&unb64(parts[2]), input.as_bytes())
                .unwrap()
        );
    }

    #[test]
    fn the_token_endpoint_must_be_https() {
        let grant = || Grant::Secret {
            client_id: "c".into(),
            secret: Secret("s3cret".into()),
        };
        let new = |url: &str| {
            Client::new(
                grant(),
                url.into(),
                MICROSOFT_SCOPE.into(),
                "m@x.test".into(),
                None,
                vec![],
                Duration::from_secs(5),
            )
        };
        for url in [
            "http://login.example/token",
            "ftp://x/",
            "not a url",
            "https://",
        ] {
            let e = new(url).unwrap_err();
            assert_eq!(e.status, LnccmdStatus::BadValue, "{url}");
            assert!(e.detail.contains("OAuth2TokenUrl"), "{}", e.detail);
        }
        let a = new("https://login.example/t/token").unwrap();
        let b = new("https://login.example/t/token").unwrap();
        assert_eq!(a, b);
        assert!(!format!("{a:?}").contains("s3cret"));
    }

    #[test]
    fn tokens_are_renewed_before_they_expire() {
        assert_eq!(margin(Duration::from_secs(3599)), Duration::from_secs(300));
        assert_eq!(margin(Duration::from_secs(60)), Duration::from_secs(6));
        assert!(margin(Duration::from_secs(1)) < Duration::from_secs(1));
    }
}
