#!/usr/bin/env python3
"""A raw pipelining SMTP client for bench/latency: the fewest round trips
the protocol allows, to set beside the real clients. No library, no MIME:
the same 2 KB message as bytes.

  raw_smtp.py HOST PORT COUNT [--new] [--bdat] [--starttls]

  per message, one flight each way:  MAIL, RCPT, DATA / 250, 250, 354
                                     the text and "." / 250
  with --bdat (RFC 3030, when the server offers CHUNKING):
                                     MAIL, RCPT, BDAT n LAST + the text / 250, 250, 250
  --new: a connection (greeting, EHLO, STARTTLS) per message; QUIT after the
  last message of each connection, its 221 read.
Prints "messages/s N".
"""
import socket
import ssl
import sys
import time

BODY = "".join(("\n" if i % 64 == 63 else chr(ord("a") + i % 26)) for i in range(2048))
MESSAGE = (
    "From: bench@example.test\r\nTo: sink@example.test\r\nSubject: benchmark\r\n\r\n"
    + BODY.replace("\n", "\r\n")
    + "\r\n"
).encode()


class Conn:
    def __init__(self, host, port, starttls):
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.reply()  # greeting
        self.ehlo = self.command(b"EHLO bench.example.test\r\n")
        if starttls:
            self.command(b"STARTTLS\r\n")
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            self.sock = ctx.wrap_socket(self.sock)
            self.buf = b""
            self.ehlo = self.command(b"EHLO bench.example.test\r\n")

    def reply(self):
        """One (possibly multi-line) reply; raises on 4xx/5xx."""
        lines = []
        while True:
            while b"\n" not in self.buf:
                data = self.sock.recv(65536)
                if not data:
                    raise EOFError("connection closed")
                self.buf += data
            line, self.buf = self.buf.split(b"\n", 1)
            lines.append(line)
            if len(line) < 4 or line[3:4] != b"-":
                break
        if lines[-1][:1] not in (b"2", b"3"):
            raise RuntimeError(lines[-1].decode())
        return b"\n".join(lines)

    def command(self, data, replies=1):
        self.sock.sendall(data)
        return [self.reply() for _ in range(replies)][-1]

    def send(self, bdat):
        env = b"MAIL FROM:<bench@example.test>\r\nRCPT TO:<sink@example.test>\r\n"
        if bdat:
            self.command(env + b"BDAT %d LAST\r\n" % len(MESSAGE) + MESSAGE, 3)
        else:
            self.command(env + b"DATA\r\n", 3)
            self.command(MESSAGE.replace(b"\r\n.", b"\r\n..") + b".\r\n")

    def quit(self):
        self.command(b"QUIT\r\n")
        self.sock.close()


def main():
    host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    new, bdat, starttls = ("--new" in sys.argv), ("--bdat" in sys.argv), ("--starttls" in sys.argv)
    t0 = time.monotonic()
    c = None
    for i in range(count):
        if c is None:
            c = Conn(host, port, starttls)
            if bdat and b"CHUNKING" not in c.ehlo.upper():
                sys.exit("raw_smtp.py: the server does not offer CHUNKING")
        c.send(bdat)
        if new or i == count - 1:
            c.quit()
            c = None
    print("messages/s %.2f" % (count / (time.monotonic() - t0)))


if __name__ == "__main__":
    main()
