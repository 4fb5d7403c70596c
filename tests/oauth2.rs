//! OAuth2 (issue #14): lnccmd gets its SMTP token itself, from a real OAuth2
//! server (oauth2-mock-server on loopback HTTPS, tests/support/oauth2), and
//! an SMTP server that really checks it (aiosmtpd with PyJWT: signature by
//! the issuer's JWKS, audience, scope, expiry, mailbox; smtpd.py).

mod common;

use std::time::Duration;

use common::oauth2::{
    OAuthServer, auth_log, client_certificate, revoke, service_account, smtp_server,
};
use common::pki::Pki;
use common::{SmtpServer, assert_no_secret, call, ok, read_log};
use serde_json::{Value, json};

const MS_AUDIENCE: &str = "https://outlook.office365.com";
const MS_SCOPE: &str = "https://outlook.office365.com/.default";
const SECRET: &str = "Ms-s3cret-value";
const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
const SENDER: &str = "payroll@example.test";

/// A Microsoft-style setup: the OAuth2 server knows CLIENT with SECRET (and
/// `cert` when given), the SMTP server takes its tokens.
struct Setup {
    pki: Pki,
    oauth: OAuthServer,
    smtp: SmtpServer,
}

fn setup_with(certs: Value, smtp_extra: &[&str]) -> Setup {
    let pki = Pki::new();
    let oauth = OAuthServer::start(&pki, &json!({"secrets": {CLIENT: SECRET}, "certs": certs}));
    let smtp = smtp_server(&pki, &oauth.jwks_url(), MS_AUDIENCE, MS_SCOPE, smtp_extra);
    Setup { pki, oauth, smtp }
}

fn setup() -> Setup {
    setup_with(json!({}), &[])
}

impl Setup {
    /// MAILSMTP properties: the SMTP server over STARTTLS, the token
    /// endpoint, and `credential` (OAuth2ClientSecret=... or a certificate).
    fn props_with(&self, credential: &str) -> String {
        format!(
            "Server=\"127.0.0.1\";port={};Sender=\"Payroll <{SENDER}>\";enableSSL=true;TrustCert=\"{}\";Timeout=10;\
             OAuth2TokenUrl=\"{}\";OAuth2ClientId=\"{CLIENT}\";{credential}",
            self.smtp.port,
            self.pki.path("ca.pem").display(),
            self.oauth.token_url("contoso.onmicrosoft.com"),
        )
    }

    fn props(&self) -> String {
        self.props_with(&format!("OAuth2ClientSecret=\"{SECRET}\""))
    }
}

fn open_with(props: &str) -> i32 {
    let mut h = 0;
    ok(&mut h, "MAILSMTP", props, "");
    h
}

/// One message to `to`, subject `subject`; MAILSEND's (code, RESULT).
fn send(h: &mut i32, to: &str, subject: &str) -> (i32, String) {
    ok(h, "MAILPREP", "", "");
    ok(h, "MAILTO", to, "");
    ok(h, "MAILSUBJ", subject, "");
    ok(h, "MAILTEXT", "Your payslip is attached.", "");
    call(h, "MAILSEND", "", "")
}

fn subjects(server: &SmtpServer, n: usize) -> Vec<String> {
    server
        .wait_for(n)
        .iter()
        .map(|m| common::header(m, "Subject").unwrap_or("").to_string())
        .collect()
}

/// No token the SMTP server saw is in `text` (RESULT, a log, a trace).
fn assert_no_token(place: &str, text: &str, smtp: &SmtpServer) {
    for a in auth_log(smtp) {
        if let Some(t) = a["token"].as_str() {
            assert!(!text.contains(t), "a token in {place}: {text}");
            let b64 = openssl::base64::encode_block(t.as_bytes());
            assert!(!text.contains(&b64[..40]), "a token's base64 in {place}");
        }
    }
    assert_no_secret(place, text);
}

