//! LNCSNDMAIL, LAUNCHER's one-shot send command: a CL command in scripts
//! and `lnccmd sndmail ...` on the command line. It becomes the LNCCMD calls
//! MAILSMTP, MAILPREP, MAILSUBJ, MAILTO/MAILCC/MAILBCC, MAILTEXT, MAILBODYF,
//! MAILLATT, MAILPRTY, MAILREPORT, MAILSEND and MAILEND on a session of its
//! own. The keywords are documented in docs/cli.md and `lnccmd sndmail --help`.

use crate::cl::{Elem, Param, Statement, SyntaxError};
use crate::script::Host;

/// The keywords, in the order of the help text. None is positional.
pub const KEYWORDS: &[&str] = &[
    "TOINTNET", "SUBJECT", "MSG", "DOC", "HTML", "PTY", "CFMDEL", "CFGSMTP", "SMTP", "MSGFILE",
];

/// CFGSMTP's elements, in order.
pub const CFGSMTP_ELEMENTS: &[&str] = &[
    "server", "port", "sender", "user", "password", "security", "tries", "timeout",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    To,
    Cc,
    Bcc,
}

impl Kind {
    fn command(self) -> &'static str {
        match self {
            Kind::To => "MAILTO",
            Kind::Cc => "MAILCC",
            Kind::Bcc => "MAILBCC",
        }
    }
}

/// An expression (see `script`): operands joined by *CAT and friends.
type Expr = Vec<Elem>;

/// A checked LNCSNDMAIL, its values still expressions.
#[derive(Clone, Debug)]
pub struct Spec {
    line: usize,
    to: Vec<(Expr, Kind)>,
    subject: Option<Expr>,
    msg: Vec<Expr>,
    /// MSGFILE: a text file (or `*STDIN`) whose lines follow MSG's.
    msg_file: Option<Expr>,
    docs: Vec<(Expr, Option<Expr>)>,
    html: Option<Expr>,
    pty: Option<Expr>,
    report: Option<&'static str>,
    /// CFGSMTP, one list of elements per server; `None` for *DFT / *NONE.
    servers: Vec<Vec<Option<Expr>>>,
    smtp: Option<Expr>,
}

/// A LNCSNDMAIL with its values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mail {
    /// MAILSMTP's property string, one per server (the next is tried when
    /// MAILSEND cannot reach one: a 4xx code but 409, `nothing_delivered`).
    pub smtp: Vec<String>,
    pub to: Vec<(String, Kind)>,
    pub subject: Option<String>,
    pub lines: Vec<String>,
    pub html: Option<String>,
    pub docs: Vec<(String, Option<String>)>,
    pub pty: Option<String>,
    pub report: Option<&'static str>,
}

fn err(line: usize, msg: impl Into<String>) -> SyntaxError {
    SyntaxError {
        line,
        message: msg.into(),
    }
}

fn has_op(elems: &[Elem]) -> bool {
    elems.iter().any(|e| matches!(e, Elem::Op(_)))
}

/// One element as an expression: `(a *CAT b)` is its inside, anything else itself.
fn expr_of(e: &Elem) -> Expr {
    match e {
        Elem::List(inner) => inner.clone(),
        other => vec![other.clone()],
    }
}

/// A special value (`*TO`, `*YES`...) written as a word or a quoted string.
fn special(e: &Elem) -> Option<String> {
    match e {
        Elem::Word(w) | Elem::Str(w) => Some(w.to_ascii_uppercase()),
        _ => None,
    }
}

fn is_default(e: &Elem) -> bool {
    matches!(e, Elem::Word(w) if ["*DFT", "*NONE", "*SAME"].contains(&w.to_ascii_uppercase().as_str()))
}

/// A property-string value in double quotes (`"` doubled).
pub fn quote(v: &str) -> String {
    format!("\"{}\"", v.replace('"', "\"\""))
}

/// A CL string literal (`'` doubled).
fn cl_quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', "''"))
}

/// The error for a value written without quotes where CL splits it in
/// several (`SUBJECT(Invoice 42)`, `MSG(Hello, Bob)`): it names the
/// keyword and shows the value quoted. `None` unless there are several
/// elements, every one an unquoted word (with variables or operators, the
/// expression's own error says more).
fn unquoted(keyword: &str, elems: &[Elem], line: usize) -> Option<SyntaxError> {
    let words: Option<Vec<&str>> = elems
        .iter()
        .map(|e| match e {
            Elem::Word(w) => Some(w.as_str()),
            _ => None,
        })
        .collect();
    let words = words.filter(|w| w.len() > 1)?;
    let text = words.join(" ");
    Some(err(
        line,
        format!(
            "{keyword}({text}): a value with blanks, commas or quotes must be quoted, or CL reads {} values: write {keyword}({})",
            words.len(),
            cl_quote(&text)
        ),
    ))
}

