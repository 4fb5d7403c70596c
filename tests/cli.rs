//! The `lnccmd` command line (docs/cli.md), run as a child process with a
//! bounded wait against a real SMTP server (aiosmtpd): `run` with CL
//! scripts in both forms, errors and exit statuses, `--dry-run`, `sndmail`,
//! progress lines, and the example script of examples/cl.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// Longest any lnccmd child may run.
const LIMIT: Duration = Duration::from_secs(60);

/// Runs the built `lnccmd` in `cwd` with `args`, killed past LIMIT.
fn lnccmd_in(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lnccmd"));
    cmd.args(args)
        .current_dir(cwd)
        .env_remove("LNCCMD_SMTP")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    wait_child(cmd.spawn().unwrap(), LIMIT)
}

fn lnccmd(args: &[&str]) -> Output {
    lnccmd_in(root(), args, &[])
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn status(o: &Output) -> i32 {
    o.status.code().expect("exited, not killed by a signal")
}

/// Writes a script file and returns its path as text.
fn script(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

fn pdf() -> PathBuf {
    root().join("c-examples/data/invoice.pdf")
}

/// The leaf part with this file name.
fn part<'a>(m: &'a Value, filename: &str) -> &'a Value {
    leaf_parts(m)
        .into_iter()
        .find(|p| p["filename"] == filename)
        .unwrap_or_else(|| panic!("no part {filename}: {}", m["parts"]))
}

