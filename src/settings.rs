//! MAILSMTP's properties (docs/contract.md §4.1): the one table of keys, their parsing,
//! defaults and validation. Produces a `Settings` value or an error; never half-applies.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use lettre::message::Mailbox;

use crate::error::{Error, LnccmdStatus, Result};
use crate::props::{self, Property, check_header_text, parse_bool, parse_number, printable};
use crate::smime::{Algo, Identity};

/// How the connection is protected (`enableSSL`, `SSLType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain SMTP.
    None,
    /// STARTTLS, required: no plain-text fallback (RFC 3207).
    StartTls,
    /// Implicit TLS from the first byte (SMTPS).
    Smtps,
}

/// `AuthMethod`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Plain,
    Login,
    /// OAuth 2.0 bearer token, Google's and Microsoft's mechanism.
    Xoauth2,
    /// OAuth 2.0 bearer token, RFC 7628.
    OAuthBearer,
}

/// A password or token: compared, never printed (`Debug` shows `***`).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// What proves the user's identity to the SMTP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// `password`: a password, or with AuthMethod=XOAUTH2/OAUTHBEARER a
    /// token the caller got.
    Password(Secret),
    /// The OAuth2 properties: lnccmd gets the token (src/oauth2.rs).
    OAuth2(std::sync::Arc<crate::oauth2::Client>),
}

/// SMTP AUTH credentials (`UserId`, `password` or the OAuth2 properties,
/// `AuthMethod`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    pub user: String,
    pub credential: Credential,
    /// `None` = what the server offers: PLAIN before LOGIN with a password,
    /// XOAUTH2 before OAUTHBEARER with OAuth2.
    pub method: Option<AuthMethod>,
}

/// Where and how to reach the SMTP server: a change here closes the session's
/// open connection (docs/contract.md §1.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or IP address (IPv6 without brackets).
    pub server: String,
    pub port: u16,
    pub timeout: Duration,
    /// Name sent in EHLO; `None` = this machine's host name.
    pub helo: Option<String>,
    pub tls: TlsMode,
    /// `useTestMode`: accept a certificate that does not verify.
    pub test_mode: bool,
    /// `TrustCert`: PEM certificates trusted besides the system roots.
    pub trust: Vec<Vec<u8>>,
    pub auth: Option<Auth>,
    /// `AllowPlainAuth`: credentials may go over an unencrypted connection.
    pub allow_plain_auth: bool,
    /// `TraceFile`: the SMTP dialogue of each connection is written there.
    pub trace: Option<PathBuf>,
}

impl Endpoint {
    /// `host:port`, `[v6]:port`, for messages and the log.
    pub fn display(&self) -> String {
        if self.server.contains(':') {
            format!("[{}]:{}", self.server, self.port)
        } else {
            format!("{}:{}", self.server, self.port)
        }
    }
}

/// A complete, validated MAILSMTP configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub endpoint: Endpoint,
    pub sender: Mailbox,
    pub reply: Option<Mailbox>,
    /// The envelope sender (MAIL FROM, where bounces go) when it is not the
    /// Sender (`ReturnPath`).
    pub return_path: Option<Mailbox>,
    /// The send log (docs/contract.md §7), its folder checked to exist.
    pub logfile: Option<PathBuf>,
    /// RFC 5322 check of every address when it is given (`checkMail`).
    pub check_mail: bool,
    /// Charset of every parameter the caller passes (`InputCharset`).
    pub input: crate::charset::InputCharset,
    /// Extra attempts after a transient failure (`Retries`).
    pub retries: u32,
    /// MAILSEND sends a draft even when one of its commands failed
    /// (`SendIncomplete`); by default it refuses with 114.
    pub send_incomplete: bool,
    /// How long the connection outlives MAILEND for the next session of this
    /// process with the same endpoint (`KeepAlive`, seconds; 0 = not at all).
    pub keep_alive: Duration,
    pub smime: Smime,
    /// DKIM signing of every message (`DKIMKey`, `DKIMDomain`, `DKIMSelector`).
    pub dkim: Option<crate::dkim::DkimSigner>,
}

/// S/MIME settings (docs/contract.md §6): the .p12 is loaded and checked at MAILSMTP.
#[derive(Debug, Clone, Default)]
pub struct Smime {
    pub sign: bool,
    pub encrypt: bool,
    /// `SecureHeaders` on, either mode: `secure_headers` alone is the RFC
    /// 8551 §3.1 message/rfc822 wrapper (LAUNCHER's), with `rfc9788` RFC 9788
    /// header protection (`SecureHeaders=RFC9788`).
    pub secure_headers: bool,
    pub rfc9788: bool,
    /// Subject of the outer message with SecureHeaders (none when empty).
    pub wrapper_subject: Option<String>,
    /// Loaded when Sign or Encrypt is on.
    pub identity: Option<Identity>,
    /// `RecipientCerts`: when given, every recipient must have one.
    pub recipients: Option<Vec<openssl::x509::X509>>,
    pub algo: Algo,
}

impl Smime {
    pub fn active(&self) -> bool {
        self.sign || self.encrypt
    }
}

/// Every MAILSMTP key, spelled as in docs/contract.md §4.1 (messages use this spelling).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    Server,
    Sender,
    UserId,
    Password,
    Reply,
    Logfile,
    Port,
    EnableSsl,
    SslType,
    Sign,
    Encrypt,
    Certif,
    PwdCertif,
    Timeout,
    SecureHeaders,
    WrapperSubject,
    CheckMail,
    UseTestMode,
    Retries,
    AuthMethod,
    AllowPlainAuth,
    RecipientCerts,
    EncryptAlgo,
    InputCharset,
    HeloName,
    TrustCert,
    DkimKeyFile,
    DkimDomain,
    DkimSelector,
    SendIncomplete,
    KeepAlive,
    ReturnPath,
    TraceFile,
    Provider,
    OAuth2Tenant,
    OAuth2ClientId,
    OAuth2ClientSecret,
    OAuth2ClientCert,
    OAuth2CertPassword,
    OAuth2Scope,
    OAuth2TokenUrl,
    OAuth2ServiceAccount,
    OAuth2Cache,
}

const KEYS: &[(&str, Key)] = &[
    ("Server", Key::Server),
    ("Sender", Key::Sender),
    ("UserId", Key::UserId),
    ("password", Key::Password),
    ("reply", Key::Reply),
    ("logfile", Key::Logfile),
    ("port", Key::Port),
    ("enableSSL", Key::EnableSsl),
    ("SSLType", Key::SslType),
    ("Sign", Key::Sign),
    ("Encrypt", Key::Encrypt),
    ("Certif", Key::Certif),
    ("PwdCertif", Key::PwdCertif),
    ("Timeout", Key::Timeout),
    ("SecureHeaders", Key::SecureHeaders),
    ("WrapperSubject", Key::WrapperSubject),
    ("checkMail", Key::CheckMail),
    ("useTestMode", Key::UseTestMode),
    ("Retries", Key::Retries),
    ("AuthMethod", Key::AuthMethod),
    ("AllowPlainAuth", Key::AllowPlainAuth),
    ("RecipientCerts", Key::RecipientCerts),
    ("EncryptAlgo", Key::EncryptAlgo),
    ("InputCharset", Key::InputCharset),
    ("HeloName", Key::HeloName),
    ("TrustCert", Key::TrustCert),
    ("DKIMKey", Key::DkimKeyFile),
    ("DKIMDomain", Key::DkimDomain),
    ("DKIMSelector", Key::DkimSelector),
    ("SendIncomplete", Key::SendIncomplete),
    ("KeepAlive", Key::KeepAlive),
    ("ReturnPath", Key::ReturnPath),
    ("TraceFile", Key::TraceFile),
    ("Provider", Key::Provider),
    ("OAuth2Tenant", Key::OAuth2Tenant),
    ("OAuth2ClientId", Key::OAuth2ClientId),
    ("OAuth2ClientSecret", Key::OAuth2ClientSecret),
    ("OAuth2ClientCert", Key::OAuth2ClientCert),
    ("OAuth2CertPassword", Key::OAuth2CertPassword),
    ("OAuth2Scope", Key::OAuth2Scope),
    ("OAuth2TokenUrl", Key::OAuth2TokenUrl),
    ("OAuth2ServiceAccount", Key::OAuth2ServiceAccount),
    ("OAuth2Cache", Key::OAuth2Cache),
];

