//! The C examples: compiled with -Wall -Wextra -Werror against the checked-in
//! header, linked to the freshly built liblnccmd.so, run against aiosmtpd.
//! With VALGRIND=1 they run under valgrind (errors and definite leaks fail);
//! with SANITIZE=1 they are built with -fsanitize=address,undefined (any
//! report, leaks included, fails).

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

fn compile(example: &str, out_dir: &Path) -> std::path::PathBuf {
    let lib_dir = target_dir();
    assert!(
        lib_dir.join("liblnccmd.so").exists(),
        "liblnccmd.so not built in {}",
        lib_dir.display()
    );
    let exe = out_dir.join(example);
    link_soname(out_dir);
    let mut cc = Command::new(std::env::var("CC").unwrap_or_else(|_| "gcc".into()));
    if std::env::var_os("SANITIZE").is_some() {
        cc.args([
            "-fsanitize=address,undefined",
            "-fno-omit-frame-pointer",
            "-fno-sanitize-recover=all",
        ]);
    }
    let status = cc
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-g"])
        .arg("-I")
        .arg(root().join("include"))
        .arg(root().join("c-examples").join(format!("{example}.c")))
        .arg("-o")
        .arg(&exe)
        .arg(format!("-L{}", lib_dir.display()))
        .arg(format!("-Wl,-rpath,{}", out_dir.display()))
        .arg("-llnccmd")
        .status()
        .expect("a C compiler (gcc) is needed");
    assert!(status.success(), "{example}.c does not compile cleanly");
    exe
}

/// Runs an example in its own folder (send_text.c writes its log there).
fn run(exe: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = if std::env::var_os("VALGRIND").is_some() {
        let mut c = Command::new("valgrind");
        c.args([
            "--error-exitcode=99",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite",
            "-q",
        ]);
        c.arg(exe);
        c
    } else {
        Command::new(exe)
    };
    // cargo test puts target/debug in LD_LIBRARY_PATH, which would win over
    // the rpath and could load a stale copy of the library from `cargo build`.
    cmd.env_remove("LD_LIBRARY_PATH");
    cmd.current_dir(exe.parent().unwrap());
    cmd.args(args).output().unwrap()
}

#[test]
fn send_text_c_sends_the_vendor_example() {
    let server = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let exe = compile("send_text", dir.path());
    let out = run(
        &exe,
        &[
            "127.0.0.1",
            &server.port.to_string(),
            "Bob <bob@example.test>",
        ],
    );
    assert!(
        out.status.success(),
        "send_text failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = &server.wait_for(1)[0];
    assert_eq!(m["mail_from"], "TECH@EASYCOM-AURA.COM");
    assert_eq!(rcpts(m), ["bob@example.test"]);
    assert_eq!(header(m, "From"), Some("TECH@EASYCOM-AURA.COM"));
    assert_eq!(header(m, "To"), Some("Bob <bob@example.test>"));
    assert_eq!(header(m, "Reply-To"), Some("TECH@EASYCOM-AURA.COM"));
    assert_eq!(header(m, "Subject"), Some("test"));
    assert_eq!(header(m, "X-Priority"), Some("1 (Highest)"));
    assert!(
        header(m, "Message-ID")
            .unwrap()
            .ends_with("@EASYCOM-AURA.COM>")
    );
    assert!(header(m, "Date").is_some());
    assert_eq!(
        body_text(m),
        "Hello from LNCCMD.\nThis message was sent by a C program through lnccmd.\n"
    );
    let log = read_log(&dir.path().join("logaurasmtp.csv"));
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0]["status"].as_str(), log[0]["subject"].as_str()),
        ("OK", "test")
    );
}

