//! A CL program for `lnccmd run`: every statement is checked first
//! (`compile`: syntax, supported commands, keywords, declared variables,
//! expressions), so a script with a mistake on its last line sends nothing;
//! then `Program::run` executes it against the library through a `Host`.
//! No I/O here: the host does the calls and the printing.

use std::collections::HashMap;

use crate::cl::{self, CatOp, Elem, Param, Statement, SyntaxError};
use crate::sndmail;

/// What a program needs from the outside world.
pub trait Host {
    /// One LNCCMD call: status code and RESULT text.
    fn call(
        &mut self,
        handle: &mut i32,
        cmd: &str,
        opt: &str,
        parm1: &str,
        parm2: &str,
    ) -> (i32, String);
    /// A warning about line `line` (truncated value, monitored error...).
    fn warn(&mut self, line: usize, text: &str);
    /// SNDPGMMSG's message.
    fn say(&mut self, text: &str);
}

/// A CL variable type. `*CHAR` values have a fixed length: shorter values
/// are padded with blanks, longer ones cut (with a warning), as in CL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VarType {
    Char(usize),
    Dec,
    Int,
    Lgl,
}

#[derive(Clone, Debug)]
struct Var {
    ty: VarType,
    value: String,
}

/// Longest `*CHAR` variable (CL's own limit).
const MAX_CHAR_LEN: usize = 32767;

impl Var {
    /// Stores `value` with the type's rules. `Ok(Some(w))`: stored, with a warning.
    fn assign(&mut self, name: &str, value: &str) -> Result<Option<String>, String> {
        match self.ty {
            VarType::Char(len) => {
                let mut warning = None;
                let mut v: String = value.chars().take(len).collect();
                let cut: String = value.chars().skip(len).collect();
                if !cut.trim_end_matches(' ').is_empty() {
                    warning = Some(format!(
                        "the value ({} characters) was cut to LEN({len}) of &{name}",
                        value.chars().count()
                    ));
                }
                let n = v.chars().count();
                v.extend(std::iter::repeat_n(' ', len - n));
                self.value = v;
                Ok(warning)
            }
            VarType::Dec => {
                let t = value.trim_matches(' ');
                let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
                let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
                let ok = !(int.is_empty() && frac.is_empty())
                    && int.chars().all(|c| c.is_ascii_digit())
                    && frac.chars().all(|c| c.is_ascii_digit());
                if !ok {
                    return Err(format!("&{name} is *DEC: '{value}' is not a number"));
                }
                self.value = t.to_string();
                Ok(None)
            }
            VarType::Int => {
                let t = value.trim_matches(' ');
                let n: i64 = t
                    .parse()
                    .map_err(|_| format!("&{name} is *INT: '{value}' is not an integer"))?;
                self.value = n.to_string();
                Ok(None)
            }
            VarType::Lgl => {
                let t = value.trim_matches(' ');
                if t != "0" && t != "1" {
                    return Err(format!("&{name} is *LGL: '{value}' is not '0' or '1'"));
                }
                self.value = t.to_string();
                Ok(None)
            }
        }
    }
}

#[derive(Clone, Debug)]
enum Kind {
    /// PGM, DCL: nothing to do at run time.
    Nothing,
    /// ENDPGM, RETURN.
    End,
    ChgVar {
        var: String,
        value: Vec<Elem>,
    },
    /// CALL PGM(LNCCMD) PARM(&HANDLE &CMD &OPT &PARM1 &PARM2 &RESULT).
    Call(Vec<Elem>),
    /// LNCCMD CMD() OPT() PARM1() PARM2(), on the program's own handle.
    Lnccmd([Vec<Elem>; 4]),
    SndMail(Box<sndmail::Spec>),
    SndPgmMsg(Vec<Elem>),
}

#[derive(Clone, Debug)]
struct Stmt {
    line: usize,
    kind: Kind,
    /// A MONMSG follows: an error of this statement does not stop the program.
    monitored: bool,
}

/// Why a run stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The program itself is wrong (a value that does not fit a variable...).
    Script { line: usize, message: String },
    /// A call returned an error: its code and RESULT.
    Call {
        line: usize,
        code: i32,
        result: String,
    },
}

/// How a run that went to its end went.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Errors that a MONMSG let pass.
    pub monitored: usize,
    /// The code of the last of them.
    pub last_monitored_code: Option<i32>,
}

