//! Charsets (docs/contract.md §1.2, §5): decoding the caller's bytes (`InputCharset`) and
//! encoding the text and HTML parts (MAILPREP `charset=`).
//!
//! encoding_rs does every WHATWG charset. Where no crate fits, the code is
//! here and small: UTF-7 (RFC 2152; encoding_rs refuses it on purpose),
//! UTF-16 and UTF-32 output with a byte-order mark (as .NET's Unicode and
//! UTF32 encodings write them), IBM's CCSID numbers (a table to WHATWG
//! names) and EBCDIC (src/ebcdic.rs).

use encoding_rs::{Encoding, UTF_8};

use crate::ebcdic;
use crate::error::{Error, LnccmdStatus, Result};
use crate::props::{describe_char, printable};

/// The charset of the caller's bytes (MAILSMTP `InputCharset`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputCharset {
    Whatwg(&'static Encoding),
    Ebcdic(&'static ebcdic::Table),
}

impl InputCharset {
    pub const UTF8: InputCharset = InputCharset::Whatwg(UTF_8);
}

/// IBM CCSIDs that are a WHATWG charset, with the WHATWG label: a table
/// here because no crate maps IBM's CCSID numbers (from IBM's CDRA
/// registry) to charsets; encoding_rs then does the decoding. 819 and 920
/// are read as windows-1252 and windows-1254, which WHATWG gives for
/// ISO-8859-1 and ISO-8859-9 (they agree on every printable character);
/// 1200 and 13488 are UTF-16 big-endian, as on IBM i (1202 is the
/// little-endian one); 5346 to 5354 are 1250 to 1258 with the euro sign,
/// which the windows-125x charsets have.
const CCSID_WHATWG: &[(u16, &str)] = &[
    (813, "ISO-8859-7"),
    (819, "ISO-8859-1"),
    (866, "IBM866"),
    (878, "KOI8-R"),
    (912, "ISO-8859-2"),
    (913, "ISO-8859-3"),
    (914, "ISO-8859-4"),
    (915, "ISO-8859-5"),
    (916, "ISO-8859-8"),
    (920, "ISO-8859-9"),
    (923, "ISO-8859-15"),
    (943, "Shift_JIS"),
    (954, "EUC-JP"),
    (970, "EUC-KR"),
    (1089, "ISO-8859-6"),
    (1168, "KOI8-U"),
    (1200, "UTF-16BE"),
    (1202, "UTF-16LE"),
    (1208, "UTF-8"),
    (1250, "windows-1250"),
    (1251, "windows-1251"),
    (1252, "windows-1252"),
    (1253, "windows-1253"),
    (1254, "windows-1254"),
    (1255, "windows-1255"),
    (1256, "windows-1256"),
    (1257, "windows-1257"),
    (1258, "windows-1258"),
    (1386, "GBK"),
    (1392, "gb18030"),
    (5346, "windows-1250"),
    (5347, "windows-1251"),
    (5348, "windows-1252"),
    (5349, "windows-1253"),
    (5350, "windows-1254"),
    (5351, "windows-1255"),
    (5352, "windows-1256"),
    (5353, "windows-1257"),
    (5354, "windows-1258"),
    (13488, "UTF-16BE"),
];

/// A CCSID as IBM i people write it: `297`, `IBM297`, `IBM-297`, `CP297`,
/// `CCSID297` (case-insensitive). `None` when the label is not a number.
fn ccsid_number(label: &str) -> Option<u16> {
    let t = label.trim();
    let upper = t.to_ascii_uppercase();
    let digits = ["CCSID", "IBM", "CP"]
        .iter()
        .find_map(|p| upper.strip_prefix(p))
        .map(|r| r.strip_prefix(['-', '_']).unwrap_or(r))
        .unwrap_or(&upper);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Too many digits for a CCSID: a number no table has.
    Some(digits.parse().unwrap_or(u16::MAX))
}

/// What a CCSID number means: a WHATWG charset or an EBCDIC table.
fn ccsid_charset(ccsid: u16) -> Option<InputCharset> {
    if let Some(t) = ebcdic::by_ccsid(ccsid) {
        return Some(InputCharset::Ebcdic(t));
    }
    CCSID_WHATWG
        .iter()
        .find(|(n, _)| *n == ccsid)
        .and_then(|(_, label)| Encoding::for_label(label.as_bytes()))
        .map(InputCharset::Whatwg)
}

/// Looks up an input charset: a CCSID (`297`, `IBM297`, `CP1208`...) or a WHATWG label.
pub fn input_charset(label: &str) -> Option<InputCharset> {
    match ccsid_number(label) {
        Some(n) => ccsid_charset(n),
        None => Encoding::for_label(label.trim().as_bytes()).map(InputCharset::Whatwg),
    }
}

/// `InputCharset`'s value, or the error naming what it accepts.
pub fn parse_input_charset(label: &str) -> Result<InputCharset> {
    input_charset(label).ok_or_else(|| {
        let detail = match ccsid_number(label) {
            Some(_) => format!(
                "'InputCharset' names CCSID '{}', which lnccmd does not know (EBCDIC: {}; others: 1208, 1200, 819, 923, 1252...; see MAILSMTP's page)",
                printable(label.trim()),
                ebcdic::ccsids()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            None => format!(
                "'InputCharset' names no known charset: '{}' (use a CCSID such as 1208, 1252, 297, or a WHATWG label such as UTF-8, windows-1252, ISO-8859-15)",
                printable(label)
            ),
        };
        Error::new(LnccmdStatus::BadValue, detail)
    })
}

/// Blanks and NULs around a field (docs/contract.md §1.2): leading blanks, trailing blanks and NULs.
pub fn trim_field(s: &str) -> &str {
    s.trim_end_matches([' ', '\t', '\0'])
        .trim_start_matches([' ', '\t'])
}

/// A parameter as the commands see it: decoded from the input charset, then trimmed.
pub fn decode_param(which: &str, bytes: &[u8], cs: InputCharset) -> Result<String> {
    Ok(trim_field(&decode_input(which, bytes, cs)?).to_string())
}

/// Decodes a parameter from the input charset, strictly: bytes that are not
/// valid in it are an error naming the offset, never replaced. `which` names
/// the parameter.
pub fn decode_input(which: &str, bytes: &[u8], cs: InputCharset) -> Result<String> {
    let enc = match cs {
        InputCharset::Ebcdic(table) => return table.decode(which, bytes),
        InputCharset::Whatwg(enc) => enc,
    };
    if enc == UTF_8 {
        return match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_string()),
            Err(e) => Err(bad_input(which, enc, e.valid_up_to())),
        };
    }
    let mut decoder = enc.new_decoder_without_bom_handling();
    let mut out = String::with_capacity(
        decoder
            .max_utf8_buffer_length_without_replacement(bytes.len())
            .unwrap_or(bytes.len() * 3),
    );
    match decoder.decode_to_string_without_replacement(bytes, &mut out, true) {
        (encoding_rs::DecoderResult::InputEmpty, _) => Ok(out),
        (encoding_rs::DecoderResult::Malformed(bad, pushback), read) => {
            // `read` is past the bad sequence and the bytes pushed back after it.
            let at = read - usize::from(bad) - usize::from(pushback);
            Err(bad_input(which, enc, at))
        }
        (encoding_rs::DecoderResult::OutputFull, _) => Err(Error::new(
            LnccmdStatus::Internal,
            format!("{which}: decoding buffer too small"),
        )),
    }
}

