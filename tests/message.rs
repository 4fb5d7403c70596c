//! The complete message (contract §4.5–4.8, §5): HTML, attachments, inline
//! images, charsets, InputCharset, checkMail, the wire bytes. Every message
//! goes to aiosmtpd and is parsed back by Python's `email` package.

mod common;

use common::*;
use std::path::{Path, PathBuf};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn fixture(name: &str) -> PathBuf {
    root().join("c-examples/data").join(name)
}

#[test]
fn text_html_inline_image_and_attachments() {
    let server = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    // Binary that looks like ASCII: NUL, bare LF, a lone dot line. It must go base64.
    let tricky: &[u8] = b"line1\nline2\r\n.\r\n\x00\x01 end";
    let tricky_path = write(dir.path(), "notes.bin", tricky);
    let accents = write(
        dir.path(),
        "Facture n°42 \"été\" 2026.pdf",
        &std::fs::read(fixture("invoice.pdf")).unwrap(),
    );
    let mut h = open(&server);
    ok(
        &mut h,
        "MAILPREP",
        "bob@example.test",
        "subject=\"Your invoice\";priority=5",
    );
    ok(
        &mut h,
        "MAILTEXT",
        "Dear Bob,\nplease find the invoice attached.",
        "",
    );
    ok(
        &mut h,
        "MAILBODYF",
        "<html><body><p>Dear Bob,</p><img src=\"cid:logo\"></body></html>",
        "",
    );
    ok(
        &mut h,
        "MAILLATT",
        fixture("logo.png").to_str().unwrap(),
        "cid=logo",
    );
    ok(
        &mut h,
        "MAILLATT",
        &format!("{}; {}", accents.display(), tricky_path.display()),
        "",
    );
    ok(
        &mut h,
        "MAILATT",
        fixture("invoice.pdf").to_str().unwrap(),
        "name=\"Invoice 42.pdf\";type=application/x-pdf",
    );
    ok(&mut h, "MAILSEND", "", "");
    ok(&mut h, "MAILEND", "", "");

    let m = &server.wait_for(1)[0];
    assert_eq!(
        m["structure"],
        "multipart/mixed(multipart/alternative(text/plain,multipart/related(text/html,image/png)),application/pdf,application/octet-stream,application/x-pdf)"
    );
    let parts = leaf_parts(m);
    assert_eq!(
        text(parts[0]),
        "Dear Bob,\nplease find the invoice attached."
    );
    assert_eq!(
        text(parts[1]),
        "<html><body><p>Dear Bob,</p><img src=\"cid:logo\"></body></html>"
    );
    let logo = std::fs::read(fixture("logo.png")).unwrap();
    assert_eq!(parts[2]["sha256"], sha256_hex(&logo));
    assert_eq!(parts[2]["content_id"], "<logo>");
    assert_eq!(parts[2]["disposition"], "inline");
    let pdf = std::fs::read(fixture("invoice.pdf")).unwrap();
    assert_eq!(parts[3]["filename"], "Facture n°42 \"été\" 2026.pdf");
    assert_eq!(
        parts[3]["name"], "Facture n°42 \"été\" 2026.pdf",
        "Content-Type name= (RFC 2047)"
    );
    assert_eq!(parts[3]["sha256"], sha256_hex(&pdf));
    assert_eq!(parts[3]["disposition"], "attachment");
    assert_eq!(parts[4]["filename"], "notes.bin");
    assert_eq!(parts[4]["cte"], "base64");
    assert_eq!(parts[4]["sha256"], sha256_hex(tricky));
    assert_eq!(parts[5]["filename"], "Invoice 42.pdf");
    assert_eq!(parts[5]["sha256"], sha256_hex(&pdf));
    for p in &parts[2..] {
        assert_eq!(p["cte"], "base64", "{p}");
    }
    assert_eq!(header(m, "X-Priority"), Some("1 (Highest)"));
    assert_eq!(
        m["defects"].as_array().unwrap().len(),
        0,
        "{}",
        m["defects"]
    );
}