/// A checked program, ready to run.
#[derive(Debug)]
pub struct Program {
    stmts: Vec<Stmt>,
    vars: HashMap<String, Var>,
    /// A MONMSG before the first command: no LNCCMD error stops the program.
    global_monitor: bool,
    /// The handle of the LNCCMD command form.
    handle: i32,
    /// The value of `LNCCMD_SMTP` for LNCSNDMAIL.
    default_smtp: Option<String>,
}

const SUPPORTED: &str = "PGM, ENDPGM, RETURN, DCL, CHGVAR, CALL PGM(LNCCMD), LNCCMD, LNCSNDMAIL, MONMSG, SNDPGMMSG MSG()";
const FUNCTIONS: &[&str] = &["%TRIM", "%TRIML", "%TRIMR"];

fn err(line: usize, msg: impl Into<String>) -> SyntaxError {
    SyntaxError {
        line,
        message: msg.into(),
    }
}

/// The parameter of a required keyword.
fn required<'a>(
    slots: &'a [Option<Param>],
    i: usize,
    name: &str,
    st: &Statement,
) -> Result<&'a Param, SyntaxError> {
    slots[i]
        .as_ref()
        .ok_or_else(|| err(st.line, format!("{}: {name}() is required", st.command)))
}

/// The single variable of a VAR-like parameter.
fn var_of(p: &Param, what: &str) -> Result<String, SyntaxError> {
    match p.elems.as_slice() {
        [Elem::Var(v)] => Ok(v.clone()),
        _ => Err(err(p.line, format!("{what} must be a variable (&NAME)"))),
    }
}

/// A constant (a quoted string or a word), for DCL.
fn constant(p: &Param, what: &str) -> Result<String, SyntaxError> {
    match p.elems.as_slice() {
        [Elem::Str(s)] | [Elem::Word(s)] => Ok(s.clone()),
        [] => Ok(String::new()),
        _ => Err(err(p.line, format!("{what} must be a constant"))),
    }
}

struct Checker<'a> {
    vars: &'a HashMap<String, Var>,
}

impl Checker<'_> {
    fn operand(&self, e: &Elem, line: usize) -> Result<(), SyntaxError> {
        match e {
            Elem::Str(_) | Elem::Word(_) => Ok(()),
            Elem::Var(v) => {
                if self.vars.contains_key(v) {
                    Ok(())
                } else {
                    Err(err(
                        line,
                        format!("&{v} is not declared (DCL VAR(&{v}) TYPE(*CHAR) LEN(...))"),
                    ))
                }
            }
            Elem::List(inner) => self.expr(inner, line),
            Elem::Func(name, args) => {
                if !FUNCTIONS.contains(&name.as_str()) {
                    return Err(err(
                        line,
                        format!(
                            "the built-in function {name} is not supported (supported: {})",
                            FUNCTIONS.join(" ")
                        ),
                    ));
                }
                self.expr(args, line)
            }
            Elem::Op(_) => Err(err(line, "*CAT, *TCAT or *BCAT needs a value on each side")),
        }
    }

    /// `operand (op operand)*`, or nothing.
    fn expr(&self, elems: &[Elem], line: usize) -> Result<(), SyntaxError> {
        for (i, e) in elems.iter().enumerate() {
            match (i % 2, e) {
                (1, Elem::Op(_)) => {}
                (1, _) => {
                    return Err(err(
                        line,
                        "two values side by side: join them with *CAT, *TCAT or *BCAT",
                    ));
                }
                _ => self.operand(e, line)?,
            }
        }
        if elems.len().is_multiple_of(2) && !elems.is_empty() {
            return Err(err(line, "*CAT, *TCAT or *BCAT needs a value on each side"));
        }
        Ok(())
    }

    fn param(&self, p: Option<&Param>) -> Result<Vec<Elem>, SyntaxError> {
        match p {
            None => Ok(Vec::new()),
            Some(p) => {
                self.expr(&p.elems, p.line)?;
                Ok(p.elems.clone())
            }
        }
    }
}

