use std::{
    fmt::Display,
    io::{self, BufRead, BufReader, Write},
    net::{IpAddr, ToSocketAddrs},
    time::Duration,
};

#[cfg(feature = "tracing")]
use super::escape_crlf;
use super::{
    ClientCodec, MAX_RESPONSE_BYTES, MAX_RESPONSE_LINE_BYTES, NetworkStream, PendingInput,
    TlsParameters,
};
use crate::{
    address::Envelope,
    transport::smtp::{
        authentication::{Credentials, Mechanism},
        commands::{Auth, Data, Ehlo, Mail, Noop, Quit, Rcpt, Starttls},
        error,
        error::Error,
        extension::{ClientId, Extension, MailBodyParameter, MailParameter, ServerInfo},
        response::{Response, parse_response},
    },
};

macro_rules! try_smtp (
    ($err: expr, $client: ident) => ({
        match $err {
            Ok(val) => val,
            Err(err) => {
                $client.abort();
                return Err(From::from(err))
            },
        }
    })
);

/// Structure that implements the SMTP client
pub struct SmtpConnection {
    /// TCP stream between client and server
    /// Value is None before connection
    stream: BufReader<NetworkStream>,
    /// Panic state
    panic: bool,
    /// Information about the server
    server_info: ServerInfo,
    /// lnccmd patch: the timeout, which also bounds each whole reply.
    timeout: Option<Duration>,
    /// lnccmd patch: the last `message_iter` wrote the end-of-data marker.
    end_of_data_sent: bool,
    /// lnccmd patch: the protocol trace, if any (`connect_traced`).
    trace: Option<Trace>,
    /// lnccmd patch: the bytes being written are message content (the
    /// trace says how many, not what).
    writing_content: bool,
}