/// For command-line arguments that do not parse: the first one written
/// `KEYWORD(value)` with an unquoted value holding a quote
/// (`SUBJECT(l'equipe)`), which CL reads as the start of a string never
/// closed. The message names the keyword and shows the value quoted.
pub fn unquoted_argument(args: &[String]) -> Option<String> {
    args.iter().find_map(|a| {
        let a = a.trim();
        let (keyword, rest) = a.split_once('(')?;
        let inside = rest.strip_suffix(')')?;
        let is_keyword = !keyword.is_empty() && keyword.chars().all(|c| c.is_ascii_alphabetic());
        let quoted = inside.trim_start().starts_with(['\'', '(']);
        (is_keyword && !quoted && inside.contains('\'')).then(|| {
            format!(
                "{keyword}({inside}): a value holding a quote must be quoted, with each quote doubled: write {keyword}({})",
                cl_quote(inside.trim())
            )
        })
    })
}

/// A display name and an address written unquoted side by side
/// (`Bob <bob@example.com>`): CL reads two values. The error names the
/// keyword and shows the value quoted.
fn name_and_address(keyword: &str, elems: &[Elem], line: usize) -> Result<(), SyntaxError> {
    for (i, e) in elems.iter().enumerate() {
        let (Elem::Word(name), Some(Elem::Word(next))) = (e, elems.get(i + 1)) else {
            continue;
        };
        if !next.starts_with('<') || name.starts_with('*') {
            continue;
        }
        // The reader makes `<` a relational symbol of its own: `<bob@x>`
        // comes as the words `<`, `bob@x`, `>`. Written back as one.
        let mut addr = String::new();
        for w in elems[i + 1..].iter() {
            let Elem::Word(w) = w else { break };
            addr.push_str(w);
            if w.ends_with('>') {
                break;
            }
        }
        return Err(err(
            line,
            format!(
                "{keyword}: {name} {addr} is a name and an address: quote them as one value, {}",
                cl_quote(&format!("{name} {addr}"))
            ),
        ));
    }
    Ok(())
}

