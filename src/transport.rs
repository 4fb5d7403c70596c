//! The SMTP side of a session: one connection kept open across MAILSENDs,
//! the MAIL/RCPT/DATA dialogue with per-recipient results, and the mapping of
//! every failure to a status code (SPEC §4.10, §8, §9 4xx/5xx).

use std::io;

use lettre::Address;
use lettre::transport::smtp::client::SmtpConnection;
use lettre::transport::smtp::commands::{Data, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};

use crate::compose::Outgoing;
use crate::error::{Error, LnccmdStatus, Result};
use crate::settings::Endpoint;

type SmtpError = lettre::transport::smtp::Error;

/// An open SMTP connection and the endpoint it was opened for.
pub struct Connection {
    endpoint: Endpoint,
    smtp: SmtpConnection,
}

/// What a successful DATA transaction reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Recipients the server refused, with its reply ("550 5.1.1 no such user").
    pub refused: Vec<(Address, String)>,
    /// The server's reply to the final dot.
    pub reply: String,
}

/// The step of the dialogue a failure happened in; decides the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Connect,
    Mail,
    Data,
    Message,
}

impl Stage {
    fn waiting_for(self) -> &'static str {
        match self {
            Stage::Connect => "the greeting or the reply to EHLO",
            Stage::Mail => "the reply to MAIL FROM",
            Stage::Data => "the reply to DATA",
            Stage::Message => "the reply to the end of the message",
        }
    }
}

/// True when an I/O error in the chain is a socket timeout. lettre's own
/// `is_timeout()` misses Linux read timeouts, which come back as WouldBlock.
fn is_timeout(e: &SmtpError) -> bool {
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<io::Error>()
            && matches!(
                io.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            )
        {
            return true;
        }
        src = s.source();
    }
    false
}

/// "550 5.1.1 <x@y>: Recipient address rejected" from a reply error.
fn reply_text(e: &SmtpError) -> String {
    match (e.status(), std::error::Error::source(e)) {
        (Some(code), Some(text)) => format!("{code} {text}"),
        (Some(code), None) => code.to_string(),
        (None, _) => e.to_string(),
    }
}

/// Maps a failure to a status, with a message naming the server and the step.
fn classify(e: &SmtpError, stage: Stage, ep: &Endpoint) -> Error {
    let server = ep.display();
    if is_timeout(e) {
        return Error::new(
            LnccmdStatus::Timeout,
            format!(
                "no answer from {server} within {} s while waiting for {}",
                ep.timeout.as_secs(),
                stage.waiting_for()
            ),
        );
    }
    if let Some(code) = e.status() {
        let reply = reply_text(e);
        let (status, what) = if e.is_transient() {
            (LnccmdStatus::TemporaryFailure, "temporarily refused")
        } else {
            match stage {
                Stage::Connect => (LnccmdStatus::Connect, "refused the session"),
                Stage::Mail => (LnccmdStatus::SenderRefused, "refused the sender"),
                Stage::Data | Stage::Message if code.to_string() == "552" => {
                    (LnccmdStatus::TooLarge, "refused the message as too large")
                }
                Stage::Data | Stage::Message => {
                    (LnccmdStatus::MessageRefused, "refused the message")
                }
            }
        };
        return Error::new(status, format!("server {server} {what}: {reply}"));
    }
    if e.is_tls() {
        return Error::new(
            LnccmdStatus::TlsHandshake,
            format!("TLS with {server} failed: {e}"),
        );
    }
    let text = e.to_string();
    if e.is_response() && !text.contains("incomplete response") {
        return Error::new(
            LnccmdStatus::Protocol,
            format!(
                "{server} sent a reply that is not valid SMTP while we waited for {}: {text}",
                stage.waiting_for()
            ),
        );
    }
    if stage == Stage::Connect && !text.contains("incomplete response") {
        return Error::new(
            LnccmdStatus::Connect,
            format!("cannot connect to {server}: {text}"),
        );
    }
    Error::new(
        LnccmdStatus::ConnectionLost,
        format!(
            "connection to {server} lost while waiting for {}: {text}",
            stage.waiting_for()
        ),
    )
}

fn open(ep: &Endpoint) -> Result<Connection> {
    let hello = match &ep.helo {
        Some(name) => ClientId::Domain(name.clone()),
        None => ClientId::default(),
    };
    let smtp = SmtpConnection::connect(
        (ep.server.as_str(), ep.port),
        Some(ep.timeout),
        &hello,
        None,
        None,
    )
    .map_err(|e| classify(&e, Stage::Connect, ep))?;
    Ok(Connection {
        endpoint: ep.clone(),
        smtp,
    })
}

/// Closes the connection with QUIT (best effort: the server may be gone).
pub fn close(slot: &mut Option<Connection>) {
    if let Some(mut c) = slot.take() {
        let _ = c.smtp.quit();
    }
}