/// lnccmd patch: a protocol trace. Called with what the client writes
/// (`Traced::Client`: commands as written; `Traced::Content`: the size of
/// message content) and each line the server sends (`Traced::Server`).
pub type Trace = Box<dyn FnMut(Traced<'_>) + Send>;

/// lnccmd patch: one event of the protocol trace.
#[derive(Debug, Clone, Copy)]
pub enum Traced<'a> {
    /// Bytes of commands the client wrote.
    Client(&'a [u8]),
    /// Message content the client wrote: its length only.
    Content(usize),
    /// One line the server sent, line end included.
    Server(&'a [u8]),
}

impl SmtpConnection {
    /// Get information about the server
    pub fn server_info(&self) -> &ServerInfo {
        &self.server_info
    }

    // FIXME add simple connect and rename this one

    /// Connects to the configured server
    ///
    /// Sends EHLO and parses server information
    pub fn connect<A: ToSocketAddrs>(
        server: A,
        timeout: Option<Duration>,
        hello_name: &ClientId,
        tls_parameters: Option<&TlsParameters>,
        local_address: Option<IpAddr>,
    ) -> Result<SmtpConnection, Error> {
        Self::connect_traced(
            server,
            timeout,
            hello_name,
            tls_parameters,
            local_address,
            None,
        )
    }

    /// lnccmd patch: `connect` with a protocol trace from the greeting on.
    pub fn connect_traced<A: ToSocketAddrs>(
        server: A,
        timeout: Option<Duration>,
        hello_name: &ClientId,
        tls_parameters: Option<&TlsParameters>,
        local_address: Option<IpAddr>,
        trace: Option<Trace>,
    ) -> Result<SmtpConnection, Error> {
        let stream = NetworkStream::connect(server, timeout, tls_parameters, local_address)?;
        let stream = BufReader::new(stream);
        let mut conn = SmtpConnection {
            stream,
            panic: false,
            end_of_data_sent: false,
            server_info: ServerInfo::default(),
            timeout,
            trace,
            writing_content: false,
        };
        conn.set_timeout(timeout).map_err(error::network)?;
        // TODO log
        let _response = conn.read_response()?;

        conn.ehlo(hello_name)?;

        // Print server information
        #[cfg(feature = "tracing")]
        tracing::debug!("server {}", conn.server_info);
        Ok(conn)
    }

    pub fn send(&mut self, envelope: &Envelope, email: &[u8]) -> Result<Response, Error> {
        // Mail
        let mut mail_options = vec![];

        // Internationalization handling
        //
        // * 8BITMIME: https://tools.ietf.org/html/rfc6152
        // * SMTPUTF8: https://tools.ietf.org/html/rfc653

        // Check for non-ascii addresses and use the SMTPUTF8 option if any.
        if envelope.has_non_ascii_addresses() {
            if !self.server_info().supports_feature(Extension::SmtpUtfEight) {
                // don't try to send non-ascii addresses (per RFC)
                return Err(error::client(
                    "Envelope contains non-ascii chars but server does not support SMTPUTF8",
                ));
            }
            mail_options.push(MailParameter::SmtpUtfEight);
        }

        // Check for non-ascii content in the message
        if !email.is_ascii() {
            if !self.server_info().supports_feature(Extension::EightBitMime) {
                return Err(error::client(
                    "Message contains non-ascii chars but server does not support 8BITMIME",
                ));
            }
            mail_options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }

        try_smtp!(
            self.command(Mail::new(envelope.from().cloned(), mail_options)),
            self
        );

        // Recipient
        for to_address in envelope.to() {
            try_smtp!(self.command(Rcpt::new(to_address.clone(), vec![])), self);
        }

        // Data
        try_smtp!(self.command(Data), self);

        // Message content
        let result = try_smtp!(self.message(email), self);
        Ok(result)
    }

    /// lnccmd patch: input that no command asked for, without blocking:
    /// bytes left in the read buffer after the last reply (a reply out of
    /// step) or waiting in the socket, or the server's close. A client
    /// checks it before a transaction on a reused connection, and after the
    /// last reply it expects, so that a stray reply is never read as the
    /// answer to the next command.
    pub fn pending_input(&mut self) -> PendingInput {
        if !self.stream.buffer().is_empty() {
            return PendingInput::Bytes;
        }
        self.stream.get_mut().pending_input()
    }

    /// lnccmd patch: the negotiated TLS version and cipher suite
    /// ("TLSv1.3", "TLS_AES_256_GCM_SHA384") of an encrypted connection.
    pub fn tls_negotiated(&self) -> Option<(String, String)> {
        self.stream.get_ref().tls_negotiated()
    }

    pub fn has_broken(&self) -> bool {
        self.panic
    }

    pub fn can_starttls(&self) -> bool {
        !self.is_encrypted() && self.server_info.supports_feature(Extension::StartTls)
    }

    #[allow(unused_variables)]
    pub fn starttls(
        &mut self,
        tls_parameters: &TlsParameters,
        hello_name: &ClientId,
    ) -> Result<(), Error> {
        if self.server_info.supports_feature(Extension::StartTls) {
            #[cfg(any(feature = "native-tls", feature = "rustls", feature = "boring-tls"))]
            {
                try_smtp!(self.command(Starttls), self);
                // lnccmd patch: bytes the server sent after its reply to
                // STARTTLS and before the handshake would be read as if they
                // had come through TLS (CVE-2021-22947 class): refuse them.
                if !self.stream.buffer().is_empty() {
                    self.abort();
                    return Err(error::client(
                        "the server sent data after its reply to STARTTLS, before the TLS handshake (STARTTLS injection)",
                    ));
                }
                self.stream.get_mut().upgrade_tls(tls_parameters)?;
                #[cfg(feature = "tracing")]
                tracing::debug!("connection encrypted");
                // Send EHLO again
                try_smtp!(self.ehlo(hello_name), self);
                Ok(())
            }
            #[cfg(not(any(feature = "native-tls", feature = "rustls", feature = "boring-tls")))]
            // This should never happen as `Tls` can only be created
            // when a TLS library is enabled
            unreachable!("TLS support required but not supported");
        } else {
            Err(error::client("STARTTLS is not supported on this server"))
        }
    }

    /// Send EHLO and update server info
    fn ehlo(&mut self, hello_name: &ClientId) -> Result<(), Error> {
        let ehlo_response = try_smtp!(self.command(Ehlo::new(hello_name.clone())), self);
        self.server_info = try_smtp!(ServerInfo::from_response(&ehlo_response), self);
        Ok(())
    }

    pub fn quit(&mut self) -> Result<Response, Error> {
        Ok(try_smtp!(self.command(Quit), self))
    }

    pub fn abort(&mut self) {
        // Only try to quit if we are not already broken
        if !self.panic {
            self.panic = true;
            let _ = self.command(Quit);
        }
        // lnccmd patch: end TLS with a close_notify before the TCP shutdown
        // (RFC 8446 §6.1); upstream only shut the socket down, and servers
        // log "TLS connection non-properly terminated".
        self.stream.get_mut().close_tls();
        let _ = self.stream.get_mut().shutdown(std::net::Shutdown::Both);
    }

    /// Sets the underlying stream
    pub fn set_stream(&mut self, stream: NetworkStream) {
        self.stream = BufReader::new(stream);
    }

    /// Tells if the underlying stream is currently encrypted
    pub fn is_encrypted(&self) -> bool {
        self.stream.get_ref().is_encrypted()
    }

    /// Set timeout
    pub fn set_timeout(&mut self, duration: Option<Duration>) -> io::Result<()> {
        self.timeout = duration;
        self.stream.get_mut().set_read_timeout(duration)?;
        self.stream.get_mut().set_write_timeout(duration)
    }

    /// Checks if the server is connected using the NOOP SMTP command
    pub fn test_connected(&mut self) -> bool {
        self.command(Noop).is_ok()
    }

    /// Sends an AUTH command with the given mechanism, and handles the challenge if needed
    pub fn auth(
        &mut self,
        mechanisms: &[Mechanism],
        credentials: &Credentials,
    ) -> Result<Response, Error> {
        let mechanism = self
            .server_info
            .get_auth_mechanism(mechanisms)
            .ok_or_else(|| error::client("No compatible authentication mechanism was found"))?;

        // Limit challenges to avoid blocking
        let mut challenges = 10;
        let mut response = self.command(Auth::new(mechanism, credentials.clone(), None)?)?;

        while challenges > 0 && response.has_code(334) {
            challenges -= 1;
            // lnccmd patch: a refusal (535 after the answer to an error
            // challenge) leaves the session usable, as after a refused
            // initial response (RFC 4954 §4): another AUTH may follow. Only
            // a broken dialogue ends the connection.
            response = match self.command(Auth::new_from_response(
                mechanism,
                credentials.clone(),
                &response,
            )?) {
                Ok(r) => r,
                Err(e) if e.status().is_some() => return Err(e),
                Err(e) => {
                    self.abort();
                    return Err(e);
                }
            };
        }

        if challenges == 0 {
            Err(error::response("Unexpected number of challenges"))
        } else {
            Ok(response)
        }
    }

    /// Sends the message content
    pub fn message(&mut self, message: &[u8]) -> Result<Response, Error> {
        self.message_iter(std::iter::once(message))
    }

    /// Sends the message content by consuming an iterator that in its whole represents a message.
    pub fn message_iter<I, B>(&mut self, message: I) -> Result<Response, Error>
    where
        I: Iterator<Item = B>,
        B: AsRef<[u8]>,
    {
        let mut codec = ClientCodec::new();
        self.end_of_data_sent = false;
        // lnccmd patch: the last two bytes of the content, so that a message
        // ending with CRLF gets only `.\r\n` (RFC 5321 §4.1.1.4: the CRLF of
        // `<CRLF>.<CRLF>` ends the last line). Upstream always wrote
        // `\r\n.\r\n`, which added an empty line to such a message, so
        // what arrived was not the bytes that were signed or stored.
        let mut tail = [0u8; 2];
        let mut content_len = 0usize;
        for message_part in message {
            let message_part = message_part.as_ref();
            match message_part.len() {
                0 => {}
                1 => tail = [tail[1], message_part[0]],
                n => tail = [message_part[n - 2], message_part[n - 1]],
            }
            content_len += message_part.len();
            let mut out_buf = Vec::with_capacity(message_part.len());
            codec.encode(message_part, &mut out_buf);
            self.writing_content = true;
            let written = self.write(out_buf.as_slice());
            self.writing_content = false;
            written?;
        }
        if content_len >= 2 && tail == *b"\r\n" {
            self.write(b".\r\n")?;
        } else {
            self.write(b"\r\n.\r\n")?;
        }
        self.end_of_data_sent = true;

        self.read_response()
    }

    /// lnccmd patch: whether the last `message_iter` wrote the whole
    /// message and its end-of-data marker. When it failed without a reply,
    /// this tells "the server cannot have it" (false: the marker never left)
    /// from "the server may have it" (true: only the reply is missing).
    pub fn end_of_data_sent(&self) -> bool {
        self.end_of_data_sent
    }

    /// lnccmd patch: RFC 2920 pipelining. Writes all `commands` in one
    /// write, then reads one reply per command, in order. A refusal (4xx,
    /// 5xx) takes its command's place in the result; a failure that leaves
    /// the stream out of step (I/O, timeout, a reply that does not parse)
    /// ends the reading, so the result is then shorter than `commands` and
    /// its last element is that failure. Only for a server that offers
    /// PIPELINING; the caller decides which commands may be grouped.
    pub fn pipeline(&mut self, commands: &[String]) -> Vec<Result<Response, Error>> {
        let mut replies = Vec::with_capacity(commands.len());
        if let Err(e) = self.write(commands.concat().as_bytes()) {
            replies.push(Err(e));
            return replies;
        }
        for _ in commands {
            let reply = self.read_response();
            let broken = matches!(&reply, Err(e) if e.status().is_none());
            replies.push(reply);
            if broken {
                break;
            }
        }
        replies
    }

    /// lnccmd patch: RFC 3030 CHUNKING with RFC 2920 pipelining. Writes
    /// `commands` (MAIL, RCPT..., and last `BDAT <n> LAST`) at once, then
    /// the content, exactly as given (BDAT has no dot-stuffing and no
    /// end marker; its parts must add up to `n` bytes), then reads one
    /// reply per command, in order, as `pipeline` does: the whole message
    /// in one round trip. `end_of_data_sent` tells afterwards whether every
    /// byte of the content was written.
    pub fn pipeline_bdat<'a, I>(
        &mut self,
        commands: &[String],
        content: I,
    ) -> Vec<Result<Response, Error>>
    where
        I: Iterator<Item = &'a [u8]>,
    {
        self.end_of_data_sent = false;
        let mut replies = Vec::with_capacity(commands.len());
        // The commands and the first part of the content in one write: a
        // server that finds them together answers them in one write too.
        // Written apart, Postfix answered MAIL and RCPT first and held its
        // BDAT reply (Nagle) until the client's delayed ACK, 40 ms a message.
        let mut content = content;
        let written_commands = commands.concat().into_bytes();
        let mut first = written_commands.clone();
        if let Some(part) = content.next() {
            first.extend_from_slice(part);
        }
        if let Some(trace) = self.trace.as_mut() {
            trace(Traced::Client(&written_commands));
            trace(Traced::Content(first.len() - written_commands.len()));
        }
        let trace = self.trace.take();
        let written = self.write(&first);
        self.trace = trace;
        if let Err(e) = written {
            replies.push(Err(e));
            return replies;
        }
        drop(first);
        for part in content {
            self.writing_content = true;
            let written = self.write(part);
            self.writing_content = false;
            if let Err(e) = written {
                replies.push(Err(e));
                return replies;
            }
        }
        self.end_of_data_sent = true;
        for _ in commands {
            let reply = self.read_response();
            let broken = matches!(&reply, Err(e) if e.status().is_none());
            replies.push(reply);
            if broken {
                break;
            }
        }
        replies
    }

    /// lnccmd patch: ends a DATA that the server accepted (354) with an
    /// empty message ("." alone), for a client that has nothing to send
    /// after a pipelined transaction failed; returns the server's reply.
    pub fn end_empty_data(&mut self) -> Result<Response, Error> {
        self.write(b".\r\n")?;
        self.read_response()
    }

    /// Sends an SMTP command
    pub fn command<C: Display>(&mut self, command: C) -> Result<Response, Error> {
        self.write(command.to_string().as_bytes())?;
        self.read_response()
    }

    /// Writes a string to the server
    fn write(&mut self, string: &[u8]) -> Result<(), Error> {
        if let Some(trace) = self.trace.as_mut() {
            trace(if self.writing_content {
                Traced::Content(string.len())
            } else {
                Traced::Client(string)
            });
        }
        self.stream
            .get_mut()
            .write_all(string)
            .map_err(error::network)?;
        self.stream.get_mut().flush().map_err(error::network)?;

        #[cfg(feature = "tracing")]
        tracing::debug!("Wrote: {}", escape_crlf(&String::from_utf8_lossy(string)));
        Ok(())
    }

    /// Gets the SMTP response
    pub fn read_response(&mut self) -> Result<Response, Error> {
        let deadline = self.timeout.map(|t| std::time::Instant::now() + t);
        let mut timeout_changed = false;
        let result = self.read_response_until(deadline, &mut timeout_changed);
        // Leave the socket as set_timeout left it (the TLS handshake uses it).
        if timeout_changed {
            let _ = self.stream.get_mut().set_read_timeout(self.timeout);
        }
        result
    }

    /// lnccmd patch: one line, but never past `deadline`. Upstream's
    /// read_line is bounded per read(): a server dripping one byte just
    /// within the timeout could hold a reply for hours.
    fn read_line_until(
        &mut self,
        buffer: &mut String,
        deadline: Option<std::time::Instant>,
        timeout_changed: &mut bool,
    ) -> Result<usize, Error> {
        let mut line = Vec::new();
        loop {
            if let Some(d) = deadline {
                let now = std::time::Instant::now();
                if now >= d {
                    return Err(error::network(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the reply did not complete within the timeout",
                    )));
                }
                // Bytes already buffered (the next pipelined reply, say) need
                // no read, so no system call to set its timeout.
                if self.stream.buffer().is_empty() {
                    self.stream
                        .get_mut()
                        .set_read_timeout(Some(d - now))
                        .map_err(error::network)?;
                    *timeout_changed = true;
                }
            }
            // lnccmd patch: a read interrupted by a signal (EINTR: a program
            // with a handler installed without SA_RESTART) is tried again,
            // as std's read_until does; the deadline above still bounds it.
            let available = match self.stream.fill_buf() {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => other.map_err(error::network)?,
            };
            if available.is_empty() {
                break;
            }
            match available.iter().position(|b| *b == b'\n') {
                Some(i) => {
                    line.extend_from_slice(&available[..=i]);
                    self.stream.consume(i + 1);
                    break;
                }
                None => {
                    let n = available.len();
                    line.extend_from_slice(available);
                    self.stream.consume(n);
                    if line.len() > MAX_RESPONSE_LINE_BYTES {
                        break;
                    }
                }
            }
        }
        if let Some(trace) = self.trace.as_mut()
            && !line.is_empty()
        {
            trace(Traced::Server(&line));
        }
        let text = String::from_utf8(line).map_err(error::response)?;
        buffer.push_str(&text);
        Ok(text.len())
    }

    fn read_response_until(
        &mut self,
        deadline: Option<std::time::Instant>,
        timeout_changed: &mut bool,
    ) -> Result<Response, Error> {
        let mut buffer = String::with_capacity(100);
        let mut pre = 0;

        while self.read_line_until(&mut buffer, deadline, timeout_changed)? > 0 {
            if buffer.len() - pre > MAX_RESPONSE_LINE_BYTES {
                return Err(error::response("SMTP response line too long"));
            }
            if buffer.len() > MAX_RESPONSE_BYTES {
                return Err(error::response("SMTP response too large"));
            }
            // lnccmd patch: a line "NNN-..." continues the reply, so parsing
            // can wait for the last line. Upstream parsed the whole buffer
            // after every line: quadratic in the number of lines.
            let line = &buffer.as_bytes()[pre..];
            pre = buffer.len();
            if line.len() > 4 && line[3] == b'-' && line[..3].iter().all(u8::is_ascii_digit) {
                continue;
            }

            #[cfg(feature = "tracing")]
            tracing::debug!("<< {}", escape_crlf(&buffer));
            match parse_response(&buffer) {
                Ok((_remaining, response)) => {
                    return if response.is_positive() {
                        Ok(response)
                    } else {
                        Err(error::code_from_response(&response))
                    };
                }
                Err(nom::Err::Failure(e)) => {
                    return Err(error::response(e.to_string()));
                }
                Err(nom::Err::Incomplete(_)) => { /* read more */ }
                Err(nom::Err::Error(e)) => {
                    return Err(error::response(e.to_string()));
                }
            }
        }

        Err(error::response("incomplete response"))
    }

    /// The X509 certificate of the server (DER encoded)
    #[cfg(any(feature = "native-tls", feature = "rustls", feature = "boring-tls"))]
    #[cfg_attr(
        docsrs,
        doc(cfg(any(feature = "native-tls", feature = "rustls", feature = "boring-tls")))
    )]
    pub fn peer_certificate(&self) -> Result<Vec<u8>, Error> {
        self.stream.get_ref().peer_certificate()
    }

    /// Currently this is only avaialable when using Boring TLS and
    /// returns the result of the verification of the TLS certificate
    /// presented by the peer, if any. Only the last error encountered
    /// during verification is presented.
    /// It can be useful when you don't want to fail outright the TLS
    /// negotiation, for example when a self-signed certificate is
    /// encountered, but still want to record metrics or log the fact.
    /// When using DANE verification, the PKI root of trust moves from
    /// the CAs to DNS, so self-signed certificates are permitted as long
    /// as the TLSA records match the leaf or issuer certificates.
    /// It cannot be called on non Boring TLS streams.
    #[cfg(feature = "boring-tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "boring-tls")))]
    pub fn tls_verify_result(&self) -> Result<(), Error> {
        self.stream.get_ref().tls_verify_result()
    }

    /// All the X509 certificates of the chain (DER encoded)
    #[cfg(any(feature = "rustls", feature = "boring-tls"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "rustls", feature = "boring-tls"))))]
    pub fn certificate_chain(&self) -> Result<Vec<Vec<u8>>, Error> {
        self.stream.get_ref().certificate_chain()
    }
}
