//! Cutting S/MIME messages at byte level, as verifiers are given them.

/// The two halves of a multipart/signed message, cut at byte level: the
/// signed entity (without the CRLF before the boundary) and the DER signature.
pub fn split_signed(entity: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let text = String::from_utf8_lossy(entity).to_string();
    let head_end = text.find("\r\n\r\n").unwrap();
    let head = text[..head_end]
        .replace("\r\n ", " ")
        .replace("\r\n\t", " ");
    let ct = head
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("content-type: multipart/signed")
        })
        .expect("a multipart/signed entity");
    let b = ct
        .split("boundary=")
        .nth(1)
        .unwrap()
        .trim_start_matches('"');
    let boundary = b[..b.find(['"', ';']).unwrap_or(b.len())].to_string();
    let delim = format!("--{boundary}\r\n");
    let first = entity_find(entity, delim.as_bytes(), 0) + delim.len();
    let next = format!("\r\n--{boundary}\r\n");
    let end = entity_find(entity, next.as_bytes(), first);
    let signed = entity[first..end].to_vec();
    let sig_part = &entity[end + next.len()..];
    let body_start = entity_find(sig_part, b"\r\n\r\n", 0) + 4;
    let close = format!("\r\n--{boundary}--");
    let body_end = entity_find(sig_part, close.as_bytes(), body_start);
    let b64: String = String::from_utf8_lossy(&sig_part[body_start..body_end])
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    (signed, openssl::base64::decode_block(&b64).unwrap())
}

pub fn entity_find(hay: &[u8], needle: &[u8], from: usize) -> usize {
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
        .expect("delimiter")
}

/// The base64 body of a single-part message (the .p7m).
pub fn p7m_der(raw: &[u8]) -> Vec<u8> {
    let start = entity_find(raw, b"\r\n\r\n", 0) + 4;
    let b64: String = String::from_utf8_lossy(&raw[start..])
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    openssl::base64::decode_block(&b64).unwrap()
}

/// A self-signed certificate for `email` (NAME.key, NAME.pem in `dir`)
/// made by the openssl command line; `genpkey` gives the key's algorithm
/// (`["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]`).
/// With `p12_password`, NAME.p12 too; `addext`: one more extension, in
/// `openssl req -addext` form. Returns (key, cert, p12).
pub fn self_signed(
    dir: &std::path::Path,
    name: &str,
    email: &str,
    genpkey: &[&str],
    p12_password: Option<&str>,
    addext: Option<&str>,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let key = dir.join(format!("{name}.key"));
    let cert = dir.join(format!("{name}.pem"));
    let p12 = dir.join(format!("{name}.p12"));
    let (k, c, p) = (
        key.to_str().unwrap(),
        cert.to_str().unwrap(),
        p12.to_str().unwrap(),
    );
    let san = format!("subjectAltName=email:{email}");
    let subject = format!("/CN={name}");
    let mut steps: Vec<Vec<&str>> = vec![
        [&["genpkey"][..], genpkey, &["-out", k]].concat(),
        vec![
            "req", "-x509", "-days", "2", "-subj", &subject, "-addext", &san, "-key", k, "-out", c,
        ],
    ];
    if let Some(ext) = addext {
        steps[1].extend(["-addext", ext]);
    }
    let pass = p12_password.map(|pw| format!("pass:{pw}"));
    if let Some(pass) = &pass {
        steps.push(vec![
            "pkcs12", "-export", "-passout", pass, "-inkey", k, "-in", c, "-out", p,
        ]);
    }
    for args in steps {
        let out = std::process::Command::new("openssl")
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (key, cert, p12)
}
