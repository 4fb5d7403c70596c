//! S/MIME (docs/contract.md §6, RFC 8551) with OpenSSL's CMS: loading the .p12 and the
//! recipients' certificates, signing and encrypting MIME entities. Bytes in,
//! bytes out; the MIME around them is compose's.

use std::path::Path;

use once_cell::sync::Lazy;
use openssl::asn1::Asn1Time;
use openssl::nid::Nid;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::{HasPublic, Id, PKey, PKeyRef, Private};
use openssl::provider::Provider;
use openssl::symm::Cipher;
use openssl::x509::X509;

use crate::error::{Error, LnccmdStatus, Result};
use crate::props::printable;

/// OpenSSL 3 reads legacy .p12 files (RC2-40, from older Windows and Java
/// tools) only with the legacy provider; loaded once, kept for the process.
static LEGACY: Lazy<Option<Provider>> = Lazy::new(|| Provider::try_load(None, "legacy", true).ok());

/// The sender's key and certificate chain, from `Certif`.
#[derive(Clone)]
pub struct Identity {
    pub key: PKey<Private>,
    pub cert: X509,
    pub chain: Vec<X509>,
    /// For messages: the file it came from.
    pub file: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identity({})", self.file)
    }
}

impl PartialEq for Identity {
    fn eq(&self, other: &Self) -> bool {
        self.cert.to_der().ok() == other.cert.to_der().ok()
    }
}

/// `EncryptAlgo`; AES-256-CBC by default (gpgsm 2.2 cannot read GCM).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Algo {
    Aes128Cbc,
    #[default]
    Aes256Cbc,
    Aes128Gcm,
    Aes256Gcm,
}

impl Algo {
    pub fn parse(v: &str) -> Option<Algo> {
        Some(match v.to_ascii_uppercase().as_str() {
            "AES128-CBC" => Algo::Aes128Cbc,
            "AES256-CBC" => Algo::Aes256Cbc,
            "AES128-GCM" => Algo::Aes128Gcm,
            "AES256-GCM" => Algo::Aes256Gcm,
            _ => return None,
        })
    }

    fn cipher(self) -> Cipher {
        match self {
            Algo::Aes128Cbc => Cipher::aes_128_cbc(),
            Algo::Aes256Cbc => Cipher::aes_256_cbc(),
            Algo::Aes128Gcm => Cipher::aes_128_gcm(),
            Algo::Aes256Gcm => Cipher::aes_256_gcm(),
        }
    }

    /// The algorithm to encrypt to `certs` with: this one, except that a
    /// GCM mode becomes CBC of the same key size when a certificate's
    /// SMIMECapabilities extension (RFC 4262) lists what its owner reads
    /// and that GCM mode is not among them (RFC 8551 §2.7.1: use what every
    /// recipient announces). A certificate without the extension says
    /// nothing, and `EncryptAlgo` stands.
    pub fn for_recipients(self, certs: &[X509]) -> Algo {
        let (cbc, nid) = match self {
            Algo::Aes128Gcm => (Algo::Aes128Cbc, Nid::AES_128_GCM),
            Algo::Aes256Gcm => (Algo::Aes256Cbc, Nid::AES_256_GCM),
            cbc => return cbc,
        };
        let Some(oid) = nid
            .short_name()
            .ok()
            .and_then(|n| openssl::asn1::Asn1Object::from_str(n).ok())
        else {
            return cbc;
        };
        let refuses = |c: &X509| {
            crate::cms_stream::certificate_capabilities(c)
                .is_some_and(|caps| !caps.iter().any(|o| o.as_slice() == oid.as_slice()))
        };
        if certs.iter().any(refuses) { cbc } else { self }
    }

    /// GCM gives AuthEnvelopedData (RFC 5083), labelled as RFC 8551 says.
    pub fn smime_type(self) -> &'static str {
        match self {
            Algo::Aes128Gcm | Algo::Aes256Gcm => "authEnveloped-data",
            _ => "enveloped-data",
        }
    }
}

pub(crate) fn cert_error(status: LnccmdStatus, file: &str, why: String) -> Error {
    Error::new(
        status,
        format!("certificate file '{}' {why}", printable(file)),
    )
}

/// The e-mail addresses a certificate is for: SAN rfc822Name and the
/// subject's emailAddress, lowercased.
pub fn cert_emails(cert: &X509) -> Vec<String> {
    let mut out: Vec<String> = cert
        .subject_alt_names()
        .map(|sans| {
            sans.iter()
                .filter_map(|n| n.email().map(str::to_ascii_lowercase))
                .collect()
        })
        .unwrap_or_default();
    for e in cert.subject_name().entries_by_nid(Nid::PKCS9_EMAILADDRESS) {
        if let Ok(s) = e.data().to_string() {
            out.push(s.to_ascii_lowercase());
        }
    }
    out
}

