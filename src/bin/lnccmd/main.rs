//! `lnccmd`: LAUNCHER Office's LNCCMD mail commands from the shell.
//! `lnccmd run FILE` runs a CL program of LNCCMD calls; `lnccmd sndmail`
//! sends one mail as LNCSNDMAIL. Both use the library through
//! `lnccmd::call`. Decisions and syntax: docs/cli.md.

#![forbid(unsafe_code)]

mod cl;
mod expr;
mod script;
mod sndmail;

use std::collections::BTreeSet;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use script::{Failure, Host};

/// Exit statuses that are not a status code's class (sysexits.h numbers).
const EXIT_USAGE: u8 = 64;
const EXIT_SCRIPT: u8 = 65;
const EXIT_NOINPUT: u8 = 66;
const EXIT_CANTCREAT: u8 = 73;

/// The program ended itself with SNDPGMMSG MSGTYPE(*ESCAPE), as an
/// unmonitored escape message ends a CL program: out of the classes 1..9
/// (no call failed) and of the sysexits numbers.
const EXIT_ESCAPE: u8 = 10;

/// The exit status of 409 DELIVERY_UNCERTAIN: not its class 4, which says
/// "worth retrying later", since a script that retries would send twice.
const EXIT_UNCERTAIN: u8 = 8;

/// A status code (0, 100..999) as an exit status: its class, code / 100,
/// but for 409 (`EXIT_UNCERTAIN`).
fn exit_for(code: i32) -> u8 {
    match code {
        0 => 0,
        409 => EXIT_UNCERTAIN,
        _ => (code / 100).clamp(1, 9) as u8,
    }
}

const HELP: &str = "\
lnccmd - LAUNCHER Office's LNCCMD mail commands (MAILSMTP, MAILPREP, MAILSEND...) from the shell

Usage:
  lnccmd run [OPTIONS] FILE              run a CL program of LNCCMD calls
  lnccmd sndmail [OPTIONS] KEYWORD(...)  send one mail, as LNCSNDMAIL
  lnccmd run --help | lnccmd sndmail --help
  lnccmd --version                       the library's version

Examples:
  lnccmd run --set SERVER=smtp.example.com --set PORT=587 examples/cl/invoice.clp
  lnccmd run --dry-run --out /tmp/mails examples/cl/invoice.clp
  lnccmd sndmail \"TOINTNET((bob@example.com *TO))\" \"SUBJECT('Invoice 42')\" \\
      \"MSG('Hello Bob,' 'the invoice is attached.')\" \"DOC('/tmp/F42.pdf')\" \\
      \"CFGSMTP('smtp.example.com' 25 'billing@example.com')\"

Exit status:
  0       success
  1 to 9  a call failed: the class of its status code (code / 100): 1 the call
          (bad address, property...), 2 files, 3 S/MIME, 4 connection,
          5 server reply, 9 internal. The full code starts the RESULT line
          printed on stderr (FILE:LINE: 108 MAILTO: ...).
  10      the program ended with SNDPGMMSG MSGTYPE(*ESCAPE)
  64      wrong command line
  65      the script has an error (syntax, unsupported command, bad value,
          not UTF-8 without --encoding, the --max-steps limit)
  66      the script file cannot be read
  73      the --dry-run folder cannot be created

Details: docs/cli.md.
";

const RUN_HELP: &str = "\
Usage: lnccmd run [OPTIONS] FILE

Runs FILE, a CL program of LNCCMD calls written as for IBM i:
  PGM [PARM(&A ...)] ... ENDPGM, RETURN
  DCL VAR(&X) TYPE(*CHAR) LEN(256) VALUE('...')   *CHAR *DEC(p s) *INT *UINT *LGL
  CHGVAR VAR(&X) VALUE('Server=\"' *TCAT &SRV *TCAT '\"')    or CHGVAR &X '...'
  CALL PGM(LNCCMD) PARM(&HANDLE &CMD &OPT &PARM1 &PARM2 &RESULT)
  LNCCMD CMD(MAILSMTP) OPT(' ') PARM1('...') PARM2(' ')   (one handle per program)
  LNCSNDMAIL TOINTNET(...) ...                    see lnccmd sndmail --help
  IF COND(&RESULT *NE '0') THEN(GOTO CMDLBL(ERREUR)) / ELSE / DO ... ENDDO
  DOWHILE, DOUNTIL, DOFOR VAR(&I) FROM(1) TO(&N) BY(1), LEAVE, ITERATE
  SELECT / WHEN COND(...) THEN(...) / OTHERWISE / ENDSELECT, GOTO, labels
  MONMSG MSGID(...) [EXEC(...)]   after a command: its error is monitored;
                        before the first command: for all of them
  SNDPGMMSG MSG('...') MSGTYPE(*INFO|*COMP|*DIAG|*ESCAPE), SNDUSRMSG
                        on stderr with the type; *ESCAPE ends the program (10)
  RTVJOBA DATE(&D) USER(&U), RTVSYSVAL QDATE/QTIME   from the host