impl Spec {
    /// Checks the keywords of a LNCSNDMAIL statement (bound to `KEYWORDS`).
    pub fn compile(st: &Statement, slots: &[Option<Param>]) -> Result<Spec, SyntaxError> {
        let get = |k: &str| {
            let i = KEYWORDS.iter().position(|x| *x == k).expect("a keyword");
            slots[i].as_ref()
        };
        let tointnet = get("TOINTNET").ok_or_else(|| {
            err(
                st.line,
                "LNCSNDMAIL: TOINTNET() is required: TOINTNET((address *TO) (address *CC) (address *BCC))",
            )
        })?;
        let mut to = Vec::new();
        name_and_address("TOINTNET", &tointnet.elems, tointnet.line)?;
        for e in &tointnet.elems {
            if let Elem::List(inner) = e {
                name_and_address("TOINTNET", inner, tointnet.line)?;
            }
            match e {
                Elem::List(inner) if !has_op(inner) => {
                    let (addr, kind) = match inner.as_slice() {
                        [a] => (a, None),
                        [a, k] => (a, Some(k)),
                        _ => {
                            return Err(err(
                                tointnet.line,
                                "TOINTNET: each recipient is (address *TO|*CC|*BCC)",
                            ));
                        }
                    };
                    let kind = match kind.map(|k| special(k).unwrap_or_default()).as_deref() {
                        None | Some("*TO" | "*PRI") => Kind::To,
                        Some("*CC") => Kind::Cc,
                        Some("*BCC") => Kind::Bcc,
                        Some(other) => {
                            return Err(err(
                                tointnet.line,
                                format!(
                                    "TOINTNET: the recipient type is *TO, *CC or *BCC, not '{other}'"
                                ),
                            ));
                        }
                    };
                    to.push((expr_of(addr), kind));
                }
                Elem::Op(_) => {
                    return Err(err(
                        tointnet.line,
                        "TOINTNET: put an expression in parentheses: ((&A *TCAT '@example.com') *TO)",
                    ));
                }
                other => to.push((expr_of(other), Kind::To)),
            }
        }
        if to.is_empty() {
            return Err(err(tointnet.line, "TOINTNET() names no recipient"));
        }
        // Keywords of one value, and MSG, whose values are lines: unquoted
        // words there are a value CL split (DOC, TOINTNET and CFGSMTP take
        // several values).
        for k in ["SUBJECT", "MSG", "HTML", "PTY", "SMTP", "MSGFILE"] {
            if let Some(p) = get(k)
                && let Some(e) = unquoted(k, &p.elems, p.line)
            {
                return Err(e);
            }
        }
        let whole = |k: &str| get(k).map(|p| p.elems.clone());
        let msg = match get("MSG") {
            None => Vec::new(),
            Some(p) if has_op(&p.elems) => vec![p.elems.clone()],
            Some(p) => p.elems.iter().map(expr_of).collect(),
        };
        let mut docs = Vec::new();
        if let Some(p) = get("DOC") {
            for e in &p.elems {
                match e {
                    Elem::List(inner) if !has_op(inner) => match inner.as_slice() {
                        [path] => docs.push((expr_of(path), None)),
                        [path, name] => docs.push((expr_of(path), Some(expr_of(name)))),
                        _ => {
                            return Err(err(
                                p.line,
                                "DOC: each document is 'path' or ('path' 'shown name')",
                            ));
                        }
                    },
                    Elem::Op(_) => {
                        return Err(err(p.line, "DOC: put an expression in parentheses"));
                    }
                    other => docs.push((expr_of(other), None)),
                }
            }
        }
        let report = match get("CFMDEL") {
            None => None,
            Some(p) => match p.elems.as_slice() {
                [e] => match special(e).as_deref() {
                    Some("*YES") => Some(""),
                    Some("*NO") => None,
                    Some("*READ") => Some("read"),
                    Some("*BOTH") => Some("both"),
                    _ => return Err(err(p.line, "CFMDEL is *YES, *NO, *READ or *BOTH")),
                },
                _ => return Err(err(p.line, "CFMDEL is *YES, *NO, *READ or *BOTH")),
            },
        };
        let mut servers = Vec::new();
        if let Some(p) = get("CFGSMTP") {
            let all_lists = !p.elems.is_empty()
                && p.elems
                    .iter()
                    .all(|e| matches!(e, Elem::List(inner) if !has_op(inner)));
            let groups: Vec<&[Elem]> = if all_lists {
                p.elems
                    .iter()
                    .map(|e| match e {
                        Elem::List(inner) => inner.as_slice(),
                        _ => unreachable!(),
                    })
                    .collect()
            } else {
                vec![p.elems.as_slice()]
            };
            for g in groups {
                name_and_address("CFGSMTP", g, p.line)?;
                if g.len() > CFGSMTP_ELEMENTS.len() || has_op(g) {
                    return Err(err(
                        p.line,
                        format!(
                            "CFGSMTP has at most {} elements: ({}); put expressions in parentheses",
                            CFGSMTP_ELEMENTS.len(),
                            CFGSMTP_ELEMENTS.join(" ")
                        ),
                    ));
                }
                if g.first().is_none_or(is_default) {
                    return Err(err(p.line, "CFGSMTP: the first element is the server"));
                }
                servers.push(
                    g.iter()
                        .map(|e| (!is_default(e)).then(|| expr_of(e)))
                        .collect(),
                );
            }
        }
        let spec = Spec {
            line: st.line,
            to,
            subject: whole("SUBJECT"),
            msg,
            msg_file: whole("MSGFILE"),
            docs,
            html: whole("HTML"),
            pty: whole("PTY"),
            report,
            servers,
            smtp: whole("SMTP"),
        };
        spec.check_constant_properties()?;
        Ok(spec)
    }

    /// Runs `check` on every expression (declared variables, operators).
    /// An error is given the keyword of its value.
    pub fn check(
        &self,
        mut check: impl FnMut(&[Elem], usize) -> Result<(), SyntaxError>,
    ) -> Result<(), SyntaxError> {
        let l = self.line;
        let mut values: Vec<(&str, &Expr)> = Vec::new();
        values.extend(self.to.iter().map(|(a, _)| ("TOINTNET", a)));
        values.extend(self.subject.iter().map(|e| ("SUBJECT", e)));
        values.extend(self.msg.iter().map(|e| ("MSG", e)));
        values.extend(self.msg_file.iter().map(|e| ("MSGFILE", e)));
        values.extend(self.html.iter().map(|e| ("HTML", e)));
        values.extend(self.pty.iter().map(|e| ("PTY", e)));
        for (p, n) in &self.docs {
            values.push(("DOC", p));
            values.extend(n.iter().map(|n| ("DOC", n)));
        }
        for s in &self.servers {
            values.extend(s.iter().flatten().map(|e| ("CFGSMTP", e)));
        }
        values.extend(self.smtp.iter().map(|e| ("SMTP", e)));
        for (keyword, e) in values {
            if let Err(mut error) = check(e, l) {
                error.message = format!("{keyword}: {}", error.message);
                return Err(error);
            }
        }
        Ok(())
    }

