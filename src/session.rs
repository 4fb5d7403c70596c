//! One session (one handle): its settings, its open connection and the
//! message being prepared; the handler of every command and the sequence rules.

use lettre::message::Mailbox;

use crate::command::Command;
use crate::compose::{self, BodyCharset, Draft, RecipientKind};
use crate::error::{Error, LnccmdStatus, Result};
use crate::props::{self, check_header_text, printable};
use crate::settings::{self, Settings};
use crate::transport::{self, Connection};

pub struct Session {
    settings: Settings,
    draft: Option<Draft>,
    conn: Option<Connection>,
}

fn not_supported(what: &str) -> Error {
    Error::new(
        LnccmdStatus::NotSupported,
        format!("{what} is not supported yet by this version of lnccmd"),
    )
}

/// Parses an address list into mailboxes, all or nothing.
fn recipients(list: &str) -> Result<Vec<Mailbox>> {
    props::parse_address_list(list)?
        .into_iter()
        .map(settings::mailbox)
        .collect()
}

/// MAILPREP `charset=`: UTF-8 and ASCII now; the other charsets of SPEC §5
/// are recognised and reported as not supported yet.
fn parse_charset(v: &str) -> Result<BodyCharset> {
    let upper = v.to_ascii_uppercase();
    match upper.as_str() {
        "UTF-8" | "UTF8" => return Ok(BodyCharset::Utf8),
        "ASCII" | "US-ASCII" => return Ok(BodyCharset::Ascii),
        "UTF-7" | "UTF-32" | "UNICODE" => return Err(not_supported(&format!("charset={v}"))),
        _ => {}
    }
    match encoding_rs::Encoding::for_label(v.as_bytes()) {
        Some(enc) if enc == encoding_rs::UTF_8 => Ok(BodyCharset::Utf8),
        Some(_) => Err(not_supported(&format!("charset={v}"))),
        None => Err(Error::new(
            LnccmdStatus::BadValue,
            format!(
                "charset '{}' is not known (UTF-8, ASCII, or a label such as ISO-8859-1)",
                printable(v)
            ),
        )),
    }
}

impl Session {
    /// MAILSMTP with handle 0.
    pub fn open(parm1: &str) -> Result<Session> {
        Ok(Session {
            settings: settings::parse(parm1)?,
            draft: None,
            conn: None,
        })
    }

    /// Runs one command on this session. MAILEND's closing of the handle is
    /// the registry's business; here it only says goodbye to the server.
    pub fn run(&mut self, cmd: Command, parm1: &str, parm2: &str) -> Result<()> {
        match cmd {
            Command::MailSmtp => self.reconfigure(parm1),
            Command::MailPrep => self.prep(parm1, parm2),
            Command::MailTo => self.add(RecipientKind::To, parm1),
            Command::MailCc => self.add(RecipientKind::Cc, parm1),
            Command::MailBcc => self.add(RecipientKind::Bcc, parm1),
            Command::MailSubj => {
                check_header_text("the subject", parm1)?;
                self.draft()?.subject = Some(parm1.to_string());
                Ok(())
            }
            Command::MailText => {
                let d = self.draft()?;
                d.charset.check("the text", parm1)?;
                d.append_text(parm1);
                Ok(())
            }
            Command::MailPrty => {
                let draft = self.draft()?;
                draft.priority = Some(compose::parse_priority(parm1)?);
                Ok(())
            }
            Command::MailBodyF => {
                self.draft()?;
                Err(not_supported("MAILBODYF (HTML body)"))
            }
            Command::MailLAtt => {
                self.draft()?;
                for p in props::parse_properties(parm2)? {
                    if !["name", "type", "inline", "cid"]
                        .iter()
                        .any(|k| k.eq_ignore_ascii_case(&p.key))
                    {
                        return Err(Error::new(
                            LnccmdStatus::UnknownProperty,
                            format!(
                                "unknown property '{}' at position {} (known: name, type, inline, cid)",
                                printable(&p.key),
                                p.pos
                            ),
                        ));
                    }
                }
                Err(not_supported("MAILLATT (attachments)"))
            }
            Command::MailReport => {
                self.draft()?;
                if !["", "read", "both"]
                    .iter()
                    .any(|k| k.eq_ignore_ascii_case(parm1))
                {
                    return Err(Error::new(
                        LnccmdStatus::BadValue,
                        format!(
                            "PARM1 must be empty, 'read' or 'both', not '{}'",
                            printable(parm1)
                        ),
                    ));
                }
                Err(not_supported("MAILREPORT (delivery reports)"))
            }
            Command::MailSend => self.send(),
            Command::MailEnd => {
                transport::close(&mut self.conn);
                Ok(())
            }
        }
    }

    fn draft(&mut self) -> Result<&mut Draft> {
        self.draft.as_mut().ok_or_else(|| {
            Error::new(
                LnccmdStatus::Sequence,
                "no message in preparation: call MAILPREP first",
            )
        })
    }

    /// MAILSMTP on a live handle: new settings, same draft; the connection is
    /// closed when the server settings changed.
    fn reconfigure(&mut self, parm1: &str) -> Result<()> {
        let new = settings::parse(parm1)?;
        if new.endpoint != self.settings.endpoint {
            transport::close(&mut self.conn);
        }
        self.settings = new;
        Ok(())
    }