/// The byte's value is not shown: PARM1 of MAILSMTP may hold a password.
fn bad_input(which: &str, enc: &'static Encoding, at: usize) -> Error {
    let hint = if enc == UTF_8 {
        "; set InputCharset in MAILSMTP for other charsets"
    } else {
        ""
    };
    Error::new(
        LnccmdStatus::BadInputCharset,
        format!(
            "{which} is not valid {} (bad byte at offset {at}){hint}",
            enc.name()
        ),
    )
}

/// Finds MAILSMTP's own `InputCharset=` in raw bytes, so PARM1 can be decoded
/// with the charset it names. The property string is ASCII in every charset
/// that encoding_rs reads except UTF-16, which is tried too, and EBCDIC's
/// invariant characters in every EBCDIC CCSID, which are tried last. A
/// charset counts only when it is of the family the text was read in.
pub fn sniff_input_charset(parm1: &[u8]) -> Result<InputCharset> {
    #[derive(PartialEq)]
    enum Family {
        Ascii,
        Utf16,
        Ebcdic,
    }
    let family_of = |cs: InputCharset| match cs {
        InputCharset::Whatwg(e) if e == encoding_rs::UTF_16LE || e == encoding_rs::UTF_16BE => {
            Family::Utf16
        }
        InputCharset::Whatwg(_) => Family::Ascii,
        InputCharset::Ebcdic(_) => Family::Ebcdic,
    };
    let mut readings = vec![(Family::Ascii, String::from_utf8_lossy(parm1).into_owned())];
    if parm1.contains(&0) {
        for enc in [encoding_rs::UTF_16LE, encoding_rs::UTF_16BE] {
            let text = enc.decode_without_bom_handling(parm1).0.into_owned();
            readings.push((Family::Utf16, text));
        }
    }
    readings.push((Family::Ebcdic, ebcdic::decode_invariant(parm1)));
    for (family, text) in readings {
        let Some(label) = find_property(&text, "InputCharset") else {
            continue;
        };
        let cs = parse_input_charset(&label)?;
        if family_of(cs) == family {
            return Ok(cs);
        }
    }
    Ok(InputCharset::UTF8)
}

