//! Cutting S/MIME messages at byte level, as verifiers are given them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::OutputBounded;
use super::pki::Pki;

/// The password of the test .p12 files (tests/smime.rs, tests/interop.rs).
/// The password of the test .p12 files (`Pki::p12`).
pub const PW: &str = "p12-Secret!";

/// Runs `cmd`, which must succeed; its standard output.
pub fn run_ok(cmd: &mut Command) -> Vec<u8> {
    let out = super::run_bounded(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The two halves of a multipart/signed message, cut at byte level: the
/// signed entity (without the CRLF before the boundary) and the DER signature.
pub fn split_signed(entity: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let text = String::from_utf8_lossy(entity).to_string();
    let head_end = text.find("\r\n\r\n").unwrap();
    let head = text[..head_end]
        .replace("\r\n ", " ")
        .replace("\r\n\t", " ");
    let ct = head
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("content-type: multipart/signed")
        })
        .expect("a multipart/signed entity");
    let b = ct
        .split("boundary=")
        .nth(1)
        .unwrap()
        .trim_start_matches('"');
    let boundary = b[..b.find(['"', ';']).unwrap_or(b.len())].to_string();
    let delim = format!("--{boundary}\r\n");
    let first = entity_find(entity, delim.as_bytes(), 0) + delim.len();
    let next = format!("\r\n--{boundary}\r\n");
    let end = entity_find(entity, next.as_bytes(), first);
    let signed = entity[first..end].to_vec();
    let sig_part = &entity[end + next.len()..];
    let body_start = entity_find(sig_part, b"\r\n\r\n", 0) + 4;
    let close = format!("\r\n--{boundary}--");
    let body_end = entity_find(sig_part, close.as_bytes(), body_start);
    let b64: String = String::from_utf8_lossy(&sig_part[body_start..body_end])
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    (signed, openssl::base64::decode_block(&b64).unwrap())
}

pub fn entity_find(hay: &[u8], needle: &[u8], from: usize) -> usize {
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
        .expect("delimiter")
}

/// The base64 body of a single-part message (the .p7m).
pub fn p7m_der(raw: &[u8]) -> Vec<u8> {
    let start = entity_find(raw, b"\r\n\r\n", 0) + 4;
    let b64: String = String::from_utf8_lossy(&raw[start..])
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    openssl::base64::decode_block(&b64).unwrap()
}

