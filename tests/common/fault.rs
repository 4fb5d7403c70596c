//! A scripted SMTP peer for faults a real server will not produce on demand
//! (stalls, drops, garbage, injected bytes). Each accepted connection runs
//! the test's script on its own thread; every wait is bounded.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Longest a script waits for the client (a stall ends when the client hangs up).
const PEER_WAIT: Duration = Duration::from_secs(30);

pub struct FaultServer {
    pub port: u16,
    stop: Arc<AtomicBool>,
    /// Every line the clients sent, in order.
    pub received: Arc<Mutex<Vec<String>>>,
    pub connections: Arc<AtomicUsize>,
}

/// One client connection, as the script sees it.
pub struct Peer {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    received: Arc<Mutex<Vec<String>>>,
}

impl Peer {
    pub fn send(&mut self, text: &str) {
        let _ = self.writer.write_all(text.as_bytes());
    }

    /// The next line from the client (without CRLF); None when it hung up.
    pub fn line(&mut self) -> Option<String> {
        let mut buf = Vec::new();
        match self.reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => None,
            Ok(_) => {
                let l = String::from_utf8_lossy(&buf).trim_end().to_string();
                self.received.lock().unwrap().push(l.clone());
                Some(l)
            }
        }
    }

    /// Greeting and EHLO with these extra capabilities.
    pub fn hello(&mut self, caps: &[&str]) -> Option<()> {
        self.send("220 fault.example.test ESMTP\r\n");
        self.ehlo(caps)
    }

    pub fn ehlo(&mut self, caps: &[&str]) -> Option<()> {
        let l = self.line()?;
        if !l.to_ascii_uppercase().starts_with("EHLO") {
            return None;
        }
        let mut reply = String::from("250-fault.example.test\r\n");
        for c in caps {
            reply.push_str(&format!("250-{c}\r\n"));
        }
        reply.push_str("250 8BITMIME\r\n");
        self.send(&reply);
        Some(())
    }

    /// Answers commands with `reply(line)` until DATA's data is complete
    /// (returned), QUIT, or a hang-up.
    pub fn serve_until_data(&mut self, reply: impl Fn(&str) -> String) -> Option<Vec<String>> {
        loop {
            let l = self.line()?;
            let up = l.to_ascii_uppercase();
            if up == "QUIT" {
                self.send("221 bye\r\n");
                return None;
            }
            let r = reply(&l);
            self.send(&r);
            if up == "DATA" && r.starts_with("354") {
                return self.data();
            }
        }
    }

    /// The message after a 354: its lines up to the final dot (None when the
    /// client hung up first).
    pub fn data(&mut self) -> Option<Vec<String>> {
        let mut data = Vec::new();
        loop {
            let d = self.line()?;
            if d == "." {
                return Some(data);
            }
            data.push(d);
        }
    }

    /// A well-behaved transaction: every command 250, DATA 354.
    pub fn ok_reply(line: &str) -> String {
        if line.eq_ignore_ascii_case("DATA") {
            "354 go ahead\r\n".into()
        } else {
            "250 ok\r\n".into()
        }
    }

    /// Says nothing more until the client hangs up.
    pub fn stall(&mut self) {
        let mut buf = [0u8; 4096];
        while matches!(self.reader.read(&mut buf), Ok(n) if n > 0) {}
    }

    /// Closes the connection now.
    pub fn drop_connection(self) {
        let _ = self.writer.shutdown(std::net::Shutdown::Both);
    }
}

impl FaultServer {
    /// Runs `script(peer, n)` for the n-th connection (0-based).
    pub fn start<F>(script: F) -> FaultServer
    where
        F: Fn(Peer, usize) + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let received = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let script = Arc::new(script);
        let (stop2, received2, connections2) =
            (stop.clone(), received.clone(), connections.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(PEER_WAIT));
                let n = connections2.fetch_add(1, Ordering::SeqCst);
                let peer = Peer {
                    writer: stream.try_clone().unwrap(),
                    reader: BufReader::new(stream),
                    received: received2.clone(),
                };
                let script = script.clone();
                std::thread::spawn(move || script(peer, n));
            }
        });
        FaultServer {
            port,
            stop,
            received,
            connections,
        }
    }

    pub fn props(&self, timeout: u32) -> String {
        format!(
            "Server=127.0.0.1;port={};Sender=tech@example.test;Timeout={timeout}",
            self.port
        )
    }

    pub fn received(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }

    pub fn count(&self, prefix: &str) -> usize {
        self.received()
            .iter()
            .filter(|l| l.to_ascii_uppercase().starts_with(prefix))
            .count()
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so its thread ends.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}
