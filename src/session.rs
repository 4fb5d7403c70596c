//! One session (one handle): its settings, its open connection and the
//! message being prepared; the handler of every command and the sequence rules.

use std::path::{Path, PathBuf};
use std::time::Instant;

use lettre::message::Mailbox;

use crate::charset::{self, BodyCharset};
use crate::command::Command;
use crate::compose::{self, AttachmentSpec, Draft, RecipientKind};
use crate::error::{Error, LnccmdStatus, Result};
use crate::logfile;
use crate::props::{self, check_header_text, printable};
use crate::settings::{self, Settings};
use crate::transport::{self, Connection};

pub struct Session {
    /// The handle number (for the log).
    pub id: i32,
    settings: Settings,
    draft: Option<Draft>,
    /// What happened to `draft` since its MAILPREP.
    journal: Journal,
    conn: Option<Connection>,
    /// What the last MAILSEND did (MAILINFO).
    last: Option<LastSend>,
}

/// What the last MAILSEND of the session did, for MAILINFO.
#[derive(Debug, Clone, Default)]
struct LastSend {
    message_id: String,
    queue_id: Option<String>,
    /// What was negotiated, when it went over TLS.
    tls: Option<transport::TlsInfo>,
}

/// MAILINFO's PARM1 values, as documented.
pub(crate) const INFO_ITEMS: &[&str] = &["MESSAGEID", "QUEUEID", "TLS"];

/// The history of the draft that MAILSEND checks before sending: how many
/// times each content command was called since MAILPREP, which calls failed
/// and were not repaired since, and whether a MAILSEND of it ended
/// uncertain. docs/decisions.md, "Repairing a draft".
#[derive(Debug, Default)]
struct Journal {
    calls: Vec<(Command, u32)>,
    failures: Vec<FailedCall>,
    /// The Message-ID of a MAILSEND of this draft that ended with 409.
    uncertain: Option<String>,
    /// Why there is no draft: the last MAILPREP failed with this code.
    prep_failed: Option<LnccmdStatus>,
}

#[derive(Debug)]
struct FailedCall {
    command: Command,
    /// Its number among the calls of `command` since MAILPREP, from 1.
    nth: u32,
    status: LnccmdStatus,
    detail: String,
    /// Its parameters as decoded; `None` when they could not be decoded.
    params: Option<(String, String)>,
}

/// The commands that change a draft: a failure of one of them since
/// MAILPREP stops MAILSEND (114) unless `SendIncomplete`.
fn changes_draft(cmd: Command) -> bool {
    matches!(
        cmd,
        Command::MailTo
            | Command::MailCc
            | Command::MailBcc
            | Command::MailSubj
            | Command::MailText
            | Command::MailBodyF
            | Command::MailLAtt
            | Command::MailPrty
            | Command::MailReport
            | Command::MailHdr
    )
}

/// Commands that set a value anew (subject, priority, HTML body): a later
/// success replaces what the failed call meant to set, so it repairs the
/// draft. The others add to the draft, and only the same call repeated with
/// the same parameters repairs it (a second MAILLATT of another file does not
/// bring the first one back).
fn replaces_value(cmd: Command) -> bool {
    matches!(
        cmd,
        Command::MailSubj | Command::MailPrty | Command::MailBodyF
    )
}

/// 103 for a call that needs a draft: "no message {what}", and why there
/// is none when the last MAILPREP failed (`prep_failed`).
fn no_draft(prep_failed: Option<LnccmdStatus>, what: &str, first: &str) -> Error {
    let why = match prep_failed {
        Some(status) => format!(" (the last MAILPREP failed with {})", status.code()),
        None => String::new(),
    };
    Error::new(
        LnccmdStatus::Sequence,
        format!("no message {what}{why}: call {first} first"),
    )
}

impl Journal {
    /// Counts a call of a content command and returns its number.
    fn count(&mut self, cmd: Command) -> u32 {
        match self.calls.iter_mut().find(|(c, _)| *c == cmd) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                self.calls.push((cmd, 1));
                1
            }
        }
    }

    fn succeeded(&mut self, cmd: Command, parm1: &str, parm2: &str) {
        self.count(cmd);
        self.failures.retain(|f| {
            f.command != cmd
                || !(replaces_value(cmd)
                    || f.params
                        .as_ref()
                        .is_some_and(|(p1, p2)| p1 == parm1 && p2 == parm2))
        });
    }

    fn failed(&mut self, cmd: Command, e: &Error, params: Option<(&str, &str)>) {
        let nth = self.count(cmd);
        self.failures.push(FailedCall {
            command: cmd,
            nth,
            status: e.status,
            detail: e.detail.clone(),
            params: params.map(|(a, b)| (a.to_string(), b.to_string())),
        });
    }

    /// "MAILLATT #2 failed with 200: ..." for the first failure not repaired.
    fn first_failure(&self) -> Option<String> {
        let f = self.failures.first()?;
        let more = match self.failures.len() {
            1 => String::new(),
            n => format!(" (and {} more failed calls)", n - 1),
        };
        Some(format!(
            "{} #{} failed with {}: {}{more}",
            f.command.name(),
            f.nth,
            f.status.code(),
            f.detail
        ))
    }
}

/// MAILPREP's PARM2 property names, spelled as documented. The parser looks
/// every key up here first, so no property is accepted without being listed
/// (and documented: tests/docs.rs reads this list through `Command::properties`).
pub(crate) const PREP_PROPERTIES: &[&str] = &["subject", "priority", "charset", "report"];

/// MAILLATT's PARM2 property names, the same way.
pub(crate) const ATTACH_PROPERTIES: &[&str] = &["name", "type", "inline", "cid"];

