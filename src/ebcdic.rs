//! EBCDIC (IBM i, z/OS) single-byte CCSIDs for `InputCharset`: the tables
//! (src/ebcdic_tables.rs, generated) and the decoding of a field with them.
//!
//! Hand-written because no well-kept Rust crate decodes EBCDIC: encoding_rs
//! does the WHATWG charsets only, and the EBCDIC crates on crates.io cover
//! CCSID 37 or 500 alone. A single-byte table is a 256-entry array, so the
//! code is a lookup; the tables themselves come from Python's codecs
//! (scripts/gen-ebcdic-tables) and the tests below check them byte for
//! byte against Python's codecs and glibc's iconv.

use crate::error::{Error, LnccmdStatus, Result};

/// One EBCDIC CCSID: the character of every byte.
pub struct Table {
    pub ccsid: u16,
    /// The CCSID that is this one with the euro sign in place of '¤'
    /// (297 -> 1147), 0 for none.
    pub euro_variant: u16,
    pub chars: [char; 256],
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CCSID {}", self.ccsid)
    }
}

impl PartialEq for Table {
    fn eq(&self, other: &Table) -> bool {
        self.ccsid == other.ccsid
    }
}

impl Eq for Table {}

/// The table of an EBCDIC CCSID.
pub fn by_ccsid(ccsid: u16) -> Option<&'static Table> {
    crate::ebcdic_tables::ALL
        .iter()
        .find(|t| t.ccsid == ccsid)
        .copied()
}

/// The CCSIDs that have a table, ascending.
pub fn ccsids() -> impl Iterator<Item = u16> {
    crate::ebcdic_tables::ALL.iter().map(|t| t.ccsid)
}

impl Table {
    /// Every byte as its character: no byte is invalid in a single-byte EBCDIC CCSID.
    pub fn decode_raw(&self, bytes: &[u8]) -> String {
        bytes.iter().map(|&b| self.chars[usize::from(b)]).collect()
    }

    /// Decodes a parameter; `which` names it. The one byte refused is the
    /// currency sign '¤' of a CCSID that has a euro variant: it is where that
    /// variant has '€', and a euro typed on a terminal or emulator set to the
    /// euro CCSID (1147) over a job in the old one (297) is stored as this
    /// byte. Sending '¤' in an invoice where '€' was meant would change the
    /// content silently, so the caller is told which CCSID to declare.
    pub fn decode(&self, which: &str, bytes: &[u8]) -> Result<String> {
        let text = self.decode_raw(bytes);
        if self.euro_variant != 0
            && let Some(at) = text.chars().position(|c| c == '\u{A4}')
        {
            return Err(Error::new(
                LnccmdStatus::BadInputCharset,
                format!(
                    "{which}: byte 0x{:02X} at offset {at} is the currency sign '¤' in CCSID {}, and the euro sign '€' in CCSID {}: declare InputCharset={} if it is meant as '€'",
                    bytes[at], self.ccsid, self.euro_variant, self.euro_variant
                ),
            ));
        }
        Ok(text)
    }
}