#[test]
fn html_only_and_html_from_a_file() {
    let server = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let html = write(
        dir.path(),
        "body.html",
        "<p>Réunion à 10h</p>\r\n<p>Salle B</p>".as_bytes(),
    );
    let mut h = open(&server);
    ok(&mut h, "MAILPREP", "bob@example.test", "html");
    ok(&mut h, "MAILBODYF", html.to_str().unwrap(), "");
    ok(&mut h, "MAILSEND", "", "");
    // Inline image without HTML: just another part of multipart/mixed.
    ok(&mut h, "MAILPREP", "bob@example.test", "image only");
    ok(
        &mut h,
        "MAILLATT",
        fixture("logo.png").to_str().unwrap(),
        "cid=logo",
    );
    ok(&mut h, "MAILSEND", "", "");
    ok(&mut h, "MAILEND", "", "");
    let msgs = server.wait_for(2);
    assert_eq!(msgs[0]["structure"], "text/html");
    assert_eq!(
        text(leaf_parts(&msgs[0])[0]),
        "<p>Réunion à 10h</p>\n<p>Salle B</p>"
    );
    assert_eq!(msgs[1]["structure"], "multipart/mixed(image/png)");
}

#[test]
fn empty_and_missing_and_vanishing_files() {
    let server = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let empty = write(dir.path(), "empty.txt", b"");
    let soon_gone = write(dir.path(), "gone.csv", b"a;b\n1;2\n");
    let mut h = open(&server);
    ok(&mut h, "MAILPREP", "bob@example.test", "files");
    let (rc, text) = call(&mut h, "MAILLATT", "/no/such/dir/report.pdf", "");
    assert_eq!(rc, 200);
    assert_eq!(
        text,
        "200 MAILLATT: attachment '/no/such/dir/report.pdf' does not exist"
    );
    let (rc, text) = call(&mut h, "MAILLATT", dir.path().to_str().unwrap(), "");
    assert_eq!(rc, 201, "{text}");
    assert!(text.contains("is a folder"), "{text}");
    let (rc, text) = call(&mut h, "MAILBODYF", "/no/such/body.html", "");
    assert_eq!(rc, 200, "{text}");
    // The refused files stop this draft's MAILSEND, naming the first.
    let (rc, text) = call(&mut h, "MAILSEND", "", "");
    assert_eq!(rc, 114, "{text}");
    assert!(text.contains("MAILLATT #1 failed with 200"), "{text}");
    ok(&mut h, "MAILPREP", "bob@example.test", "files");
    ok(
        &mut h,
        "MAILLATT",
        &format!("{};{}", empty.display(), soon_gone.display()),
        "",
    );
    std::fs::remove_file(&soon_gone).unwrap();
    let (rc, text) = call(&mut h, "MAILSEND", "", "");
    assert_eq!(rc, 200, "{text}");
    assert!(text.contains("gone.csv"), "{text}");
    // The draft is intact: the file comes back, the same MAILSEND works.
    std::fs::write(&soon_gone, b"a;b\n1;2\n").unwrap();
    ok(&mut h, "MAILSEND", "", "");
    ok(&mut h, "MAILEND", "", "");
    let m = &server.wait_for(1)[0];
    let parts = leaf_parts(m);
    assert_eq!(m["structure"], "multipart/mixed(text/plain,text/csv)");
    assert_eq!(parts[0]["filename"], "empty.txt");
    assert_eq!(parts[0]["size"], 0);
    assert_eq!(parts[1]["filename"], "gone.csv");
    assert_eq!(parts[1]["sha256"], sha256_hex(b"a;b\n1;2\n"));
}

