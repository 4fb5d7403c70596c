//! Header text as RFC 2047 encoded-words and RFC 5322 folding: subjects,
//! display names, program headers and address lists, written so that every
//! parser decodes them to exactly the text given (docs/RELIABILITY.md).
//!
//! Hand-written rather than left to lettre (email-encoding 0.4.2), whose
//! encoder, measured with six parsers (issue #15 items 8-11):
//! - wrote ASCII text that looks like an encoded-word (`=?UTF-8?B?...?=`)
//!   raw, so recipients decoded it into something else;
//! - put the blanks between two encoded words outside them, where RFC 2047
//!   §6.2 says they are dropped (`é é é  é` arrived as `é é éé`);
//! - padded base64 words in the middle of a run (`...==?= =?...`), which
//!   GMime joins before decoding and truncates at the first `=`;
//! - wrote quoted display names unfolded (a To line of 1,222 octets).
//!
//! No maintained crate writes encoded-words with these properties (lettre's
//! and mail-builder's encoders pad every word), so this module does, with
//! the parsers themselves as its tests (tests/headers.rs).

/// Longest encoded-word (RFC 2047 §2).
const WORD_MAX: usize = 75;
/// Recommended line length (RFC 5322 §2.1.1): folded at a blank before it.
const LINE_MAX: usize = 78;
/// Past this, a line is folded at any blank: RFC 5322 §2.1.1's 998, with
/// room for a word.
const HARD_MAX: usize = 900;
const B_PREFIX: &str = "=?UTF-8?B?";
const Q_PREFIX: &str = "=?UTF-8?Q?";

/// Characters that stand for themselves in a Q word, in any header
/// (RFC 2047 §5 (3), the strictest set: that of a phrase).
fn q_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'!' | b'*' | b'+' | b'-' | b'/')
}

fn q_len(s: &str) -> usize {
    s.bytes()
        .map(|b| if q_safe(b) || b == b' ' { 1 } else { 3 })
        .sum()
}

fn q_encode(s: &str) -> String {
    let mut out = String::with_capacity(Q_PREFIX.len() + q_len(s) + 2);
    out.push_str(Q_PREFIX);
    for b in s.bytes() {
        match b {
            b' ' => out.push('_'),
            b if q_safe(b) => out.push(b as char),
            b => out.push_str(&format!("={b:02X}")),
        }
    }
    out.push_str("?=");
    out
}

fn b_encode(s: &str) -> String {
    format!(
        "{B_PREFIX}{}?=",
        openssl::base64::encode_block(s.as_bytes())
    )
}

/// `text` as encoded-words, each at most 75 characters (the first at most
/// `first_max`, so it fits the line it starts) and each holding whole
/// characters (RFC 2047 §5). A base64 word other than the last holds a
/// multiple of 3 bytes, so it has no `=` padding: GMime concatenates the
/// words of a run before decoding them. Each word is Q or B, whichever
/// carries more of the text (Q for mostly-ASCII text, B otherwise).
///
/// `at_blanks`: a word ends after a blank of the text where one is near
/// the end of the room, not inside a word of it. For display names:
/// Python's email (policy default, 3.11) puts a blank between adjacent
/// encoded-words of a phrase, against RFC 2047 §6.2, so a cut inside a word
/// would show there as a blank inside it.
fn encode_run(text: &str, first_max: usize, at_blanks: bool) -> Vec<String> {
    let mut words = Vec::new();
    let mut rest = text;
    let mut max = first_max.min(WORD_MAX);
    while !rest.is_empty() {
        let b_room = max.saturating_sub(B_PREFIX.len() + 2) / 4 * 3;
        let q_room = max.saturating_sub(Q_PREFIX.len() + 2);
        let bounds = rest
            .char_indices()
            .map(|(i, _)| i)
            .skip(1)
            .chain([rest.len()]);
        // (end, is B) of the longest word, and of the longest ending in a blank.
        let (mut best, mut best_blank) = ((0, false), (0, false));
        for end in bounds {
            let b_ok = end <= b_room && (end % 3 == 0 || end == rest.len());
            let q_ok = q_len(&rest[..end]) <= q_room;
            if !b_ok && !q_ok {
                if end > b_room {
                    break;
                }
                continue;
            }
            let cand = (end, !q_ok);
            best = cand;
            if rest[..end].ends_with(' ') {
                best_blank = cand;
            }
        }
        if best.0 == 0 {
            // Not even one character fits the first line's room: the word
            // gets a line of its own.
            max = WORD_MAX;
            continue;
        }
        let (take, b) = if at_blanks && best.0 < rest.len() && best_blank.0 * 2 >= best.0 {
            best_blank
        } else {
            best
        };
        words.push(if b {
            b_encode(&rest[..take])
        } else {
            q_encode(&rest[..take])
        });
        rest = &rest[take..];
        max = WORD_MAX;
    }
    words
}

