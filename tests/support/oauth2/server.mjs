// The OAuth2 server of tests/oauth2.rs: oauth2-mock-server (npm, pinned in
// package.json / package-lock.json) on a loopback HTTPS port, issuing
// access tokens (JWTs signed with its own RSA key, published at /jwks) for
//   - client credentials (RFC 6749 §4.4) with a client secret or a JWT
//     client assertion (RFC 7523 §2.2, `x5t#S256` header), the way
//     Microsoft's identity platform takes them, at /{tenant}/oauth2/v2.0/token;
//   - the JWT bearer grant (RFC 7523 §2.1) of a Google service account
//     with a `sub` (domain-wide delegation), at /token.
// oauth2-mock-server issues tokens to anyone and has no jwt-bearer grant:
// this file checks the client (the secret, the assertion's signature,
// audience, issuer, expiry and certificate thumbprint) as the real platforms
// do, answers refusals in their words, and hands a jwt-bearer request to the
// mock's client-credentials grant once its assertion verified.
//
//   node server.mjs --cert C --key K --dir D
// D/clients.json (written by the test): {"secrets": {id: secret},
//   "certs": {id: PEM certificate}, "service_accounts": {email: PEM public key}}
// D/ttl: the tokens' lifetime in seconds (default 3600), read per request.
// D/mode: a fault for the next requests, read per request (a fault a real
//   endpoint does not produce on demand): ok | html | big | redirect |
//   stall | unavailable | unavailable-once (one 503, then ok).
// D/requests.log: one JSON line per token request (grant, client, result).
// Prints "PORT n" once it listens; stopped by SIGTERM.

import { readFileSync, appendFileSync, existsSync, writeFileSync } from "node:fs";
import { createServer } from "node:https";
import { createHash, X509Certificate, createPublicKey, randomUUID } from "node:crypto";
import express from "express";
import { jwtVerify, decodeJwt, decodeProtectedHeader } from "jose";
import { OAuth2Issuer, OAuth2Service } from "oauth2-mock-server";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), [])
);
const dir = args.dir;
const read = (name, fallback) => (existsSync(`${dir}/${name}`) ? readFileSync(`${dir}/${name}`, "utf8").trim() : fallback);
const clients = () => JSON.parse(read("clients.json", "{}"));
const log = (entry) => appendFileSync(`${dir}/requests.log`, JSON.stringify(entry) + "\n");

const issuer = new OAuth2Issuer();
await issuer.keys.generate("RS256");
const service = new OAuth2Service(issuer);

// Azure AD's error shape: a code in the description, then trace lines.
const aad = (code, text) =>
  `${code}: ${text}\r\nTrace ID: ${randomUUID()}\r\nCorrelation ID: ${randomUUID()}\r\nTimestamp: ${new Date().toISOString()}`;

service.on("beforeTokenSigning", (token, req) => {
  const ctx = req.lnccmd;
  const now = Math.floor(Date.now() / 1000);
  token.payload.exp = now + ctx.ttl;
  token.payload.iat = now;
  token.payload.nbf = now;
  token.payload.aud = ctx.audience;
  token.payload.sub = ctx.sub;
  token.payload.azp = ctx.client;
  token.payload.jti = randomUUID();
  if (ctx.roles) token.payload.roles = ctx.roles;
});
// expires_in one second short of the token's life, as Microsoft's
// identity platform answers 3599 for a token of 3600 s: `exp` is a whole
// second, so a client counting from the answer never outlives the token.
service.on("beforeResponse", (response, req) => {
  if (response.statusCode === 200) response.body.expires_in = Math.max(1, req.lnccmd.ttl - 1);
});

// The audience of a token for a scope: the resource ("…/.default" off).
const audienceOf = (scope) => scope.replace(/\/\.default$/, "");

async function checkAssertion(assertion, publicKey, url, expect) {
  const { payload, protectedHeader } = await jwtVerify(assertion, publicKey, {
    algorithms: ["RS256"],
    audience: url,
    issuer: expect.iss,
    subject: expect.sub,
    maxTokenAge: "1h",
  });
  return { payload, protectedHeader };
}