/// The value of `key` in a property string, by the real parser; `None` when
/// absent or when the string does not parse (the caller reports that later).
fn find_property(text: &str, key: &str) -> Option<String> {
    let text = text.trim_matches(['\0', ' ', '\t']);
    crate::props::parse_properties(text)
        .ok()?
        .into_iter()
        .rev()
        .find(|p| p.key.eq_ignore_ascii_case(key))
        .and_then(|p| p.value)
}

/// Charset of the text and HTML parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyCharset {
    Utf8,
    Ascii,
    /// RFC 2152.
    Utf7,
    /// .NET's "Unicode": UTF-16 little-endian with a byte-order mark.
    Utf16,
    /// UTF-32 little-endian with a byte-order mark.
    Utf32,
    /// Any other WHATWG charset (windows-1252, ISO-8859-15, Shift_JIS...).
    Whatwg(&'static Encoding),
}

/// How a part's bytes are carried (lettre encodes to match).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transfer {
    /// 7-bit text: lettre picks 7bit or quoted-printable by line length.
    Text,
    QuotedPrintable,
    Base64,
}

impl BodyCharset {
    /// MAILPREP `charset=` value: UTF-8, ASCII, UTF-7, UTF-32, Unicode, or a WHATWG label.
    pub fn parse(label: &str) -> Result<BodyCharset> {
        let upper = label.trim().to_ascii_uppercase();
        Ok(match upper.as_str() {
            "UTF-8" | "UTF8" => BodyCharset::Utf8,
            "ASCII" | "US-ASCII" => BodyCharset::Ascii,
            "UTF-7" | "UTF7" => BodyCharset::Utf7,
            "UNICODE" | "UTF-16" | "UTF16" | "UTF-16LE" => BodyCharset::Utf16,
            "UTF-32" | "UTF32" | "UTF-32LE" => BodyCharset::Utf32,
            _ => match input_charset(label) {
                // A mail reader shows no EBCDIC: the text is converted from
                // InputCharset already, so the mail can go in UTF-8.
                Some(InputCharset::Ebcdic(t)) => {
                    return Err(Error::new(
                        LnccmdStatus::BadValue,
                        format!(
                            "charset '{}' is EBCDIC (CCSID {}), which mail readers cannot show: use charset=UTF-8 (the text is read with InputCharset; the mail's charset is separate)",
                            printable(label),
                            t.ccsid
                        ),
                    ));
                }
                None if ccsid_number(label).is_some() => {
                    return Err(Error::new(
                        LnccmdStatus::BadValue,
                        format!(
                            "charset '{}' is a CCSID lnccmd does not know (1208, 1252, 923, 819, 1250...: see MAILPREP's page)",
                            printable(label)
                        ),
                    ));
                }
                Some(InputCharset::Whatwg(enc)) if enc == UTF_8 => BodyCharset::Utf8,
                // ucs-2, csUnicode, unicodefeff... are WHATWG labels of UTF-16LE.
                // ucs-2, csUnicode, unicodefeff... are WHATWG labels of UTF-16LE.
                Some(InputCharset::Whatwg(enc)) if enc == encoding_rs::UTF_16LE => {
                    BodyCharset::Utf16
                }
                // CCSIDs 1200 and 13488: UTF-16, written little-endian with a
                // byte-order mark like "Unicode" (the mark tells readers the order).
                Some(InputCharset::Whatwg(enc))
                    if enc == encoding_rs::UTF_16BE && ccsid_number(label).is_some() =>
                {
                    BodyCharset::Utf16
                }
                // encoding_rs only decodes these (it would write UTF-8 for them).
                Some(InputCharset::Whatwg(enc)) if enc.output_encoding() != enc => {
                    return Err(Error::new(
                        LnccmdStatus::BadValue,
                        format!(
                            "charset '{}' cannot be used for a message",
                            printable(label)
                        ),
                    ));
                }
                Some(InputCharset::Whatwg(enc)) => BodyCharset::Whatwg(enc),
                None => {
                    return Err(Error::new(
                        LnccmdStatus::BadValue,
                        format!(
                            "charset '{}' is not known (UTF-8, ASCII, UTF-7, UTF-32, Unicode, or a label such as ISO-8859-1, windows-1252)",
                            printable(label)
                        ),
                    ));
                }
            },
        })
    }

