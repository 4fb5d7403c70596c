#!/usr/bin/env python3
"""Reads messages with Python's email package (tests/headers.rs).

usage: python_email.py compat32|default FILE.eml...
Prints one JSON object a line: subject, from/to/cc as [name, address],
the X-Lnccmd-Test header, and the attachments' file names, all decoded.
"""
import email
import json
import sys
from email import policy
from email.header import decode_header, make_header
from email.utils import getaddresses


def compat_text(v):
    if v is None:
        return None
    return str(make_header(decode_header(v)))


def read(kind, raw):
    if kind == "compat32":
        m = email.message_from_bytes(raw)
        def addrs(h):
            return [[compat_text(n), a] for n, a in getaddresses(m.get_all(h) or [])]
        def text(h):
            return compat_text(m[h])
        def fname(p):
            f = p.get_filename()
            # compat32 decodes RFC 2231 but leaves RFC 2047 words as they are
            return compat_text(f) if f is not None else None
    else:
        m = email.message_from_bytes(raw, policy=policy.default)
        def addrs(h):
            v = m[h]
            return [[a.display_name, a.addr_spec] for a in v.addresses] if v is not None else []
        def text(h):
            v = m[h]
            return str(v) if v is not None else None
        fname = lambda p: p.get_filename()
    files = [fname(p) for p in m.walk() if not p.is_multipart() and p.get_filename() is not None]
    return {
        "subject": text("Subject"),
        "from": addrs("From"),
        "to": addrs("To"),
        "cc": addrs("Cc"),
        "x": text("X-Lnccmd-Test"),
        "files": files,
    }


kind = sys.argv[1]
for path in sys.argv[2:]:
    with open(path, "rb") as f:
        out = read(kind, f.read())
    out["file"] = path
    print(json.dumps(out, ensure_ascii=False))