/// Every MAILSMTP property name, spelled as documented: the names of `KEYS`,
/// in its order, so the list cannot differ from what the parser accepts.
/// `Command::properties` hands it to tests/docs.rs, which checks that
/// docs/commands/MAILSMTP.md documents each one.
pub(crate) const PROPERTIES: &[&str] = &{
    let mut names = [""; KEYS.len()];
    let mut i = 0;
    while i < KEYS.len() {
        names[i] = KEYS[i].0;
        i += 1;
    }
    names
};

/// Keys whose values are never shown, nor the text that follows them.
const SECRET_KEYS: &[&str] = &[
    "password",
    "PwdCertif",
    "OAuth2ClientSecret",
    "OAuth2CertPassword",
];

/// `Provider`: a preset of Server, port, STARTTLS and the OAuth2 endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Provider {
    M365,
    Google,
}

impl Provider {
    fn server(self) -> &'static str {
        match self {
            Provider::M365 => "smtp.office365.com",
            Provider::Google => "smtp.gmail.com",
        }
    }
}

/// The OAuth2 properties as given (`None`: not given or empty).
#[derive(Default)]
struct OAuth2Props {
    tenant: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_cert: Option<String>,
    cert_password: String,
    scope: Option<String>,
    token_url: Option<String>,
    service_account: Option<String>,
    cache: Option<PathBuf>,
}

impl OAuth2Props {
    /// The first property given that needs a client, for messages.
    fn given(&self) -> Option<&'static str> {
        [
            (self.tenant.is_some(), "OAuth2Tenant"),
            (self.client_secret.is_some(), "OAuth2ClientSecret"),
            (self.client_cert.is_some(), "OAuth2ClientCert"),
            (self.scope.is_some(), "OAuth2Scope"),
            (self.token_url.is_some(), "OAuth2TokenUrl"),
            (self.cache.is_some(), "OAuth2Cache"),
        ]
        .into_iter()
        .find_map(|(given, name)| given.then_some(name))
    }
}

/// The OAuth2 client of a MAILSMTP, when its properties name one: the grant
/// (client secret, client certificate or Google service account), the token
/// endpoint and the scope, with the provider's defaults (docs/oauth2.md).
fn oauth2_client(
    o: OAuth2Props,
    provider: Option<Provider>,
    mailbox: String,
    trust: &[Vec<u8>],
    timeout: Duration,
) -> Result<Option<crate::oauth2::Client>> {
    use crate::oauth2::{self, Grant};
    let missing = |msg: String| Error::new(LnccmdStatus::MissingProperty, msg);
    let given = o.given();
    let (grant, token_url, scope) = match (o.service_account, o.client_id) {
        (Some(_), Some(_)) => {
            return Err(bad_value(
                "'OAuth2ServiceAccount' (a Google service account) and 'OAuth2ClientId' (a Microsoft app) are both given: give one of them".into(),
            ));
        }
        (Some(file), None) => {
            if provider == Some(Provider::M365) {
                return Err(bad_value(
                    "Provider=M365 takes OAuth2ClientId with OAuth2ClientSecret or OAuth2ClientCert, not 'OAuth2ServiceAccount' (Google's)".into(),
                ));
            }
            if let Some(name) = [
                (o.client_secret.is_some(), "OAuth2ClientSecret"),
                (o.client_cert.is_some(), "OAuth2ClientCert"),
                (o.tenant.is_some(), "OAuth2Tenant"),
            ]
            .into_iter()
            .find_map(|(g, n)| g.then_some(n))
            {
                return Err(bad_value(format!(
                    "'{name}' is for a Microsoft app; a Google service account ('OAuth2ServiceAccount') signs with the key in its file"
                )));
            }
            let sa = oauth2::load_service_account(&file)?;
            let token_url = o
                .token_url
                .or(sa.token_uri)
                .unwrap_or_else(|| oauth2::GOOGLE_TOKEN_URL.to_string());
            (
                Grant::ServiceAccount {
                    client_email: sa.client_email,
                    key: sa.key,
                    key_id: sa.key_id,
                },
                token_url,
                o.scope.unwrap_or_else(|| oauth2::GOOGLE_SCOPE.to_string()),
            )
        }
        (None, Some(client_id)) => {
            if provider == Some(Provider::Google) {
                return Err(bad_value(
                    "Provider=Google takes a service account ('OAuth2ServiceAccount', its JSON key file): Google gives no client-credentials token for SMTP".into(),
                ));
            }
            if client_id.chars().any(|c| c.is_control() || c == ' ') {
                return Err(bad_value(
                    "'OAuth2ClientId' holds a blank or a control character".into(),
                ));
            }
            let grant = match (o.client_secret, o.client_cert) {
                (Some(_), Some(_)) => {
                    return Err(bad_value(
                        "'OAuth2ClientSecret' and 'OAuth2ClientCert' are both given: give one of them".into(),
                    ));
                }
                (Some(secret), None) => Grant::Secret {
                    client_id,
                    secret: Secret(secret),
                },
                (None, Some(file)) => {
                    let (key, x5t_s256) = oauth2::load_client_cert(&file, &o.cert_password)?;
                    Grant::Certificate {
                        client_id,
                        key,
                        x5t_s256,
                    }
                }
                (None, None) => {
                    return Err(missing(
                        "'OAuth2ClientId' needs 'OAuth2ClientSecret' (the app's client secret) or 'OAuth2ClientCert' (its certificate, .p12 or PEM)".into(),
                    ));
                }
            };
            let token_url = match (o.token_url, o.tenant) {
                (Some(url), _) => url,
                (None, Some(tenant)) => {
                    let ok = !tenant.is_empty()
                        && tenant
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
                    if !ok {
                        return Err(bad_value(format!(
                            "'OAuth2Tenant' must be the directory (tenant) ID or a domain such as contoso.onmicrosoft.com, not '{}'",
                            printable(&tenant)
                        )));
                    }
                    oauth2::microsoft_token_url(&tenant)
                }
                (None, None) => {
                    return Err(missing(
                        "'OAuth2ClientId' needs 'OAuth2Tenant' (the directory (tenant) ID of the app registration) or 'OAuth2TokenUrl'".into(),
                    ));
                }
            };
            (
                grant,
                token_url,
                o.scope
                    .unwrap_or_else(|| oauth2::MICROSOFT_SCOPE.to_string()),
            )
        }
        (None, None) => {
            if let Some(name) = given {
                return Err(missing(format!(
                    "'{name}' is given without 'OAuth2ClientId' (Microsoft) or 'OAuth2ServiceAccount' (Google)"
                )));
            }
            return Ok(None);
        }
    };
    crate::oauth2::Client::new(
        grant,
        token_url,
        scope,
        mailbox,
        o.cache,
        trust.to_vec(),
        timeout,
    )
    .map(Some)
}

fn bad_value(msg: String) -> Error {
    Error::new(LnccmdStatus::BadValue, msg)
}