#[test]
fn a_client_secret_gets_a_token_that_the_smtp_server_verifies() {
    let s = setup();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("send.csv");
    let trace = dir.path().join("trace.txt");
    let mut h = open_with(&format!(
        "{};logfile=\"{}\";TraceFile=\"{}\"",
        s.props(),
        log.display(),
        trace.display()
    ));
    assert_eq!(
        s.oauth.requests().len(),
        0,
        "MAILSMTP stays offline: no token before MAILSEND"
    );
    let (rc, text) = send(&mut h, "anna@example.test", "Payslip 11/2026");
    assert_eq!(rc, 0, "{text}");
    ok(&mut h, "MAILEND", "", "");
    let msg = &s.smtp.wait_for(1)[0];
    assert_eq!(
        msg["auth"], SENDER,
        "UserId defaults to the Sender's address"
    );
    assert_eq!(msg["tls"], true);
    let req = s.oauth.requests();
    assert_eq!(req.len(), 1);
    assert_eq!(req[0]["grant_type"], "client_credentials");
    assert_eq!(req[0]["credential"], "secret");
    let auths = auth_log(&s.smtp);
    assert_eq!(auths.len(), 1);
    assert_eq!(auths[0]["ok"], true, "{:?}", auths[0]);
    assert_eq!(auths[0]["mechanism"], "XOAUTH2", "XOAUTH2 is the default");
    let log_text = std::fs::read_to_string(&log).unwrap();
    let _ = read_log(&log);
    assert_no_token("the send log", &log_text, &s.smtp);
    let trace_text = std::fs::read_to_string(&trace).unwrap();
    assert!(
        trace_text.contains("AUTH XOAUTH2 [credentials removed]"),
        "{trace_text}"
    );
    assert_no_token("the trace", &trace_text, &s.smtp);
}

#[test]
fn a_certificate_signs_the_client_assertion_pem_or_p12() {
    let (cert, key) = client_certificate("lnccmd payroll app");
    let s = setup_with(
        json!({CLIENT: String::from_utf8(cert.to_pem().unwrap()).unwrap()}),
        &[],
    );
    let dir = tempfile::tempdir().unwrap();
    // PEM: the key and the certificate in one file, as `openssl req -x509
    // -nodes -keyout app.pem -out app.pem` writes them.
    let pem = dir.path().join("app.pem");
    let mut both = key.private_key_to_pem_pkcs8().unwrap();
    both.extend(cert.to_pem().unwrap());
    std::fs::write(&pem, both).unwrap();
    // .p12 with a password, as the Windows certificate export writes one.
    let p12 = dir.path().join("app.p12");
    let built = openssl::pkcs12::Pkcs12::builder()
        .name("app")
        .pkey(&key)
        .cert(&cert)
        .build2("Cert-pw-9")
        .unwrap();
    std::fs::write(&p12, built.to_der().unwrap()).unwrap();

    let mut h = open_with(&s.props_with(&format!("OAuth2ClientCert=\"{}\"", pem.display())));
    let (rc, text) = send(&mut h, "anna@example.test", "pem");
    assert_eq!(rc, 0, "{text}");
    ok(&mut h, "MAILEND", "", "");
    let mut h = open_with(&s.props_with(&format!(
        "OAuth2ClientCert=\"{}\";OAuth2CertPassword=\"Cert-pw-9\";KeepAlive=0",
        p12.display()
    )));
    let (rc, text) = send(&mut h, "anna@example.test", "p12");
    assert_eq!(rc, 0, "{text}");
    ok(&mut h, "MAILEND", "", "");
    assert_eq!(subjects(&s.smtp, 2), ["pem", "p12"]);
    let req = s.oauth.requests();
    assert!(
        req.iter()
            .all(|r| r["credential"] == "certificate" && r["result"] == "token"),
        "{req:?}"
    );
    // Same key, same client: the second configuration reuses the token.
    assert_eq!(req.len(), 1, "{req:?}");

    // A wrong password is refused at MAILSMTP, not at MAILSEND.
    let mut h = 0;
    let (rc, text) = call(
        &mut h,
        "MAILSMTP",
        &s.props_with(&format!(
            "OAuth2ClientCert=\"{}\";OAuth2CertPassword=\"wrong-pw\"",
            p12.display()
        )),
        "",
    );
    assert_eq!(rc, 301, "{text}");
    assert!(text.contains("OAuth2CertPassword"), "{text}");
    // Another certificate than the app's: the identity platform refuses it.
    let (other, other_key) = client_certificate("not the app");
    let wrong = dir.path().join("other.pem");
    let mut both = other_key.private_key_to_pem_pkcs8().unwrap();
    both.extend(other.to_pem().unwrap());
    std::fs::write(&wrong, both).unwrap();
    let mut h = open_with(&s.props_with(&format!("OAuth2ClientCert=\"{}\"", wrong.display())));
    let (rc, text) = send(&mut h, "anna@example.test", "other");
    assert_eq!(rc, 411, "{text}");
    assert!(text.contains("AADSTS700027"), "{text}");
    ok(&mut h, "MAILEND", "", "");
}

