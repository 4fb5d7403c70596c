#!/usr/bin/env node
// Reads messages with Nodemailer's mailparser (libmime inside), pinned in
// package.json here, for tests/headers.rs.
// usage: node mailparser.js FILE.eml...   (output as python_email.py)
const fs = require('fs');
const { simpleParser } = require('mailparser');
// mailparser's own decoder, for a header it does not decode itself.
const libmime = require('libmime');

const addrs = (v) => {
  if (!v) return [];
  const list = Array.isArray(v) ? v : [v];
  return list.flatMap((a) => a.value.map((m) => [m.name, m.address]));
};

(async () => {
  for (const path of process.argv.slice(2)) {
    const m = await simpleParser(fs.readFileSync(path));
    const x = m.headers.get('x-lnccmd-test');
    console.log(JSON.stringify({
      file: path,
      subject: m.subject === undefined ? null : m.subject,
      from: addrs(m.from),
      to: addrs(m.to),
      cc: addrs(m.cc),
      x: x === undefined ? null : libmime.decodeWords(x),
      files: m.attachments.map((a) => a.filename),
    }));
  }
})().catch((e) => { console.error(e); process.exit(1); });
