#!/usr/bin/python3
"""GMime 3 (Evolution, notmuch) verifies a multipart/signed S/MIME message
as those clients do: parsed by GMime, verified through GPGME/gpgsm with the
GNUPGHOME of the caller (tests/interop.rs). Run with Debian's python3
(/usr/bin/python3), which has python3-gi.

    gmime_verify.py MESSAGE
Prints "GOOD <email>" per valid signature; exits 0 only if there is at
least one signature and every one is valid (GMIME_SIGNATURE_STATUS_VALID
and no error bit)."""
import ctypes
import sys

import gi

gi.require_version("GMime", "3.0")
from gi.repository import GMime  # noqa: E402

VALID = 0x0001
GREEN = 0x0002
RED = 0x0004
ERROR_BITS = 0xFFFFFFF8  # KEY_REVOKED ... TOFU_CONFLICT and the error bits

GMime.init()
# GMimeSignatureStatus is a bit mask that PyGObject reads as an enum and
# cannot convert (VALID|GREEN = 3): read it through the C function.
lib = ctypes.CDLL("libgmime-3.0.so.0")
lib.g_mime_signature_get_status.restype = ctypes.c_uint
lib.g_mime_signature_get_status.argtypes = [ctypes.c_void_p]
capsule = ctypes.pythonapi.PyCapsule_GetPointer
capsule.restype = ctypes.c_void_p
capsule.argtypes = [ctypes.py_object, ctypes.c_char_p]

stream = GMime.StreamFile.open(sys.argv[1], "r")
msg = GMime.Parser.new_with_stream(stream).construct_message(None)
part = msg.get_mime_part()
if not isinstance(part, GMime.MultipartSigned):
    print("not multipart/signed:", type(part).__name__)
    sys.exit(1)
try:
    sigs = part.verify(GMime.VerifyFlags.NONE)
except Exception as e:  # GLib.GError: what GMime said
    print("ERROR", e)
    sys.exit(1)
n = sigs.length() if sigs else 0
ok = n > 0
for i in range(n):
    s = sigs.get_signature(i)
    status = lib.g_mime_signature_get_status(capsule(s.__gpointer__, None))
    email = s.get_certificate().get_email()
    good = status & VALID and not status & RED and not status & ERROR_BITS
    print(("GOOD" if good else "BAD status 0x%x" % status), email)
    ok = ok and bool(good)
sys.exit(0 if ok else 1)