const app = express();
app.disable("x-powered-by");
app.post(["/:tenant/oauth2/v2.0/token", "/token"], express.urlencoded({ extended: false }), async (req, res, next) => {
  const body = req.body || {};
  const url = `https://${req.headers.host}${req.originalUrl}`;
  const entry = { grant_type: body.grant_type, client_id: body.client_id, path: req.path };
  const refuse = (status, error, description) => {
    entry.result = error;
    log(entry);
    res.status(status).json({ error, error_description: description });
  };
  let mode = read("mode", "ok");
  // "unavailable-once": one 503, then tokens again (a transient outage).
  if (mode === "unavailable-once") {
    writeFileSync(`${dir}/mode`, "ok");
    mode = "unavailable";
  }
  if (mode !== "ok") {
    entry.result = mode;
    log(entry);
    if (mode === "html") return res.status(200).type("text/html").send("<!DOCTYPE html><html><body>Sign in</body></html>");
    if (mode === "redirect") return res.redirect(302, "https://login.elsewhere.example/token");
    if (mode === "unavailable") return res.status(503).json({ error: "temporarily_unavailable", error_description: aad("AADSTS90033", "A transient error has occurred. Please try again.") });
    if (mode === "stall") return; // never answers: the client's timeout ends it
    if (mode === "big") {
      res.status(200).type("application/json");
      const chunk = Buffer.alloc(1024 * 1024, 0x20);
      res.write("{\"access_token\":\"");
      let sent = 0;
      const more = () => {
        while (sent < 10) {
          sent++;
          if (!res.write(chunk)) return res.once("drain", more);
        }
        res.end("\"}");
      };
      return more();
    }
  }
  const c = clients();
  const ttl = Number(read("ttl", "3600"));
  try {
    if (body.grant_type === "client_credentials") {
      const id = body.client_id;
      if (!(c.secrets && id in c.secrets) && !(c.certs && id in c.certs)) {
        return refuse(400, "unauthorized_client", aad("AADSTS700016", `Application with identifier '${id}' was not found in the directory 'lnccmd-test'.`));
      }
      if (!body.scope || !body.scope.endsWith("/.default")) {
        return refuse(400, "invalid_scope", aad("AADSTS1002012", `The provided value for scope ${body.scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`));
      }
      if (body.client_secret !== undefined) {
        if (!c.secrets || c.secrets[id] !== body.client_secret) {
          return refuse(401, "invalid_client", aad("AADSTS7000215", "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app."));
        }
        entry.credential = "secret";
      } else if (body.client_assertion_type === "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" && body.client_assertion) {
        const pem = c.certs && c.certs[id];
        if (!pem) return refuse(401, "invalid_client", aad("AADSTS700027", "Client assertion contains an invalid signature. [Reason - The key was not found.]"));
        const cert = new X509Certificate(pem);
        const thumb = createHash("sha256").update(cert.raw).digest("base64url");
        const header = decodeProtectedHeader(body.client_assertion);
        if (header["x5t#S256"] !== thumb) {
          return refuse(401, "invalid_client", aad("AADSTS700027", "Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by client: '" + header["x5t#S256"] + "']"));
        }
        try {
          const { payload } = await checkAssertion(body.client_assertion, cert.publicKey, url, { iss: id, sub: id });
          if (!payload.jti) throw new Error("no jti");
        } catch (e) {
          return refuse(401, "invalid_client", aad("AADSTS700027", `Client assertion failed signature validation. (${e.code || e.message})`));
        }
        entry.credential = "certificate";
      } else {
        return refuse(400, "invalid_request", aad("AADSTS7000218", "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."));
      }
      req.lnccmd = { ttl, audience: audienceOf(body.scope), sub: id, client: id, roles: ["SMTP.SendAsApp"] };
    } else if (body.grant_type === "urn:ietf:params:oauth:grant-type:jwt-bearer") {
      let claims;
      try {
        claims = decodeJwt(body.assertion);
      } catch {
        return refuse(400, "invalid_grant", "Invalid JWT: not a JWT.");
      }
      const pem = c.service_accounts && c.service_accounts[claims.iss];
      if (!pem) return refuse(401, "invalid_client", "The OAuth client was not found.");
      try {
        await checkAssertion(body.assertion, createPublicKey(pem), url, { iss: claims.iss });
      } catch (e) {
        return refuse(400, "invalid_grant", `Invalid JWT Signature. (${e.code || e.message})`);
      }
      if (!claims.sub) return refuse(400, "invalid_grant", "Invalid email or User ID");
      if (!claims.scope) return refuse(400, "invalid_scope", "Empty or missing scope not allowed.");
      entry.client_id = claims.iss;
      entry.sub = claims.sub;
      entry.credential = "service_account";
      req.lnccmd = { ttl, audience: claims.scope, sub: claims.sub, client: claims.iss };
      // The mock's own grant issues the token once the assertion verified.
      req.body = { grant_type: "client_credentials", scope: claims.scope };
    } else {
      return refuse(400, "unsupported_grant_type", `grant_type ${body.grant_type} is not supported`);
    }
  } catch (e) {
    return refuse(500, "server_error", String(e));
  }
  entry.result = "token";
  log(entry);
  req.url = "/token";
  service.requestHandler(req, res, next);
});
app.use((req, res, next) => service.requestHandler(req, res, next));

const server = createServer({ key: readFileSync(args.key), cert: readFileSync(args.cert) }, app);
server.listen(Number(args.port || 0), "127.0.0.1", () => {
  const port = server.address().port;
  issuer.url = `https://127.0.0.1:${port}`;
  console.log(`PORT ${port}`);
});
const stop = () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
