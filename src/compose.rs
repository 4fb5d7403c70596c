//! Draft -> RFC 5322/MIME bytes, built with lettre's message builder (docs/contract.md §5).
//! No network; the envelope is made here too so Bcc never reaches a header.

use std::collections::HashSet;

use std::path::PathBuf;

use lettre::Address;
use lettre::message::header::{
    ContentDisposition, ContentId, ContentTransferEncoding, ContentType, Header, HeaderName,
    HeaderValue,
};
use lettre::message::{Body, Mailbox, Message, MultiPart, SinglePart};

use crate::charset::{BodyCharset, Transfer};
use crate::error::{Error, LnccmdStatus, Result};
use crate::header_protection::{self, Hp, LegacyDisplay, OBSCURED_SUBJECT};
use crate::settings::Settings;

/// A file given to MAILLATT, checked then; read at MAILSEND.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentSpec {
    pub path: PathBuf,
    /// Name shown to the recipient.
    pub name: String,
    /// `type/subtype`.
    pub media_type: String,
    /// Shown inside the message rather than as an attachment.
    pub inline: bool,
    /// Content-ID for `cid:` references from the HTML (implies inline).
    pub cid: Option<String>,
}

/// The message being prepared between MAILPREP and MAILSEND.
#[derive(Debug, Clone)]
pub struct Draft {
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub bcc: Vec<Mailbox>,
    /// Normalised addresses already in to/cc/bcc: a repeated address is sent once (docs/contract.md §3).
    seen: HashSet<String>,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    pub attachments: Vec<AttachmentSpec>,
    /// Sum of the attachments' sizes when they were given (MAILLATT's limit).
    pub attachment_bytes: u64,
    /// Set at the first MAILSEND attempt, kept for retries.
    pub message_id: Option<String>,
    /// Ask the server for delivery status notifications (MAILREPORT, `report`).
    pub dsn: bool,
    /// Ask the reader's client for a read receipt (MAILREPORT `read`/`both`).
    pub read_receipt: bool,
    /// 0..=5, `None` = normal (no priority headers).
    pub priority: Option<u8>,
    pub charset: BodyCharset,
    /// Headers of the program's own (MAILHDR), in their order: name as
    /// given, value as text (RFC 2047-encoded when not ASCII).
    pub headers: Vec<(String, String)>,
}

/// CRLF and CR become LF; lettre writes every LF as CRLF.
/// (lettre converts LF only: a bare CR would otherwise reach the wire.)
/// One pass into one buffer: a 100 MB text is copied once.
pub fn normalize_newlines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(cr) = rest.find('\r') {
        out.push_str(&rest[..cr]);
        out.push('\n');
        rest = &rest[cr + 1..];
        rest = rest.strip_prefix('\n').unwrap_or(rest);
    }
    out.push_str(rest);
    out
}

/// Which recipient list an address goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecipientKind {
    To,
    Cc,
    Bcc,
}

/// Local part as written, domain case-folded (RFC 5321: only the domain is case-insensitive).
fn recipient_key(a: &Address) -> String {
    format!("{}@{}", a.user(), a.domain().to_ascii_lowercase())
}

impl Draft {
    pub fn new(charset: BodyCharset) -> Self {
        Draft {
            to: Vec::new(),
            cc: Vec::new(),
            bcc: Vec::new(),
            seen: HashSet::new(),
            subject: None,
            text: None,
            html: None,
            attachments: Vec::new(),
            attachment_bytes: 0,
            message_id: None,
            dsn: false,
            read_receipt: false,
            priority: None,
            charset,
            headers: Vec::new(),
        }
    }

    /// Adds recipients; an address already present in any list is skipped.
    pub fn add_recipients(&mut self, kind: RecipientKind, list: Vec<Mailbox>) {
        for mb in list {
            if self.seen.insert(recipient_key(&mb.email)) {
                match kind {
                    RecipientKind::To => self.to.push(mb),
                    RecipientKind::Cc => self.cc.push(mb),
                    RecipientKind::Bcc => self.bcc.push(mb),
                }
            }
        }
    }

    pub fn has_recipients(&self) -> bool {
        !self.seen.is_empty()
    }

    /// Appends to the text body; each call after the first starts a new line (docs/contract.md §4.5).
    /// Line ends (CRLF, CR, LF) are stored as LF.
    pub fn append_text(&mut self, text: &str) {
        let text = normalize_newlines(text);
        match &mut self.text {
            Some(t) => {
                t.push('\n');
                t.push_str(&text);
            }
            None => self.text = Some(text),
        }
    }
}

/// A message ready for the wire.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub bytes: Vec<u8>,
    pub from: Address,
    /// Envelope recipients, To then Cc then Bcc, each once.
    pub rcpts: Vec<Address>,
    pub message_id: String,
}

/// Priority headers of docs/contract.md §4.8 for a level 0..=5.
fn priority_headers(level: u8) -> &'static [(&'static str, &'static str)] {
    match level {
        5 => &[
            ("X-Priority", "1 (Highest)"),
            ("Importance", "high"),
            ("Priority", "urgent"),
        ],
        4 => &[
            ("X-Priority", "2 (High)"),
            ("Importance", "high"),
            ("Priority", "urgent"),
        ],
        1 => &[
            ("X-Priority", "4 (Low)"),
            ("Importance", "low"),
            ("Priority", "non-urgent"),
        ],
        0 => &[
            ("X-Priority", "5 (Lowest)"),
            ("Importance", "low"),
            ("Priority", "non-urgent"),
        ],
        _ => &[],
    }
}

/// Parses a priority: `0`..`5`, or `*LOW`, `*NORMAL`, `*HIGH` with or without `*` (docs/contract.md §4.8).
/// `*HIGH` is the highest level (5), `*LOW` the lowest (0), as Outlook's High/Low importance.
pub fn parse_priority(v: &str) -> Result<u8> {
    let word = v.trim().trim_start_matches('*').to_ascii_uppercase();
    match word.as_str() {
        "0" | "1" | "2" | "3" | "4" | "5" => Ok(word.as_bytes()[0] - b'0'),
        "LOW" => Ok(0),
        "NORMAL" => Ok(3),
        "HIGH" => Ok(5),
        _ => Err(Error::new(
            LnccmdStatus::BadValue,
            format!(
                "priority must be 0..5 or *LOW, *NORMAL, *HIGH, not '{}'",
                crate::props::printable(v)
            ),
        )),
    }
}