    /// MAILSMTP's property string of each server, with `eval` for
    /// expressions; `default_smtp` is the `LNCCMD_SMTP` property string.
    /// Errors are (code, RESULT).
    fn properties(
        &self,
        eval: &impl Fn(&[Elem]) -> String,
        default_smtp: Option<&str>,
    ) -> Result<Vec<String>, (i32, String)> {
        let fail = |code: i32, msg: String| (code, format!("{code} LNCSNDMAIL: {msg}"));
        let value = |e: &Expr| eval(e).trim_matches(' ').to_string();
        let extra = self.smtp.as_ref().map(value).unwrap_or_default();
        let mut smtp = Vec::new();
        let join = |cfg: String| {
            [
                default_smtp.unwrap_or("").trim(),
                cfg.as_str(),
                extra.as_str(),
            ]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(";")
        };
        for server in &self.servers {
            let el = |i: usize| {
                server
                    .get(i)
                    .cloned()
                    .flatten()
                    .map(|e| value(&e))
                    .filter(|v| !v.is_empty())
            };
            let mut items = Vec::new();
            let names = ["Server", "port", "Sender", "UserId", "password"];
            for (i, name) in names.iter().enumerate() {
                if let Some(v) = el(i) {
                    items.push(format!("{name}={}", quote(&v)));
                }
            }
            match el(5).map(|v| v.to_ascii_uppercase()).as_deref() {
                None | Some("*NONE") => {}
                Some("*TLS" | "*STARTTLS") => items.push("enableSSL=true;SSLType=TLS".into()),
                Some("*SMTPS" | "*SSL") => items.push("enableSSL=true;SSLType=SMTPS".into()),
                Some(other) => {
                    return Err(fail(
                        106,
                        format!("CFGSMTP security is *NONE, *TLS or *SMTPS, not '{other}'"),
                    ));
                }
            }
            if let Some(t) = el(6) {
                match t.parse::<u32>() {
                    Ok(n) if n >= 1 => items.push(format!("Retries={}", n - 1)),
                    _ => {
                        return Err(fail(
                            106,
                            format!("CFGSMTP tries is a number from 1, not '{t}'"),
                        ));
                    }
                }
            }
            if let Some(t) = el(7) {
                items.push(format!("Timeout={}", quote(&t)));
            }
            smtp.push(join(items.join(";")));
        }
        if smtp.is_empty() {
            let props = join(String::new());
            if props.is_empty() {
                return Err(fail(
                    105,
                    "no SMTP server: give CFGSMTP('server' port 'sender'), SMTP('Server=\"...\";Sender=\"...\"') or LNCCMD_SMTP in the environment".into(),
                ));
            }
            smtp.push(props);
        }
        Ok(smtp)
    }

    /// Checks, as MAILSMTP of the run will, the property strings made of
    /// constants only (`CFGSMTP('smtp.example.com' 587 ...)`, `SMTP('...')`),
    /// so that `--check` and the check before a run find a misspelt or bad
    /// property. A string with a variable is checked when it runs, and so
    /// are what depends on the machine or the environment then: a missing
    /// Server or Sender (LNCCMD_SMTP may give them), files, certificates.
    fn check_constant_properties(&self) -> Result<(), SyntaxError> {
        let constant = std::cell::Cell::new(true);
        let literal = |e: &[Elem]| match e {
            [Elem::Str(v) | Elem::Word(v)] => v.clone(),
            _ => {
                constant.set(false);
                String::new()
            }
        };
        let Ok(all) = self.properties(&literal, None) else {
            return Ok(());
        };
        if !constant.get() {
            return Ok(());
        }
        for props in all {
            let mut h = 0;
            let (code, text) = lnccmd::call(&mut h, "MAILSMTP", "", &props, "");
            if h != 0 {
                lnccmd::call(&mut h, "MAILEND", "", "", "");
            }
            // 104 syntax, 106 bad value, 110 control character, 112 unknown property.
            if matches!(code, 104 | 106 | 110 | 112) {
                let keyword = if self.servers.is_empty() {
                    "SMTP"
                } else {
                    "CFGSMTP/SMTP"
                };
                return Err(err(
                    self.line,
                    format!("{keyword}: MAILSMTP would refuse these properties: {text}"),
                ));
            }
        }
        Ok(())
    }

