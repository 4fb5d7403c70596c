//! Issue #15 item 14: lnccmd's address check (MAILSMTP's Sender, MAILTO)
//! over every address of the isemail corpus (tests/data/isemail, read with
//! Python's XML parser): no VALID or DNSWARN address refused, except by
//! checkMail's dotted-domain rule (docs/decisions.md), no ERR address
//! accepted; and what goes out in RCPT TO is only ever an address the
//! check accepted, as accepted (aiosmtpd records the envelope).

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

#[derive(Debug)]
struct Vector {
    id: String,
    address: String,
    category: String,
    diagnosis: String,
}

/// The corpus, control characters turned back from U+2400.. (the file's
/// own convention, tests/data/isemail/README.md).
fn vectors() -> Vec<Vector> {
    let path = root().join("tests/data/isemail/tests.xml");
    let out = Command::new("python3")
        .arg("-c")
        .arg(
            "import json, sys, xml.etree.ElementTree as ET\n\
             out = []\n\
             for t in ET.parse(sys.argv[1]).getroot().findall('test'):\n\
             \x20   a = t.findtext('address') or ''\n\
             \x20   a = ''.join(chr(ord(c) - 0x2400) if 0x2400 <= ord(c) <= 0x241f else c for c in a)\n\
             \x20   out.append([t.get('id'), a, t.findtext('category'), t.findtext('diagnosis')])\n\
             print(json.dumps(out))",
        )
        .arg(&path)
        .output_bounded()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Vec<Vec<String>> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.len(), 164, "the corpus has 164 tests");
    list.into_iter()
        .map(|v| Vector {
            id: v[0].clone(),
            // A C string ends at NUL: what a C program passes is the text
            // before it.
            address: v[1].split('\0').next().unwrap().to_string(),
            category: v[2].clone(),
            diagnosis: v[3].clone(),
        })
        .collect()
}

/// A property value in double quotes, a quote inside doubled (contract §2).
fn quoted(v: &str) -> String {
    format!("\"{}\"", v.replace('"', "\"\""))
}

fn props(server: &SmtpServer, sender: &str, check_mail: bool) -> String {
    format!(
        "Server=\"127.0.0.1\";port={};Sender={};Timeout=10{}",
        server.port,
        quoted(sender),
        if check_mail { ";checkMail=true" } else { "" }
    )
}

/// MAILSMTP with `address` as the Sender: (accepted, RESULT).
fn sender_check(server: &SmtpServer, address: &str, check_mail: bool) -> (bool, String) {
    let mut h = 0;
    let (rc, text) = call(&mut h, "MAILSMTP", &props(server, address, check_mail), "");
    if h > 0 {
        call(&mut h, "MAILEND", "", "");
    }
    (rc == 0, text)
}

/// A domain with a dot (checkMail's rule): the part after the last `@`.
fn dotted(address: &str) -> bool {
    address.rsplit('@').next().is_some_and(|d| d.contains('.'))
}

/// Envelope recipients as aiosmtpd stored them.
fn rcpts_of(m: &Value) -> Vec<String> {
    rcpts(m)
}