#[test]
fn send_text_c_reports_a_failure_with_result() {
    let dir = tempfile::tempdir().unwrap();
    let exe = compile("send_text", dir.path());
    let out = run(&exe, &["127.0.0.1", &free_port().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("MAILSEND failed: 400 MAILSEND: cannot connect to 127.0.0.1:"),
        "{err}"
    );
}

#[test]
fn fixed_fields_c_sends_with_blank_padded_fields() {
    let server = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let exe = compile("fixed_fields", dir.path());
    let out = run(&exe, &["127.0.0.1", &server.port.to_string()]);
    assert!(
        out.status.success(),
        "fixed_fields failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = &server.wait_for(1)[0];
    assert_eq!(header(m, "Subject"), Some("fixed fields"));
    assert_eq!(rcpts(m), ["bob@example.test"]);
    assert_eq!(
        body_text(m),
        "Sent with blank-padded fields, as from RPG.\n"
    );
}

#[test]
fn ebcdic_fields_c_sends_ccsid_297_data_with_the_euro_of_1147() {
    let server = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let exe = compile("ebcdic_fields", dir.path());
    let out = run(&exe, &["127.0.0.1", &server.port.to_string(), "1147"]);
    assert!(
        out.status.success(),
        "ebcdic_fields failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = &server.wait_for(1)[0];
    assert_eq!(m["mail_from"], "factures@example.test");
    assert_eq!(rcpts(m), ["francois@example.test"]);
    assert_eq!(
        header(m, "From"),
        Some("Société Générale <factures@example.test>")
    );
    assert_eq!(header(m, "To"), Some("François <francois@example.test>"));
    assert_eq!(header(m, "Subject"), Some("Facture n°42 : 1 234,56 €"));
    assert_eq!(
        body_text(m),
        "Madame, Monsieur,\nVotre reçu de 1 234,56 € est réglé; merci.\nLeçon: été, à bientôt, déjà vu.\n"
    );
}

#[test]
fn ebcdic_fields_c_declaring_297_is_refused_at_the_euro_byte_naming_1147() {
    let server = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let exe = compile("ebcdic_fields", dir.path());
    let out = run(&exe, &["127.0.0.1", &server.port.to_string(), "297"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("MAILSUBJ failed: 107 MAILSUBJ: PARM1: byte 0x9F at offset 24 is the currency sign '¤' in CCSID 297")
            && err.contains("declare InputCharset=1147"),
        "{err}"
    );
    // The program stops at the first failure, as an RPG program testing RESULT does.
    assert!(!err.contains("MAILSEND"), "{err}");
    assert_eq!(server.messages().len(), 0);
}

#[test]
fn invoice_c_sends_html_pdf_logo_in_windows_1252() {
    let server = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let exe = compile("invoice", dir.path());
    let data = root().join("c-examples/data");
    let out = run(
        &exe,
        &[
            "127.0.0.1",
            &server.port.to_string(),
            data.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "invoice failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = &server.wait_for(1)[0];
    assert_eq!(
        m["structure"],
        "multipart/mixed(multipart/alternative(text/plain,multipart/related(text/html,image/png)),application/pdf)"
    );
    assert_eq!(
        header(m, "From"),
        Some("Société Générale d'Édition <factures@example.test>")
    );
    assert_eq!(header(m, "Subject"), Some("Facture n°42 – 1 234,56 €"));
    assert_eq!(header(m, "X-Priority"), Some("1 (Highest)"));
    let parts = leaf_parts(m);
    assert_eq!(
        common::text(parts[0]),
        "Madame, Monsieur,\nveuillez trouver ci-joint la facture n°42 d'un montant de 1 234,56 €.\nCordialement, le service comptabilité"
    );
    assert!(
        parts[1]["text"]
            .as_str()
            .unwrap()
            .contains("<b>1 234,56 €</b>")
    );
    assert_eq!(parts[2]["content_id"], "<logo>");
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
fn signed_invoice_c_signs_encrypts_and_protects_headers() {
    let pki = common::pki::Pki::new();
    let server = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let exe = compile("signed_invoice", dir.path());
    let certs = dir.path().join("clients");
    std::fs::create_dir(&certs).unwrap();
    std::fs::copy(pki.path("bob.pem"), certs.join("bob.pem")).unwrap();
    let p12 = pki.p12("tech", "c-example pw", "aes");
    let data = root().join("c-examples/data");
    let port = server.port.to_string();
    let out = run(
        &exe,
        &[
            "127.0.0.1",
            &port,
            data.to_str().unwrap(),
            p12.to_str().unwrap(),
            "c-example pw",
            certs.to_str().unwrap(),
            "Bob <bob@example.test>",
        ],
    );
    assert!(
        out.status.success(),
        "signed_invoice failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = &server.wait_for(1)[0];
    assert_eq!(header(m, "Subject"), Some("Document from Example Ltd"));
    assert_eq!(m["structure"], "application/pkcs7-mime");
    // Decrypted by bob, then the signature verified: the real subject inside.
    let clear = Command::new("openssl")
        .args(["cms", "-decrypt", "-in"])
        .arg(server.dir.path().join("1.eml"))
        .arg("-recip")
        .arg(pki.path("bob.pem"))
        .arg("-inkey")
        .arg(pki.path("bob.key"))
        .output()
        .unwrap();
    assert!(
        clear.status.success(),
        "{}",
        String::from_utf8_lossy(&clear.stderr)
    );
    let signed = dir.path().join("signed.eml");
    std::fs::write(&signed, &clear.stdout).unwrap();
    let verified = Command::new("openssl")
        .args(["cms", "-verify", "-in"])
        .arg(&signed)
        .arg("-CAfile")
        .arg(pki.path("ca.pem"))
        .output()
        .unwrap();
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    let inner = String::from_utf8_lossy(&verified.stdout);
    assert!(inner.starts_with("Content-Type: message/rfc822"), "{inner}");
    assert!(
        inner.contains("Subject: Invoice 42 - 1 234,56 EUR"),
        "{inner}"
    );
}