/// The session's connection to `ep`: the open one when it still answers NOOP,
/// otherwise a new one. An open connection to another endpoint is closed.
fn connection<'a>(slot: &'a mut Option<Connection>, ep: &Endpoint) -> Result<&'a mut Connection> {
    let reusable = match slot {
        Some(c) => c.endpoint == *ep && !c.smtp.has_broken() && c.smtp.test_connected(),
        None => false,
    };
    if !reusable {
        close(slot);
        *slot = Some(open(ep)?);
    }
    Ok(slot.as_mut().expect("connection just set"))
}

/// Ends a failed transaction so the connection can carry the next one; drops
/// the connection when the server no longer answers.
fn reset(slot: &mut Option<Connection>) {
    if let Some(c) = slot
        && c.smtp.command(Rset).is_err()
    {
        slot.take();
    }
}

/// Sends one message over the session's connection (SPEC §4.10).
///
/// `Ok` means the server accepted the message for at least one recipient;
/// `Delivery::refused` lists the others. `Err` means nothing was accepted.
pub fn send(slot: &mut Option<Connection>, ep: &Endpoint, out: &Outgoing) -> Result<Delivery> {
    let conn = connection(slot, ep)?;
    let info = conn.smtp.server_info();
    let mut params = Vec::new();
    let needs_utf8 =
        !out.from.to_string().is_ascii() || out.rcpts.iter().any(|r| !r.to_string().is_ascii());
    if needs_utf8 {
        if !info.supports_feature(Extension::SmtpUtfEight) {
            return Err(Error::new(
                LnccmdStatus::BadAddress,
                format!(
                    "an address has a non-ASCII local part, which needs SMTPUTF8, and {} does not offer it",
                    ep.display()
                ),
            ));
        }
        params.push(MailParameter::SmtpUtfEight);
    }
    if !out.bytes.is_ascii() {
        if !info.supports_feature(Extension::EightBitMime) {
            return Err(Error::new(
                LnccmdStatus::MessageRefused,
                format!(
                    "the message has 8-bit content and {} does not offer 8BITMIME",
                    ep.display()
                ),
            ));
        }
        params.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }

    // Any reply error below leaves the connection usable after RSET; any
    // other error (I/O, timeout, garbage) leaves it in an unknown state: drop it.
    let fail = |slot: &mut Option<Connection>, e: &SmtpError, stage: Stage| {
        let err = classify(e, stage, ep);
        if e.status().is_some() {
            reset(slot);
        } else {
            slot.take();
        }
        err
    };

    if let Err(e) = conn.smtp.command(Mail::new(Some(out.from.clone()), params)) {
        return Err(fail(slot, &e, Stage::Mail));
    }
    let mut refused = Vec::new();
    for rcpt in &out.rcpts {
        match conn.smtp.command(Rcpt::new(rcpt.clone(), vec![])) {
            Ok(_) => {}
            Err(e) if e.status().is_some() => refused.push((rcpt.clone(), reply_text(&e))),
            Err(e) => return Err(fail(slot, &e, Stage::Mail)),
        }
    }
    if refused.len() == out.rcpts.len() {
        reset(slot);
        let list = refused
            .iter()
            .map(|(a, r)| format!("<{a}>: {r}"))
            .collect::<Vec<_>>()
            .join("; ");
        let status = if refused.iter().all(|(_, r)| r.starts_with('4')) {
            LnccmdStatus::TemporaryFailure
        } else {
            LnccmdStatus::AllRecipientsRefused
        };
        return Err(Error::new(
            status,
            format!(
                "server {} refused every recipient, nothing was sent: {list}",
                ep.display()
            ),
        ));
    }
    if let Err(e) = conn.smtp.command(Data) {
        return Err(fail(slot, &e, Stage::Data));
    }
    // lettre ends DATA with CRLF "." CRLF even when the message already ends
    // with CRLF, which would add an empty line to the body: give it the
    // message without its last line end.
    let data = out.bytes.strip_suffix(b"\r\n").unwrap_or(&out.bytes);
    // In chunks: lettre dot-stuffs each part into a buffer of its size, so one
    // part would copy the whole message again. Its codec keeps its state
    // between parts, so a line split across two chunks is stuffed right.
    match conn.smtp.message_iter(data.chunks(1 << 20)) {
        Ok(resp) => Ok(Delivery {
            refused,
            reply: format!(
                "{} {}",
                resp.code(),
                resp.message().collect::<Vec<_>>().join(" ")
            ),
        }),
        Err(e) => {
            let err = classify(&e, Stage::Message, ep);
            // After the final dot the transaction is over either way; only a
            // connection that stopped answering is dropped.
            if e.status().is_none() {
                slot.take();
            }
            Err(err)
        }
    }
}
