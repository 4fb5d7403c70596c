#!/usr/bin/python3
"""Reads messages with GMime 3 (Evolution's and notmuch's parser), through
PyGObject (Debian: python3-gi, gir1.2-gmime-3.0), for tests/headers.rs.

usage: gmime.py FILE.eml...   (output as python_email.py)
"""
import json
import os
import sys

import gi

gi.require_version("GMime", "3.0")
from gi.repository import GMime  # noqa: E402

GMime.init()


def addrs(lst):
    out = []
    if lst is None:
        return out
    for i in range(lst.length()):
        a = lst.get_address(i)
        addr = a.get_addr() if isinstance(a, GMime.InternetAddressMailbox) else None
        out.append([a.get_name() or "", addr])
    return out


for path in sys.argv[1:]:
    stream = GMime.StreamFs.open(path, os.O_RDONLY, 0)
    parser = GMime.Parser.new_with_stream(stream)
    msg = parser.construct_message(None)
    files = []

    def visit(parent, part, _data):
        if isinstance(part, GMime.Part) and part.get_filename() is not None:
            files.append(part.get_filename())

    msg.foreach(visit, None)
    x = msg.get_header("X-Lnccmd-Test")
    print(json.dumps({
        "file": path,
        "subject": msg.get_subject(),
        "from": addrs(msg.get_from()),
        "to": addrs(msg.get_to()),
        "cc": addrs(msg.get_cc()),
        "x": GMime.utils_header_decode_text(None, x) if x is not None else None,
        "files": files,
    }, ensure_ascii=False))
