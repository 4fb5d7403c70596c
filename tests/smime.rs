//! S/MIME (contract §6) judged by two independent implementations: every signed
//! message that reaches the server is verified by `openssl cms -verify` and
//! by GnuPG's `gpgsm --verify`; every encrypted one is decrypted by
//! `openssl cms -decrypt` for each intended recipient (and by gpgsm for CBC),
//! and what comes out is parsed back and compared with what was given.

mod common;

use common::pki::Pki;
use common::smime::{Gpgsm, PW, entity_find, p7m_der, run_ok, smime_props, split_signed, stored};
use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// `openssl cms -verify` against the test CA; returns what was signed.
fn openssl_verify(pki: &Pki, message: &Path) -> Vec<u8> {
    run_ok(
        Command::new("openssl")
            .args(["cms", "-verify", "-in"])
            .arg(message)
            .arg("-CAfile")
            .arg(pki.path("ca.pem")),
    )
}

/// `openssl cms -decrypt` as `who` (NAME.pem / NAME.key).
fn openssl_decrypt(pki: &Pki, message: &Path, who: &str) -> Vec<u8> {
    run_ok(
        Command::new("openssl")
            .args(["cms", "-decrypt", "-in"])
            .arg(message)
            .arg("-recip")
            .arg(pki.path(&format!("{who}.pem")))
            .arg("-inkey")
            .arg(pki.path(&format!("{who}.key"))),
    )
}

/// A MIME entity parsed by Python's email package (tests/support/smtpd.py --parse).
fn parse(entity: &[u8]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("entity.eml");
    std::fs::write(&f, entity).unwrap();
    let out = run_ok(
        Command::new("python3")
            .arg(root().join("tests/support/smtpd.py"))
            .arg("--parse")
            .arg(&f),
    );
    serde_json::from_slice(&out).unwrap()
}

/// The invoice of c-examples: text, HTML, an inline logo and a PDF.
fn invoice(h: &mut i32, to: &str, subject: &str) {
    let data = root().join("c-examples/data");
    ok(
        h,
        "MAILPREP",
        to,
        &format!("subject=\"{subject}\";priority=5"),
    );
    ok(
        h,
        "MAILTEXT",
        "Invoice 42 attached.  \nFrom the accounts department.",
        "",
    );
    ok(
        h,
        "MAILBODYF",
        "<p>Invoice <b>42</b></p><img src=\"cid:logo\">",
        "",
    );
    ok(
        h,
        "MAILLATT",
        data.join("logo.png").to_str().unwrap(),
        "cid=logo",
    );
    ok(
        h,
        "MAILLATT",
        data.join("invoice.pdf").to_str().unwrap(),
        "name=\"Facture n°42.pdf\"",
    );
}

fn check_invoice(content: &Value) {
    let data = root().join("c-examples/data");
    assert_eq!(
        content["structure"],
        "multipart/mixed(multipart/alternative(text/plain,multipart/related(text/html,image/png)),application/pdf)"
    );
    let parts = leaf_parts(content);
    assert_eq!(
        common::text(parts[0]),
        "Invoice 42 attached.  \nFrom the accounts department."
    );
    assert_eq!(
        parts[0]["cte"], "quoted-printable",
        "signed text is never raw 7bit"
    );
    assert_eq!(
        parts[2]["sha256"],
        sha256_hex(&std::fs::read(data.join("logo.png")).unwrap())
    );
    assert_eq!(parts[3]["filename"], "Facture n°42.pdf");
    assert_eq!(
        parts[3]["sha256"],
        sha256_hex(&std::fs::read(data.join("invoice.pdf")).unwrap())
    );
}