/// A Message-ID unique across processes and machines: 128 bits that no
/// other message gets, `@` the sender's domain.
///
/// The bits are a keyed hash (SipHash, two keys of 64 bits from the
/// operating system's random source, drawn once per process) of the
/// process id and a per-process counter: unpredictable without the keys,
/// distinct for every message of a process, and distinct after `fork()`
/// (the pid differs). It replaced 128 bits from OpenSSL's RAND_bytes per
/// message, whose locking cost 9% of the instructions of a 2 KB send
/// (callgrind, BENCHMARKS.md).
fn new_message_id(sender: &Address) -> String {
    use std::hash::BuildHasher;
    use std::sync::atomic::{AtomicU64, Ordering};
    static KEYS: once_cell::sync::Lazy<std::collections::hash_map::RandomState> =
        once_cell::sync::Lazy::new(std::collections::hash_map::RandomState::new);
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    let (hi, lo) = (KEYS.hash_one((pid, n, 0u8)), KEYS.hash_one((pid, n, 1u8)));
    format!("<{hi:016x}{lo:016x}@{}>", message_id_right(sender.domain()))
}

/// The part of the Message-ID after `@`: the sender's domain as RFC 5322
/// §3.6.4 allows it there, ASCII and with no encoded-word (lettre encodes a
/// non-ASCII header value as `=?utf-8?b?...?=`, which is no msg-id).
///
/// - a domain name: its ASCII form (A-labels, `bücher.example` gives
///   `xn--bcher-kva.example`), which must be dot-atom-text;
/// - an address literal (`[192.0.2.1]`, `[IPv6:2001:db8::1]`): kept, it is
///   a no-fold-literal;
/// - anything else (unreachable for an address MAILSMTP accepted):
///   `lnccmd.invalid`, a name that can never be anyone's (RFC 2606). The
///   128 random bits make the ID unique; the domain only says where it was
///   made.
fn message_id_right(domain: &str) -> String {
    const FALLBACK: &str = "lnccmd.invalid";
    if let Some(inner) = domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) {
        // dtext: printable ASCII but "[", "]" and "\".
        let dtext = |c: char| matches!(c, '!'..='Z' | '^'..='~');
        return if inner.chars().all(dtext) {
            domain.to_string()
        } else {
            FALLBACK.to_string()
        };
    }
    let ascii = if domain.is_ascii() {
        domain.to_string()
    } else {
        match idna::domain_to_ascii(domain) {
            Ok(a) => a,
            Err(_) => return FALLBACK.to_string(),
        }
    };
    // dot-atom-text: atoms of atext separated by single dots.
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    if ascii
        .split('.')
        .all(|a| !a.is_empty() && a.chars().all(atext))
    {
        ascii
    } else {
        FALLBACK.to_string()
    }
}

/// Local broken-down time now.
fn local_now() -> libc::tm {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as libc::time_t)
        .unwrap_or(0);
    let mut tm = zeroed_tm();
    crate::ffi::localtime(now, &mut tm);
    tm
}

/// Offset from UTC in minutes, as `(sign, hours, minutes)`.
fn utc_offset(tm: &libc::tm) -> (char, i64, i64) {
    let off = tm.tm_gmtoff / 60;
    let sign = if off < 0 { '-' } else { '+' };
    (sign, off.abs() / 60, off.abs() % 60)
}

