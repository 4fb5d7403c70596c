#!/usr/bin/env python3
"""Python's smtplib + email, the peer of bench/send_many.c and send_big.c.

  peer_smtplib.py PORT COUNT            messages/s, 2 KB text, one connection
  peer_smtplib.py PORT --big FILE       ms to build + send one message with FILE attached
  peer_smtplib.py PORT COUNT --starttls messages/s over one STARTTLS connection
  ... --new                             a connection (and STARTTLS) per message
  ... --host ADDRESS                    the server's address (default 127.0.0.1)
  ... --ca CA_PEM                       verify the server against CA_PEM, by the
                                        name "localhost" unless --host is given;
                                        one SSLContext for the run, as a program
                                        written for it would keep

After messages/s: "cpu_us_per_message N", the process's user + system CPU
time per message (interpreter start-up excluded), as bench/send_many.c prints.
"""
import resource
import smtplib
import ssl
import sys
import time
from email.message import EmailMessage

BODY = "".join(("\n" if i % 64 == 63 else chr(ord("a") + i % 26)) for i in range(2048))


def message(subject):
    m = EmailMessage()
    m["From"] = "bench@example.test"
    m["To"] = "sink@example.test"
    m["Subject"] = subject
    m.set_content(BODY)
    return m


def main():
    port = int(sys.argv[1])
    ca = sys.argv[sys.argv.index("--ca") + 1] if "--ca" in sys.argv else None
    default_host = "localhost" if ca else "127.0.0.1"
    host = sys.argv[sys.argv.index("--host") + 1] if "--host" in sys.argv else default_host
    if sys.argv[2] == "--big":
        with open(sys.argv[3], "rb") as f:
            data = f.read()
        t0 = time.monotonic()
        m = message("big attachment")
        m.add_attachment(data, maintype="application", subtype="octet-stream", filename="big.bin")
        with smtplib.SMTP(host, port) as s:
            s.send_message(m)
        print("ms %.0f" % ((time.monotonic() - t0) * 1000))
        return
    count = int(sys.argv[2])
    starttls = "--starttls" in sys.argv
    per_message = "--new" in sys.argv
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()

    if ca:
        ctx = ssl.create_default_context(cafile=ca)
    else:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE

    def connect():
        s = smtplib.SMTP(host, port)
        if starttls:
            s.starttls(context=ctx)
        return s

    if per_message:
        for i in range(count):
            with connect() as s:
                s.send_message(message("benchmark"))
    else:
        with connect() as s:
            for i in range(count):
                s.send_message(message("benchmark"))
    print("messages/s %.2f" % (count / (time.monotonic() - t0)))
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    print("cpu_us_per_message %.1f" % (cpu * 1e6 / count))


if __name__ == "__main__":
    main()
