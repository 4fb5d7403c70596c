//! Pure parsers for the two little languages of the API: property strings
//! (docs/contract.md §2) and address lists (docs/contract.md §3). No I/O, no session state.

use crate::error::{Error, LnccmdStatus, Result};

/// One `key=value` or bare `flag` item of a property string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// The key as written, trimmed (compare with `eq_ignore_ascii_case`).
    pub key: String,
    /// `None` for a bare flag; `Some("")` for `key=` or `key=""`.
    pub value: Option<String>,
    /// 1-based character position of the key in the string, for messages.
    pub pos: usize,
}

/// Blanks around keys, `=`, values and addresses. Line breaks count too, so a
/// C program may spread a property string over several lines; inside quotes
/// they stay, and are refused wherever a header would carry them.
fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn syntax(msg: String) -> Error {
    Error::new(LnccmdStatus::PropertySyntax, msg)
}

/// Splits a property string into items (docs/contract.md §2). Keys keep their spelling;
/// the caller matches them case-insensitively and decides which are known.
///
/// Rules: items separated by `;` outside double quotes; empty items ignored;
/// blanks around keys, `=` and values ignored; a value starting with `"` runs
/// to the closing `"` (`""` inside is one `"`), and only blanks may follow it;
/// an unquoted value runs to the next `;`, quotes inside it are literal.
pub fn parse_properties(input: &str) -> Result<Vec<Property>> {
    parse_properties_with_secrets(input, &[])
}

/// `parse_properties` for strings holding secrets (`password`...): the text
/// after a secret item may be the rest of a password cut at a `;`, so
/// errors about it give its position and never quote it.
pub fn parse_properties_with_secrets(input: &str, secrets: &[&str]) -> Result<Vec<Property>> {
    let chars: Vec<char> = input.chars().collect();
    let mut items: Vec<Property> = Vec::new();
    let mut i = 0;
    let n = chars.len();
    while i < n {
        while i < n && is_blank(chars[i]) {
            i += 1;
        }
        if i < n && chars[i] == ';' {
            i += 1;
            continue;
        }
        if i >= n {
            break;
        }
        let key_pos = i + 1;
        let key_start = i;
        let after_secret = follows_secret(&items, secrets);
        while i < n && chars[i] != '=' && chars[i] != ';' {
            i += 1;
        }
        let key: String = chars[key_start..i]
            .iter()
            .collect::<String>()
            .trim_matches(is_blank)
            .to_string();
        if key.is_empty() {
            return Err(syntax(format!(
                "'=' with no key before it at position {key_pos}"
            )));
        }
        if let Some((off, c)) = key
            .chars()
            .enumerate()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
        {
            if after_secret {
                return Err(syntax(secret_hint(key_pos)));
            }
            return Err(syntax(format!(
                "property name '{}' at position {key_pos} contains {} (names are letters, digits, '_' and '-'; is a ';' or '=' missing?)",
                printable(&key),
                describe_char(c, key_pos + off)
            )));
        }
        if i >= n || chars[i] == ';' {
            items.push(Property {
                key,
                value: None,
                pos: key_pos,
            });
            continue;
        }
        // chars[i] == '='
        i += 1;
        while i < n && is_blank(chars[i]) {
            i += 1;
        }
        let value = if i < n && chars[i] == '"' {
            let open = i + 1;
            i += 1;
            let mut v = String::new();
            loop {
                if i >= n {
                    if after_secret {
                        return Err(syntax(secret_hint(key_pos)));
                    }
                    return Err(syntax(format!(
                        "missing closing quote for '{key}' (quote opened at position {open})"
                    )));
                }
                if chars[i] == '"' {
                    if i + 1 < n && chars[i + 1] == '"' {
                        v.push('"');
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                v.push(chars[i]);
                i += 1;
            }
            while i < n && is_blank(chars[i]) {
                i += 1;
            }
            if i < n && chars[i] != ';' {
                if after_secret {
                    return Err(syntax(secret_hint(key_pos)));
                }
                return Err(syntax(format!(
                    "unexpected text after the closing quote of '{key}' at position {} (missing ';'?)",
                    i + 1
                )));
            }
            v
        } else {
            let start = i;
            while i < n && chars[i] != ';' {
                i += 1;
            }
            chars[start..i]
                .iter()
                .collect::<String>()
                .trim_matches(is_blank)
                .to_string()
        };
        items.push(Property {
            key,
            value: Some(value),
            pos: key_pos,
        });
    }
    Ok(items)
}

/// Whether the last item parsed is a secret (its successor may be a fragment of it).
pub fn follows_secret(items: &[Property], secrets: &[&str]) -> bool {
    items
        .last()
        .is_some_and(|p| secrets.iter().any(|s| s.eq_ignore_ascii_case(&p.key)))
}

/// The message for text after a secret that does not parse: no quote of it.
pub fn secret_hint(pos: usize) -> String {
    format!(
        "the text at position {pos}, after a password, is not a property \
         (a value containing ';', '\"' or blanks must be in double quotes, with \"\" for a quote)"
    )
}

/// docs/contract.md §2 booleans: true/false, yes/no, 1/0, *YES/*NO, any case.
pub fn parse_bool(key: &str, value: Option<&str>) -> Result<bool> {
    // A bare flag (`checkMail`) means true.
    let Some(v) = value else { return Ok(true) };
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "*yes" => Ok(true),
        "false" | "no" | "0" | "*no" => Ok(false),
        _ => Err(Error::new(
            LnccmdStatus::BadValue,
            format!(
                "'{key}' must be true or false (also yes/no, 1/0, *YES/*NO), not '{}'",
                printable(v)
            ),
        )),
    }
}

/// An unsigned number within `min..=max`, named `key` in the error.
pub fn parse_number(key: &str, value: Option<&str>, min: u32, max: u32) -> Result<u32> {
    let v = value.unwrap_or("");
    match v.parse::<u32>() {
        Ok(x) if (min..=max).contains(&x) && !v.starts_with('+') => Ok(x),
        _ => Err(Error::new(
            LnccmdStatus::BadValue,
            format!(
                "'{key}' must be a whole number from {min} to {max}, not '{}'",
                printable(v)
            ),
        )),
    }
}

/// One entry of an address list: optional display name and the addr-spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressEntry {
    pub name: Option<String>,
    pub addr: String,
}