/// ISO 8601 local time with offset, e.g. `2026-11-29T22:21:16+01:00` (the log).
pub fn iso8601_now() -> String {
    let tm = local_now();
    let (sign, oh, om) = utc_offset(&tm);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{sign}{oh:02}:{om:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

/// RFC 5322 date with the local UTC offset, e.g. `Sun, 29 Nov 2026 22:21:16 +0100`.
/// lettre only writes UTC; docs/contract.md §5 asks for local time, as mail clients show.
pub fn rfc5322_date_now() -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let tm = local_now();
    let (sign, oh, om) = utc_offset(&tm);
    format!(
        "{}, {} {} {} {:02}:{:02}:{:02} {sign}{oh:02}{om:02}",
        DAYS[tm.tm_wday.rem_euclid(7) as usize],
        tm.tm_mday,
        MONTHS[tm.tm_mon.rem_euclid(12) as usize],
        tm.tm_year + 1900,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
    )
}

fn zeroed_tm() -> libc::tm {
    libc::tm {
        tm_sec: 0,
        tm_min: 0,
        tm_hour: 0,
        tm_mday: 0,
        tm_mon: 0,
        tm_year: 0,
        tm_wday: 0,
        tm_yday: 0,
        tm_isdst: 0,
        tm_gmtoff: 0,
        tm_zone: std::ptr::null(),
    }
}

fn header(name: &'static str, value: &str) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value.to_string())
}

/// A MIME entity: lettre has two types for it.
enum Part {
    Single(SinglePart),
    Multi(MultiPart),
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::new(
        LnccmdStatus::Internal,
        format!("cannot build the message: {e}"),
    )
}

/// A multipart of `kind` holding `parts` in order.
fn multipart(kind: lettre::message::MultiPartBuilder, parts: Vec<Part>) -> Part {
    let mut parts = parts.into_iter();
    let mut mp = match parts.next() {
        Some(Part::Single(p)) => kind.singlepart(p),
        Some(Part::Multi(p)) => kind.multipart(p),
        None => kind.build(),
    };
    for p in parts {
        mp = match p {
            Part::Single(p) => mp.singlepart(p),
            Part::Multi(p) => mp.multipart(p),
        };
    }
    Part::Multi(mp)
}

/// A text/plain or text/html part in the draft's charset.
/// `protect`: the part will be signed or encrypted, so it goes
/// quoted-printable even when 7bit would do: no relay may then change a
/// byte of it (trailing blanks, "From " lines), which would break the
/// signature (RFC 8551 §3.1.2).
/// Whether `text` has a control character (Unicode Cc: C0, DEL, C1) other
/// than tab, line ends and form feed. Bytes first: C0 and DEL are single
/// bytes, and a C1 character's UTF-8 form starts with 0xC2.
fn has_controls(text: &str) -> bool {
    let b = text.as_bytes();
    b.iter()
        .any(|&c| (c < 0x20 && !matches!(c, b'\t' | b'\n' | b'\r' | 0x0c)) || c == 0x7f)
        || (b.contains(&0xc2) && text.chars().any(|c| ('\u{80}'..='\u{9f}').contains(&c)))
}

/// `params`: more Content-Type parameters (`; name="value"`).
fn text_part(
    subtype: &str,
    text: &str,
    charset: BodyCharset,
    protect: bool,
    params: &str,
) -> Result<SinglePart> {
    let ct = ContentType::parse(&format!(
        "text/{subtype}; charset={}{params}",
        charset.mime_name()
    ))
    .map_err(internal)?;
    let builder = SinglePart::builder().header(ct);
    let (bytes, transfer) = charset.encode(text);
    // A signed or encrypted part's quoted-printable never has a line that
    // starts with `From ` (below).
    let qp = |body: Body| {
        if protect {
            escape_from_lines(body)
        } else {
            body
        }
    };
    Ok(match transfer {
        // NUL and other control characters may not travel as 7bit text
        // (RFC 5322 §2.3); quoted-printable carries them as =00...
        Transfer::Text if protect || has_controls(text) => {
            builder.body(qp(Body::new_with_encoding(
                String::from_utf8(bytes).map_err(internal)?,
                ContentTransferEncoding::QuotedPrintable,
            )
            .map_err(|_| internal("quoted-printable"))?))
        }
        // 7-bit text (UTF-8 is QP-encoded by lettre): lettre turns LF into
        // CRLF and picks 7bit or quoted-printable so no line exceeds 998 octets.
        Transfer::Text => builder.body(String::from_utf8(bytes).map_err(internal)?),
        Transfer::QuotedPrintable => builder.body(qp(Body::new_with_encoding(
            bytes,
            ContentTransferEncoding::QuotedPrintable,
        )
        .map_err(|_| internal("quoted-printable"))?)),
        Transfer::Base64 => builder.body(
            Body::new_with_encoding(bytes, ContentTransferEncoding::Base64)
                .map_err(|_| internal("base64"))?,
        ),
    })
}

/// Quoted-printable lines that start with `From ` get their `F` as `=46`
/// (RFC 3156 §3, RFC 2045 §6.7 rule 1 allows encoding any octet): an mbox
/// delivery turns such a line into `>From `, which breaks a signature
/// (NeoMutt reported a verification failure from an mbox, issue #15 item
/// 6). The quoted_printable crate lettre uses has no option for it. A line
/// that would then be longer than 76 characters is split after the `=46rom`
/// with a soft line break.
fn escape_from_lines(body: Body) -> Body {
    let encoded = body.into_vec();
    if !encoded.starts_with(b"From ") && !encoded.windows(7).any(|w| w == b"\r\nFrom ") {
        return Body::dangerous_pre_encoded(encoded, ContentTransferEncoding::QuotedPrintable);
    }
    let mut out = Vec::with_capacity(encoded.len() + 64);
    for line in encoded.split_inclusive(|&b| b == b'\n') {
        let Some(rest) = line.strip_prefix(b"From ") else {
            out.extend_from_slice(line);
            continue;
        };
        let text_len = line.len() - if line.ends_with(b"\r\n") { 2 } else { 0 };
        out.extend_from_slice(b"=46rom");
        if text_len + 2 > 76 {
            out.extend_from_slice(b"=\r\n");
        }
        out.push(b' ');
        out.extend_from_slice(rest);
    }
    Body::dangerous_pre_encoded(out, ContentTransferEncoding::QuotedPrintable)
}

/// `Content-Type` with a `name=` parameter, which Outlook-era clients show
/// when they ignore RFC 2231 on Content-Disposition: RFC 2047 encoded-words
/// inside the quotes when the name is not plain ASCII.
#[derive(Debug, Clone)]
struct ContentTypeWithName(String);

impl Header for ContentTypeWithName {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Content-Type")
    }

    fn parse(s: &str) -> std::result::Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ContentTypeWithName(s.to_string()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::dangerous_new_pre_encoded(Self::name(), self.0.clone(), self.0.clone())
    }
}

/// `name="..."` for Content-Type, `col` characters into its line: quoted
/// ASCII, or crate::encoded_words::parameter_text (RFC 2047 words for the
/// words that need them, folded between words).
fn name_parameter(name: &str, col: usize) -> String {
    let plain = name.len() <= 60
        && name
            .chars()
            .all(|c| c.is_ascii() && !c.is_ascii_control() && c != '"' && c != '\\');
    if plain {
        return format!("name=\"{name}\"");
    }
    let value = crate::encoded_words::parameter_text(col + "name=\"".len(), name);
    format!("name=\"{value}\"")
}

/// One attachment, always base64 (an ASCII-looking binary must not go 7bit).
fn attachment_part(a: &AttachmentSpec) -> Result<SinglePart> {
    let bytes = crate::files::read("attachment", &a.path)?;
    let disposition = if a.inline || a.cid.is_some() {
        ContentDisposition::inline_with_name(&a.name)
    } else {
        ContentDisposition::attachment(&a.name)
    };
    let mut builder = SinglePart::builder()
        .header(ContentTypeWithName(format!(
            "{}; {}",
            a.media_type,
            name_parameter(&a.name, "Content-Type: ".len() + a.media_type.len() + 2)
        )))
        .header(disposition)
        .header(ContentTransferEncoding::Base64);
    if let Some(cid) = &a.cid {
        builder = builder.header(ContentId::from(format!("<{cid}>")));
    }
    Ok(builder.body(bytes))
}

