"""Checks a message against the rules of RFC 9788 (header protection), as
a receiving client would read it, with Python's email package:

    hp_check.py OUTER PAYLOAD cipher|clear

OUTER: the message as received (its header section is what a legacy
client shows). PAYLOAD: the cryptographic payload, once decrypted and/or
taken out of multipart/signed. Prints a JSON summary; exits 1 naming each
rule broken:
- the payload's root Content-Type has hp="cipher" (encrypted) or
  hp="clear" (signed only) (§2.1);
- the root part carries the message's header fields, From, Date,
  Message-ID and Subject among them, From and Message-ID as outside (§4.4);
- hp="cipher": one HP-Outer field per non-structural field outside, same
  name and value, and none for a field not outside (§2.2);
- hp="clear": no HP-Outer, and the outside shows the same fields (§2.1);
- when the outer Subject is not the real one, every main body part
  (text/plain and text/html not sent as attachments) is marked
  hp-legacy-display="1" and starts with the legacy display element:
  "Subject: <real>" then a blank line, or the HTML div of class
  header-protection-legacy-display (§4.5.3)."""
import json
import re
import sys
from email import policy
from email.parser import BytesParser

outer_path, payload_path, mode = sys.argv[1:4]
parse = BytesParser(policy=policy.default).parsebytes
outer = parse(open(outer_path, "rb").read())
payload = parse(open(payload_path, "rb").read())
problems = []


def unfold(v):
    return re.sub(r"\r?\n[ \t]", " ", str(v)).strip()


def structural(name):
    n = name.lower()
    return n.startswith("content-") or n == "mime-version"


hp = payload.get_param("hp", header="content-type")
if hp != mode:
    problems.append("root Content-Type hp=%r, not %r" % (hp, mode))
for name in ["From", "Date", "Message-ID", "Subject"]:
    if payload[name] is None:
        problems.append("no %s on the payload's root part" % name)
for name in ["From", "Message-ID", "Date"]:
    if unfold(payload[name]) != unfold(outer[name]):
        problems.append("%s inside %r differs from outside %r" % (name, payload[name], outer[name]))

outside = [(k, unfold(v)) for k, v in outer.raw_items() if not structural(k)]
hp_outer = []
for v in payload.get_all("HP-Outer") or []:
    name, _, value = unfold(v).partition(":")
    hp_outer.append((name.strip(), value.strip()))
if mode == "cipher":
    want = sorted((k.lower(), v) for k, v in outside)
    got = sorted((k.lower(), v) for k, v in hp_outer)
    if want != got:
        problems.append("HP-Outer %r is not the outside %r" % (got, want))
else:
    if hp_outer:
        problems.append("HP-Outer in a hp=\"clear\" payload")
    inside = sorted((k.lower(), unfold(v)) for k, v in payload.raw_items() if not structural(k))
    if sorted((k.lower(), v) for k, v in outside) != inside:
        problems.append("signed only, but the outside %r is not the inside %r" % (outside, inside))

real = unfold(payload["Subject"])
shown = unfold(outer["Subject"]) if outer["Subject"] is not None else None
legacy = []
if mode == "cipher" and shown != real:
    for part in payload.walk():
        if part.get_content_maintype() != "text" or part.get_content_disposition() == "attachment":
            continue
        marked = part.get_param("hp-legacy-display", header="content-type") == "1"
        text = part.get_content()
        if part.get_content_subtype() == "plain":
            starts = text.replace("\r\n", "\n").startswith("Subject: %s\n" % real)
            has_blank = "\n\n" in text.replace("\r\n", "\n")
            ok = marked and starts and has_blank
        else:
            m = re.search(
                r'<div class="header-protection-legacy-display">\s*<pre>(.*?)</pre>', text, re.S
            )
            import html

            ok = marked and m is not None and html.unescape(m.group(1)).splitlines()[0] == "Subject: " + real
        legacy.append({"type": part.get_content_type(), "ok": ok})
        if not ok:
            problems.append("main body part %s has no legacy display of the Subject" % part.get_content_type())
    if not legacy:
        problems.append("the Subject is hidden outside and no main body part shows it")

print(json.dumps({
    "hp": hp,
    "subject": real,
    "outer_subject": shown,
    "hp_outer": hp_outer,
    "legacy": legacy,
    "problems": problems,
}, ensure_ascii=False))
sys.exit(1 if problems else 0)