#[test]
fn every_body_charset_round_trips() {
    let server = SmtpServer::start();
    let mut h = open(&server);
    let cases: [(&str, &str, &str); 9] = [
        ("UTF-8", "utf-8", "Zoé € ☃ 日本 😀"),
        ("ASCII", "us-ascii", "plain ascii only"),
        ("UTF-7", "utf-7", "Zoé € ☃ 1+1=2 日本 😀"),
        ("UTF-32", "utf-32", "Zoé € ☃ 😀"),
        ("Unicode", "utf-16", "Zoé € ☃ 😀"),
        ("ISO-8859-1", "windows-1252", "Zoé déjà vu — 10 €"),
        ("windows-1252", "windows-1252", "Zoé déjà vu — 10 €"),
        ("ISO-8859-15", "iso-8859-15", "Zoé Œuvre 10 €"),
        ("KOI8-R", "koi8-r", "Привет"),
    ];
    for (label, _, text) in cases {
        ok(
            &mut h,
            "MAILPREP",
            "bob@example.test",
            &format!("subject=\"{label}\";charset={label}"),
        );
        ok(&mut h, "MAILTEXT", text, "");
        ok(&mut h, "MAILTEXT", "second line", "");
        ok(&mut h, "MAILBODYF", &format!("<p>{text}</p>"), "");
        ok(&mut h, "MAILSEND", "", "");
    }
    ok(&mut h, "MAILEND", "", "");
    let msgs = server.wait_for(cases.len());
    for (m, (label, mime, text)) in msgs.iter().zip(cases) {
        let parts = leaf_parts(m);
        assert_eq!(parts[0]["charset"], mime, "{label}");
        assert_eq!(
            common::text(parts[0]),
            format!("{text}\nsecond line"),
            "{label}"
        );
        assert_eq!(common::text(parts[1]), format!("<p>{text}</p>"), "{label}");
    }
}

#[test]
fn a_charset_that_cannot_carry_the_text_says_which_character() {
    let server = SmtpServer::start();
    let mut h = open(&server);
    ok(
        &mut h,
        "MAILPREP",
        "bob@example.test",
        "charset=ISO-8859-15",
    );
    let (rc, text) = call(&mut h, "MAILTEXT", "price: 10 € ☃", "");
    assert_eq!(rc, 111);
    assert!(
        text.contains("'☃' (U+2603) at position 13") && text.contains("ISO-8859-15"),
        "{text}"
    );
    let (rc, _) = call(&mut h, "MAILBODYF", "<p>☃</p>", "");
    assert_eq!(rc, 111);
    let (rc, _) = call(&mut h, "MAILPREP", "bob@example.test", "charset=EBCDIC-FR");
    assert_eq!(rc, 106);
    ok(&mut h, "MAILEND", "", "");
}

/// Issue #16 item 5: a Windows path (drive or UNC share) gets one hint,
/// the same at MAILSMTP's logfile and at MAILLATT and MAILBODYF, and the
/// draft is not sent without the file.
#[test]
fn windows_paths_get_the_same_hint_at_logfile_maillatt_and_mailbodyf() {
    let server = SmtpServer::start();
    let hint = |example: &str, folder: &str| {
        format!(
            "use a path on this machine (copy the file or mount the share), such as {example}; create its folder if missing (mkdir -p {folder})"
        )
    };
    let mut h = 0;
    let (rc, text) = call(
        &mut h,
        "MAILSMTP",
        &format!("{};logfile=\"\\\\srv\\partage\\log.txt\"", server.props()),
        "",
    );
    assert_eq!(rc, 106, "{text}");
    assert!(
        text.ends_with(&format!(
            "'logfile' is a Windows path ('\\\\srv\\partage\\log.txt'): {}",
            hint("/var/log/lnccmd/send.csv", "/var/log/lnccmd")
        )),
        "{text}"
    );
    // The literal name was not created in the current folder.
    assert!(!Path::new("\\\\srv\\partage\\log.txt").exists());
    ok(&mut h, "MAILSMTP", &server.props(), "");
    ok(&mut h, "MAILPREP", "bob@example.test", "");
    for (cmd, path) in [
        ("MAILLATT", r"\\srv\partage\facture.pdf"),
        ("MAILLATT", r"c:\factures\42.pdf"),
        ("MAILBODYF", r"C:/temp/body.html"),
        ("MAILBODYF", r"\\srv\partage\body.html"),
    ] {
        let (rc, text) = call(&mut h, cmd, path, "");
        assert_eq!(rc, 200, "{cmd} {path}: {text}");
        assert!(
            text.ends_with(&format!(
                "'{path}' is a Windows path: {}",
                hint("/var/lnccmd/invoice.pdf", "/var/lnccmd")
            )),
            "{text}"
        );
    }
    let (rc, text) = call(&mut h, "MAILSEND", "", "");
    assert_eq!(rc, 114, "{text}");
    ok(&mut h, "MAILEND", "", "");
    assert!(server.messages().is_empty());
}

