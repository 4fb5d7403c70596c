#!/usr/bin/env python3
"""Verifies the DKIM signature of a message with dkimpy (an independent
implementation), the public key given as the DNS answer a resolver would give.

  dkim_verify.py MESSAGE SELECTOR DOMAIN KEYTYPE PUBKEY_BASE64

KEYTYPE is rsa (PUBKEY = SubjectPublicKeyInfo DER) or ed25519 (the raw
32-byte key, RFC 8463). Prints OK and exits 0 when the signature verifies.
"""
import sys

import dkim


def main():
    path, selector, domain, ktype, pub = sys.argv[1:6]
    record = ("v=DKIM1; k=%s; p=%s" % (ktype, pub)).encode()
    expected = ("%s._domainkey.%s." % (selector, domain)).encode()

    def dnsfunc(name, timeout=5):
        name = name if isinstance(name, bytes) else name.encode()
        return record if name.rstrip(b".") == expected.rstrip(b".") else None

    with open(path, "rb") as f:
        msg = f.read()
    ok = dkim.verify(msg, dnsfunc=dnsfunc)
    print("OK" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