#[test]
fn call_form_and_command_form_as_in_cl_sources() {
    let server = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let port = server.port;
    let pdf = pdf();
    let src = format!(
        "/* The vendor's form: CHGVAR then CALL PGM(LNCCMD) */
PGM
  DCL VAR(&HANDLE) TYPE(*DEC) LEN(10 0)
  DCL VAR(&CMD)    TYPE(*CHAR) LEN(10)
  DCL &OPT *CHAR 10
  DCL &PARM1 *CHAR 1024
  DCL &PARM2 *CHAR 512
  DCL &RESULT *CHAR 256

  CHGVAR     VAR(&CMD) VALUE('MAILSMTP')
  CHGVAR     VAR(&PARM1) VALUE('SERVER=\"127.0.0.1\";PORT={port};SENDER=\"TECH+
@EXAMPLE.TEST\";REPLY=\"TECH@EXAMPLE-+
SUPPORT.TEST\";Timeout=10')
  CHGVAR     VAR(&PARM2) VALUE(' ')
  CALL       PGM(LNCCMD) PARM(&HANDLE &CMD &OPT &PARM1 +
                              &PARM2 &RESULT)
  CHGVAR &CMD 'MAILPREP'
  CHGVAR &PARM1 'Bob <bob@example.test>'
  CHGVAR &PARM2 'subject=\"The call form\"'
  CALL PGM(LNCCMD) PARM(&HANDLE &CMD &OPT &PARM1 &PARM2 &RESULT)
  CHGVAR &CMD 'MAILTEXT'
  CHGVAR &PARM1 'It''s sent with CALL PGM(LNCCMD).'
  CHGVAR &PARM2 ' '
  CALL PGM(LNCCMD) PARM(&HANDLE &CMD &OPT &PARM1 &PARM2 &RESULT)
  CHGVAR &CMD 'MAILSEND'
  CALL PGM(LNCCMD) PARM(&HANDLE &CMD &OPT &PARM1 &PARM2 &RESULT)
  CHGVAR &CMD 'MAILEND'
  CALL PGM(LNCCMD) PARM(&HANDLE &CMD &OPT &PARM1 &PARM2 &RESULT)

/* The LNCCMD command form, names in any case */
  LNCCMD     CMD(MAILSMTP) +
             PARM1('SERVER=\"127.0.0.1\";PORT={port};SENDER=\"Tech <te+
             ch@example.test>\";Timeout=10') PARM2(' ')
  lnccmd cmd(mailprep) parm1('amy@example.test') parm2('subject=\"L''équipe vous écrit\"')
  LNCCMD CMD(MAILCC) PARM1('carol@example.test')
  LNCCMD CMD(MAILTEXT) PARM1('Here''s the invoice, Amy: it''s -
 attached.')
  LNCCMD CMD(MAILLATT) PARM1('{pdf}')
  LNCCMD CMD(MAILSEND)
  LNCCMD CMD(MAILEND)
ENDPGM
",
        pdf = pdf.display()
    );
    let file = script(dir.path(), "both.clp", &src);
    let out = lnccmd(&["run", &file]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("lnccmd: 2 messages sent"),
        "{}",
        stderr(&out)
    );

    let msgs = server.wait_for(2);
    let m = &msgs[0];
    assert_eq!(m["mail_from"], "TECH@EXAMPLE.TEST");
    assert_eq!(rcpts(m), ["bob@example.test"]);
    assert_eq!(header(m, "Subject"), Some("The call form"));
    assert_eq!(header(m, "Reply-To"), Some("TECH@EXAMPLE-SUPPORT.TEST"));
    assert_eq!(body_text(m), "It's sent with CALL PGM(LNCCMD).\n");

    let m = &msgs[1];
    assert_eq!(m["mail_from"], "tech@example.test");
    assert_eq!(header(m, "From"), Some("Tech <tech@example.test>"));
    assert_eq!(rcpts(m), ["amy@example.test", "carol@example.test"]);
    assert_eq!(header(m, "Cc"), Some("carol@example.test"));
    assert_eq!(header(m, "Subject"), Some("L'équipe vous écrit"));
    // '-' continuation keeps the next line's leading blank.
    assert_eq!(
        text(leaf_parts(m)[0]),
        "Here's the invoice, Amy: it's  attached."
    );
    let att = part(m, "invoice.pdf");
    assert_eq!(att["content_type"], "application/pdf");
    assert_eq!(att["sha256"], sha256_hex(&std::fs::read(&pdf).unwrap()));
}

#[test]
fn an_error_stops_the_script_with_file_line_and_result() {
    let server = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let src = format!(
        "LNCCMD CMD(MAILSMTP) PARM1('Server=\"127.0.0.1\";port={};Sender=\"a@example.test\"')
LNCCMD CMD(MAILPREP) PARM1('bob@example.test') PARM2('first')
LNCCMD CMD(MAILSEND)
LNCCMD CMD(MAILPREP) PARM1('bob@example.test') PARM2('second')
LNCCMD CMD(MAILTO) +
       PARM1('carol@')
LNCCMD CMD(MAILSEND)
LNCCMD CMD(MAILPREP) PARM1('bob@example.test') PARM2('third')
LNCCMD CMD(MAILSEND)
",
        server.port
    );
    let file = script(dir.path(), "bad.clp", &src);
    let out = lnccmd(&["run", &file]);
    let err = stderr(&out);
    assert_eq!(status(&out), 1, "108 is class 1: {err}");
    assert!(
        err.contains(&format!("{file}:5: 108 MAILTO: ")),
        "the line of the command: {err}"
    );
    assert!(err.contains("carol@"), "{err}");
    assert!(err.contains("lnccmd: 1 message sent"), "{err}");
    // The process has ended: nothing after line 5 was sent.
    let msgs = server.wait_for(1);
    assert_eq!(msgs.len(), 1);
    assert_eq!(header(&msgs[0], "Subject"), Some("first"));
}

#[test]
fn connection_errors_exit_4_and_monmsg_lets_the_program_go_on() {
    let server = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let dead = free_port();
    let src = format!(
        "PGM
  DCL &SRV *CHAR 20 '127.0.0.1'
  LNCCMD CMD(MAILSMTP) PARM1('Server=\"' *TCAT &SRV *TCAT '\";port={dead};Sender=a@example.test;Timeout=5')
  LNCCMD CMD(MAILPREP) PARM1('bob@example.test') PARM2('kept')
  LNCCMD CMD(MAILSEND)
  MONMSG MSGID(CPF0000)
  /* The draft is kept: the same message through another server */
  LNCCMD CMD(MAILSMTP) PARM1('Server=\"' *TCAT &SRV *TCAT '\";port={port};Sender=a@example.test')
  LNCCMD CMD(MAILSEND)
  LNCCMD CMD(MAILPREP) PARM1('bob@example.test') PARM2('lost')
  LNCCMD CMD(MAILSMTP) PARM1('Server=\"' *TCAT &SRV *TCAT '\";port={dead};Sender=a@example.test;Timeout=5')
  LNCCMD CMD(MAILSEND)
  LNCCMD CMD(MAILEND)
ENDPGM
",
        port = server.port
    );
    let file = script(dir.path(), "conn.clp", &src);
    let out = lnccmd(&["run", &file]);
    let err = stderr(&out);
    assert_eq!(status(&out), 4, "400 is class 4: {err}");
    assert!(
        err.contains(&format!("{file}:5: warning: 400 MAILSEND: cannot connect")),
        "{err}"
    );
    assert!(err.contains("MONMSG"), "{err}");
    assert!(err.contains(&format!("{file}:12: 400 MAILSEND: ")), "{err}");
    // Two messages: 'kept', sent by its second MAILSEND (its failed first
    // one is not a failed message), and 'lost'.
    assert!(err.contains("lnccmd: 1 message sent (1 failed)\n"), "{err}");
    let msgs = server.wait_for(1);
    assert_eq!(header(&msgs[0], "Subject"), Some("kept"));
}

#[test]
fn dry_run_writes_eml_files_and_sends_nothing() {
    let server = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("send.csv");
    let src = format!(
        "LNCCMD CMD(MAILSMTP) PARM1('Server=\"127.0.0.1\";port={};Sender=\"Tech <tech@example.test>\";logfile=\"{}\"')
LNCCMD CMD(MAILPREP) PARM1('bob@example.test') PARM2('subject=\"Dry one\"')
LNCCMD CMD(MAILTEXT) PARM1('It''s a dry run.')
LNCCMD CMD(MAILLATT) PARM1('{}')
LNCCMD CMD(MAILSEND)
LNCCMD CMD(MAILPREP) PARM1('amy@example.test') PARM2('subject=\"Dry two\"')
LNCCMD CMD(MAILSEND)
LNCCMD CMD(MAILEND)
",
        server.port,
        log.display(),
        pdf().display()
    );
    let file = script(dir.path(), "dry.clp", &src);
    let out_dir = dir.path().join("out");
    let out = lnccmd(&[
        "run",
        "--dry-run",
        "--out",
        out_dir.to_str().unwrap(),
        &file,
    ]);
    let err = stderr(&out);
    assert_eq!(status(&out), 0, "{err}");
    assert!(
        err.contains(&format!("2 messages written to {}", out_dir.display()))
            && err.contains("nothing was sent"),
        "{err}"
    );
    let mut files: Vec<_> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    for (i, (f, subject)) in files.iter().zip(["Dry one", "Dry two"]).enumerate() {
        let name = f.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with(&format!("{:04}-", i + 1)) && name.ends_with("@example.test.eml"),
            "{name}"
        );
        let parsed = parse_eml(f);
        let id = header(&parsed, "Message-ID").unwrap().to_string();
        assert_eq!(
            name,
            format!(
                "{:04}-{}.eml",
                i + 1,
                id.trim_start_matches('<').trim_end_matches('>')
            )
        );
        assert_eq!(header(&parsed, "Subject"), Some(subject));
        assert_eq!(header(&parsed, "From"), Some("Tech <tech@example.test>"));
        assert_eq!(parsed["defects"].as_array().unwrap().len(), 0);
        if i == 0 {
            assert_eq!(header(&parsed, "To"), Some("bob@example.test"));
            assert_eq!(body_text(&parsed), "It's a dry run.");
            assert_eq!(
                part(&parsed, "invoice.pdf")["sha256"],
                sha256_hex(&std::fs::read(pdf()).unwrap())
            );
        }
    }
    // Nothing reached the server, and a dry run writes no log line.
    std::thread::sleep(Duration::from_millis(200));
    assert!(server.messages().is_empty());
    assert!(!log.exists(), "the send log was written by a dry run");
}

#[test]
fn sndmail_sends_one_mail_from_keywords() {
    let server = SmtpServer::start_with(0, &["--dsn"]);
    let port = server.port.to_string();
    let doc = format!("DOC(('{}' 'Facture 42.pdf'))", pdf().display());
    let cfg = format!(
        "CFGSMTP('127.0.0.1' {port} 'Billing <billing@example.test>' *NONE *NONE *NONE 2 10)"
    );
    let out = lnccmd(&[
        "sndmail",
        "TOINTNET((bob@example.test *TO) ('Amy <amy@example.test>' *CC) (hidden@example.test *BCC))",
        "SUBJECT('Invoice ''42''')",
        "MSG('Hello Bob,' 'l''équipe' (&X))",
        &doc,
        "PTY(*HIGH)",
        "CFMDEL(*YES)",
        &cfg,
    ]);
    // &X is not declared: nothing is sent.
    assert_eq!(status(&out), 65, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("lnccmd sndmail: error: MSG: &X is not declared"),
        "{}",
        stderr(&out)
    );

    let out = lnccmd(&[
        "sndmail",
        "TOINTNET((bob@example.test *TO) ('Amy <amy@example.test>' *CC) (hidden@example.test *BCC))",
        "SUBJECT('Invoice ''42''')",
        "MSG('Hello Bob,' 'l''équipe vous écrit.')",
        &doc,
        "PTY(*HIGH)",
        "CFMDEL(*YES)",
        &cfg,
    ]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("1 message sent"), "{}", stderr(&out));
    let m = &server.wait_for(1)[0];
    assert_eq!(m["mail_from"], "billing@example.test");
    assert_eq!(
        rcpts(m),
        [
            "bob@example.test",
            "amy@example.test",
            "hidden@example.test"
        ]
    );
    assert_eq!(header(m, "To"), Some("bob@example.test"));
    assert_eq!(header(m, "Cc"), Some("Amy <amy@example.test>"));
    assert_eq!(header_count(m, "Bcc"), 0);
    assert_eq!(header(m, "Subject"), Some("Invoice '42'"));
    assert_eq!(header(m, "X-Priority"), Some("1 (Highest)"));
    assert_eq!(text(leaf_parts(m)[0]), "Hello Bob,\nl'équipe vous écrit.");
    assert_eq!(part(m, "Facture 42.pdf")["content_type"], "application/pdf");
    // CFMDEL(*YES): a delivery report was asked for (DSN).
    assert!(
        m["raw_mail"].as_str().unwrap().contains("RET=HDRS"),
        "{}",
        m["raw_mail"]
    );

    // One argument; SMTP() and LNCCMD_SMTP; the first server of CFGSMTP is
    // down, the second takes the same message.
    let dead = free_port();
    let words = format!(
        "TOINTNET(carol@example.test) SUBJECT('second') MSG('via the second server') \
         CFGSMTP((127.0.0.1 {dead}) (127.0.0.1 {port})) SMTP('Timeout=5')"
    );
    let out = lnccmd_in(
        root(),
        &["sndmail", &words],
        &[(
            "LNCCMD_SMTP",
            "Server=nowhere.invalid;Sender=\"Ops <ops@example.test>\"",
        )],
    );
    let err = stderr(&out);
    assert_eq!(status(&out), 0, "{err}");
    assert!(
        err.contains("lnccmd sndmail: warning: 400 MAILSEND: cannot connect")
            && err.contains("trying server 2 of CFGSMTP"),
        "{err}"
    );
    // The message was delivered: sent, not failed (issue #16 item 7).
    assert!(err.ends_with("lnccmd: 1 message sent\n"), "{err}");
    let m = &server.wait_for(2)[1];
    assert_eq!(m["mail_from"], "ops@example.test");
    assert_eq!(header(m, "Subject"), Some("second"));

    // A bad recipient: the RESULT, and the exit status of its class.
    let out = lnccmd(&[
        "sndmail",
        "TOINTNET('bob@')",
        &cfg.replace("*NONE *NONE *NONE 2 10", ""),
    ]);
    assert_eq!(status(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("lnccmd sndmail: 108 MAILTO: "),
        "{}",
        stderr(&out)
    );
    assert_eq!(server.messages().len(), 2);
}

#[test]
fn many_messages_show_progress_lines_and_a_summary() {
    let server = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut src = format!(
        "LNCCMD CMD(MAILSMTP) PARM1('Server=\"127.0.0.1\";port={};Sender=a@example.test')\n",
        server.port
    );
    for i in 1..=25 {
        src.push_str(&format!(
            "LNCCMD CMD(MAILPREP) PARM1('r{i}@example.test') PARM2('message {i}')\n\
             LNCCMD CMD(MAILTEXT) PARM1('number {i}')\nLNCCMD CMD(MAILSEND)\n"
        ));
    }
    src.push_str("LNCCMD CMD(MAILEND)\n");
    let file = script(dir.path(), "many.clp", &src);
    let out = lnccmd(&["run", "--progress=10", &file]);
    let err = stderr(&out);
    assert_eq!(status(&out), 0, "{err}");
    assert!(err.contains("lnccmd: 10 messages sent...\n"), "{err}");
    assert!(err.contains("lnccmd: 20 messages sent...\n"), "{err}");
    assert!(err.ends_with("lnccmd: 25 messages sent\n"), "{err}");
    assert_eq!(server.wait_for(25).len(), 25);

    // --quiet: nothing on stderr.
    let out = lnccmd(&["run", "--quiet", &file]);
    assert_eq!((status(&out), stderr(&out).as_str()), (0, ""));
    assert_eq!(server.wait_for(50).len(), 50);
}

#[test]
fn the_example_script_sends_the_invoice() {
    let server = SmtpServer::start();
    let port = format!("PORT={}", server.port);
    let out = lnccmd(&[
        "run",
        "--set",
        "SERVER=127.0.0.1",
        "--set",
        &port,
        "examples/cl/invoice.clp",
    ]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with(
            "examples/cl/invoice.clp:43: *INFO: Facture 42 envoyée à Client <client@example.test>\n"
        ),
        "{}",
        stderr(&out)
    );
    let m = &server.wait_for(1)[0];
    assert_eq!(m["mail_from"], "factures@example.test");
    assert_eq!(
        header(m, "From"),
        Some("Service facturation <factures@example.test>")
    );
    assert_eq!(header(m, "Reply-To"), Some("compta@example.test"));
    assert_eq!(header(m, "Subject"), Some("Facture n°42 - 1 234,56 €"));
    assert_eq!(
        m["structure"],
        "multipart/mixed(multipart/alternative(text/plain,multipart/related(text/html,image/png)),application/pdf)"
    );
    assert_eq!(
        text(leaf_parts(m)[0]),
        "Madame, Monsieur,\nveuillez trouver ci-joint la facture n°42 d'un montant de 1 234,56 €.\nCordialement, le service comptabilité"
    );
    let html = leaf_parts(m)[1]["text"].as_str().unwrap();
    assert!(
        html.contains("alt=\"logo\"><p>Madame")
            && html.contains("ci-joint la facture n°42 d'un montant de <b>"),
        "{html}"
    );
    assert_eq!(
        part(m, "Facture n°42.pdf")["sha256"],
        sha256_hex(&std::fs::read(pdf()).unwrap())
    );
}

#[test]
fn script_errors_are_found_before_anything_is_sent() {
    let server = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let head = format!(
        "PGM\nLNCCMD CMD(MAILSMTP) PARM1('Server=\"127.0.0.1\";port={};Sender=a@example.test')\n\
         LNCCMD CMD(MAILPREP) PARM1('bob@example.test')\nLNCCMD CMD(MAILSEND)\n",
        server.port
    );
    let cases = [
        ("IF COND(&A *EQ 'x') THEN(DO)\n", "&A is not declared"),
        ("RCVF DEV(*FILE)\n", "RCVF is not supported"),
        ("DOWHILE ('a' = 'a')\n", "this DO has no ENDDO"),
        ("CHGVAR &NOPE 'x'\n", "&NOPE is not declared"),
        ("LNCCMD CMD(MAILTEXT) PARM1('not closed)\n", "not closed"),
    ];
    for (tail, text) in cases {
        let file = script(dir.path(), "err.clp", &format!("{head}{tail}ENDPGM\n"));
        let out = lnccmd(&["run", &file]);
        assert_eq!(status(&out), 65, "{}", stderr(&out));
        assert!(
            stderr(&out).starts_with(&format!("{file}:5: error: ")) && stderr(&out).contains(text),
            "{}",
            stderr(&out)
        );
    }
    let file = script(dir.path(), "ok.clp", &format!("{head}ENDPGM\n"));
    let out = lnccmd(&["run", "--check", &file]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("no error found"));
    std::thread::sleep(Duration::from_millis(200));
    assert!(server.messages().is_empty(), "a checked script sent mail");
}

#[test]
fn help_version_and_usage_errors() {
    let out = lnccmd(&["--help"]);
    assert_eq!(status(&out), 0);
    assert!(stdout(&out).contains("Examples:") && stdout(&out).contains("Exit status:"));
    let out = lnccmd(&["run", "--help"]);
    assert_eq!(status(&out), 0);
    assert!(
        stdout(&out).contains("CALL PGM(LNCCMD) PARM(&HANDLE &CMD &OPT &PARM1 &PARM2 &RESULT)")
    );
    let out = lnccmd(&["sndmail", "--help"]);
    assert_eq!(status(&out), 0);
    assert!(
        stdout(&out).contains("CFGSMTP(server port sender user password security tries timeout)")
    );
    let out = lnccmd(&["--version"]);
    assert_eq!(
        (status(&out), stdout(&out)),
        (0, format!("lnccmd {}\n", env!("CARGO_PKG_VERSION")))
    );
    for (args, code) in [
        (&[][..], 64),
        (&["bogus"][..], 64),
        (&["run"][..], 64),
        (&["run", "a", "b"][..], 64),
        (&["run", "--frobnicate", "x"][..], 64),
        (&["run", "/no/such/script.clp"][..], 66),
        (&["sndmail"][..], 64),
        (&["sndmail", "TOINTNET(a@x.test) MSG('a\nb')"][..], 64),
        (&["sndmail", "TOINTNET((a@x.test *FROM))"][..], 65),
        (&["sndmail", "TOINTNET(a@x.test)"][..], 1),
    ] {
        let out = lnccmd(args);
        assert_eq!(status(&out), code, "{args:?}: {}", stderr(&out));
    }
    let out = lnccmd(&["sndmail", "TOINTNET(a@x.test)"]);
    assert!(
        stderr(&out).contains("105 LNCSNDMAIL: no SMTP server"),
        "{}",
        stderr(&out)
    );
    // --set names a variable the script does not declare.
    let dir = tempfile::tempdir().unwrap();
    let file = script(dir.path(), "s.clp", "DCL &SERVER *CHAR 10\n");
    let out = lnccmd(&["run", "--set", "SRV=x", &file]);
    assert_eq!(status(&out), 64);
    assert!(
        stderr(&out).contains("no variable &SRV"),
        "{}",
        stderr(&out)
    );
    // The script from standard input.
    let mut child = Command::new(env!("CARGO_BIN_EXE_lnccmd"))
        .args(["run", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        child.stdin.as_mut().unwrap(),
        b"SNDPGMMSG MSG('from stdin')\n",
    )
    .unwrap();
    drop(child.stdin.take());
    let out = wait_child(child, LIMIT);
    // SNDPGMMSG goes to stderr with its type, as to the job log.
    assert_eq!(status(&out), 0);
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).starts_with("-:1: *INFO: from stdin\n"),
        "{}",
        stderr(&out)
    );
}

/// The first CFGSMTP server takes the whole message, then stalls: it may
/// have it, so the second server must not get it (exit 8, never 4 or 0).
/// Then a server that refuses the connection is failed over, as before.
#[test]
fn sndmail_never_sends_twice_after_an_uncertain_delivery() {
    let server = SmtpServer::start();
    let fault = common::fault::FaultServer::start(|mut p: common::fault::Peer, _| {
        let _ = p.hello(&[]);
        if p.serve_until_data(common::fault::Peer::ok_reply).is_some() {
            let _ = p.data();
            p.stall();
        }
    });
    let words = format!(
        "TOINTNET(carol@example.test) SUBJECT('payslip') MSG('once only') \
         CFGSMTP((127.0.0.1 {}) (127.0.0.1 {})) SMTP('Sender=ops@example.test;Timeout=2')",
        fault.port, server.port
    );
    let out = lnccmd(&["sndmail", &words]);
    let err = stderr(&out);
    assert_eq!(status(&out), 8, "{err}");
    assert!(
        err.contains("409 MAILSEND: message <") && err.contains("may have been delivered"),
        "{err}"
    );
    assert!(!err.contains("trying server 2"), "{err}");
    assert_eq!(fault.count("DATA"), 1);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        server.messages().is_empty(),
        "the second server got a copy: {:?}",
        server.messages()
    );
}

/// The vendor's MAILSMTP example pasted from its help page, U+00A0
/// no-break spaces and all: it runs, up to MAILSMTP's hint about its
/// Windows log path (issue #16).
#[test]
fn the_vendors_example_pasted_from_its_page_runs_up_to_the_windows_path_hint() {
    let dir = tempfile::tempdir().unwrap();
    let nb = '\u{00A0}';
    let text = format!(
        "LNCCMD{nb} {nb} {nb} {nb}  CMD(MAILSMTP) +{nb} {nb} \n\
         PARM1('SERVER=\"SMTP.AURA.FR\";SENDER=\"TECH+{nb} {nb} \n\
         @EASYCOM-AURA.COM\";REPLY=\"TECH@EASYCOM-+{nb} {nb} \n\
         AURA.COM\";logfile=\"c:\\temp\\logaurasmtp.txt\"'){nb} {nb} \n"
    );
    let file = script(dir.path(), "vendor.clp", &text);
    let out = lnccmd(&["run", &file]);
    let err = stderr(&out);
    assert_eq!(status(&out), 1, "{err}");
    assert!(
        err.contains("106 MAILSMTP: 'logfile' is a Windows path")
            && err.contains("create its folder if missing (mkdir -p /var/log/lnccmd)"),
        "{err}"
    );
}

/// Issue #16 item 7: a multi-line body from a file and from standard input
/// arrives line for line, indentation kept, after MSG's lines.
#[test]
fn sndmail_takes_a_multi_line_body_from_a_file_or_stdin() {
    let server = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("body.txt");
    std::fs::write(
        &body,
        "Bonjour,\r\n\r\n  la facture est jointe.\r\nMerci.\r\n",
    )
    .unwrap();
    let smtp = format!(
        "SMTP('Server=127.0.0.1;port={};Sender=ops@example.test')",
        server.port
    );
    let out = lnccmd(&[
        "sndmail",
        "TOINTNET(bob@example.test)",
        "SUBJECT('from a file')",
        "MSG('Facture 42')",
        &format!("MSGFILE('{}')", body.display()),
        &smtp,
    ]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    let m = &server.wait_for(1)[0];
    assert_eq!(
        body_text(m),
        "Facture 42\nBonjour,\n\n  la facture est jointe.\nMerci.\n"
    );

    let mut child = Command::new(env!("CARGO_BIN_EXE_lnccmd"))
        .args([
            "sndmail",
            "TOINTNET(bob@example.test)",
            "SUBJECT('from stdin')",
        ])
        .args(["MSGFILE(*STDIN)", &smtp])
        .env_remove("LNCCMD_SMTP")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all("ligne 1\nligne 2 : été\n".as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    let m = &server.wait_for(2)[1];
    assert_eq!(header(m, "Subject"), Some("from stdin"));
    assert_eq!(body_text(m), "ligne 1\nligne 2 : été\n");

    // A file that is not there: 200, and nothing sent.
    let out = lnccmd(&[
        "sndmail",
        "TOINTNET(bob@example.test)",
        "MSGFILE('/no/such/body.txt')",
        &smtp,
    ]);
    assert_eq!(status(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with(
            "lnccmd sndmail: 200 LNCSNDMAIL: MSGFILE '/no/such/body.txt' cannot be read"
        ),
        "{}",
        stderr(&out)
    );
    assert_eq!(server.messages().len(), 2);
}

/// Issue #16 item 7: --check finds what MAILSMTP would refuse in constant
/// properties, and an unquoted value, naming the keyword; nothing is sent.
#[test]
fn sndmail_check_and_unquoted_values_send_nothing() {
    let server = SmtpServer::start();
    let smtp = |extra: &str| {
        format!(
            "SMTP('Server=127.0.0.1;port={};Sender=ops@example.test{extra}')",
            server.port
        )
    };
    let out = lnccmd(&[
        "sndmail",
        "--check",
        "TOINTNET(bob@example.test)",
        &smtp(""),
    ]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "lnccmd sndmail: no error found (nothing was sent)\n"
    );
    for check in [true, false] {
        let mut args = vec!["sndmail"];
        if check {
            args.push("--check");
        }
        let bad = smtp(";Timout=30");
        let out = lnccmd(&[&args[..], &["TOINTNET(bob@example.test)", &bad]].concat());
        assert_eq!(status(&out), 65, "{}", stderr(&out));
        assert!(
            stderr(&out).starts_with(
                "lnccmd sndmail: error: SMTP: MAILSMTP would refuse these properties: 112 MAILSMTP: unknown property 'Timout'"
            ),
            "{}",
            stderr(&out)
        );
        let good = smtp("");
        let out = lnccmd(
            &[
                &args[..],
                &["TOINTNET(bob@example.test)", "SUBJECT(Facture 42)", &good],
            ]
            .concat(),
        );
        assert_eq!(status(&out), 65, "{}", stderr(&out));
        assert_eq!(
            stderr(&out),
            "lnccmd sndmail: error: SUBJECT(Facture 42): a value with blanks, commas or quotes must be quoted, or CL reads 2 values: write SUBJECT('Facture 42')\n"
        );
        let out = lnccmd(
            &[
                &args[..],
                &["TOINTNET(bob@example.test)", "SUBJECT(l'équipe)", &good],
            ]
            .concat(),
        );
        assert_eq!(status(&out), 65, "{}", stderr(&out));
        assert!(
            stderr(&out).contains("SUBJECT(l'équipe): a value holding a quote must be quoted, with each quote doubled: write SUBJECT('l''équipe')"),
            "{}",
            stderr(&out)
        );
    }
    // The same check in a program, before anything runs.
    let dir = tempfile::tempdir().unwrap();
    let file = script(
        dir.path(),
        "bad.clp",
        &format!(
            "PGM\n  LNCSNDMAIL TOINTNET(bob@example.test) MSG('x') {}\nENDPGM\n",
            smtp(";SSLType=TSL")
        ),
    );
    for args in [vec!["run", "--check", &file], vec!["run", &file]] {
        let out = lnccmd(&args);
        assert_eq!(status(&out), 65, "{}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("{file}:2: error: SMTP: MAILSMTP would refuse these properties: 106 MAILSMTP: 'SSLType'")),
            "{}",
            stderr(&out)
        );
    }
    assert!(server.messages().is_empty());
}

/// A CL source exported in windows-1252 or ISO-8859-15 (issue #16 item 3):
/// without --encoding the error names the option; with it the text
/// arrives right. An SEU export with sequence columns on some lines only
/// is refused, naming the line.
#[test]
fn a_script_in_windows_1252_needs_encoding_and_says_so() {
    let server = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let src = format!(
        "LNCCMD CMD(MAILSMTP) PARM1('Server=\"127.0.0.1\";port={};Sender=a@example.test')\n\
         LNCCMD CMD(MAILPREP) PARM1('bob@example.test') PARM2('subject=\"Relevé 12 €\"')\n\
         LNCCMD CMD(MAILTEXT) PARM1('Votre relevé.')\nLNCCMD CMD(MAILSEND)\n",
        server.port
    );
    for (enc, bytes) in [
        ("windows-1252", encoding_rs::WINDOWS_1252.encode(&src).0),
        ("ISO-8859-15", encoding_rs::ISO_8859_15.encode(&src).0),
    ] {
        let p = dir.path().join(format!("{enc}.clp"));
        std::fs::write(&p, &bytes).unwrap();
        let file = p.to_str().unwrap();
        let out = lnccmd(&["run", file]);
        let err = stderr(&out);
        assert_eq!(status(&out), 65, "{err}");
        assert!(
            err.starts_with(&format!(
                "{file}:2: error: column 69: byte 0xE9 is not UTF-8"
            )) && err.contains("--encoding windows-1252"),
            "{err}"
        );
        let out = lnccmd(&["run", "--encoding", enc, file]);
        assert_eq!(status(&out), 0, "{}", stderr(&out));
    }
    let got = server.wait_for(2);
    assert_eq!(got.len(), 2);
    for m in &got {
        assert_eq!(header(m, "Subject"), Some("Relevé 12 €"));
        assert_eq!(body_text(m).trim_end(), "Votre relevé.");
    }
    let out = lnccmd(&["run", "--encoding", "klingon", "x.clp"]);
    assert_eq!(status(&out), 64);
    assert!(
        stderr(&out).contains("--encoding klingon"),
        "{}",
        stderr(&out)
    );
    // SEU columns on the first line but not on the third: refused.
    let file = script(
        dir.path(),
        "seu.clp",
        "000100261202PGM\n000200261202  LNCCMD CMD(MAILEND)\n  ENDPGM\n",
    );
    let out = lnccmd(&["run", &file]);
    assert_eq!(status(&out), 65, "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with(&format!(
            "{file}:3: error: this line does not start with the 12 digits of an SEU sequence number and date, but line 1 does"
        )),
        "{}",
        stderr(&out)
    );
}