#[test]
fn a_google_service_account_gets_a_delegated_token_for_the_mailbox() {
    let pki = Pki::new();
    let sa_email = "mailer@lnccmd-test.iam.gserviceaccount.com";
    let dir = tempfile::tempdir().unwrap();
    // The key file names the token endpoint: the server must be up first.
    let placeholder = OAuthServer::start(&pki, &json!({}));
    let (file, public) = service_account(dir.path(), sa_email, &placeholder.google_token_url());
    std::fs::write(
        placeholder.dir.path().join("clients.json"),
        json!({"service_accounts": {sa_email: public}}).to_string(),
    )
    .unwrap();
    let oauth = placeholder;
    let google = "https://mail.google.com/";
    let smtp = smtp_server(&pki, &oauth.jwks_url(), google, google, &[]);
    let props = format!(
        "Server=\"127.0.0.1\";port={};Sender=\"Payroll <{SENDER}>\";enableSSL=true;TrustCert=\"{}\";Timeout=10;\
         OAuth2ServiceAccount=\"{}\"",
        smtp.port,
        pki.path("ca.pem").display(),
        file.display()
    );
    let mut h = open_with(&format!("{props};AuthMethod=OAUTHBEARER"));
    let (rc, text) = send(&mut h, "anna@example.test", "delegated");
    assert_eq!(rc, 0, "{text}");
    ok(&mut h, "MAILEND", "", "");
    assert_eq!(subjects(&smtp, 1), ["delegated"]);
    let req = oauth.requests();
    assert_eq!(req.len(), 1);
    assert_eq!(
        req[0]["grant_type"],
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    );
    assert_eq!(req[0]["sub"], SENDER, "the JWT's sub is the mailbox");
    let auths = auth_log(&smtp);
    assert_eq!(auths[0]["mechanism"], "OAUTHBEARER");
    assert_eq!(auths[0]["sub"], SENDER);

    // UserId names another mailbox: the token is delegated for it, and the
    // SMTP server takes it only as that mailbox.
    let mut h = open_with(&format!("{props};UserId=\"hr@example.test\";KeepAlive=0"));
    let (rc, text) = send(&mut h, "anna@example.test", "as hr");
    assert_eq!(rc, 0, "{text}");
    ok(&mut h, "MAILEND", "", "");
    let req = oauth.requests();
    assert_eq!(req.len(), 2, "another mailbox, another token");
    assert_eq!(req[1]["sub"], "hr@example.test");
    assert_eq!(smtp.wait_for(2)[1]["auth"], "hr@example.test");
}

#[test]
fn expired_tokens_are_renewed_across_100_messages_and_sessions() {
    // The server closes the connection after each message, so each message
    // needs a new connection and AUTH, with a token still valid.
    let s = setup_with(json!({}), &["--close-after-message"]);
    s.oauth.set_ttl(3);
    let mut h = open_with(&s.props());
    for i in 0..100 {
        if i == 50 {
            // Past the first tokens' lifetime, whatever the speed.
            std::thread::sleep(Duration::from_millis(3100));
        }
        let (rc, text) = send(&mut h, "anna@example.test", &format!("m{i}"));
        assert_eq!(rc, 0, "message {i}: {text}");
    }
    ok(&mut h, "MAILEND", "", "");
    assert_eq!(s.smtp.wait_for(100).len(), 100);
    let auths = auth_log(&s.smtp);
    assert_eq!(auths.len(), 100, "one AUTH per connection");
    assert!(
        auths.iter().all(|a| a["ok"] == true),
        "every token was valid when used: {:?}",
        auths.iter().find(|a| a["ok"] != true)
    );
    let issued = s.oauth.tokens_issued();
    assert!(issued >= 2, "renewed after expiry: {issued} tokens");
    assert!(
        issued <= 25,
        "cached between renewals: {issued} tokens for 100 AUTHs"
    );
    let mut jtis: Vec<&str> = auths.iter().map(|a| a["jti"].as_str().unwrap()).collect();
    jtis.dedup();
    assert_eq!(jtis.len(), issued, "each token used until it was renewed");

    // A new session of the same configuration uses the cached token.
    s.oauth.set_ttl(3600);
    let mut h = open_with(&s.props());
    send(&mut h, "anna@example.test", "renew");
    ok(&mut h, "MAILEND", "", "");
    let before = s.oauth.tokens_issued();
    for i in 0..3 {
        let mut h = open_with(&s.props());
        let (rc, text) = send(&mut h, "anna@example.test", &format!("session {i}"));
        assert_eq!(rc, 0, "{text}");
        ok(&mut h, "MAILEND", "", "");
    }
    assert_eq!(s.oauth.tokens_issued(), before, "across MAILEND/MAILSMTP");
}

