//! CL source text -> statements. Pure: no I/O, no variables, no commands.
//!
//! 1. `logical_lines`: physical lines joined into statements. A line whose
//!    last non-blank character is `+` continues on the next line without its
//!    leading blanks; `-` continues with them. Both work inside a quoted
//!    string (the vendor's own example splits an address that way).
//!    `/* comments */` are dropped (they may span lines); a string must close
//!    on its line unless the line is continued.
//! 2. `tokens`: quoted strings (`''` is one `'`), words, parentheses, the
//!    concatenation operators `*CAT *TCAT *BCAT` (or `|| |> |<`).
//! 3. `statement`: `[LABEL:] COMMAND` then parameters: `KEYWORD(elements)`
//!    (the keyword touches its parenthesis) or positional values, positional
//!    ones first. Command and keyword names are upper-cased; values keep their
//!    case.
//!
//! `bind` then maps a statement's parameters to a command's keywords.

use std::fmt;

/// A syntax error at a physical line (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub message: String,
}

impl SyntaxError {
    fn new(line: usize, message: impl Into<String>) -> SyntaxError {
        SyntaxError {
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)
    }
}

/// A concatenation operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CatOp {
    /// `*CAT` / `||`: as is.
    Cat,
    /// `*TCAT` / `|<`: trailing blanks of the left operand dropped.
    TCat,
    /// `*BCAT` / `|>`: trailing blanks of the left operand dropped, one blank added.
    BCat,
}

/// One element of a parameter value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Elem {
    /// A quoted string, `''` already turned into `'`.
    Str(String),
    /// An unquoted value as written (`MAILSMTP`, `*TO`, `25`, `LIB/PGM`).
    Word(String),
    /// `&NAME`: the name, upper-cased, without `&`.
    Var(String),
    Op(CatOp),
    /// `( ... )`
    List(Vec<Elem>),
    /// A built-in function `%NAME(...)`: the name upper-cased, with `%`.
    Func(String, Vec<Elem>),
    /// The command in `THEN(...)`, `ELSE(...)`, `EXEC(...)`.
    Cmd(Box<Statement>),
}

/// A parameter: `KEYWORD(elements)` or a positional value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    /// Upper-cased; `None` for a positional parameter.
    pub keyword: Option<String>,
    /// The elements inside the parentheses (a positional `(a b)` gives
    /// `[a, b]` too, a positional `a` gives `[a]`).
    pub elems: Vec<Elem>,
    pub line: usize,
}

/// One CL command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    /// The line where the command starts.
    pub line: usize,
    pub label: Option<String>,
    /// Upper-cased, without a library qualifier.
    pub command: String,
    pub params: Vec<Param>,
}

/// A blank between the words of a statement, and at the ends of a line.
/// U+00A0 (no-break space) too: it is what a copy from a web page gives
/// for the spaces of the vendor's examples (issue #16). Inside a quoted
/// string, only at the end of a line, where trailing blanks never count.
fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\u{00A0}'
}

/// A character that shows as nothing or as a plain space but is neither a
/// blank nor text a CL program means (a copy from a web page or a word
/// processor leaves them): its name, for the error that points at it.
fn invisible(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{00AD}' => "SOFT HYPHEN",
        '\u{200B}' => "ZERO WIDTH SPACE",
        '\u{200C}' => "ZERO WIDTH NON-JOINER",
        '\u{200D}' => "ZERO WIDTH JOINER",
        '\u{2060}' => "WORD JOINER",
        '\u{FEFF}' => "ZERO WIDTH NO-BREAK SPACE",
        '\u{2028}' => "LINE SEPARATOR",
        '\u{2029}' => "PARAGRAPH SEPARATOR",
        '\u{3000}' => "IDEOGRAPHIC SPACE",
        '\u{202F}' => "NARROW NO-BREAK SPACE",
        '\u{2000}'..='\u{200A}' => "a typographic space",
        c if c.is_control() && c != '\t' => "a control character",
        c if lnccmd::is_bidi_control(c) => "a bidirectional control",
        _ => return None,
    })
}

/// A character of a logical line, with the physical line it came from.
type Located = (char, usize);

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Normal,
    Quote(usize),
    Comment(usize),
}