/// Why a key cannot be used in CMS by lnccmd, if it cannot: only RSA with
/// the rsaEncryption OID and EC keys sign and receive keys correctly with
/// OpenSSL 3.0. An RSA-PSS key signs with PSS but OpenSSL labels the
/// signature rsaEncryption (RFC 4056 §2 wants rsassaPss), which no
/// verifier accepts, and it cannot receive a transported key; Ed25519 and
/// Ed448 fail in OpenSSL 3.0's CMS signing. Refused at MAILSMTP, so that
/// no MAILSEND fails later with OpenSSL's text (issue #15 item 2).
pub fn unusable_key<T: HasPublic>(key: &PKeyRef<T>) -> Option<String> {
    match key.id() {
        Id::RSA | Id::EC => None,
        Id::RSA_PSS => Some(
            "has an RSA-PSS key (id-RSASSA-PSS), which S/MIME signatures and encryption cannot use here: get a certificate for an RSA key with the rsaEncryption algorithm, or an EC key".into(),
        ),
        Id::ED25519 | Id::ED448 => Some(
            "has an Ed25519/Ed448 key, which OpenSSL 3.0 cannot use for S/MIME (CMS): get a certificate for an RSA or EC key".into(),
        ),
        other => Some(format!(
            "has a key of type {} (OpenSSL id {}), which lnccmd cannot use for S/MIME: get a certificate for an RSA or EC key",
            Nid::from_raw(other.as_raw()).short_name().unwrap_or("unknown"),
            other.as_raw()
        )),
    }
}

/// Whether `cert` is valid now (not before, not after).
pub(crate) fn validity(cert: &X509) -> std::result::Result<(), String> {
    let now = Asn1Time::days_from_now(0).map_err(|e| e.to_string())?;
    if cert.not_before() > now {
        return Err(format!("is not valid before {}", cert.not_before()));
    }
    if cert.not_after() < now {
        return Err(format!("expired on {}", cert.not_after()));
    }
    Ok(())
}

/// Opens a PKCS#12 file (also one with the legacy RC2/3DES encryption of
/// older exports) with the password of the property `password_property`.
pub(crate) fn parse_p12(
    file: &str,
    der: &[u8],
    password: &str,
    password_property: &str,
) -> Result<openssl::pkcs12::ParsedPkcs12_2> {
    let p12 = Pkcs12::from_der(der).map_err(|_| {
        cert_error(
            LnccmdStatus::CertLoad,
            file,
            "is not a PKCS#12 (.p12/.pfx) file".into(),
        )
    })?;
    Lazy::force(&LEGACY);
    p12.parse2(password).map_err(|e| {
        let text = e.to_string();
        if text.contains("mac verify failure") || text.contains("mac_verify") {
            cert_error(
                LnccmdStatus::CertPassword,
                file,
                format!("cannot be opened with this password ({password_property})"),
            )
        } else {
            cert_error(
                LnccmdStatus::CertLoad,
                file,
                format!("cannot be read: {text}"),
            )
        }
    })
}

/// Loads `Certif` with `PwdCertif` and checks it can sign for `sender`
/// (docs/contract.md §6.4): each problem has its own code, the file is named, the
/// password never.
pub fn load_identity(file: &str, password: &str, sender: &str) -> Result<Identity> {
    let der = crate::files::read("certificate file", Path::new(file))?;
    let parsed = parse_p12(file, &der, password, "PwdCertif")?;
    let Some(key) = parsed.pkey else {
        return Err(cert_error(
            LnccmdStatus::CertLoad,
            file,
            "holds no private key".into(),
        ));
    };
    let Some(cert) = parsed.cert else {
        return Err(cert_error(
            LnccmdStatus::CertLoad,
            file,
            "holds no certificate".into(),
        ));
    };
    let matches = cert
        .public_key()
        .map(|p| p.public_eq(&key))
        .unwrap_or(false);
    if !matches {
        return Err(cert_error(
            LnccmdStatus::CertKeyMismatch,
            file,
            "holds a private key that does not belong to its certificate".into(),
        ));
    }
    if let Some(why) = unusable_key(&key) {
        return Err(cert_error(LnccmdStatus::CertKeyUnsupported, file, why));
    }
    validity(&cert).map_err(|why| {
        cert_error(
            LnccmdStatus::CertExpired,
            file,
            format!("holds a certificate that {why}"),
        )
    })?;
    let emails = cert_emails(&cert);
    if !emails.iter().any(|e| e.eq_ignore_ascii_case(sender)) {
        return Err(cert_error(
            LnccmdStatus::CertAddress,
            file,
            format!(
                "holds a certificate for {}, not for the Sender {sender}",
                if emails.is_empty() {
                    "no e-mail address".to_string()
                } else {
                    emails.join(", ")
                }
            ),
        ));
    }
    let chain = parsed
        .ca
        .map(|s| s.into_iter().collect())
        .unwrap_or_default();
    Ok(Identity {
        key,
        cert,
        chain,
        file: file.to_string(),
    })
}

