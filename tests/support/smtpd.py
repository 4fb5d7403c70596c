#!/usr/bin/env python3
"""A real SMTP server for lnccmd's tests: aiosmtpd (not written here), on a
loopback port, storing every message it accepts.

For message N it writes, in --dir:
  N.eml   the message exactly as received after DATA (dot-unstuffed)
  N.json  the envelope (MAIL FROM, RCPT TO, their parameters, the client's
          peer address) and the message parsed back by Python's `email`
          package (headers decoded per RFC 2047, every MIME part).
It prints "PORT <n>" on stdout once it listens, and runs until killed.

Recipients whose local part starts with "reject" get 550, with "busy" 450:
a configured policy of the real server, so partial deliveries can be tested.
"""

import argparse
import asyncio
import hashlib
import email
import email.policy
import json
import os
import signal
import sys

from aiosmtpd.smtp import SMTP


def structure(part) -> str:
    """multipart/mixed(multipart/alternative(text/plain,text/html),application/pdf)"""
    if part.is_multipart():
        return "%s(%s)" % (part.get_content_type(), ",".join(structure(p) for p in part.iter_parts()))
    return part.get_content_type()


def parse_message(raw: bytes) -> dict:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    headers = [[k, str(v)] for k, v in msg.items()]
    raw_msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    raw_headers = [[k, str(v)] for k, v in raw_msg.items()]
    parts = []
    for part in msg.walk():
        if part.is_multipart():
            parts.append({"content_type": part.get_content_type(), "multipart": True})
            continue
        payload = part.get_payload(decode=True) or b""
        info = {
            "content_type": part.get_content_type(),
            "charset": part.get_content_charset(),
            "cte": part.get("Content-Transfer-Encoding", "7bit").lower(),
            "filename": part.get_filename(),
            "name": part["Content-Type"].params.get("name") if part["Content-Type"] else None,
            "disposition": part.get_content_disposition(),
            "content_id": str(part["Content-ID"]) if part["Content-ID"] else None,
            "size": len(payload),
            "sha256": hashlib.sha256(payload).hexdigest(),
        }
        if part.get_content_maintype() == "text":
            # Python keeps the CRLF of the wire in the content: show it as
            # LF like a mail client does (bare CR/LF are checked on raw bytes).
            info["text"] = part.get_content().replace("\r\n", "\n")
        parts.append(info)
    return {
        "structure": structure(msg),
        "headers": headers,
        "raw_headers": raw_headers,
        "parts": parts,
        "defects": [repr(d) for d in msg.defects],
    }


class Handler:
    def __init__(self, directory: str):
        self.directory = directory
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local.startswith("reject"):
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        if local.startswith("busy"):
            return "450 4.2.1 <%s>: Mailbox busy, try again later" % address
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        n = self.count
        raw = envelope.original_content
        record = {
            "mail_from": envelope.mail_from,
            "mail_options": envelope.mail_options,
            "rcpt_tos": envelope.rcpt_tos,
            "rcpt_options": envelope.rcpt_options,
            "peer": list(session.peer),
            "helo": session.host_name,
            "size": len(raw),
        }
        record.update(parse_message(raw))
        base = os.path.join(self.directory, str(n))
        with open(base + ".eml", "wb") as f:
            f.write(raw)
        # Write the JSON last and atomically: tests poll for it.
        with open(base + ".json.tmp", "w", encoding="utf-8") as f:
            json.dump(record, f, ensure_ascii=False)
        os.replace(base + ".json.tmp", base + ".json")
        return "250 2.0.0 OK queued as %d" % n


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    handler = Handler(args.dir)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(
            handler, hostname="mx.example.test", enable_SMTPUTF8=True, data_size_limit=None
        ),
        args.host,
        args.port,
    )
    port = server.sockets[0].getsockname()[1]
    print("PORT %d" % port, flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    server.close()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