#[test]
fn input_charset_windows_1252() {
    let server = SmtpServer::start();
    let mut h = 0;
    let props = format!(
        "{};InputCharset=windows-1252;Sender=\"Soci\u{e9}t\u{e9} <tech@example.test>\"",
        server.props()
    );
    let props = encoding_rs::WINDOWS_1252.encode(&props).0.into_owned();
    let (rc, text) = call_bytes(&mut h, "MAILSMTP", &props, b"");
    assert_eq!(rc, 0, "{text}");
    let (rc, text) = call_bytes(
        &mut h,
        "MAILPREP",
        b"Ren\xe9e <renee@example.test>",
        b"subject=\"Caf\xe9 \x80 10\"",
    );
    assert_eq!(rc, 0, "{text}");
    let (rc, text) = call_bytes(&mut h, "MAILTEXT", b"D\xe9j\xe0 pay\xe9: 10 \x80", b"");
    assert_eq!(rc, 0, "{text}");
    ok(&mut h, "MAILSEND", "", "");
    ok(&mut h, "MAILEND", "", "");
    let m = &server.wait_for(1)[0];
    assert_eq!(header(m, "From"), Some("Société <tech@example.test>"));
    assert_eq!(header(m, "To"), Some("Renée <renee@example.test>"));
    assert_eq!(header(m, "Subject"), Some("Café € 10"));
    assert_eq!(common::text(leaf_parts(m)[0]), "Déjà payé: 10 €");
}

#[test]
fn input_charset_invalid_bytes_and_utf16_fixed_fields() {
    let server = SmtpServer::start();
    let mut h = 0;
    ok(
        &mut h,
        "MAILSMTP",
        &format!("{};InputCharset=Shift_JIS", server.props()),
        "",
    );
    ok(&mut h, "MAILPREP", "bob@example.test", "x");
    let (rc, text) = call_bytes(&mut h, "MAILTEXT", b"ok \x81", b"");
    assert_eq!(rc, 107, "{text}");
    assert!(text.contains("Shift_JIS"), "{text}");
    ok(&mut h, "MAILEND", "", "");

    // UTF-16LE only fits fixed-length fields (it is full of NUL bytes).
    let utf16 = |s: &str, len: usize| {
        let mut v: Vec<u8> = s.encode_utf16().flat_map(u16::to_le_bytes).collect();
        while v.len() < len {
            v.extend_from_slice(&[b' ', 0]);
        }
        v
    };
    let fixed = call_fixed;
    let mut h = 0;
    let props = format!("{};InputCharset=utf-16le", server.props());
    assert_eq!(
        fixed(&mut h, "MAILSMTP", &utf16(&props, 400), &utf16("", 20)),
        (0, "0".into())
    );
    assert_eq!(
        fixed(
            &mut h,
            "MAILPREP",
            &utf16("zoë@example.test", 100),
            &utf16("Ünïcode fïelds", 100)
        ),
        (0, "0".into())
    );
    // A UTF-16 subject that decodes to CR LF is still header injection.
    let (rc, text) = fixed(
        &mut h,
        "MAILSUBJ",
        &utf16("a\r\nBcc: evil@example.test", 100),
        &[],
    );
    assert_eq!(rc, 110, "{text}");
    // A good subject repairs the draft (MAILSUBJ sets its value anew).
    assert_eq!(
        fixed(&mut h, "MAILSUBJ", &utf16("Ünïcode fïelds", 100), &[]),
        (0, "0".into())
    );
    assert_eq!(
        fixed(&mut h, "MAILTEXT", &utf16("Grüße", 50), &[]),
        (0, "0".into())
    );
    assert_eq!(fixed(&mut h, "MAILSEND", &[], &[]), (0, "0".into()));
    assert_eq!(fixed(&mut h, "MAILEND", &[], &[]), (0, "0".into()));
    let m = &server.wait_for(1)[0];
    assert_eq!(header(m, "Subject"), Some("Ünïcode fïelds"));
    assert_eq!(rcpts(m), ["zoë@example.test"]);
    assert_eq!(common::text(leaf_parts(m)[0]), "Grüße");
}