    /// The MIME `charset=` parameter.
    pub fn mime_name(self) -> &'static str {
        match self {
            BodyCharset::Utf8 => "utf-8",
            BodyCharset::Ascii => "us-ascii",
            BodyCharset::Utf7 => "utf-7",
            BodyCharset::Utf16 => "utf-16",
            BodyCharset::Utf32 => "utf-32",
            // The encoding's own name: the label ISO-8859-1 means
            // windows-1252 in WHATWG, and the bytes are windows-1252.
            BodyCharset::Whatwg(enc) => enc.name(),
        }
    }

    /// Checks that every character of `text` fits; `what` names the text.
    pub fn check(self, what: &str, text: &str) -> Result<()> {
        let bad = match self {
            BodyCharset::Ascii => text.chars().position(|c| !c.is_ascii()),
            BodyCharset::Whatwg(enc) => first_unmappable(enc, text),
            _ => None,
        };
        match bad {
            None => Ok(()),
            Some(i) => {
                let c = text.chars().nth(i).unwrap_or('?');
                Err(Error::new(
                    LnccmdStatus::CharsetCannotCarry,
                    format!(
                        "{what} contains {} which charset {} cannot carry (use charset=UTF-8)",
                        describe_char(c, i + 1),
                        self.mime_name()
                    ),
                ))
            }
        }
    }

    /// Encodes text whose line ends are LF into this charset. `Transfer::Text`
    /// output keeps LF (lettre writes each as CRLF); the others have CRLF
    /// already. The text has passed `check`.
    pub fn encode(self, text: &str) -> (Vec<u8>, Transfer) {
        let crlf = || text.replace('\n', "\r\n");
        match self {
            BodyCharset::Utf8 | BodyCharset::Ascii => (text.as_bytes().to_vec(), Transfer::Text),
            BodyCharset::Utf7 => (utf7_encode(text).into_bytes(), Transfer::Text),
            BodyCharset::Utf16 => {
                let mut out = vec![0xFF, 0xFE];
                out.extend(crlf().encode_utf16().flat_map(u16::to_le_bytes));
                (out, Transfer::Base64)
            }
            BodyCharset::Utf32 => {
                let mut out = vec![0xFF, 0xFE, 0, 0];
                out.extend(crlf().chars().flat_map(|c| (c as u32).to_le_bytes()));
                (out, Transfer::Base64)
            }
            BodyCharset::Whatwg(enc) => {
                let text = crlf();
                let bytes = enc.encode(&text).0.into_owned();
                let transfer = if enc.is_ascii_compatible() {
                    Transfer::QuotedPrintable
                } else {
                    Transfer::Base64
                };
                (bytes, transfer)
            }
        }
    }
}