    /// The values, with `eval` for expressions; `default_smtp` is the
    /// `LNCCMD_SMTP` property string. Errors are (code, RESULT).
    pub fn resolve(
        &self,
        eval: impl Fn(&[Elem]) -> String,
        default_smtp: Option<&str>,
    ) -> Result<Mail, (i32, String)> {
        let fail = |code: i32, msg: String| (code, format!("{code} LNCSNDMAIL: {msg}"));
        let value = |e: &Expr| eval(e).trim_matches(' ').to_string();
        let smtp = self.properties(&eval, default_smtp)?;
        let opt = |e: &Option<Expr>| e.as_ref().map(value).filter(|v| !v.is_empty());
        let mut lines: Vec<String> = self
            .msg
            .iter()
            .map(|e| eval(e).trim_end_matches(' ').to_string())
            .collect();
        if let Some(source) = opt(&self.msg_file) {
            lines.extend(read_text(&source).map_err(|(code, msg)| fail(code, msg))?);
        }
        Ok(Mail {
            smtp,
            to: self.to.iter().map(|(a, k)| (value(a), *k)).collect(),
            subject: opt(&self.subject),
            lines,
            html: opt(&self.html),
            docs: self
                .docs
                .iter()
                .map(|(p, n)| (value(p), n.as_ref().map(value)))
                .collect(),
            pty: opt(&self.pty),
            report: self.report,
        })
    }
}

/// MSGFILE's text: a file, or standard input for `*STDIN`. UTF-8 (the
/// script's and the command line's charset), LF or CRLF line ends; a last
/// line end adds no empty line. It becomes one MAILTEXT holding the line
/// breaks, so that blanks at the start of its lines are kept (MAILTEXT
/// trims a parameter's ends only). `None` for an empty text. Read when the
/// command runs, so a program may write the file just before. Errors are
/// (code, message): 200 and 201 as for a file of MAILBODYF, 107 for text
/// that is not UTF-8.
fn read_text(source: &str) -> Result<Option<String>, (i32, String)> {
    use std::io::Read;
    let stdin = source.eq_ignore_ascii_case("*STDIN");
    let shown = if stdin {
        "*STDIN".to_string()
    } else {
        format!("'{source}'")
    };
    let bytes = if stdin {
        let mut v = Vec::new();
        std::io::stdin().read_to_end(&mut v).map(|_| v)
    } else {
        std::fs::read(source)
    };
    let bytes = bytes.map_err(|e| {
        let code = if e.kind() == std::io::ErrorKind::NotFound {
            200
        } else {
            201
        };
        (code, format!("MSGFILE {shown} cannot be read: {e}"))
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count();
        (
            107,
            format!("MSGFILE {shown} is not UTF-8 text (bad byte at offset {at}, line {line}): convert it, e.g. iconv -f windows-1252 -t UTF-8"),
        )
    })?;
    let text = text.replace("\r\n", "\n");
    let text = text.strip_suffix('\n').unwrap_or(&text);
    Ok((!text.is_empty()).then(|| text.to_string()))
}

impl Mail {
    /// The calls between MAILSMTP and MAILSEND: (command, PARM1, PARM2).
    pub fn plan(&self) -> Vec<(&'static str, String, String)> {
        let mut calls = vec![("MAILPREP", String::new(), String::new())];
        if let Some(s) = &self.subject {
            calls.push(("MAILSUBJ", s.clone(), String::new()));
        }
        for (a, k) in &self.to {
            calls.push((k.command(), a.clone(), String::new()));
        }
        for l in &self.lines {
            calls.push(("MAILTEXT", l.clone(), String::new()));
        }
        if let Some(h) = &self.html {
            calls.push(("MAILBODYF", h.clone(), String::new()));
        }
        for (p, n) in &self.docs {
            let p2 = n.as_ref().map(|n| format!("name={}", quote(n)));
            calls.push(("MAILLATT", p.clone(), p2.unwrap_or_default()));
        }
        if let Some(p) = &self.pty {
            calls.push(("MAILPRTY", p.clone(), String::new()));
        }
        if let Some(r) = self.report {
            calls.push(("MAILREPORT", r.to_string(), String::new()));
        }
        calls
    }
}

/// Sends the mail on a session of its own, always closed at the end.
/// Errors are (code, RESULT) of the call that failed.
pub fn send(mail: &Mail, host: &mut dyn Host, line: usize) -> Result<(), (i32, String)> {
    let mut h = 0;
    let result = send_on(mail, host, line, &mut h);
    if h != 0 {
        host.call(&mut h, "MAILEND", "", "", "");
    }
    result
}

/// MAILSEND codes after which the next CFGSMTP server may be tried: the
/// connection family (4xx), where nothing reached a mailbox, but 409,
/// where the first server may have the whole message and a second would
/// deliver it twice.
fn nothing_delivered(code: i32) -> bool {
    code / 100 == 4 && code != 409
}