#[test]
fn check_mail_rejects_what_rfc_5322_rejects() {
    let server = SmtpServer::start();
    let mut h = 0;
    ok(
        &mut h,
        "MAILSMTP",
        &format!("{};checkMail=true", server.props()),
        "",
    );
    for (cmd, addr) in [
        ("MAILPREP", "bob@localhost"),
        ("MAILTO", "a..b@example.test"),
        ("MAILCC", "bob@-bad-.test"),
        ("MAILBCC", "\"unbalanced@example.test"),
    ] {
        if cmd != "MAILPREP" {
            ok(&mut h, "MAILPREP", "", "x");
        }
        let (rc, text) = call(&mut h, cmd, addr, "");
        assert_eq!(rc, 108, "{cmd} {addr}: {text}");
        assert!(text.starts_with(&format!("108 {cmd}: ")), "{text}");
    }
    ok(
        &mut h,
        "MAILPREP",
        "\"john.doe\"@example.test; ok@[192.0.2.1]",
        "x",
    );
    // Without checkMail, a dotless domain is accepted (an intranet host).
    ok(&mut h, "MAILSMTP", &server.props(), "");
    ok(&mut h, "MAILTO", "bob@localhost", "");
    ok(&mut h, "MAILEND", "", "");
}

#[test]
fn the_wire_carries_only_crlf_and_stuffed_dots() {
    let server = SmtpServer::start();
    let tap = WireTap::new(server.port);
    let mut h = 0;
    ok(
        &mut h,
        "MAILSMTP",
        &format!(
            "Server=127.0.0.1;port={};Sender=t@example.test;Timeout=10",
            tap.port
        ),
        "",
    );
    ok(&mut h, "MAILPREP", "bob@example.test", "wire");
    let long = "y".repeat(3000);
    ok(
        &mut h,
        "MAILTEXT",
        &format!(".\nbare\rcr\n..two dots\n.\r\n{long}\nend."),
        "",
    );
    ok(&mut h, "MAILBODYF", &format!("<p>\n.\n{long}</p>"), "");
    ok(&mut h, "MAILSEND", "", "");
    ok(&mut h, "MAILEND", "", "");
    let m = &server.wait_for(1)[0];
    assert_eq!(
        text(leaf_parts(m)[0]),
        format!(".\nbare\ncr\n..two dots\n.\n{long}\nend.")
    );
    let wire = tap.bytes();
    for (i, w) in wire.windows(2).enumerate() {
        assert!(
            !(w[1] == b'\n' && w[0] != b'\r'),
            "bare LF on the wire at {i}"
        );
        assert!(
            !(w[0] == b'\r' && w[1] != b'\n'),
            "bare CR on the wire at {i}"
        );
    }
    let lines: Vec<&[u8]> = wire.split(|&b| b == b'\n').collect();
    assert!(
        lines.iter().all(|l| l.len() <= 999),
        "a wire line is over 998 octets"
    );
    // Between DATA and the final dot, every line starting with '.' is stuffed.
    let start = lines.iter().position(|l| *l == b"DATA\r").unwrap() + 1;
    let end = lines.iter().position(|l| *l == b".\r").unwrap();
    assert!(end > start);
    for l in &lines[start..end] {
        assert!(
            !l.starts_with(b".") || l.starts_with(b".."),
            "unstuffed dot line {:?}",
            String::from_utf8_lossy(l)
        );
    }
}

