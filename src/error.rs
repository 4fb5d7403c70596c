//! Status codes (docs/contract.md §9) and the one error type used inside the library.
//! Every failure becomes an `Error { status, detail }`; the boundary flattens it once into RESULT.

use std::ffi::CStr;
use std::fmt;

/// Status codes returned by every call and written at the start of RESULT.
///
/// Numbers are stable and only ever appended: a retired code stays here as a
/// comment and is never given to another meaning. Families: 0 success, 1xx the
/// call itself, 2xx files, 3xx S/MIME, 4xx connection, 5xx server replies,
/// 9xx internal.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LnccmdStatus {
    /// Success. RESULT is exactly "0".
    Ok = 0,
    /// `handle`, `cmd` or `result` was NULL; nothing was done or written.
    NullArgument = 100,
    /// CMD names no known command.
    UnknownCommand = 101,
    /// The handle is 0, was closed by MAILEND, or was never opened.
    BadHandle = 102,
    /// The command needs another one first (e.g. MAILTO before MAILPREP).
    Sequence = 103,
    /// A property string is malformed (missing quote, `=` without key...).
    PropertySyntax = 104,
    /// A required property (Server, Sender) is missing.
    MissingProperty = 105,
    /// A property or parameter has a value that is not allowed.
    BadValue = 106,
    /// A parameter is not valid text in the input charset.
    BadInputCharset = 107,
    /// An e-mail address is malformed.
    BadAddress = 108,
    /// MAILSEND with no recipient.
    NoRecipient = 109,
    /// CR, LF or another control character in a value that goes into a header.
    HeaderInjection = 110,
    /// The message charset cannot carry a character of the text.
    CharsetCannotCarry = 111,
    /// A property name is not known for this command.
    UnknownProperty = 112,
    /// The property, value or command is valid but not implemented yet.
    NotSupported = 113,
    /// MAILSEND refused: a command of this draft failed since its MAILPREP
    /// (RESULT names it); nothing was sent and the draft is kept.
    DraftIncomplete = 114,
    /// A file given to a command does not exist.
    FileNotFound = 200,
    /// A file exists but cannot be read.
    FileUnreadable = 201,
    /// The mail was sent but the send log could not be written.
    LogNotWritable = 202,
    /// The certificate file (.p12) or its key could not be loaded.
    CertLoad = 300,
    /// Wrong password for the certificate file.
    CertPassword = 301,
    /// S/MIME signing failed.
    SignFailed = 302,
    /// S/MIME encryption failed.
    EncryptFailed = 303,
    /// A recipient has no certificate to encrypt to.
    RecipientNoCert = 304,
    /// The certificate has expired or is not valid yet.
    CertExpired = 305,
    /// The private key does not belong to the certificate.
    CertKeyMismatch = 306,
    /// The certificate is not for the Sender's address.
    CertAddress = 307,
    /// The certificate's key is of a kind lnccmd cannot sign or encrypt
    /// with in CMS (RSA-PSS, Ed25519...): refused at MAILSMTP.
    CertKeyUnsupported = 308,
    /// Could not connect to the server (DNS, refused, unreachable).
    Connect = 400,
    /// The server did not answer within Timeout.
    Timeout = 401,
    /// The TLS handshake failed.
    TlsHandshake = 402,
    /// The server's certificate is not trusted.
    CertNotTrusted = 403,
    /// STARTTLS was required but the server does not offer it.
    StartTlsNotOffered = 404,
    /// The server refused the credentials.
    AuthFailed = 405,
    /// AUTH is not offered, or would be sent over an unencrypted connection.
    AuthUnavailable = 406,
    /// The connection was lost during the SMTP dialogue.
    ConnectionLost = 407,
    /// The server sent a reply that is not valid SMTP.
    Protocol = 408,
    /// The whole message was handed over and the server's answer never came:
    /// it may have been delivered. Never retried; check the Message-ID at the
    /// server before sending again.
    DeliveryUncertain = 409,
    /// The OAuth2 token endpoint could not be reached or did not answer
    /// (connection, TLS, timeout, HTTP 5xx); nothing was sent, try later.
    TokenEndpoint = 410,
    /// The identity platform refused the token request (wrong secret,
    /// certificate or permission: its `error` is in RESULT); nothing was sent.
    TokenRefused = 411,
    /// The token endpoint answered with something that is not a token
    /// (HTML, a redirect, too large, no access_token); nothing was sent.
    TokenResponse = 412,
    /// The server refused the sender (MAIL FROM).
    SenderRefused = 500,
    /// Some recipients were refused; the message went to the others.
    PartialDelivery = 501,
    /// Every recipient was refused; nothing was sent.
    AllRecipientsRefused = 502,
    /// The server refused the message (after DATA).
    MessageRefused = 503,
    /// The server answered with a temporary failure (4xx); try again later.
    TemporaryFailure = 504,
    /// The server refused the message as too large.
    TooLarge = 505,
    /// Internal error (a bug); the session may have been closed.
    Internal = 900,
}