/// Physical lines joined into logical ones (one per statement), comments
/// dropped. Lines that hold only blanks or comments give nothing.
pub fn logical_lines(source: &str) -> Result<Vec<Vec<Located>>, SyntaxError> {
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    let mut out = Vec::new();
    let mut cur: Vec<Located> = Vec::new();
    let mut state = State::Normal;
    // The continuation character ending the previous line, and its line.
    let mut continued: Option<(char, usize)> = None;
    for (i, raw) in source.split('\n').enumerate() {
        let n = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let chars: Vec<char> = line.chars().collect();
        let mut start = 0;
        if let Some(('+', _)) = continued {
            while start < chars.len() && is_blank(chars[start]) {
                start += 1;
            }
            if start == chars.len() {
                // A blank line after '+': the statement goes on after it.
                continue;
            }
        }
        continued = None;
        let last = chars.iter().rposition(|c| !is_blank(*c));
        if let Some(last) = last.filter(|&l| l >= start) {
            let mut i = start;
            while i <= last {
                let c = chars[i];
                let next = chars.get(i + 1).copied();
                match state {
                    State::Normal | State::Quote(_) if i == last && (c == '+' || c == '-') => {
                        continued = Some((c, n));
                    }
                    State::Normal if c == '/' && next == Some('*') => {
                        state = State::Comment(n);
                        cur.push((' ', n));
                        i += 1;
                    }
                    State::Normal => {
                        if let Some(name) = invisible(c) {
                            return Err(SyntaxError::new(
                                n,
                                format!(
                                    "column {}: an invisible character, U+{:04X} ({name}), outside a quoted string: delete it (a copy from a web page or a word processor leaves such characters)",
                                    i + 1,
                                    c as u32
                                ),
                            ));
                        }
                        if c == '\'' {
                            state = State::Quote(n);
                        }
                        cur.push((c, n));
                    }
                    State::Quote(_) => {
                        if c == '\'' {
                            state = State::Normal;
                        }
                        cur.push((c, n));
                    }
                    State::Comment(_) => {
                        if c == '*' && next == Some('/') {
                            state = State::Normal;
                            i += 1;
                        }
                    }
                }
                i += 1;
            }
        } else if let State::Normal | State::Quote(_) = state {
            // Blank (after '-' continuation: the blanks belong to the text).
            cur.extend(chars[start..].iter().map(|&c| (c, n)));
        }
        if continued.is_some() {
            continue;
        }
        match state {
            State::Comment(_) => cur.push((' ', n)),
            State::Quote(q) => {
                return Err(SyntaxError::new(
                    q,
                    "the quoted string is not closed on its line (end the line with + to continue it on the next one)",
                ));
            }
            State::Normal => {
                if cur.iter().any(|(c, _)| !is_blank(*c)) {
                    out.push(std::mem::take(&mut cur));
                } else {
                    cur.clear();
                }
            }
        }
    }
    if let Some((c, l)) = continued {
        return Err(SyntaxError::new(
            l,
            format!("the line ends with the continuation character '{c}' but the file ends there"),
        ));
    }
    if let State::Comment(l) = state {
        return Err(SyntaxError::new(
            l,
            "the comment is not closed: '*/' missing",
        ));
    }
    if cur.iter().any(|(c, _)| !is_blank(*c)) {
        out.push(cur);
    }
    Ok(out)
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Str(String),
    Word(String),
    LParen,
    RParen,
    Op(CatOp),
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    line: usize,
    /// No blank between this token and the previous one.
    glued: bool,
}

fn op_word(w: &str) -> Option<CatOp> {
    match w.to_ascii_uppercase().as_str() {
        "*CAT" => Some(CatOp::Cat),
        "*TCAT" => Some(CatOp::TCat),
        "*BCAT" => Some(CatOp::BCat),
        _ => None,
    }
}