#[test]
fn header_injection_in_file_names_and_cids() {
    let server = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let evil = write(dir.path(), "x\nBcc: evil@example.test.txt", b"x");
    let fine = write(dir.path(), "fine.txt", b"x");
    let mut h = open(&server);
    ok(&mut h, "MAILPREP", "bob@example.test", "names");
    assert_eq!(call(&mut h, "MAILLATT", evil.to_str().unwrap(), "").0, 110);
    assert_eq!(
        call(
            &mut h,
            "MAILLATT",
            fine.to_str().unwrap(),
            "name=\"a\r\nb\""
        )
        .0,
        110
    );
    assert_eq!(
        call(&mut h, "MAILLATT", fine.to_str().unwrap(), "cid=\"a\nb\"").0,
        110
    );
    assert_eq!(
        call(
            &mut h,
            "MAILLATT",
            fine.to_str().unwrap(),
            "type=\"text/plain\r\nX: y\""
        )
        .0,
        110
    );
    send_anyway(&mut h, &server, "MAILLATT #1 failed with 110");
    ok(&mut h, "MAILEND", "", "");
    let m = &server.wait_for(1)[0];
    assert_eq!(m["structure"], "text/plain");
    assert!(!String::from_utf8_lossy(&server.raw(1)).contains("evil"));
}

#[test]
fn mailprty_words_and_levels() {
    let server = SmtpServer::start();
    let mut h = open(&server);
    for (p, xp, imp) in [
        ("*HIGH", Some("1 (Highest)"), Some("high")),
        ("4", Some("2 (High)"), Some("high")),
        ("*NORMAL", None, None),
        ("LOW", Some("5 (Lowest)"), Some("low")),
        ("1", Some("4 (Low)"), Some("low")),
    ] {
        let n = server.messages().len() + 1;
        ok(&mut h, "MAILPREP", "bob@example.test", p);
        ok(&mut h, "MAILPRTY", p, "");
        ok(&mut h, "MAILSEND", "", "");
        let m = &server.wait_for(n)[n - 1];
        assert_eq!(header(m, "X-Priority"), xp, "{p}");
        assert_eq!(header(m, "Importance"), imp, "{p}");
        assert_eq!(
            header_count(m, "Priority"),
            usize::from(xp.is_some()),
            "{p}"
        );
    }
    assert_eq!(
        call(&mut h, "MAILPRTY", "*URGENT", "").0,
        103,
        "no draft after MAILSEND"
    );
    ok(&mut h, "MAILPREP", "bob@example.test", "x");
    assert_eq!(call(&mut h, "MAILPRTY", "*URGENT", "").0, 106);
    ok(&mut h, "MAILEND", "", "");
}