    /// MAILPREP: a fresh draft, built completely before the old one is dropped.
    fn prep(&mut self, parm1: &str, parm2: &str) -> Result<()> {
        let mut subject = None;
        let mut priority = None;
        let mut charset = BodyCharset::Utf8;
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
                match p.key.to_ascii_lowercase().as_str() {
                    "subject" => {
                        let s = v.unwrap_or("");
                        check_header_text("the subject", s)?;
                        subject = Some(s.to_string());
                    }
                    "priority" => priority = Some(compose::parse_priority(v.unwrap_or(""))?),
                    "charset" => charset = parse_charset(v.unwrap_or(""))?,
                    "report" => {
                        if props::parse_bool("report", v)? {
                            return Err(not_supported("report (delivery reports)"));
                        }
                    }
                    _ => {
                        return Err(Error::new(
                            LnccmdStatus::UnknownProperty,
                            format!(
                                "unknown property '{}' at position {} (known: subject, priority, charset, report)",
                                printable(&p.key),
                                p.pos
                            ),
                        ));
                    }
                }
            }
        }
        let to = recipients(parm1)?;
        let mut d = Draft::new(charset);
        d.subject = subject;
        d.priority = priority;
        d.add_recipients(RecipientKind::To, to);
        self.draft = Some(d);
        Ok(())
    }

    fn add(&mut self, kind: RecipientKind, parm1: &str) -> Result<()> {
        let draft = self.draft()?;
        let list = recipients(parm1)?;
        draft.add_recipients(kind, list);
        Ok(())
    }

    /// MAILSEND: the draft is cleared only when the server took the message.
    fn send(&mut self) -> Result<()> {
        let draft = self.draft.as_ref().ok_or_else(|| {
            Error::new(
                LnccmdStatus::Sequence,
                "no message to send: call MAILPREP (and MAILTO, MAILTEXT...) first",
            )
        })?;
        if !draft.has_recipients() {
            return Err(Error::new(
                LnccmdStatus::NoRecipient,
                "the message has no recipient: give one in MAILPREP's PARM1 or with MAILTO, MAILCC or MAILBCC",
            ));
        }
        let out = compose::compose(&self.settings, draft)?;
        let delivery = transport::send(&mut self.conn, &self.settings.endpoint, &out)?;
        self.draft = None;
        if delivery.refused.is_empty() {
            Ok(())
        } else {
            let list = delivery
                .refused
                .iter()
                .map(|(a, r)| format!("<{a}>: {r}"))
                .collect::<Vec<_>>()
                .join("; ");
            Err(Error::new(
                LnccmdStatus::PartialDelivery,
                format!(
                    "message {} sent, but {} of {} recipients refused: {list}",
                    out.message_id,
                    delivery.refused.len(),
                    out.rcpts.len()
                ),
            ))
        }
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
        s.run(
            Command::MailPrep,
            "a@x.test",
            "Just a subject; with semicolon",
        )
        .unwrap();
        assert_eq!(
            s.draft.as_ref().unwrap().subject.as_deref(),
            Some("Just a subject; with semicolon")
        );
        s.run(
            Command::MailPrep,
            "a@x.test",
            "subject=\"test\";priority=5;charset=ASCII",
        )
        .unwrap();
        let d = s.draft.as_ref().unwrap();
        assert_eq!(
            (d.subject.as_deref(), d.priority, d.charset),
            (Some("test"), Some(5), BodyCharset::Ascii)
        );
        assert_eq!(
            s.run(Command::MailPrep, "", "report").unwrap_err().status,
            LnccmdStatus::NotSupported
        );
        assert_eq!(
            s.run(Command::MailPrep, "", "colour=red")
                .unwrap_err()
                .status,
            LnccmdStatus::UnknownProperty
        );
        assert_eq!(
            s.run(Command::MailPrep, "", "charset=klingon")
                .unwrap_err()
                .status,
            LnccmdStatus::BadValue
        );
        assert_eq!(
            s.run(Command::MailPrep, "", "charset=windows-1252")
                .unwrap_err()
                .status,
            LnccmdStatus::NotSupported
        );
        assert_eq!(
            s.run(Command::MailPrep, "", "charset=UTF-7")
                .unwrap_err()
                .status,
            LnccmdStatus::NotSupported
        );
        // The failed MAILPREPs left the previous draft alone.
        assert_eq!(s.draft.as_ref().unwrap().subject.as_deref(), Some("test"));
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
    fn unimplemented_commands_say_so_after_validation() {
        let mut s = session();
        s.run(Command::MailPrep, "", "").unwrap();
        assert_eq!(
            s.run(Command::MailBodyF, "<p>x</p>", "")
                .unwrap_err()
                .status,
            LnccmdStatus::NotSupported
        );
        assert_eq!(
            s.run(Command::MailLAtt, "/etc/hosts", "nom=x")
                .unwrap_err()
                .status,
            LnccmdStatus::UnknownProperty
        );
        assert_eq!(
            s.run(Command::MailLAtt, "/etc/hosts", "name=x")
                .unwrap_err()
                .status,
            LnccmdStatus::NotSupported
        );
        assert_eq!(
            s.run(Command::MailReport, "later", "").unwrap_err().status,
            LnccmdStatus::BadValue
        );
        assert_eq!(
            s.run(Command::MailReport, "", "").unwrap_err().status,
            LnccmdStatus::NotSupported
        );
    }
}