fn tokens(chars: &[Located]) -> Result<Vec<Token>, SyntaxError> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut glued = false;
    while i < chars.len() {
        let (c, line) = chars[i];
        let next = chars.get(i + 1).map(|x| x.0);
        let push = |tok, out: &mut Vec<Token>| {
            out.push(Token { tok, line, glued });
        };
        if is_blank(c) {
            glued = false;
            i += 1;
            continue;
        }
        match c {
            '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(SyntaxError::new(line, "the quoted string is not closed"));
                        }
                        Some(('\'', _)) if chars.get(i + 1).map(|x| x.0) == Some('\'') => {
                            s.push('\'');
                            i += 2;
                        }
                        Some(('\'', _)) => {
                            i += 1;
                            break;
                        }
                        Some((ch, _)) => {
                            s.push(*ch);
                            i += 1;
                        }
                    }
                }
                push(Tok::Str(s), &mut out);
            }
            '(' => {
                push(Tok::LParen, &mut out);
                i += 1;
            }
            ')' => {
                push(Tok::RParen, &mut out);
                i += 1;
            }
            // IBM's symbols: || is *CAT, |> *BCAT, |< *TCAT; | alone is *OR.
            '|' => {
                let (tok, n) = match next {
                    Some('|') => (Tok::Op(CatOp::Cat), 2),
                    Some('>') => (Tok::Op(CatOp::BCat), 2),
                    Some('<') => (Tok::Op(CatOp::TCat), 2),
                    _ => (Tok::Word("|".into()), 1),
                };
                push(tok, &mut out);
                i += n;
            }
            // Relational symbols need no blanks around them (`&A=&B`).
            '=' | '<' | '>' | '\u{00AC}' => {
                let two: String = [c, next.unwrap_or(' ')].iter().collect();
                let op = if ["<>", "<=", ">=", "\u{00AC}=", "\u{00AC}<", "\u{00AC}>"]
                    .contains(&two.as_str())
                {
                    two
                } else {
                    c.to_string()
                };
                i += op.chars().count();
                push(Tok::Word(op), &mut out);
            }
            // `&` alone is *AND.
            '&' if !next.is_some_and(|n| n.is_alphanumeric() || "$#@_".contains(n)) => {
                push(Tok::Word("&".into()), &mut out);
                i += 1;
            }
            _ => {
                let mut w = String::new();
                while let Some(&(ch, _)) = chars.get(i) {
                    if is_blank(ch)
                        || "()'|=<>\u{00AC}".contains(ch)
                        || (ch == '&' && !w.is_empty())
                    {
                        break;
                    }
                    w.push(ch);
                    i += 1;
                }
                if chars.get(i).map(|x| x.0) == Some('\'') {
                    return Err(SyntaxError::new(
                        line,
                        format!(
                            "a blank is needed between '{w}' and the quoted string after it (hexadecimal constants X'..' are not supported)"
                        ),
                    ));
                }
                let tok = match op_word(&w) {
                    Some(op) => Tok::Op(op),
                    None => Tok::Word(w),
                };
                push(tok, &mut out);
            }
        }
        glued = true;
    }
    Ok(out)
}

/// CL names: letters, digits, `$ # @ _ .` (not starting with a digit).
fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || "$#@".contains(c))
        && chars.all(|c| c.is_ascii_alphanumeric() || "$#@_.".contains(c))
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }

    fn next_is_glued_lparen(&self) -> bool {
        matches!(
            self.toks.get(self.pos + 1),
            Some(Token {
                tok: Tok::LParen,
                glued: true,
                ..
            })
        )
    }

    /// Elements up to the `)` matching the `(` just consumed at `open_line`.
    fn list(&mut self, open_line: usize) -> Result<Vec<Elem>, SyntaxError> {
        let mut elems = Vec::new();
        loop {
            match self.peek() {
                None => {
                    return Err(SyntaxError::new(
                        open_line,
                        "a '(' is not closed: ')' missing",
                    ));
                }
                Some(Token {
                    tok: Tok::RParen, ..
                }) => {
                    self.pos += 1;
                    return Ok(elems);
                }
                Some(_) => elems.push(self.elem()?),
            }
        }
    }

    /// A command inside `THEN(...)`, `ELSE(...)`, `EXEC(...)`, after its `(`.
    fn nested(&mut self, open_line: usize) -> Result<Elem, SyntaxError> {
        let st = command(self, open_line, false)?;
        match self.peek() {
            Some(Token {
                tok: Tok::RParen, ..
            }) => {
                self.pos += 1;
                Ok(Elem::Cmd(Box::new(st)))
            }
            _ => Err(SyntaxError::new(
                open_line,
                "a '(' is not closed: ')' missing",
            )),
        }
    }

    fn elem(&mut self) -> Result<Elem, SyntaxError> {
        let t = self.toks[self.pos].clone();
        self.pos += 1;
        Ok(match t.tok {
            Tok::Str(s) => Elem::Str(s),
            Tok::Op(op) => Elem::Op(op),
            Tok::LParen => Elem::List(self.list(t.line)?),
            Tok::RParen => return Err(SyntaxError::new(t.line, "')' without a '(' before it")),
            Tok::Word(w) => {
                let glued_paren = matches!(
                    self.peek(),
                    Some(Token {
                        tok: Tok::LParen,
                        glued: true,
                        ..
                    })
                );
                if let Some(name) = w.strip_prefix('&').filter(|_| w != "&") {
                    if !is_name(name) {
                        return Err(SyntaxError::new(
                            t.line,
                            format!(
                                "'{w}' is not a variable name (&NAME: letters, digits, $ # @ _)"
                            ),
                        ));
                    }
                    Elem::Var(name.to_ascii_uppercase())
                } else if glued_paren && w.starts_with('%') && is_name(&w[1..]) {
                    let line = self.toks[self.pos].line;
                    self.pos += 1;
                    Elem::Func(w.to_ascii_uppercase(), self.list(line)?)
                } else if glued_paren {
                    return Err(SyntaxError::new(
                        t.line,
                        format!(
                            "'{w}(' here: a keyword is not expected inside a value (a blank is missing?)"
                        ),
                    ));
                } else {
                    Elem::Word(w)
                }
            }
        })
    }
}

