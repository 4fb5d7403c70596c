#!/usr/bin/python3
"""GMime 3 (Evolution, notmuch) decrypts an application/pkcs7-mime message
as those clients do, through GPGME/gpgsm with the GNUPGHOME of the caller,
whose keybox holds the recipient's key (tests/interop.rs). Run with
Debian's python3 (/usr/bin/python3), which has python3-gi.

    gmime_decrypt.py MESSAGE OUT
Writes the decrypted entity, as GMime writes it, to OUT; exits 0 only
when GMime decrypted it."""
import sys

import gi

gi.require_version("GMime", "3.0")
from gi.repository import GMime  # noqa: E402

GMime.init()
stream = GMime.StreamFile.open(sys.argv[1], "r")
msg = GMime.Parser.new_with_stream(stream).construct_message(None)
part = msg.get_mime_part()
if not isinstance(part, GMime.ApplicationPkcs7Mime):
    print("not application/pkcs7-mime:", type(part).__name__)
    sys.exit(1)
try:
    clear, _result = part.decrypt(GMime.DecryptFlags.NONE, None)
except Exception as e:  # GLib.GError: what GMime said
    print("ERROR", e)
    sys.exit(1)
out = GMime.StreamFile.open(sys.argv[2], "w")
clear.write_to_stream(None, out)
out.flush()
print("DECRYPTED")
