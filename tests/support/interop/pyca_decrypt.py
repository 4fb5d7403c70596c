"""pyca/cryptography (pinned in tests/support/requirements.txt) decrypts a
CMS EnvelopedData (DER only: it refuses BER with indefinite lengths).

    pyca_decrypt.py MESSAGE.p7m CERT.pem KEY.pem   -> the clear content on stdout"""
import sys

from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key, pkcs7

der = open(sys.argv[1], "rb").read()
cert = x509.load_pem_x509_certificate(open(sys.argv[2], "rb").read())
key = load_pem_private_key(open(sys.argv[3], "rb").read(), None)
sys.stdout.buffer.write(pkcs7.pkcs7_decrypt_der(der, cert, key, []))