/// A self-signed certificate for `email` (NAME.key, NAME.pem in `dir`)
/// made by the openssl command line; `genpkey` gives the key's algorithm
/// (`["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]`).
/// With `p12_password`, NAME.p12 too; `addext`: one more extension, in
/// `openssl req -addext` form. Returns (key, cert, p12).
pub fn self_signed(
    dir: &std::path::Path,
    name: &str,
    email: &str,
    genpkey: &[&str],
    p12_password: Option<&str>,
    addext: Option<&str>,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let key = dir.join(format!("{name}.key"));
    let cert = dir.join(format!("{name}.pem"));
    let p12 = dir.join(format!("{name}.p12"));
    let (k, c, p) = (
        key.to_str().unwrap(),
        cert.to_str().unwrap(),
        p12.to_str().unwrap(),
    );
    let san = format!("subjectAltName=email:{email}");
    let subject = format!("/CN={name}");
    let mut steps: Vec<Vec<&str>> = vec![
        [&["genpkey"][..], genpkey, &["-out", k]].concat(),
        vec![
            "req", "-x509", "-days", "2", "-subj", &subject, "-addext", &san, "-key", k, "-out", c,
        ],
    ];
    if let Some(ext) = addext {
        steps[1].extend(["-addext", ext]);
    }
    let pass = p12_password.map(|pw| format!("pass:{pw}"));
    if let Some(pass) = &pass {
        steps.push(vec![
            "pkcs12", "-export", "-passout", pass, "-inkey", k, "-in", c, "-out", p,
        ]);
    }
    for args in steps {
        let out = std::process::Command::new("openssl")
            .args(&args)
            .output_bounded()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (key, cert, p12)
}

/// A GnuPG home for gpgsm: the test CA trusted, CRL checks off.
pub struct Gpgsm {
    home: tempfile::TempDir,
}

impl Gpgsm {
    /// The GnuPG home, for programs that use gpgsm through GPGME (GMime).
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    pub fn new(pki: &Pki) -> Gpgsm {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        std::fs::write(
            h.join("gpgsm.conf"),
            "disable-crl-checks\ndisable-dirmngr\n",
        )
        .unwrap();
        std::fs::write(h.join("gpg-agent.conf"), "allow-loopback-pinentry\n").unwrap();
        let ca =
            openssl::x509::X509::from_pem(&std::fs::read(pki.path("ca.pem")).unwrap()).unwrap();
        let fp = ca.digest(openssl::hash::MessageDigest::sha1()).unwrap();
        let fp: Vec<String> = fp.iter().map(|b| format!("{b:02X}")).collect();
        std::fs::write(
            h.join("trustlist.txt"),
            format!("{} S relax\n", fp.join(":")),
        )
        .unwrap();
        let g = Gpgsm { home };
        run_ok(g.cmd().args(["--import"]).arg(pki.path("ca.pem")));
        g
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new("gpgsm");
        c.env("GNUPGHOME", self.home.path())
            .args(["--batch", "--status-fd", "1"]);
        c
    }

    /// Runs gpgsm with `args`, the passphrase on its standard input; its
    /// error output when it fails.
    fn with_passphrase(&self, args: &[&std::ffi::OsStr]) -> Result<(), String> {
        let mut child = self
            .cmd()
            .args(["--pinentry-mode", "loopback", "--passphrase-fd", "0"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{PW}\n").as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Imports a 3DES .p12 (gpgsm 2.2 cannot read OpenSSL 3's default),
    /// made by `make`. gpgsm 2.2's PKCS#12 reader now and then fails to
    /// decrypt a file that openssl reads back with the same password
    /// ("decryption failed; trying charset ...": seen twice in about ten
    /// full runs, never alone): the same key and certificate in a newly
    /// made file (a new salt) are imported then. Any other failure, or
    /// three in a row, fails the test.
    pub fn import_key(&self, make: impl Fn() -> PathBuf) {
        let mut last = String::new();
        for _ in 0..3 {
            match self.with_passphrase(&["--import".as_ref(), make().as_os_str()]) {
                Ok(()) => return,
                Err(e) if e.contains("decryption failed") => last = e,
                Err(e) => panic!("gpgsm import: {e}"),
            }
        }
        panic!("gpgsm import, three times: {last}");
    }

    /// GOODSIG and full trust, over exactly these bytes.
    pub fn verify(&self, content: &[u8], sig: &[u8]) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("content"), content).unwrap();
        std::fs::write(dir.path().join("sig.p7s"), sig).unwrap();
        let out = self
            .cmd()
            .arg("--verify")
            .arg(dir.path().join("sig.p7s"))
            .arg(dir.path().join("content"))
            .output_bounded()
            .unwrap();
        let status = String::from_utf8_lossy(&out.stdout);
        assert!(
            status.contains("GOODSIG") && status.contains("TRUST_FULLY"),
            "gpgsm did not verify: {status}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The clear content, or what gpgsm said.
    pub fn try_decrypt(&self, der: &[u8]) -> Result<Vec<u8>, String> {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("msg.p7m");
        let out = dir.path().join("out");
        std::fs::write(&input, der).unwrap();
        self.with_passphrase(&[
            "--output".as_ref(),
            out.as_os_str(),
            "--decrypt".as_ref(),
            input.as_os_str(),
        ])?;
        Ok(std::fs::read(out).unwrap())
    }

    pub fn decrypt(&self, der: &[u8]) -> Vec<u8> {
        self.try_decrypt(der)
            .unwrap_or_else(|e| panic!("gpgsm decrypt: {e}"))
    }
}

impl Drop for Gpgsm {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "gpg-agent"])
            .status();
    }
}

/// Two new DKIM keys, written as `rsa.pem` (RSA 2048) and `ed.pem`
/// (Ed25519) in `dir` (PKCS#8 PEM, as `DKIMKey` reads them), and their
/// public keys as DNS records take them: base64 of the RSA key's DER and of
/// the raw Ed25519 key (RFC 8463).
pub fn dkim_keys(dir: &Path) -> (String, String) {
    use openssl::pkey::PKey;
    let rsa = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
    let ed = PKey::generate_ed25519().unwrap();
    std::fs::write(dir.join("rsa.pem"), rsa.private_key_to_pem_pkcs8().unwrap()).unwrap();
    std::fs::write(dir.join("ed.pem"), ed.private_key_to_pem_pkcs8().unwrap()).unwrap();
    (
        openssl::base64::encode_block(&rsa.public_key_to_der().unwrap()),
        openssl::base64::encode_block(&ed.raw_public_key().unwrap()),
    )
}

/// MAILSMTP properties for `server` with the sender's .p12 `p12` and `extra`.
pub fn smime_props(server: &super::SmtpServer, p12: &Path, extra: &str) -> String {
    format!(
        "{};Certif=\"{}\";PwdCertif=\"{PW}\";{extra}",
        server.props(),
        p12.display()
    )
}

/// The file of the `i`-th message `server` stored, as received.
pub fn stored(server: &super::SmtpServer, i: usize) -> PathBuf {
    server.dir.path().join(format!("{i}.eml"))
}