/// The value of a key that needs text (a bare flag is an error). Control
/// characters are refused: every text property ends up in a header, a path
/// or a protocol command. The header-bound ones get the line-length check
/// where they are used (addresses, WrapperSubject).
fn text_value(p: &Property, name: &str, secret: bool) -> Result<String> {
    let Some(v) = p.value.as_deref() else {
        return Err(bad_value(format!("'{name}' needs a value ({name}=...)")));
    };
    if secret {
        // Never quote a secret, not even the offending character's position.
        if v.chars().any(|c| c.is_control()) {
            return Err(Error::new(
                LnccmdStatus::HeaderInjection,
                format!("'{name}' contains a control character"),
            ));
        }
    } else {
        props::check_controls(&format!("'{name}'"), v)?;
    }
    Ok(v.to_string())
}

/// A mailbox from an address entry. Always checked by lettre's addr-spec
/// rules (enough that nothing malformed reaches the envelope); with
/// `check_mail`, also by the stricter RFC 5322 parser of the email_address
/// crate, which requires a dotted domain and says what is wrong.
pub fn mailbox(mut entry: props::AddressEntry, check_mail: bool) -> Result<Mailbox> {
    let given = entry.addr.clone();
    let bad = |why: String| {
        Error::new(
            LnccmdStatus::BadAddress,
            format!("address '{}' is not valid: {why}", printable(&given)),
        )
    };
    if let Some(simple) = simplest_quoted_local(&entry.addr) {
        entry.addr = simple;
    }
    // RFC 5321 §4.5.3.1.3: a path (`<` address `>`) is at most 256 octets.
    if entry.addr.len() > 254 {
        return Err(bad(format!(
            "it is {} octets long; an address may have at most 254 (RFC 5321 §4.5.3.1.3)",
            entry.addr.len()
        )));
    }
    if check_mail {
        let options = email_address::Options {
            minimum_sub_domains: 2,
            allow_domain_literal: true,
            allow_display_text: false,
            allow_long_local_parts: false,
        };
        email_address::EmailAddress::parse_with_options(&entry.addr, options).map_err(|e| {
            bad(format!(
                "{} (checkMail, RFC 5322)",
                e.to_string().trim_end_matches('.')
            ))
        })?;
    }
    let addr = entry
        .addr
        .parse::<lettre::Address>()
        .map_err(|e| bad(e.to_string()))?;
    let addr = match address_literal(addr.domain()).map_err(bad)? {
        Some(domain) => {
            lettre::Address::new(addr.user(), domain).map_err(|e| bad(e.to_string()))?
        }
        None => addr,
    };
    // An internationalised domain goes out as its ASCII (punycode) form, so
    // no SMTPUTF8 is needed; that is kept for non-ASCII local parts.
    let addr = if addr.user().is_ascii() && !addr.domain().is_ascii() {
        let ascii = idna::domain_to_ascii(addr.domain())
            .map_err(|_| bad("the domain is not a valid internationalised domain name".into()))?;
        lettre::Address::new(addr.user(), ascii).map_err(|e| bad(e.to_string()))?
    } else {
        addr
    };
    // RFC 5321 §4.1.2: a domain's labels are letters, digits and `-`
    // (lettre lets RFC 5322's atext through: `test@iana/icann.org`, which no
    // server can route). A non-ASCII domain was checked as IDNA above.
    let domain = addr.domain();
    let ldh = |l: &str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if !domain.starts_with('[') && domain.is_ascii() && !domain.split('.').all(ldh) {
        return Err(bad(format!(
            "the domain '{}' is not a domain name: each part between dots is letters, digits and '-' (RFC 5321 §4.1.2)",
            printable(domain)
        )));
    }
    Ok(Mailbox::new(entry.name, addr))
}

/// A quoted local part with quoted-pairs that need none (`"test\ test"`,
/// RFC 5321 §4.1.2 allows `\` before any printable character) written in
/// the form lettre and checkMail accept: `\` kept only before `"` and `\`.
/// The two forms are the same mailbox (RFC 5322 §3.4.1: the quoting is not
/// part of the address). `None`: nothing to change.
fn simplest_quoted_local(addr: &str) -> Option<String> {
    let at = addr.rfind('@')?;
    let inner = addr[..at].strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(at);
    out.push('"');
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                // quoted-pairSMTP is `\` and printable ASCII (RFC 5321
                // §4.1.2; RFC 6531 leaves it so): `"test\©"` is refused.
                let next = chars.next().filter(|c| (' '..='~').contains(c))?;
                if matches!(next, '"' | '\\') {
                    out.push('\\');
                }
                out.push(next);
            }
            // An unescaped quote inside: not a quoted-string; lettre says so.
            '"' => return None,
            c => out.push(c),
        }
    }
    out.push('"');
    out.push_str(&addr[at..]);
    (out != addr).then_some(out)
}

/// An IP address as the domain, in the form RFC 5321 §4.1.3 gives it:
/// `[192.0.2.1]`, `[IPv6:2001:db8::1]`. Returns the domain to use in its
/// place (`None`: keep it as it is), or why it cannot be sent.
///
/// lettre's addr-spec check accepts an IPv6 address without the `IPv6:` tag
/// or without brackets (`t@2001:db8::1`, which no header can carry), and any
/// bracketed text (`t@[ü]`, `t@[mail]`), which then could not be sent or is
/// no address: the first two are written in the RFC form, the rest refused,
/// so that an address accepted here can always be sent. A bare IPv4 address
/// (`t@192.0.2.1`) is a valid domain by syntax and is kept as given.
fn address_literal(domain: &str) -> std::result::Result<Option<String>, String> {
    use std::net::{Ipv4Addr, Ipv6Addr};
    let Some(inner) = domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) else {
        return Ok(domain
            .parse::<Ipv6Addr>()
            .is_ok()
            .then(|| format!("[IPv6:{domain}]")));
    };
    if inner.parse::<Ipv4Addr>().is_ok() {
        return Ok(None);
    }
    let tagged = inner
        .get(..5)
        .filter(|tag| tag.eq_ignore_ascii_case("IPv6:"))
        .map(|_| &inner[5..]);
    match tagged {
        Some(ip) if ip.parse::<Ipv6Addr>().is_ok() => {
            Ok((!inner.starts_with("IPv6:")).then(|| format!("[IPv6:{ip}]")))
        }
        None if inner.parse::<Ipv6Addr>().is_ok() => Ok(Some(format!("[IPv6:{inner}]"))),
        _ => Err(format!(
            "the domain literal '{}' is not an IP address: write an IPv4 address as [192.0.2.1], an IPv6 address as [IPv6:2001:db8::1] (RFC 5321), or give a domain name",
            printable(domain)
        )),
    }
}

/// The send log's path: its folder must exist, and it must not be a folder.
/// A Windows path (`c:\temp\log.txt`, as in the vendor's example) would be
/// a strange file name in the current folder here: refused with a hint.
fn check_logfile(name: &str, v: &str) -> Result<PathBuf> {
    if crate::files::is_windows_path(v) {
        return Err(bad_value(format!(
            "'{name}' is a Windows path ('{}'): {}",
            printable(v),
            crate::files::windows_hint("/var/log/lnccmd/send.csv")
        )));
    }
    let path = PathBuf::from(v);
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !folder.is_dir() {
        return Err(Error::new(
            LnccmdStatus::FileNotFound,
            format!(
                "the folder of {name} '{}' does not exist: create it (mkdir -p '{}') or give another path",
                printable(v),
                printable(&folder.to_string_lossy())
            ),
        ));
    }
    if path.is_dir() {
        return Err(Error::new(
            LnccmdStatus::FileUnreadable,
            format!("{name} '{}' is a folder, not a file", printable(v)),
        ));
    }
    if path.exists() && !path.is_file() {
        return Err(Error::new(
            LnccmdStatus::FileUnreadable,
            format!(
                "{name} '{}' is not a regular file (device, pipe or socket)",
                printable(v)
            ),
        ));
    }
    Ok(path)
}