/// Text written in EBCDIC's invariant characters (letters, digits, blank,
/// `=;"'(),.-_:/`), the same bytes in every table here: a command name or
/// a property string whose CCSID is not known yet.
pub fn decode_invariant(bytes: &[u8]) -> String {
    crate::ebcdic_tables::CCSID_500.decode_raw(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invariant_characters_are_the_same_bytes_in_every_table() {
        let invariant =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 =;\"'(),.-_:/";
        for t in crate::ebcdic_tables::ALL {
            for c in invariant.chars() {
                let in_500 = crate::ebcdic_tables::CCSID_500
                    .chars
                    .iter()
                    .position(|&x| x == c);
                let here = t.chars.iter().position(|&x| x == c);
                assert_eq!(here, in_500, "{c:?} in {t:?}");
            }
        }
    }

    /// Runs `program` with `input` on stdin; its stdout.
    fn run(program: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut child = std::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{program} is needed by this test: {e}"));
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{program} {args:?}: {:?}", out.status);
        out.stdout
    }

    fn code_points(t: &Table) -> Vec<u32> {
        t.chars.iter().map(|&c| c as u32).collect()
    }

    #[test]
    fn every_byte_of_every_table_is_what_pythons_codecs_say() {
        // Python's own codecs, and the `ebcdic` package's
        // (tests/support/requirements.txt) for the CCSIDs Python lacks.
        let script = "import sys, codecs, ebcdic\n\
            for n in sys.argv[1:]:\n\
            \x20   name = 'cp%03d' % int(n)\n\
            \x20   own = not codecs.lookup(name).decode.__module__.startswith('ebcdic.')\n\
            \x20   print(n, int(own), ' '.join(str(ord(c)) for c in bytes(range(256)).decode(name)))\n";
        let ccsids: Vec<String> = ccsids().map(|n| n.to_string()).collect();
        let mut args = vec!["-c", script];
        args.extend(ccsids.iter().map(String::as_str));
        let out = String::from_utf8(run("python3", &args, b"")).unwrap();
        let mut seen = 0;
        for line in out.lines() {
            let mut words = line.split(' ');
            let ccsid: u16 = words.next().unwrap().parse().unwrap();
            let own = words.next() == Some("1");
            let mut python: Vec<u32> = words.map(|w| w.parse().unwrap()).collect();
            let t = by_ccsid(ccsid).unwrap();
            if !own {
                // The one correction scripts/gen-ebcdic-tables makes to the
                // `ebcdic` package: NL (0x15) is U+0085, as in IBM's tables,
                // Python's own codecs and iconv.
                assert_eq!(python[0x15], 0x0A, "CCSID {ccsid}");
                python[0x15] = 0x85;
            }
            assert_eq!(code_points(t), python, "CCSID {ccsid}");
            seen += 1;
        }
        assert_eq!(seen, crate::ebcdic_tables::ALL.len());
        // The listed CCSIDs (issue #16), all there.
        for n in [37, 273, 277, 278, 280, 284, 285, 297, 500, 871]
            .into_iter()
            .chain(1140..=1149)
        {
            assert!(by_ccsid(n).is_some(), "{n}");
        }
    }

    /// Where glibc's iconv differs from Python's codecs (and the tables):
    /// (CCSID, byte, iconv's character). For 278, 285 and 871, iconv's
    /// table differs there from iconv's own euro variant (1143, 1146,
    /// 1149), which agrees with Python; for 273's 0xBC, Python has IBM's
    /// overline where iconv (and 1141 in both) has the macron. The tables
    /// follow Python.
    const ICONV_DIFFERS: &[(u16, u8, char)] = &[
        (273, 0xBC, '\u{AF}'),
        (278, 0x71, 'É'),
        (278, 0xE0, '\\'),
        (285, 0xA1, '\u{203E}'),
        (871, 0x4A, 'þ'),
        (871, 0xC0, 'Þ'),
    ];

    #[test]
    fn every_byte_of_every_table_is_what_glibc_iconv_says() {
        let all: Vec<u8> = (0..=255).collect();
        let mut differ = Vec::new();
        for t in crate::ebcdic_tables::ALL {
            let from = format!("IBM{:03}", t.ccsid);
            let out = run("iconv", &["-f", &from, "-t", "UTF-32BE"], &all);
            let iconv: Vec<char> = out
                .chunks(4)
                .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])).unwrap())
                .collect();
            assert_eq!(iconv.len(), 256, "{from}");
            for (b, (&ours, &theirs)) in t.chars.iter().zip(&iconv).enumerate() {
                if ours != theirs {
                    differ.push((t.ccsid, b as u8, theirs));
                }
            }
        }
        assert_eq!(differ, ICONV_DIFFERS);
    }

    #[test]
    fn a_euro_variant_differs_from_its_ccsid_only_by_the_euro_sign() {
        for t in crate::ebcdic_tables::ALL
            .iter()
            .filter(|t| t.euro_variant != 0)
        {
            let e = by_ccsid(t.euro_variant).unwrap();
            let differ: Vec<(usize, char, char)> = (0..256)
                .filter(|&b| t.chars[b] != e.chars[b])
                .map(|b| (b, t.chars[b], e.chars[b]))
                .collect();
            // 273's overline is a macron in 1141 (IBM's tables, Python's codecs).
            let extra = usize::from(t.ccsid == 273);
            assert_eq!(differ.len(), 1 + extra, "{t:?}: {differ:?}");
            assert!(
                differ.iter().any(|&(_, a, b)| a == '¤' && b == '€'),
                "{t:?}"
            );
        }
    }

    #[test]
    fn the_checked_in_tables_are_what_the_generator_writes() {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/gen-ebcdic-tables");
        let out = String::from_utf8(run("python3", &[script], b"")).unwrap();
        assert!(
            out == include_str!("ebcdic_tables.rs"),
            "src/ebcdic_tables.rs differs from scripts/gen-ebcdic-tables' output: run it again"
        );
    }

    #[test]
    fn every_table_is_one_to_one() {
        for t in crate::ebcdic_tables::ALL {
            let mut chars = t.chars.to_vec();
            chars.sort();
            chars.dedup();
            assert_eq!(chars.len(), 256, "{t:?}");
        }
    }

    /// The safety rule, for every byte of every table, alone and inside a
    /// blank-padded field (exhaustive: a table has 256 bytes): a field is
    /// refused exactly when it holds the '¤' byte of a CCSID with a euro
    /// variant, and is otherwise one character per byte, each the table's.
    #[test]
    fn no_currency_sign_passes_where_a_euro_may_be_meant() {
        for t in crate::ebcdic_tables::ALL {
            for b in 0..=255u8 {
                for field in [vec![b], vec![0xC1, b, 0x40, 0x40]] {
                    let refused = t.euro_variant != 0 && t.chars[usize::from(b)] == '¤';
                    match t.decode("PARM1", &field) {
                        Err(e) => {
                            assert!(refused, "{t:?} 0x{b:02X}: {}", e.detail);
                            assert!(
                                e.detail
                                    .contains(&format!("InputCharset={}", t.euro_variant))
                            );
                        }
                        Ok(text) => {
                            assert!(!refused, "{t:?} 0x{b:02X}");
                            let want: String =
                                field.iter().map(|&x| t.chars[usize::from(x)]).collect();
                            assert_eq!(text, want);
                            assert!(t.euro_variant == 0 || !text.contains('¤'));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn the_currency_sign_of_297_names_1147() {
        let t = by_ccsid(297).unwrap();
        // "10 ¤" in CCSID 297.
        let e = t.decode("PARM1", b"\xF1\xF0\x40\x9F").unwrap_err();
        assert_eq!(e.status, LnccmdStatus::BadInputCharset);
        assert!(
            e.detail.contains("0x9F at offset 3") && e.detail.contains("InputCharset=1147"),
            "{}",
            e.detail
        );
        assert_eq!(
            by_ccsid(1147)
                .unwrap()
                .decode("PARM1", b"\xF1\xF0\x40\x9F")
                .unwrap(),
            "10 €"
        );
        assert!(by_ccsid(850).is_none());
    }
}