/// DCL: the variable, its type and its initial value.
fn declare(st: &Statement) -> Result<(String, Var), SyntaxError> {
    let slots = cl::bind(st, &["VAR", "TYPE", "LEN", "VALUE"], 4)?;
    let name = var_of(required(&slots, 0, "VAR", st)?, "DCL VAR")?;
    let ty_p = required(&slots, 1, "TYPE", st)?;
    let ty = constant(ty_p, "TYPE")?.to_ascii_uppercase();
    let value = slots[3]
        .as_ref()
        .map(|p| constant(p, "DCL VALUE"))
        .transpose()?;
    let lens: Vec<usize> = match &slots[2] {
        None => Vec::new(),
        Some(p) => p
            .elems
            .iter()
            .map(|e| match e {
                Elem::Word(w) => w.parse().ok(),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| err(p.line, "LEN must be one or two numbers"))?,
    };
    let ty = match ty.as_str() {
        "*CHAR" => {
            // CL: LEN, else the length of VALUE, else 32.
            let len = match (lens.first(), &value) {
                (Some(&n), _) => n,
                (None, Some(v)) => v.chars().count().max(1),
                (None, None) => 32,
            };
            if len == 0 || len > MAX_CHAR_LEN || lens.len() > 1 {
                return Err(err(
                    st.line,
                    format!("DCL &{name}: *CHAR LEN must be one number from 1 to {MAX_CHAR_LEN}"),
                ));
            }
            VarType::Char(len)
        }
        "*DEC" => VarType::Dec,
        "*INT" | "*UINT" => VarType::Int,
        "*LGL" => VarType::Lgl,
        _ => {
            return Err(err(
                ty_p.line,
                format!("DCL &{name}: TYPE must be *CHAR, *DEC, *INT, *UINT or *LGL, not {ty}"),
            ));
        }
    };
    let mut var = Var {
        ty,
        value: String::new(),
    };
    let initial = value.clone().unwrap_or_else(|| match ty {
        VarType::Char(_) => String::new(),
        VarType::Lgl | VarType::Dec | VarType::Int => "0".into(),
    });
    match var.assign(&name, &initial) {
        Ok(None) => {}
        Ok(Some(_)) => {
            return Err(err(
                st.line,
                format!("DCL &{name}: VALUE is longer than LEN"),
            ));
        }
        Err(e) => return Err(err(st.line, format!("DCL VALUE: {e}"))),
    }
    Ok((name, var))
}

/// Checks a whole CL source and builds the program. `default_smtp` is the
/// `LNCCMD_SMTP` setting for LNCSNDMAIL.
pub fn compile(source: &str, default_smtp: Option<String>) -> Result<Program, SyntaxError> {
    let statements = cl::parse(source)?;
    let mut vars = HashMap::new();
    for st in statements.iter().filter(|s| s.command == "DCL") {
        let (name, var) = declare(st)?;
        if vars.insert(name.clone(), var).is_some() {
            return Err(err(st.line, format!("&{name} is declared twice")));
        }
    }
    let c = Checker { vars: &vars };
    let mut stmts: Vec<Stmt> = Vec::new();
    let mut global_monitor = false;
    let mut ended = false;
    for st in &statements {
        if ended {
            return Err(err(st.line, format!("{} after ENDPGM", st.command)));
        }
        let kind = match st.command.as_str() {
            "PGM" => {
                let slots = cl::bind(st, &["PARM"], 1)?;
                if let Some(p) = &slots[0] {
                    for e in &p.elems {
                        match e {
                            Elem::Var(_) => c.operand(e, p.line)?,
                            _ => return Err(err(p.line, "PGM PARM() lists variables")),
                        }
                    }
                }
                Kind::Nothing
            }
            "DCL" => Kind::Nothing,
            "ENDPGM" | "RETURN" => {
                cl::bind(st, &[], 0)?;
                if st.command == "ENDPGM" {
                    ended = true;
                }
                Kind::End
            }
            "CHGVAR" => {
                let slots = cl::bind(st, &["VAR", "VALUE"], 2)?;
                let var = var_of(required(&slots, 0, "VAR", st)?, "CHGVAR VAR")?;
                c.operand(&Elem::Var(var.clone()), st.line)?;
                let value = c.param(Some(required(&slots, 1, "VALUE", st)?))?;
                Kind::ChgVar { var, value }
            }
            "CALL" => {
                let slots = cl::bind(st, &["PGM", "PARM"], 2)?;
                let pgm = required(&slots, 0, "PGM", st)?;
                let name = match pgm.elems.as_slice() {
                    [Elem::Word(w)] | [Elem::Str(w)] => w.rsplit('/').next().unwrap_or(w),
                    _ => "",
                };
                if !name.eq_ignore_ascii_case("LNCCMD") {
                    return Err(err(
                        pgm.line,
                        "only CALL PGM(LNCCMD) can be run (the mail commands)",
                    ));
                }
                let parm = required(&slots, 1, "PARM", st)?;
                if parm.elems.len() != 6 {
                    return Err(err(
                        parm.line,
                        format!(
                            "CALL PGM(LNCCMD) needs 6 parameters: PARM(&HANDLE &CMD &OPT &PARM1 &PARM2 &RESULT), not {}",
                            parm.elems.len()
                        ),
                    ));
                }
                for e in &parm.elems {
                    c.operand(e, parm.line)?;
                }
                Kind::Call(parm.elems.clone())
            }
            "LNCCMD" => {
                let slots = cl::bind(st, &["CMD", "OPT", "PARM1", "PARM2"], 4)?;
                required(&slots, 0, "CMD", st)?;
                Kind::Lnccmd([
                    c.param(slots[0].as_ref())?,
                    c.param(slots[1].as_ref())?,
                    c.param(slots[2].as_ref())?,
                    c.param(slots[3].as_ref())?,
                ])
            }
            "LNCSNDMAIL" => {
                let slots = cl::bind(st, sndmail::KEYWORDS, 0)?;
                let spec = sndmail::Spec::compile(st, &slots)?;
                spec.check(|elems, line| c.expr(elems, line))?;
                Kind::SndMail(Box::new(spec))
            }
            "SNDPGMMSG" => {
                let kws = [
                    "MSG", "MSGID", "MSGF", "MSGDTA", "TOPGMQ", "TOMSGQ", "MSGTYPE",
                ];
                let slots = cl::bind(st, &kws, 1)?;
                if let Some(p) = slots[1..].iter().flatten().next() {
                    return Err(err(
                        p.line,
                        format!(
                            "SNDPGMMSG: only MSG() is supported, not {}",
                            p.keyword.as_deref().unwrap_or("")
                        ),
                    ));
                }
                Kind::SndPgmMsg(c.param(Some(required(&slots, 0, "MSG", st)?))?)
            }
            "MONMSG" => {
                let slots = cl::bind(st, &["MSGID", "CMPDTA", "EXEC"], 3)?;
                required(&slots, 0, "MSGID", st)?;
                if let Some(p) = &slots[2] {
                    return Err(err(
                        p.line,
                        "MONMSG EXEC() is not supported: a monitored error is reported as a warning and the program goes on",
                    ));
                }
                if stmts.iter().all(|s| matches!(s.kind, Kind::Nothing)) {
                    global_monitor = true;
                } else if let Some(last) = stmts.last_mut()
                    && matches!(
                        last.kind,
                        Kind::Call(_) | Kind::Lnccmd(_) | Kind::SndMail(_)
                    )
                {
                    last.monitored = true;
                }
                continue;
            }
            other => {
                return Err(err(
                    st.line,
                    format!("{other} is not supported by lnccmd run (supported: {SUPPORTED})"),
                ));
            }
        };
        stmts.push(Stmt {
            line: st.line,
            kind,
            monitored: false,
        });
    }
    Ok(Program {
        stmts,
        vars,
        global_monitor,
        handle: 0,
        default_smtp,
    })
}

/// What a value longer than its `*CHAR` variable does.
#[derive(Clone, Copy)]
enum Cut {
    Warn,
    Silent,
    /// A handle that does not fit would name another session.
    Fail,
}

fn cat(left: String, op: CatOp, right: &str) -> String {
    match op {
        CatOp::Cat => left + right,
        CatOp::TCat => left.trim_end_matches(' ').to_string() + right,
        CatOp::BCat => left.trim_end_matches(' ').to_string() + " " + right,
    }
}

impl Program {
    /// `--set NAME=VALUE`: a declared variable's starting value.
    pub fn set(&mut self, name: &str, value: &str) -> Result<Option<String>, String> {
        let key = name.trim_start_matches('&').to_ascii_uppercase();
        let var = self
            .vars
            .get_mut(&key)
            .ok_or_else(|| format!("--set {name}: the program declares no variable &{key}"))?;
        var.assign(&key, value)
    }

    /// The value of a variable.
    #[cfg(test)]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(|v| v.value.as_str())
    }

    fn operand(&self, e: &Elem) -> String {
        match e {
            Elem::Str(s) | Elem::Word(s) => s.clone(),
            Elem::Var(v) => self
                .vars
                .get(v)
                .map(|v| v.value.clone())
                .unwrap_or_default(),
            Elem::List(inner) => self.expr(inner),
            Elem::Func(name, args) => {
                let v = self.expr(args);
                match name.as_str() {
                    "%TRIML" => v.trim_start_matches(' ').to_string(),
                    "%TRIMR" => v.trim_end_matches(' ').to_string(),
                    _ => v.trim_matches(' ').to_string(),
                }
            }
            Elem::Op(_) => String::new(),
        }
    }

    /// An expression checked by `compile`.
    fn expr(&self, elems: &[Elem]) -> String {
        let Some(first) = elems.first() else {
            return String::new();
        };
        let mut acc = self.operand(first);
        for pair in elems[1..].chunks(2) {
            if let [Elem::Op(op), right] = pair {
                acc = cat(acc, *op, &self.operand(right));
            }
        }
        acc
    }

    fn assign(
        &mut self,
        host: &mut dyn Host,
        line: usize,
        name: &str,
        value: &str,
        cut: Cut,
    ) -> Result<(), Failure> {
        let var = self.vars.get_mut(name).expect("checked by compile");
        match (var.assign(name, value), cut) {
            (Ok(Some(w)), Cut::Warn) => host.warn(line, &w),
            (Ok(Some(_)), Cut::Fail) => {
                return Err(Failure::Script {
                    line,
                    message: format!("the handle {value} does not fit in &{name}"),
                });
            }
            (Ok(_), _) => {}
            (Err(message), _) => return Err(Failure::Script { line, message }),
        }
        Ok(())
    }

    /// Runs the program to its end or to the first error no MONMSG covers.
    pub fn run(&mut self, host: &mut dyn Host) -> Result<Report, Failure> {
        let mut report = Report::default();
        let stmts = std::mem::take(&mut self.stmts);
        let result = self.run_stmts(&stmts, host, &mut report);
        self.stmts = stmts;
        result.map(|()| report)
    }

    fn run_stmts(
        &mut self,
        stmts: &[Stmt],
        host: &mut dyn Host,
        report: &mut Report,
    ) -> Result<(), Failure> {
        for st in stmts {
            let line = st.line;
            let outcome: (i32, String) = match &st.kind {
                Kind::Nothing => continue,
                Kind::End => break,
                Kind::ChgVar { var, value } => {
                    let v = self.expr(value);
                    self.assign(host, line, var, &v, Cut::Warn)?;
                    continue;
                }
                Kind::SndPgmMsg(msg) => {
                    let text = self.expr(msg);
                    host.say(text.trim_end_matches(' '));
                    continue;
                }
                Kind::Lnccmd([cmd, opt, p1, p2]) => {
                    let (cmd, opt, p1, p2) =
                        (self.expr(cmd), self.expr(opt), self.expr(p1), self.expr(p2));
                    let mut h = self.handle;
                    let r = host.call(&mut h, &cmd, &opt, &p1, &p2);
                    self.handle = h;
                    r
                }
                Kind::Call(parms) => {
                    let values: Vec<String> = parms.iter().map(|e| self.operand(e)).collect();
                    let text = values[0].trim_matches(' ');
                    let mut h: i32 = if text.is_empty() {
                        0
                    } else {
                        text.parse().map_err(|_| Failure::Script {
                            line,
                            message: format!(
                                "the handle (first parameter) holds '{text}', not a number"
                            ),
                        })?
                    };
                    let (code, result) =
                        host.call(&mut h, &values[1], &values[2], &values[3], &values[4]);
                    if let Elem::Var(v) = &parms[0] {
                        self.assign(host, line, v, &h.to_string(), Cut::Fail)?;
                    }
                    if let Elem::Var(v) = &parms[5] {
                        // RESULT is cut to the variable's length, as on IBM i.
                        self.assign(host, line, v, &result, Cut::Silent)?;
                    }
                    (code, result)
                }
                Kind::SndMail(spec) => {
                    let mail = spec.resolve(|e| self.expr(e), self.default_smtp.as_deref());
                    match mail {
                        Ok(mail) => match sndmail::send(&mail, host, line) {
                            Ok(()) => (0, "0".into()),
                            Err(e) => e,
                        },
                        Err(e) => e,
                    }
                }
            };
            let (code, result) = outcome;
            if code == 0 {
                continue;
            }
            if st.monitored || self.global_monitor {
                host.warn(line, &format!("{result} (MONMSG: the program goes on)"));
                report.monitored += 1;
                report.last_monitored_code = Some(code);
                continue;
            }
            return Err(Failure::Call { line, code, result });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host that records calls and answers from a script of codes.
    #[derive(Default)]
    struct Fake {
        calls: Vec<(i32, String, String, String, String)>,
        warnings: Vec<(usize, String)>,
        said: Vec<String>,
        /// Code to return for a command, by name.
        fail: HashMap<String, i32>,
        /// Added to the handle MAILSMTP opens (7).
        handle_base: i32,
    }

    impl Host for Fake {
        fn call(
            &mut self,
            handle: &mut i32,
            cmd: &str,
            opt: &str,
            p1: &str,
            p2: &str,
        ) -> (i32, String) {
            self.calls
                .push((*handle, cmd.into(), opt.into(), p1.into(), p2.into()));
            let c = cmd.trim().to_ascii_uppercase();
            if let Some(&code) = self.fail.get(&c) {
                return (code, format!("{code} {c}: failed"));
            }
            match c.as_str() {
                "MAILSMTP" if *handle == 0 => *handle = 7 + self.handle_base,
                "MAILEND" => *handle = 0,
                _ => {}
            }
            (0, "0".into())
        }
        fn warn(&mut self, line: usize, text: &str) {
            self.warnings.push((line, text.into()));
        }
        fn say(&mut self, text: &str) {
            self.said.push(text.into());
        }
    }

    fn run(src: &str, fake: &mut Fake) -> (Program, Result<Report, Failure>) {
        let mut p = compile(src, None).unwrap();
        let r = p.run(fake);
        (p, r)
    }

    fn compile_err(src: &str) -> SyntaxError {
        compile(src, None).unwrap_err()
    }

    #[test]
    fn call_form_reads_variables_and_writes_handle_and_result_back() {
        let src = "PGM
            DCL VAR(&HANDLE) TYPE(*DEC) LEN(10 0)
            DCL &CMD *CHAR 10
            DCL &OPT *CHAR 10
            DCL &PARM1 *CHAR 512
            DCL &PARM2 *CHAR 512
            DCL &RESULT *CHAR 256
            DCL &SRV *CHAR 32 VALUE('smtp.example.test')
            CHGVAR VAR(&CMD) VALUE('MAILSMTP')
            CHGVAR &PARM1 ('Server=\"' *TCAT &SRV *TCAT '\";Sender=\"a@x.test\"')
            CHGVAR VAR(&PARM2) VALUE(' ')
            CALL PGM(*LIBL/LNCCMD) PARM(&HANDLE &CMD &OPT &PARM1 &PARM2 &RESULT)
            CHGVAR &CMD 'MAILEND'
            CALL LNCCMD (&HANDLE &CMD &OPT ' ' ' ' &RESULT)
            ENDPGM";
        let mut f = Fake::default();
        let (p, r) = run(src, &mut f);
        assert_eq!(r, Ok(Report::default()));
        assert_eq!(f.calls.len(), 2);
        let (h, cmd, _, p1, p2) = &f.calls[0];
        assert_eq!((*h, cmd.trim_end()), (0, "MAILSMTP"));
        assert_eq!(
            p1.trim_end(),
            "Server=\"smtp.example.test\";Sender=\"a@x.test\""
        );
        assert_eq!(p1.len(), 512, "a *CHAR 512 is passed padded, as on IBM i");
        assert_eq!(p2.trim(), "");
        assert_eq!(f.calls[1].0, 7, "the handle written back is passed again");
        assert_eq!(p.get("HANDLE"), Some("0"));
        assert_eq!(p.get("RESULT").unwrap().trim_end(), "0");
    }

    #[test]
    fn command_form_keeps_its_own_handle_and_stops_at_the_first_error() {
        let src = "LNCCMD CMD(MAILSMTP) PARM1('Server=x;Sender=a@x.test')\n\
                   LNCCMD MAILPREP ' ' ' ' 'subject'\n\
                   LNCCMD CMD(MAILTO) PARM1('bad@')\n\
                   LNCCMD CMD(MAILSEND)\n";
        let mut f = Fake::default();
        f.fail.insert("MAILTO".into(), 108);
        let (_, r) = run(src, &mut f);
        assert_eq!(
            r,
            Err(Failure::Call {
                line: 3,
                code: 108,
                result: "108 MAILTO: failed".into()
            })
        );
        let cmds: Vec<_> = f.calls.iter().map(|c| (c.0, c.1.as_str())).collect();
        assert_eq!(cmds, [(0, "MAILSMTP"), (7, "MAILPREP"), (7, "MAILTO")]);
        assert_eq!(f.calls[1].4, "subject", "positional CMD OPT PARM1 PARM2");
    }

    #[test]
    fn monmsg_after_a_command_or_for_the_whole_program() {
        let src = "LNCCMD CMD(MAILSMTP) PARM1('x')\nLNCCMD CMD(MAILSEND)\nMONMSG MSGID(CPF0000)\nLNCCMD CMD(MAILEND)\n";
        let mut f = Fake::default();
        f.fail.insert("MAILSEND".into(), 400);
        let (_, r) = run(src, &mut f);
        assert_eq!(
            r,
            Ok(Report {
                monitored: 1,
                last_monitored_code: Some(400)
            })
        );
        assert_eq!(f.calls.len(), 3);
        assert_eq!(f.warnings[0].0, 2);
        assert!(
            f.warnings[0].1.starts_with("400 MAILSEND: failed"),
            "{:?}",
            f.warnings
        );
        let src = "PGM\nDCL &X *CHAR 1\nMONMSG CPF0000\nLNCCMD MAILSEND\nLNCCMD MAILSEND\n";
        let mut f = Fake::default();
        f.fail.insert("MAILSEND".into(), 504);
        let (_, r) = run(src, &mut f);
        assert_eq!(r.unwrap().monitored, 2);
        assert!(
            compile_err("LNCCMD MAILSEND\nMONMSG CPF0000 EXEC(GOTO END)")
                .message
                .contains("EXEC")
        );
    }

    #[test]
    fn char_variables_are_fixed_length_and_concatenation_follows_cl() {
        let src = "DCL &A *CHAR 6 'ab'\nDCL &B *CHAR 3\nDCL &R *CHAR 40\n\
                   CHGVAR &R (&A *CAT 'x')\nSNDPGMMSG MSG(&R)\n\
                   CHGVAR &R (&A *TCAT 'x')\nSNDPGMMSG &R\n\
                   CHGVAR &R (&A *BCAT 'x' || %TRIM('  y  ') |> 'z')\nSNDPGMMSG &R\n\
                   CHGVAR &B 'abcdef'\nSNDPGMMSG (&B *CAT '|')\n";
        let mut f = Fake::default();
        let (_, r) = run(src, &mut f);
        r.unwrap();
        assert_eq!(f.said, ["ab    x", "abx", "ab xyz", "abc|"]);
        assert_eq!(f.warnings.len(), 1);
        assert_eq!(f.warnings[0].0, 10);
        assert!(f.warnings[0].1.contains("LEN(3) of &B"), "{:?}", f.warnings);
    }

    #[test]
    fn dcl_defaults_and_types() {
        let mut p = compile(
            "DCL &A *CHAR\nDCL &B *CHAR VALUE('abc')\nDCL &N *DEC (5 0) 12\nDCL &I *INT\nDCL &L *LGL VALUE('1')",
            None,
        )
        .unwrap();
        assert_eq!(p.get("A").unwrap().len(), 32);
        assert_eq!(p.get("B"), Some("abc"));
        assert_eq!(p.get("N"), Some("12"));
        assert_eq!(p.get("I"), Some("0"));
        assert_eq!(p.get("L"), Some("1"));
        assert_eq!(p.set("&b", "xy"), Ok(None));
        assert_eq!(p.get("B"), Some("xy "));
        assert!(p.set("N", "1x").unwrap_err().contains("not a number"));
        assert!(
            p.set("NOPE", "1")
                .unwrap_err()
                .contains("no variable &NOPE")
        );
        let src = "DCL &N *DEC\nCHGVAR &N 'abc'";
        let mut f = Fake::default();
        let (_, r) = run(src, &mut f);
        assert!(matches!(r, Err(Failure::Script { line: 2, .. })), "{r:?}");
    }

    #[test]
    fn mistakes_are_found_before_anything_runs() {
        let cases = [
            (
                "LNCCMD MAILSMTP\nIF (&X *EQ 1) THEN(DO)\n",
                2,
                "IF is not supported",
            ),
            ("LNCCMD MAILSMTP\nGOTO END\n", 2, "GOTO is not supported"),
            (
                "LNCCMD CMD(MAILSMTP) PARM1(&NOPE)",
                1,
                "&NOPE is not declared",
            ),
            ("DCL &X *CHAR 2\nDCL &X *CHAR 3", 2, "declared twice"),
            ("DCL &X *CHAR 2 'abc'", 1, "longer than LEN"),
            ("DCL &X *FLOAT", 1, "TYPE must be"),
            ("DCL &X *CHAR\nCHGVAR &X ('a' 'b')", 2, "side by side"),
            ("DCL &X *CHAR\nCHGVAR &X ('a' *CAT)", 2, "each side"),
            (
                "DCL &X *CHAR\nCHGVAR &X %SST(&X 1 2)",
                2,
                "%SST is not supported",
            ),
            ("CALL PGM(QCMDEXC) PARM('x' 1)", 1, "only CALL PGM(LNCCMD)"),
            (
                "DCL &H *CHAR\nCALL LNCCMD (&H 'MAILEND')",
                2,
                "needs 6 parameters",
            ),
            ("LNCCMD PARM1('x')", 1, "CMD() is required"),
            ("LNCCMD CMD(X) FOO(1)", 1, "unknown keyword FOO"),
            ("SNDPGMMSG MSG('x') MSGTYPE(*ESCAPE)", 1, "only MSG()"),
            ("PGM\nENDPGM\nLNCCMD MAILEND", 3, "after ENDPGM"),
        ];
        for (src, line, text) in cases {
            let e = compile_err(src);
            assert_eq!(e.line, line, "{src}: {e:?}");
            assert!(e.message.contains(text), "{src}: {e:?}");
        }
    }

    #[test]
    fn a_handle_that_does_not_fit_its_variable_stops_the_program() {
        let src = "DCL &H *CHAR 1\nDCL &R *CHAR 1\nCALL LNCCMD (&H 'MAILSMTP' ' ' 'x' ' ' &R)\nCALL LNCCMD (&H 'MAILEND' ' ' ' ' ' ' &R)";
        let mut f = Fake {
            handle_base: 10,
            ..Fake::default()
        };
        let (_, r) = run(src, &mut f);
        match r {
            Err(Failure::Script { line: 3, message }) => {
                assert!(
                    message.contains("handle 17 does not fit in &H"),
                    "{message}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(f.calls.len(), 1);
    }

    #[test]
    fn lncsndmail_in_a_program_uses_variables_and_its_own_session() {
        let src = "DCL &WHO *CHAR 20 'bob'\nDCL &SRV *CHAR 20 'smtp.example.test'\n\
                   LNCSNDMAIL TOINTNET(((&WHO *TCAT '@example.test') *CC)) SUBJECT('Hi' *BCAT &WHO) +\n\
                     MSG(('Dear' *BCAT %TRIM(&WHO)) 'bye') CFGSMTP(&SRV 25 'a@example.test')\n\
                   LNCCMD CMD(MAILSEND)\n";
        let mut f = Fake::default();
        let (_, r) = run(src, &mut f);
        assert_eq!(r, Ok(Report::default()));
        let calls: Vec<String> = f
            .calls
            .iter()
            .map(|(h, c, _, p1, p2)| format!("{h} {c}|{p1}|{p2}"))
            .collect();
        assert_eq!(
            calls,
            [
                "0 MAILSMTP|Server=\"smtp.example.test\";port=\"25\";Sender=\"a@example.test\"|",
                "7 MAILPREP||",
                "7 MAILSUBJ|Hi bob|",
                "7 MAILCC|bob@example.test|",
                "7 MAILTEXT|Dear bob|",
                "7 MAILTEXT|bye|",
                "7 MAILSEND||",
                "7 MAILEND||",
                // The program's own handle for the command form is separate.
                "0 MAILSEND||",
            ]
        );
    }

    #[test]
    fn a_bad_handle_value_is_a_script_error() {
        let src =
            "DCL &H *CHAR 5 'abc'\nDCL &R *CHAR 10\nCALL LNCCMD (&H 'MAILEND' ' ' ' ' ' ' &R)";
        let mut f = Fake::default();
        let (_, r) = run(src, &mut f);
        match r {
            Err(Failure::Script { line: 3, message }) => {
                assert!(message.contains("'abc'"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        assert!(f.calls.is_empty());
    }
}