/// `multipart/related` with `type="text/html"`, the type of its root part,
/// which RFC 2387 §3.1 requires (lettre writes no `type`). The boundary is
/// the random one lettre made.
fn related_html() -> Result<lettre::message::MultiPartBuilder> {
    let boundary = MultiPart::related().build().boundary();
    let ct = ContentType::parse(&format!(
        "multipart/related; boundary=\"{boundary}\"; type=\"text/html\""
    ))
    .map_err(internal)?;
    Ok(MultiPart::builder().header(ct))
}

/// The body structure of docs/contract.md §5: text, HTML, or both as alternative; images
/// with a Content-ID go with the HTML in multipart/related (inside the
/// alternative, where Outlook, Thunderbird and Apple Mail all show them);
/// every other file in multipart/mixed around it all.
///
/// `legacy`: the main body parts (text, HTML) start with RFC 9788's legacy
/// display element and are marked as carrying it.
fn body(draft: &Draft, protect: bool, legacy: Option<&LegacyDisplay>) -> Result<Part> {
    let main = |subtype: &str, t: &str| match legacy {
        Some(l) => {
            let shown = if subtype == "html" {
                l.html(t)
            } else {
                l.text(t)
            };
            text_part(
                subtype,
                &shown,
                draft.charset,
                protect,
                LegacyDisplay::PARAMETER,
            )
        }
        None => text_part(subtype, t, draft.charset, protect, ""),
    };
    let text = draft
        .text
        .as_deref()
        .map(|t| main("plain", t))
        .transpose()?;
    let html = match &draft.html {
        Some(h) => Some(Part::Single(main("html", h)?)),
        None => None,
    };
    let mut mixed = Vec::new();
    let mut related = Vec::new();
    for a in &draft.attachments {
        let part = Part::Single(attachment_part(a)?);
        if a.cid.is_some() && html.is_some() {
            related.push(part);
        } else {
            mixed.push(part);
        }
    }
    // Without an HTML body, images with a Content-ID went to `mixed` above.
    let html = match html {
        Some(h) if !related.is_empty() => {
            related.insert(0, h);
            Some(multipart(related_html()?, related))
        }
        other => other,
    };
    let content = match (text, html) {
        (Some(t), Some(h)) => Some(multipart(
            MultiPart::alternative(),
            vec![Part::Single(t), h],
        )),
        (Some(t), None) => Some(Part::Single(t)),
        (None, Some(h)) => Some(h),
        (None, None) if mixed.is_empty() => Some(Part::Single(main("plain", "")?)),
        (None, None) => None,
    };
    if mixed.is_empty() {
        return Ok(content.expect("a body part exists when there is no attachment"));
    }
    if let Some(c) = content {
        mixed.insert(0, c);
    }
    Ok(multipart(MultiPart::mixed(), mixed))
}

/// The envelopes MAILSEND sends `draft` in, each a transaction of its own:
/// one for every recipient, except when the message is encrypted to the
/// recipients' certificates (`Encrypt` with `RecipientCerts`) and has Bcc
/// recipients. Then To and Cc get one copy (if there are any) and each Bcc
/// recipient a copy of its own, encrypted to the sender and that recipient
/// only: a RecipientInfo names its certificate, so a Bcc recipient in the
/// one message every recipient gets would be visible to all of them
/// (issue #15 item 5). The first envelope is the To/Cc one.
pub fn envelopes(settings: &Settings, draft: &Draft) -> Vec<Vec<Address>> {
    let email = |m: &Mailbox| m.email.clone();
    let visible: Vec<Address> = draft.to.iter().chain(&draft.cc).map(email).collect();
    let sm = &settings.smime;
    if !(sm.encrypt && sm.recipients.is_some()) || draft.bcc.is_empty() {
        let mut all = visible;
        all.extend(draft.bcc.iter().map(email));
        return vec![all];
    }
    let mut out = Vec::with_capacity(draft.bcc.len() + 1);
    if !visible.is_empty() {
        out.push(visible);
    }
    out.extend(draft.bcc.iter().map(|m| vec![email(m)]));
    out
}

/// Every recipient of every envelope has a certificate to encrypt to (when
/// encrypting to recipients): checked before the first copy goes out, so
/// that a missing certificate (304) never leaves some copies sent.
pub fn check_certificates(settings: &Settings, envelopes: &[Vec<Address>]) -> Result<()> {
    let sm = &settings.smime;
    if let (true, Some(pool)) = (sm.encrypt, &sm.recipients) {
        for r in envelopes.iter().flatten() {
            crate::smime::recipient_cert(pool, r.as_ref())?;
        }
    }
    Ok(())
}