#[test]
fn a_revoked_cached_token_is_renewed_once() {
    let s = setup_with(json!({}), &["--close-after-message"]);
    let mut h = open_with(&s.props());
    let (rc, text) = send(&mut h, "anna@example.test", "first");
    assert_eq!(rc, 0, "{text}");
    let first = auth_log(&s.smtp)[0]["jti"].as_str().unwrap().to_string();
    revoke(&s.smtp, &first);
    let (rc, text) = send(&mut h, "anna@example.test", "second");
    assert_eq!(rc, 0, "{text}");
    ok(&mut h, "MAILEND", "", "");
    assert_eq!(subjects(&s.smtp, 2), ["first", "second"], "each once");
    let auths = auth_log(&s.smtp);
    let verdicts: Vec<(bool, &str)> = auths
        .iter()
        .map(|a| (a["ok"] == true, a["why"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        verdicts,
        [(true, ""), (false, "revoked"), (true, "")],
        "one refusal, one renewal"
    );
    assert_eq!(s.oauth.tokens_issued(), 2);
}

#[test]
fn a_key_the_smtp_server_does_not_trust_is_renewed_once_then_refused() {
    let s = setup();
    // The SMTP server trusts another issuer's keys (JWKS mismatch).
    let other = OAuthServer::start(&s.pki, &json!({}));
    let smtp = smtp_server(&s.pki, &other.jwks_url(), MS_AUDIENCE, MS_SCOPE, &[]);
    let props = s.props().replace(
        &format!("port={}", s.smtp.port),
        &format!("port={}", smtp.port),
    );
    let mut h = open_with(&props);
    let (rc, text) = send(&mut h, "anna@example.test", "x");
    assert_eq!(rc, 405, "{text}");
    assert!(
        text.contains("just issued"),
        "a fresh token is not renewed: {text}"
    );
    assert_no_token("RESULT", &text, &smtp);
    assert_eq!(s.oauth.tokens_issued(), 1);
    // The draft is kept; the second try has a cached token: one renewal.
    let (rc, text) = call(&mut h, "MAILSEND", "", "");
    assert_eq!(rc, 405, "{text}");
    assert!(text.contains("as well as the cached one"), "{text}");
    assert_eq!(s.oauth.tokens_issued(), 2, "one renewal, never more");
    assert_eq!(auth_log(&smtp).len(), 3, "AUTH: once, then twice");
    assert!(smtp.messages().is_empty());
    ok(&mut h, "MAILEND", "", "");
}

#[test]
fn a_wrong_secret_is_refused_with_the_platforms_words_and_nothing_is_sent() {
    let s = setup();
    let mut h = open_with(&s.props_with("OAuth2ClientSecret=\"Wr0ng-s3cret\""));
    let (rc, text) = send(&mut h, "anna@example.test", "x");
    assert_eq!(rc, 411, "{text}");
    assert!(text.contains("invalid_client"), "{text}");
    assert!(
        text.contains("AADSTS7000215: Invalid client secret provided"),
        "{text}"
    );
    assert!(text.contains(CLIENT), "names the client: {text}");
    assert!(!text.contains("Trace ID"), "the first line only: {text}");
    assert!(auth_log(&s.smtp).is_empty(), "no AUTH with no token");
    assert!(s.smtp.messages().is_empty());
    ok(&mut h, "MAILEND", "", "");
    // An unknown client.
    let mut h = open_with(&s.props().replace(CLIENT, "no-such-app"));
    let (rc, text) = send(&mut h, "anna@example.test", "x");
    assert_eq!(rc, 411, "{text}");
    assert!(
        text.contains("unauthorized_client") && text.contains("AADSTS700016"),
        "{text}"
    );
    ok(&mut h, "MAILEND", "", "");
}

#[test]
fn token_endpoint_faults_have_their_codes_and_keep_the_draft() {
    let s = setup();
    let props = format!("{};Timeout=3", s.props());
    let mut h = open_with(&props);
    ok(&mut h, "MAILPREP", "", "");
    ok(&mut h, "MAILTO", "anna@example.test", "");
    ok(&mut h, "MAILSUBJ", "kept", "");
    ok(&mut h, "MAILTEXT", "body", "");
    for (mode, code, words) in [
        ("html", 412, "text/html"),
        ("big", 412, "more than 64 KiB"),
        (
            "redirect",
            412,
            "redirect (HTTP 302 to login.elsewhere.example)",
        ),
        ("unavailable", 410, "temporarily_unavailable"),
        ("stall", 410, "no answer within Timeout (3 s)"),
    ] {
        s.oauth.set_mode(mode);
        let (rc, text) = call(&mut h, "MAILSEND", "", "");
        assert_eq!(rc, code, "{mode}: {text}");
        assert!(text.contains(words), "{mode}: {text}");
    }
    assert!(s.smtp.messages().is_empty());
    assert!(auth_log(&s.smtp).is_empty());
    // The endpoint is back: the same draft goes, once.
    s.oauth.set_mode("ok");
    let (rc, text) = call(&mut h, "MAILSEND", "", "");
    assert_eq!(rc, 0, "{text}");
    ok(&mut h, "MAILEND", "", "");
    assert_eq!(subjects(&s.smtp, 1), ["kept"]);
    assert!(
        s.oauth.requests().iter().all(|r| r["path"] != ""),
        "no redirect was followed: every request went to the token path"
    );

    // A transient outage with Retries: the second attempt gets the token.
    s.oauth.set_mode("unavailable-once");
    let before = s.oauth.requests().len();
    // Another mailbox: a token of its own (the cache has one for the Sender).
    let mut h = open_with(&format!("{props};Retries=1;UserId=\"retry@example.test\""));
    let (rc, text) = send(&mut h, "anna@example.test", "retried");
    assert_eq!(rc, 0, "{text}");
    ok(&mut h, "MAILEND", "", "");
    assert_eq!(s.oauth.requests().len(), before + 2, "one 503, one token");
    assert_eq!(subjects(&s.smtp, 2)[1], "retried");

    // Nothing listens at the token endpoint.
    let port = common::free_port();
    let down = props.replace(
        &s.oauth.token_url("contoso.onmicrosoft.com"),
        &format!("https://127.0.0.1:{port}/t/oauth2/v2.0/token"),
    );
    let mut h = open_with(&down);
    let (rc, text) = send(&mut h, "anna@example.test", "x");
    assert_eq!(rc, 410, "{text}");
    assert!(text.contains("nothing was sent, try again later"), "{text}");
    ok(&mut h, "MAILEND", "", "");
}

#[test]
fn sixteen_threads_share_one_token_request() {
    let s = setup();
    let props = s.props();
    let barrier = std::sync::Barrier::new(16);
    std::thread::scope(|scope| {
        for i in 0..16 {
            let (props, barrier) = (&props, &barrier);
            scope.spawn(move || {
                let mut h = open_with(props);
                barrier.wait();
                let (rc, text) = send(&mut h, "anna@example.test", &format!("t{i}"));
                assert_eq!(rc, 0, "{text}");
                ok(&mut h, "MAILEND", "", "");
            });
        }
    });
    assert_eq!(s.smtp.wait_for(16).len(), 16);
    assert_eq!(s.oauth.requests().len(), 1, "one request, not 16");
}

#[test]
fn threads_waiting_for_a_failed_request_share_its_error() {
    // A stalling endpoint: the threads that waited for the one request get
    // its 410 (within about one Timeout), not a request each in turn.
    let s = setup();
    s.oauth.set_mode("stall");
    let props = format!("{};Timeout=2", s.props());
    let barrier = std::sync::Barrier::new(16);
    let codes: Vec<i32> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..16)
            .map(|i| {
                let (props, barrier) = (&props, &barrier);
                scope.spawn(move || {
                    let mut h = open_with(props);
                    ok(
                        &mut h,
                        "MAILPREP",
                        "anna@example.test",
                        &format!("subject=t{i}"),
                    );
                    ok(&mut h, "MAILTEXT", "x", "");
                    barrier.wait();
                    let (rc, _) = call(&mut h, "MAILSEND", "", "");
                    ok(&mut h, "MAILEND", "", "");
                    rc
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(codes.iter().all(|&c| c == 410), "{codes:?}");
    let n = s.oauth.requests().len();
    // One, unless a thread came to the slot after that request had ended.
    assert!(n < 4, "{n} requests for 16 threads waiting together");
    assert!(s.smtp.messages().is_empty());
}

/// The child of `a_cache_file_serves_the_next_process`: one message with
/// the properties in LNCCMD_OAUTH2_PROPS.
#[test]
#[ignore = "run by a_cache_file_serves_the_next_process in a process of its own"]
fn oauth2_cache_child() {
    let props = std::env::var("LNCCMD_OAUTH2_PROPS").unwrap();
    let mut h = open_with(&props);
    let (rc, text) = send(&mut h, "anna@example.test", "from a child");
    assert_eq!(rc, 0, "{text}");
    ok(&mut h, "MAILEND", "", "");
}

#[test]
fn a_cache_file_serves_the_next_process() {
    let s = setup();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("tokens.json");
    let props = format!("{};OAuth2Cache=\"{}\"", s.props(), cache.display());
    for _ in 0..2 {
        let child =
            common::spawn_child("oauth2_cache_child", ("LNCCMD_OAUTH2_PROPS", props.clone()));
        let out = common::wait_child(child, Duration::from_secs(60));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(s.smtp.wait_for(2).len(), 2);
    assert_eq!(
        s.oauth.tokens_issued(),
        1,
        "the second process read the file"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&cache).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let text = std::fs::read_to_string(&cache).unwrap();
    assert!(!text.contains(SECRET) && !text.contains(CLIENT), "{text}");

    // A cache file others can read is not trusted: a new token, and the
    // file is replaced by a private one.
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o644)).unwrap();
    let child = common::spawn_child("oauth2_cache_child", ("LNCCMD_OAUTH2_PROPS", props.clone()));
    assert!(
        common::wait_child(child, Duration::from_secs(60))
            .status
            .success()
    );
    assert_eq!(s.oauth.tokens_issued(), 2);
    let mode = std::fs::metadata(&cache).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn oauth2_properties_are_checked_at_mailsmtp_offline() {
    let s = setup();
    let base = format!(
        "Server=\"127.0.0.1\";port={};Sender=\"{SENDER}\";enableSSL=true",
        s.smtp.port
    );
    for (extra, code, words) in [
        ("OAuth2ClientId=a", 105, "needs 'OAuth2ClientSecret'"),
        (
            "OAuth2ClientId=a;OAuth2ClientSecret=\"Ms-s3cret-value\"",
            105,
            "needs 'OAuth2Tenant'",
        ),
        (
            "OAuth2ClientSecret=\"Ms-s3cret-value\";OAuth2Tenant=t",
            105,
            "without 'OAuth2ClientId'",
        ),
        (
            "OAuth2ClientId=a;OAuth2ClientSecret=\"Ms-s3cret-value\";OAuth2TokenUrl=\"http://127.0.0.1/token\"",
            106,
            "must be an https:// URL",
        ),
        (
            "OAuth2ClientId=a;OAuth2ClientSecret=\"Ms-s3cret-value\";OAuth2Tenant=\"x/../y\"",
            106,
            "OAuth2Tenant",
        ),
        (
            "OAuth2ClientId=a;OAuth2ClientSecret=\"Ms-s3cret-value\";OAuth2Tenant=t;password=\"s3cret-pw\"",
            106,
            "remove 'password'",
        ),
        (
            "OAuth2ClientId=a;OAuth2ClientSecret=\"Ms-s3cret-value\";OAuth2Tenant=t;AuthMethod=PLAIN",
            106,
            "XOAUTH2 or OAUTHBEARER",
        ),
        (
            "OAuth2ServiceAccount=\"/nonexistent/sa.json\"",
            200,
            "sa.json",
        ),
        ("Provider=Exchange", 106, "M365 or Google"),
        (
            "Provider=Google;OAuth2ClientId=a;OAuth2ClientSecret=\"Ms-s3cret-value\"",
            106,
            "service account",
        ),
    ] {
        let mut h = 0;
        let (rc, text) = call(&mut h, "MAILSMTP", &format!("{base};{extra}"), "");
        assert_eq!((rc, h), (code, 0), "{extra}: {text}");
        assert!(text.contains(words), "{extra}: {text}");
    }
    assert!(
        s.oauth.requests().is_empty(),
        "MAILSMTP never calls the endpoint"
    );
}
