//! Draft -> RFC 5322/MIME bytes, built with lettre's message builder (SPEC §5).
//! No network; the envelope is made here too so Bcc never reaches a header.

use std::collections::HashSet;

use lettre::Address;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message, SinglePart};

use crate::error::{Error, LnccmdStatus, Result};
use crate::settings::Settings;

/// Charset of the text parts (MAILPREP `charset=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyCharset {
    Utf8,
    Ascii,
}

impl BodyCharset {
    fn mime_name(self) -> &'static str {
        match self {
            BodyCharset::Utf8 => "utf-8",
            BodyCharset::Ascii => "us-ascii",
        }
    }

    /// Checks that the text fits; `what` names it in the error.
    pub fn check(self, what: &str, text: &str) -> Result<()> {
        if self == BodyCharset::Ascii {
            if let Some((i, c)) = text.chars().enumerate().find(|(_, c)| !c.is_ascii()) {
                return Err(Error::new(
                    LnccmdStatus::CharsetCannotCarry,
                    format!(
                        "{what} contains {} which charset ASCII cannot carry (use charset=UTF-8)",
                        crate::props::describe_char(c, i + 1)
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The message being prepared between MAILPREP and MAILSEND.
#[derive(Debug, Clone)]
pub struct Draft {
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub bcc: Vec<Mailbox>,
    /// Normalised addresses already in to/cc/bcc: a repeated address is sent once (SPEC §3).
    seen: HashSet<String>,
    pub subject: Option<String>,
    pub text: Option<String>,
    /// 0..=5, `None` = normal (no priority headers).
    pub priority: Option<u8>,
    pub charset: BodyCharset,
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
            priority: None,
            charset,
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

    /// Appends to the text body; each call after the first starts a new line (SPEC §4.5).
    /// Line ends (CRLF, CR, LF) are stored as LF; lettre writes each as CRLF.
    /// (lettre converts LF only: a bare CR would otherwise reach the wire.)
    pub fn append_text(&mut self, text: &str) {
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        let text = text.as_str();
        match &mut self.text {
            Some(t) => {
                t.push('\n');
                t.push_str(text);
            }
            None => self.text = Some(text.to_string()),
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

/// Priority headers of SPEC §4.8 for a level 0..=5.
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

/// Parses a priority: `0`..`5`, or `*LOW`, `*NORMAL`, `*HIGH` with or without `*` (SPEC §4.8).
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

/// A Message-ID unique across processes and machines: 128 random bits, `@` the sender's domain.
fn new_message_id(sender: &Address) -> Result<String> {
    let mut rnd = [0u8; 16];
    openssl::rand::rand_bytes(&mut rnd).map_err(|e| {
        Error::new(
            LnccmdStatus::Internal,
            format!("random generator failed: {e}"),
        )
    })?;
    let hex: String = rnd.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("<{hex}@{}>", sender.domain()))
}

/// RFC 5322 date with the local UTC offset, e.g. `Sun, 29 Nov 2026 22:21:16 +0100`.
/// lettre only writes UTC; SPEC §5 asks for local time, as mail clients show.
pub fn rfc5322_date_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as libc::time_t)
        .unwrap_or(0);
    let mut tm: libc::tm = zeroed_tm();
    crate::ffi::localtime(now, &mut tm);
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let off = tm.tm_gmtoff / 60;
    let sign = if off < 0 { '-' } else { '+' };
    let off = off.abs();
    format!(
        "{}, {} {} {} {:02}:{:02}:{:02} {sign}{:02}{:02}",
        DAYS[tm.tm_wday.rem_euclid(7) as usize],
        tm.tm_mday,
        MONTHS[tm.tm_mon.rem_euclid(12) as usize],
        tm.tm_year + 1900,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        off / 60,
        off % 60
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

/// Builds the message of `draft` as sent by `settings.sender` (SPEC §5).
pub fn compose(settings: &Settings, draft: &Draft) -> Result<Outgoing> {
    let message_id = new_message_id(&settings.sender.email)?;
    let mut b = Message::builder()
        .from(settings.sender.clone())
        .message_id(Some(message_id.clone()));
    for mb in &draft.to {
        b = b.to(mb.clone());
    }
    for mb in &draft.cc {
        b = b.cc(mb.clone());
    }
    if let Some(r) = &settings.reply {
        b = b.reply_to(r.clone());
    }
    if let Some(s) = &draft.subject {
        b = b.subject(s.clone());
    }
    if let Some(level) = draft.priority {
        for (name, value) in priority_headers(level) {
            b = b.raw_header(header(name, value));
        }
    }
    let rcpts: Vec<Address> = draft
        .to
        .iter()
        .chain(&draft.cc)
        .chain(&draft.bcc)
        .map(|m| m.email.clone())
        .collect();
    let envelope =
        lettre::address::Envelope::new(Some(settings.sender.email.clone()), rcpts.clone())
            .map_err(|e| {
                Error::new(
                    LnccmdStatus::NoRecipient,
                    format!("cannot build the envelope: {e}"),
                )
            })?;
    b = b.envelope(envelope);

    let content_type = ContentType::parse(&format!(
        "text/plain; charset={}",
        draft.charset.mime_name()
    ))
    .map_err(|e| Error::new(LnccmdStatus::Internal, format!("content type: {e}")))?;
    // lettre turns every line end of a String body into CRLF and picks
    // 7bit / quoted-printable / base64 so that no line exceeds 998 octets.
    let body = SinglePart::builder()
        .header(content_type)
        .body(draft.text.clone().unwrap_or_default());
    let mut msg = b.singlepart(body).map_err(|e| {
        Error::new(
            LnccmdStatus::Internal,
            format!("cannot build the message: {e}"),
        )
    })?;
    msg.headers_mut()
        .insert_raw(header("Date", &rfc5322_date_now()));
    Ok(Outgoing {
        bytes: msg.formatted(),
        from: settings.sender.email.clone(),
        rcpts,
        message_id,
    })
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

    #[test]
    fn ascii_charset_names_the_offending_character() {
        let e = BodyCharset::Ascii
            .check("MAILTEXT text", "abc é")
            .unwrap_err();
        assert_eq!(e.status, LnccmdStatus::CharsetCannotCarry);
        assert!(
            e.detail.contains("'é' (U+00E9) at position 5"),
            "{}",
            e.detail
        );
        assert!(BodyCharset::Utf8.check("x", "é").is_ok());
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
    fn message_ids_are_unique_and_at_the_sender_domain() {
        let a: Address = "x@example.test".parse().unwrap();
        let ids: HashSet<String> = (0..1000).map(|_| new_message_id(&a).unwrap()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(
            ids.iter()
                .all(|i| i.ends_with("@example.test>") && i.starts_with('<'))
        );
    }
}