/// Builds the message of `draft` as sent by `settings.sender` (docs/contract.md §5)
/// to the envelope `rcpts` (one of `envelopes`): encrypted, it is
/// encrypted to the sender and those recipients.
///
/// The Message-ID is made at the first attempt and kept in the draft: a
/// MAILSEND retried after a lost reply carries the same ID, so the receiving
/// side can recognise a duplicate. Every copy of a message has the same.
pub fn compose(settings: &Settings, draft: &mut Draft, rcpts: &[Address]) -> Result<Outgoing> {
    let message_id = match &draft.message_id {
        Some(id) => id.clone(),
        None => draft
            .message_id
            .insert(new_message_id(&settings.sender.email))
            .clone(),
    };
    let draft = &*draft;
    let date = rfc5322_date_now();
    let rcpts = rcpts.to_vec();
    let sm = &settings.smime;
    let hp = sm.active() && sm.rfc9788;
    let reply = settings.reply.as_ref().map(|r| r.to_string());
    let legacy =
        (hp && sm.encrypt).then(|| LegacyDisplay::new(draft.subject.as_deref(), reply.as_deref()));
    let mut entity = body(draft, sm.active(), legacy.as_ref())?;
    let mut encrypted_body = None;
    let (outer_subject, outer_all) = if hp {
        // RFC 9788: the header fields go on the payload's root part; an
        // encrypted message shows only what transport needs outside.
        let hidden = sm.encrypt;
        let subject = if hidden {
            Some(sm.wrapper_subject.as_deref().unwrap_or(OBSCURED_SUBJECT))
        } else {
            draft.subject.as_deref()
        };
        // The outer header block as the message will have it (same
        // builder, Date and Message-ID), for the HP-Outer records.
        let outer = headers(settings, draft, &message_id, subject, !hidden);
        let probe = Part::Single(SinglePart::plain(String::new()));
        let outer = fold_header_lines(finish(outer, probe, &date, &rcpts, settings)?.formatted());
        let multi = matches!(entity, Part::Multi(_));
        let inner = headers(settings, draft, &message_id, draft.subject.as_deref(), true);
        let inner = fold_header_lines(finish(inner, entity, &date, &rcpts, settings)?.formatted());
        let kind = if hidden { Hp::Cipher } else { Hp::Clear };
        let mut payload = header_protection::payload(&inner, kind, &outer);
        drop(inner);
        // As `entity_bytes`: a single part's last CRLF is the next delimiter's.
        if !multi && payload.ends_with(b"\r\n") {
            payload.truncate(payload.len() - 2);
        }
        (entity, encrypted_body) = protect_payload(settings, payload, &rcpts)?;
        (subject, !hidden)
    } else if sm.active() {
        if sm.secure_headers {
            // The whole message, headers included, is what is protected.
            let inner = headers(settings, draft, &message_id, draft.subject.as_deref(), true);
            let inner =
                fold_header_lines(finish(inner, entity, &date, &rcpts, settings)?.formatted());
            entity = Part::Single(
                SinglePart::builder()
                    .header(ContentType::parse("message/rfc822").map_err(internal)?)
                    .body(Body::dangerous_pre_encoded(
                        inner,
                        ContentTransferEncoding::SevenBit,
                    )),
            );
        }
        (entity, encrypted_body) = protect(settings, entity, &rcpts)?;
        if sm.secure_headers {
            (sm.wrapper_subject.as_deref(), false)
        } else {
            (draft.subject.as_deref(), true)
        }
    } else {
        (draft.subject.as_deref(), true)
    };
    let outer = headers(settings, draft, &message_id, outer_subject, outer_all);
    let mut bytes = fold_header_lines(finish(outer, entity, &date, &rcpts, settings)?.formatted());
    if let Some(mut body) = encrypted_body {
        // The message ends with a line break, as every other message does:
        // what is sent, stored and dry-run written is these bytes exactly
        // (issue #15 item 7: without it `opendkim -t` found no signature).
        body.extend_from_slice(b"\r\n");
        // The part was formatted with an empty body, whose line end is not
        // wanted before the real one.
        if bytes.ends_with(b"\r\n\r\n\r\n") {
            bytes.truncate(bytes.len() - 2);
        }
        // Headers in front of the body, in the body's buffer: realloc grows
        // it in place (mremap) rather than copying the whole message.
        body.splice(0..0, bytes);
        bytes = body;
    }
    // DKIM last: it signs the message exactly as it goes out, after S/MIME.
    if let Some(dkim) = &settings.dkim {
        bytes = dkim.sign(bytes)?;
    }
    Ok(Outgoing {
        bytes,
        from: settings
            .return_path
            .as_ref()
            .unwrap_or(&settings.sender)
            .email
            .clone(),
        rcpts,
        message_id,
    })
}

/// Longest header line (RFC 5322 §2.1.1). The headers lnccmd writes are
/// folded by crate::encoded_words, at most 900 octets a line; this is the
/// backstop for any other (lettre's), which it folds at a blank.
const FOLD_AT: usize = 998;

/// Folds header lines over `FOLD_AT` octets at a blank.
/// Messages without such a line are returned untouched.
fn fold_header_lines(msg: Vec<u8>) -> Vec<u8> {
    let head_end = msg
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(msg.len(), |i| i + 2);
    if !msg[..head_end]
        .split(|&b| b == b'\n')
        .any(|l| l.len() > FOLD_AT)
    {
        return msg;
    }
    let mut out = Vec::with_capacity(msg.len() + head_end / 40);
    for line in msg[..head_end].split_inclusive(|&b| b == b'\n') {
        let mut rest = line;
        while rest.len() > FOLD_AT + 2 {
            // The last blank in the window, not at the very start.
            match rest[1..FOLD_AT]
                .iter()
                .rposition(|&b| b == b' ')
                .map(|i| i + 1)
            {
                Some(cut) => {
                    out.extend_from_slice(&rest[..cut]);
                    out.extend_from_slice(b"\r\n");
                    rest = &rest[cut..];
                }
                None => break,
            }
        }
        out.extend_from_slice(rest);
    }
    out.extend_from_slice(&msg[head_end..]);
    out
}

/// The message headers. `all` false: only what transport needs (docs/contract.md §6.3:
/// From, To, Cc, Date, Message-ID, MIME-Version, Subject = WrapperSubject).
fn headers(
    settings: &Settings,
    draft: &Draft,
    message_id: &str,
    subject: Option<&str>,
    all: bool,
) -> lettre::message::MessageBuilder {
    // From, To, Cc, Subject and Reply-To are written by
    // crate::encoded_words (why: that module's header); lettre's From is set
    // first because its builder requires one, then replaced.
    let mut b = Message::builder()
        .from(settings.sender.clone())
        .raw_header(address_header("From", [&settings.sender]))
        .message_id(Some(message_id.to_string()));
    // One header of all the addresses: lettre's `to()` re-parses the whole
    // header to add each one (quadratic: 2 s for 3,000 recipients).
    if !draft.to.is_empty() {
        b = b.raw_header(address_header("To", &draft.to));
    }
    if !draft.cc.is_empty() {
        b = b.raw_header(address_header("Cc", &draft.cc));
    }
    if let Some(s) = subject {
        b = b.raw_header(text_header(
            HeaderName::new_from_ascii_str("Subject"),
            s,
            false,
        ));
    }
    if !all {
        return program_headers(b, draft, outside_protection);
    }
    if let Some(r) = &settings.reply {
        b = b.raw_header(address_header("Reply-To", [r]));
    }
    if draft.read_receipt {
        // RFC 8098: receipts go to the sender.
        let to = format!("<{}>", settings.sender.email);
        b = b.raw_header(header("Disposition-Notification-To", &to));
    }
    if let Some(level) = draft.priority {
        for (name, value) in priority_headers(level) {
            b = b.raw_header(header(name, value));
        }
    }
    program_headers(b, draft, |_| true)
}