/// The commands whose parameter holds another command, and where:
/// (keyword, positional index). `IF COND(...) THEN(GOTO ERREUR)`,
/// `ELSE CMD(DO)` (or `ELSE DO`), `MONMSG CPF0000 EXEC(GOTO ERREUR)`.
fn command_param(command: &str) -> Option<(&'static [&'static str], usize)> {
    Some(match command {
        "IF" | "WHEN" => (&["THEN"], 1),
        "ELSE" | "OTHERWISE" => (&["CMD"], 0),
        "MONMSG" => (&["EXEC"], 2),
        _ => return None,
    })
}

/// Parses one logical line. A line holding only a label gives a statement
/// with an empty command: the place the label names.
fn statement(chars: &[Located]) -> Result<Option<Statement>, SyntaxError> {
    let toks = tokens(chars)?;
    let first_line = chars.iter().find(|(c, _)| !is_blank(*c)).map_or(1, |x| x.1);
    let mut p = Parser { toks, pos: 0 };
    let st = command(&mut p, first_line, true)?;
    if let Some(t) = p.peek() {
        return Err(SyntaxError::new(t.line, "')' without a '(' before it"));
    }
    Ok(Some(st))
}

/// `[LABEL:] COMMAND params`, up to the end of the tokens or, nested in
/// another command's parameter, up to its `)`.
fn command(p: &mut Parser, first_line: usize, top: bool) -> Result<Statement, SyntaxError> {
    let Some(Token {
        tok: Tok::Word(first),
        line,
        ..
    }) = p.peek().cloned()
    else {
        return Err(SyntaxError::new(
            p.peek().map_or(first_line, |t| t.line),
            if top {
                "a statement starts with a command name"
            } else {
                "a command name is expected inside THEN(), ELSE(), EXEC()"
            },
        ));
    };
    p.pos += 1;
    let mut label = None;
    let mut name = first.clone();
    if let Some((l, rest)) = first.split_once(':').filter(|_| top) {
        if !is_name(l) {
            return Err(SyntaxError::new(line, format!("'{l}' is not a label name")));
        }
        label = Some(l.to_ascii_uppercase());
        name = rest.to_string();
        if name.is_empty() {
            match p.peek().cloned() {
                None => {
                    return Ok(Statement {
                        line,
                        label,
                        command: String::new(),
                        params: Vec::new(),
                    });
                }
                Some(Token {
                    tok: Tok::Word(w), ..
                }) => {
                    p.pos += 1;
                    name = w;
                }
                Some(t) => {
                    return Err(SyntaxError::new(
                        t.line,
                        "a command name is expected after the label",
                    ));
                }
            }
        }
    }
    // A qualified command (QSYS/CHGVAR, *LIBL/LNCCMD): the library is ignored.
    let bare = name.rsplit('/').next().unwrap_or(&name);
    if !is_name(bare) {
        return Err(SyntaxError::new(
            line,
            format!("'{name}' is not a command name"),
        ));
    }
    let command = bare.to_ascii_uppercase();
    let nested = command_param(&command);
    let mut params = Vec::new();
    let mut keyword_seen = false;
    let mut positional = 0;
    while let Some(t) = p.peek().cloned() {
        if t.tok == Tok::RParen && !top {
            break;
        }
        if let Tok::Word(w) = &t.tok
            && p.next_is_glued_lparen()
            && !w.starts_with('%')
            && !w.starts_with('&')
        {
            if !is_name(w) {
                return Err(SyntaxError::new(t.line, format!("'{w}' is not a keyword")));
            }
            p.pos += 2;
            let open_line = p.toks[p.pos - 1].line;
            let keyword = w.to_ascii_uppercase();
            let elems = match nested {
                Some((kws, _)) if kws.contains(&keyword.as_str()) => {
                    vec![p.nested(open_line)?]
                }
                _ => p.list(open_line)?,
            };
            params.push(Param {
                keyword: Some(keyword),
                elems,
                line: t.line,
            });
            keyword_seen = true;
            continue;
        }
        if keyword_seen {
            return Err(SyntaxError::new(
                t.line,
                format!(
                    "{command}: a positional value after keyword parameters (write it as KEYWORD(value), or before the keywords)"
                ),
            ));
        }
        let elems = match (nested, &t.tok) {
            (Some((_, at)), Tok::LParen) if at == positional => {
                p.pos += 1;
                vec![p.nested(t.line)?]
            }
            // `ELSE DO`, `ELSE GOTO FIN`: the rest is the command.
            (Some((_, 0)), Tok::Word(_)) if positional == 0 => {
                vec![Elem::Cmd(Box::new(self::command(p, t.line, false)?))]
            }
            _ => match p.elem()? {
                Elem::Word(w) if w == "+" || w == "-" => {
                    return Err(SyntaxError::new(
                        t.line,
                        format!(
                            "'{w}' continues a line only as its last character (nothing, not even a comment, may follow it)"
                        ),
                    ));
                }
                Elem::List(inner) => inner,
                e => vec![e],
            },
        };
        positional += 1;
        params.push(Param {
            keyword: None,
            elems,
            line: t.line,
        });
    }
    Ok(Statement {
        line: if top { first_line } else { line },
        label,
        command,
        params,
    })
}

