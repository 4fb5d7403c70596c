//! RFC 9788 header protection (`SecureHeaders=RFC9788`): the message's
//! header fields on the root part of the cryptographic payload, marked
//! `hp="cipher"` or `hp="clear"`, `HP-Outer` records of what stays outside,
//! and the legacy display element for clients without header protection.
//! Bytes in, bytes out; compose builds the parts and calls these.
//!
//! Header Confidentiality Policy (RFC 9788 §3): lnccmd's is `hcp_baseline`
//! (Subject becomes `[...]`, or `WrapperSubject` when set) plus what the
//! wrapper mode already keeps inside only: Reply-To, the priority and
//! read-receipt headers and the program's own MAILHDR headers other than
//! the list and threading ones (compose's `outside_protection`). From, To,
//! Cc, Date and Message-ID stay outside, as transport needs them. Signed
//! only (`hp="clear"`): nothing is hidden, the outside is the inside.

/// The Subject outside an encrypted message when `WrapperSubject` is not
/// set (RFC 9788 §3.2.1, `hcp_baseline`).
pub const OBSCURED_SUBJECT: &str = "[...]";

/// The class of the HTML legacy display element (RFC 9788 §4.5.3.3).
const LEGACY_CLASS: &str = "header-protection-legacy-display";

/// `hp="cipher"` (encrypted) or `hp="clear"` (signed only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hp {
    Cipher,
    Clear,
}

impl Hp {
    fn value(self) -> &'static str {
        match self {
            Hp::Cipher => "cipher",
            Hp::Clear => "clear",
        }
    }
}

/// The legacy display element (RFC 9788 §4.5.3): the user-facing header
/// fields the outside does not show, as `Name: value` lines, put at the top
/// of each main body part (the text and the HTML, not attachments) of an
/// encrypted message, so that a client that reads only the outer header
/// still shows them.
#[derive(Debug, Clone)]
pub struct LegacyDisplay {
    lines: Vec<String>,
}

impl LegacyDisplay {
    /// The Subject (always obscured outside) and, when set, the Reply-To
    /// (kept inside only).
    pub fn new(subject: Option<&str>, reply_to: Option<&str>) -> LegacyDisplay {
        let mut lines = vec![format!("Subject: {}", subject.unwrap_or(""))];
        if let Some(r) = reply_to {
            lines.push(format!("Reply-To: {r}"));
        }
        LegacyDisplay { lines }
    }

    /// The Content-Type parameter of a part that carries it.
    pub const PARAMETER: &'static str = "; hp-legacy-display=\"1\"";

    /// `text` with the element in front: the lines, then a blank line
    /// (RFC 9788 §4.5.3.2).
    pub fn text(&self, text: &str) -> String {
        let mut out = self.lines.join("\n");
        out.push_str("\n\n");
        out.push_str(text);
        out
    }