/// `p`'s key as spelled in `known` (compared case-insensitively), or 112
/// listing the known names.
fn known_key(p: &props::Property, known: &'static [&'static str]) -> Result<&'static str> {
    known
        .iter()
        .copied()
        .find(|k| k.eq_ignore_ascii_case(&p.key))
        .ok_or_else(|| unknown_property(p, &known.join(", ")))
}

fn unknown_property(p: &props::Property, known: &str) -> Error {
    Error::new(
        LnccmdStatus::UnknownProperty,
        format!(
            "unknown property '{}' at position {} (known: {known})",
            printable(&p.key),
            p.pos
        ),
    )
}

fn bad_value(msg: String) -> Error {
    Error::new(LnccmdStatus::BadValue, msg)
}

/// `type/subtype` with RFC 2045 token characters.
fn is_media_type(v: &str) -> bool {
    let token = |t: &str| {
        !t.is_empty()
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$&^_.+-".contains(c))
    };
    matches!(v.split_once('/'), Some((a, b)) if token(a) && token(b))
}

/// A Content-ID: printable ASCII without blanks, quotes or angle brackets.
fn is_content_id(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 200
        && v.chars()
            .all(|c| c.is_ascii_graphic() && !"<>\"()[],;:\\".contains(c))
}

/// Failures worth another attempt: the server or the network may be fine soon.
fn is_transient(status: LnccmdStatus) -> bool {
    matches!(
        status,
        LnccmdStatus::Connect
            | LnccmdStatus::Timeout
            | LnccmdStatus::ConnectionLost
            | LnccmdStatus::TemporaryFailure
            | LnccmdStatus::TokenEndpoint
    )
}

impl Session {
    /// MAILSMTP with handle 0. The registry gives the number.
    pub fn open(parm1: &str) -> Result<Session> {
        Ok(Session {
            id: 0,
            settings: settings::parse(parm1)?,
            draft: None,
            journal: Journal::default(),
            conn: None,
            last: None,
        })
    }

    /// The charset of the caller's parameters (MAILSMTP `InputCharset`).
    pub fn input_charset(&self) -> charset::InputCharset {
        self.settings.input
    }

    /// Runs one command on this session. MAILEND's closing of the handle is
    /// the registry's business; here it only says goodbye to the server.
    ///
    /// Every outcome of a command that changes the draft goes into its
    /// journal, which MAILSEND reads; a failed MAILPREP discards the draft.
    pub fn run(&mut self, cmd: Command, parm1: &str, parm2: &str) -> Result<()> {
        #[cfg(test)]
        if parm1 == "__panic_for_test__" {
            panic!("injected by a test");
        }
        let had_draft = self.draft.is_some();
        if let Err(e) = self.dispatch(cmd, parm1, parm2) {
            return Err(self.failed_with(cmd, e, Some((parm1, parm2))));
        }
        if cmd == Command::MailPrep {
            self.journal = Journal::default();
        } else if had_draft && changes_draft(cmd) {
            self.journal.succeeded(cmd, parm1, parm2);
        }
        Ok(())
    }

    /// A call of `cmd` on this session failed with `e`, in `run` or before it
    /// (the registry could not decode its parameters, `params` is then
    /// `None`): the draft's journal takes note, a MAILPREP discards the
    /// draft. Returns the error as the caller gets it.
    pub fn failed_with(
        &mut self,
        cmd: Command,
        mut e: Error,
        params: Option<(&str, &str)>,
    ) -> Error {
        if cmd == Command::MailPrep {
            // The program meant to start another message: whatever it calls
            // next must not go into the one before (docs/contract.md §4.2).
            if self.draft.take().is_some() {
                e.detail.push_str(
                    "; the previous message, not sent, was discarded: MAILPREP again to start this one",
                );
            }
            self.journal = Journal {
                prep_failed: Some(e.status),
                ..Journal::default()
            };
        } else if changes_draft(cmd) && self.draft.is_some() {
            self.journal.failed(cmd, &e, params);
        }
        e
    }

    /// `run`, and the value a command answers with (MAILINFO's): RESULT is
    /// then `0 <value>`.
    pub fn call(&mut self, cmd: Command, parm1: &str, parm2: &str) -> Result<Option<String>> {
        if cmd == Command::MailInfo {
            return self.info(parm1).map(Some);
        }
        self.run(cmd, parm1, parm2).map(|()| None)
    }

    /// MAILINFO: what the last MAILSEND of this session did.
    fn info(&self, parm1: &str) -> Result<String> {
        let item = INFO_ITEMS
            .iter()
            .find(|i| i.eq_ignore_ascii_case(parm1.trim()))
            .ok_or_else(|| {
                bad_value(format!(
                    "PARM1 must be {}, not '{}'",
                    INFO_ITEMS.join(", "),
                    printable(parm1)
                ))
            })?;
        let last = self.last.as_ref().ok_or_else(|| {
            Error::new(
                LnccmdStatus::Sequence,
                "no MAILSEND has sent a message in this session yet",
            )
        })?;
        Ok(match *item {
            "MESSAGEID" => last.message_id.clone(),
            "QUEUEID" => last.queue_id.clone().unwrap_or_default(),
            _ => match &last.tls {
                Some(t) => format!("{}; {}", t.protocol, t.subject),
                None => "no".to_string(),
            },
        })
    }