#[test]
fn long_names_fold_and_unfoldable_words_are_refused() {
    let server = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "x.pdf", b"%PDF");
    let long_ascii = format!("{}.pdf", "n".repeat(240));
    let long_accents = format!("{}.pdf", "é".repeat(600));
    let mut h = open(&server);
    ok(&mut h, "MAILPREP", "bob@example.test", "long names");
    ok(
        &mut h,
        "MAILLATT",
        file.to_str().unwrap(),
        &format!("name=\"{long_ascii}\""),
    );
    ok(
        &mut h,
        "MAILLATT",
        file.to_str().unwrap(),
        &format!("name=\"{long_accents}\""),
    );
    ok(&mut h, "MAILSUBJ", &"é".repeat(1500), "");
    let (rc, text) = call(&mut h, "MAILSUBJ", &"s".repeat(1200), "");
    assert_eq!(rc, 106, "{text}");
    let (rc, text) = call(
        &mut h,
        "MAILCC",
        &format!("\"{}\" <c@example.test>", "d".repeat(1200)),
        "",
    );
    assert_eq!(rc, 106, "{text}");
    send_anyway(&mut h, &server, "MAILSUBJ #2 failed with 106");
    ok(&mut h, "MAILEND", "", "");
    let m = &server.wait_for(1)[0];
    let parts = leaf_parts(m);
    assert_eq!(
        m["structure"],
        "multipart/mixed(application/pdf,application/pdf)"
    );
    assert_eq!(parts[0]["filename"], long_ascii);
    assert_eq!(parts[0]["name"], long_ascii);
    assert_eq!(parts[1]["filename"], long_accents);
    assert_eq!(parts[1]["name"], long_accents);
    assert_eq!(header(m, "Subject"), Some("é".repeat(1500).as_str()));
    let raw = server.raw(1);
    assert!(
        raw.split(|&b| b == b'\n').all(|l| l.len() <= 999),
        "a line over 998 octets"
    );
}

#[test]
fn control_characters_in_text_go_quoted_printable() {
    let server = SmtpServer::start();
    let mut h = open(&server);
    ok(&mut h, "MAILPREP", "bob@example.test", "controls");
    let (rc, text) = call_fixed(&mut h, "MAILTEXT", b"a\0b\x01c\x1bd", b"");
    assert_eq!(rc, 0, "{text}");
    ok(&mut h, "MAILSEND", "", "");
    ok(&mut h, "MAILEND", "", "");
    let m = &server.wait_for(1)[0];
    assert_eq!(leaf_parts(m)[0]["cte"], "quoted-printable");
    assert_eq!(common::text(leaf_parts(m)[0]), "a\0b\x01c\x1bd");
    assert!(!server.raw(1).contains(&0), "no NUL on the wire");
}

#[test]
fn internationalised_domains_go_out_as_punycode() {
    let server = SmtpServer::start();
    let mut h = 0;
    ok(
        &mut h,
        "MAILSMTP",
        &format!(
            "Server=127.0.0.1;port={};Sender=\"Zoé <zoe@bücher.example>\"",
            server.port
        ),
        "",
    );
    ok(&mut h, "MAILPREP", "bob@straße.example", "idn");
    ok(&mut h, "MAILSEND", "", "");
    ok(&mut h, "MAILEND", "", "");
    let m = &server.wait_for(1)[0];
    assert_eq!(m["mail_from"], "zoe@xn--bcher-kva.example");
    assert_eq!(rcpts(m), ["bob@xn--strae-oqa.example"]);
    assert!(!m["mail_options"].to_string().contains("SMTPUTF8"));
    assert!(
        header(m, "Message-ID")
            .unwrap()
            .ends_with("@xn--bcher-kva.example>")
    );
}