/// Whether an ASCII word must be encoded to reach the reader as it is:
/// `=?` may start an encoded-word for a decoder (Python's finds them even
/// inside a word), so a word holding it is encoded, and decodes to itself.
fn needs_encoding(word: &str, ascii_as_is: bool) -> bool {
    !word.is_ascii() || (!ascii_as_is && word.contains("=?"))
}

/// A header value being written: tokens joined with folding.
struct Folder {
    out: String,
    line: usize,
    /// The last single space of the current line that a fold may go
    /// before: its index in `out` and the line's length before it.
    fold_point: Option<(usize, usize)>,
}

impl Folder {
    fn new(name_len: usize) -> Self {
        Folder {
            out: String::new(),
            line: name_len + 2,
            fold_point: None,
        }
    }

    /// Writes `blanks` (one or more WSP, or "" when none is needed) then
    /// `token`, folding before the blanks when the line would pass 78.
    ///
    /// Folds only before a single space: some parsers (mailparser) unfold
    /// CRLF and the blanks after it into one space, so a fold before a tab
    /// or several blanks would change them; there, only to stay under 998.
    fn put(&mut self, blanks: &str, token: &str) {
        // A run of blanks too long for one line is folded inside (a CRLF
        // may go before any blank), so that no line passes 998 octets.
        let mut blanks = blanks;
        while blanks.len() > 1 && self.line + blanks.len() + token.len() > HARD_MAX {
            let n = HARD_MAX
                .saturating_sub(self.line)
                .clamp(1, blanks.len() - 1);
            self.out.push_str(&blanks[..n]);
            self.newline();
            blanks = &blanks[n..];
        }
        let over = self.line + blanks.len() + token.len();
        if blanks == " " {
            if over > LINE_MAX && self.line > 1 {
                self.newline();
            } else if self.line > 1 {
                self.fold_point = Some((self.out.len(), self.line));
            }
        } else if !blanks.is_empty() && over > HARD_MAX && self.line > 1 {
            self.newline();
        } else if over > LINE_MAX {
            // No fold here (a tab or several blanks, or no blank): fold at
            // the line's last single space instead, if it has one.
            if let Some((at, col)) = self.fold_point.take() {
                self.out.insert_str(at, "\r\n");
                self.line -= col;
            }
        }
        self.out.push_str(blanks);
        self.out.push_str(token);
        self.line += blanks.len() + token.len();
    }

    fn newline(&mut self) {
        self.out.push_str("\r\n");
        self.line = 0;
        self.fold_point = None;
    }

    /// Writes `blanks` then `text` as a run of encoded-words, the first one
    /// sized to the room left on the line.
    fn put_run(&mut self, blanks: &str, text: &str, at_blanks: bool) {
        let room = LINE_MAX.saturating_sub(self.line + blanks.len());
        let first = if room >= 20 { room } else { WORD_MAX };
        for (k, w) in encode_run(text, first, at_blanks).iter().enumerate() {
            self.put(if k == 0 { blanks } else { " " }, w);
        }
    }
}