/// Index (in characters) of the first character `enc` cannot encode.
fn first_unmappable(enc: &'static Encoding, text: &str) -> Option<usize> {
    let mut encoder = enc.new_encoder();
    let mut buf = vec![0u8; encoder.max_buffer_length_from_utf8_without_replacement(text.len())?];
    let (result, read, _) = encoder.encode_from_utf8_without_replacement(text, &mut buf, true);
    match result {
        encoding_rs::EncoderResult::Unmappable(_) => {
            // `read` is just past the unmappable character.
            let before = &text[..read];
            Some(before.chars().count() - 1)
        }
        _ => None,
    }
}

/// UTF-7 (RFC 2152). Set D characters, space, TAB, CR and LF are written as
/// themselves; everything else (Set O included, as .NET does by default) as
/// modified base64 of UTF-16 after `+`. `+` itself is `+-`. A run is closed
/// with `-` when the next character could be read as base64, or at the end.
pub fn utf7_encode(text: &str) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    fn direct(c: char) -> bool {
        c.is_ascii_alphanumeric() || "'(),-./:? \t\r\n".contains(c)
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if direct(c) {
            out.push(c);
            continue;
        }
        if c == '+' {
            out.push_str("+-");
            continue;
        }
        // A run of characters to encode.
        out.push('+');
        let mut bits: u32 = 0;
        let mut nbits = 0;
        let mut units = [0u16; 2];
        let mut cur = c;
        loop {
            for u in cur.encode_utf16(&mut units).iter() {
                bits = (bits << 16) | u32::from(*u);
                nbits += 16;
                while nbits >= 6 {
                    nbits -= 6;
                    out.push(B64[((bits >> nbits) & 0x3F) as usize] as char);
                }
                bits &= (1 << nbits) - 1;
            }
            match chars.peek() {
                Some(&n) if !direct(n) && n != '+' => {
                    cur = n;
                    chars.next();
                }
                _ => break,
            }
        }
        if nbits > 0 {
            out.push(B64[((bits << (6 - nbits)) & 0x3F) as usize] as char);
        }
        match chars.peek() {
            Some(&n) if n.is_ascii_alphanumeric() || n == '+' || n == '/' || n == '-' => {
                out.push('-')
            }
            None => out.push('-'),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf7_rfc2152_vectors() {
        // The examples of RFC 2152 section "Examples of UTF-7 Usage".
        assert_eq!(utf7_encode("A\u{2262}\u{0391}."), "A+ImIDkQ.");
        assert_eq!(utf7_encode("Hi Mom -\u{263A}-!"), "Hi Mom -+Jjo--+ACE-");
        assert_eq!(utf7_encode("\u{65E5}\u{672C}\u{8A9E}"), "+ZeVnLIqe-");
        assert_eq!(utf7_encode("Item 3 is \u{00A3}1."), "Item 3 is +AKM-1.");
        assert_eq!(utf7_encode("1 + 1 = 2"), "1 +- 1 +AD0 2");
        // Outside the BMP: a surrogate pair.
        assert_eq!(utf7_encode("\u{1F600}"), "+2D3eAA-");
        assert_eq!(utf7_encode("a\r\nb"), "a\r\nb");
    }

    #[test]
    fn utf7_round_trips_through_a_reference_decoder() {
        // Decoded by Python's codec where available: an independent implementation.
        let samples = [
            "Zoé déjà vu",
            "€ 10 + 5 = 15 !",
            "日本語 text",
            "x~y\\z",
            "😀 ok",
            "++--",
        ];
        let script = "import sys\nfor line in sys.stdin.read().split('\\x00'):\n    sys.stdout.write(line.encode('ascii').decode('utf-7') + '\\x00')\n";
        let input = samples
            .iter()
            .map(|s| utf7_encode(s))
            .collect::<Vec<_>>()
            .join("\0");
        let out = std::process::Command::new("python3")
            .args(["-c", script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(input.as_bytes())?;
                child.wait_with_output()
            })
            .expect("python3 is needed by the tests");
        let decoded = String::from_utf8(out.stdout).unwrap();
        let decoded: Vec<&str> = decoded.trim_end_matches('\0').split('\0').collect();
        assert_eq!(decoded, samples);
    }

    #[test]
    fn utf16_and_utf32_have_a_bom_and_crlf() {
        let (b, t) = BodyCharset::Utf16.encode("é\n");
        assert_eq!(b, [0xFF, 0xFE, 0xE9, 0, b'\r', 0, b'\n', 0]);
        assert_eq!(t, Transfer::Base64);
        let (b, _) = BodyCharset::Utf32.encode("😀");
        assert_eq!(b, [0xFF, 0xFE, 0, 0, 0x00, 0xF6, 0x01, 0x00]);
    }

    #[test]
    fn whatwg_charsets() {
        let cs = BodyCharset::parse("ISO-8859-1").unwrap();
        assert_eq!(cs.mime_name(), "windows-1252");
        assert_eq!(cs.encode("é€\n").0, [0xE9, 0x80, b'\r', b'\n']);
        let cs = BodyCharset::parse("iso-8859-15").unwrap();
        assert_eq!(cs.mime_name(), "ISO-8859-15");
        let e = cs.check("the text", "ok ☃").unwrap_err();
        assert_eq!(e.status, LnccmdStatus::CharsetCannotCarry);
        assert!(
            e.detail.contains("'☃' (U+2603) at position 4"),
            "{}",
            e.detail
        );
        assert!(cs.check("the text", "Zoé €").is_ok());
        assert_eq!(BodyCharset::parse("Unicode").unwrap(), BodyCharset::Utf16);
        assert_eq!(BodyCharset::parse("utf-8").unwrap(), BodyCharset::Utf8);
        assert_eq!(
            BodyCharset::parse("klingon").unwrap_err().status,
            LnccmdStatus::BadValue
        );
        assert_eq!(
            BodyCharset::parse("replacement").unwrap_err().status,
            LnccmdStatus::BadValue
        );
    }

    #[test]
    fn ascii_check_names_character() {
        let e = BodyCharset::Ascii.check("the text", "abc é").unwrap_err();
        assert!(
            e.detail.contains("'é' (U+00E9) at position 5"),
            "{}",
            e.detail
        );
    }

    #[test]
    fn input_decoding_is_strict() {
        let w1252 = input_charset("windows-1252").unwrap();
        assert_eq!(
            decode_input("PARM1", b"caf\xe9 \x80", w1252).unwrap(),
            "café €"
        );
        let e = decode_input("PARM1", b"ab\xff", InputCharset::UTF8).unwrap_err();
        assert_eq!(e.status, LnccmdStatus::BadInputCharset);
        assert!(e.detail.contains("bad byte at offset 2"), "{}", e.detail);
        let sjis = input_charset("shift_jis").unwrap();
        let e = decode_input("PARM2", b"ok\x81", sjis).unwrap_err();
        assert_eq!(e.status, LnccmdStatus::BadInputCharset);
        assert!(
            e.detail.contains("Shift_JIS") && e.detail.contains("offset 2"),
            "{}",
            e.detail
        );
        let e = decode_input("PARM2", b"  ab\x81\x20cd", sjis).unwrap_err();
        assert!(e.detail.contains("offset 4"), "{}", e.detail);
    }

    #[test]
    fn fields_are_decoded_then_trimmed() {
        assert_eq!(trim_field("  \tMAILSEND \t\0\0"), "MAILSEND");
        let utf16: Vec<u8> = " x  ".encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert_eq!(
            decode_param("PARM1", &utf16, InputCharset::Whatwg(encoding_rs::UTF_16LE)).unwrap(),
            "x"
        );
    }

    #[test]
    fn sniffing_input_charset() {
        assert_eq!(
            sniff_input_charset(b"Server=x;Sender=a@b").unwrap(),
            InputCharset::UTF8
        );
        assert_eq!(
            sniff_input_charset(b"Server=x;InputCharset=windows-1252;Sender=caf\xe9@b").unwrap(),
            InputCharset::Whatwg(encoding_rs::WINDOWS_1252)
        );
        let utf16: Vec<u8> = "Server=x;InputCharset=utf-16le"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert_eq!(
            sniff_input_charset(&utf16).unwrap(),
            InputCharset::Whatwg(encoding_rs::UTF_16LE)
        );
        // In EBCDIC (CCSID 297): "Server=x;InputCharset=297".
        let ebcdic297 = b"\xE2\x85\x99\xA5\x85\x99\x7E\xA7\x5E\xC9\x95\x97\xA4\xA3\xC3\x88\x81\x99\xA2\x85\xA3\x7E\xF2\xF9\xF7";
        assert_eq!(
            sniff_input_charset(ebcdic297).unwrap(),
            input_charset("297").unwrap()
        );
        // An ASCII string naming an EBCDIC charset is read as ASCII: the
        // charset applies to the calls after it.
        assert_eq!(
            sniff_input_charset(b"Server=x;InputCharset=297").unwrap(),
            InputCharset::UTF8
        );
        assert_eq!(
            sniff_input_charset(b"InputCharset=nope")
                .unwrap_err()
                .status,
            LnccmdStatus::BadValue
        );
    }

    #[test]
    fn ccsids_as_ibm_i_people_write_them() {
        let ebcdic = |l: &str| match input_charset(l) {
            Some(InputCharset::Ebcdic(t)) => t.ccsid,
            other => panic!("{l}: {other:?}"),
        };
        for l in [
            "297",
            "IBM297",
            "ibm-297",
            "CP297",
            "cp0297",
            "CCSID297",
            "ccsid-297",
            " 297 ",
        ] {
            assert_eq!(ebcdic(l), 297, "{l}");
        }
        assert_eq!(ebcdic("IBM037"), 37);
        assert_eq!(ebcdic("37"), 37);
        assert_eq!(ebcdic("1147"), 1147);
        let whatwg = |l: &str| match input_charset(l) {
            Some(InputCharset::Whatwg(e)) => e.name(),
            other => panic!("{l}: {other:?}"),
        };
        assert_eq!(whatwg("1208"), "UTF-8");
        assert_eq!(whatwg("CCSID1200"), "UTF-16BE");
        assert_eq!(whatwg("13488"), "UTF-16BE");
        assert_eq!(whatwg("819"), "windows-1252");
        assert_eq!(whatwg("923"), "ISO-8859-15");
        assert_eq!(whatwg("1252"), "windows-1252");
        assert_eq!(whatwg("CP1250"), "windows-1250");
        assert_eq!(whatwg("IBM912"), "ISO-8859-2");
        // WHATWG labels are still labels.
        assert_eq!(whatwg("windows-1252"), "windows-1252");
        assert_eq!(whatwg("ibm866"), "IBM866");
        for l in ["850", "IBM850", "99999999", "CCSID"] {
            let e = parse_input_charset(l).unwrap_err();
            assert_eq!(e.status, LnccmdStatus::BadValue, "{l}");
        }
        let e = parse_input_charset("850").unwrap_err();
        assert!(
            e.detail.contains("CCSID '850'") && e.detail.contains("297"),
            "{}",
            e.detail
        );
        // EBCDIC fields are decoded, then trimmed of EBCDIC blanks (0x40).
        let t = input_charset("297").unwrap();
        assert_eq!(
            decode_param("PARM1", b"\x85\xC0\xE0\x40\x40\x00", t).unwrap(),
            "eéç"
        );
    }

    #[test]
    fn mailprep_charset_takes_ccsids_that_mail_can_carry() {
        assert_eq!(BodyCharset::parse("1208").unwrap(), BodyCharset::Utf8);
        assert_eq!(BodyCharset::parse("CCSID1200").unwrap(), BodyCharset::Utf16);
        assert_eq!(
            BodyCharset::parse("923").unwrap().mime_name(),
            "ISO-8859-15"
        );
        assert_eq!(
            BodyCharset::parse("IBM1252").unwrap().mime_name(),
            "windows-1252"
        );
        let e = BodyCharset::parse("297").unwrap_err();
        assert_eq!(e.status, LnccmdStatus::BadValue);
        assert!(
            e.detail.contains("EBCDIC") && e.detail.contains("charset=UTF-8"),
            "{}",
            e.detail
        );
        assert_eq!(
            BodyCharset::parse("850").unwrap_err().status,
            LnccmdStatus::BadValue
        );
        // The label UTF-16BE stays refused (encoding_rs writes no UTF-16).
        assert_eq!(
            BodyCharset::parse("UTF-16BE").unwrap_err().status,
            LnccmdStatus::BadValue
        );
    }
}