with + and - continuation (inside quoted strings too), '' for a quote,
/* comments */, *CAT *BCAT *TCAT (|| |> |<), *EQ *NE *GT *LT *GE *LE *NG *NL
(= <> > < >= <= ¬=), *AND *OR *NOT (& | ¬), + - * /, and %SST %TRIM %TRIML
%TRIMR %SCAN %CHECK %CHECKR %LEN %DEC %INT %CHAR %UPPER %LOWER.
A CALL's error is in &RESULT for the program to test; if the program does
not read &RESULT before its next call, the run stops there. The whole file
is checked before anything runs; errors print FILE:LINE: RESULT on stderr.

Options:
  --set NAME=VALUE  starting value of the declared variable &NAME (repeatable)
  --dry-run         compose every message exactly as MAILSEND would and write
                    it to DIR/NNNN-<message-id>.eml instead of sending it
  --out DIR         the folder for --dry-run (default ./lnccmd-dry-run)
  --check           check the script only: nothing runs
  --encoding CHARSET  the file's character set when it is not UTF-8
                    (windows-1252, ISO-8859-15...)
  --max-steps N     stop a run after N statements (default 10000000)
  --progress[=N]    a progress line on stderr every N messages (default 100)
                    and every 2 s; on by default when stderr is a terminal
  -q, --quiet       no progress, summary or warnings (errors are printed)
  -h, --help

FILE may be - (standard input). Scripts are UTF-8 text, or --encoding;
SEU sequence numbers (columns 1-12) are recognised.