/// Server: a DNS name, an IPv4 address or an IPv6 literal (with or without brackets).
fn parse_server(v: &str) -> Result<String> {
    let unbracketed = v
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(v);
    if unbracketed.parse::<IpAddr>().is_ok() {
        return Ok(unbracketed.to_string());
    }
    let host = v.strip_suffix('.').unwrap_or(v);
    if props::is_dns_name(host) {
        return Ok(host.to_string());
    }
    let hint = if v.contains(':') {
        " (give the port with port=..., not in Server)"
    } else {
        ""
    };
    Err(bad_value(format!(
        "'Server' must be a host name or an IP address, not '{}'{hint}",
        printable(v)
    )))
}

/// A name for EHLO: a domain or an address literal, nothing else.
fn parse_helo(v: &str) -> Result<String> {
    let ok = !v.is_empty()
        && v.len() <= 255
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._[]:".contains(c));
    if ok {
        Ok(v.to_string())
    } else {
        Err(bad_value(format!(
            "'HeloName' must be a domain name or an address literal such as [192.0.2.1], not '{}'",
            printable(v)
        )))
    }
}

/// Parses MAILSMTP's PARM1 into complete settings (docs/contract.md §2, §4.1).
///
/// Each MAILSMTP describes the whole configuration: properties not given take
/// their defaults (they are not inherited from an earlier MAILSMTP), so a
/// credential or certificate can never leak from one server setting into the
/// next. Errors are reported in this order: syntax, then each item in turn
/// (unknown key, bad value), then missing required keys, then features that
/// are valid but not implemented yet.
pub fn parse(parm1: &str) -> Result<Settings> {
    let items = props::parse_properties_with_secrets(parm1, SECRET_KEYS)?;
    let mut server = None;
    let mut sender = None;
    let mut reply = None;
    let mut return_path = None;
    let mut trace = None;
    let mut logfile = None;
    let mut check_mail = false;
    let mut input = crate::charset::InputCharset::UTF8;
    let mut port = None;
    let mut timeout = 60u32;
    let mut helo = None;
    let mut smtps = false;
    let mut enable_ssl = None;
    let mut provider = None;
    let mut o = OAuth2Props::default();
    let mut test_mode = false;
    let mut allow_plain_auth = false;
    let mut user = None;
    let mut password = None;
    let mut method = None;
    let mut trust = Vec::new();
    let mut retries = 0;
    let mut send_incomplete = false;
    let mut keep_alive = 30u32;
    let mut sm = Smime::default();
    let mut certif = None;
    let mut certif_password = String::new();
    let mut recipient_certs = None;
    let (mut dkim_key, mut dkim_domain, mut dkim_selector) = (None, None, None);

    for (idx, p) in items.iter().enumerate() {
        let Some(&(name, key)) = KEYS.iter().find(|(n, _)| n.eq_ignore_ascii_case(&p.key)) else {
            if props::follows_secret(&items[..idx], SECRET_KEYS) {
                return Err(Error::new(
                    LnccmdStatus::PropertySyntax,
                    props::secret_hint(p.pos),
                ));
            }
            return Err(Error::new(
                LnccmdStatus::UnknownProperty,
                format!(
                    "unknown property '{}' at position {} (known: {})",
                    printable(&p.key),
                    p.pos,
                    PROPERTIES.join(", ")
                ),
            ));
        };
        let v = p.value.as_deref();
        match key {
            Key::Server => server = Some(parse_server(&text_value(p, name, false)?)?),
            // Addresses are checked after the loop, when checkMail is known.
            Key::Sender => {
                let v = text_value(p, name, false)?;
                sender = Some(props::parse_single_address(name, &v)?);
            }
            Key::TraceFile => {
                let v = text_value(p, name, false)?;
                trace = if v.is_empty() {
                    None
                } else {
                    Some(check_logfile(name, &v)?)
                };
            }
            Key::ReturnPath => {
                let v = text_value(p, name, false)?;
                return_path = if v.is_empty() {
                    None
                } else {
                    Some(props::parse_single_address(name, &v)?)
                };
            }
            Key::Reply => {
                let v = text_value(p, name, false)?;
                reply = if v.is_empty() {
                    None
                } else {
                    Some(props::parse_single_address(name, &v)?)
                };
            }
            Key::Logfile => {
                let v = text_value(p, name, false)?;
                logfile = if v.is_empty() {
                    None
                } else {
                    Some(check_logfile(name, &v)?)
                };
            }
            Key::CheckMail => check_mail = parse_bool(name, v)?,
            Key::Port => port = Some(parse_number(name, v, 1, 65535)? as u16),
            Key::Timeout => timeout = parse_number(name, v, 1, 3600)?,
            Key::HeloName => {
                let v = text_value(p, name, false)?;
                helo = if v.is_empty() {
                    None
                } else {
                    Some(parse_helo(&v)?)
                };
            }
            Key::SslType => {
                let v = text_value(p, name, false)?;
                smtps = if v.eq_ignore_ascii_case("SMTPS") {
                    true
                } else if v.eq_ignore_ascii_case("TLS") {
                    false
                } else {
                    return Err(bad_value(format!(
                        "'SSLType' must be TLS or SMTPS, not '{}'",
                        printable(&v)
                    )));
                };
            }
            Key::EnableSsl => enable_ssl = Some(parse_bool(name, v)?),
            Key::Provider => {
                let v = text_value(p, name, false)?;
                provider = match v.to_ascii_uppercase().as_str() {
                    "" => None,
                    "M365" => Some(Provider::M365),
                    "GOOGLE" => Some(Provider::Google),
                    _ => {
                        return Err(bad_value(format!(
                            "'Provider' must be M365 or Google, not '{}'",
                            printable(&v)
                        )));
                    }
                };
            }
            Key::OAuth2ClientSecret => {
                let v = text_value(p, name, true)?;
                o.client_secret = (!v.is_empty()).then_some(v);
            }
            Key::OAuth2CertPassword => o.cert_password = text_value(p, name, true)?,
            Key::OAuth2Cache => {
                let v = text_value(p, name, false)?;
                o.cache = if v.is_empty() {
                    None
                } else {
                    Some(check_logfile(name, &v)?)
                };
            }
            Key::OAuth2Tenant
            | Key::OAuth2ClientId
            | Key::OAuth2ClientCert
            | Key::OAuth2Scope
            | Key::OAuth2TokenUrl
            | Key::OAuth2ServiceAccount => {
                let v = text_value(p, name, false)?;
                let v = (!v.is_empty()).then_some(v);
                match key {
                    Key::OAuth2Tenant => o.tenant = v,
                    Key::OAuth2ClientId => o.client_id = v,
                    Key::OAuth2ClientCert => o.client_cert = v,
                    Key::OAuth2Scope => o.scope = v,
                    Key::OAuth2TokenUrl => o.token_url = v,
                    _ => o.service_account = v,
                }
            }
            Key::UseTestMode => test_mode = parse_bool(name, v)?,
            Key::AllowPlainAuth => allow_plain_auth = parse_bool(name, v)?,
            Key::Sign => sm.sign = parse_bool(name, v)?,
            Key::Encrypt => sm.encrypt = parse_bool(name, v)?,
            Key::SecureHeaders => {
                // `RFC9788` (or `HP`) is the header protection of RFC 9788;
                // true/yes/1 the wrapper, as LAUNCHER writes it.
                sm.rfc9788 = v.is_some_and(|v| {
                    v.eq_ignore_ascii_case("RFC9788") || v.eq_ignore_ascii_case("HP")
                });
                sm.secure_headers = sm.rfc9788
                    || v.is_some_and(|v| v.eq_ignore_ascii_case("wrapper"))
                    || parse_bool(name, v).map_err(|mut e| {
                        e.detail
                            .push_str(", or RFC9788 (header protection) or WRAPPER");
                        e
                    })?;
            }
            Key::UserId => {
                let v = text_value(p, name, false)?;
                user = (!v.is_empty()).then_some(v);
            }
            Key::Password => {
                let v = text_value(p, name, true)?;
                password = (!v.is_empty()).then_some(v);
            }
            Key::PwdCertif => certif_password = text_value(p, name, true)?,
            Key::Certif => {
                let v = text_value(p, name, false)?;
                certif = (!v.is_empty()).then_some(v);
            }
            Key::WrapperSubject => {
                let v = text_value(p, name, false)?;
                check_header_text(&format!("'{name}'"), &v)?;
                sm.wrapper_subject = (!v.is_empty()).then_some(v);
            }
            Key::RecipientCerts => {
                let v = text_value(p, name, false)?;
                recipient_certs = (!v.is_empty()).then_some(v);
            }
            Key::TrustCert => {
                let v = text_value(p, name, false)?;
                trust = if v.is_empty() {
                    Vec::new()
                } else {
                    read_trust_cert(&v)?
                };
            }
            Key::DkimKeyFile | Key::DkimDomain | Key::DkimSelector => {
                let v = text_value(p, name, false)?;
                let v = (!v.is_empty()).then_some(v);
                match key {
                    Key::DkimKeyFile => dkim_key = v,
                    Key::DkimDomain => dkim_domain = v,
                    _ => dkim_selector = v,
                }
            }
            Key::Retries => retries = parse_number(name, v, 0, 10)?,
            Key::SendIncomplete => send_incomplete = parse_bool(name, v)?,
            Key::KeepAlive => keep_alive = parse_number(name, v, 0, 3600)?,
            Key::AuthMethod => {
                let v = text_value(p, name, false)?;
                method = Some(match v.to_ascii_uppercase().as_str() {
                    "PLAIN" => AuthMethod::Plain,
                    "LOGIN" => AuthMethod::Login,
                    "XOAUTH2" => AuthMethod::Xoauth2,
                    "OAUTHBEARER" => AuthMethod::OAuthBearer,
                    _ => {
                        return Err(bad_value(format!(
                            "'AuthMethod' must be PLAIN, LOGIN, XOAUTH2 or OAUTHBEARER, not '{}'",
                            printable(&v)
                        )));
                    }
                });
            }
            Key::EncryptAlgo => {
                let v = text_value(p, name, false)?;
                sm.algo = Algo::parse(&v).ok_or_else(|| {
                    bad_value(format!(
                        "'EncryptAlgo' must be AES128-CBC, AES256-CBC, AES128-GCM or AES256-GCM, not '{}'",
                        printable(&v)
                    ))
                })?;
            }
            Key::InputCharset => {
                let v = text_value(p, name, false)?;
                input = crate::charset::parse_input_charset(&v)?;
            }
        }
    }

    let server = server.or_else(|| provider.map(|p| p.server().to_string()));
    let Some(server) = server else {
        return Err(Error::new(
            LnccmdStatus::MissingProperty,
            "required property 'Server' is missing (Server=\"smtp.example.com\")",
        ));
    };
    let Some(sender) = sender else {
        return Err(Error::new(
            LnccmdStatus::MissingProperty,
            "required property 'Sender' is missing (Sender=\"you@example.com\")",
        ));
    };
    let dkim = match (dkim_key, dkim_domain, dkim_selector) {
        (None, None, None) => None,
        (Some(k), Some(d), Some(s)) => Some(crate::dkim::DkimSigner::load(&k, &d, &s)?),
        _ => {
            return Err(Error::new(
                LnccmdStatus::MissingProperty,
                "DKIM signing needs all three of 'DKIMKey', 'DKIMDomain' and 'DKIMSelector'",
            ));
        }
    };
    let sender = mailbox(sender, check_mail)?;
    if sm.sign || sm.encrypt {
        let Some(file) = certif else {
            return Err(Error::new(
                LnccmdStatus::MissingProperty,
                "Sign and Encrypt need 'Certif', the .p12 file of the sender's key and certificate",
            ));
        };
        let addr = sender.email.to_string();
        sm.identity = Some(crate::smime::load_identity(&file, &certif_password, &addr)?);
        if let Some(spec) = recipient_certs {
            sm.recipients = Some(crate::smime::load_recipient_certs(&spec)?);
        }
    } else if sm.secure_headers {
        return Err(bad_value(
            "SecureHeaders protects the headers by signing and/or encrypting them: set Sign=true or Encrypt=true too".into(),
        ));
    }
    let reply = reply.map(|r| mailbox(r, check_mail)).transpose()?;
    let return_path = return_path.map(|r| mailbox(r, check_mail)).transpose()?;
    // A provider's submission port takes STARTTLS, required.
    let enable_ssl = enable_ssl.unwrap_or(provider.is_some());
    let tls = match (smtps, enable_ssl) {
        (true, _) => TlsMode::Smtps,
        (false, true) => TlsMode::StartTls,
        (false, false) => TlsMode::None,
    };
    let timeout = Duration::from_secs(timeout.into());
    let mailbox = user.clone().unwrap_or_else(|| sender.email.to_string());
    let oauth = oauth2_client(o, provider, mailbox.clone(), &trust, timeout)?;
    let auth = match (user, password, oauth) {
        (_, Some(_), Some(_)) => {
            return Err(bad_value(
                "'password' and an OAuth2 client are both given: with OAuth2ClientId or OAuth2ServiceAccount lnccmd gets the token itself; remove 'password'".into(),
            ));
        }
        (_, None, Some(client)) => {
            if matches!(method, Some(AuthMethod::Plain | AuthMethod::Login)) {
                return Err(bad_value(
                    "an OAuth2 client authenticates with a token: AuthMethod must be XOAUTH2 or OAUTHBEARER (or not given)".into(),
                ));
            }
            Some(Auth {
                user: mailbox,
                credential: Credential::OAuth2(std::sync::Arc::new(client)),
                method,
            })
        }
        (Some(user), Some(pw), None) => Some(Auth {
            user,
            credential: Credential::Password(Secret(pw)),
            method,
        }),
        (None, None, None) if method.is_none() => None,
        (None, _, None) => {
            return Err(Error::new(
                LnccmdStatus::MissingProperty,
                "'password' or 'AuthMethod' is given without 'UserId'",
            ));
        }
        (Some(_), None, None) => {
            return Err(Error::new(
                LnccmdStatus::MissingProperty,
                "'UserId' is given without 'password', 'OAuth2ClientId' or 'OAuth2ServiceAccount'",
            ));
        }
    };
    if auth.is_some() && tls == TlsMode::None && !allow_plain_auth {
        return Err(Error::new(
            LnccmdStatus::AuthUnavailable,
            "credentials would be sent over an unencrypted connection: set enableSSL=true \
             (or SSLType=SMTPS), or AllowPlainAuth=true if the network is trusted",
        ));
    }
    let port = port.unwrap_or(match (smtps, provider) {
        (true, _) => 465,
        (false, Some(_)) => 587,
        (false, None) => 25,
    });
    Ok(Settings {
        endpoint: Endpoint {
            server,
            port,
            timeout,
            helo,
            tls,
            test_mode,
            trust,
            auth,
            allow_plain_auth,
            trace,
        },
        sender,
        reply,
        return_path,
        logfile,
        check_mail,
        input,
        retries,
        send_incomplete,
        keep_alive: Duration::from_secs(keep_alive.into()),
        smime: sm,
        dkim,
    })
}