    /// `html` with the element as the first thing in its `<body>` (at the
    /// very start when it has none): a `div` of class
    /// header-protection-legacy-display holding a `pre` (§4.5.3.3).
    pub fn html(&self, html: &str) -> String {
        let escaped: Vec<String> = self.lines.iter().map(|l| escape_html(l)).collect();
        let element = format!(
            "<div class=\"{LEGACY_CLASS}\">\n<pre>{}</pre>\n</div>\n",
            escaped.join("\n")
        );
        let lower = html.to_ascii_lowercase();
        let at = lower
            .find("<body")
            .and_then(|b| lower[b..].find('>').map(|e| b + e + 1))
            .unwrap_or(0);
        let mut out = String::with_capacity(html.len() + element.len());
        out.push_str(&html[..at]);
        out.push_str(&element);
        out.push_str(&html[at..]);
        out
    }
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// The header fields of a header block (up to, not including, the blank
/// line), each with its continuation lines and its CRLF.
pub fn fields(block: &[u8]) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < block.len() {
        let end = block[i..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map_or(block.len(), |p| i + p + 2);
        let continues = matches!(block.get(end), Some(b' ' | b'\t'));
        if !continues {
            out.push(&block[start..end]);
            start = end;
        }
        i = end;
    }
    out
}

/// The header block of a message or entity: up to and including the CRLF
/// before the blank line.
pub fn header_block(entity: &[u8]) -> &[u8] {
    let end = entity
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(entity.len(), |p| p + 2);
    &entity[..end]
}

/// Whether a field describes the MIME structure (RFC 9788 §1.1: the
/// "structural header fields"), not the message.
pub fn is_structural(field: &[u8]) -> bool {
    let name = field
        .split(|&b| b == b':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    name.starts_with(b"content-") || name == b"mime-version"
}

/// The cryptographic payload of RFC 9788 §2 from `message`, the whole inner
/// message as lettre formats it (its header fields, then the root part's
/// structural ones and body): the root part's Content-Type gets `hp`, and,
/// for `hp="cipher"`, one `HP-Outer` field per non-structural field of the
/// outer header block `outer` (§2.2: a field not outside has none).
pub fn payload(message: &[u8], hp: Hp, outer: &[u8]) -> Vec<u8> {
    let block = header_block(message);
    let mut out = Vec::with_capacity(message.len() + outer.len() + 256);
    for field in fields(block) {
        if field.len() > 13 && field[..13].eq_ignore_ascii_case(b"content-type:") {
            // The parameter goes on a line of its own (no line over 78).
            out.extend_from_slice(&field[..field.len() - 2]);
            out.extend_from_slice(format!(";\r\n hp=\"{}\"\r\n", hp.value()).as_bytes());
        } else {
            out.extend_from_slice(field);
        }
    }
    if hp == Hp::Cipher {
        for field in fields(header_block(outer)) {
            if !is_structural(field) {
                out.extend_from_slice(b"HP-Outer: ");
                out.extend_from_slice(field);
            }
        }
    }
    out.extend_from_slice(&message[block.len()..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_keep_their_folding() {
        let block = b"To: a@x.test,\r\n b@x.test\r\nSubject: hi\r\n";
        assert_eq!(
            fields(block),
            vec![
                &b"To: a@x.test,\r\n b@x.test\r\n"[..],
                &b"Subject: hi\r\n"[..]
            ]
        );
        assert!(is_structural(b"Content-Type: text/plain\r\n"));
        assert!(is_structural(b"MIME-Version: 1.0\r\n"));
        assert!(!is_structural(b"Subject: Content-Type\r\n"));
    }

    #[test]
    fn the_payload_has_hp_and_the_outer_fields() {
        let inner = b"Subject: Dinner plans\r\nFrom: a@x.test\r\nContent-Type: text/plain;\r\n charset=utf-8\r\n\r\nbody\r\n";
        let outer = b"Subject: [...]\r\nFrom: a@x.test\r\nMIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime\r\n\r\n";
        let p = payload(inner, Hp::Cipher, outer);
        assert_eq!(
            String::from_utf8(p).unwrap(),
            "Subject: Dinner plans\r\nFrom: a@x.test\r\nContent-Type: text/plain;\r\n charset=utf-8;\r\n hp=\"cipher\"\r\nHP-Outer: Subject: [...]\r\nHP-Outer: From: a@x.test\r\n\r\nbody\r\n"
        );
        let p = payload(inner, Hp::Clear, outer);
        assert!(!String::from_utf8_lossy(&p).contains("HP-Outer"));
        assert!(String::from_utf8_lossy(&p).contains("hp=\"clear\""));
    }

    #[test]
    fn the_legacy_display_leads_the_text_and_the_html_body() {
        let l = LegacyDisplay::new(Some("Pay <slip> & co"), None);
        assert_eq!(l.text("Hello"), "Subject: Pay <slip> & co\n\nHello");
        assert_eq!(
            l.html("<html><BODY class=x><p>Hi</p></BODY></html>"),
            "<html><BODY class=x><div class=\"header-protection-legacy-display\">\n<pre>Subject: Pay &lt;slip&gt; &amp; co</pre>\n</div>\n<p>Hi</p></BODY></html>"
        );
        assert!(l.html("<p>Hi</p>").starts_with("<div class="));
    }
}