#[test]
fn oversized_composite_and_special_files_are_refused_at_maillatt() {
    let server = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    // A sparse 2 GiB file: refused from its size, without reading it.
    let big = dir.path().join("big.iso");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    let small = write(dir.path(), "a.txt", b"a");
    let mut h = open(&server);
    ok(&mut h, "MAILPREP", "bob@example.test", "x");
    let (rc, text) = call(&mut h, "MAILLATT", big.to_str().unwrap(), "");
    assert_eq!(rc, 505, "{text}");
    assert!(text.contains("big.iso"), "{text}");
    for t in ["multipart/mixed", "message/rfc822", "Multipart/Alternative"] {
        let (rc, text) = call(
            &mut h,
            "MAILLATT",
            small.to_str().unwrap(),
            &format!("type={t}"),
        );
        assert_eq!(rc, 106, "{t}: {text}");
    }
    assert_eq!(call(&mut h, "MAILLATT", "/dev/zero", "").0, 201);
    ok(&mut h, "MAILEND", "", "");

    // A FIFO as the log file is refused at MAILSMTP, it would block.
    let fifo = dir.path().join("log.fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let (rc, text) = call(
        &mut h,
        "MAILSMTP",
        &format!("{};logfile=\"{}\"", server.props(), fifo.display()),
        "",
    );
    assert_eq!(rc, 201, "{text}");
}

/// Text in an EBCDIC CCSID, by glibc's iconv (not lnccmd's tables).
fn ebcdic(ccsid: &str, text: &str) -> Vec<u8> {
    use std::io::Write;
    let mut child = std::process::Command::new("iconv")
        .args(["-f", "UTF-8", "-t", &format!("IBM{ccsid}")])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("iconv (libc-bin) is needed by this test");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "iconv to IBM{ccsid}: {text}");
    out.stdout
}

/// Issue #16 item 4: a session whose data is EBCDIC (CCSID 1147, declared
/// as IBM i writes it): fields blank-padded with 0x40, and an HTML file in
/// EBCDIC for MAILBODYF, arrive as the text they are; MAILPREP refuses an
/// EBCDIC charset for the mail itself.
#[test]
fn ebcdic_fields_and_html_file_with_an_ebcdic_input_charset() {
    let server = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let html = write(
        dir.path(),
        "avis.html",
        &ebcdic("1147", "<p>Réglé : 1 234,56 €, merci, François.</p>\n"),
    );
    let field = |text: &str, len: usize| {
        let mut f = ebcdic("1147", text);
        assert!(f.len() <= len);
        f.resize(len, 0x40);
        f
    };
    let mut h = 0;
    let props = format!("{};InputCharset=CCSID1147", server.props());
    let (rc, res) = call_fixed(&mut h, "MAILSMTP", &field(&props, 512), b"");
    assert_eq!(rc, 0, "{res}");
    let (rc, res) = call_fixed(
        &mut h,
        "MAILPREP",
        &field("bob@example.test", 256),
        &field("charset=297", 256),
    );
    assert_eq!(rc, 106, "{res}");
    assert!(res.contains("EBCDIC (CCSID 297)"), "{res}");
    let (rc, res) = call_fixed(
        &mut h,
        "MAILPREP",
        &field("bob@example.test", 256),
        &field("subject=\"Avis n°7 : 12 €\";charset=923", 256),
    );
    assert_eq!(rc, 0, "{res}");
    let (rc, res) = call_fixed(&mut h, "MAILTEXT", &field("Leçon d'été : 12 €", 80), b"");
    assert_eq!(rc, 0, "{res}");
    let (rc, res) = call_fixed(
        &mut h,
        "MAILBODYF",
        &field(html.to_str().unwrap(), 256),
        b"",
    );
    assert_eq!(rc, 0, "{res}");
    let (rc, res) = call_fixed(&mut h, "MAILSEND", b"", b"");
    assert_eq!(rc, 0, "{res}");
    ok(&mut h, "MAILEND", "", "");
    let m = &server.wait_for(1)[0];
    assert_eq!(header(m, "Subject"), Some("Avis n°7 : 12 €"));
    let parts = leaf_parts(m);
    assert_eq!(parts[0]["content_type"], "text/plain");
    assert_eq!(parts[0]["charset"], "iso-8859-15");
    assert_eq!(text(parts[0]), "Leçon d'été : 12 €");
    assert_eq!(
        text(parts[1]),
        "<p>Réglé : 1 234,56 €, merci, François.</p>"
    );
}