    fn dispatch(&mut self, cmd: Command, parm1: &str, parm2: &str) -> Result<()> {
        match cmd {
            Command::MailSmtp => self.reconfigure(parm1),
            Command::MailPrep => self.prep(parm1, parm2),
            Command::MailTo => self.add(RecipientKind::To, parm1),
            Command::MailCc => self.add(RecipientKind::Cc, parm1),
            Command::MailBcc => self.add(RecipientKind::Bcc, parm1),
            Command::MailSubj => {
                let draft = self.draft()?;
                check_header_text("the subject", parm1)?;
                draft.subject = Some(parm1.to_string());
                Ok(())
            }
            Command::MailText => {
                let draft = self.draft()?;
                draft.charset.check("the text", parm1)?;
                draft.append_text(parm1);
                Ok(())
            }
            Command::MailPrty => {
                let draft = self.draft()?;
                draft.priority = Some(compose::parse_priority(parm1)?);
                Ok(())
            }
            Command::MailBodyF => self.html_body(parm1),
            Command::MailLAtt => self.attach(parm1, parm2),
            Command::MailReport => {
                let draft = self.draft()?;
                let (dsn, read) = match parm1.to_ascii_lowercase().as_str() {
                    "" => (true, false),
                    "read" => (false, true),
                    "both" => (true, true),
                    _ => {
                        return Err(bad_value(format!(
                            "PARM1 must be empty (delivery report), 'read' (read receipt) or 'both', not '{}'",
                            printable(parm1)
                        )));
                    }
                };
                draft.dsn |= dsn;
                draft.read_receipt |= read;
                Ok(())
            }
            Command::MailHdr => self.custom_header(parm1, parm2),
            Command::MailInfo => self.info(parm1).map(|_| ()),
            Command::MailSend => self.send(parm1),
            Command::MailEnd => {
                transport::park(&mut self.conn, self.settings.keep_alive);
                Ok(())
            }
        }
    }

    fn draft(&mut self) -> Result<&mut Draft> {
        let prep_failed = self.journal.prep_failed;
        self.draft
            .as_mut()
            .ok_or_else(|| no_draft(prep_failed, "in preparation", "MAILPREP"))
    }

    /// Parses an address list into mailboxes, all or nothing.
    fn recipients(&self, list: &str) -> Result<Vec<Mailbox>> {
        props::parse_address_list(list)?
            .into_iter()
            .map(|e| settings::mailbox(e, self.settings.check_mail))
            .collect()
    }

    /// MAILSMTP on a live handle: new settings, same draft; the connection is
    /// closed when the server settings changed.
    fn reconfigure(&mut self, parm1: &str) -> Result<()> {
        let new = settings::parse(parm1)?;
        if new.endpoint != self.settings.endpoint {
            // Another session of this process may want it (KeepAlive).
            transport::park(&mut self.conn, self.settings.keep_alive);
        }
        self.settings = new;
        Ok(())
    }

    /// MAILPREP: a fresh draft, built completely before the old one is dropped.
    fn prep(&mut self, parm1: &str, parm2: &str) -> Result<()> {
        let mut subject = None;
        let mut priority = None;
        let mut charset = BodyCharset::Utf8;
        let mut report = false;
        let is_mapi_subject = !parm2.contains('=') && !parm2.eq_ignore_ascii_case("report");
        if is_mapi_subject {
            // The vendor's MAPI form: PARM2 is the subject itself.
            if !parm2.is_empty() {
                check_header_text("the subject", parm2)?;
                subject = Some(parm2.to_string());
            }
        } else {
            for p in props::parse_properties(parm2)? {
                let v = p.value.as_deref();
                match known_key(&p, PREP_PROPERTIES)? {
                    "subject" => {
                        let s = v.unwrap_or("");
                        check_header_text("the subject", s)?;
                        subject = Some(s.to_string());
                    }
                    "priority" => priority = Some(compose::parse_priority(v.unwrap_or(""))?),
                    "charset" => charset = BodyCharset::parse(v.unwrap_or(""))?,
                    "report" => report = props::parse_bool("report", v)?,
                    other => unreachable!("MAILPREP property '{other}' is listed but not handled"),
                }
            }
        }
        let to = self.recipients(parm1)?;
        let mut d = Draft::new(charset);
        d.subject = subject;
        d.priority = priority;
        d.dsn = report;
        d.add_recipients(RecipientKind::To, to);
        self.draft = Some(d);
        Ok(())
    }

    fn add(&mut self, kind: RecipientKind, parm1: &str) -> Result<()> {
        self.draft()?;
        let list = self.recipients(parm1)?;
        self.draft()?.add_recipients(kind, list);
        Ok(())
    }