/// An address list header, encoded and folded by crate::encoded_words.
/// The raw value (what lettre would parse back) is the first address alone:
/// lettre only reads it back for From, to check there is one.
fn address_header<'a>(
    name: &'static str,
    list: impl IntoIterator<Item = &'a Mailbox>,
) -> HeaderValue {
    let list: Vec<&Mailbox> = list.into_iter().collect();
    let raw = list
        .first()
        .map(|m| m.email.to_string())
        .unwrap_or_default();
    let encoded = crate::encoded_words::mailboxes(name.len(), list);
    HeaderValue::dangerous_new_pre_encoded(HeaderName::new_from_ascii_str(name), raw, encoded)
}

/// An unstructured header (Subject, MAILHDR's), encoded and folded by
/// crate::encoded_words; `ascii_as_is` for MAILHDR (see there).
fn text_header(name: HeaderName, value: &str, ascii_as_is: bool) -> HeaderValue {
    let encoded = crate::encoded_words::unstructured(name.len(), value, ascii_as_is);
    HeaderValue::dangerous_new_pre_encoded(name, value.to_string(), encoded)
}

/// The headers that MAILHDR may not set: the library writes them from its
/// own commands and properties, or they belong to the transport.
pub fn owned_header(name: &str) -> Option<&'static str> {
    let n = name.to_ascii_lowercase();
    let owner = match n.as_str() {
        "from" | "sender" => "MAILSMTP's Sender",
        "reply-to" => "MAILSMTP's reply",
        "to" => "MAILPREP or MAILTO",
        "cc" => "MAILCC",
        "bcc" => "MAILBCC (Bcc is never sent as a header)",
        "subject" => "MAILPREP's subject or MAILSUBJ",
        "date" | "message-id" | "mime-version" => "lnccmd itself",
        "x-priority" | "x-msmail-priority" | "importance" | "priority" => "MAILPRTY",
        "disposition-notification-to" => "MAILREPORT 'read'",
        "return-path" | "received" | "dkim-signature" => "the servers on the way",
        _ if n.starts_with("content-") => "lnccmd's MIME structure",
        _ if n.starts_with("resent-") => "a resending agent",
        _ => return None,
    };
    Some(owner)
}

/// MAILHDR's headers that stay on the outside of a message whose headers
/// are protected (SecureHeaders): the ones mail clients and list managers
/// read before decrypting (RFC 8058 unsubscribe, threading, RFC 3834).
/// Other headers of the program's own (X-...) may hold what is
/// confidential: they are only inside.
fn outside_protection(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.starts_with("list-") || matches!(n.as_str(), "in-reply-to" | "references" | "auto-submitted")
}

fn program_headers(
    mut b: lettre::message::MessageBuilder,
    draft: &Draft,
    keep: impl Fn(&str) -> bool,
) -> lettre::message::MessageBuilder {
    for (name, value) in draft.headers.iter().filter(|(n, _)| keep(n)) {
        let name = HeaderName::new_from_ascii(name.clone()).expect("MAILHDR checked the name");
        b = b.raw_header(text_header(name, value, true));
    }
    b
}

/// Headers + body = a message, with the envelope (Bcc stays out of the
/// headers) and the local-time Date.
fn finish(
    b: lettre::message::MessageBuilder,
    entity: Part,
    date: &str,
    rcpts: &[Address],
    settings: &Settings,
) -> Result<Message> {
    let envelope =
        lettre::address::Envelope::new(Some(settings.sender.email.clone()), rcpts.to_vec())
            .map_err(|e| {
                Error::new(
                    LnccmdStatus::NoRecipient,
                    format!("cannot build the envelope: {e}"),
                )
            })?;
    let mut msg = match entity {
        Part::Single(p) => b.envelope(envelope).singlepart(p),
        Part::Multi(p) => b.envelope(envelope).multipart(p),
    }
    .map_err(internal)?;
    msg.headers_mut().insert_raw(header("Date", date));
    Ok(msg)
}

/// The bytes a signature or an encryption covers: the entity as it will
/// stand in the message, without the CRLF that belongs to the next
/// boundary. A multipart entity ends with its close-delimiter and a CRLF
/// (vendor/README.md, patch 20: lettre writes one more CRLF after a nested
/// multipart, which is the next delimiter's).
fn entity_bytes(entity: &Part) -> Vec<u8> {
    match entity {
        Part::Single(p) => {
            let mut bytes = p.formatted();
            if bytes.ends_with(b"\r\n") {
                bytes.truncate(bytes.len() - 2);
            }
            bytes
        }
        Part::Multi(p) => p.formatted(),
    }
}

/// The sender's key and certificate, loaded at MAILSMTP with Sign or Encrypt.
fn identity(sm: &crate::settings::Smime) -> Result<&crate::smime::Identity> {
    sm.identity
        .as_ref()
        .ok_or_else(|| internal("no S/MIME identity"))
}