Example (see examples/cl/invoice.clp):
  PGM
    DCL VAR(&SERVER) TYPE(*CHAR) LEN(64) VALUE('smtp.example.com')
    LNCCMD CMD(MAILSMTP) PARM1('Sender=\"billing@example.com\";+
                                Server=\"' *TCAT &SERVER *TCAT '\"')
    LNCCMD CMD(MAILPREP) PARM1('bob@example.com') PARM2('subject=\"Invoice\"')
    LNCCMD CMD(MAILTEXT) PARM1('Here''s your invoice.')
    LNCCMD CMD(MAILSEND)
    LNCCMD CMD(MAILEND)
  ENDPGM
";

const SNDMAIL_HELP: &str = "\
Usage: lnccmd sndmail [OPTIONS] KEYWORD(VALUE)...

Sends one mail, as LAUNCHER's LNCSNDMAIL command, in CL keyword syntax: one
argument or several (quote them for the shell).

  TOINTNET((addr *TO) (addr *CC) (addr *BCC)...)  recipients (required); a
                       bare addr is *TO; 'Name <addr>' is allowed
  SUBJECT('text')
  MSG('line' 'line'...)  the text body, one value per line
  HTML('<p>...</p>')     HTML body, or the path of an HTML file (MAILBODYF)
  DOC('/path/a.pdf' ('/path/b.png' 'shown name')...)   attachments
  PTY(*HIGH|*NORMAL|*LOW|0..5)    priority
  CFMDEL(*YES|*NO|*READ|*BOTH)    *YES: delivery report (DSN); *READ: read
                       receipt; *BOTH: both
  CFGSMTP(server port sender user password security tries timeout)
                       the SMTP server. Leave an element out with *DFT or
                       *NONE. security: *NONE, *TLS (STARTTLS) or *SMTPS.
                       tries: attempts (1 = no retry). Several servers:
                       CFGSMTP((server ...) (server ...)): the next one is
                       tried when MAILSEND fails with a 4xx code
                       where nothing can have been delivered (never 409).
  SMTP('Server=\"...\";Sender=\"...\";...')   extension: any MAILSMTP
                       properties, applied after CFGSMTP's (the last wins)
  MSGFILE('/path/body.txt' | *STDIN)   extension: a multi-line text body
                       from a UTF-8 file or standard input, after MSG's lines

A value with blanks, commas or quotes is quoted: SUBJECT('Invoice 42'),
MSG('l''équipe'); an unquoted one is refused, naming its keyword.

Environment: LNCCMD_SMTP, MAILSMTP properties applied before all others
(a default server and sender).

Options: --dry-run, --out DIR, -q/--quiet, -h/--help, as for lnccmd run;
--check checks the keywords and the constant MAILSMTP properties (CFGSMTP,
SMTP) as the send would, and sends nothing.
Errors print 'lnccmd sndmail: RESULT'; the exit status is the same as for
lnccmd run (see lnccmd --help).

Example:
  lnccmd sndmail \"TOINTNET((bob@example.com *TO) (amy@example.com *CC))\" \\
    \"SUBJECT('Invoice 42')\" \"MSG('Hello Bob,' 'the invoice is attached.')\" \\
    \"DOC('/tmp/F42.pdf')\" \"PTY(*HIGH)\" \"CFMDEL(*YES)\" \\
    \"CFGSMTP('smtp.example.com' 587 'Billing <billing@example.com>' billing s3cret *TLS)\"
";

/// Command-line options of `run` and `sndmail`.
#[derive(Debug, Default)]
struct Options {
    dry_run: bool,
    out: Option<PathBuf>,
    sets: Vec<(String, String)>,
    /// `--progress[=N]`.
    progress: Option<u64>,
    quiet: bool,
    check: bool,
    help: bool,
    /// `--encoding`: the script's character set when it is not UTF-8.
    encoding: Option<&'static encoding_rs::Encoding>,
    /// `--max-steps`.
    max_steps: Option<u64>,
    /// Everything that is not an option.
    args: Vec<String>,
}

/// A wrong command line: the message for stderr.
struct Usage(String);

fn parse_options(argv: &[String], run: bool) -> Result<Options, Usage> {
    let mut o = Options::default();
    let mut it = argv.iter();
    let mut only_args = false;
    while let Some(a) = it.next() {
        let is_option = a.starts_with("--") || (a.starts_with('-') && a.len() == 2);
        if only_args || !is_option {
            o.args.push(a.clone());
            continue;
        }
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (a.as_str(), None),
        };
        let mut value = |what: &str| {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| Usage(format!("{name} needs {what}")))
        };
        match name {
            "--" => only_args = true,
            "-h" | "--help" => o.help = true,
            "-q" | "--quiet" => o.quiet = true,
            "--dry-run" => o.dry_run = true,
            "--out" => o.out = Some(PathBuf::from(value("a folder")?)),
            "--set" if run => {
                let v = value("NAME=VALUE")?;
                let (n, val) = v
                    .split_once('=')
                    .ok_or_else(|| Usage(format!("--set {v}: write NAME=VALUE")))?;
                o.sets.push((n.to_string(), val.to_string()));
            }
            "--check" => o.check = true,
            "--encoding" if run => {
                let label = value("a character set")?;
                let enc = encoding_rs::Encoding::for_label(label.trim().as_bytes())
                    .filter(|e| *e != encoding_rs::UTF_16LE && *e != encoding_rs::UTF_16BE && *e != encoding_rs::REPLACEMENT)
                    .ok_or_else(|| Usage(format!("--encoding {label}: not a character set lnccmd knows (windows-1252, ISO-8859-1, ISO-8859-15, UTF-8...)")))?;
                o.encoding = Some(enc);
            }
            "--max-steps" if run => {
                let v = value("a number")?;
                o.max_steps = Some(v.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                    Usage(format!("--max-steps {v}: a number of statements from 1"))
                })?);
            }
            "--progress" if run => {
                o.progress = Some(match inline {
                    None => 100,
                    Some(n) => n.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                        Usage(format!("--progress={n}: a number of messages from 1"))
                    })?,
                });
            }
            _ => return Err(Usage(format!("unknown option {a}"))),
        }
    }
    if o.out.is_some() && !o.dry_run {
        return Err(Usage("--out goes with --dry-run".into()));
    }
    Ok(o)
}