    /// MAILHDR: a header of the program's own. The name is an RFC 5322
    /// field name, not one the library writes; the value is text as any
    /// header's (no line breaks, RFC 2047 when not ASCII). The same name
    /// again replaces the value.
    fn custom_header(&mut self, parm1: &str, parm2: &str) -> Result<()> {
        self.draft()?;
        let name = parm1;
        if name.is_empty() || name.len() > 76 {
            return Err(bad_value(format!(
                "PARM1 must be a header name of 1 to 76 characters, not '{}'",
                printable(name)
            )));
        }
        if let Some(c) = name.chars().find(|c| !c.is_ascii_graphic() || *c == ':') {
            return Err(bad_value(format!(
                "header name '{}' contains {}: a name is ASCII letters, digits and punctuation but ':' (RFC 5322 §3.6.8)",
                printable(name),
                if c == ':' {
                    "':'".to_string()
                } else {
                    format!("U+{:04X}", c as u32)
                }
            )));
        }
        if let Some(owner) = compose::owned_header(name) {
            return Err(bad_value(format!(
                "header '{name}' is written by lnccmd, not by MAILHDR: set it with {owner}"
            )));
        }
        check_header_text(&format!("the value of header '{name}'"), parm2)?;
        if parm2.is_empty() {
            return Err(bad_value(format!(
                "PARM2 must be the value of header '{name}'"
            )));
        }
        let draft = self.draft()?;
        match draft
            .headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(h) => h.1 = parm2.to_string(),
            None => draft.headers.push((name.to_string(), parm2.to_string())),
        }
        Ok(())
    }

    /// MAILBODYF: inline HTML when PARM1 starts with '<', else a file read now.
    /// A file is decoded as UTF-8 when it starts with a UTF-8 byte-order mark,
    /// otherwise with the InputCharset, strictly.
    fn html_body(&mut self, parm1: &str) -> Result<()> {
        self.draft()?;
        let html = if parm1.starts_with('<') {
            parm1.to_string()
        } else if parm1.is_empty() {
            return Err(bad_value(
                "PARM1 must be the path of an HTML file, or HTML starting with '<'".into(),
            ));
        } else {
            let bytes = crate::files::read("HTML file", Path::new(parm1))?;
            let what = format!("HTML file '{}'", printable(parm1));
            match bytes.strip_prefix(b"\xEF\xBB\xBF") {
                Some(rest) => charset::decode_input(&what, rest, charset::InputCharset::UTF8)?,
                None => charset::decode_input(&what, &bytes, self.settings.input)?,
            }
        };
        let draft = self.draft()?;
        draft.charset.check("the HTML body", &html)?;
        draft.html = Some(compose::normalize_newlines(&html));
        Ok(())
    }

    /// MAILLATT: every file checked now (exists, regular, readable), read at MAILSEND.
    fn attach(&mut self, parm1: &str, parm2: &str) -> Result<()> {
        self.draft()?;
        let mut name = None;
        let mut media_type = None;
        let mut inline = false;
        let mut cid = None;
        let mut given = false;
        for p in props::parse_properties(parm2)? {
            let v = p.value.as_deref().unwrap_or("");
            given = true;
            match known_key(&p, ATTACH_PROPERTIES)? {
                "name" => {
                    check_header_text("the attachment name", v)?;
                    if v.is_empty() {
                        return Err(bad_value("'name' must not be empty".into()));
                    }
                    name = Some(v.to_string());
                }
                "type" => {
                    check_header_text("the attachment type", v)?;
                    if !is_media_type(v) {
                        return Err(bad_value(format!(
                            "'type' must be a media type such as application/pdf, not '{}'",
                            printable(v)
                        )));
                    }
                    // A file is one leaf part; a composite type would need a
                    // structure it does not have (RFC 2046 §5).
                    let top = v.split('/').next().unwrap_or("");
                    if top.eq_ignore_ascii_case("multipart") || top.eq_ignore_ascii_case("message")
                    {
                        return Err(bad_value(format!(
                            "'type' cannot be {v} for an attached file (use application/octet-stream)"
                        )));
                    }
                    media_type = Some(v.to_ascii_lowercase());
                }
                "inline" => inline = props::parse_bool("inline", p.value.as_deref())?,
                "cid" => {
                    check_header_text("the content id", v)?;
                    if !is_content_id(v) {
                        return Err(bad_value(format!(
                            "'cid' must be printable ASCII without blanks, quotes or brackets, not '{}'",
                            printable(v)
                        )));
                    }
                    cid = Some(v.to_string());
                }
                other => unreachable!("MAILLATT property '{other}' is listed but not handled"),
            }
        }
        let paths: Vec<&str> = parm1
            .split(';')
            .map(charset::trim_field)
            .filter(|p| !p.is_empty())
            .collect();
        if paths.is_empty() {
            return Err(bad_value("PARM1 names no file to attach".into()));
        }
        if paths.len() > 1 && given {
            return Err(bad_value(format!(
                "PARM2 properties describe one file, but PARM1 names {}: call MAILLATT once per file",
                paths.len()
            )));
        }
        if let Some(c) = &cid {
            let draft = self.draft()?;
            if draft.attachments.iter().any(|a| a.cid.as_ref() == Some(c)) {
                return Err(bad_value(format!(
                    "cid '{c}' is already used in this message"
                )));
            }
        }
        let mut specs = Vec::with_capacity(paths.len());
        let mut total = self.draft()?.attachment_bytes;
        for p in paths {
            props::check_controls("the file path", p)?;
            let path = PathBuf::from(p);
            let (_, len) = crate::files::open_regular("attachment", &path)?;
            total += len;
            if total > crate::files::MAX_FILE {
                return Err(crate::files::too_large("attachment", &path, total));
            }
            let shown = match &name {
                Some(n) => n.clone(),
                None => path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| p.to_string()),
            };
            check_header_text("the file name", &shown)?;
            if let Some(c) = shown.chars().find(|c| props::is_bidi_control(*c)) {
                return Err(bad_value(format!(
                    "the attachment name '{}' holds U+{:04X}, a bidirectional control that shows the name in another order than it is (a .exe can pose as a .pdf): rename the file or give name=\"...\"",
                    printable(&shown),
                    c as u32
                )));
            }
            let media = media_type.clone().unwrap_or_else(|| {
                mime_guess::from_path(&shown)
                    .first_or_octet_stream()
                    .essence_str()
                    .to_string()
            });
            specs.push(AttachmentSpec {
                path,
                name: shown,
                media_type: media,
                inline: inline || cid.is_some(),
                cid: cid.clone(),
            });
        }
        let draft = self.draft()?;
        draft.attachments.extend(specs);
        draft.attachment_bytes = total;
        Ok(())
    }

    /// MAILSEND: sends, then writes the log line (docs/contract.md §7). The draft is
    /// cleared only when the server took the message. PARM1 `RESEND` sends a
    /// draft whose earlier MAILSEND ended uncertain (409); any other PARM1 is
    /// ignored, as the vendor does.
    fn send(&mut self, parm1: &str) -> Result<()> {
        let resend = parm1.trim().eq_ignore_ascii_case("RESEND");
        let started = Instant::now();
        let mut record = logfile::Record::default();
        // A dry run (crate::dryrun) writes a file instead, and no log line.
        let dry = crate::dryrun::dir();
        // Formatting the log line's fields is per-message work: only with a log.
        let logging = self.settings.logfile.is_some() && dry.is_none();
        if logging {
            record.timestamp = compose::iso8601_now();
            record.handle = self.id;
            record.server = self.settings.endpoint.display();
            record.sender = self.settings.sender.to_string();
            record.signed = self.settings.smime.sign;
            record.encrypted = self.settings.smime.encrypt;
        }
        if let Some(d) = self.draft.as_ref().filter(|_| logging) {
            let list = |l: &[Mailbox]| {
                l.iter()
                    .map(|m| m.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            record.to = list(&d.to);
            record.cc = list(&d.cc);
            record.bcc = list(&d.bcc);
            record.subject = d.subject.clone().unwrap_or_default();
            record.attachments = d.attachments.len();
        }
        let outcome = self.deliver(&mut record, dry.as_deref(), resend);
        record.duration_ms = started.elapsed().as_millis();
        match &outcome {
            Ok(()) => {
                record.status = "OK";
            }
            Err(e) => {
                record.code = e.status.code();
                record.status = match e.status {
                    LnccmdStatus::PartialDelivery => "PARTIAL",
                    LnccmdStatus::DeliveryUncertain => "UNCERTAIN",
                    _ => "ERROR",
                };
                record.reply = e.detail.clone();
            }
        }
        let Some(path) = self.settings.logfile.as_ref().filter(|_| logging) else {
            return outcome;
        };
        match (logfile::append(path, &record), outcome) {
            (Err(e), Ok(())) => Err(Error::new(
                LnccmdStatus::LogNotWritable,
                format!(
                    "message {} sent, but the log file '{}' could not be written: {e}",
                    record.message_id,
                    printable(&path.to_string_lossy())
                ),
            )),
            (_, outcome) => outcome,
        }
    }

    /// Sends, and after a transient failure (connect, timeout, connection
    /// lost, 4xx) tries again `Retries` times with growing pauses (1, 2, 4...
    /// seconds, at most 30) on a new connection, never when the server may
    /// already have the message.
    fn send_with_retries(
        &mut self,
        out: &compose::Outgoing,
        opts: &transport::Options,
    ) -> Result<transport::Delivery> {
        let mut attempt = 0u32;
        loop {
            match transport::send(&mut self.conn, &self.settings.endpoint, out, opts) {
                Ok(d) => return Ok(d),
                // 409 (the server may have it) is not transient: never retried.
                Err(e) if attempt < self.settings.retries && is_transient(e.status) => {
                    attempt += 1;
                    transport::close(&mut self.conn);
                    std::thread::sleep(std::time::Duration::from_secs(
                        (1u64 << (attempt - 1)).min(30),
                    ));
                }
                Err(mut e) => {
                    if attempt > 0 {
                        e.detail
                            .push_str(&format!(" (after {} attempts)", attempt + 1));
                    }
                    return Err(e);
                }
            }
        }
    }

    /// Composes and sends the draft (or writes it to the `dry` folder),
    /// filling the log record as it goes.
    fn deliver(
        &mut self,
        record: &mut logfile::Record,
        dry: Option<&Path>,
        resend: bool,
    ) -> Result<()> {
        let prep_failed = self.journal.prep_failed;
        let draft = self.draft.as_mut().ok_or_else(|| {
            no_draft(prep_failed, "to send", "MAILPREP (and MAILTO, MAILTEXT...)")
        })?;
        if let Some(id) = self.journal.uncertain.as_ref().filter(|_| !resend) {
            return Err(Error::new(
                LnccmdStatus::DeliveryUncertain,
                format!(
                    "not sent again: message {id} may have been delivered by the earlier MAILSEND, whose answer never came; check at the server, then MAILSEND PARM1('RESEND') to send it anyway (same Message-ID) or MAILPREP a new message"
                ),
            ));
        }
        let incomplete = self.journal.first_failure();
        if let Some(first) = incomplete
            .as_ref()
            .filter(|_| !self.settings.send_incomplete)
        {
            return Err(Error::new(
                LnccmdStatus::DraftIncomplete,
                format!(
                    "not sent, the draft is kept: {first}; repeat that call successfully or start again with MAILPREP (SendIncomplete=true sends what the draft holds)"
                ),
            ));
        }
        if !draft.has_recipients() {
            return Err(Error::new(
                LnccmdStatus::NoRecipient,
                "the message has no recipient: give one in MAILPREP's PARM1 or with MAILTO, MAILCC or MAILBCC",
            ));
        }
        let envelopes = compose::envelopes(&self.settings, draft);
        compose::check_certificates(&self.settings, &envelopes)?;
        let out = compose::compose(&self.settings, draft, &envelopes[0])?;
        let opts = transport::Options { dsn: draft.dsn };
        record.message_id = out.message_id.clone();
        record.size = out.bytes.len();
        if let Some(dir) = dry {
            crate::dryrun::write(dir, &out)?;
            for rcpts in &envelopes[1..] {
                let draft = self.draft.as_mut().expect("the draft is kept until sent");
                crate::dryrun::write(dir, &compose::compose(&self.settings, draft, rcpts)?)?;
            }
            self.draft = None;
            self.journal = Journal::default();
            return Ok(());
        }
        let delivery = match self.send_with_retries(&out, &opts) {
            Ok(d) => d,
            Err(e) => {
                if e.status == LnccmdStatus::DeliveryUncertain {
                    self.journal.uncertain = Some(out.message_id.clone());
                }
                return Err(e);
            }
        };
        // The first copy went out: from here on the draft is never sent
        // again as a whole (that would give its recipients the message
        // twice). A Bcc copy that fails is reported with the refused
        // recipients, 501 (`send_separate_copies`).
        let mut refused = delivery.refused.clone();
        let mut rcpt_count = out.rcpts.len();
        let copies_failed = self.send_separate_copies(&envelopes[1..], &opts, &mut refused);
        rcpt_count += envelopes[1..].iter().map(Vec::len).sum::<usize>();
        self.draft = None;
        self.journal = Journal::default();
        self.last = Some(LastSend {
            message_id: out.message_id.clone(),
            queue_id: delivery.queue_id.clone(),
            tls: delivery.tls.clone(),
        });
        record.queue_id = delivery.queue_id.unwrap_or_default();
        record.tls = match &delivery.tls {
            Some(t) => t.protocol.clone(),
            None => "no".to_string(),
        };
        record.relay_certificate = delivery.tls.map(|t| t.subject).unwrap_or_default();
        record.reply = delivery.reply;
        if let Some(first) = incomplete {
            record
                .reply
                .push_str(&format!(" (SendIncomplete: sent although {first})"));
        }
        if delivery.dsn_not_offered {
            record
                .reply
                .push_str(" (no delivery report requested: the server does not offer DSN)");
        }
        let ep = &self.settings.endpoint;
        if ep.test_mode && ep.tls != crate::settings::TlsMode::None {
            record
                .reply
                .push_str(" (useTestMode: the server certificate was not verified)");
        }
        if refused.is_empty() {
            return Ok(());
        }
        let list = transport::describe_refused(&refused);
        Err(Error::new(
            LnccmdStatus::PartialDelivery,
            format!(
                "message {} sent, but {} of {} recipients {}: {list}",
                out.message_id,
                refused.len(),
                rcpt_count,
                if copies_failed {
                    "refused or not reached (a Bcc recipient's own copy failed: send that recipient a new message, not this one again)"
                } else {
                    "refused"
                }
            ),
        ))
    }

    /// The Bcc recipients' own encrypted copies (`compose::envelopes`),
    /// after the To/Cc copy was sent: each is composed and sent (with
    /// `Retries`) on its own; a copy that cannot be sent adds its recipient
    /// to `refused` with the reason, and the others still go. Returns
    /// whether one failed.
    fn send_separate_copies(
        &mut self,
        envelopes: &[Vec<lettre::Address>],
        opts: &transport::Options,
        refused: &mut Vec<(lettre::Address, String)>,
    ) -> bool {
        let mut failed = false;
        for rcpts in envelopes {
            let draft = self.draft.as_mut().expect("the draft is kept until sent");
            let sent = compose::compose(&self.settings, draft, rcpts)
                .and_then(|copy| self.send_with_retries(&copy, opts));
            match sent {
                Ok(d) => refused.extend(d.refused),
                Err(e) => {
                    failed = true;
                    let why = if e.status == LnccmdStatus::DeliveryUncertain {
                        format!(
                            "its own copy may have arrived, its answer never came (409): check before sending it again: {}",
                            e.detail
                        )
                    } else {
                        format!(
                            "its own copy was not sent ({}): {}",
                            e.status.code(),
                            e.detail
                        )
                    };
                    refused.extend(rcpts.iter().map(|a| (a.clone(), why.clone())));
                }
            }
        }
        failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session::open("Server=127.0.0.1;port=1;Sender=a@x.test;Timeout=1").unwrap()
    }

    #[test]
    fn commands_before_mailprep_are_sequence_errors() {
        let mut s = session();
        for c in [
            Command::MailTo,
            Command::MailCc,
            Command::MailBcc,
            Command::MailSubj,
            Command::MailText,
            Command::MailPrty,
            Command::MailSend,
        ] {
            let e = s.run(c, "x@x.test", "").unwrap_err();
            assert_eq!(e.status, LnccmdStatus::Sequence, "{c:?}");
            assert!(e.detail.contains("MAILPREP"), "{}", e.detail);
        }
    }

    #[test]
    fn mailsend_without_recipient() {
        let mut s = session();
        s.run(Command::MailPrep, "", "subject=x").unwrap();
        assert_eq!(
            s.run(Command::MailSend, "", "").unwrap_err().status,
            LnccmdStatus::NoRecipient
        );
    }

    #[test]
    fn mailprep_forms() {
        let mut s = session();
        let prep = |s: &mut Session, p2: &str| s.run(Command::MailPrep, "a@x.test", p2);
        prep(&mut s, "Just a subject; with semicolon").unwrap();
        let subject = |s: &Session| s.draft.as_ref().unwrap().subject.clone();
        assert_eq!(
            subject(&s).as_deref(),
            Some("Just a subject; with semicolon")
        );
        for cs in ["windows-1252", "UTF-7", "Unicode", "UTF-32", "ISO-8859-15"] {
            prep(&mut s, &format!("subject=x;charset={cs}")).unwrap();
        }
        prep(&mut s, "subject=\"test\";priority=5;charset=ASCII").unwrap();
        let d = s.draft.as_ref().unwrap();
        assert_eq!((d.priority, d.charset), (Some(5), BodyCharset::Ascii));
        let code = |s: &mut Session, p2: &str| prep(s, p2).unwrap_err().status;
        assert_eq!(code(&mut s, "colour=red"), LnccmdStatus::UnknownProperty);
        assert_eq!(code(&mut s, "charset=klingon"), LnccmdStatus::BadValue);
        assert_eq!(code(&mut s, "priority=9"), LnccmdStatus::BadValue);
        // A failed MAILPREP discards the previous draft: nothing that
        // follows may go into it.
        assert!(s.draft.is_none());
        let e = s.run(Command::MailText, "x", "").unwrap_err();
        assert_eq!(e.status, LnccmdStatus::Sequence);
        assert!(
            e.detail.contains("the last MAILPREP failed with 106"),
            "{}",
            e.detail
        );
    }

    fn failing_attachment(s: &mut Session, path: &str) -> Error {
        s.run(Command::MailLAtt, path, "").unwrap_err()
    }

    #[test]
    fn a_failed_content_call_stops_mailsend_with_114_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let logo = dir.path().join("logo.png");
        std::fs::write(&logo, b"png").unwrap();
        let missing = dir.path().join("invoice.pdf");
        let mut s = session();
        s.run(Command::MailPrep, "bob@x.test", "subject=Invoice")
            .unwrap();
        s.run(Command::MailLAtt, logo.to_str().unwrap(), "")
            .unwrap();
        failing_attachment(&mut s, missing.to_str().unwrap());
        // Another file attached does not stand for the missing one.
        s.run(Command::MailLAtt, logo.to_str().unwrap(), "name=b.png")
            .unwrap();
        let e = s.run(Command::MailSend, "", "").unwrap_err();
        assert_eq!(e.status, LnccmdStatus::DraftIncomplete);
        assert!(
            e.detail
                .starts_with("not sent, the draft is kept: MAILLATT #2 failed with 200: "),
            "{}",
            e.detail
        );
        assert!(s.draft.is_some(), "the draft is kept");
        // The same call repeated successfully (the file arrived) repairs it:
        // MAILSEND goes on to the (closed) server.
        std::fs::write(&missing, b"%PDF").unwrap();
        s.run(Command::MailLAtt, missing.to_str().unwrap(), "")
            .unwrap();
        let e = s.run(Command::MailSend, "", "").unwrap_err();
        assert_eq!(e.status, LnccmdStatus::Connect, "{}", e.detail);
    }

    #[test]
    fn replacing_commands_are_repaired_by_any_later_success_adding_ones_only_by_the_same_call() {
        let mut s = session();
        s.run(Command::MailPrep, "bob@x.test", "").unwrap();
        s.run(Command::MailSubj, "bad\nsubject", "").unwrap_err();
        s.run(Command::MailPrty, "9", "").unwrap_err();
        s.run(Command::MailSubj, "Payslip", "").unwrap();
        s.run(Command::MailPrty, "*HIGH", "").unwrap();
        assert!(s.journal.failures.is_empty(), "{:?}", s.journal.failures);
        s.run(Command::MailCc, "carol@", "").unwrap_err();
        s.run(Command::MailCc, "dave@x.test", "").unwrap();
        s.run(Command::MailReport, "later", "").unwrap_err();
        s.run(Command::MailReport, "", "").unwrap();
        let e = s.run(Command::MailSend, "", "").unwrap_err();
        assert_eq!(e.status, LnccmdStatus::DraftIncomplete);
        assert!(
            e.detail.contains("MAILCC #1 failed with 108"),
            "{}",
            e.detail
        );
        assert!(
            e.detail.contains("(and 1 more failed calls)"),
            "{}",
            e.detail
        );
        // MAILPREP starts clean.
        s.run(Command::MailPrep, "bob@x.test", "").unwrap();
        assert!(s.journal.failures.is_empty());
    }

    #[test]
    fn send_incomplete_sends_what_is_there() {
        let mut s =
            Session::open("Server=127.0.0.1;port=1;Sender=a@x.test;Timeout=1;SendIncomplete=true")
                .unwrap();
        s.run(Command::MailPrep, "bob@x.test", "").unwrap();
        failing_attachment(&mut s, "/no/such/invoice.pdf");
        let e = s.run(Command::MailSend, "", "").unwrap_err();
        assert_eq!(e.status, LnccmdStatus::Connect, "{}", e.detail);
    }

    #[test]
    fn a_draft_whose_send_was_uncertain_is_not_sent_again_without_resend() {
        let mut s = session();
        s.run(Command::MailPrep, "bob@x.test", "").unwrap();
        s.journal.uncertain = Some("<id@x.test>".into());
        let e = s.run(Command::MailSend, "", "").unwrap_err();
        assert_eq!(e.status, LnccmdStatus::DeliveryUncertain);
        assert!(
            e.detail.contains("<id@x.test>") && e.detail.contains("RESEND"),
            "{}",
            e.detail
        );
        // RESEND goes to the server (closed here).
        let e = s.run(Command::MailSend, " resend ", "").unwrap_err();
        assert_eq!(e.status, LnccmdStatus::Connect, "{}", e.detail);
        // A new MAILPREP is a new message.
        s.run(Command::MailPrep, "bob@x.test", "").unwrap();
        assert!(s.journal.uncertain.is_none());
    }

    #[test]
    fn bad_recipient_adds_nothing() {
        let mut s = session();
        s.run(Command::MailPrep, "", "").unwrap();
        let e = s.run(Command::MailTo, "ok@x.test; bad@", "").unwrap_err();
        assert_eq!(e.status, LnccmdStatus::BadAddress);
        assert!(!s.draft.as_ref().unwrap().has_recipients());
    }

    #[test]
    fn subject_injection_is_refused() {
        let mut s = session();
        s.run(Command::MailPrep, "", "").unwrap();
        assert_eq!(
            s.run(Command::MailSubj, "hi\r\nBcc: x@y.test", "")
                .unwrap_err()
                .status,
            LnccmdStatus::HeaderInjection
        );
        assert_eq!(
            s.run(Command::MailPrep, "", "subject=\"a\nb\"")
                .unwrap_err()
                .status,
            LnccmdStatus::HeaderInjection
        );
    }

    #[test]
    fn maillatt_checks_files_and_properties_now() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.pdf");
        let b = dir.path().join("b.png");
        std::fs::write(&a, b"%PDF").unwrap();
        std::fs::write(&b, b"png").unwrap();
        let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
        let mut s = session();
        let code = |s: &mut Session, p1: &str, p2: &str| {
            s.run(Command::MailLAtt, p1, p2).unwrap_err().status
        };
        assert_eq!(code(&mut s, a, ""), LnccmdStatus::Sequence);
        s.run(Command::MailPrep, "", "").unwrap();
        s.run(Command::MailLAtt, &format!("{a}; {b}"), "").unwrap();
        s.run(Command::MailLAtt, b, "name=\"Logo é.png\";cid=logo")
            .unwrap();
        let atts = &s.draft.as_ref().unwrap().attachments;
        assert_eq!(atts.len(), 3);
        assert_eq!(
            (atts[0].name.as_str(), atts[0].media_type.as_str()),
            ("a.pdf", "application/pdf")
        );
        assert_eq!(atts[1].media_type, "image/png");
        assert_eq!(
            (
                atts[2].name.as_str(),
                atts[2].cid.as_deref(),
                atts[2].inline
            ),
            ("Logo é.png", Some("logo"), true)
        );
        assert_eq!(code(&mut s, "/no/such.pdf", ""), LnccmdStatus::FileNotFound);
        assert_eq!(
            code(&mut s, dir.path().to_str().unwrap(), ""),
            LnccmdStatus::FileUnreadable
        );
        assert_eq!(code(&mut s, a, "nom=x"), LnccmdStatus::UnknownProperty);
        assert_eq!(code(&mut s, a, "type=pdf"), LnccmdStatus::BadValue);
        assert_eq!(code(&mut s, a, "cid=\"a b\""), LnccmdStatus::BadValue);
        assert_eq!(code(&mut s, a, "cid=logo"), LnccmdStatus::BadValue);
        assert_eq!(
            code(&mut s, a, "name=\"x\r\ny\""),
            LnccmdStatus::HeaderInjection
        );
        assert_eq!(
            code(&mut s, &format!("{a};{b}"), "name=x"),
            LnccmdStatus::BadValue
        );
        assert_eq!(code(&mut s, " ; ", ""), LnccmdStatus::BadValue);
        // None of the failed calls added anything.
        assert_eq!(s.draft.as_ref().unwrap().attachments.len(), 3);
    }

    #[test]
    fn every_listed_property_is_handled_in_any_case() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("logo.png");
        std::fs::write(&file, b"png").unwrap();
        let file = file.to_str().unwrap();
        let mut s = session();
        for name in PREP_PROPERTIES {
            let value = match *name {
                "subject" => "x",
                "priority" => "3",
                "charset" => "UTF-8",
                "report" => "true",
                _ => panic!("give MAILPREP property '{name}' a valid value in this test"),
            };
            for key in [name.to_string(), name.to_ascii_uppercase()] {
                s.run(Command::MailPrep, "", &format!("{key}={value}"))
                    .unwrap_or_else(|e| panic!("MAILPREP {key}: {}", e.detail));
            }
        }
        for name in ATTACH_PROPERTIES {
            let value = match *name {
                "name" => "shown.png",
                "type" => "image/png",
                "inline" => "true",
                "cid" => "logo",
                _ => panic!("give MAILLATT property '{name}' a valid value in this test"),
            };
            for key in [name.to_string(), name.to_ascii_uppercase()] {
                s.run(Command::MailPrep, "", "").unwrap();
                s.run(Command::MailLAtt, file, &format!("{key}={value}"))
                    .unwrap_or_else(|e| panic!("MAILLATT {key}: {}", e.detail));
            }
        }
    }

    #[test]
    fn mailbodyf_inline_or_file() {
        let mut s = session();
        s.run(Command::MailPrep, "", "").unwrap();
        s.run(Command::MailBodyF, "<p>hi</p>", "").unwrap();
        assert_eq!(s.draft.as_ref().unwrap().html.as_deref(), Some("<p>hi</p>"));
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("body.html");
        std::fs::write(&f, b"\xEF\xBB\xBF<p>caf\xC3\xA9</p>\r\n").unwrap();
        s.run(Command::MailBodyF, f.to_str().unwrap(), "").unwrap();
        assert_eq!(
            s.draft.as_ref().unwrap().html.as_deref(),
            Some("<p>café</p>\n")
        );
        std::fs::write(&f, b"<p>caf\xE9</p>").unwrap();
        let e = s
            .run(Command::MailBodyF, f.to_str().unwrap(), "")
            .unwrap_err();
        assert_eq!(e.status, LnccmdStatus::BadInputCharset);
        assert!(e.detail.contains("body.html"), "{}", e.detail);
        assert_eq!(
            s.run(Command::MailBodyF, "/no/such.html", "")
                .unwrap_err()
                .status,
            LnccmdStatus::FileNotFound
        );
        assert_eq!(
            s.run(Command::MailBodyF, "", "").unwrap_err().status,
            LnccmdStatus::BadValue
        );
    }

    #[test]
    fn mailreport_forms() {
        let mut s = session();
        s.run(Command::MailPrep, "", "").unwrap();
        assert_eq!(
            s.run(Command::MailReport, "later", "").unwrap_err().status,
            LnccmdStatus::BadValue
        );
        s.run(Command::MailReport, "read", "").unwrap();
        let d = s.draft.as_ref().unwrap();
        assert_eq!((d.dsn, d.read_receipt), (false, true));
        s.run(Command::MailReport, "", "").unwrap();
        let d = s.draft.as_ref().unwrap();
        assert_eq!((d.dsn, d.read_receipt), (true, true));
        s.run(Command::MailPrep, "", "report").unwrap();
        assert!(s.draft.as_ref().unwrap().dsn);
        s.run(Command::MailPrep, "", "subject=x;report=false")
            .unwrap();
        assert!(!s.draft.as_ref().unwrap().dsn);
    }
}