/// `RecipientCerts`: a folder of certificate files, or a `;`-list of files;
/// PEM (one or more certificates each) or DER.
pub fn load_recipient_certs(spec: &str) -> Result<Vec<X509>> {
    // (file, named explicitly): in a folder, files that are no certificate
    // (a README, a key) are skipped; a file named explicitly must be one.
    let mut files = Vec::new();
    for item in spec.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let path = Path::new(item);
        if path.is_dir() {
            let mut entries: Vec<_> = std::fs::read_dir(path)
                .map_err(|e| {
                    Error::new(
                        LnccmdStatus::FileUnreadable,
                        format!(
                            "RecipientCerts folder '{}' cannot be read: {e}",
                            printable(item)
                        ),
                    )
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            entries.sort();
            files.extend(entries.into_iter().map(|p| (p, false)));
        } else {
            files.push((path.to_path_buf(), true));
        }
    }
    let mut certs = Vec::new();
    for (f, explicit) in files {
        let bytes = crate::files::read("recipient certificate", &f)?;
        let parsed = X509::stack_from_pem(&bytes)
            .ok()
            .filter(|s| !s.is_empty())
            .or_else(|| X509::from_der(&bytes).ok().map(|c| vec![c]));
        match parsed {
            Some(c) => {
                for cert in &c {
                    let why = match cert.public_key() {
                        Ok(k) => unusable_key(&k),
                        Err(e) => Some(format!("has a public key OpenSSL cannot read: {e}")),
                    };
                    if let Some(why) = why {
                        return Err(Error::new(
                            LnccmdStatus::CertKeyUnsupported,
                            format!(
                                "recipient certificate '{}' ({}) {why}",
                                printable(&f.to_string_lossy()),
                                cert_emails(cert).join(", ")
                            ),
                        ));
                    }
                }
                certs.extend(c)
            }
            None if !explicit => {}
            None => {
                return Err(Error::new(
                    LnccmdStatus::CertLoad,
                    format!(
                        "recipient certificate '{}' is neither PEM nor DER",
                        printable(&f.to_string_lossy())
                    ),
                ));
            }
        }
    }
    Ok(certs)
}

/// The certificate to encrypt to `addr`: one valid now, for that address.
pub fn recipient_cert<'a>(certs: &'a [X509], addr: &str) -> Result<&'a X509> {
    let mut expired = false;
    for c in certs {
        if cert_emails(c).iter().any(|e| e.eq_ignore_ascii_case(addr)) {
            if validity(c).is_ok() {
                return Ok(c);
            }
            expired = true;
        }
    }
    Err(Error::new(
        LnccmdStatus::RecipientNoCert,
        if expired {
            format!(
                "the certificate of recipient {addr} in RecipientCerts is expired or not yet valid: nothing was sent"
            )
        } else {
            format!(
                "recipient {addr} has no certificate in RecipientCerts: nothing was sent (Encrypt never sends in clear)"
            )
        },
    ))
}

/// Detached CMS SignedData (DER) over `content`, exactly these bytes
/// (BINARY: no line-end conversion), SHA-256, with the chain and the
/// signed attributes of `cms_stream::sign_detached`.
pub fn sign(id: &Identity, content: &[u8]) -> Result<Vec<u8>> {
    crate::cms_stream::sign_detached(&id.cert, &id.key, &id.chain, content).map_err(|e| {
        Error::new(
            LnccmdStatus::SignFailed,
            format!("signing with '{}' failed: {e}", printable(&id.file)),
        )
    })
}

/// CMS EnvelopedData (or AuthEnvelopedData for GCM) of `content` for every
/// certificate in `recipients`, as the base64 body of an
/// application/pkcs7-mime part (lines of 76, CRLF between them).
/// Streamed (`cms_stream`): `content`'s memory is released as it is
/// encrypted, and the DER is never held whole (peak memory with large
/// attachments).
pub fn encrypt_base64(recipients: &[X509], content: Vec<u8>, algo: Algo) -> Result<Vec<u8>> {
    crate::cms_stream::encrypt_base64(recipients, content, algo.cipher()).map_err(|e| {
        Error::new(
            LnccmdStatus::EncryptFailed,
            format!("encryption failed: {e}"),
        )
    })
}
