//! A minimal STARTTLS sink for the benchmark (cargo example
//! `minimal_tls_sink`): greets, offers PIPELINING and STARTTLS, answers 250
//! to every command and 354 to DATA, reads the message to its final dot and
//! throws it away. Replies are written when the client's pipelined commands
//! have all been read, as a pipelining server does.
//!
//! It exists to measure the client, not the server: Postfix's smtpd (the
//! benchmark's main TLS sink, bench/tls-sink) relays each command to
//! smtp-sink and waits, which caps any client near 2,000 messages/s here.
//! Not a mail server: no checks, no storage; loopback only.
//!
//!   cargo run --release --example minimal_tls_sink -- CERT.pem KEY.pem
//!   prints "PORT" once listening, runs until killed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};

use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod};

/// Reads a line (LF-terminated) into `line`; false at end of stream.
fn read_line<R: BufRead>(r: &mut R, line: &mut Vec<u8>) -> bool {
    line.clear();
    matches!(r.read_until(b'\n', line), Ok(n) if n > 0)
}

/// Serves one SMTP session on `stream` (plain before STARTTLS, TLS after).
/// Returns at QUIT, end of stream or error; `Some(())` asks for STARTTLS.
fn serve<S: Read + Write>(stream: S, tls: bool) -> Option<S> {
    let mut r = BufReader::with_capacity(64 * 1024, stream);
    let mut out: Vec<u8> = Vec::with_capacity(4096);
    let mut line = Vec::new();
    loop {
        // Reply to everything read so far before waiting for more.
        if r.buffer().is_empty() && !out.is_empty() {
            r.get_mut().write_all(&out).ok()?;
            r.get_mut().flush().ok()?;
            out.clear();
        }
        if !read_line(&mut r, &mut line) {
            return None;
        }
        let verb: Vec<u8> = line
            .iter()
            .take_while(|b| b.is_ascii_alphabetic())
            .map(u8::to_ascii_uppercase)
            .collect();
        match verb.as_slice() {
            b"EHLO" if tls => {
                out.extend_from_slice(b"250-sink\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
            }
            b"EHLO" => out.extend_from_slice(
                b"250-sink\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n",
            ),
            b"STARTTLS" if !tls => {
                r.get_mut().write_all(b"220 go ahead\r\n").ok()?;
                return Some(r.into_inner());
            }
            b"DATA" => {
                out.extend_from_slice(b"354 go ahead\r\n");
                r.get_mut().write_all(&out).ok()?;
                out.clear();
                loop {
                    if !read_line(&mut r, &mut line) {
                        return None;
                    }
                    if line == b".\r\n" {
                        break;
                    }
                }
                out.extend_from_slice(b"250 2.0.0 discarded\r\n");
            }
            b"QUIT" => {
                let _ = r.get_mut().write_all(b"221 bye\r\n");
                return None;
            }
            _ => out.extend_from_slice(b"250 ok\r\n"),
        }
    }
}

fn session(acceptor: &SslAcceptor, mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    if stream.write_all(b"220 sink ESMTP\r\n").is_err() {
        return;
    }
    if let Some(plain) = serve(stream, false)
        && let Ok(tls) = acceptor.accept(plain)
    {
        serve(tls, true);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    assert!(args.len() == 3, "usage: minimal_tls_sink CERT.pem KEY.pem");
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).expect("TLS context");
    b.set_certificate_chain_file(&args[1]).expect("certificate");
    b.set_private_key_file(&args[2], SslFiletype::PEM)
        .expect("key");
    let acceptor = std::sync::Arc::new(b.build());
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    println!("{}", listener.local_addr().unwrap().port());
    for stream in listener.incoming().flatten() {
        let acceptor = acceptor.clone();
        std::thread::spawn(move || session(&acceptor, stream));
    }
}