/// Sign (multipart/signed, detached) then encrypt (application/pkcs7-mime),
/// as configured (docs/contract.md §6.1, §6.2).
///
/// Returns the entity, and for an encrypted one its base64 body apart (the
/// entity then has an empty body).
fn protect(
    settings: &Settings,
    mut entity: Part,
    rcpts: &[Address],
) -> Result<(Part, Option<Vec<u8>>)> {
    let sm = &settings.smime;
    let id = identity(sm)?;
    if sm.sign {
        let sig = signature_part(id, &entity_bytes(&entity))?;
        entity = multipart(
            MultiPart::signed("application/pkcs7-signature".into(), "sha-256".into()),
            vec![entity, Part::Single(sig)],
        );
    }
    if sm.encrypt {
        // The clear entity is not needed once its bytes are taken: dropped
        // before encrypting, as the bytes are inside encrypt (peak memory).
        let content = entity_bytes(&entity);
        drop(entity);
        return encrypted_part(settings, id, content, rcpts);
    }
    Ok((entity, None))
}

/// The `smime.p7s` part: a detached signature over `content`.
fn signature_part(id: &crate::smime::Identity, content: &[u8]) -> Result<SinglePart> {
    let der = crate::smime::sign(id, content)?;
    Ok(SinglePart::builder()
        .header(
            ContentType::parse("application/pkcs7-signature; name=\"smime.p7s\"")
                .map_err(internal)?,
        )
        .header(ContentDisposition::attachment("smime.p7s"))
        .header(ContentTransferEncoding::Base64)
        .body(der))
}

/// The application/pkcs7-mime part of `content` encrypted to the sender
/// and, with RecipientCerts, to every one of `rcpts`; its base64 body is
/// returned apart (the part has an empty one).
fn encrypted_part(
    settings: &Settings,
    id: &crate::smime::Identity,
    content: Vec<u8>,
    rcpts: &[Address],
) -> Result<(Part, Option<Vec<u8>>)> {
    let sm = &settings.smime;
    // The sender can always read what it sent (the vendor's behaviour);
    // with RecipientCerts, every recipient too, or nothing is sent.
    let mut certs = vec![id.cert.clone()];
    if let Some(pool) = &sm.recipients {
        for r in rcpts {
            certs.push(crate::smime::recipient_cert(pool, r.as_ref())?.clone());
        }
    }
    let algo = sm.algo.for_recipients(&certs);
    let encoded = crate::smime::encrypt_base64(&certs, content, algo)?;
    let ct = format!(
        "application/pkcs7-mime; smime-type={}; name=\"smime.p7m\"",
        algo.smime_type()
    );
    // The part is built with an empty body; its base64 body is returned
    // apart and put after the headers in place (see `compose`), so the
    // message is never held twice in memory.
    let part = SinglePart::builder()
        .header(ContentType::parse(&ct).map_err(internal)?)
        .header(ContentDisposition::attachment("smime.p7m"))
        .header(ContentTransferEncoding::Base64)
        .body(Body::dangerous_pre_encoded(
            Vec::new(),
            ContentTransferEncoding::Base64,
        ));
    Ok((Part::Single(part), Some(encoded)))
}