/// Splits `text` into (blanks before, word) pairs; trailing blanks come as
/// a last pair with an empty word.
fn words(text: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let w_start = rest.find(|c| c != ' ' && c != '\t').unwrap_or(rest.len());
        let after = &rest[w_start..];
        let w_end = after.find([' ', '\t']).unwrap_or(after.len());
        out.push((&rest[..w_start], &after[..w_end]));
        rest = &after[w_end..];
    }
    out
}

/// An unstructured header value (Subject, a MAILHDR value) written for a
/// header named `name_len` characters long: ASCII words as they are,
/// consecutive words that need encoding as one run of encoded-words with
/// the blanks between them inside (RFC 2047 §6.2 drops blanks between
/// encoded-words), folded at blanks to 78 characters where a blank allows.
///
/// `ascii_as_is`: ASCII words are written as given even when they hold
/// `=?` (MAILHDR: a program may pass its own encoded-words, or a URL).
pub fn unstructured(name_len: usize, text: &str, ascii_as_is: bool) -> String {
    text_with(name_len, text, |w| needs_encoding(w, ascii_as_is))
}

/// A file name for Content-Type's `name="..."`, starting `col` characters
/// into its line: RFC 2047 encoded-words inside the quotes, as Outlook,
/// Gmail and Thunderbird write and read it (docs/decisions.md), but only
/// for the words that need it, so a parser that decodes neither RFC 2231
/// nor RFC 2047 (munpack) still reads the ASCII words, the extension
/// among them when it is a word of its own (`Rechnung März 2026.pdf`).
/// A word with `"` or `\` is encoded too: no quoted-pair is written.
pub fn parameter_text(col: usize, text: &str) -> String {
    text_with(col.saturating_sub(2), text, |w| {
        needs_encoding(w, false) || w.contains(['"', '\\'])
    })
}

fn text_with(name_len: usize, text: &str, needs: impl Fn(&str) -> bool) -> String {
    let mut f = Folder::new(name_len);
    let ws = words(text);
    // Which words go encoded. Leading or trailing blanks would be dropped
    // by parsers that trim a header's value: they go inside a run too,
    // with the word next to them.
    let mut enc: Vec<bool> = ws.iter().map(|(_, w)| needs(w)).collect();
    if ws.first().is_some_and(|(b, _)| !b.is_empty()) {
        enc[0] = true;
    }
    if ws.last().is_some_and(|(_, w)| w.is_empty()) {
        let n = ws.len();
        enc[n - 1] = true;
        if n >= 2 {
            enc[n - 2] = true;
        }
    }
    // Between an encoded run and a plain word, only a single space is
    // read back as it is: mailparser, compat32 and Mail::Message turn a
    // tab or several blanks there into one space. Other blanks next to a
    // run pull the word beyond them into it, where they are encoded.
    let mut changed = true;
    while changed {
        changed = false;
        for k in 1..ws.len() {
            // compat32's make_header also drops the space between a run
            // and a plain word that ends (before it) or starts (after it)
            // with `(`, `)` or `\` (its `_nonctext`).
            let ctext_edge = if enc[k] {
                ws[k - 1].1.ends_with(['(', ')', '\\'])
            } else {
                ws[k].1.starts_with(['(', ')', '\\'])
            };
            if (ws[k].0 != " " || ctext_edge) && enc[k] != enc[k - 1] {
                enc[k] = true;
                enc[k - 1] = true;
                changed = true;
            }
        }
    }
    let mut i = 0;
    while i < ws.len() {
        let (blanks, word) = ws[i];
        if !enc[i] {
            f.put(blanks, word);
            i += 1;
            continue;
        }
        // The run: this word and every next one that goes encoded, with
        // the blanks between them.
        let mut j = i + 1;
        while j < ws.len() && enc[j] {
            j += 1;
        }
        let (lead, start) = if i == 0 {
            ("", 0)
        } else {
            (blanks, offset(text, word))
        };
        let end = offset(text, ws[j - 1].1) + ws[j - 1].1.len();
        f.put_run(lead, &text[start..end], false);
        i = j;
    }
    f.out
}

/// Byte offset of `part` (a subslice) in `whole`.
fn offset(whole: &str, part: &str) -> usize {
    part.as_ptr() as usize - whole.as_ptr() as usize
}

