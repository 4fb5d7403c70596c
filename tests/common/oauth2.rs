//! The OAuth2 side of tests/oauth2.rs: oauth2-mock-server (npm) on loopback
//! HTTPS (tests/support/oauth2/server.mjs), the client credentials it knows,
//! and an aiosmtpd that checks tokens against its JWKS (smtpd.py
//! --oauth2-jwks, PyJWT).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::X509;
use serde_json::{Value, json};

use super::{SmtpServer, pki::Pki, root, tls_server};

/// A running OAuth2 server.
pub struct OAuthServer {
    child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl OAuthServer {
    /// Starts server.mjs with the PKI's server certificate (localhost,
    /// 127.0.0.1, signed by the PKI's CA) and the given clients.
    pub fn start(pki: &Pki, clients: &Value) -> OAuthServer {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("clients.json"), clients.to_string()).unwrap();
        let support = root().join("tests/support/oauth2");
        assert!(
            support.join("node_modules/oauth2-mock-server").is_dir(),
            "oauth2-mock-server is not installed: run scripts/setup-deps"
        );
        let mut child = Command::new("node")
            .arg(support.join("server.mjs"))
            .arg("--cert")
            .arg(pki.path("server.pem"))
            .arg("--key")
            .arg(pki.path("server.key"))
            .arg("--dir")
            .arg(dir.path())
            .current_dir(&support)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node must be installed");
        let port = super::read_port(
            &mut child,
            "the OAuth2 server (node tests/support/oauth2/server.mjs)",
        );
        OAuthServer {
            child: Some(child),
            port,
            dir,
        }
    }

    /// Microsoft's token endpoint shape for `tenant`.
    pub fn token_url(&self, tenant: &str) -> String {
        format!("https://127.0.0.1:{}/{tenant}/oauth2/v2.0/token", self.port)
    }

    /// Google's token endpoint shape.
    pub fn google_token_url(&self) -> String {
        format!("https://127.0.0.1:{}/token", self.port)
    }

    pub fn jwks_url(&self) -> String {
        format!("https://127.0.0.1:{}/jwks", self.port)
    }

    /// The fault of the next token requests (server.mjs: ok, html, big,
    /// redirect, stall, unavailable).
    pub fn set_mode(&self, mode: &str) {
        std::fs::write(self.dir.path().join("mode"), mode).unwrap();
    }

    /// The lifetime of the next tokens, in seconds.
    pub fn set_ttl(&self, seconds: u64) {
        std::fs::write(self.dir.path().join("ttl"), seconds.to_string()).unwrap();
    }

    /// Every token request so far, one JSON object each.
    pub fn requests(&self) -> Vec<Value> {
        json_lines(&self.dir.path().join("requests.log"))
    }

    /// The token requests that got a token.
    pub fn tokens_issued(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| r["result"] == "token")
            .count()
    }

    pub fn stop(&mut self) {
        if let Some(c) = self.child.take() {
            super::stop_child(c);
        }
    }
}

impl Drop for OAuthServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn json_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// aiosmtpd on STARTTLS that takes only OAuth2 tokens signed by a key of
/// `jwks` (an OAuthServer's), for `audience` and `scope`.
pub fn smtp_server(
    pki: &Pki,
    jwks: &str,
    audience: &str,
    scope: &str,
    extra: &[&str],
) -> SmtpServer {
    let ca = pki.path("ca.pem");
    let mut args = vec![
        "--oauth2-jwks",
        jwks,
        "--oauth2-ca",
        ca.to_str().unwrap(),
        "--oauth2-audience",
        audience,
        "--oauth2-scope",
        scope,
    ];
    args.extend_from_slice(extra);
    tls_server(pki, "server", "starttls", &args)
}

/// Every AUTH the SMTP server checked (smtpd.py's auth.log).
pub fn auth_log(server: &SmtpServer) -> Vec<Value> {
    json_lines(&server.dir.path().join("auth.log"))
}

/// Makes the SMTP server refuse the token with this jti from now on.
pub fn revoke(server: &SmtpServer, jti: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(server.dir.path().join("revoked"))
        .unwrap();
    writeln!(f, "{jti}").unwrap();
}

/// A self-signed certificate and its RSA key, as an app registration's
/// certificate credential is made (`openssl req -x509`).
pub fn client_certificate(cn: &str) -> (X509, PKey<Private>) {
    super::pki::self_signed(cn)
}

/// A Google service-account key file for `email`, as the Cloud console
/// writes it, with `token_uri`; and the public key's PEM for the server.
pub fn service_account(dir: &Path, email: &str, token_uri: &str) -> (PathBuf, String) {
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let file = dir.join("service-account.json");
    let v = json!({
        "type": "service_account",
        "project_id": "lnccmd-test",
        "private_key_id": "0123456789abcdef",
        "private_key": String::from_utf8(key.private_key_to_pem_pkcs8().unwrap()).unwrap(),
        "client_email": email,
        "client_id": "104",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    });
    std::fs::write(&file, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    let public = String::from_utf8(key.public_key_to_pem().unwrap()).unwrap();
    (file, public)
}