/// `protect` for an RFC 9788 payload, which is bytes: the header fields on
/// its root part are none that lettre's parts can carry (a part has only
/// its MIME headers), so the multipart/signed around it is written here,
/// with lettre's boundary and signature part: `--B`, the payload, `--B`,
/// the signature part, `--B--`, each close-delimiter ending with CRLF.
fn protect_payload(
    settings: &Settings,
    payload: Vec<u8>,
    rcpts: &[Address],
) -> Result<(Part, Option<Vec<u8>>)> {
    let sm = &settings.smime;
    let id = identity(sm)?;
    let mut content = payload;
    if sm.sign {
        let sig = signature_part(id, &content)?;
        let boundary = MultiPart::signed("application/pkcs7-signature".into(), "sha-256".into())
            .singlepart(SinglePart::plain(String::new()))
            .boundary();
        let mut body = Vec::with_capacity(content.len() + 8192);
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        body.extend_from_slice(&content);
        body.extend_from_slice(format!("\r\n--{boundary}\r\n").as_bytes());
        body.extend_from_slice(&sig.formatted());
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        drop(content);
        let ct = format!(
            "multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=\"{boundary}\""
        );
        let signed = Part::Single(
            SinglePart::builder()
                .header(ContentType::parse(&ct).map_err(internal)?)
                .body(Body::dangerous_pre_encoded(
                    body,
                    ContentTransferEncoding::SevenBit,
                )),
        );
        if !sm.encrypt {
            return Ok((signed, None));
        }
        content = entity_bytes(&signed);
    }
    encrypted_part(settings, id, content, rcpts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mb(s: &str) -> Mailbox {
        s.parse().unwrap()
    }

    #[test]
    fn duplicates_are_kept_once_across_lists() {
        let mut d = Draft::new(BodyCharset::Utf8);
        d.add_recipients(RecipientKind::To, vec![mb("a@x.test"), mb("a@X.TEST")]);
        d.add_recipients(
            RecipientKind::Cc,
            vec![mb("Other Name <a@x.test>"), mb("b@x.test")],
        );
        d.add_recipients(RecipientKind::Bcc, vec![mb("b@x.test"), mb("A@x.test")]);
        assert_eq!(d.to.len(), 1);
        assert_eq!(d.cc.len(), 1);
        // Local parts are case-sensitive (RFC 5321), so A@ and a@ are two recipients.
        assert_eq!(d.bcc.len(), 1);
    }

    #[test]
    fn text_lines_accumulate() {
        let mut d = Draft::new(BodyCharset::Utf8);
        d.append_text("one");
        d.append_text("");
        d.append_text("three\r\nfour\rfive");
        assert_eq!(d.text.as_deref(), Some("one\n\nthree\nfour\nfive"));
    }

    /// The one-pass conversion agrees with the two `replace` calls it
    /// replaced, for every string of up to 7 characters over CR, LF, 'a', 'é'.
    #[test]
    fn normalize_newlines_matches_two_replaces() {
        let alphabet = ["\r", "\n", "a", "é"];
        for len in 0..=7u32 {
            for n in 0..4usize.pow(len) {
                let s: String = (0..len).map(|i| alphabet[n / 4usize.pow(i) % 4]).collect();
                let reference = s.replace("\r\n", "\n").replace('\r', "\n");
                assert_eq!(normalize_newlines(&s), reference, "{s:?}");
            }
        }
    }

    #[test]
    fn long_header_lines_are_folded_at_blanks() {
        let to: Vec<String> = (0..300).map(|i| format!("r{i}@example.test")).collect();
        let msg = format!(
            "To: {}\r\nSubject: x\r\n\r\nbody {}\r\n",
            to.join(", "),
            "b".repeat(2000)
        );
        let folded = fold_header_lines(msg.clone().into_bytes());
        let text = String::from_utf8(folded).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.split("\r\n").all(|l| l.len() <= FOLD_AT));
        assert_eq!(
            head.replace("\r\n ", " "),
            msg.split_once("\r\n\r\n").unwrap().0
        );
        assert!(body.len() > 2000, "the body is not touched");
        let short = b"To: a@x\r\n\r\nbody".to_vec();
        assert_eq!(fold_header_lines(short.clone()), short);
    }

    #[test]
    fn priorities() {
        assert_eq!(parse_priority("5").unwrap(), 5);
        assert_eq!(parse_priority("*HIGH").unwrap(), 5);
        assert_eq!(parse_priority("high").unwrap(), 5);
        assert_eq!(parse_priority("*normal").unwrap(), 3);
        assert_eq!(parse_priority("LOW").unwrap(), 0);
        for bad in ["6", "-1", "", "urgent", "55"] {
            assert_eq!(
                parse_priority(bad).unwrap_err().status,
                LnccmdStatus::BadValue
            );
        }
        assert_eq!(priority_headers(5)[0].1, "1 (Highest)");
        assert_eq!(priority_headers(0)[0].1, "5 (Lowest)");
        assert!(priority_headers(3).is_empty() && priority_headers(2).is_empty());
    }

    #[test]
    fn date_has_a_numeric_offset() {
        let d = rfc5322_date_now();
        let parts: Vec<&str> = d.split(' ').collect();
        assert_eq!(parts.len(), 6, "{d}");
        let off = parts[5];
        assert!(
            off.len() == 5 && (off.starts_with('+') || off.starts_with('-')),
            "{d}"
        );
    }

    #[test]
    fn has_controls_agrees_with_char_is_control() {
        let reference = |t: &str| {
            t.chars()
                .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\x0c'))
        };
        let samples = [
            "",
            "plain text",
            "tab\tline\r\nfeed\x0c",
            "nul\0",
            "del\x7f",
            "esc\x1b",
            "next line \u{85}",
            "\u{80}",
            "\u{9f}",
            "nbsp \u{a0} is not one",
            "é à ü",
            "\u{a0}\u{ff}",
            "\u{100}\u{2028}",
            "\u{9f}x\u{a0}",
        ];
        for s in samples {
            assert_eq!(has_controls(s), reference(s), "{s:?}");
        }
        for c in (0u32..0x800).filter_map(char::from_u32) {
            let s = format!("a{c}b");
            assert_eq!(has_controls(&s), reference(&s), "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn message_ids_are_unique_and_at_the_sender_domain() {
        let a: Address = "x@example.test".parse().unwrap();
        let ids: HashSet<String> = (0..1000).map(|_| new_message_id(&a)).collect();
        assert_eq!(ids.len(), 1000);
        assert!(
            ids.iter()
                .all(|i| i.ends_with("@example.test>") && i.starts_with('<'))
        );
    }

    #[test]
    fn the_message_id_is_at_the_ascii_form_of_the_sender_domain() {
        for (domain, right) in [
            ("example.test", "example.test"),
            ("Example.TEST", "Example.TEST"),
            ("bücher.example", "xn--bcher-kva.example"),
            ("BÜCHER.example", "xn--bcher-kva.example"),
            ("xn--bcher-kva.example", "xn--bcher-kva.example"),
            ("[192.0.2.1]", "[192.0.2.1]"),
            ("[IPv6:2001:db8::1]", "[IPv6:2001:db8::1]"),
            ("192.0.2.1", "192.0.2.1"),
            // Not reachable from MAILSMTP; the ID stays valid anyway.
            ("[ü]", "lnccmd.invalid"),
            ("[a\\b]", "lnccmd.invalid"),
            ("2001:db8::1", "lnccmd.invalid"),
            ("a..b", "lnccmd.invalid"),
            ("a b", "lnccmd.invalid"),
            ("", "lnccmd.invalid"),
        ] {
            assert_eq!(message_id_right(domain), right, "{domain:?}");
        }
    }

    #[test]
    fn the_message_id_of_every_sender_form_is_one_ascii_msg_id() {
        let entry = |addr: &str| crate::props::AddressEntry {
            name: None,
            addr: addr.into(),
        };
        for (sender, right) in [
            ("josé@bücher.example", "xn--bcher-kva.example"),
            ("jose@bücher.example", "xn--bcher-kva.example"),
            ("\"a b\"@example.com", "example.com"),
            ("t@[192.0.2.1]", "[192.0.2.1]"),
            ("t@[IPv6:2001:db8::1]", "[IPv6:2001:db8::1]"),
            ("t@[2001:db8::1]", "[IPv6:2001:db8::1]"),
        ] {
            let mb = crate::settings::mailbox(entry(sender), false).unwrap();
            let id = new_message_id(&mb.email);
            let (left, rest) = id.strip_prefix('<').unwrap().split_once('@').unwrap();
            assert_eq!(rest.strip_suffix('>'), Some(right), "{sender}: {id}");
            assert!(left.len() == 32 && left.bytes().all(|b| b.is_ascii_hexdigit()));
            // As lettre writes it: the same text, not an encoded-word.
            let msg = Message::builder()
                .from(mb)
                .to("bob@example.test".parse().unwrap())
                .message_id(Some(id.clone()))
                .body(String::from("x"))
                .unwrap();
            let text = String::from_utf8(msg.formatted()).unwrap();
            assert!(
                text.contains(&format!("\r\nMessage-ID: {id}\r\n")),
                "{sender}: {text}"
            );
        }
    }
}
