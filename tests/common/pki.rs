//! A test PKI made with the openssl crate: a CA, a server certificate it
//! signed (for localhost and 127.0.0.1), and a self-signed server certificate.

use std::path::{Path, PathBuf};

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName, SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509NameBuilder};

pub struct Pki {
    pub dir: tempfile::TempDir,
}

fn key() -> PKey<Private> {
    PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap()
}

/// What a certificate is for.
#[derive(Clone, Copy)]
enum Kind<'a> {
    Ca,
    /// TLS server: localhost and 127.0.0.1.
    Server,
    /// TLS server for another host name only.
    OtherHost,
    /// S/MIME: this e-mail address.
    Email(&'a str),
    /// No extensions: a self-signed credential such as an app registration's.
    Plain,
}

/// A self-signed certificate for `cn` with a new RSA key, valid a year, as
/// `openssl req -x509 -newkey rsa:2048` makes one (tests/oauth2.rs: an app
/// registration's certificate credential).
pub fn self_signed(cn: &str) -> (X509, PKey<Private>) {
    let k = key();
    let c = cert(cn, &k, None, Kind::Plain, 0, 365);
    (c, k)
}

fn cert(
    cn: &str,
    key: &PKey<Private>,
    issuer: Option<(&X509, &PKey<Private>)>,
    kind: Kind<'_>,
    days_from: i64,
    days_to: i64,
) -> X509 {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", cn).unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    let mut serial = BigNum::new().unwrap();
    serial.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
    b.set_serial_number(&serial.to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(issuer.map(|(c, _)| c.subject_name()).unwrap_or(&name))
        .unwrap();
    b.set_pubkey(key).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    b.set_not_before(&Asn1Time::from_unix(now + days_from * 86400).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::from_unix(now + days_to * 86400).unwrap())
        .unwrap();
    match kind {
        Kind::Ca => {
            b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
                .unwrap();
            b.append_extension(
                KeyUsage::new()
                    .critical()
                    .key_cert_sign()
                    .crl_sign()
                    .build()
                    .unwrap(),
            )
            .unwrap();
        }
        Kind::Server => {
            b.append_extension(BasicConstraints::new().critical().build().unwrap())
                .unwrap();
            let ctx = b.x509v3_context(issuer.map(|(c, _)| &**c), None);
            let san = SubjectAlternativeName::new()
                .dns("localhost")
                .ip("127.0.0.1")
                .build(&ctx)
                .unwrap();
            b.append_extension(san).unwrap();
        }
        Kind::OtherHost => {
            b.append_extension(BasicConstraints::new().critical().build().unwrap())
                .unwrap();
            let ctx = b.x509v3_context(issuer.map(|(c, _)| &**c), None);
            let san = SubjectAlternativeName::new()
                .dns("other.example.test")
                .build(&ctx)
                .unwrap();
            b.append_extension(san).unwrap();
        }
        Kind::Plain => {}
        Kind::Email(addr) => {
            b.append_extension(BasicConstraints::new().critical().build().unwrap())
                .unwrap();
            b.append_extension(
                KeyUsage::new()
                    .critical()
                    .digital_signature()
                    .key_encipherment()
                    .build()
                    .unwrap(),
            )
            .unwrap();
            b.append_extension(ExtendedKeyUsage::new().email_protection().build().unwrap())
                .unwrap();
            let ctx = b.x509v3_context(issuer.map(|(c, _)| &**c), None);
            let san = SubjectAlternativeName::new()
                .email(addr)
                .build(&ctx)
                .unwrap();
            b.append_extension(san).unwrap();
        }
    }
    let ski = SubjectKeyIdentifier::new()
        .build(&b.x509v3_context(None, None))
        .unwrap();
    b.append_extension(ski).unwrap();
    let signer = issuer.map(|(_, k)| k).unwrap_or(key);
    b.sign(signer, MessageDigest::sha256()).unwrap();
    b.build()
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = key();
        let ca = cert("lnccmd test CA", &ca_key, None, Kind::Ca, -1, 3650);
        let server_key = key();
        let server = cert(
            "localhost",
            &server_key,
            Some((&ca, &ca_key)),
            Kind::Server,
            -1,
            825,
        );
        let self_key = key();
        let self_signed = cert("localhost", &self_key, None, Kind::Server, -1, 825);
        let write =
            |name: &str, bytes: Vec<u8>| std::fs::write(dir.path().join(name), bytes).unwrap();
        // TLS servers with an expired certificate and one for another host.
        for (name, kind, from, to) in [
            ("server-expired", Kind::Server, -400, -30),
            ("server-otherhost", Kind::OtherHost, -1, 825),
        ] {
            let k = key();
            let c = cert("localhost", &k, Some((&ca, &ca_key)), kind, from, to);
            write(&format!("{name}.pem"), c.to_pem().unwrap());
            write(
                &format!("{name}.key"),
                k.private_key_to_pem_pkcs8().unwrap(),
            );
        }
        // S/MIME: the sender, two recipients, an expired sender certificate.
        for (name, email, from, to) in [
            ("tech", "tech@example.test", -1, 825),
            ("bob", "bob@example.test", -1, 825),
            ("carol", "carol@example.test", -1, 825),
            ("expired", "tech@example.test", -400, -30),
        ] {
            let k = key();
            let c = cert(name, &k, Some((&ca, &ca_key)), Kind::Email(email), from, to);
            write(&format!("{name}.pem"), c.to_pem().unwrap());
            write(
                &format!("{name}.key"),
                k.private_key_to_pem_pkcs8().unwrap(),
            );
        }
        write("ca.pem", ca.to_pem().unwrap());
        write("server.pem", server.to_pem().unwrap());
        write("server.key", server_key.private_key_to_pem_pkcs8().unwrap());
        write("self.pem", self_signed.to_pem().unwrap());
        write("self.key", self_key.private_key_to_pem_pkcs8().unwrap());
        Pki { dir }
    }

    /// `NAME.p12` from NAME.pem/NAME.key and the CA, with the password
    /// `pw`, by the openssl command line: `style` "aes" (OpenSSL 3's
    /// default), "3des" (what gpgsm 2.2 imports) or "legacy" (RC2-40).
    pub fn p12(&self, name: &str, pw: &str, style: &str) -> PathBuf {
        let out = self.path(&format!("{name}-{style}.p12"));
        let mut cmd = std::process::Command::new("openssl");
        cmd.args(["pkcs12", "-export", "-passout", &format!("pass:{pw}")])
            .arg("-inkey")
            .arg(self.path(&format!("{name}.key")))
            .arg("-in")
            .arg(self.path(&format!("{name}.pem")))
            .arg("-certfile")
            .arg(self.path("ca.pem"))
            .arg("-out")
            .arg(&out);
        match style {
            "3des" => {
                cmd.args([
                    "-certpbe",
                    "PBE-SHA1-3DES",
                    "-keypbe",
                    "PBE-SHA1-3DES",
                    "-macalg",
                    "sha1",
                ]);
            }
            "legacy" => {
                cmd.arg("-legacy");
            }
            _ => {}
        }
        let st = cmd.output().expect("the openssl command line is needed");
        assert!(
            st.status.success(),
            "openssl pkcs12: {}",
            String::from_utf8_lossy(&st.stderr)
        );
        out
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}