impl LnccmdStatus {
    /// Every code, in numeric order (tests and docs iterate over it).
    pub const ALL: &'static [LnccmdStatus] = &[
        Self::Ok,
        Self::NullArgument,
        Self::UnknownCommand,
        Self::BadHandle,
        Self::Sequence,
        Self::PropertySyntax,
        Self::MissingProperty,
        Self::BadValue,
        Self::BadInputCharset,
        Self::BadAddress,
        Self::NoRecipient,
        Self::HeaderInjection,
        Self::CharsetCannotCarry,
        Self::UnknownProperty,
        Self::NotSupported,
        Self::DraftIncomplete,
        Self::FileNotFound,
        Self::FileUnreadable,
        Self::LogNotWritable,
        Self::CertLoad,
        Self::CertPassword,
        Self::SignFailed,
        Self::EncryptFailed,
        Self::RecipientNoCert,
        Self::CertExpired,
        Self::CertKeyMismatch,
        Self::CertAddress,
        Self::CertKeyUnsupported,
        Self::Connect,
        Self::Timeout,
        Self::TlsHandshake,
        Self::CertNotTrusted,
        Self::StartTlsNotOffered,
        Self::AuthFailed,
        Self::AuthUnavailable,
        Self::ConnectionLost,
        Self::Protocol,
        Self::DeliveryUncertain,
        Self::TokenEndpoint,
        Self::TokenRefused,
        Self::TokenResponse,
        Self::SenderRefused,
        Self::PartialDelivery,
        Self::AllRecipientsRefused,
        Self::MessageRefused,
        Self::TemporaryFailure,
        Self::TooLarge,
        Self::Internal,
    ];

    pub fn code(self) -> i32 {
        self as i32
    }

    pub fn from_code(code: i32) -> Option<Self> {
        Self::ALL.iter().copied().find(|s| s.code() == code)
    }

    /// The fixed text of `lnccmd_strerror`. Exhaustive on purpose: a new code
    /// does not compile until it has its message.
    pub fn message(self) -> &'static CStr {
        match self {
            Self::Ok => c"success",
            Self::NullArgument => c"a required argument (handle, cmd or result) is NULL",
            Self::UnknownCommand => c"unknown command",
            Self::BadHandle => c"bad handle: no open session with this number",
            Self::Sequence => c"command out of sequence",
            Self::PropertySyntax => c"malformed property string",
            Self::MissingProperty => c"required property missing",
            Self::BadValue => c"bad property or parameter value",
            Self::BadInputCharset => c"parameter is not valid text in the input charset",
            Self::BadAddress => c"malformed e-mail address",
            Self::NoRecipient => c"the message has no recipient",
            Self::HeaderInjection => c"control character (CR, LF, NUL...) in a header value",
            Self::CharsetCannotCarry => c"the message charset cannot carry the text",
            Self::UnknownProperty => c"unknown property",
            Self::NotSupported => c"not supported yet",
            Self::DraftIncomplete => c"a command of this message failed; nothing sent",
            Self::FileNotFound => c"file not found",
            Self::FileUnreadable => c"file cannot be read",
            Self::LogNotWritable => c"mail sent, but the log file could not be written",
            Self::CertLoad => c"certificate or key could not be loaded",
            Self::CertPassword => c"wrong certificate password",
            Self::SignFailed => c"S/MIME signing failed",
            Self::EncryptFailed => c"S/MIME encryption failed",
            Self::RecipientNoCert => c"recipient has no certificate for encryption",
            Self::CertExpired => c"certificate expired or not yet valid",
            Self::CertKeyMismatch => c"private key does not match the certificate",
            Self::CertAddress => c"certificate is not for the sender's address",
            Self::CertKeyUnsupported => c"certificate key type not usable for S/MIME",
            Self::Connect => c"cannot connect to the SMTP server",
            Self::Timeout => c"timed out waiting for the SMTP server",
            Self::TlsHandshake => c"TLS handshake failed",
            Self::CertNotTrusted => c"server certificate not trusted",
            Self::StartTlsNotOffered => c"STARTTLS required but not offered by the server",
            Self::AuthFailed => c"authentication refused by the server",
            Self::AuthUnavailable => {
                c"authentication not offered, or refused over an unencrypted connection"
            }
            Self::ConnectionLost => c"connection to the SMTP server lost",
            Self::Protocol => c"the SMTP server sent a reply that is not valid SMTP",
            Self::DeliveryUncertain => {
                c"delivery uncertain: the server may have the message; check before sending again"
            }
            Self::TokenEndpoint => {
                c"OAuth2 token endpoint unreachable; nothing sent, try again later"
            }
            Self::TokenRefused => c"OAuth2 token request refused by the identity platform",
            Self::TokenResponse => c"OAuth2 token endpoint sent no usable token",
            Self::SenderRefused => c"sender refused by the server",
            Self::PartialDelivery => c"message sent, but some recipients were refused",
            Self::AllRecipientsRefused => c"all recipients refused; nothing sent",
            Self::MessageRefused => c"message refused by the server",
            Self::TemporaryFailure => c"temporary failure reported by the server; try again later",
            Self::TooLarge => c"message too large for the server",
            Self::Internal => c"internal error",
        }
    }
}

/// One failure: a status and a sentence saying what was wrong, without the
/// command name (the dispatcher puts it in front).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub status: LnccmdStatus,
    pub detail: String,
}

impl Error {
    pub fn new(status: LnccmdStatus, detail: impl Into<String>) -> Self {
        Error {
            status,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.detail)
    }
}

impl std::error::Error for Error {}

/// Shorthand used by every module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_sorted_and_in_their_family() {
        let codes: Vec<i32> = LnccmdStatus::ALL.iter().map(|s| s.code()).collect();
        let mut sorted = codes.clone();
        sorted.sort();
        assert_eq!(codes, sorted, "ALL must be in numeric order");
        assert_eq!(codes.iter().collect::<HashSet<_>>().len(), codes.len());
        for s in LnccmdStatus::ALL {
            assert_eq!(LnccmdStatus::from_code(s.code()), Some(*s));
            let family = s.code() / 100;
            assert!(matches!(family, 0 | 1 | 2 | 3 | 4 | 5 | 9), "{s:?}");
            assert!(!s.message().to_bytes().is_empty());
        }
        assert_eq!(LnccmdStatus::from_code(7), None);
    }
}