/// `TrustCert`: a PEM file of one or more certificates (a CA, or the server's own).
fn read_trust_cert(path: &str) -> Result<Vec<Vec<u8>>> {
    let bytes = crate::files::read("TrustCert file", std::path::Path::new(path))?;
    let certs = openssl::x509::X509::stack_from_pem(&bytes).unwrap_or_default();
    if certs.is_empty() {
        return Err(bad_value(format!(
            "TrustCert file '{}' holds no PEM certificate",
            printable(path)
        )));
    }
    certs
        .iter()
        .map(|c| c.to_pem())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| bad_value(format!("TrustCert file '{}': {e}", printable(path))))
}

#[cfg(test)]
mod tests {

    /// Issue #15 item 14: what an address check must accept and refuse,
    /// with and without checkMail.
    #[test]
    fn address_literals_lengths_and_quoted_pairs() {
        let check = |a: &str, cm: bool| {
            let entry = crate::props::AddressEntry {
                name: None,
                addr: a.into(),
            };
            mailbox(entry, cm).map(|m| m.email.to_string())
        };
        for cm in [false, true] {
            for bad in [
                "t@[255.255.255.256]".to_string(),
                "t@[IPv5:1::2]".into(),
                "t@[IPv6:1111::4444:5555::8888]".into(),
                "t@[RFC-5322-domain-literal]".into(),
                "\"test\\©\"@iana.org".into(),
                "test@iana/icann.org".into(),
                "test@under_score.example".into(),
                format!("{}@x.test", "a".repeat(65)),
                format!("a@{}.test", "b".repeat(64)),
                format!(
                    "{}@{}.{}.{}.test",
                    "a".repeat(64),
                    "b".repeat(63),
                    "c".repeat(63),
                    "d".repeat(60)
                ),
            ] {
                let e = check(&bad, cm).unwrap_err();
                assert_eq!(e.status, LnccmdStatus::BadAddress, "{bad}");
            }
            for (good, sent) in [
                (r#""\""@iana.org"#, r#""\""@iana.org"#),
                (r#""first\"last"@iana.org"#, r#""first\"last"@iana.org"#),
                (r#""test\ test"@iana.org"#, r#""test test"@iana.org"#),
                (r#""test\\blah"@iana.org"#, r#""test\\blah"@iana.org"#),
                ("t@[192.0.2.1]", "t@[192.0.2.1]"),
                ("t@[IPv6:2001:db8::1]", "t@[IPv6:2001:db8::1]"),
            ] {
                assert_eq!(check(good, cm).unwrap(), sent, "{good} checkMail={cm}");
            }
        }
        let longest = format!(
            "{}@{}.{}.{}.test",
            "a".repeat(64),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(56)
        );
        assert_eq!(longest.len(), 254);
        assert!(check(&longest, false).is_ok());
    }
    use super::*;

    fn code(s: &str) -> LnccmdStatus {
        parse(s).unwrap_err().status
    }

    #[test]
    fn minimal_and_defaults() {
        let s = parse(r#"Server="smtp.example.com";Sender="Tech <tech@example.com>""#).unwrap();
        assert_eq!(s.endpoint.server, "smtp.example.com");
        assert_eq!(s.endpoint.port, 25);
        assert_eq!(s.endpoint.timeout, Duration::from_secs(60));
        assert_eq!(s.sender.email.to_string(), "tech@example.com");
        assert_eq!(s.sender.name.as_deref(), Some("Tech"));
        assert!(s.reply.is_none() && s.logfile.is_none() && s.endpoint.helo.is_none());
    }

    #[test]
    fn vendor_example_with_all_defaults_spelled_out() {
        let s = parse(
            r#"SERVER="SMTP.AURA.FR";SENDER="TECH@EASYCOM-AURA.COM";REPLY="TECH@EASYCOM-AURA.COM";logfile="/tmp/logaurasmtp.txt";
               port=2525; enableSSL=false; SSLType=TLS; Sign=false; Encrypt=false; Timeout=30; SecureHeaders=false;
               WrapperSubject=""; checkMail= false; useTestMode=*NO; Retries=0; EncryptAlgo=AES256-CBC; InputCharset=utf-8"#,
        )
        .unwrap();
        assert_eq!(s.endpoint.port, 2525);
        assert_eq!(s.endpoint.timeout, Duration::from_secs(30));
        assert_eq!(s.reply.unwrap().email.to_string(), "TECH@EASYCOM-AURA.COM");
        assert_eq!(s.logfile.unwrap(), PathBuf::from("/tmp/logaurasmtp.txt"));
    }

    #[test]
    fn ipv6_and_ipv4_servers() {
        let s = parse("Server=[::1];Sender=a@b.test").unwrap();
        assert_eq!(s.endpoint.server, "::1");
        assert_eq!(s.endpoint.display(), "[::1]:25");
        assert_eq!(
            parse("Server=::1;Sender=a@b.test").unwrap().endpoint.server,
            "::1"
        );
        assert_eq!(
            parse("Server=127.0.0.1;Sender=a@b.test")
                .unwrap()
                .endpoint
                .display(),
            "127.0.0.1:25"
        );
    }

    #[test]
    fn missing_required() {
        assert_eq!(code("Sender=a@b.test"), LnccmdStatus::MissingProperty);
        assert_eq!(code("Server=x.test"), LnccmdStatus::MissingProperty);
        assert_eq!(code(""), LnccmdStatus::MissingProperty);
    }

    #[test]
    fn bad_values_name_the_key() {
        for (s, key) in [
            ("Server=x.test;Sender=a@b.test;port=0", "port"),
            ("Server=x.test;Sender=a@b.test;port=70000", "port"),
            ("Server=x.test;Sender=a@b.test;port=abc", "port"),
            ("Server=x.test;Sender=a@b.test;Timeout=0", "Timeout"),
            ("Server=x.test;Sender=a@b.test;enableSSL=maybe", "enableSSL"),
            ("Server=x.test;Sender=a@b.test;SSLType=SSL", "SSLType"),
            ("Server=x.test:25;Sender=a@b.test", "Server"),
            ("Server=bad host;Sender=a@b.test", "Server"),
            ("Server;Sender=a@b.test", "Server"),
            (
                "Server=x.test;Sender=a@b.test;AuthMethod=CRAM-MD5",
                "AuthMethod",
            ),
            (
                "Server=x.test;Sender=a@b.test;EncryptAlgo=DES",
                "EncryptAlgo",
            ),
            (
                "Server=x.test;Sender=a@b.test;InputCharset=klingon",
                "InputCharset",
            ),
            ("Server=x.test;Sender=a@b.test;HeloName=a b", "HeloName"),
        ] {
            let e = parse(s).unwrap_err();
            assert_eq!(e.status, LnccmdStatus::BadValue, "{s}: {}", e.detail);
            assert!(e.detail.contains(key), "{s}: {}", e.detail);
        }
    }

    #[test]
    fn bad_addresses() {
        assert_eq!(
            code("Server=x.test;Sender=nobody"),
            LnccmdStatus::BadAddress
        );
        assert_eq!(
            code("Server=x.test;Sender=a@b.test;reply=x@"),
            LnccmdStatus::BadAddress
        );
        assert_eq!(
            code("Server=x.test;Sender=a@@b.test"),
            LnccmdStatus::BadAddress
        );
    }

    #[test]
    fn sender_with_crlf_is_header_injection() {
        let e = parse("Server=x.test;Sender=\"a@b.test\r\nBcc: evil@x.test\"").unwrap_err();
        assert_eq!(e.status, LnccmdStatus::HeaderInjection);
        assert!(
            e.detail.contains("'Sender'") && e.detail.contains("CR"),
            "{}",
            e.detail
        );
    }

    #[test]
    fn unknown_key_names_key_and_position() {
        let e = parse("Server=x.test;Sender=a@b.test;Sever=y").unwrap_err();
        assert_eq!(e.status, LnccmdStatus::UnknownProperty);
        assert!(
            e.detail.contains("'Sever'") && e.detail.contains("position 31"),
            "{}",
            e.detail
        );
    }

    #[test]
    fn keys_are_case_insensitive_and_last_wins() {
        let s = parse("sErVeR=a.test;SENDER=a@b.test;server=b.test;PORT=1;Port=2").unwrap();
        assert_eq!(s.endpoint.server, "b.test");
        assert_eq!(s.endpoint.port, 2);
        // A non-default value overridden by a default one is fine.
        assert!(parse("Server=a.test;Sender=a@b.test;enableSSL=true;enableSSL=false").is_ok());
    }

    #[test]
    fn dkim_needs_all_three_properties() {
        let base = "Server=x.test;Sender=a@b.test";
        for extra in [
            "DKIMKey=/k.pem",
            "DKIMDomain=b.test",
            "DKIMKey=/k.pem;DKIMSelector=s1",
        ] {
            let e = parse(&format!("{base};{extra}")).unwrap_err();
            assert_eq!(e.status, LnccmdStatus::MissingProperty, "{extra}");
        }
        let e = parse(&format!(
            "{base};DKIMKey=/no/k.pem;DKIMDomain=b.test;DKIMSelector=s1"
        ))
        .unwrap_err();
        assert_eq!(e.status, LnccmdStatus::FileNotFound);
        let e = parse(&format!(
            "{base};DKIMKey=/etc/hostname;DKIMDomain=b.test;DKIMSelector=s1"
        ))
        .unwrap_err();
        assert_eq!(e.status, LnccmdStatus::BadValue);
        let e = parse(&format!(
            "{base};DKIMKey=/etc/hostname;DKIMDomain=\"b test\";DKIMSelector=s1"
        ))
        .unwrap_err();
        assert!(e.detail.contains("DKIMDomain"), "{}", e.detail);
    }

    #[test]
    fn transport_properties() {
        let base = "Server=x.test;Sender=a@b.test";
        let s = parse(base).unwrap().endpoint;
        assert_eq!((s.tls, s.port, s.auth.is_none()), (TlsMode::None, 25, true));
        let s = parse(&format!("{base};enableSSL=true;port=587"))
            .unwrap()
            .endpoint;
        assert_eq!((s.tls, s.port), (TlsMode::StartTls, 587));
        let s = parse(&format!("{base};SSLType=SMTPS")).unwrap().endpoint;
        assert_eq!((s.tls, s.port), (TlsMode::Smtps, 465));
        let s = parse(&format!(
            "{base};enableSSL=yes;UserId=u;password=p;AuthMethod=login"
        ))
        .unwrap()
        .endpoint;
        let auth = s.auth.unwrap();
        assert_eq!(
            (auth.user.as_str(), auth.method),
            ("u", Some(AuthMethod::Login))
        );
        assert_eq!(format!("{:?}", auth.credential), "Password(***)");
        // Credentials in clear: refused unless AllowPlainAuth.
        let e = parse(&format!("{base};UserId=u;password=p")).unwrap_err();
        assert_eq!(e.status, LnccmdStatus::AuthUnavailable);
        assert!(parse(&format!("{base};UserId=u;password=p;AllowPlainAuth=true")).is_ok());
        assert_eq!(
            code(&format!("{base};UserId=u;enableSSL=1")),
            LnccmdStatus::MissingProperty
        );
        assert_eq!(
            code(&format!("{base};password=p;enableSSL=1")),
            LnccmdStatus::MissingProperty
        );
        assert_eq!(parse(&format!("{base};Retries=3")).unwrap().retries, 3);
        assert_eq!(code(&format!("{base};Retries=11")), LnccmdStatus::BadValue);
        assert_eq!(
            code(&format!("{base};TrustCert=/no/such.pem")),
            LnccmdStatus::FileNotFound
        );
        assert_eq!(
            code(&format!("{base};TrustCert=/etc/hostname")),
            LnccmdStatus::BadValue
        );
        // The whole endpoint decides reuse: a new password is a new connection.
        let a = parse(&format!("{base};enableSSL=1;UserId=u;password=p1"))
            .unwrap()
            .endpoint;
        let b = parse(&format!("{base};enableSSL=1;UserId=u;password=p2"))
            .unwrap()
            .endpoint;
        assert_ne!(a, b);
        assert!(!format!("{a:?}").contains("p1"));
    }

    #[test]
    fn passwords_never_appear_in_errors() {
        for s in [
            "Server=x.test;Sender=a@b.test;password=Sup3rSecret",
            "Server=x.test;Sender=a@b.test;Sign=true;PwdCertif=Sup3rSecret",
            "Server=x.test;Sender=a@b.test;password=\"Sup3rSecret\r\n\"",
            "Server=x.test;Sender=a@b.test;password=Sup3rSecret;port=0",
            "Server=x.test;Sender=a@b.test;password=Sup3r;Secret",
            "Server=x.test;Sender=a@b.test;PwdCertif=Sup3r;Secret=1",
            "Server=x.test;Sender=a@b.test;password=Sup3r\"Sec;ret\"",
        ] {
            let e = parse(s).unwrap_err();
            for fragment in ["Sup3r", "Secret", "ret"] {
                assert!(!e.detail.contains(fragment), "{s}: {}", e.detail);
            }
        }
    }

    #[test]
    fn a_provider_preset_fills_server_port_starttls_and_the_token_endpoint() {
        let ms = "Provider=M365;Sender=payroll@contoso.test;OAuth2Tenant=contoso.onmicrosoft.com;\
                  OAuth2ClientId=app;OAuth2ClientSecret=\"Ms-s3cret-value\"";
        let s = parse(ms).unwrap();
        let ep = &s.endpoint;
        assert_eq!(
            (ep.server.as_str(), ep.port, ep.tls),
            ("smtp.office365.com", 587, TlsMode::StartTls)
        );
        let auth = ep.auth.as_ref().unwrap();
        assert_eq!(
            auth.user, "payroll@contoso.test",
            "UserId defaults to the Sender"
        );
        assert_eq!(
            auth.method, None,
            "XOAUTH2 first, then OAUTHBEARER, from EHLO"
        );
        let Credential::OAuth2(client) = &auth.credential else {
            panic!("no OAuth2 client");
        };
        assert_eq!(
            client.token_url,
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert_eq!(client.scope, "https://outlook.office365.com/.default");
        assert!(!format!("{s:?}").contains("Ms-s3cret-value"));
        // Any explicit property overrides the preset.
        let s = parse(&format!(
            "{ms};Server=relay.contoso.test;port=2525;SSLType=SMTPS;OAuth2Scope=\"api://x/.default\";UserId=hr@contoso.test"
        ))
        .unwrap();
        assert_eq!(
            (s.endpoint.server.as_str(), s.endpoint.port, s.endpoint.tls),
            ("relay.contoso.test", 2525, TlsMode::Smtps)
        );
        assert_eq!(s.endpoint.auth.as_ref().unwrap().user, "hr@contoso.test");
        // SMTPS without a port: 465, not the preset's 587.
        assert_eq!(
            parse(&format!("{ms};SSLType=SMTPS")).unwrap().endpoint.port,
            465
        );
        // enableSSL=false: the credentials would go in clear, refused.
        assert_eq!(
            parse(&format!("{ms};enableSSL=false")).unwrap_err().status,
            LnccmdStatus::AuthUnavailable
        );
        // Provider=Google alone is a server preset (app passwords work too).
        let g = parse("Provider=google;Sender=a@b.test;UserId=a@b.test;password=\"s3cret-pw\"")
            .unwrap();
        assert_eq!(
            (g.endpoint.server.as_str(), g.endpoint.port, g.endpoint.tls),
            ("smtp.gmail.com", 587, TlsMode::StartTls)
        );
        // Without a provider, nothing changes: port 25, no TLS.
        let plain = parse("Server=x.test;Sender=a@b.test").unwrap();
        assert_eq!(
            (plain.endpoint.port, plain.endpoint.tls),
            (25, TlsMode::None)
        );
    }

    #[test]
    fn logfile_checks() {
        let base = "Server=x.test;Sender=a@b.test;logfile=";
        assert_eq!(
            code(&format!("{base}/no/such/folder/log.csv")),
            LnccmdStatus::FileNotFound
        );
        assert_eq!(code(&format!("{base}/tmp")), LnccmdStatus::FileUnreadable);
        let e = parse(&format!("{base}\"c:\\temp\\log.txt\"")).unwrap_err();
        assert_eq!(e.status, LnccmdStatus::BadValue);
        assert!(e.detail.contains("Windows path"), "{}", e.detail);
        // A UNC share: the same hint (it was a file of that literal name).
        let e = parse(&format!("{base}\"\\\\srv\\partage\\log.txt\"")).unwrap_err();
        assert_eq!(e.status, LnccmdStatus::BadValue);
        assert_eq!(
            e.detail,
            format!(
                "'logfile' is a Windows path ('\\\\srv\\partage\\log.txt'): {}",
                crate::files::windows_hint("/var/log/lnccmd/send.csv")
            )
        );
        assert!(
            e.detail
                .ends_with("create its folder if missing (mkdir -p /var/log/lnccmd)")
        );
        let e = parse(&format!("{base}/no/such/folder/log.csv")).unwrap_err();
        assert!(
            e.detail.contains("create it (mkdir -p '/no/such/folder')"),
            "{}",
            e.detail
        );
        assert!(
            parse(&format!("{base}relative.csv"))
                .unwrap()
                .logfile
                .is_some()
        );
    }

    #[test]
    fn check_mail_applies_to_sender_and_reply_wherever_it_is_given() {
        assert!(parse("Server=x.test;Sender=a@localhost").is_ok());
        let e = parse("Sender=a@localhost;Server=x.test;checkMail=true").unwrap_err();
        assert_eq!(e.status, LnccmdStatus::BadAddress);
        assert!(
            e.detail.contains("'a@localhost'") && e.detail.contains("checkMail"),
            "{}",
            e.detail
        );
        assert_eq!(
            code("checkMail;Server=x.test;Sender=a@b.test;reply=\"x..y@b.test\""),
            LnccmdStatus::BadAddress
        );
        assert!(parse("checkMail=yes;Server=x.test;Sender=a@[192.0.2.1]").is_ok());
    }

    #[test]
    fn internationalised_domains_become_punycode() {
        let s = parse("Server=x.test;Sender=Zoé <zoe@bücher.example>").unwrap();
        assert_eq!(s.sender.email.to_string(), "zoe@xn--bcher-kva.example");
        let s = parse("Server=x.test;Sender=zoë@bücher.example").unwrap();
        assert_eq!(
            s.sender.email.to_string(),
            "zoë@bücher.example",
            "SMTPUTF8 keeps it whole"
        );
    }

    #[test]
    fn input_charset() {
        let s = parse("Server=x.test;Sender=a@b.test;InputCharset=windows-1252").unwrap();
        assert_eq!(
            s.input,
            crate::charset::InputCharset::Whatwg(encoding_rs::WINDOWS_1252)
        );
        let s = parse("Server=x.test;Sender=a@b.test;InputCharset=CCSID1147").unwrap();
        assert!(matches!(s.input, crate::charset::InputCharset::Ebcdic(t) if t.ccsid == 1147));
        let e = parse("Server=x.test;Sender=a@b.test;InputCharset=850").unwrap_err();
        assert_eq!(e.status, LnccmdStatus::BadValue);
        assert!(e.detail.contains("CCSID '850'"), "{}", e.detail);
        assert_eq!(
            parse("Server=x.test;Sender=a@b.test").unwrap().input,
            crate::charset::InputCharset::UTF8
        );
    }

    #[test]
    fn helo_name() {
        let s = parse("Server=x.test;Sender=a@b.test;HeloName=client.example.test").unwrap();
        assert_eq!(s.endpoint.helo.as_deref(), Some("client.example.test"));
        assert!(parse("Server=x.test;Sender=a@b.test;HeloName=[192.0.2.1]").is_ok());
    }

    fn addr(a: &str) -> Result<Mailbox> {
        mailbox(
            props::AddressEntry {
                name: Some("Tech Team".into()),
                addr: a.into(),
            },
            false,
        )
    }

    #[test]
    fn ip_domains_take_the_rfc_5321_form_or_are_refused() {
        for (given, kept) in [
            ("t@[192.0.2.1]", "t@[192.0.2.1]"),
            ("t@192.0.2.1", "t@192.0.2.1"),
            ("t@[IPv6:2001:db8::1]", "t@[IPv6:2001:db8::1]"),
            ("t@[ipv6:2001:db8::1]", "t@[IPv6:2001:db8::1]"),
            ("t@[2001:db8::1]", "t@[IPv6:2001:db8::1]"),
            ("t@2001:db8::1", "t@[IPv6:2001:db8::1]"),
            ("t@[::ffff:192.0.2.1]", "t@[IPv6:::ffff:192.0.2.1]"),
        ] {
            assert_eq!(addr(given).unwrap().email.to_string(), kept, "{given}");
        }
        for bad in [
            "t@[mail]",
            "t@[ü]",
            "t@[999.0.2.1]",
            "t@[IPv6:192.0.2.1]",
            "t@[IPv6:mail]",
            "t@[]",
        ] {
            let e = addr(bad).unwrap_err();
            assert_eq!(e.status, LnccmdStatus::BadAddress, "{bad}: {}", e.detail);
        }
        let e = addr("t@[mail]").unwrap_err();
        assert!(e.detail.contains("[IPv6:2001:db8::1]"), "{}", e.detail);
    }

    /// lettre builds a message from the text of its From header (parsed
    /// back): every accepted form must survive that (vendor/README.md).
    #[test]
    fn every_accepted_address_parses_back_from_its_header_text() {
        for a in [
            "t@[192.0.2.1]",
            "t@[IPv6:2001:db8::1]",
            "\"a b\"@example.com",
            "\"a\\\"b\"@example.com",
            "\"a b\"@[192.0.2.1]",
            "josé@bücher.example",
            "bob@example.com",
        ] {
            let mb = addr(a).unwrap();
            for mb in [mb.clone(), Mailbox::new(None, mb.email.clone())] {
                let back: Mailbox = mb.to_string().parse().unwrap();
                assert_eq!(back, mb, "{a}");
                let list: lettre::message::Mailboxes =
                    format!("{mb}, bob@example.com").parse().unwrap();
                assert_eq!(list.iter().next(), Some(&mb), "{a}");
                assert_eq!(list.iter().count(), 2, "{a}");
            }
        }
    }
}
