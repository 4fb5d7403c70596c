//! DKIM signing (RFC 6376; ed25519-sha256 from RFC 8463) of the final
//! message bytes, after S/MIME, with OpenSSL: relaxed/relaxed canonicalization.
//!
//! Written here rather than taken from lettre's `dkim` feature: that one
//! brings a second crypto stack (the `rsa` crate, with its timing side
//! channel, RUSTSEC-2023-0071) and reads only PKCS#1 RSA keys; OpenSSL is
//! already linked and reads every PEM key format.

use openssl::hash::{MessageDigest, hash};
use openssl::pkey::{Id, PKey, Private};
use openssl::sign::Signer;

use crate::error::{Error, LnccmdStatus, Result};
use crate::props::printable;

/// Headers signed when present, in this order (RFC 6376 §5.4.1 list).
const SIGNED_HEADERS: [&str; 11] = [
    "from",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "reply-to",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "disposition-notification-to",
];

/// `DKIMKey`, `DKIMDomain`, `DKIMSelector`, loaded at MAILSMTP.
#[derive(Clone)]
pub struct DkimSigner {
    key: PKey<Private>,
    pub domain: String,
    pub selector: String,
}

impl std::fmt::Debug for DkimSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DkimSigner({}, {})", self.selector, self.domain)
    }
}

fn dkim_error(msg: String) -> Error {
    Error::new(LnccmdStatus::BadValue, msg)
}

impl DkimSigner {
    /// Loads an RSA (1024 bits at least) or Ed25519 private key from a PEM file.
    pub fn load(key_file: &str, domain: &str, selector: &str) -> Result<DkimSigner> {
        if !crate::props::is_dns_name(domain) {
            return Err(dkim_error(format!(
                "'DKIMDomain' must be a domain name, not '{}'",
                printable(domain)
            )));
        }
        if !crate::props::is_dns_name(selector) {
            return Err(dkim_error(format!(
                "'DKIMSelector' must be a DNS label, not '{}'",
                printable(selector)
            )));
        }
        let pem = crate::files::read("DKIM key file", std::path::Path::new(key_file))?;
        let key = PKey::private_key_from_pem(&pem).map_err(|_| {
            dkim_error(format!(
                "DKIM key file '{}' holds no PEM private key",
                printable(key_file)
            ))
        })?;
        match key.id() {
            Id::RSA if key.bits() >= 1024 => {}
            Id::ED25519 => {}
            _ => {
                return Err(dkim_error(format!(
                    "DKIM key file '{}' must hold an RSA key of 1024 bits or more, or an Ed25519 key",
                    printable(key_file)
                )));
            }
        }
        Ok(DkimSigner {
            key,
            domain: domain.to_ascii_lowercase(),
            selector: selector.to_string(),
        })
    }