/// Columns 1-12 of a source member copied with its SEU sequence numbers
/// and dates (`000100260115PGM`: sequence 0001.00, changed 2026-01-15),
/// as CPYF to a flat file or some FTP clients give: `Some(text)` without
/// them when every non-blank line has them, `None` when no line does. A
/// file where only some lines start with 12 digits is refused: cutting
/// those, or not, could change the program.
pub fn seu_columns(source: &str) -> Result<Option<String>, SyntaxError> {
    let numbered = |l: &str| l.len() >= 12 && l.as_bytes()[..12].iter().all(u8::is_ascii_digit);
    let lines: Vec<&str> = source.split('\n').collect();
    let non_blank = || {
        lines
            .iter()
            .enumerate()
            .filter(|(_, l)| !l.trim_matches([' ', '\r', '\t']).is_empty())
    };
    // The first line decides: a CL line never starts with a digit, but a
    // continued string's next line may.
    let Some((first, _)) = non_blank().next().filter(|(_, l)| numbered(l)) else {
        return Ok(None);
    };
    if let Some((n, _)) = non_blank().find(|(_, l)| !numbered(l)) {
        return Err(SyntaxError::new(
            n + 1,
            format!(
                "this line does not start with the 12 digits of an SEU sequence number and date, but line {} does: export the member without them (CPYTOSTMF), or with them on every line",
                first + 1
            ),
        ));
    }
    Ok(Some(
        lines
            .iter()
            .map(|l| if numbered(l) { &l[12..] } else { *l })
            .collect::<Vec<_>>()
            .join("\n"),
    ))
}

/// Parses a whole CL source.
pub fn parse(source: &str) -> Result<Vec<Statement>, SyntaxError> {
    let mut out = Vec::new();
    for l in logical_lines(source)? {
        if let Some(s) = statement(&l)? {
            out.push(s);
        }
    }
    Ok(out)
}