/// The library behind `script::Host`: counts MAILSENDs, prints progress and
/// warnings, and remembers open sessions to close them at the end.
struct CliHost {
    /// `FILE` for `FILE:LINE:` prefixes, or `lnccmd sndmail`.
    label: String,
    with_lines: bool,
    quiet: bool,
    dry: bool,
    progress_every: Option<u64>,
    sent: u64,
    failed: u64,
    shown: u64,
    last_line: Instant,
    open: BTreeSet<i32>,
    /// Sessions whose last MAILSEND failed, its draft still there: the
    /// message is counted when its outcome is known (sent by a later
    /// MAILSEND, such as the next CFGSMTP server's, or failed at the next
    /// MAILPREP, at MAILEND or at the end), so a message counts once.
    unsent: BTreeSet<i32>,
}

impl CliHost {
    fn new(label: String, with_lines: bool, o: &Options) -> CliHost {
        let progress_every = if o.quiet {
            None
        } else {
            o.progress
                .or_else(|| std::io::stderr().is_terminal().then_some(100))
        };
        CliHost {
            label,
            with_lines,
            quiet: o.quiet,
            dry: o.dry_run,
            progress_every,
            sent: 0,
            failed: 0,
            shown: 0,
            last_line: Instant::now(),
            open: BTreeSet::new(),
            unsent: BTreeSet::new(),
        }
    }

    fn place(&self, line: usize) -> String {
        if self.with_lines {
            format!("{}:{line}:", self.label)
        } else {
            format!("{}:", self.label)
        }
    }

    fn counts(&self) -> String {
        let verb = if self.dry { "written" } else { "sent" };
        let n = self.sent;
        let mut s = format!("{n} message{} {verb}", if n == 1 { "" } else { "s" });
        if self.failed > 0 {
            s.push_str(&format!(" ({} failed)", self.failed));
        }
        s
    }

    fn tick(&mut self) {
        let Some(every) = self.progress_every else {
            return;
        };
        let total = self.sent + self.failed;
        if total - self.shown >= every || self.last_line.elapsed() >= Duration::from_secs(2) {
            eprintln!("lnccmd: {}...", self.counts());
            self.shown = total;
            self.last_line = Instant::now();
        }
    }

    /// MAILEND on every session still open (an error stopped the program,
    /// or it did not end its sessions).
    fn close_all(&mut self) {
        self.failed += std::mem::take(&mut self.unsent).len() as u64;
        for h in std::mem::take(&mut self.open) {
            let mut h = h;
            lnccmd::call(&mut h, "MAILEND", "", "", "");
        }
    }

    fn summary(&self, out: Option<&Path>) {
        if self.quiet {
            return;
        }
        match out {
            Some(dir) => eprintln!(
                "lnccmd: {} to {} (dry run: nothing was sent)",
                self.counts(),
                dir.display()
            ),
            None => eprintln!("lnccmd: {}", self.counts()),
        }
    }
}

impl Host for CliHost {
    fn call(
        &mut self,
        handle: &mut i32,
        cmd: &str,
        opt: &str,
        parm1: &str,
        parm2: &str,
    ) -> (i32, String) {
        let before = *handle;
        let (code, text) = lnccmd::call(handle, cmd, opt, parm1, parm2);
        let name = cmd.trim_matches([' ', '\t']).to_ascii_uppercase();
        if name == "MAILSMTP"
            && code == 0
            && !self.quiet
            && let Some(cs) = foreign_input_charset(parm1)
        {
            eprintln!(
                "lnccmd: warning: MAILSMTP InputCharset={cs}, but lnccmd passes the script's text as UTF-8: non-ASCII characters will be misread"
            );
        }
        if (name == "MAILPREP" || name == "MAILEND") && self.unsent.remove(&before) {
            // The draft of the failed MAILSEND is given up.
            self.failed += 1;
        }
        if name == "MAILSMTP" && before == 0 && *handle != 0 {
            self.open.insert(*handle);
        } else if name == "MAILEND" && *handle == 0 {
            self.open.remove(&before);
        } else if name == "MAILSEND" {
            // 202 (log not written) and 501 (some recipients refused): the
            // message went out.
            if matches!(code, 0 | 202 | 501) {
                self.unsent.remove(&before);
                self.sent += 1;
            } else {
                self.unsent.insert(before);
            }
            self.tick();
        }
        (code, text)
    }

