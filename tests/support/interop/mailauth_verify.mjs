// Node mailauth (pinned in package.json / package-lock.json) verifies the
// DKIM signature of a message, the public key given instead of DNS.
//   node mailauth_verify.mjs MESSAGE "v=DKIM1; k=rsa; p=..."
// Prints mailauth's result per signature; exits 0 only if one passes.
import { readFileSync } from 'node:fs';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';

const [file, record] = process.argv.slice(2);
const resolver = async (name, type) => {
    if (type !== 'TXT') {
        throw Object.assign(new Error('no such record'), { code: 'ENOTFOUND' });
    }
    // TXT answers are lists of strings of at most 255 characters.
    const chunks = record.match(/.{1,255}/g);
    return [chunks];
};
const result = await dkimVerify(readFileSync(file), { resolver });
let pass = false;
for (const r of result.results) {
    console.log(`${r.status.result} ${r.signingDomain} ${r.status.comment || ''}`.trim());
    pass = pass || r.status.result === 'pass';
}
process.exit(pass ? 0 : 1);