    fn algorithm(&self) -> &'static str {
        if self.key.id() == Id::ED25519 {
            "ed25519-sha256"
        } else {
            "rsa-sha256"
        }
    }

    /// The message with a DKIM-Signature header in front.
    pub fn sign(&self, message: Vec<u8>) -> Result<Vec<u8>> {
        let fail = |e: openssl::error::ErrorStack| {
            Error::new(
                LnccmdStatus::SignFailed,
                format!("DKIM signing failed: {e}"),
            )
        };
        let split = find(&message, b"\r\n\r\n")
            .map(|i| i + 2)
            .unwrap_or(message.len());
        let (head, body) = message.split_at(split);
        let body = body.strip_prefix(b"\r\n").unwrap_or(body);
        let bh = openssl::base64::encode_block(
            &hash(MessageDigest::sha256(), &relaxed_body(body)).map_err(fail)?,
        );

        let fields = header_fields(head);
        let mut names = Vec::new();
        let mut canon = Vec::new();
        for wanted in SIGNED_HEADERS {
            // The last occurrence is the one a verifier takes first (§5.4.2).
            if let Some((name, value)) = fields
                .iter()
                .rev()
                .find(|(n, _)| n.eq_ignore_ascii_case(wanted))
            {
                names.push(wanted);
                canon.extend(relaxed_header(name, value));
                canon.extend(b"\r\n");
            }
        }
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        // Folded at "; ", where a blank already is, so relaxed
        // canonicalization gives back the same bytes.
        let prefix = format!(
            "v=1; a={}; c=relaxed/relaxed; d={}; s={}; t={t};\r\n\th={};\r\n\tbh={bh};\r\n\tb=",
            self.algorithm(),
            self.domain,
            self.selector,
            names.join(":")
        );
        canon.extend(relaxed_header("DKIM-Signature", &prefix));
        let sig = if self.key.id() == Id::ED25519 {
            // RFC 8463: Ed25519 over the SHA-256 of the data.
            let digest = hash(MessageDigest::sha256(), &canon).map_err(fail)?;
            let mut s = Signer::new_without_digest(&self.key).map_err(fail)?;
            s.sign_oneshot_to_vec(&digest).map_err(fail)?
        } else {
            let mut s = Signer::new(MessageDigest::sha256(), &self.key).map_err(fail)?;
            s.update(&canon).map_err(fail)?;
            s.sign_to_vec().map_err(fail)?
        };
        let b64 = openssl::base64::encode_block(&sig);
        // b= may be folded anywhere: verifiers drop its whole value.
        let folded: Vec<&str> = b64
            .as_bytes()
            .chunks(72)
            .map(|c| std::str::from_utf8(c).unwrap_or(""))
            .collect();
        let mut out = Vec::with_capacity(message.len() + 600);
        out.extend(b"DKIM-Signature: ");
        out.extend(prefix.as_bytes());
        out.extend(folded.join("\r\n\t").as_bytes());
        out.extend(b"\r\n");
        out.extend(&message);
        Ok(out)
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Header fields as (name, raw value with its folds), from the header block.
fn header_fields(head: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(head);
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push_str("\r\n");
                last.1.push_str(line);
            }
        } else if let Some((name, value)) = line.split_once(':') {
            out.push((name.to_string(), value.to_string()));
        }
    }
    out
}

/// RFC 6376 §3.4.2: lowercase name, unfolded value, blank runs as one
/// space, no blanks around the colon or at the end. No CRLF appended.
fn relaxed_header(name: &str, value: &str) -> Vec<u8> {
    let unfolded = value.replace("\r\n", "");
    let mut v = String::with_capacity(unfolded.len());
    let mut blank = false;
    for c in unfolded.chars() {
        if c == ' ' || c == '\t' {
            blank = true;
        } else {
            if blank && !v.is_empty() {
                v.push(' ');
            }
            blank = false;
            v.push(c);
        }
    }
    format!("{}:{}", name.trim().to_ascii_lowercase(), v).into_bytes()
}

/// RFC 6376 §3.4.4: blank runs as one space, no blanks at line ends, no
/// empty lines at the end, and a final CRLF unless the body is empty.
fn relaxed_body(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    for line in body.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut blank = false;
        for &c in line {
            if c == b' ' || c == b'\t' {
                blank = true;
            } else {
                if blank {
                    out.push(b' ');
                }
                blank = false;
                out.push(c);
            }
        }
        out.extend(b"\r\n");
    }
    while out.ends_with(b"\r\n\r\n") {
        out.truncate(out.len() - 2);
    }
    if out == b"\r\n" {
        out.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relaxed_canonicalization_examples_of_rfc6376() {
        // RFC 6376 §3.4.5.
        assert_eq!(relaxed_header("A", " X"), b"a:X");
        assert_eq!(relaxed_header("B ", " Y\t\r\n\tZ  "), b"b:Y Z");
        assert_eq!(relaxed_body(b" C \r\nD \t E\r\n\r\n\r\n"), b" C\r\nD E\r\n");
        assert_eq!(relaxed_body(b""), b"");
        assert_eq!(relaxed_body(b"\r\n\r\n"), b"");
    }
}