/// atext of RFC 5322 §3.2.3.
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

/// Longest quoted-string written for a display name; a longer name that
/// is not all atoms goes as encoded-words, which fold. Folding inside a
/// quoted-string is allowed (RFC 5322 §3.2.4), but GMime then keeps the
/// CRLF in the name, compat32's getaddresses cuts the name at its commas,
/// and cutting it into several quoted-strings loses all but the last one
/// in Mail::Message.
const QUOTED_MAX: usize = 64;

/// Writes a display name as an RFC 5322 phrase, in one of three forms (one
/// form per name: Mail::Message misreads a phrase that mixes them):
/// - atoms, when it is words of atext separated by single blanks;
/// - one quoted-string, when it is ASCII without `=?`, `"`, `\` or other
///   blanks than single spaces, and short: no quoted-pair, which
///   Mail::Message misreads (`\\` as two, `"\"@Z"` as an address);
/// - else encoded-words of the whole name, cut at its blanks where it can
///   be (see `encode_run`), so blanks, quotes and commas come back exact.
fn put_phrase(f: &mut Folder, sep: &str, name: &str) {
    let ws = words(name);
    let atoms = ws.iter().enumerate().all(|(k, (b, w))| {
        (if k == 0 { b.is_empty() } else { *b == " " })
            && !w.is_empty()
            && w.chars().all(is_atext)
            && !w.contains("=?")
    });
    if atoms {
        for (k, (_, w)) in ws.iter().enumerate() {
            f.put(if k == 0 { sep } else { " " }, w);
        }
        return;
    }
    // Mail::Message also reads a tab or several blanks in a quoted-string
    // as one space.
    let single_blanks = ws.iter().skip(1).all(|(b, _)| *b == " ");
    if name.is_ascii() && !name.contains(['"', '\\']) && !name.contains("=?") && single_blanks {
        let quoted = format!("\"{name}\"");
        if quoted.len() <= QUOTED_MAX {
            f.put(sep, &quoted);
            return;
        }
    }
    f.put_run(sep, name, true);
}