    fn clock(&self) -> script::Clock {
        // "2026-12-02T05:07:09+01:00"
        let t = lnccmd::iso8601_now();
        let n = |a: usize, b: usize| t.get(a..b).and_then(|x| x.parse().ok()).unwrap_or(0);
        script::Clock {
            year: n(0, 4) as i32,
            month: n(5, 7),
            day: n(8, 10),
            hour: n(11, 13),
            minute: n(14, 16),
            second: n(17, 19),
        }
    }

    fn job(&self) -> (String, String, String) {
        // JOB: the program's name, as the job of a submitted CL program
        // is often named after it; USER: the login name; NBR: the process.
        let stem = Path::new(&self.label)
            .file_stem()
            .map(|s| s.to_string_lossy().to_ascii_uppercase())
            .unwrap_or_default();
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "LNCCMD".into());
        let job: String = stem.chars().take(10).collect();
        let user: String = user.chars().take(10).collect();
        (job, user, format!("{:06}", std::process::id() % 1_000_000))
    }

    fn warn(&mut self, line: usize, text: &str) {
        if !self.quiet {
            eprintln!("{} warning: {text}", self.place(line));
        }
    }

    fn message(&mut self, line: usize, kind: &str, msgid: Option<&str>, text: &str) {
        // The program's own messages: printed even with --quiet.
        let id = msgid.map(|m| format!(" {m}")).unwrap_or_default();
        eprintln!("{} {kind}{id}: {text}", self.place(line));
    }
}

/// The `InputCharset` of MAILSMTP properties, when it is not UTF-8: the
/// library would decode the script's UTF-8 text with it.
fn foreign_input_charset(props: &str) -> Option<String> {
    let lower = props.to_ascii_lowercase();
    let at = lower.rfind("inputcharset")?;
    let rest = props[at + "inputcharset".len()..].trim_start();
    let value = rest.strip_prefix('=')?.trim_start();
    let value = value
        .trim_start_matches('"')
        .split(['"', ';'])
        .next()
        .unwrap_or("")
        .trim();
    let utf8 = value.eq_ignore_ascii_case("utf-8") || value.eq_ignore_ascii_case("utf8");
    (!value.is_empty() && !utf8).then(|| value.to_string())
}

/// Sets up `--dry-run`: the folder, created if needed.
fn dry_run_dir(o: &Options) -> Result<Option<PathBuf>, ExitCode> {
    if !o.dry_run {
        return Ok(None);
    }
    let dir = o
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("lnccmd-dry-run"));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("lnccmd: cannot create the folder {}: {e}", dir.display());
        return Err(ExitCode::from(EXIT_CANTCREAT));
    }
    lnccmd::set_dry_run_dir(Some(dir.clone()));
    Ok(Some(dir))
}

/// Runs a checked program and reports: the exit status.
fn execute(program: &mut script::Program, mut host: CliHost, out: Option<&Path>) -> ExitCode {
    let result = program.run(&mut host);
    host.close_all();
    let status = match result {
        Ok(report) => report.last_monitored_code.map_or(0, exit_for),
        Err(Failure::Call { line, code, result }) => {
            eprintln!("{} {result}", host.place(line));
            exit_for(code)
        }
        Err(Failure::Script { line, message }) => {
            eprintln!("{} error: {message}", host.place(line));
            EXIT_SCRIPT
        }
        Err(Failure::Escape { line, text }) => {
            eprintln!("{} *ESCAPE: {text}", host.place(line));
            EXIT_ESCAPE
        }
    };
    host.summary(out);
    ExitCode::from(status)
}