#[test]
fn the_isemail_corpus_through_the_address_check() {
    let server = SmtpServer::start();
    let vectors = vectors();
    let mut wrong = Vec::new();
    let mut accepted_by_category = std::collections::BTreeMap::<String, (usize, usize)>::new();
    for check_mail in [false, true] {
        let mut h = 0;
        let (rc, text) = call(
            &mut h,
            "MAILSMTP",
            &props(&server, "tech@example.test", check_mail),
            "",
        );
        assert_eq!(rc, 0, "{text}");
        for v in &vectors {
            let (as_sender, sender_text) = sender_check(&server, &v.address, check_mail);
            ok(&mut h, "MAILPREP", "", "");
            let (rc, to_text) = call(&mut h, "MAILTO", &format!("<{}>", v.address), "");
            let as_to = rc == 0;
            if !check_mail {
                let e = accepted_by_category.entry(v.category.clone()).or_default();
                if as_sender && as_to {
                    e.0 += 1;
                } else {
                    e.1 += 1;
                }
            }
            let must_accept = matches!(
                v.category.as_str(),
                "ISEMAIL_VALID_CATEGORY" | "ISEMAIL_DNSWARN"
            ) && (!check_mail || dotted(&v.address));
            let must_refuse = v.category == "ISEMAIL_ERR";
            for (what, accepted, text) in [
                ("Sender", as_sender, &sender_text),
                ("MAILTO", as_to, &to_text),
            ] {
                if (must_accept && !accepted) || (must_refuse && accepted) {
                    wrong.push(format!(
                        "#{} {:?} ({}, {}), checkMail={check_mail}: {what} {} ({text})",
                        v.id,
                        v.address,
                        v.category,
                        v.diagnosis,
                        if accepted { "accepted" } else { "refused" }
                    ));
                }
            }
        }
        call(&mut h, "MAILEND", "", "");
    }
    eprintln!("accepted/refused by category (checkMail=false): {accepted_by_category:?}");
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// RCPT TO carries only what MAILTO accepted: every corpus address is given
/// to MAILTO in one draft with one good address, sent with SendIncomplete;
/// the refused ones add nothing, and each accepted one goes out once, as lnccmd writes it.
#[test]
fn rcpt_to_never_carries_a_refused_address() {
    let server = SmtpServer::start();
    // The program sends what the draft holds even though MAILTO failed
    // (SendIncomplete): still, the refused addresses are not in it.
    let mut h = 0;
    ok(
        &mut h,
        "MAILSMTP",
        &format!("{};SendIncomplete=true", server.props()),
        "",
    );
    let vectors = vectors();
    ok(&mut h, "MAILPREP", "good@example.test", "corpus");
    let mut accepted = Vec::new();
    for v in &vectors {
        let (rc, _) = call(&mut h, "MAILTO", &format!("<{}>", v.address), "");
        if rc == 0 {
            accepted.push(v);
        }
    }
    assert!(
        accepted.iter().all(|v| v.category != "ISEMAIL_ERR"),
        "{accepted:?}"
    );
    let (rc, text) = call(&mut h, "MAILSEND", "", "");
    assert_eq!(rc, 0, "{text}");
    let msgs = server.wait_for(1);
    let sent = rcpts_of(&msgs[0]);
    assert_eq!(sent[0], "good@example.test");
    // Each accepted address once (a repeat is sent once, contract §3), and
    // nothing else: every recipient is the form of an accepted address.
    assert!(sent.len() <= accepted.len() + 1, "{sent:?}");
    for r in &sent[1..] {
        assert!(
            accepted.iter().any(|v| same_mailbox(&v.address, r)),
            "RCPT TO:<{r}> is no accepted address"
        );
    }
    for v in &accepted {
        assert!(
            sent.iter().any(|r| same_mailbox(&v.address, r)),
            "{:?} was accepted but not sent: {sent:?}",
            v.address
        );
    }
}

/// Whether `sent` is `given` as lnccmd writes it: the same (blanks around
/// it apart), or with a
/// quoted local part in its simplest form (`"test\ test"` as
/// `"test test"`, `"test"` as `test`, which a repeat may have been sent as), the domain in lower case or ASCII (IDNA), an IPv6
/// literal with its `IPv6:` tag.
fn same_mailbox(given: &str, sent: &str) -> bool {
    // Blanks around an entry are not part of it (docs/commands/README.md).
    let given = given.trim_matches([' ', '\t']);
    if given == sent {
        return true;
    }
    let simplify = |a: &str| {
        let at = a.rfind('@').unwrap_or(a.len());
        let (local, domain) = a.split_at(at);
        let mut out = String::new();
        let mut chars = local.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                if let Some(n) = chars.next() {
                    if n == '"' || n == '\\' {
                        out.push('\\');
                    }
                    out.push(n);
                }
            } else {
                out.push(c);
            }
        }
        // `"test"` is `test` (RFC 5322 §3.4.1: the quotes are not part
        // of the address) when what is inside is a dot-atom.
        let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
        if let Some(inner) = out.strip_prefix('"').and_then(|o| o.strip_suffix('"'))
            && inner
                .split('.')
                .all(|p| !p.is_empty() && p.chars().all(atext))
        {
            out = inner.to_string();
        }
        let mut domain = domain.to_ascii_lowercase();
        if let Some(ip) = domain.strip_prefix("@[").and_then(|d| d.strip_suffix(']'))
            && ip.parse::<std::net::Ipv6Addr>().is_ok()
        {
            domain = format!("@[ipv6:{ip}]");
        }
        format!("{out}{domain}")
    };
    simplify(given) == simplify(sent)
}
