#!/usr/bin/python3
"""GMime 3 (Evolution, notmuch) decrypts an application/pkcs7-mime message
as those clients do, through GPGME/gpgsm with the GNUPGHOME of the caller,
whose keybox holds the recipient's key (tests/interop.rs). Run with
Debian's python3 (/usr/bin/python3), which has python3-gi.

    gmime_decrypt.py MESSAGE OUT
Writes the decrypted entity, as GMime writes it, to OUT; exits 0 only
when GMime decrypted it."""
import ctypes
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
# PyGObject cannot pass NULL for the session key (the annotation says it
# may not be): the C function is called through ctypes, as GMime's own
# clients call it, with no session key and no result wanted.
lib = ctypes.CDLL("libgmime-3.0.so.0")
lib.g_mime_application_pkcs7_mime_decrypt.restype = ctypes.c_void_p
lib.g_mime_application_pkcs7_mime_decrypt.argtypes = [
    ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p]
lib.g_mime_object_to_string.restype = ctypes.c_void_p
lib.g_mime_object_to_string.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
capsule = ctypes.pythonapi.PyCapsule_GetPointer
capsule.restype = ctypes.c_void_p
capsule.argtypes = [ctypes.py_object, ctypes.c_char_p]


class GError(ctypes.Structure):
    _fields_ = [("domain", ctypes.c_uint32), ("code", ctypes.c_int), ("message", ctypes.c_char_p)]


err = ctypes.POINTER(GError)()
clear = lib.g_mime_application_pkcs7_mime_decrypt(
    capsule(part.__gpointer__, None), 0, None, None, ctypes.byref(err))
if not clear:
    print("ERROR", err.contents.message.decode() if err else "nothing decrypted")
    sys.exit(1)
text = ctypes.string_at(lib.g_mime_object_to_string(clear, None))
open(sys.argv[2], "wb").write(text)
print("DECRYPTED")