fn read_script(file: &str, o: &Options) -> Result<String, ExitCode> {
    let bytes = if file == "-" {
        let mut v = Vec::new();
        std::io::stdin().read_to_end(&mut v).map(|_| v)
    } else {
        std::fs::read(file)
    };
    let bytes = bytes.map_err(|e| {
        eprintln!("lnccmd: cannot read {file}: {e}");
        ExitCode::from(EXIT_NOINPUT)
    })?;
    let text = match o.encoding {
        // encoding_rs: the WHATWG tables (windows-1252 for ISO-8859-1, as
        // browsers and IBM i's CCSID 1252 exports agree on).
        Some(enc) => {
            let (text, _, bad) = enc.decode(&bytes);
            if bad {
                eprintln!("{file}: error: the script has bytes that are not {} text", enc.name());
                return Err(ExitCode::from(EXIT_SCRIPT));
            }
            text.into_owned()
        }
        None => String::from_utf8(bytes).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            let before = &e.as_bytes()[..at];
            let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
            let column = 1 + String::from_utf8_lossy(&before[before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)..]).chars().count();
            eprintln!(
                "{file}:{line}: error: column {column}: byte 0x{:02X} is not UTF-8: the script is in another character set; if it was exported as windows-1252 or ISO-8859-15 (CPYTOSTMF STMFCCSID(1252), an FTP transfer in ASCII mode), run it with --encoding windows-1252 (or --encoding ISO-8859-15)",
                e.as_bytes()[at]
            );
            ExitCode::from(EXIT_SCRIPT)
        })?,
    };
    match cl::seu_columns(&text) {
        Ok(None) => Ok(text),
        Ok(Some(stripped)) => {
            if !o.quiet {
                eprintln!("lnccmd: {file}: columns 1-12 (SEU sequence numbers and dates) ignored");
            }
            Ok(stripped)
        }
        Err(e) => {
            eprintln!("{file}:{}: error: {}", e.line, e.message);
            Err(ExitCode::from(EXIT_SCRIPT))
        }
    }
}

fn default_smtp() -> Option<String> {
    std::env::var("LNCCMD_SMTP")
        .ok()
        .filter(|s| !s.trim().is_empty())
}

fn cmd_run(o: Options) -> ExitCode {
    let [file] = o.args.as_slice() else {
        return usage(if o.args.is_empty() {
            "run: the script FILE is missing".into()
        } else {
            format!("run: one FILE only, not {}", o.args.join(" "))
        });
    };
    let source = match read_script(file, &o) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut program = match script::compile(&source, default_smtp()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{file}:{}: error: {}", e.line, e.message);
            return ExitCode::from(EXIT_SCRIPT);
        }
    };
    if let Some(n) = o.max_steps {
        program.set_max_steps(n);
    }
    if let Ok(f) = std::env::var("LNCCMD_DATFMT") {
        match script::DatFmt::parse(&f) {
            Some(f) => program.set_datfmt(f),
            None => return usage(format!("LNCCMD_DATFMT={f}: DMY, MDY or YMD")),
        }
    }
    for (name, value) in &o.sets {
        match program.set(name, value) {
            Ok(Some(w)) if !o.quiet => eprintln!("lnccmd: warning: --set {name}: {w}"),
            Ok(_) => {}
            Err(e) => return usage(e),
        }
    }
    if o.check {
        if !o.quiet {
            eprintln!("lnccmd: {file}: no error found");
        }
        return ExitCode::SUCCESS;
    }
    let out = match dry_run_dir(&o) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let host = CliHost::new(file.clone(), true, &o);
    execute(&mut program, host, out.as_deref())
}

fn cmd_sndmail(o: Options) -> ExitCode {
    if o.args.is_empty() {
        return usage("sndmail: no keyword given (at least TOINTNET(...))".into());
    }
    if o.args.iter().any(|a| a.contains(['\n', '\r'])) {
        return usage(
            "sndmail: a line break inside an argument: give each line of the text as its own value, MSG('line 1' 'line 2')".into(),
        );
    }
    let source = format!("LNCSNDMAIL {}", o.args.join(" "));
    let label = "lnccmd sndmail";
    let mut program = match script::compile(&source, default_smtp()) {
        Ok(p) => p,
        Err(e) => {
            let message = sndmail::unquoted_argument(&o.args).unwrap_or(e.message);
            eprintln!("{label}: error: {message}");
            return ExitCode::from(EXIT_SCRIPT);
        }
    };
    if o.check {
        if !o.quiet {
            eprintln!("{label}: no error found (nothing was sent)");
        }
        return ExitCode::SUCCESS;
    }
    let out = match dry_run_dir(&o) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let host = CliHost::new(label.into(), false, &o);
    execute(&mut program, host, out.as_deref())
}

