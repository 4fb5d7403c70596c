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

Options for the transport tests:
  --tls plain|starttls|smtps  with --cert/--key (starttls: STARTTLS required)
  --auth USER:PASS            AUTH PLAIN, LOGIN and XOAUTH2 (token = PASS)
  --oauth2-jwks URL           AUTH XOAUTH2 and OAUTHBEARER with an OAuth2 token
                              (a JWT) checked like Exchange Online or Gmail:
                              signature by a key of the JWKS at URL (HTTPS,
                              trusting --oauth2-ca), --oauth2-audience,
                              --oauth2-scope, expiry, and the mailbox (the
                              SASL user) = the token's sub when that is an
                              address; a token whose jti is listed in
                              DIR/revoked is refused. A refusal is
                              an error challenge (334 + JSON), then 535.
                              Every attempt is a JSON line in DIR/auth.log.
  --dsn                       advertise DSN and accept RET/ENVID/NOTIFY/ORCPT
  --close-after-message       close the connection after each message's 250,
                              as a server with a per-connection limit does:
                              the client's next message needs a new
                              connection (and AUTH)
  --reply-delay SECONDS       wait between storing a message and its 250, as a
                              server that commits first and answers late: a
                              kill in between leaves a stored message whose
                              sender never heard of it (tests/load.rs)
"""

import argparse
import time
import asyncio
import hashlib
import email
import email.policy
import json
import os
import base64
import signal
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

DSN_PARAMS = {"RET", "ENVID", "NOTIFY", "ORCPT"}


class TestSMTP(SMTP):
    """aiosmtpd with DSN parameters accepted (it refuses unknown ones with
    555), and the raw MAIL/RCPT arguments kept (it uppercases them)."""

    dsn = False

    def _getparams(self, params):
        result = super()._getparams(params)
        if result is not None and self.dsn:
            for key in DSN_PARAMS:
                result.pop(key, None)
        return result

    async def smtp_MAIL(self, arg):
        self.raw_mail_arg = arg
        self.raw_rcpt_args = []
        return await super().smtp_MAIL(arg)

    async def smtp_DATA(self, arg):
        await super().smtp_DATA(arg)
        if self.event_handler.close_after_message:
            # The reply is in the transport's buffer: written, then closed.
            self.transport.close()

    async def smtp_RCPT(self, arg):
        if not hasattr(self, "raw_rcpt_args"):
            self.raw_rcpt_args = []
        self.raw_rcpt_args.append(arg)
        return await super().smtp_RCPT(arg)


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


class OAuth2Checker:
    """Checks an OAuth2 access token as a provider's SMTP server does, with
    PyJWT (pinned) and the issuer's published keys."""

    def __init__(self, jwks_url, ca, audience, scope, revoked, directory):
        import jwt  # PyJWT

        self.jwt = jwt
        ctx = ssl.create_default_context(cafile=ca)
        # The keys are fetched at every check (no cache): a test that
        # changes the issuer sees the change at once.
        self.jwks = jwt.PyJWKClient(jwks_url, cache_jwk_set=False, cache_keys=False, ssl_context=ctx, timeout=10)
        self.audience = audience
        self.scope = scope
        self.revoked = revoked
        self.log = os.path.join(directory, "auth.log")

    def check(self, mechanism, user, token):
        """None when the token is good, else why not."""
        claims = {}
        try:
            key = self.jwks.get_signing_key_from_jwt(token)
            claims = self.jwt.decode(
                token, key.key, algorithms=["RS256"], audience=self.audience,
                options={"require": ["exp", "iat", "aud", "sub", "jti"]},
            )
            why = None
            scopes = str(claims.get("scope", "")).split()
            if self.scope not in scopes:
                why = "scope %r not in %r" % (self.scope, scopes)
            elif "@" in str(claims.get("sub")) and claims["sub"] != user:
                why = "token for %s used as %s" % (claims["sub"], user)
            elif self.revoked and os.path.exists(self.revoked) and claims["jti"] in open(self.revoked).read().split():
                why = "revoked"
        except Exception as e:  # every failure of the check is a refusal
            why = "%s: %s" % (type(e).__name__, e)
        with open(self.log, "a") as f:
            f.write(json.dumps({"mechanism": mechanism, "user": user, "jti": claims.get("jti"),
                                "sub": claims.get("sub"), "ok": why is None, "why": why,
                                "token": token,
                                "time": time.time()}) + "\n")
        return why