/// Maps a statement's parameters to `keywords` (the command's keywords in
/// their positional order; only the first `positional` may be given without
/// a keyword). Returns one slot per keyword.
pub fn bind(
    stmt: &Statement,
    keywords: &[&str],
    positional: usize,
) -> Result<Vec<Option<Param>>, SyntaxError> {
    let mut slots: Vec<Option<Param>> = vec![None; keywords.len()];
    let mut next_pos = 0;
    for p in &stmt.params {
        let idx = match &p.keyword {
            Some(k) => keywords.iter().position(|x| x == k).ok_or_else(|| {
                SyntaxError::new(
                    p.line,
                    format!(
                        "{}: unknown keyword {k} (keywords: {})",
                        stmt.command,
                        keywords.join(" ")
                    ),
                )
            })?,
            None => {
                if next_pos >= positional {
                    return Err(SyntaxError::new(
                        p.line,
                        if positional == 0 {
                            format!(
                                "{}: every parameter needs its keyword (keywords: {})",
                                stmt.command,
                                keywords.join(" ")
                            )
                        } else {
                            format!(
                                "{}: too many positional values (at most {positional}: {})",
                                stmt.command,
                                keywords[..positional].join(" ")
                            )
                        },
                    ));
                }
                next_pos += 1;
                next_pos - 1
            }
        };
        if slots[idx].is_some() {
            return Err(SyntaxError::new(
                p.line,
                format!("{}: {} given twice", stmt.command, keywords[idx]),
            ));
        }
        let mut p = p.clone();
        p.keyword = Some(keywords[idx].to_string());
        slots[idx] = Some(p);
    }
    Ok(slots)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(l: &[Located]) -> String {
        l.iter().map(|x| x.0).collect()
    }

    fn lines(src: &str) -> Vec<String> {
        logical_lines(src)
            .unwrap()
            .iter()
            .map(|l| text(l))
            .collect()
    }

    fn one(src: &str) -> Statement {
        let mut v = parse(src).unwrap();
        assert_eq!(v.len(), 1, "{v:?}");
        v.remove(0)
    }

    fn err(src: &str) -> SyntaxError {
        parse(src).unwrap_err()
    }

    fn s(x: &str) -> Elem {
        Elem::Str(x.into())
    }

    fn w(x: &str) -> Elem {
        Elem::Word(x.into())
    }

    fn v(x: &str) -> Elem {
        Elem::Var(x.into())
    }

    /// The same example as copied from the vendor's web page: its blanks
    /// are U+00A0, after the continuation '+' as between the words.
    #[test]
    fn the_vendors_example_as_copied_from_its_page_with_no_break_spaces() {
        let nb = '\u{00A0}';
        let src = format!(
            "LNCCMD{nb} {nb} {nb} {nb}  CMD(MAILSMTP) +{nb} {nb} \n\
             PARM1('SERVER=\"SMTP.AURA.FR\";SENDER=\"TECH+{nb} {nb} \n\
             @EASYCOM-AURA.COM\";REPLY=\"TECH@EASYCOM-+{nb} {nb} \n\
             AURA.COM\";logfile=\"c:\\temp\\logaurasmtp.txt\"'){nb} {nb} \n"
        );
        let st = one(&src);
        assert_eq!(st.command, "LNCCMD");
        assert_eq!(st.params[0].elems, [w("MAILSMTP")]);
        assert_eq!(
            st.params[1].elems,
            [s(
                "SERVER=\"SMTP.AURA.FR\";SENDER=\"TECH@EASYCOM-AURA.COM\";REPLY=\"TECH@EASYCOM-AURA.COM\";logfile=\"c:\\temp\\logaurasmtp.txt\""
            )]
        );
        // Inside a string, a no-break space that is not at the end of the
        // line is a character of the value.
        let st = one(&format!("LNCCMD CMD(MAILSUBJ) PARM1('a{nb}b')\n"));
        assert_eq!(st.params[1].elems, [s(&format!("a{nb}b"))]);
    }

    #[test]
    fn an_invisible_character_outside_a_string_is_named_with_its_column() {
        let e = err("LNCCMD CMD(MAILSMTP)\u{200B} PARM1('x')\n");
        assert_eq!(e.line, 1);
        assert!(
            e.message
                .starts_with("column 21: an invisible character, U+200B (ZERO WIDTH SPACE)"),
            "{}",
            e.message
        );
        let e = err("LNCCMD\n  CMD(MAILEND) \u{00AD}\n");
        assert_eq!(e.line, 2);
        assert!(e.message.contains("U+00AD (SOFT HYPHEN)"), "{}", e.message);
        // Inside a string it is the caller's text (MAILSUBJ may want it).
        assert!(parse("LNCCMD CMD(MAILSUBJ) PARM1('a\u{200B}b')\n").is_ok());
    }

    #[test]
    fn the_vendors_example_continues_inside_the_quoted_string() {
        let src = "LNCCMD     CMD(MAILSMTP) +  \n\
                   PARM1('SERVER=\"SMTP.AURA.FR\";SENDER=\"TECH+  \n\
                   @EASYCOM-AURA.COM\";REPLY=\"TECH@EASYCOM-+  \n\
                   AURA.COM\";logfile=\"c:\\temp\\logaurasmtp.txt\"')  \n";
        let st = one(src);
        assert_eq!(st.command, "LNCCMD");
        assert_eq!(st.line, 1);
        assert_eq!(st.params[0].keyword.as_deref(), Some("CMD"));
        assert_eq!(st.params[0].elems, [w("MAILSMTP")]);
        assert_eq!(st.params[1].keyword.as_deref(), Some("PARM1"));
        assert_eq!(st.params[1].line, 2);
        assert_eq!(
            st.params[1].elems,
            [s(
                "SERVER=\"SMTP.AURA.FR\";SENDER=\"TECH@EASYCOM-AURA.COM\";REPLY=\"TECH@EASYCOM-AURA.COM\";logfile=\"c:\\temp\\logaurasmtp.txt\""
            )]
        );
    }

    #[test]
    fn plus_drops_the_next_lines_leading_blanks_minus_keeps_them() {
        assert_eq!(lines("A 'x+\n      y'\n"), ["A 'xy'"]);
        assert_eq!(lines("A 'x-\n   y'\n"), ["A 'x   y'"]);
        // Blanks before the continuation character stay.
        assert_eq!(lines("A 'x  +\n   y'"), ["A 'x  y'"]);
        assert_eq!(
            lines("CALL PGM(LNCCMD) PARM(&A +\n       &B)"),
            ["CALL PGM(LNCCMD) PARM(&A &B)"]
        );
        // A blank line after '+' is skipped; CRLF line ends work.
        assert_eq!(lines("A +\r\n   \r\n  B\r\nC\r\n"), ["A B", "C"]);
    }

    #[test]
    fn a_plus_or_minus_that_is_not_last_is_text() {
        assert_eq!(lines("CHGVAR &X 'C++ -x'"), ["CHGVAR &X 'C++ -x'"]);
        let st = one("CHGVAR &X VALUE('a-b+c')");
        assert_eq!(st.params[1].elems, [s("a-b+c")]);
    }

    #[test]
    fn doubled_quotes_are_one_quote() {
        let st = one("LNCCMD CMD(MAILTEXT) PARM1('l''équipe vous dit ''bonjour''')");
        assert_eq!(st.params[1].elems, [s("l'équipe vous dit 'bonjour'")]);
        assert_eq!(one("X A('')").params[0].elems, [s("")]);
        assert_eq!(one("X A('''')").params[0].elems, [s("'")]);
    }

    #[test]
    fn comments_are_dropped_even_over_several_lines_but_not_inside_strings() {
        let src = "/* header\n   more header */\nPGM /* start */\n  CHGVAR &X '/* not a comment */' /* one */\nENDPGM";
        let v = parse(src).unwrap();
        assert_eq!(
            v.iter()
                .map(|s| (s.line, s.command.as_str()))
                .collect::<Vec<_>>(),
            [(3, "PGM"), (4, "CHGVAR"), (5, "ENDPGM")]
        );
        assert_eq!(v[1].params[1].elems, [s("/* not a comment */")]);
        // A comment then '+' at the end of the line.
        assert_eq!(lines("A B /* c */ +\n  C"), ["A B   C"]);
    }

    #[test]
    fn names_are_case_insensitive_values_keep_their_case() {
        let st = one("lbl: lnccmd cmd(mailSmtp) parm1('Server=\"x\"') parm2(AbC) opt(&handle)");
        assert_eq!(st.label.as_deref(), Some("LBL"));
        assert_eq!(st.command, "LNCCMD");
        let kws: Vec<_> = st
            .params
            .iter()
            .map(|p| p.keyword.clone().unwrap())
            .collect();
        assert_eq!(kws, ["CMD", "PARM1", "PARM2", "OPT"]);
        assert_eq!(st.params[0].elems, [w("mailSmtp")]);
        assert_eq!(st.params[2].elems, [w("AbC")]);
        assert_eq!(st.params[3].elems, [v("HANDLE")]);
        assert_eq!(one("*LIBL/lnccmd CMD(X)").command, "LNCCMD");
        assert_eq!(one("A:B").command, "B");
        // A label alone on its line: the place it names.
        let st = one("LOOP:\n");
        assert_eq!(
            (st.label.as_deref(), st.command.as_str()),
            (Some("LOOP"), "")
        );
    }

    #[test]
    fn positional_values_lists_and_expressions() {
        let st = one("CHGVAR &X ('Server=\"' *TCAT &SRV |> '\"' *cat x || y *BCAT z |< w)");
        assert_eq!(st.params[0].keyword, None);
        assert_eq!(st.params[0].elems, [v("X")]);
        assert_eq!(
            st.params[1].elems,
            [
                s("Server=\""),
                Elem::Op(CatOp::TCat),
                v("SRV"),
                Elem::Op(CatOp::BCat),
                s("\""),
                Elem::Op(CatOp::Cat),
                w("x"),
                Elem::Op(CatOp::Cat),
                w("y"),
                Elem::Op(CatOp::BCat),
                w("z"),
                Elem::Op(CatOp::TCat),
                w("w"),
            ]
        );
        let st = one("LNCSNDMAIL TOINTNET((a@x.test *TO) ('B <b@x.test>' *cc)) DOC(%TRIM(&F))");
        assert_eq!(
            st.params[0].elems,
            [
                Elem::List(vec![w("a@x.test"), w("*TO")]),
                Elem::List(vec![s("B <b@x.test>"), w("*cc")]),
            ]
        );
        assert_eq!(
            st.params[1].elems,
            [Elem::Func("%TRIM".into(), vec![v("F")])]
        );
        let st = one("CALL PGM(LNCCMD) PARM(&HANDLE &CMD &OPT &PARM1 &PARM2 &RESULT)");
        assert_eq!(st.params[1].elems.len(), 6);
    }

    #[test]
    fn syntax_errors_name_their_line() {
        let e = err("PGM\nCHGVAR &X 'abc\nENDPGM");
        assert_eq!(e.line, 2);
        assert!(
            e.message.contains("not closed") && e.message.contains('+'),
            "{e:?}"
        );
        // A string continued over lines: the error is at its first line.
        let e = err("PGM\nCHGVAR &X 'abc+\n  def\nENDPGM");
        assert_eq!(e.line, 2);
        let e = err("PGM\n\nCHGVAR VAR(&X) VALUE('a'\nENDPGM");
        assert_eq!((e.line, e.message.contains("')' missing")), (3, true));
        let e = err("A\nB C)\n");
        assert_eq!(e.line, 2);
        let e = err("A /* never closed\n\n");
        assert_eq!((e.line, e.message.contains("*/")), (1, true));
        let e = err("A B +\n");
        assert_eq!((e.line, e.message.contains("file ends")), (1, true));
        let e = err("A B + /* c */\n  C");
        assert!(e.message.contains("last character"), "{e:?}");
        let e = err("X\n'abc'\n");
        assert_eq!((e.line, e.message.contains("command name")), (2, true));
        let e = err("X A(1) 2");
        assert!(e.message.contains("positional"), "{e:?}");
        let e = err("X A(X'41')");
        assert!(e.message.contains("hexadecimal"), "{e:?}");
        let e = err("X A(&1x)");
        assert!(e.message.contains("variable name"), "{e:?}");
        let e = err("X A(B(1))");
        assert!(e.message.contains("keyword is not expected"), "{e:?}");
    }

    #[test]
    fn bind_maps_positional_and_keyword_parameters() {
        let kws = ["VAR", "TYPE", "LEN", "VALUE"];
        let st = one("DCL &X *CHAR VALUE('a') LEN(10)");
        let b = bind(&st, &kws, 4).unwrap();
        assert_eq!(b[0].as_ref().unwrap().elems, [v("X")]);
        assert_eq!(b[1].as_ref().unwrap().elems, [w("*CHAR")]);
        assert_eq!(b[2].as_ref().unwrap().elems, [w("10")]);
        assert_eq!(b[3].as_ref().unwrap().elems, [s("a")]);
        let e = bind(&one("DCL &X *CHAR 1 'a' 2"), &kws, 4).unwrap_err();
        assert!(e.message.contains("too many"), "{e:?}");
        let e = bind(&one("DCL &X TYPE(*CHAR) VAR(&Y)"), &kws, 4).unwrap_err();
        assert!(e.message.contains("VAR given twice"), "{e:?}");
        let e = bind(&one("DCL COLOR(red)"), &kws, 4).unwrap_err();
        assert!(e.message.contains("unknown keyword COLOR"), "{e:?}");
        let e = bind(&one("LNCSNDMAIL x"), &["TOINTNET"], 0).unwrap_err();
        assert!(e.message.contains("needs its keyword"), "{e:?}");
    }

    #[test]
    fn seu_sequence_columns_are_dropped_or_refused() {
        let src = "000100261202PGM\r\n\r\n000200261202  LNCCMD CMD(MAILEND) /* x */\r\n000300261202ENDPGM";
        let out = seu_columns(src).unwrap().unwrap();
        assert_eq!(out, "PGM\r\n\r\n  LNCCMD CMD(MAILEND) /* x */\r\nENDPGM");
        assert_eq!(parse(&out).unwrap()[1].line, 3, "line numbers stay");
        // No columns: nothing to do, even when a continued string's next
        // line starts with digits.
        assert_eq!(
            seu_columns("PGM\nCHGVAR &X ('a+\n123456789012')").unwrap(),
            None
        );
        let e = seu_columns("000100261202PGM\n  ENDPGM\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("but line 1 does"), "{e:?}");
    }
}