fn send_on(
    mail: &Mail,
    host: &mut dyn Host,
    line: usize,
    h: &mut i32,
) -> Result<(), (i32, String)> {
    let step = |host: &mut dyn Host, h: &mut i32, cmd: &str, p1: &str, p2: &str| {
        let (code, text) = host.call(h, cmd, "", p1, p2);
        if code == 0 { Ok(()) } else { Err((code, text)) }
    };
    step(host, h, "MAILSMTP", &mail.smtp[0], "")?;
    for (cmd, p1, p2) in mail.plan() {
        step(host, h, cmd, &p1, &p2)?;
    }
    let mut server = 0;
    loop {
        match step(host, h, "MAILSEND", "", "") {
            Ok(()) => return Ok(()),
            Err((code, text)) if nothing_delivered(code) && server + 1 < mail.smtp.len() => {
                server += 1;
                host.warn(
                    line,
                    &format!("{text} (trying server {} of CFGSMTP)", server + 1),
                );
                // The draft is kept: the same message goes through the next server.
                step(host, h, "MAILSMTP", &mail.smtp[server], "")?;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cl;

    fn spec(src: &str) -> Result<Spec, SyntaxError> {
        let st = cl::parse(src).unwrap().remove(0);
        let slots = cl::bind(&st, KEYWORDS, 0)?;
        Spec::compile(&st, &slots)
    }

    /// Literal expressions only (no variables here): the operands joined.
    fn lit(e: &[Elem]) -> String {
        e.iter()
            .map(|x| match x {
                Elem::Str(s) | Elem::Word(s) => s.clone(),
                _ => String::new(),
            })
            .collect()
    }

    fn mail(src: &str, env: Option<&str>) -> Result<Mail, (i32, String)> {
        spec(src).unwrap().resolve(lit, env)
    }

    #[test]
    fn every_keyword_becomes_its_call() {
        let m = mail(
            "LNCSNDMAIL TOINTNET((bob@example.com *TO) ('Amy <amy@example.com>' *cc) (c@example.com *BCC) d@example.com) \
             SUBJECT('Invoice n°42') MSG('Hello,' 'l''équipe') DOC('/tmp/a.pdf' ('/tmp/b.png' 'Logo.png')) \
             HTML('<p>x</p>') PTY(*HIGH) CFMDEL(*YES) \
             CFGSMTP('smtp.example.com' 587 'Billing <billing@example.com>' 'u1' 'pw' *TLS 3 30)",
            None,
        )
        .unwrap();
        assert_eq!(
            m.smtp,
            [
                "Server=\"smtp.example.com\";port=\"587\";Sender=\"Billing <billing@example.com>\";UserId=\"u1\";password=\"pw\";enableSSL=true;SSLType=TLS;Retries=2;Timeout=\"30\""
            ]
        );
        let plan: Vec<_> = m
            .plan()
            .into_iter()
            .map(|(c, a, b)| format!("{c}|{a}|{b}"))
            .collect();
        assert_eq!(
            plan,
            [
                "MAILPREP||",
                "MAILSUBJ|Invoice n°42|",
                "MAILTO|bob@example.com|",
                "MAILCC|Amy <amy@example.com>|",
                "MAILBCC|c@example.com|",
                "MAILTO|d@example.com|",
                "MAILTEXT|Hello,|",
                "MAILTEXT|l'équipe|",
                "MAILBODYF|<p>x</p>|",
                "MAILLATT|/tmp/a.pdf|",
                "MAILLATT|/tmp/b.png|name=\"Logo.png\"",
                "MAILPRTY|*HIGH|",
                "MAILREPORT||",
            ]
        );
    }

    #[test]
    fn cfgsmtp_forms_defaults_and_several_servers() {
        let one = |cfg: &str| mail(&format!("LNCSNDMAIL TOINTNET(a@x.test) CFGSMTP{cfg}"), None);
        let expected = "Server=\"h\";port=\"25\";Sender=\"s@x.test\"";
        assert_eq!(one("('h' 25 's@x.test')").unwrap().smtp, [expected]);
        assert_eq!(one("(('h' 25 's@x.test'))").unwrap().smtp, [expected]);
        assert_eq!(
            one("(h *DFT s@x.test *NONE *NONE *SMTPS)").unwrap().smtp,
            ["Server=\"h\";Sender=\"s@x.test\";enableSSL=true;SSLType=SMTPS"]
        );
        assert_eq!(
            one("((h1 25 s@x.test) (h2 2525 s@x.test))").unwrap().smtp,
            [
                expected.replace("\"h\"", "\"h1\""),
                expected
                    .replace("\"h\"", "\"h2\"")
                    .replace("25\"", "2525\"")
            ]
        );
        // A quote in a value cannot end the property.
        assert_eq!(
            one("(h 25 s@x.test u 'p\";Server=\"evil')").unwrap().smtp[0],
            "Server=\"h\";port=\"25\";Sender=\"s@x.test\";UserId=\"u\";password=\"p\"\";Server=\"\"evil\""
        );
        assert_eq!(one("(h 25 s *NONE *NONE *RC4)").unwrap_err().0, 106);
        assert_eq!(one("(h 25 s *NONE *NONE *TLS 0)").unwrap_err().0, 106);
        assert!(spec("LNCSNDMAIL TOINTNET(a) CFGSMTP(*DFT 25)").is_err());
        assert!(spec("LNCSNDMAIL TOINTNET(a) CFGSMTP(a b c d e f g h i)").is_err());
    }

    #[test]
    fn smtp_keyword_and_environment_are_merged_last_wins() {
        let m = mail(
            "LNCSNDMAIL TOINTNET(a@x.test) CFGSMTP(h 25) SMTP('Sender=\"s@x.test\";logfile=\"/tmp/l.csv\"')",
            Some("Server=default;Sender=d@x.test"),
        )
        .unwrap();
        assert_eq!(
            m.smtp,
            [
                "Server=default;Sender=d@x.test;Server=\"h\";port=\"25\";Sender=\"s@x.test\";logfile=\"/tmp/l.csv\""
            ]
        );
        let m = mail(
            "LNCSNDMAIL TOINTNET(a@x.test)",
            Some("Server=h;Sender=s@x.test"),
        )
        .unwrap();
        assert_eq!(m.smtp, ["Server=h;Sender=s@x.test"]);
        let e = mail("LNCSNDMAIL TOINTNET(a@x.test)", None).unwrap_err();
        assert_eq!(e.0, 105);
        assert!(e.1.starts_with("105 LNCSNDMAIL: no SMTP server"), "{}", e.1);
    }

    #[test]
    fn keyword_mistakes() {
        let e = |src: &str| spec(src).unwrap_err().message;
        assert!(e("LNCSNDMAIL SUBJECT(x)").contains("TOINTNET() is required"));
        assert!(e("LNCSNDMAIL TOINTNET((a *FROM))").contains("*TO, *CC or *BCC"));
        assert!(e("LNCSNDMAIL TOINTNET((a *TO x))").contains("(address"));
        assert!(e("LNCSNDMAIL TOINTNET(a) CFMDEL(*MAYBE)").contains("CFMDEL"));
        assert!(e("LNCSNDMAIL TOINTNET()").contains("no recipient"));
        let st = cl::parse("LNCSNDMAIL TOINTNET(a) FROM(b)")
            .unwrap()
            .remove(0);
        assert!(
            cl::bind(&st, KEYWORDS, 0)
                .unwrap_err()
                .message
                .contains("unknown keyword FROM")
        );
    }

    #[test]
    fn msg_with_an_operator_is_one_line() {
        let m = mail(
            "LNCSNDMAIL TOINTNET(a@x.test) MSG('a' *CAT 'b') SMTP('Server=h;Sender=s@x.test')",
            None,
        )
        .unwrap();
        assert_eq!(m.lines, ["ab"]);
    }

    #[test]
    fn an_unquoted_value_is_refused_naming_its_keyword_and_quoted() {
        let e = |src: &str| {
            let st = cl::parse(src).unwrap().remove(0);
            let slots = cl::bind(&st, KEYWORDS, 0).unwrap();
            let spec = Spec::compile(&st, &slots)?;
            // What `lnccmd run` does next: every value through the expression checker.
            spec.check(|elems, line| match elems {
                [_] => Ok(()),
                _ => Err(err(
                    line,
                    "two values side by side: join them with *CAT, *TCAT or *BCAT",
                )),
            })
        };
        let m = |src: &str| e(src).unwrap_err().message;
        assert_eq!(
            m("LNCSNDMAIL TOINTNET(a@x.test) SUBJECT(Invoice 42)"),
            "SUBJECT(Invoice 42): a value with blanks, commas or quotes must be quoted, or CL reads 2 values: write SUBJECT('Invoice 42')"
        );
        assert!(
            m("LNCSNDMAIL TOINTNET(a@x.test) MSG(Hello, Bob)").ends_with("write MSG('Hello, Bob')")
        );
        assert_eq!(
            m("LNCSNDMAIL TOINTNET(Bob <bob@x.test>)"),
            "TOINTNET: Bob <bob@x.test> is a name and an address: quote them as one value, 'Bob <bob@x.test>'"
        );
        assert!(
            m("LNCSNDMAIL TOINTNET((Amy <amy@x.test> *CC))")
                .starts_with("TOINTNET: Amy <amy@x.test>")
        );
        assert!(
            m("LNCSNDMAIL TOINTNET(a@x.test) CFGSMTP(h 25 Billing <b@x.test>)")
                .starts_with("CFGSMTP: Billing <b@x.test> is a name and an address")
        );
        // Other errors of a value are given its keyword.
        let st = cl::parse("LNCSNDMAIL TOINTNET(a@x.test) SUBJECT(&S)")
            .unwrap()
            .remove(0);
        let slots = cl::bind(&st, KEYWORDS, 0).unwrap();
        let spec = Spec::compile(&st, &slots).unwrap();
        let e = spec
            .check(|_, line| Err(err(line, "&S is not declared")))
            .unwrap_err();
        assert_eq!(e.message, "TOINTNET: &S is not declared");
        // Quoted values, single words and several quoted lines are fine.
        assert!(e_ok(
            "LNCSNDMAIL TOINTNET('Bob <bob@x.test>') SUBJECT('Invoice 42') MSG(Hello 'l''équipe')"
        ));
        assert_eq!(
            unquoted_argument(&["TOINTNET(a@x.test)".into(), "SUBJECT(l'equipe)".into()]).unwrap(),
            "SUBJECT(l'equipe): a value holding a quote must be quoted, with each quote doubled: write SUBJECT('l''equipe')"
        );
        assert_eq!(unquoted_argument(&["SUBJECT('l''equipe')".into()]), None);
        assert_eq!(
            unquoted_argument(&["TOINTNET((a@x.test *TO))".into()]),
            None
        );
    }

    fn e_ok(src: &str) -> bool {
        spec(src).is_ok()
    }

    #[test]
    fn constant_properties_are_checked_as_mailsmtp_will() {
        let m = |src: &str| spec(src).unwrap_err().message;
        let e = m("LNCSNDMAIL TOINTNET(a@x.test) SMTP('Server=h;Sender=s@x.test;Sever=x')");
        assert!(
            e.starts_with("SMTP: MAILSMTP would refuse these properties: 112 MAILSMTP: unknown property 'Sever'"),
            "{e}"
        );
        let e = m("LNCSNDMAIL TOINTNET(a@x.test) CFGSMTP((h 25 s@x.test) (h2 99999 s@x.test))");
        assert!(e.contains("106 MAILSMTP: 'port' must be"), "{e}");
        let e = m("LNCSNDMAIL TOINTNET(a@x.test) SMTP('Server=h;Sender=s@x.test;port=\"25')");
        assert!(e.contains("104 MAILSMTP"), "{e}");
        // What the environment may still give (Server, Sender) is not asked for.
        assert!(spec("LNCSNDMAIL TOINTNET(a@x.test) SMTP('port=2525')").is_ok());
        assert!(spec("LNCSNDMAIL TOINTNET(a@x.test)").is_ok());
        // A value from a variable is checked when it runs.
        assert!(spec("LNCSNDMAIL TOINTNET(a@x.test) SMTP(&PROPS)").is_ok());
        assert!(spec("LNCSNDMAIL TOINTNET(a@x.test) CFGSMTP(h &PORT s@x.test)").is_ok());
    }

    #[test]
    fn msgfile_lines_follow_msg_with_their_line_breaks_and_indentation() {
        let dir = tempfile::tempdir().unwrap();
        let body = dir.path().join("body.txt");
        std::fs::write(&body, "Bonjour,\r\n\r\n  la facture est jointe.\r\n").unwrap();
        let src = format!(
            "LNCSNDMAIL TOINTNET(a@x.test) MSG('first') MSGFILE('{}') SMTP('Server=h;Sender=s@x.test')",
            body.display()
        );
        let m = mail(&src, None).unwrap();
        assert_eq!(m.lines, ["first", "Bonjour,\n\n  la facture est jointe."]);
        std::fs::write(&body, b"").unwrap();
        assert_eq!(mail(&src, None).unwrap().lines, ["first"]);
        std::fs::write(&body, b"ok\ncaf\xe9\n").unwrap();
        let e = mail(&src, None).unwrap_err();
        assert_eq!(e.0, 107);
        assert!(
            e.1.contains("is not UTF-8 text (bad byte at offset 6, line 2)"),
            "{}",
            e.1
        );
        let missing = src.replace("body.txt", "none.txt");
        let e = mail(&missing, None).unwrap_err();
        assert_eq!(e.0, 200);
        assert!(e.1.starts_with("200 LNCSNDMAIL: MSGFILE '"), "{}", e.1);
        let e = mail(
            &src.replace(
                &body.display().to_string(),
                &dir.path().display().to_string(),
            ),
            None,
        )
        .unwrap_err();
        assert_eq!(e.0, 201, "{}", e.1);
    }
}