/// Splits an address list (docs/contract.md §3): entries separated by `;` or `,` outside
/// double quotes and angle brackets; each `addr`, `<addr>` or
/// `Display Name <addr>` with the name optionally quoted. Empty entries are
/// ignored. Control characters anywhere are refused (header injection); the
/// addr-spec itself is checked later by the session (lettre's `Address`).
pub fn parse_address_list(input: &str) -> Result<Vec<AddressEntry>> {
    // Control characters anywhere; word lengths per entry (lettre folds a
    // list between its addresses, so "a@x;b@x;..." is no single word).
    check_controls("address list", input)?;
    let mut entries = Vec::new();
    let mut current = String::new();
    let mut in_quotes = false;
    let mut in_angle = false;
    let mut escaped = false;
    let mut start_pos = 1;
    for (idx, c) in input.chars().enumerate() {
        if escaped {
            // The character after `\` in quotes is itself (quoted-pair,
            // RFC 5322 §3.2.1): `"5\" floppy"` is one name.
            escaped = false;
            current.push(c);
            continue;
        }
        match c {
            '\\' if in_quotes => escaped = true,
            '"' if !in_angle => in_quotes = !in_quotes,
            '<' if !in_quotes => in_angle = true,
            '>' if !in_quotes => in_angle = false,
            ';' | ',' if !in_quotes && !in_angle => {
                if let Some(e) = parse_address_entry(&current, start_pos)? {
                    entries.push(e);
                }
                current.clear();
                start_pos = idx + 2;
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if in_quotes {
        return Err(Error::new(
            LnccmdStatus::BadAddress,
            format!(
                "missing closing quote in address list '{}'",
                printable(input)
            ),
        ));
    }
    if let Some(e) = parse_address_entry(&current, start_pos)? {
        entries.push(e);
    }
    Ok(entries)
}

/// Parses exactly one address (Sender, reply): the same syntax as a list entry.
pub fn parse_single_address(key: &str, input: &str) -> Result<AddressEntry> {
    let mut list = parse_address_list(input)?;
    match list.len() {
        1 => Ok(list.remove(0)),
        0 => Err(Error::new(
            LnccmdStatus::BadAddress,
            format!("'{key}' is empty"),
        )),
        k => Err(Error::new(
            LnccmdStatus::BadAddress,
            format!(
                "'{key}' must be one address, found {k} in '{}'",
                printable(input)
            ),
        )),
    }
}

fn parse_address_entry(raw: &str, pos: usize) -> Result<Option<AddressEntry>> {
    let entry = raw.trim_matches(is_blank);
    let pos = pos + raw.chars().take_while(|c| is_blank(*c)).count();
    if entry.is_empty() {
        return Ok(None);
    }
    check_words(&format!("the address at position {pos}"), entry)?;
    let bad = |why: &str| {
        Error::new(
            LnccmdStatus::BadAddress,
            format!("address '{}' (position {pos}): {why}", printable(entry)),
        )
    };
    // Find '<' outside the quoted display name.
    let mut in_quotes = false;
    let mut escaped = false;
    let mut lt = None;
    for (i, c) in entry.char_indices() {
        if std::mem::take(&mut escaped) {
            continue;
        }
        match c {
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            '<' if !in_quotes => {
                lt = Some(i);
                break;
            }
            _ => {}
        }
    }
    let (name, addr) = match lt {
        None => (None, entry),
        Some(lt) => {
            let rest = &entry[lt + 1..];
            let Some(gt) = rest.find('>') else {
                return Err(bad("missing '>'"));
            };
            if !rest[gt + 1..].trim_matches(is_blank).is_empty() {
                return Err(bad("text after '>'"));
            }
            let name = unquote_name(entry[..lt].trim_matches(is_blank));
            (
                if name.is_empty() { None } else { Some(name) },
                rest[..gt].trim_matches(is_blank),
            )
        }
    };
    if addr.is_empty() {
        return Err(bad("no address"));
    }
    if addr
        .chars()
        .any(|c| is_blank(c) || matches!(c, '<' | '>' | '"'))
        && !addr.starts_with('"')
    {
        return Err(bad("blanks, quotes or angle brackets inside the address"));
    }
    match addr.rfind('@') {
        Some(at) if at > 0 && at + 1 < addr.len() => {}
        _ => return Err(bad("an address needs the form local-part@domain")),
    }
    Ok(Some(AddressEntry {
        name,
        addr: addr.to_string(),
    }))
}

/// `"Doe, John"` -> `Doe, John`; a quoted-pair (`\"`, `\\`, RFC 5322
/// §3.2.1) is the character after the `\`, and `""` (LAUNCHER's doubled
/// quote) is one `"`.
fn unquote_name(name: &str) -> String {
    let Some(inner) = name
        .strip_prefix('"')
        .and_then(|n| n.strip_suffix('"'))
        .filter(|_| name.len() >= 2)
    else {
        return name.to_string();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            '"' => {
                out.push('"');
                // `""`: the second quote is the same character.
                if chars.clone().next() == Some('"') {
                    chars.next();
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// A DNS name: dot-separated labels of letters, digits, '-' and '_', each
/// 1..63 long, 253 in all (Server, DKIMDomain, DKIMSelector).
pub fn is_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

/// Refuses control characters (CR, LF, NUL and the other C0 controls except
/// TAB, and DEL) in a value that will end up in a header: docs/contract.md §5, header
/// injection. `what` names the value in the error.
pub fn check_header_text(what: &str, value: &str) -> Result<()> {
    check_controls(what, value)?;
    check_words(what, value)
}

/// The control-character half of `check_header_text`, alone for values
/// that are not written in a header (file paths, host names): they must
/// not carry line breaks either, but may be long.
pub fn check_controls(what: &str, value: &str) -> Result<()> {
    if let Some((i, c)) = value
        .chars()
        .enumerate()
        .find(|(_, c)| (c.is_control() && *c != '\t') || *c == '\u{2028}' || *c == '\u{2029}')
    {
        return Err(Error::new(
            LnccmdStatus::HeaderInjection,
            format!(
                "{what} contains {} (a header value cannot hold line breaks or control characters)",
                describe_char(c, i + 1)
            ),
        ));
    }
    Ok(())
}

/// The line-length half of `check_header_text`.
fn check_words(what: &str, value: &str) -> Result<()> {
    // A header line can be folded only at a blank, and must stay under 998
    // octets (RFC 5322 §2.1.1): a long run of ASCII without a blank cannot
    // be written. (Non-ASCII text becomes encoded-words, which fold.)
    let longest = value
        .split([' ', '\t'])
        .filter(|w| w.is_ascii())
        .map(str::len)
        .max()
        .unwrap_or(0);
    if longest > MAX_HEADER_WORD {
        return Err(Error::new(
            LnccmdStatus::BadValue,
            format!(
                "{what} has a word of {longest} characters without a blank; a header line \
                 cannot exceed 998 octets (at most {MAX_HEADER_WORD} characters per word)"
            ),
        ));
    }
    Ok(())
}

/// Longest ASCII word (run without a blank) a header value may hold.
pub(crate) const MAX_HEADER_WORD: usize = 900;

/// "CR (U+000D) at position 12"
pub fn describe_char(c: char, pos: usize) -> String {
    let name = match c {
        '\r' => "CR ",
        '\n' => "LF ",
        '\0' => "NUL ",
        '\t' => "TAB ",
        _ => "",
    };
    if c.is_control() {
        format!("{name}(U+{:04X}) at position {pos}", c as u32)
    } else {
        format!("'{c}' (U+{:04X}) at position {pos}", c as u32)
    }
}

/// A value made safe to quote in a message: control characters escaped and
/// cut at 60 characters, so RESULT stays one readable line.
/// Unicode's bidirectional formatting characters (UAX #9): shown, they
/// reorder the text around them, so `facture\u{202E}fdp.exe` reads as
/// `factureexe.pdf`. Escaped in RESULT, refused in attachment names.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

pub fn printable(s: &str) -> String {
    escape_controls(s, 60)
}

/// Text from elsewhere (a server's reply) made safe for RESULT and the log:
/// control characters escaped, cut at `max` characters.
pub fn escape_controls(s: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        match c {
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() || is_bidi_control(c) => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(s: &str) -> Vec<(String, Option<String>)> {
        parse_properties(s)
            .unwrap()
            .into_iter()
            .map(|p| (p.key, p.value))
            .collect()
    }
    fn p(k: &str, v: &str) -> (String, Option<String>) {
        (k.into(), Some(v.into()))
    }
    fn err(s: &str) -> Error {
        parse_properties(s).unwrap_err()
    }

    #[test]
    fn vendor_example_parses() {
        let v = kv(
            r#"SERVER="SMTP.AURA.FR";SENDER="TECH@EASYCOM-AURA.COM";REPLY="TECH@EASYCOM-AURA.COM";logfile="c:\temp\logaurasmtp.txt""#,
        );
        assert_eq!(
            v,
            vec![
                p("SERVER", "SMTP.AURA.FR"),
                p("SENDER", "TECH@EASYCOM-AURA.COM"),
                p("REPLY", "TECH@EASYCOM-AURA.COM"),
                p("logfile", r"c:\temp\logaurasmtp.txt"),
            ]
        );
    }

    #[test]
    fn blanks_everywhere_are_ignored() {
        assert_eq!(
            kv("  checkMail= true ; \t port =\t25\t;"),
            vec![p("checkMail", "true"), p("port", "25")]
        );
        assert_eq!(
            kv(r#" subject =  "  kept inside  "  "#),
            vec![p("subject", "  kept inside  ")]
        );
        assert_eq!(kv("   "), vec![]);
        assert_eq!(kv(""), vec![]);
    }

    #[test]
    fn empty_items_are_ignored() {
        assert_eq!(kv(";;a=1;; ;b=2;"), vec![p("a", "1"), p("b", "2")]);
    }

    #[test]
    fn quoted_values_keep_semicolons_and_doubled_quotes() {
        assert_eq!(
            kv(r#"subject="a;b";x=1"#),
            vec![p("subject", "a;b"), p("x", "1")]
        );
        assert_eq!(
            kv(r#"subject="say ""hi"" now""#),
            vec![p("subject", r#"say "hi" now"#)]
        );
        assert_eq!(kv(r#"subject="""#), vec![p("subject", "")]);
        assert_eq!(kv("subject=\"\"\"\"\"\""), vec![p("subject", "\"\"")]);
    }

    #[test]
    fn unquoted_value_runs_to_semicolon_and_keeps_inner_quotes() {
        assert_eq!(
            kv(r#"password=ab"c d;x=1"#),
            vec![p("password", r#"ab"c d"#), p("x", "1")]
        );
        assert_eq!(kv("a=b=c"), vec![p("a", "b=c")]);
    }

    #[test]
    fn empty_value_and_bare_flags() {
        assert_eq!(
            kv("reply=;report; inline "),
            vec![
                p("reply", ""),
                ("report".into(), None),
                ("inline".into(), None)
            ]
        );
    }

    #[test]
    fn duplicate_keys_are_all_returned_in_order_so_last_wins() {
        let v = kv("port=25;PORT=587");
        assert_eq!(v, vec![p("port", "25"), p("PORT", "587")]);
    }

    #[test]
    fn unterminated_quote_names_key_and_position() {
        let e = err(r#"Server="smtp.example.com;Sender=a@b"#);
        assert_eq!(e.status, LnccmdStatus::PropertySyntax);
        assert!(
            e.detail.contains("'Server'") && e.detail.contains("position 8"),
            "{}",
            e.detail
        );
    }

    #[test]
    fn equals_with_no_key() {
        let e = err("a=1; =2");
        assert_eq!(e.status, LnccmdStatus::PropertySyntax);
        assert!(e.detail.contains("position 6"), "{}", e.detail);
        assert_eq!(err("=").status, LnccmdStatus::PropertySyntax);
    }

    #[test]
    fn text_after_closing_quote() {
        let e = err(r#"subject="a" b;x=1"#);
        assert_eq!(e.status, LnccmdStatus::PropertySyntax);
        assert!(
            e.detail.contains("'subject'") && e.detail.contains("position 13"),
            "{}",
            e.detail
        );
    }

    #[test]
    fn key_with_blank_inside_is_refused() {
        // Missing ';' between a flag and the next key.
        let e = err("report subject=x");
        assert_eq!(e.status, LnccmdStatus::PropertySyntax);
        assert!(e.detail.contains("'report subject'"), "{}", e.detail);
        assert_eq!(err(r#""Server"=x"#).status, LnccmdStatus::PropertySyntax);
    }

    #[test]
    fn non_ascii_positions_count_characters() {
        let e = err("subject=é;=x");
        assert!(e.detail.contains("position 11"), "{}", e.detail);
    }

    #[test]
    fn text_after_a_secret_is_never_quoted() {
        for input in [
            "password=Sup3r;Secr et",
            "password=Sup3r\"Sec;ret\"",
            "password=Pa=ss;wo rd",
            "password=ab;\"cd",
            "password=ab;cd=\"ef\" gh",
        ] {
            let e = parse_properties_with_secrets(input, &["password"]).unwrap_err();
            assert_eq!(e.status, LnccmdStatus::PropertySyntax, "{input}");
            for fragment in ["Secr", "ret", "wo rd", "cd", "gh"] {
                assert!(!e.detail.contains(fragment), "{input}: {}", e.detail);
            }
        }
    }

    #[test]
    fn booleans() {
        for t in ["true", "TRUE", "yes", "Yes", "1", "*YES", "*yes"] {
            assert!(parse_bool("k", Some(t)).unwrap(), "{t}");
        }
        for f in ["false", "False", "no", "NO", "0", "*NO"] {
            assert!(!parse_bool("k", Some(f)).unwrap(), "{f}");
        }
        assert!(parse_bool("k", None).unwrap());
        let e = parse_bool("enableSSL", Some("oui")).unwrap_err();
        assert_eq!(e.status, LnccmdStatus::BadValue);
        assert!(e.detail.contains("'enableSSL'") && e.detail.contains("'oui'"));
        assert_eq!(
            parse_bool("k", Some("")).unwrap_err().status,
            LnccmdStatus::BadValue
        );
        assert_eq!(
            parse_bool("k", Some("2")).unwrap_err().status,
            LnccmdStatus::BadValue
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number("port", Some("25"), 1, 65535).unwrap(), 25);
        assert_eq!(
            parse_number("port", Some("65535"), 1, 65535).unwrap(),
            65535
        );
        for bad in ["0", "65536", "-1", "+25", "2 5", "", "x", "99999999999"] {
            let e = parse_number("port", Some(bad), 1, 65535).unwrap_err();
            assert_eq!(e.status, LnccmdStatus::BadValue, "{bad}");
            assert!(e.detail.contains("'port'"));
        }
        assert!(parse_number("port", None, 1, 65535).is_err());
    }

    fn addrs(s: &str) -> Vec<(Option<String>, String)> {
        parse_address_list(s)
            .unwrap()
            .into_iter()
            .map(|e| (e.name, e.addr))
            .collect()
    }
    fn a(n: Option<&str>, addr: &str) -> (Option<String>, String) {
        (n.map(Into::into), addr.into())
    }

    #[test]
    fn address_forms() {
        assert_eq!(
            addrs("a@x.test; <b@x.test>;Bob Smith <c@x.test> ; \"Doe, Jane\" <d@x.test>"),
            vec![
                a(None, "a@x.test"),
                a(None, "b@x.test"),
                a(Some("Bob Smith"), "c@x.test"),
                a(Some("Doe, Jane"), "d@x.test")
            ]
        );
    }

    #[test]
    fn address_separators_and_empty_entries() {
        assert_eq!(
            addrs("a@x.test,b@x.test;;  ; c@x.test;"),
            vec![
                a(None, "a@x.test"),
                a(None, "b@x.test"),
                a(None, "c@x.test")
            ]
        );
        assert_eq!(addrs(""), vec![]);
        assert_eq!(addrs(" ; , "), vec![]);
    }

    #[test]
    fn quoted_pairs_in_names_and_local_parts() {
        assert_eq!(
            addrs(
                r#""5\" floppy" <a@x.test>; "He said \"hi\"" <b@x.test>, "back\\slash" <c@x.test>"#
            ),
            vec![
                a(Some(r#"5" floppy"#), "a@x.test"),
                a(Some(r#"He said "hi""#), "b@x.test"),
                a(Some(r"back\slash"), "c@x.test"),
            ]
        );
        assert_eq!(
            addrs(r#""\""@iana.org; "first\"last"@iana.org; "a;b\" c" <d@x.test>"#),
            vec![
                a(None, r#""\""@iana.org"#),
                a(None, r#""first\"last"@iana.org"#),
                a(Some(r#"a;b" c"#), "d@x.test"),
            ]
        );
    }

    #[test]
    fn address_non_ascii_names_and_escaped_quotes() {
        assert_eq!(
            addrs("Zoé Ünïcode <z@x.test>"),
            vec![a(Some("Zoé Ünïcode"), "z@x.test")]
        );
        assert_eq!(
            addrs(r#""The ""Boss""" <b@x.test>"#),
            vec![a(Some(r#"The "Boss""#), "b@x.test")]
        );
    }

    #[test]
    fn malformed_addresses() {
        for bad in [
            "plainword",
            "@x.test",
            "a@",
            "Bob <b@x.test",
            "Bob <b@x.test> extra",
            "<>",
            "a b@x.test",
            "\"Bob <b@x.test>",
        ] {
            let e = parse_address_list(bad).unwrap_err();
            assert_eq!(e.status, LnccmdStatus::BadAddress, "{bad}: {}", e.detail);
        }
        let e = parse_address_list("ok@x.test; nope").unwrap_err();
        assert!(
            e.detail.contains("'nope'") && e.detail.contains("position 12"),
            "{}",
            e.detail
        );
    }

    #[test]
    fn a_long_list_without_blanks_is_fine_but_not_a_long_entry() {
        let list: Vec<String> = (0..1000).map(|i| format!("r{i}@example.test")).collect();
        assert_eq!(parse_address_list(&list.join(";")).unwrap().len(), 1000);
        assert_eq!(parse_address_list(&list.join(",")).unwrap().len(), 1000);
        let e = parse_address_list(&format!("\"{}\" <a@x.test>", "d".repeat(1200))).unwrap_err();
        assert_eq!(e.status, LnccmdStatus::BadValue);
    }

    #[test]
    fn address_with_line_break_is_injection() {
        let e = parse_address_list("a@x.test\r\nBcc: evil@x.test").unwrap_err();
        assert_eq!(e.status, LnccmdStatus::HeaderInjection);
        assert!(
            e.detail.contains("CR (U+000D) at position 9"),
            "{}",
            e.detail
        );
    }

    #[test]
    fn single_address() {
        assert_eq!(
            parse_single_address("Sender", "Tech <t@x.test>")
                .unwrap()
                .addr,
            "t@x.test"
        );
        assert_eq!(
            parse_single_address("Sender", "a@x.test;b@x.test")
                .unwrap_err()
                .status,
            LnccmdStatus::BadAddress
        );
        assert_eq!(
            parse_single_address("Sender", " ").unwrap_err().status,
            LnccmdStatus::BadAddress
        );
    }

    #[test]
    fn header_text_check() {
        assert!(check_header_text("subject", "Tab\tis fine, é too").is_ok());
        for (s, what) in [
            ("a\rb", "CR"),
            ("a\nb", "LF"),
            ("a\0b", "NUL"),
            ("a\u{7f}", "U+007F"),
            ("a\u{2028}", "U+2028"),
        ] {
            let e = check_header_text("subject", s).unwrap_err();
            assert_eq!(e.status, LnccmdStatus::HeaderInjection);
            assert!(e.detail.contains(what), "{}", e.detail);
        }
    }

    #[test]
    fn header_words_must_fit_a_line() {
        assert!(check_header_text("subject", &"a".repeat(900)).is_ok());
        assert!(
            check_header_text(
                "subject",
                &format!("{} {}", "a".repeat(900), "b".repeat(900))
            )
            .is_ok()
        );
        let e = check_header_text("subject", &"a".repeat(901)).unwrap_err();
        assert_eq!(e.status, LnccmdStatus::BadValue);
        assert!(e.detail.contains("901 characters"), "{}", e.detail);
        assert!(
            check_header_text("subject", &"é".repeat(2000)).is_ok(),
            "encoded-words fold"
        );
    }

    #[test]
    fn printable_escapes_and_cuts() {
        assert_eq!(printable("a\r\nb"), "a\\r\\nb");
        assert_eq!(printable(&"x".repeat(100)).chars().count(), 61);
    }
}