/// An address list header value (From, To, Cc, Reply-To) for a header named
/// `name_len` characters long: `phrase <addr>` or `addr`, separated by
/// `, `, folded at blanks, so that no line exceeds 78 characters unless one
/// word (an address) is longer itself.
pub fn mailboxes<'a>(
    name_len: usize,
    list: impl IntoIterator<Item = &'a lettre::message::Mailbox>,
) -> String {
    let mut f = Folder::new(name_len);
    for (k, mb) in list.into_iter().enumerate() {
        let sep = if k == 0 { "" } else { " " };
        let addr = mb.email.to_string();
        match mb.name.as_deref().filter(|n| !n.is_empty()) {
            Some(name) => {
                put_phrase(&mut f, sep, name);
                f.put(" ", &format!("<{addr}>"));
            }
            None => f.put(sep, &addr),
        }
        f.out.push(',');
        f.line += 1;
    }
    f.out.pop();
    f.out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn longest_line(v: &str, name_len: usize) -> usize {
        v.split("\r\n")
            .enumerate()
            .map(|(i, l)| l.len() + if i == 0 { name_len + 2 } else { 0 })
            .max()
            .unwrap()
    }

    #[test]
    fn ascii_stays_as_it_is() {
        assert_eq!(unstructured(7, "Invoice 42", false), "Invoice 42");
        assert_eq!(unstructured(7, "a  b\tc", false), "a  b\tc");
    }

    #[test]
    fn text_that_looks_encoded_is_encoded() {
        let v = unstructured(7, "=?UTF-8?B?SGVsbG8gV29ybGQ=?=", false);
        assert!(v.starts_with("=?UTF-8?"), "{v}");
        assert!(!v.contains("SGVsbG8gV29ybGQ=?="), "{v}");
    }

    #[test]
    fn blanks_between_encoded_words_are_inside_them() {
        let v = unstructured(7, "é é é  é", false);
        assert_eq!(v.matches("=?").count(), 1, "{v}");
    }

    #[test]
    fn no_padding_inside_a_run_and_words_fit() {
        let s = format!(
            "{}{}",
            "Rechnung für Müller ✓ 日本 😀 ".repeat(6),
            "日本語😀".repeat(12)
        );
        let v = unstructured(7, &s, false);
        assert!(
            v.replace("\r\n", "").matches("?= =?UTF-8?B?").count() >= 3,
            "{v}"
        );
        let words: Vec<&str> = v.split_whitespace().collect();
        assert!(words.iter().all(|w| w.len() <= WORD_MAX), "{v}");
        // A base64 word followed by another encoded-word has no padding.
        for pair in words.windows(2) {
            if pair[0].starts_with(B_PREFIX) && pair[1].starts_with("=?") {
                let b64 = &pair[0][B_PREFIX.len()..pair[0].len() - 2];
                assert!(!b64.contains('='), "{v}");
            }
        }
        assert!(longest_line(&v, 7) <= LINE_MAX, "{v}");
    }

    #[test]
    fn names_with_quotes_are_encoded_and_long_names_fold() {
        let mb: lettre::message::Mailbox =
            lettre::message::Mailbox::new(Some("5\" floppy".into()), "a@x.test".parse().unwrap());
        assert_eq!(mailboxes(2, [&mb]), "=?UTF-8?Q?5=22_floppy?= <a@x.test>");
        let mb =
            lettre::message::Mailbox::new(Some("Doe, Jane".into()), "a@x.test".parse().unwrap());
        assert_eq!(mailboxes(2, [&mb]), "\"Doe, Jane\" <a@x.test>");
        let long = "word ".repeat(180);
        let mb = lettre::message::Mailbox::new(
            Some(long.trim().to_string()),
            "a@x.test".parse().unwrap(),
        );
        let v = mailboxes(2, [&mb]);
        assert!(longest_line(&v, 2) <= LINE_MAX, "{v}");
    }

    /// What goes into a header must be ASCII, with no CR or LF but the
    /// folds (CRLF then a blank), no line over 998 octets, and unfold to
    /// the same blanks: for any text without control characters (those are
    /// refused before, 110), any display name, any file name.
    fn check_header_value(v: &str, first_line: usize) -> Result<(), String> {
        if !v.is_ascii() {
            return Err(format!("not ASCII: {v:?}"));
        }
        for (i, line) in v.split("\r\n").enumerate() {
            if line.contains(['\r', '\n']) {
                return Err(format!("a bare CR or LF: {v:?}"));
            }
            if i > 0 && !line.starts_with([' ', '\t']) {
                return Err(format!("a line break that is no fold: {v:?}"));
            }
            let len = line.len() + if i == 0 { first_line } else { 0 };
            if len > 998 {
                return Err(format!("a line of {len} octets"));
            }
        }
        Ok(())
    }

    proptest::proptest! {
        #[test]
        fn any_text_gives_a_safe_folded_header(
            text in "[^\\p{Cc}\u{2028}\u{2029}]{0,400}|[ \t=?\"\\\\a-zé😀]{0,3000}",
            name_len in 1usize..77,
        ) {
            let u = unstructured(name_len, &text, false);
            proptest::prop_assert!(check_header_value(&u, name_len + 2).is_ok(), "{:?}", check_header_value(&u, name_len + 2));
            let h = unstructured(name_len, &text, true);
            proptest::prop_assert!(check_header_value(&h, name_len + 2).is_ok());
            let p = parameter_text(name_len + 20, &text);
            proptest::prop_assert!(check_header_value(&p, name_len + 20).is_ok());
            // Inside name="...": no quote or backslash of the text's own.
            proptest::prop_assert!(!p.contains(['"', '\\']), "{p:?}");
            let mb = lettre::message::Mailbox::new(
                Some(text.clone()),
                "a@x.test".parse().unwrap(),
            );
            let m = mailboxes(name_len, [&mb]);
            proptest::prop_assert!(check_header_value(&m, name_len + 2).is_ok());
        }
    }
}