class Handler:
    def __init__(self, directory: str, dsn: bool = False, user=None, password=None, reply_delay=0.0, oauth2=None):
        self.directory = directory
        self.oauth2 = oauth2
        self.close_after_message = False
        self.reply_delay = reply_delay
        self.count = 0
        self.dsn = dsn
        self.user = user
        self.password = password

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.dsn:
            responses.insert(-1, "250-DSN")
        return responses

    async def oauth2_result(self, server, mechanism, user, token, error):
        why = self.oauth2.check(mechanism, user, token or "")
        if why is None:
            return AuthResult(success=True, auth_data=LoginPassword(user.encode(), b"(token)"))
        # As Gmail and Exchange Online: an error challenge, the client's
        # (empty or %x01) answer, then 535.
        await server.challenge_auth(json.dumps(error), encode_to_b64=True)
        return AuthResult(success=False, handled=False)

    async def auth_OAUTHBEARER(self, server, args):
        # RFC 7628: "n,a=USER,\x01auth=Bearer T\x01\x01"
        if self.oauth2 is None or len(args) < 2:
            return AuthResult(success=False, handled=False)
        raw = base64.b64decode(args[1]).decode()
        gs2, _, rest = raw.partition("\x01")
        user = next((f[2:] for f in gs2.split(",") if f.startswith("a=")), "")
        user = user.replace("=2C", ",").replace("=3D", "=")
        fields = dict(f.split("=", 1) for f in rest.split("\x01") if "=" in f)
        auth = fields.get("auth", "")
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
        return await self.oauth2_result(server, "OAUTHBEARER", user, token,
                                        {"status": "invalid_token", "scope": self.oauth2.scope})

    async def auth_XOAUTH2(self, server, args):
        # args: ["XOAUTH2", initial-response]; "user=U\x01auth=Bearer T\x01\x01"
        if len(args) < 2:
            return AuthResult(success=False, handled=False)
        raw = base64.b64decode(args[1]).decode()
        fields = dict(f.split("=", 1) for f in raw.split("\x01") if "=" in f)
        if self.oauth2 is not None:
            auth = fields.get("auth", "")
            token = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
            return await self.oauth2_result(server, "XOAUTH2", fields.get("user", ""), token,
                                            {"status": "401", "schemes": "bearer", "scope": self.oauth2.scope})
        ok = fields.get("user") == self.user and fields.get("auth") == "Bearer " + (self.password or "")
        if ok:
            return AuthResult(success=True, auth_data=LoginPassword(self.user.encode(), b"(token)"))
        return AuthResult(success=False, handled=False)

    def authenticator(self, server, session, envelope, mechanism, data):
        if isinstance(data, LoginPassword) and self.user is not None:
            if (data.login, data.password) == (self.user.encode(), self.password.encode()):
                return AuthResult(success=True, auth_data=data)
        return AuthResult(success=False, handled=False)

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
        tls = server.transport.get_extra_info("ssl_object") is not None or session.ssl is not None
        auth = session.auth_data
        login = getattr(auth, "login", None)
        record = {
            "tls": tls,
            "auth": login.decode() if isinstance(login, bytes) else login,
            "raw_mail": getattr(server, "raw_mail_arg", None),
            "raw_rcpt": getattr(server, "raw_rcpt_args", []),
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
        if self.reply_delay:
            await asyncio.sleep(self.reply_delay)
        return "250 2.0.0 OK queued as %d" % n


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--tls", choices=["plain", "starttls", "smtps"], default="plain")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--auth")
    ap.add_argument("--dsn", action="store_true")
    ap.add_argument("--reply-delay", type=float, default=0.0)
    ap.add_argument("--close-after-message", action="store_true")
    ap.add_argument("--oauth2-jwks")
    ap.add_argument("--oauth2-ca")
    ap.add_argument("--oauth2-audience")
    ap.add_argument("--oauth2-scope")
    ap.add_argument("--parse", help="print the parsed MIME file as JSON and exit")
    args = ap.parse_args()
    if args.parse:
        with open(args.parse, "rb") as f:
            print(json.dumps(parse_message(f.read()), ensure_ascii=False))
        return
    user, password = args.auth.split(":", 1) if args.auth else (None, None)
    oauth2 = None
    if args.oauth2_jwks:
        oauth2 = OAuth2Checker(args.oauth2_jwks, args.oauth2_ca, args.oauth2_audience,
                               args.oauth2_scope, os.path.join(args.dir, "revoked"), args.dir)
    handler = Handler(args.dir, args.dsn, user, password, args.reply_delay, oauth2)
    handler.close_after_message = args.close_after_message
    if oauth2:
        # RFC 4954 §4: an AUTH line may be 12,288 octets; a token is 1 to
        # 3 KB. aiosmtpd's line limit (512) is a class attribute, read for
        # every command: this process serves one test, so it is set there.
        SMTP.command_size_limit = 12288
        SMTP.line_length_limit = 12288
    ctx = None
    if args.tls != "plain":
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(args.cert, args.key)

    def factory():
        kw = dict(
            hostname="mx.example.test",
            enable_SMTPUTF8=True,
            data_size_limit=None,
            # aiosmtpd offers AUTH only with an authenticator; with
            # --oauth2-jwks it refuses PLAIN and LOGIN (no user given).
            authenticator=handler.authenticator if user or oauth2 else None,
            # Implicit TLS: aiosmtpd cannot tell the socket is TLS, so it
            # would hide AUTH; plain with --auth is for AllowPlainAuth tests.
            auth_require_tls=args.tls == "starttls",
        )
        if args.tls == "starttls":
            kw.update(tls_context=ctx, require_starttls=True)

        smtp = TestSMTP(handler, **kw)

        smtp.dsn = args.dsn
        return smtp

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        factory, args.host, args.port, ssl=ctx if args.tls == "smtps" else None
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
