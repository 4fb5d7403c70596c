//! Charsets (docs/contract.md §1.2, §5): decoding the caller's bytes (`InputCharset`) and
//! encoding the text and HTML parts (MAILPREP `charset=`).
//!
//! encoding_rs does every WHATWG charset. Where no crate fits, the code is
//! here and small: UTF-7 (RFC 2152; encoding_rs refuses it on purpose),
//! UTF-16 and UTF-32 output with a byte-order mark (as .NET's Unicode and
//! UTF32 encodings write them).

use encoding_rs::{Encoding, UTF_8};

use crate::error::{Error, LnccmdStatus, Result};
use crate::props::{describe_char, printable};

/// Looks up an input charset by WHATWG label.
pub fn input_charset(label: &str) -> Option<&'static Encoding> {
    Encoding::for_label(label.trim().as_bytes())
}

/// Blanks and NULs around a field (docs/contract.md §1.2): leading blanks, trailing blanks and NULs.
pub fn trim_field(s: &str) -> &str {
    s.trim_end_matches([' ', '\t', '\0'])
        .trim_start_matches([' ', '\t'])
}

/// A parameter as the commands see it: decoded from the input charset, then trimmed.
pub fn decode_param(which: &str, bytes: &[u8], enc: &'static Encoding) -> Result<String> {
    Ok(trim_field(&decode_input(which, bytes, enc)?).to_string())
}

/// Decodes a parameter from the input charset, strictly: bytes that are not
/// valid in it are an error naming the offset, never replaced. `which` names
/// the parameter.
pub fn decode_input(which: &str, bytes: &[u8], enc: &'static Encoding) -> Result<String> {
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
/// that encoding_rs reads except UTF-16, which is tried too.
pub fn sniff_input_charset(parm1: &[u8]) -> Result<&'static Encoding> {
    let candidates: [&'static Encoding; 3] = [UTF_8, encoding_rs::UTF_16LE, encoding_rs::UTF_16BE];
    for family in candidates {
        let text = if family == UTF_8 {
            String::from_utf8_lossy(parm1).into_owned()
        } else {
            if !parm1.contains(&0) {
                continue;
            }
            family.decode_without_bom_handling(parm1).0.into_owned()
        };
        let Some(label) = find_property(&text, "InputCharset") else {
            continue;
        };
        let Some(enc) = input_charset(&label) else {
            return Err(Error::new(
                LnccmdStatus::BadValue,
                format!(
                    "'InputCharset' names no known charset: '{}' (use a WHATWG label such as UTF-8, windows-1252, ISO-8859-15)",
                    printable(&label)
                ),
            ));
        };
        let utf16 = enc == encoding_rs::UTF_16LE || enc == encoding_rs::UTF_16BE;
        if utf16 == (family != UTF_8) {
            return Ok(enc);
        }
    }
    Ok(UTF_8)
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
                Some(enc) if enc == UTF_8 => BodyCharset::Utf8,
                // ucs-2, csUnicode, unicodefeff... are WHATWG labels of UTF-16LE.
                Some(enc) if enc == encoding_rs::UTF_16LE => BodyCharset::Utf16,
                // encoding_rs only decodes these (it would write UTF-8 for them).
                Some(enc) if enc.output_encoding() != enc => {
                    return Err(Error::new(
                        LnccmdStatus::BadValue,
                        format!(
                            "charset '{}' cannot be used for a message",
                            printable(label)
                        ),
                    ));
                }
                Some(enc) => BodyCharset::Whatwg(enc),
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
        let e = decode_input("PARM1", b"ab\xff", UTF_8).unwrap_err();
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
            decode_param("PARM1", &utf16, encoding_rs::UTF_16LE).unwrap(),
            "x"
        );
    }

    #[test]
    fn sniffing_input_charset() {
        assert_eq!(sniff_input_charset(b"Server=x;Sender=a@b").unwrap(), UTF_8);
        assert_eq!(
            sniff_input_charset(b"Server=x;InputCharset=windows-1252;Sender=caf\xe9@b")
                .unwrap()
                .name(),
            "windows-1252"
        );
        let utf16: Vec<u8> = "Server=x;InputCharset=utf-16le"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert_eq!(sniff_input_charset(&utf16).unwrap(), encoding_rs::UTF_16LE);
        assert_eq!(
            sniff_input_charset(b"InputCharset=nope")
                .unwrap_err()
                .status,
            LnccmdStatus::BadValue
        );
    }
}