fn usage(msg: String) -> ExitCode {
    eprintln!("lnccmd: {msg}\nTry 'lnccmd --help'.");
    ExitCode::from(EXIT_USAGE)
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some(first) = argv.first() else {
        eprint!("{HELP}");
        return ExitCode::from(EXIT_USAGE);
    };
    let rest = &argv[1..];
    match first.as_str() {
        "-h" | "--help" | "help" => {
            print!("{HELP}");
            ExitCode::SUCCESS
        }
        "-V" | "--version" => {
            println!("lnccmd {}", lnccmd::VERSION);
            ExitCode::SUCCESS
        }
        "run" | "sndmail" => {
            let run = first == "run";
            let o = match parse_options(rest, run) {
                Ok(o) => o,
                Err(Usage(m)) => return usage(format!("{first}: {m}")),
            };
            if o.help {
                print!("{}", if run { RUN_HELP } else { SNDMAIL_HELP });
                return ExitCode::SUCCESS;
            }
            if run { cmd_run(o) } else { cmd_sndmail(o) }
        }
        other => usage(format!(
            "unknown command '{other}' (run, sndmail, --help, --version)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(a: &[&str], run: bool) -> Result<Options, String> {
        let v: Vec<String> = a.iter().map(|s| s.to_string()).collect();
        parse_options(&v, run).map_err(|Usage(m)| m)
    }

    #[test]
    fn exit_status_is_the_class_of_the_code() {
        assert_eq!(exit_for(0), 0);
        assert_eq!(exit_for(108), 1);
        assert_eq!(exit_for(202), 2);
        assert_eq!(exit_for(307), 3);
        assert_eq!(exit_for(400), 4);
        assert_eq!(exit_for(409), 8, "409 must not say \"retry\"");
        assert_eq!(exit_for(504), 5);
        assert_eq!(exit_for(900), 9);
    }

    #[test]
    fn input_charsets_other_than_utf8_are_noticed() {
        let f = foreign_input_charset;
        assert_eq!(
            f("Server=x;InputCharset=windows-1252").as_deref(),
            Some("windows-1252")
        );
        assert_eq!(
            f("Server=x; inputcharset = \"ISO-8859-1\" ;a=b").as_deref(),
            Some("ISO-8859-1")
        );
        assert_eq!(f("Server=x;InputCharset=UTF-8"), None);
        assert_eq!(f("Server=x;Sender=y"), None);
    }

    #[test]
    fn options() {
        let o = opts(
            &[
                "--set",
                "A=1",
                "--set=B=x=y",
                "--dry-run",
                "--out=/tmp/d",
                "--progress=5",
                "-q",
                "f.clp",
            ],
            true,
        )
        .unwrap();
        assert_eq!(
            o.sets,
            [("A".into(), "1".into()), ("B".into(), "x=y".into())]
        );
        assert!(o.dry_run && o.quiet);
        assert_eq!(o.out.as_deref(), Some(Path::new("/tmp/d")));
        assert_eq!(o.progress, Some(5));
        assert_eq!(o.args, ["f.clp"]);
        assert_eq!(
            opts(&["--progress", "f"], true).unwrap().progress,
            Some(100)
        );
        assert_eq!(opts(&["-"], true).unwrap().args, ["-"]);
        assert_eq!(opts(&["--", "--x"], true).unwrap().args, ["--x"]);
        assert!(
            opts(&["--set", "A"], true)
                .unwrap_err()
                .contains("NAME=VALUE")
        );
        assert!(opts(&["--set"], true).unwrap_err().contains("needs"));
        assert!(
            opts(&["--out", "d"], true)
                .unwrap_err()
                .contains("--dry-run")
        );
        assert!(opts(&["--progress=0"], true).is_err());
        assert!(
            opts(&["--bogus"], true)
                .unwrap_err()
                .contains("unknown option")
        );
        assert!(
            opts(&["--set", "A=1"], false)
                .unwrap_err()
                .contains("unknown option")
        );
        // sndmail keywords are arguments, even with * and ().
        let o = opts(&["TOINTNET((a *TO))", "SUBJECT('-x')"], false).unwrap();
        assert_eq!(o.args.len(), 2);
    }
}