#[test]
fn signed_messages_verify_with_openssl_and_gpgsm() {
    let pki = Pki::new();
    let gpg = Gpgsm::new(&pki);
    let server = SmtpServer::start();
    let mut h = 0;
    ok(
        &mut h,
        "MAILSMTP",
        &smime_props(&server, &pki.p12("tech", PW, "aes"), "Sign=true"),
        "",
    );
    invoice(&mut h, "bob@example.test", "signed invoice");
    ok(&mut h, "MAILSEND", "", "");
    // Connection reuse with signing: a second, plain-text one.
    ok(&mut h, "MAILPREP", "bob@example.test", "second");
    ok(&mut h, "MAILTEXT", "short", "");
    ok(&mut h, "MAILSEND", "", "");
    ok(&mut h, "MAILEND", "", "");
    let msgs = server.wait_for(2);
    assert_eq!(
        msgs[0]["structure"].as_str().unwrap().split('(').next(),
        Some("multipart/signed")
    );
    assert_eq!(header(&msgs[0], "Subject"), Some("signed invoice"));
    for i in 1..=2 {
        let raw = server.raw(i);
        let verified = openssl_verify(&pki, &stored(&server, i));
        let (signed, sig) = split_signed(&raw);
        assert_eq!(verified, signed, "openssl verified exactly the signed part");
        gpg.verify(&signed, &sig);
    }
    check_invoice(&parse(&split_signed(&server.raw(1)).0));
    // The signature names the signer's certificate and carries the chain.
    let (_, sig) = split_signed(&server.raw(1));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sig.p7s"), &sig).unwrap();
    let printed = run_ok(
        Command::new("openssl")
            .args(["cms", "-cmsout", "-print", "-inform", "DER", "-in"])
            .arg(dir.path().join("sig.p7s")),
    );
    let printed = String::from_utf8_lossy(&printed);
    for attribute in [
        "signingTime",
        "S/MIME Capabilities",
        "sha256",
        "CN=lnccmd test CA",
    ] {
        assert!(
            printed.contains(attribute),
            "no {attribute} in the signature:\n{printed}"
        );
    }
}

#[test]
fn encrypted_for_every_recipient_with_every_algorithm() {
    let pki = Pki::new();
    let gpg = Gpgsm::new(&pki);
    // gpgsm fails when any RecipientInfo has no key it knows: import all three.
    for who in ["bob", "carol", "tech"] {
        gpg.import_key(|| pki.p12(who, PW, "3des"));
    }
    let server = SmtpServer::start();
    let certs = tempfile::tempdir().unwrap();
    for who in ["bob", "carol"] {
        std::fs::copy(
            pki.path(&format!("{who}.pem")),
            certs.path().join(format!("{who}.pem")),
        )
        .unwrap();
    }
    std::fs::write(certs.path().join("README"), "not a certificate").unwrap();
    let algos = ["AES256-CBC", "AES128-CBC", "AES128-GCM", "AES256-GCM"];
    let mut h = 0;
    for algo in algos {
        let extra = format!(
            "Encrypt=true;EncryptAlgo={algo};RecipientCerts=\"{}\"",
            certs.path().display()
        );
        ok(
            &mut h,
            "MAILSMTP",
            &smime_props(&server, &pki.p12("tech", PW, "aes"), &extra),
            "",
        );
        invoice(&mut h, "bob@example.test", &format!("encrypted {algo}"));
        ok(&mut h, "MAILCC", "carol@example.test", "");
        ok(&mut h, "MAILSEND", "", "");
    }
    ok(&mut h, "MAILEND", "", "");
    let msgs = server.wait_for(algos.len());
    for (i, algo) in algos.iter().enumerate() {
        let m = &msgs[i];
        let gcm = algo.ends_with("GCM");
        let raw_ct = m["raw_headers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h[0] == "Content-Type")
            .unwrap()[1]
            .to_string();
        assert!(
            raw_ct.contains(if gcm {
                "authEnveloped-data"
            } else {
                "smime-type=enveloped-data"
            }),
            "{raw_ct}"
        );
        assert_eq!(m["structure"], "application/pkcs7-mime");
        for who in ["bob", "carol", "tech"] {
            let clear = openssl_decrypt(&pki, &stored(&server, i + 1), who);
            check_invoice(&parse(&clear));
        }
        if !gcm {
            // gpgsm 2.2 reads CBC only (findings note §3).
            let clear = gpg.decrypt(&p7m_der(&server.raw(i + 1)));
            check_invoice(&parse(&clear));
        }
    }
}

#[test]
fn sign_then_encrypt_with_secure_headers() {
    let pki = Pki::new();
    let gpg = Gpgsm::new(&pki);
    let server = SmtpServer::start();
    let mut h = 0;
    let logdir = tempfile::tempdir().unwrap();
    let log = logdir.path().join("sent.csv");
    let extra = format!(
        "Sign=true;Encrypt=true;SecureHeaders=true;WrapperSubject=\"Secure message\";RecipientCerts=\"{}\";logfile=\"{}\"",
        pki.path("bob.pem").display(),
        log.display()
    );
    ok(
        &mut h,
        "MAILSMTP",
        &smime_props(&server, &pki.p12("tech", PW, "aes"), &extra),
        "",
    );
    invoice(
        &mut h,
        "Bob <bob@example.test>",
        "Payslip November — confidential",
    );
    ok(&mut h, "MAILSEND", "", "");
    ok(&mut h, "MAILEND", "", "");
    // The send log says what was done to the message (contract §7).
    let rows = read_log(&log);
    assert_eq!(
        (rows[0]["signed"].as_str(), rows[0]["encrypted"].as_str()),
        ("yes", "yes")
    );
    let m = &server.wait_for(1)[0];
    // Outside: transport headers and the wrapper subject only.
    assert_eq!(header(m, "Subject"), Some("Secure message"));
    assert_eq!(header(m, "X-Priority"), None);
    assert_eq!(header(m, "To"), Some("Bob <bob@example.test>"));
    let clear = openssl_decrypt(&pki, &stored(&server, 1), "bob");
    // Decrypted: multipart/signed around message/rfc822; verify with both.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("signed.eml"), &clear).unwrap();
    let verified = openssl_verify(&pki, &dir.path().join("signed.eml"));
    let (signed, sig) = split_signed(&clear);
    assert_eq!(verified, signed);
    gpg.verify(&signed, &sig);
    let wrapper = parse(&signed);
    assert!(
        wrapper["structure"]
            .as_str()
            .unwrap()
            .starts_with("message/rfc822("),
        "{}",
        wrapper["structure"]
    );
    // Inside: the real message, same Date and Message-ID as outside.
    let body_at = entity_find(&signed, b"\r\n\r\n", 0) + 4;
    let inner = parse(&signed[body_at..]);
    assert_eq!(
        header(&inner, "Subject"),
        Some("Payslip November — confidential")
    );
    assert_eq!(header(&inner, "X-Priority"), Some("1 (Highest)"));
    assert_eq!(header(&inner, "Message-ID"), header(m, "Message-ID"));
    assert_eq!(header(&inner, "Date"), header(m, "Date"));
    check_invoice(&inner);
}

#[test]
fn certificate_problems_each_have_their_code_and_never_the_password() {
    let pki = Pki::new();
    let server = SmtpServer::start();
    let aes = pki.p12("tech", PW, "aes");
    // A .p12 with the certificate and no key.
    let nokey = pki.path("nokey.p12");
    run_ok(
        Command::new("openssl")
            .args([
                "pkcs12",
                "-export",
                "-nokeys",
                "-passout",
                &format!("pass:{PW}"),
                "-in",
            ])
            .arg(pki.path("tech.pem"))
            .arg("-out")
            .arg(&nokey),
    );
    let mut h = 0;
    let cases: Vec<(String, i32, &str)> = vec![
        (
            smime_props(&server, &nokey, "Sign=true"),
            300,
            "no private key",
        ),
        (
            smime_props(&server, &aes, "Sign=true;PwdCertif=wrong-one"),
            301,
            "password",
        ),
        (
            smime_props(&server, &pki.path("tech.pem"), "Sign=true"),
            300,
            "not a PKCS#12",
        ),
        (
            smime_props(&server, Path::new("/no/such.p12"), "Sign=true"),
            200,
            "does not exist",
        ),
        (
            smime_props(&server, &pki.p12("expired", PW, "aes"), "Sign=true"),
            305,
            "expired",
        ),
        (
            smime_props(&server, &pki.p12("bob", PW, "aes"), "Sign=true"),
            307,
            "bob@example.test",
        ),
        (format!("{};Sign=true", server.props()), 105, "Certif"),
        (
            smime_props(&server, &aes, "SecureHeaders=true"),
            106,
            "SecureHeaders",
        ),
        (
            smime_props(&server, &aes, "Encrypt=true;EncryptAlgo=DES"),
            106,
            "EncryptAlgo",
        ),
    ];
    for (props, code, says) in cases {
        let (rc, text) = call(&mut h, "MAILSMTP", &props, "");
        assert_eq!(rc, code, "{props}: {text}");
        assert!(text.contains(says), "{text}");
        assert!(
            !text.contains(PW) && !text.contains("wrong-one"),
            "a password in RESULT: {text}"
        );
        assert_eq!(h, 0);
    }
    // Legacy (RC2-40) and 3DES files load too.
    for style in ["legacy", "3des"] {
        ok(
            &mut h,
            "MAILSMTP",
            &smime_props(&server, &pki.p12("tech", PW, style), "Sign=true"),
            "",
        );
        ok(&mut h, "MAILPREP", "bob@example.test", style);
        ok(&mut h, "MAILSEND", "", "");
    }
    ok(&mut h, "MAILEND", "", "");
    server.wait_for(2);
    openssl_verify(&pki, &stored(&server, 1));

    // A recipient without a certificate: nothing is sent, the draft is kept.
    let extra = format!(
        "Encrypt=true;RecipientCerts=\"{}\"",
        pki.path("bob.pem").display()
    );
    ok(&mut h, "MAILSMTP", &smime_props(&server, &aes, &extra), "");
    ok(
        &mut h,
        "MAILPREP",
        "bob@example.test; dave@example.test",
        "who",
    );
    let (rc, text) = call(&mut h, "MAILSEND", "", "");
    assert_eq!(rc, 304, "{text}");
    assert!(text.contains("dave@example.test"), "{text}");
    // Without RecipientCerts: encrypted to the sender's certificate only (the vendor's way).
    ok(
        &mut h,
        "MAILSMTP",
        &smime_props(&server, &aes, "Encrypt=true"),
        "",
    );
    ok(&mut h, "MAILSEND", "", "");
    ok(&mut h, "MAILEND", "", "");
    server.wait_for(3);
    let clear = openssl_decrypt(&pki, &stored(&server, 3), "tech");
    assert!(String::from_utf8_lossy(&clear).contains("Content-Type: text/plain"));
}

/// DKIM (RFC 6376, RFC 8463) verified by dkimpy, on plain and on signed and
/// encrypted messages (DKIM signs the final bytes, after S/MIME).
#[test]
fn dkim_signatures_verify_with_dkimpy() {
    let pki = Pki::new();
    let server = SmtpServer::start();
    let keys = tempfile::tempdir().unwrap();
    let (rsa_pub, ed_pub) = common::smime::dkim_keys(keys.path());
    let cases = [
        ("rsa", "rsa.pem", rsa_pub.as_str(), ""),
        ("ed25519", "ed.pem", ed_pub.as_str(), ""),
        (
            "rsa",
            "rsa.pem",
            rsa_pub.as_str(),
            "Sign=true;Encrypt=true;",
        ),
    ];
    let p12 = pki.p12("tech", PW, "aes");
    let mut h = 0;
    for (i, (_, file, _, extra)) in cases.iter().enumerate() {
        let props = format!(
            "{};Certif=\"{}\";PwdCertif=\"{PW}\";{extra}DKIMKey=\"{}\";DKIMDomain=example.test;DKIMSelector=s{i}",
            server.props(),
            p12.display(),
            keys.path().join(file).display()
        );
        ok(&mut h, "MAILSMTP", &props, "");
        invoice(
            &mut h,
            "Bob <bob@example.test>",
            &format!("DKIM {i}: Ünïcödé   spaces"),
        );
        ok(&mut h, "MAILSEND", "", "");
    }
    ok(&mut h, "MAILEND", "", "");
    server.wait_for(cases.len());
    for (i, (ktype, _, public, _)) in cases.iter().enumerate() {
        let out = Command::new("python3")
            .arg(root().join("tests/support/dkim_verify.py"))
            .arg(stored(&server, i + 1))
            .args([&format!("s{i}"), "example.test", ktype, public])
            .output_bounded()
            .unwrap();
        assert!(
            out.status.success(),
            "dkimpy rejected message {i}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // A changed byte in the body breaks it: the verifier is really checking.
        let mut raw = server.raw(i + 1);
        let at = raw.len() - 10;
        raw[at] = if raw[at] == b'A' { b'B' } else { b'A' };
        let tampered = server.dir.path().join(format!("tampered{i}.eml"));
        std::fs::write(&tampered, raw).unwrap();
        let out = Command::new("python3")
            .arg(root().join("tests/support/dkim_verify.py"))
            .arg(&tampered)
            .args([&format!("s{i}"), "example.test", ktype, public])
            .output_bounded()
            .unwrap();
        assert!(!out.status.success(), "a tampered message verified");
    }
    // The S/MIME one still verifies with openssl after DKIM.
    let clear = openssl_decrypt(&pki, &stored(&server, 3), "tech");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.eml"), &clear).unwrap();
    openssl_verify(&pki, &dir.path().join("s.eml"));
}

/// A plain-text session that signs with a .p12: its password never goes on
/// the wire (nor in RESULT or the log, checked by the common helpers).
#[test]
fn the_certificate_password_never_reaches_the_wire() {
    let pki = Pki::new();
    let server = SmtpServer::start();
    let tap = WireTap::new(server.port);
    let log = server.dir.path().join("log.csv");
    let mut h = 0;
    let props = format!(
        "Server=127.0.0.1;port={};Sender=tech@example.test;Sign=true;Encrypt=true;Certif=\"{}\";PwdCertif=\"{PW}\";logfile=\"{}\"",
        tap.port,
        pki.p12("tech", PW, "aes").display(),
        log.display()
    );
    ok(&mut h, "MAILSMTP", &props, "");
    invoice(&mut h, "bob@example.test", "wire");
    ok(&mut h, "MAILSEND", "", "");
    ok(&mut h, "MAILEND", "", "");
    server.wait_for(1);
    read_log(&log);
    let wire = String::from_utf8_lossy(&tap.bytes()).to_string();
    assert!(wire.contains("DATA"), "the tap saw the session");
    assert_no_secret("the wire", &wire);
}

/// The serial numbers of the certificates an encrypted message's
/// RecipientInfos name, as `openssl cms -cmsout -print` shows them.
fn recipient_serials(message: &Path) -> String {
    let printed = run_ok(
        Command::new("openssl")
            .args(["cms", "-cmsout", "-print", "-in"])
            .arg(message),
    );
    String::from_utf8_lossy(&printed)
        .lines()
        .filter(|l| l.trim_start().starts_with("serialNumber:"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn serial_of(cert: &Path) -> String {
    let c = openssl::x509::X509::from_pem(&std::fs::read(cert).unwrap()).unwrap();
    let bn = c.serial_number().to_bn().unwrap();
    // openssl prints the serial in decimal when it fits 64 bits, else in hex.
    let dec = bn.to_dec_str().unwrap().to_string();
    let hex = bn.to_hex_str().unwrap().to_string();
    format!("{dec}|{hex}")
}

fn names(printed: &str, cert: &Path) -> bool {
    let s = serial_of(cert);
    let (dec, hex) = s.split_once('|').unwrap();
    printed.lines().any(|l| {
        let v = l.trim().trim_start_matches("serialNumber:").trim();
        let v = v.split_whitespace().next().unwrap_or("");
        v == dec || v.trim_start_matches("0x").eq_ignore_ascii_case(hex)
    })
}

/// Issue #15 item 5: each Bcc recipient gets an encrypted copy of its own,
/// in a transaction of its own, and the To/Cc copy names no Bcc
/// certificate; the Bcc recipients cannot read the To/Cc copy nor each
/// other's. A Bcc copy the server refuses after the To/Cc copy went out is
/// 501 naming that recipient, the draft is cleared, and nothing is sent
/// twice.
#[test]
fn bcc_recipients_get_their_own_encrypted_copy() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let rsa = ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"];
    let (dave_key, dave, _) =
        common::smime::self_signed(dir.path(), "dave", "dave@example.test", &rsa, None, None);
    let (erin_key, erin, _) =
        common::smime::self_signed(dir.path(), "erin", "erin@example.test", &rsa, None, None);
    let (_, reject, _) = common::smime::self_signed(
        dir.path(),
        "reject",
        "reject-me@example.test",
        &rsa,
        None,
        None,
    );
    let certs = format!(
        "{};{};{};{};{}",
        pki.path("bob.pem").display(),
        pki.path("carol.pem").display(),
        dave.display(),
        erin.display(),
        reject.display()
    );
    let server = SmtpServer::start();
    let extra = format!("Encrypt=true;Sign=true;RecipientCerts=\"{certs}\"");
    let mut h = 0;
    ok(
        &mut h,
        "MAILSMTP",
        &smime_props(&server, &pki.p12("tech", PW, "aes"), &extra),
        "",
    );
    invoice(&mut h, "bob@example.test", "with Bcc");
    ok(&mut h, "MAILCC", "carol@example.test", "");
    ok(&mut h, "MAILBCC", "dave@example.test", "");
    ok(&mut h, "MAILBCC", "erin@example.test", "");
    ok(&mut h, "MAILSEND", "", "");
    let msgs = server.wait_for(3);
    assert_eq!(rcpts(&msgs[0]), ["bob@example.test", "carol@example.test"]);
    assert_eq!(rcpts(&msgs[1]), ["dave@example.test"]);
    assert_eq!(rcpts(&msgs[2]), ["erin@example.test"]);
    let main = recipient_serials(&stored(&server, 1));
    for (cert, in_main) in [
        (pki.path("bob.pem"), true),
        (pki.path("carol.pem"), true),
        (pki.path("tech.pem"), true),
        (dave.clone(), false),
        (erin.clone(), false),
    ] {
        assert_eq!(
            names(&main, &cert),
            in_main,
            "{cert:?} in the To/Cc copy:\n{main}"
        );
    }
    let dave_copy = recipient_serials(&stored(&server, 2));
    assert!(
        names(&dave_copy, &dave)
            && !names(&dave_copy, &erin)
            && !names(&dave_copy, &pki.path("bob.pem"))
    );
    // Who can read which copy: openssl -decrypt fails without a RecipientInfo.
    let try_decrypt = |i: usize, cert: &Path, key: &Path| {
        Command::new("openssl")
            .args(["cms", "-decrypt", "-in"])
            .arg(stored(&server, i))
            .arg("-recip")
            .arg(cert)
            .arg("-inkey")
            .arg(key)
            .output_bounded()
            .unwrap()
            .status
            .success()
    };
    assert!(!try_decrypt(1, &dave, &dave_key));
    assert!(!try_decrypt(2, &erin, &erin_key));
    for (i, cert, key) in [(2, &dave, &dave_key), (3, &erin, &erin_key)] {
        assert!(try_decrypt(i, cert, key));
        // The same message: same Message-ID and headers, no Bcc header, signed.
        assert_eq!(
            header(&msgs[i - 1], "Message-ID"),
            header(&msgs[0], "Message-ID")
        );
        assert_eq!(header(&msgs[i - 1], "To"), Some("bob@example.test"));
        assert_eq!(header(&msgs[i - 1], "Bcc"), None);
        let clear = openssl_decrypt(&pki, &stored(&server, i), "tech");
        let f = dir.path().join("clear.eml");
        std::fs::write(&f, &clear).unwrap();
        check_invoice(&parse(&openssl_verify(&pki, &f)));
    }
    // A Bcc copy refused after the To/Cc copy was sent: 501 naming it, the
    // other Bcc copy still sent, the draft cleared, nothing sent twice.
    ok(&mut h, "MAILPREP", "bob@example.test", "subject=\"second\"");
    ok(&mut h, "MAILTEXT", "second", "");
    ok(&mut h, "MAILBCC", "reject-me@example.test", "");
    ok(&mut h, "MAILBCC", "dave@example.test", "");
    let (rc, text) = call(&mut h, "MAILSEND", "", "");
    assert_eq!(rc, 501, "{text}");
    assert!(
        text.contains("reject-me@example.test")
            && text.contains("own copy")
            && !text.contains("<dave@"),
        "{text}"
    );
    let msgs = server.wait_for(5);
    assert_eq!(rcpts(&msgs[3]), ["bob@example.test"]);
    assert_eq!(rcpts(&msgs[4]), ["dave@example.test"]);
    let (rc, text) = call(&mut h, "MAILSEND", "", "");
    assert_ne!(rc, 0, "{text}");
    ok(&mut h, "MAILEND", "", "");
    assert_eq!(server.messages().len(), 5, "a message was sent twice");
}
