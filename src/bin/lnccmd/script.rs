//! A CL program for `lnccmd run`: every statement is checked and compiled
//! first (`compile`: syntax, supported commands, keywords, declared
//! variables, expression types, labels, blocks), so a script with a mistake
//! on its last line sends nothing; then `Program::run` executes the
//! instructions against the library through a `Host`. No I/O here.
//!
//! Control flow (IF/ELSE, DO/ENDDO, DOWHILE, DOUNTIL, DOFOR, LEAVE,
//! ITERATE, GOTO, SELECT, MONMSG EXEC) compiles to a flat list of
//! instructions with jumps, as CL's own compiler does: GOTO may then leave
//! or enter any block.

use std::cell::Cell;
use std::collections::HashMap;

use crate::cl::{self, Elem, Param, Statement, SyntaxError};
use crate::expr::{self, Dec, Env, Expr, Kind, Value, VarType};
use crate::sndmail;

/// The host's clock and job, for RTVJOBA and RTVSYSVAL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clock {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

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
    /// SNDPGMMSG / SNDUSRMSG: the message, its type (`*INFO`...) and id.
    fn message(&mut self, line: usize, kind: &str, msgid: Option<&str>, text: &str);
    /// The local date and time now.
    fn clock(&self) -> Clock {
        Clock {
            year: 1970,
            month: 1,
            day: 1,
            hour: 0,
            minute: 0,
            second: 0,
        }
    }
    /// RTVJOBA's JOB, USER and NBR.
    fn job(&self) -> (String, String, String) {
        ("LNCCMD".into(), "LNCCMD".into(), "000000".into())
    }
}

#[derive(Clone, Debug)]
struct Var {
    ty: VarType,
    value: Value,
}

/// Longest `*CHAR` variable (CL's own limit).
const MAX_CHAR_LEN: usize = 32767;

/// Statements a run may execute before it is stopped as a runaway loop
/// (`--max-steps`).
pub const DEFAULT_MAX_STEPS: u64 = 10_000_000;

/// Where CHGVAR stores: a variable, or `%SST(&VAR start length)` of one.
#[derive(Clone, Debug)]
enum Target {
    Whole(String),
    Sst(String, Expr, Expr),
}

/// Where a RTVJOBA / RTVSYSVAL value comes from.
#[derive(Clone, Copy, Debug)]
enum Source {
    Job,
    User,
    Nbr,
    Date,
    DatFmt,
    QDate,
    QTime,
    QYear,
    QMonth,
    QDay,
    QHour,
    QMinute,
    QSecond,
    QCentury,
}

#[derive(Clone, Debug)]
enum Op {
    /// ENDPGM, RETURN.
    End,
    ChgVar(Target, Expr),
    /// CALL PGM(LNCCMD) PARM(&HANDLE &CMD &OPT &PARM1 &PARM2 &RESULT):
    /// the six values, and the variables written back.
    Call {
        parms: Vec<Expr>,
        handle: Option<String>,
        result: Option<String>,
    },
    /// LNCCMD CMD() OPT() PARM1() PARM2(), on the program's own handle.
    Lnccmd([Expr; 4]),
    SndMail(Box<sndmail::Spec>),
    /// SNDPGMMSG / SNDUSRMSG.
    Message {
        kind: &'static str,
        msgid: Option<String>,
        text: Expr,
    },
    Retrieve(Vec<(Source, String)>),
    Jump(usize),
    JumpIfNot(Expr, usize),
    /// DOFOR's test: past TO (by BY's sign), jump to the end.
    ForTest {
        var: String,
        to: Expr,
        down: bool,
        end: usize,
    },
    /// DOFOR's step: VAR = VAR + BY.
    ForStep(String, Dec),
}

/// What happens when an instruction fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Monitor {
    /// Nothing: the failure stops the program (or, for CALL, goes to &RESULT).
    No,
    /// MONMSG without EXEC: a warning, the program goes on.
    Ignore,
    /// MONMSG EXEC(...): the handler's first instruction.
    Handler(usize),
}

#[derive(Clone, Debug)]
struct Instr {
    line: usize,
    op: Op,
    monitor: Monitor,
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
    /// SNDPGMMSG MSGTYPE(*ESCAPE): the program ended itself in error.
    Escape { line: usize, text: String },
}

/// How a run that went to its end went.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Errors that a MONMSG without EXEC let pass.
    pub monitored: usize,
    /// The code of the last of them.
    pub last_monitored_code: Option<i32>,
    /// Statements executed.
    pub steps: u64,
}

/// A CALL error written to &RESULT that the program has not looked at yet.
#[derive(Debug, Clone)]
struct Pending {
    failure: Failure,
    result_var: String,
}

/// A checked program, ready to run.
#[derive(Debug)]
pub struct Program {
    code: Vec<Instr>,
    vars: HashMap<String, Var>,
    /// A MONMSG before the first command: for every command.
    global_monitor: Monitor,
    /// The handle of the LNCCMD command form.
    handle: i32,
    /// The value of `LNCCMD_SMTP` for LNCSNDMAIL.
    default_smtp: Option<String>,
    max_steps: u64,
    /// The job date format of RTVJOBA DATE and RTVSYSVAL QDATE.
    datfmt: DatFmt,
    pending: Option<Pending>,
    /// The pending error's &RESULT was read.
    examined: Cell<bool>,
}

/// A job date format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatFmt {
    Dmy,
    Mdy,
    Ymd,
}

impl DatFmt {
    /// `DMY`, `*MDY`...: the value of `LNCCMD_DATFMT`.
    pub fn parse(s: &str) -> Option<DatFmt> {
        match s
            .trim()
            .trim_start_matches('*')
            .to_ascii_uppercase()
            .as_str()
        {
            "DMY" => Some(DatFmt::Dmy),
            "MDY" => Some(DatFmt::Mdy),
            "YMD" => Some(DatFmt::Ymd),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            DatFmt::Dmy => "*DMY",
            DatFmt::Mdy => "*MDY",
            DatFmt::Ymd => "*YMD",
        }
    }

    /// The 6-character date (`021226` for 2 Dec 2026 in *DMY).
    fn date(self, c: &Clock) -> String {
        let (y, m, d) = (c.year.rem_euclid(100), c.month, c.day);
        match self {
            DatFmt::Dmy => format!("{d:02}{m:02}{y:02}"),
            DatFmt::Mdy => format!("{m:02}{d:02}{y:02}"),
            DatFmt::Ymd => format!("{y:02}{m:02}{d:02}"),
        }
    }
}

const SUPPORTED: &str = "PGM, ENDPGM, RETURN, DCL, CHGVAR, IF, ELSE, DO, ENDDO, DOWHILE, DOUNTIL, DOFOR, LEAVE, ITERATE, GOTO, SELECT, WHEN, OTHERWISE, ENDSELECT, MONMSG, SNDPGMMSG, SNDUSRMSG, RTVJOBA, RTVSYSVAL, CALL PGM(LNCCMD), LNCCMD, LNCSNDMAIL";

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

/// A special value (`*ESCAPE`, `*EXT`), upper-cased.
fn special(p: &Param) -> Result<String, SyntaxError> {
    Ok(constant(p, p.keyword.as_deref().unwrap_or("the value"))?.to_ascii_uppercase())
}

/// The nested command of THEN(), ELSE(), EXEC().
fn nested(p: &Param) -> Result<&Statement, SyntaxError> {
    match p.elems.as_slice() {
        [Elem::Cmd(st)] => Ok(st),
        _ => Err(err(p.line, "a command is expected here")),
    }
}

/// Variables during the check: their types.
struct Types<'a>(&'a HashMap<String, Var>);

impl Env for Types<'_> {
    fn var_type(&self, name: &str) -> Option<VarType> {
        self.0.get(name).map(|v| v.ty)
    }
    fn value(&self, name: &str) -> Value {
        self.0[name].value.clone()
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
    let lens: Vec<u32> = match &slots[2] {
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
    let bad = |m: String| err(st.line, format!("DCL &{name}: {m}"));
    let ty = match ty.as_str() {
        "*CHAR" => {
            // CL: LEN, else the length of VALUE, else 32.
            let len = match (lens.first(), &value) {
                (Some(&n), _) => n as usize,
                (None, Some(v)) => v.chars().count().max(1),
                (None, None) => 32,
            };
            if len == 0 || len > MAX_CHAR_LEN || lens.len() > 1 {
                return Err(bad(format!(
                    "*CHAR LEN must be one number from 1 to {MAX_CHAR_LEN}"
                )));
            }
            VarType::Char(len)
        }
        "*DEC" => {
            // CL: LEN(15 5) by default; at most 15 digits, 9 decimals.
            let (p, s) = match lens.as_slice() {
                [] => (15, 5),
                [p] => (*p, 0),
                [p, s] => (*p, *s),
                _ => (0, 0),
            };
            if !(1..=15).contains(&p) || s > 9 || s > p {
                return Err(bad(format!(
                    "*DEC LEN(p s): p from 1 to 15 digits, s from 0 to 9 decimals, s <= p (not {p} {s})"
                )));
            }
            VarType::Dec(p, s)
        }
        "*INT" | "*UINT" => {
            let bytes = match lens.as_slice() {
                [] => 4,
                [b] => *b,
                _ => 0,
            };
            if ![2, 4, 8].contains(&bytes) {
                return Err(bad(format!("{ty} LEN is 2, 4 or 8 (bytes), not {lens:?}")));
            }
            VarType::Int(bytes, ty == "*INT")
        }
        "*LGL" => VarType::Lgl,
        _ => {
            return Err(err(
                ty_p.line,
                format!("DCL &{name}: TYPE must be *CHAR, *DEC, *INT, *UINT or *LGL, not {ty}"),
            ));
        }
    };
    let value = match value {
        None => ty.initial(),
        Some(v) => match ty.store(&Value::Char(v)) {
            Ok((v, None)) => v,
            Ok((_, Some(_))) => return Err(bad("VALUE is longer than LEN".into())),
            Err(e) => return Err(bad(format!("VALUE: {e}"))),
        },
    };
    Ok((name, Var { ty, value }))
}

/// An enclosing DOWHILE / DOUNTIL / DOFOR while compiling.
struct Loop {
    label: Option<String>,
    /// ITERATE jumps, patched to the loop's test or step.
    iterate: Vec<usize>,
    /// LEAVE jumps, patched to the end.
    leave: Vec<usize>,
}

/// Statements -> instructions.
struct Compiler<'a> {
    stmts: &'a [Statement],
    /// The next statement to compile.
    pos: usize,
    vars: &'a HashMap<String, Var>,
    code: Vec<Instr>,
    labels: HashMap<String, usize>,
    /// GOTO jumps to patch: instruction, label, line.
    gotos: Vec<(usize, String, usize)>,
    loops: Vec<Loop>,
    /// A command other than PGM/DCL/MONMSG was compiled.
    started: bool,
    global_monitor: Monitor,
    /// Program-level MONMSG EXEC(GOTO label): patched at the end.
    global_goto: Option<(String, usize)>,
    ended: bool,
}

/// The end of a block: what closed it.
#[derive(Debug, PartialEq, Eq)]
enum Closer {
    EndDo,
    EndSelect,
}

impl Compiler<'_> {
    fn emit(&mut self, line: usize, op: Op) -> usize {
        self.code.push(Instr {
            line,
            op,
            monitor: Monitor::No,
        });
        self.code.len() - 1
    }

    fn here(&self) -> usize {
        self.code.len()
    }

    fn patch(&mut self, at: usize, target: usize) {
        match &mut self.code[at].op {
            Op::Jump(t) | Op::JumpIfNot(_, t) | Op::ForTest { end: t, .. } => *t = target,
            other => unreachable!("patching {other:?}"),
        }
    }

    /// An expression of `kind` (a text value accepts any kind: CL converts).
    fn expr(&self, elems: &[Elem], line: usize, kind: Option<Kind>) -> Result<Expr, SyntaxError> {
        let e = expr::parse(elems).map_err(|m| err(line, m))?;
        let got = expr::check(&e, &Types(self.vars)).map_err(|m| err(line, m))?;
        match kind {
            Some(Kind::Lgl) if got != Kind::Lgl => Err(err(
                line,
                "the condition must be a logical expression (a comparison like &RESULT *NE '0', or a *LGL variable)",
            )),
            _ => Ok(e),
        }
    }

    fn param(&self, p: Option<&Param>) -> Result<Expr, SyntaxError> {
        match p {
            None => Ok(Expr::Lit(Value::Char(String::new()))),
            Some(p) => self.expr(&p.elems, p.line, None),
        }
    }

    fn declared(&self, v: &str, line: usize) -> Result<VarType, SyntaxError> {
        self.vars.get(v).map(|v| v.ty).ok_or_else(|| {
            err(
                line,
                format!("&{v} is not declared (DCL VAR(&{v}) TYPE(*CHAR) LEN(...))"),
            )
        })
    }

    /// The rest of the program, to its end.
    fn program(&mut self) -> Result<(), SyntaxError> {
        while self.pos < self.stmts.len() {
            let st = &self.stmts[self.pos];
            self.pos += 1;
            if self.top_statement(st)?.is_some() {
                return Err(err(
                    st.line,
                    format!("{} without a DO or SELECT before it", st.command),
                ));
            }
        }
        Ok(())
    }

    /// Statements up to the closer of the block opened at `open_line`.
    fn block(&mut self, open_line: usize, want: Closer) -> Result<(), SyntaxError> {
        while self.pos < self.stmts.len() {
            let st = &self.stmts[self.pos];
            self.pos += 1;
            if let Some(c) = self.top_statement(st)? {
                if c == want {
                    return Ok(());
                }
                return Err(err(
                    st.line,
                    format!(
                        "{} closes a block opened by a {} (line {open_line})",
                        st.command,
                        if want == Closer::EndDo {
                            "DO"
                        } else {
                            "SELECT"
                        }
                    ),
                ));
            }
        }
        Err(err(
            open_line,
            match want {
                Closer::EndDo => "this DO has no ENDDO",
                Closer::EndSelect => "this SELECT has no ENDSELECT",
            },
        ))
    }

    /// A statement of the program's list (with its label); `Some` for a
    /// block's closer.
    fn top_statement(&mut self, st: &Statement) -> Result<Option<Closer>, SyntaxError> {
        if self.ended {
            return Err(err(st.line, format!("{} after ENDPGM", st.command)));
        }
        if let Some(l) = &st.label {
            let at = self.here();
            if self.labels.insert(l.clone(), at).is_some() {
                return Err(err(st.line, format!("the label {l} is defined twice")));
            }
        }
        match st.command.as_str() {
            "ENDDO" => {
                cl::bind(st, &[], 0)?;
                return Ok(Some(Closer::EndDo));
            }
            "ENDSELECT" => {
                cl::bind(st, &[], 0)?;
                return Ok(Some(Closer::EndSelect));
            }
            "ELSE" => return Err(err(st.line, "ELSE without an IF just before it")),
            "WHEN" | "OTHERWISE" => {
                return Err(err(st.line, format!("{} outside a SELECT", st.command)));
            }
            "MONMSG" => return self.lone_monmsg(st).map(|()| None),
            _ => {}
        }
        self.command(st, st.label.clone())?;
        Ok(None)
    }

    /// A MONMSG that does not follow a command it can monitor: before the
    /// first command, the program-level one; elsewhere an error.
    fn lone_monmsg(&mut self, st: &Statement) -> Result<(), SyntaxError> {
        let slots = cl::bind(st, &["MSGID", "CMPDTA", "EXEC"], 3)?;
        required(&slots, 0, "MSGID", st)?;
        if self.started {
            // After a command that sends no error (SNDPGMMSG, ENDDO...): nothing to monitor.
            return Ok(());
        }
        if self.global_monitor != Monitor::No || self.global_goto.is_some() {
            return Ok(()); // a second program-level MONMSG: the first one covers all
        }
        match &slots[2] {
            None => self.global_monitor = Monitor::Ignore,
            Some(p) => {
                let cmd = nested(p)?;
                if cmd.command != "GOTO" {
                    return Err(err(
                        p.line,
                        "a program-level MONMSG's EXEC can only be GOTO CMDLBL(label) (as in CL)",
                    ));
                }
                self.global_goto = Some((goto_label(cmd)?, p.line));
            }
        }
        Ok(())
    }

    /// MONMSGs right after the instructions `from..` of a monitorable
    /// command: the first one applies (any message id matches, the library
    /// has none).
    fn monitors(&mut self, from: usize) -> Result<(), SyntaxError> {
        let mut first = true;
        while let Some(st) = self.stmts.get(self.pos) {
            if st.command != "MONMSG" || st.label.is_some() {
                break;
            }
            self.pos += 1;
            let slots = cl::bind(st, &["MSGID", "CMPDTA", "EXEC"], 3)?;
            required(&slots, 0, "MSGID", st)?;
            if !first {
                continue;
            }
            first = false;
            let monitor = match &slots[2] {
                None => Monitor::Ignore,
                Some(p) => {
                    // Run on: skip the handler, which follows.
                    let skip = self.emit(st.line, Op::Jump(0));
                    let start = self.here();
                    let cmd = nested(p)?;
                    self.command(cmd, None)?;
                    let end = self.here();
                    self.patch(skip, end);
                    Monitor::Handler(start)
                }
            };
            for i in from..self.code.len() {
                if matches!(
                    self.code[i].op,
                    Op::Call { .. } | Op::Lnccmd(_) | Op::SndMail(_) | Op::ChgVar(..)
                ) && self.code[i].monitor == Monitor::No
                {
                    self.code[i].monitor = monitor;
                }
            }
        }
        Ok(())
    }

    /// One command (a statement, or the command of THEN/ELSE/EXEC).
    /// `label`: the statement's label (LEAVE CMDLBL() names a loop by it).
    fn command(&mut self, st: &Statement, label: Option<String>) -> Result<(), SyntaxError> {
        let line = st.line;
        let first = self.here();
        if !matches!(st.command.as_str(), "" | "PGM" | "DCL") {
            self.started = true;
        }
        let monitorable;
        match st.command.as_str() {
            "" | "DCL" => {
                return Ok(());
            }
            "PGM" => {
                let slots = cl::bind(st, &["PARM"], 1)?;
                if let Some(p) = &slots[0] {
                    for e in &p.elems {
                        match e {
                            Elem::Var(v) => {
                                self.declared(v, p.line)?;
                            }
                            _ => return Err(err(p.line, "PGM PARM() lists variables")),
                        }
                    }
                }
                return Ok(());
            }
            "ENDPGM" | "RETURN" => {
                cl::bind(st, &[], 0)?;
                if st.command == "ENDPGM" {
                    self.ended = true;
                }
                self.emit(line, Op::End);
                monitorable = false;
            }
            "CHGVAR" => {
                let slots = cl::bind(st, &["VAR", "VALUE"], 2)?;
                let vp = required(&slots, 0, "VAR", st)?;
                let target = match vp.elems.as_slice() {
                    [Elem::Var(v)] => {
                        self.declared(v, vp.line)?;
                        Target::Whole(v.clone())
                    }
                    [Elem::Func(f, args)] if f == "%SST" || f == "%SUBSTRING" => {
                        match args.as_slice() {
                            [Elem::Var(v), s, n] => {
                                if !matches!(self.declared(v, vp.line)?, VarType::Char(_)) {
                                    return Err(err(
                                        vp.line,
                                        format!("CHGVAR %SST(&{v} ...): &{v} is not *CHAR"),
                                    ));
                                }
                                let s = self.expr(std::slice::from_ref(s), vp.line, None)?;
                                let n = self.expr(std::slice::from_ref(n), vp.line, None)?;
                                Target::Sst(v.clone(), s, n)
                            }
                            _ => return Err(err(vp.line, "CHGVAR VAR(%SST(&VAR start length))")),
                        }
                    }
                    _ => {
                        return Err(err(
                            vp.line,
                            "CHGVAR VAR must be a variable (&NAME) or %SST(&NAME start length)",
                        ));
                    }
                };
                let vp = required(&slots, 1, "VALUE", st)?;
                let value = self.expr(&vp.elems, vp.line, None)?;
                if let Target::Whole(v) = &target {
                    let ty = self.declared(v, line)?;
                    let got = expr::check(&value, &Types(self.vars)).map_err(|m| err(line, m))?;
                    if ty == VarType::Lgl && got == Kind::Num {
                        return Err(err(
                            line,
                            format!("&{v} is *LGL: a number cannot be stored in it"),
                        ));
                    }
                }
                self.emit(line, Op::ChgVar(target, value));
                monitorable = true;
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
                let parms = parm
                    .elems
                    .iter()
                    .map(|e| self.expr(std::slice::from_ref(e), parm.line, None))
                    .collect::<Result<Vec<_>, _>>()?;
                let var = |e: &Elem| match e {
                    Elem::Var(v) => Some(v.clone()),
                    _ => None,
                };
                self.emit(
                    line,
                    Op::Call {
                        parms,
                        handle: var(&parm.elems[0]),
                        result: var(&parm.elems[5]),
                    },
                );
                monitorable = true;
            }
            "LNCCMD" => {
                let slots = cl::bind(st, &["CMD", "OPT", "PARM1", "PARM2"], 4)?;
                required(&slots, 0, "CMD", st)?;
                let op = Op::Lnccmd([
                    self.param(slots[0].as_ref())?,
                    self.param(slots[1].as_ref())?,
                    self.param(slots[2].as_ref())?,
                    self.param(slots[3].as_ref())?,
                ]);
                self.emit(line, op);
                monitorable = true;
            }
            "LNCSNDMAIL" => {
                let slots = cl::bind(st, sndmail::KEYWORDS, 0)?;
                let spec = sndmail::Spec::compile(st, &slots)?;
                spec.check(|elems, line| self.expr(elems, line, None).map(|_| ()))?;
                self.emit(line, Op::SndMail(Box::new(spec)));
                monitorable = true;
            }
            "SNDPGMMSG" | "SNDUSRMSG" => {
                let op = self.message(st)?;
                self.emit(line, op);
                monitorable = false;
            }
            "RTVJOBA" | "RTVSYSVAL" => {
                let op = self.retrieve(st)?;
                self.emit(line, op);
                monitorable = false;
            }
            "GOTO" => {
                let l = goto_label(st)?;
                let at = self.emit(line, Op::Jump(0));
                self.gotos.push((at, l, line));
                monitorable = false;
            }
            "IF" => {
                self.if_else(st)?;
                monitorable = false;
            }
            "DO" => {
                cl::bind(st, &[], 0)?;
                self.block(line, Closer::EndDo)?;
                monitorable = false;
            }
            "DOWHILE" | "DOUNTIL" | "DOFOR" => {
                self.do_loop(st, label)?;
                monitorable = false;
            }
            "LEAVE" | "ITERATE" => {
                let slots = cl::bind(st, &["CMDLBL"], 1)?;
                let name = slots[0].as_ref().map(special).transpose()?;
                let idx = match &name {
                    None => self.loops.len().checked_sub(1),
                    Some(n) => self.loops.iter().rposition(|l| l.label.as_ref() == Some(n)),
                };
                let Some(idx) = idx else {
                    return Err(err(
                        line,
                        match name {
                            None => format!("{} outside a DOWHILE, DOUNTIL or DOFOR", st.command),
                            Some(n) => {
                                format!("{}: no enclosing loop has the label {n}", st.command)
                            }
                        },
                    ));
                };
                let at = self.emit(line, Op::Jump(0));
                if st.command == "LEAVE" {
                    self.loops[idx].leave.push(at);
                } else {
                    self.loops[idx].iterate.push(at);
                }
                monitorable = false;
            }
            "SELECT" => {
                cl::bind(st, &[], 0)?;
                self.select(st)?;
                monitorable = false;
            }
            "ENDDO" | "ENDSELECT" | "ELSE" | "WHEN" | "OTHERWISE" | "MONMSG" => {
                return Err(err(
                    line,
                    format!(
                        "{} cannot be the command of THEN(), ELSE() or EXEC()",
                        st.command
                    ),
                ));
            }
            other => {
                return Err(err(
                    line,
                    format!("{other} is not supported by lnccmd run (supported: {SUPPORTED})"),
                ));
            }
        }
        if monitorable {
            self.monitors(first)?;
        }
        Ok(())
    }

    /// IF COND() THEN(), and the ELSE right after it.
    fn if_else(&mut self, st: &Statement) -> Result<(), SyntaxError> {
        let slots = cl::bind(st, &["COND", "THEN"], 2)?;
        let c = required(&slots, 0, "COND", st)?;
        let cond = self.expr(&c.elems, c.line, Some(Kind::Lgl))?;
        let test = self.emit(st.line, Op::JumpIfNot(cond, 0));
        if let Some(p) = &slots[1] {
            self.command(nested(p)?, None)?;
        }
        let else_st = self
            .stmts
            .get(self.pos)
            .filter(|s| s.command == "ELSE" && s.label.is_none());
        match else_st {
            None => {
                let end = self.here();
                self.patch(test, end);
            }
            Some(e) => {
                self.pos += 1;
                let slots = cl::bind(e, &["CMD"], 1)?;
                let skip = self.emit(e.line, Op::Jump(0));
                let start = self.here();
                self.patch(test, start);
                if let Some(p) = &slots[0] {
                    self.command(nested(p)?, None)?;
                }
                let end = self.here();
                self.patch(skip, end);
            }
        }
        Ok(())
    }

    fn do_loop(&mut self, st: &Statement, label: Option<String>) -> Result<(), SyntaxError> {
        let line = st.line;
        self.loops.push(Loop {
            label,
            iterate: Vec::new(),
            leave: Vec::new(),
        });
        let (cont, end) = match st.command.as_str() {
            "DOWHILE" => {
                let slots = cl::bind(st, &["COND"], 1)?;
                let c = required(&slots, 0, "COND", st)?;
                let cond = self.expr(&c.elems, c.line, Some(Kind::Lgl))?;
                let top = self.emit(line, Op::JumpIfNot(cond, 0));
                self.block(line, Closer::EndDo)?;
                self.emit(line, Op::Jump(top));
                let end = self.here();
                self.patch(top, end);
                (top, end)
            }
            "DOUNTIL" => {
                let slots = cl::bind(st, &["COND"], 1)?;
                let c = required(&slots, 0, "COND", st)?;
                let cond = self.expr(&c.elems, c.line, Some(Kind::Lgl))?;
                let top = self.here();
                self.block(line, Closer::EndDo)?;
                let cont = self.emit(line, Op::JumpIfNot(cond, top));
                (cont, self.here())
            }
            _ => {
                let slots = cl::bind(st, &["VAR", "FROM", "TO", "BY"], 4)?;
                let var = var_of(required(&slots, 0, "VAR", st)?, "DOFOR VAR")?;
                if !matches!(self.declared(&var, line)?, VarType::Int(..)) {
                    return Err(err(
                        line,
                        format!("DOFOR VAR(&{var}) must be *INT or *UINT (as in CL)"),
                    ));
                }
                let from = self.param(Some(required(&slots, 1, "FROM", st)?))?;
                let to = self.param(Some(required(&slots, 2, "TO", st)?))?;
                let by = match &slots[3] {
                    None => Dec::int(1),
                    Some(p) => constant(p, "DOFOR BY")
                        .ok()
                        .and_then(|s| Dec::parse(&s))
                        .and_then(|d| d.trunc_i64().filter(|&i| i != 0).map(Dec::int))
                        .ok_or_else(|| {
                            err(
                                p.line,
                                "DOFOR BY must be a non-zero integer constant (as in CL)",
                            )
                        })?,
                };
                let down = by.cmp(Dec::int(0)).is_lt();
                self.emit(line, Op::ChgVar(Target::Whole(var.clone()), from));
                let top = self.emit(
                    line,
                    Op::ForTest {
                        var: var.clone(),
                        to,
                        down,
                        end: 0,
                    },
                );
                self.block(line, Closer::EndDo)?;
                let cont = self.emit(line, Op::ForStep(var, by));
                self.emit(line, Op::Jump(top));
                let end = self.here();
                self.patch(top, end);
                (cont, end)
            }
        };
        let l = self.loops.pop().expect("pushed above");
        for at in l.iterate {
            self.patch(at, cont);
        }
        for at in l.leave {
            self.patch(at, end);
        }
        Ok(())
    }

    /// SELECT ... WHEN ... OTHERWISE ... ENDSELECT.
    fn select(&mut self, st: &Statement) -> Result<(), SyntaxError> {
        let mut ends = Vec::new();
        let mut otherwise = false;
        loop {
            let Some(w) = self.stmts.get(self.pos) else {
                return Err(err(st.line, "this SELECT has no ENDSELECT"));
            };
            self.pos += 1;
            match w.command.as_str() {
                "ENDSELECT" => break,
                "WHEN" if !otherwise => {
                    let slots = cl::bind(w, &["COND", "THEN"], 2)?;
                    let c = required(&slots, 0, "COND", w)?;
                    let cond = self.expr(&c.elems, c.line, Some(Kind::Lgl))?;
                    let test = self.emit(w.line, Op::JumpIfNot(cond, 0));
                    if let Some(p) = &slots[1] {
                        self.command(nested(p)?, None)?;
                    }
                    ends.push(self.emit(w.line, Op::Jump(0)));
                    let next = self.here();
                    self.patch(test, next);
                }
                "OTHERWISE" if !otherwise => {
                    otherwise = true;
                    let slots = cl::bind(w, &["CMD"], 1)?;
                    if let Some(p) = &slots[0] {
                        self.command(nested(p)?, None)?;
                    }
                }
                "" => {}
                _ => {
                    return Err(err(
                        w.line,
                        format!(
                            "{} inside SELECT (line {}): only WHEN, then one OTHERWISE, then ENDSELECT",
                            w.command, st.line
                        ),
                    ));
                }
            }
        }
        let end = self.here();
        for at in ends {
            self.patch(at, end);
        }
        Ok(())
    }

    /// SNDPGMMSG / SNDUSRMSG.
    fn message(&mut self, st: &Statement) -> Result<Op, SyntaxError> {
        let user = st.command == "SNDUSRMSG";
        let kws: &[&str] = if user {
            &[
                "MSGID", "MSGF", "MSG", "MSGDTA", "VALUES", "DFT", "MSGTYPE", "TOMSGQ", "TOUSR",
                "MSGRPY",
            ]
        } else {
            &[
                "MSG", "MSGID", "MSGF", "MSGDTA", "TOPGMQ", "TOMSGQ", "MSGTYPE", "RPYMSGQ",
                "KEYVAR",
            ]
        };
        let slots = cl::bind(st, kws, if user { 0 } else { 1 })?;
        let get = |k: &str| slots[kws.iter().position(|x| *x == k).expect("keyword")].as_ref();
        for k in ["VALUES", "DFT", "MSGRPY", "RPYMSGQ", "KEYVAR"] {
            if kws.contains(&k)
                && let Some(p) = get(k)
            {
                return Err(err(
                    p.line,
                    format!(
                        "{} {k}(): a reply cannot be given to an unattended lnccmd run",
                        st.command
                    ),
                ));
            }
        }
        let kind = match get("MSGTYPE").map(special).transpose()?.as_deref() {
            None | Some("*INFO") => "*INFO",
            Some("*COMP") if !user => "*COMP",
            Some("*DIAG") if !user => "*DIAG",
            Some("*ESCAPE") if !user => "*ESCAPE",
            Some("*STATUS") if !user => "*STATUS",
            Some(t) => {
                return Err(err(
                    st.line,
                    format!(
                        "{} MSGTYPE({t}) is not supported: {}",
                        st.command,
                        if user {
                            "*INFO only (an *INQ message waits for a reply)"
                        } else {
                            "*INFO, *COMP, *DIAG, *ESCAPE or *STATUS"
                        }
                    ),
                ));
            }
        };
        // TOPGMQ(*PRV (*)), TOMSGQ(QSYSOPR), TOUSR(*SYSOPR): where the
        // message goes on IBM i; here always stderr, so they are not read.
        let msgid = get("MSGID").map(special).transpose()?;
        let text = match (&msgid, get("MSG")) {
            (Some(_), Some(p)) => {
                return Err(err(
                    p.line,
                    format!("{}: MSG() or MSGID(), not both", st.command),
                ));
            }
            (None, Some(p)) => self.expr(&p.elems, p.line, None)?,
            (None, None) => {
                return Err(err(
                    st.line,
                    format!(
                        "{}: MSG() or MSGID(CPF9898) MSGF(QCPFMSG) MSGDTA() is required",
                        st.command
                    ),
                ));
            }
            (Some(id), None) => {
                // QCPFMSG's CPF9898 is "&1." and CPF9897 "&1": the data is the text.
                if id != "CPF9898" && id != "CPF9897" {
                    return Err(err(
                        st.line,
                        format!(
                            "{}: MSGID({id}): only CPF9898 and CPF9897 of QCPFMSG are known (their text is MSGDTA)",
                            st.command
                        ),
                    ));
                }
                match get("MSGF")
                    .map(special)
                    .transpose()?
                    .as_deref()
                    .map(|f| f.rsplit('/').next().unwrap_or(f).to_string())
                {
                    Some(f) if f == "QCPFMSG" => {}
                    other => {
                        return Err(err(
                            st.line,
                            format!(
                                "{}: MSGID({id}) needs MSGF(QCPFMSG), not {}",
                                st.command,
                                other.unwrap_or_else(|| "nothing".into())
                            ),
                        ));
                    }
                }
                let data = self.param(get("MSGDTA"))?;
                if id == "CPF9898" {
                    let dot = Expr::Lit(Value::Char(".".into()));
                    Expr::Bin(
                        expr::BinOp::Cat(cl::CatOp::TCat),
                        Box::new(data),
                        Box::new(dot),
                    )
                } else {
                    data
                }
            }
        };
        Ok(Op::Message { kind, msgid, text })
    }

    /// RTVJOBA / RTVSYSVAL.
    fn retrieve(&mut self, st: &Statement) -> Result<Op, SyntaxError> {
        let mut out = Vec::new();
        let mut target = |p: &Param, src: Source, min: usize| -> Result<(), SyntaxError> {
            let v = var_of(
                p,
                &format!("{} {}", st.command, p.keyword.as_deref().unwrap_or("")),
            )?;
            match self.declared(&v, p.line)? {
                VarType::Char(n) if n >= min => {}
                _ => {
                    return Err(err(
                        p.line,
                        format!(
                            "{} {}(&{v}): &{v} must be *CHAR LEN({min}) or longer",
                            st.command,
                            p.keyword.as_deref().unwrap_or("")
                        ),
                    ));
                }
            }
            out.push((src, v));
            Ok(())
        };
        if st.command == "RTVJOBA" {
            let kws = ["JOB", "USER", "NBR", "CURUSER", "DATE", "DATFMT"];
            let slots = cl::bind(st, &kws, 0)?;
            for (p, (src, min)) in slots.iter().zip([
                (Source::Job, 10),
                (Source::User, 10),
                (Source::Nbr, 6),
                (Source::User, 10),
                (Source::Date, 6),
                (Source::DatFmt, 4),
            ]) {
                if let Some(p) = p {
                    target(p, src, min)?;
                }
            }
            if out.is_empty() {
                return Err(err(
                    st.line,
                    format!(
                        "RTVJOBA: name at least one of {} (a *CHAR variable)",
                        kws.join(" ")
                    ),
                ));
            }
        } else {
            let slots = cl::bind(st, &["SYSVAL", "RTNVAR"], 2)?;
            let sv = special(required(&slots, 0, "SYSVAL", st)?)?;
            let (src, min) = match sv.as_str() {
                "QDATE" => (Source::QDate, 6),
                "QTIME" => (Source::QTime, 6),
                "QYEAR" => (Source::QYear, 2),
                "QMONTH" => (Source::QMonth, 2),
                "QDAY" => (Source::QDay, 2),
                "QHOUR" => (Source::QHour, 2),
                "QMINUTE" => (Source::QMinute, 2),
                "QSECOND" => (Source::QSecond, 2),
                "QCENTURY" => (Source::QCentury, 1),
                "QDATFMT" => (Source::DatFmt, 3),
                _ => {
                    return Err(err(
                        st.line,
                        format!(
                            "RTVSYSVAL SYSVAL({sv}) is not supported (QDATE QTIME QYEAR QMONTH QDAY QHOUR QMINUTE QSECOND QCENTURY QDATFMT)"
                        ),
                    ));
                }
            };
            target(required(&slots, 1, "RTNVAR", st)?, src, min)?;
        }
        Ok(Op::Retrieve(out))
    }
}

/// GOTO CMDLBL(label) / GOTO label.
fn goto_label(st: &Statement) -> Result<String, SyntaxError> {
    let slots = cl::bind(st, &["CMDLBL"], 1)?;
    let p = required(&slots, 0, "CMDLBL", st)?;
    match p.elems.as_slice() {
        [Elem::Word(w)] if !w.starts_with('*') => Ok(w.to_ascii_uppercase()),
        _ => Err(err(p.line, "GOTO CMDLBL(label): a label name")),
    }
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
    let mut c = Compiler {
        stmts: &statements,
        pos: 0,
        vars: &vars,
        code: Vec::new(),
        labels: HashMap::new(),
        gotos: Vec::new(),
        loops: Vec::new(),
        started: false,
        global_monitor: Monitor::No,
        global_goto: None,
        ended: false,
    };
    c.program()?;
    // Falling off the end is ENDPGM (a CALL error not looked at stops there).
    c.emit(statements.last().map_or(1, |s| s.line), Op::End);
    for (at, label, line) in std::mem::take(&mut c.gotos) {
        let target = *c.labels.get(&label).ok_or_else(|| {
            err(
                line,
                format!("GOTO {label}: no statement has the label {label}:"),
            )
        })?;
        c.patch(at, target);
    }
    let mut global_monitor = c.global_monitor;
    if let Some((label, line)) = &c.global_goto {
        let target = *c.labels.get(label).ok_or_else(|| {
            err(
                *line,
                format!("MONMSG EXEC(GOTO {label}): no statement has the label {label}:"),
            )
        })?;
        global_monitor = Monitor::Handler(target);
    }
    Ok(Program {
        code: c.code,
        vars,
        global_monitor,
        handle: 0,
        default_smtp,
        max_steps: DEFAULT_MAX_STEPS,
        datfmt: DatFmt::Dmy,
        pending: None,
        examined: Cell::new(false),
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

/// A failure of one instruction, and whether a MONMSG may catch it.
struct Stop {
    failure: Failure,
    monitorable: bool,
    code: Option<i32>,
}

impl From<Failure> for Stop {
    fn from(failure: Failure) -> Stop {
        let code = match &failure {
            Failure::Call { code, .. } => Some(*code),
            _ => None,
        };
        // Only a call's error may be monitored: a value that cannot be
        // computed for a call's parameter must stop the program, or the
        // call would be skipped and its message sent without it.
        Stop {
            monitorable: code.is_some(),
            failure,
            code,
        }
    }
}

impl Env for Program {
    fn var_type(&self, name: &str) -> Option<VarType> {
        self.vars.get(name).map(|v| v.ty)
    }
    fn value(&self, name: &str) -> Value {
        if self.pending.as_ref().is_some_and(|p| p.result_var == name) {
            self.examined.set(true);
        }
        self.vars
            .get(name)
            .map(|v| v.value.clone())
            .unwrap_or(Value::Char(String::new()))
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
        let (v, w) = var
            .ty
            .store(&Value::Char(value.to_string()))
            .map_err(|e| format!("&{key} is {}: {e}", var.ty.name()))?;
        var.value = v;
        Ok(w.map(|w| format!("{w} of &{key}")))
    }

    /// `--max-steps`: statements a run may execute.
    pub fn set_max_steps(&mut self, n: u64) {
        self.max_steps = n;
    }

    /// `LNCCMD_DATFMT`: the job date format.
    pub fn set_datfmt(&mut self, f: DatFmt) {
        self.datfmt = f;
    }

    /// The value of a variable, as text.
    #[cfg(test)]
    pub fn get(&self, name: &str) -> Option<String> {
        self.vars.get(name).map(|v| v.value.text())
    }

    fn eval(&self, e: &Expr, line: usize) -> Result<Value, Failure> {
        expr::eval(e, self).map_err(|message| Failure::Script { line, message })
    }

    fn text(&self, e: &Expr, line: usize) -> Result<String, Failure> {
        Ok(self.eval(e, line)?.text())
    }

    fn assign(
        &mut self,
        host: &mut dyn Host,
        line: usize,
        name: &str,
        value: &Value,
        cut: Cut,
    ) -> Result<(), Stop> {
        let var = self.vars.get_mut(name).expect("checked by compile");
        let (v, warning) = var.ty.store(value).map_err(|m| Failure::Script {
            line,
            message: format!("&{name} is {}: {m}", var.ty.name()),
        })?;
        match (warning, cut) {
            (Some(w), Cut::Warn) => host.warn(line, &format!("{w} of &{name}")),
            (Some(_), Cut::Fail) => {
                return Err(Stop {
                    failure: Failure::Script {
                        line,
                        message: format!(
                            "the handle {} does not fit in &{name}",
                            value.text().trim()
                        ),
                    },
                    monitorable: false,
                    code: None,
                });
            }
            _ => {}
        }
        var.value = v;
        Ok(())
    }

    /// Runs the program to its end, to RETURN, or to the first error no
    /// MONMSG covers.
    pub fn run(&mut self, host: &mut dyn Host) -> Result<Report, Failure> {
        let mut report = Report::default();
        let code = std::mem::take(&mut self.code);
        let result = self.run_code(&code, host, &mut report);
        self.code = code;
        result.map(|()| report)
    }

    fn run_code(
        &mut self,
        code: &[Instr],
        host: &mut dyn Host,
        report: &mut Report,
    ) -> Result<(), Failure> {
        let mut pc = 0;
        while let Some(ins) = code.get(pc) {
            report.steps += 1;
            if report.steps > self.max_steps {
                return Err(Failure::Script {
                    line: ins.line,
                    message: format!(
                        "the program ran {} statements: a loop that never ends? (the limit is --max-steps={})",
                        self.max_steps, self.max_steps
                    ),
                });
            }
            let is_call = matches!(
                ins.op,
                Op::Call { .. } | Op::Lnccmd(_) | Op::SndMail(_) | Op::End
            );
            if is_call && let Some(p) = self.pending.take() {
                // A CALL error the program never looked at: stop, as
                // nothing tells the program's next calls what happened.
                return Err(p.failure);
            }
            let next = match self.step(ins, host) {
                Ok(Some(target)) => target,
                Ok(None) => pc + 1,
                Err(stop) => {
                    let monitor = match ins.monitor {
                        Monitor::No if stop.monitorable && !matches!(ins.op, Op::ChgVar(..)) => {
                            self.global_monitor
                        }
                        m if stop.monitorable => m,
                        _ => Monitor::No,
                    };
                    let text = match &stop.failure {
                        Failure::Call { result, .. } => result.clone(),
                        Failure::Script { message, .. } | Failure::Escape { text: message, .. } => {
                            message.clone()
                        }
                    };
                    match monitor {
                        Monitor::No => {
                            if let (
                                Op::Call {
                                    result: Some(var), ..
                                },
                                Failure::Call { .. },
                            ) = (&ins.op, &stop.failure)
                            {
                                // As on IBM i, the error is in &RESULT for
                                // the program to test.
                                self.pending = Some(Pending {
                                    failure: stop.failure,
                                    result_var: var.clone(),
                                });
                                self.examined.set(false);
                                pc += 1;
                                continue;
                            }
                            return Err(stop.failure);
                        }
                        Monitor::Ignore => {
                            host.warn(ins.line, &format!("{text} (MONMSG: the program goes on)"));
                            report.monitored += 1;
                            report.last_monitored_code = stop.code.or(report.last_monitored_code);
                            pc + 1
                        }
                        Monitor::Handler(h) => {
                            host.warn(ins.line, &format!("{text} (MONMSG EXEC)"));
                            h
                        }
                    }
                }
            };
            if self.examined.replace(false) {
                self.pending = None;
            }
            if matches!(ins.op, Op::End) {
                return Ok(());
            }
            pc = next;
        }
        Ok(())
    }

    /// CHGVAR: the whole variable, or `%SST(&VAR start length)` of it.
    fn chgvar(
        &mut self,
        host: &mut dyn Host,
        line: usize,
        target: &Target,
        value: &Expr,
    ) -> Result<(), Stop> {
        let v = self.eval(value, line)?;
        match target {
            Target::Whole(name) => self.assign(host, line, name, &v, Cut::Warn)?,
            Target::Sst(name, s, n) => {
                let s = self.eval(s, line)?.text();
                let n = self.eval(n, line)?.text();
                let (s, n) = match (
                    Dec::parse(&s).and_then(|d| d.trunc_i64()),
                    Dec::parse(&n).and_then(|d| d.trunc_i64()),
                ) {
                    (Some(s), Some(n)) => (s, n),
                    _ => {
                        return Err(Failure::Script {
                            line,
                            message: format!(
                                "CHGVAR %SST(&{name} {s} {n}): start and length must be numbers"
                            ),
                        }
                        .into());
                    }
                };
                let mut cur: Vec<char> = self.value(name).text().chars().collect();
                if s < 1 || n < 1 || (s - 1 + n) as usize > cur.len() {
                    return Err(Failure::Script {
                        line,
                        message: format!(
                            "CHGVAR %SST(&{name} {s} {n}): outside the {} characters of &{name}",
                            cur.len()
                        ),
                    }
                    .into());
                }
                let mut new: Vec<char> = v.text().chars().collect();
                new.resize(n as usize, ' ');
                cur.splice((s - 1) as usize..(s - 1 + n) as usize, new);
                let whole = Value::Char(cur.into_iter().collect());
                self.assign(host, line, name, &whole, Cut::Warn)?;
            }
        }
        Ok(())
    }

    /// One instruction: `Some(target)` for a jump taken.
    fn step(&mut self, ins: &Instr, host: &mut dyn Host) -> Result<Option<usize>, Stop> {
        let line = ins.line;
        let (code, result) = match &ins.op {
            Op::End => return Ok(None),
            Op::Jump(t) => return Ok(Some(*t)),
            Op::JumpIfNot(cond, t) => {
                let v = self.eval(cond, line)?;
                let yes = matches!(v, Value::Lgl(true));
                return Ok((!yes).then_some(*t));
            }
            Op::ForTest { var, to, down, end } => {
                let to = self.eval(to, line)?;
                let cur = self.eval(&Expr::Var(var.clone()), line)?;
                let o = expr::compare(&cur, &to)
                    .map_err(|message| Failure::Script { line, message })?;
                let past = if *down { o.is_lt() } else { o.is_gt() };
                return Ok(past.then_some(*end));
            }
            Op::ForStep(var, by) => {
                let sum = Expr::Bin(
                    expr::BinOp::Add,
                    Box::new(Expr::Var(var.clone())),
                    Box::new(Expr::Lit(Value::Num(*by))),
                );
                let v = self.eval(&sum, line)?;
                self.assign(host, line, var, &v, Cut::Warn)?;
                return Ok(None);
            }
            Op::ChgVar(target, value) => {
                // CHGVAR's errors (a value that is not a number...) may be
                // monitored, as CL's MCH/CPF messages are: a program checks
                // a field that way.
                return self
                    .chgvar(host, line, target, value)
                    .map(|()| None)
                    .map_err(|mut s| {
                        s.monitorable = !matches!(s.failure, Failure::Escape { .. });
                        s
                    });
            }
            Op::Message { kind, msgid, text } => {
                let t = self.text(text, line)?;
                let t = t.trim_end_matches(' ');
                if *kind == "*ESCAPE" {
                    return Err(Stop {
                        failure: Failure::Escape {
                            line,
                            text: match msgid {
                                Some(id) => format!("{id}: {t}"),
                                None => t.to_string(),
                            },
                        },
                        monitorable: false,
                        code: None,
                    });
                }
                host.message(line, kind, msgid.as_deref(), t);
                return Ok(None);
            }
            Op::Retrieve(list) => {
                let clock = host.clock();
                let (job, user, nbr) = host.job();
                for (src, var) in list {
                    let v = match src {
                        Source::Job => job.clone(),
                        Source::User => user.clone(),
                        Source::Nbr => nbr.clone(),
                        Source::Date | Source::QDate => self.datfmt.date(&clock),
                        Source::DatFmt => self.datfmt.name().trim_start_matches('*').to_string(),
                        Source::QTime => {
                            format!("{:02}{:02}{:02}", clock.hour, clock.minute, clock.second)
                        }
                        Source::QYear => format!("{:02}", clock.year.rem_euclid(100)),
                        Source::QMonth => format!("{:02}", clock.month),
                        Source::QDay => format!("{:02}", clock.day),
                        Source::QHour => format!("{:02}", clock.hour),
                        Source::QMinute => format!("{:02}", clock.minute),
                        Source::QSecond => format!("{:02}", clock.second),
                        // CL: 0 for 19xx, 1 for 20xx.
                        Source::QCentury => ((clock.year / 100) - 19).to_string(),
                    };
                    self.assign(host, line, var, &Value::Char(v), Cut::Silent)?;
                }
                return Ok(None);
            }
            Op::Lnccmd([cmd, opt, p1, p2]) => {
                let (cmd, opt, p1, p2) = (
                    self.text(cmd, line)?,
                    self.text(opt, line)?,
                    self.text(p1, line)?,
                    self.text(p2, line)?,
                );
                let mut h = self.handle;
                let r = host.call(&mut h, &cmd, &opt, &p1, &p2);
                self.handle = h;
                r
            }
            Op::Call {
                parms,
                handle,
                result,
            } => {
                let values = parms
                    .iter()
                    .map(|e| self.text(e, line))
                    .collect::<Result<Vec<_>, _>>()?;
                let text = values[0].trim_matches(' ');
                let mut h: i32 = if text.is_empty() {
                    0
                } else {
                    Dec::parse(text)
                        .and_then(|d| d.trunc_i64())
                        .and_then(|i| i32::try_from(i).ok())
                        .ok_or_else(|| Stop {
                            failure: Failure::Script {
                                line,
                                message: format!(
                                    "the handle (first parameter) holds '{text}', not a number"
                                ),
                            },
                            monitorable: false,
                            code: None,
                        })?
                };
                let (code, res) = host.call(&mut h, &values[1], &values[2], &values[3], &values[4]);
                if let Some(v) = handle {
                    self.assign(host, line, v, &Value::Num(Dec::int(h.into())), Cut::Fail)?;
                }
                if let Some(v) = result {
                    // RESULT is cut to the variable's length, as on IBM i.
                    self.assign(host, line, v, &Value::Char(res.clone()), Cut::Silent)?;
                }
                (code, res)
            }
            Op::SndMail(spec) => {
                let bad = std::cell::RefCell::new(None);
                let mail = spec.resolve(
                    |e| match expr::parse(e).and_then(|x| expr::eval(&x, self)) {
                        Ok(v) => v.text(),
                        Err(m) => {
                            bad.borrow_mut().get_or_insert(m);
                            String::new()
                        }
                    },
                    self.default_smtp.as_deref(),
                );
                if let Some(message) = bad.into_inner() {
                    return Err(Failure::Script { line, message }.into());
                }
                match mail {
                    Ok(mail) => match sndmail::send(&mail, host, line) {
                        Ok(()) => (0, "0".into()),
                        Err(e) => e,
                    },
                    Err(e) => e,
                }
            }
        };
        if code == 0 {
            return Ok(None);
        }
        Err(Failure::Call { line, code, result }.into())
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
        fn message(&mut self, _line: usize, kind: &str, msgid: Option<&str>, text: &str) {
            let id = msgid.map(|m| format!(" {m}")).unwrap_or_default();
            self.said.push(if kind == "*INFO" && id.is_empty() {
                text.into()
            } else {
                format!("{kind}{id}: {text}")
            });
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
        assert_eq!(r.map(|r| r.monitored), Ok(0));
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
        assert_eq!(p.get("HANDLE").as_deref(), Some("0"));
        assert_eq!(p.get("RESULT").as_deref().unwrap().trim_end(), "0");
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
        let r = r.unwrap();
        assert_eq!((r.monitored, r.last_monitored_code), (1, Some(400)));
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
            compile_err("LNCCMD MAILSEND\nMONMSG CPF0000 EXEC(GOTO FIN)")
                .message
                .contains("no statement has the label FIN")
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
        assert_eq!(f.said, ["ab    x", "abx", "ab xy z", "abc|"]);
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
        assert_eq!(p.get("A").as_deref().unwrap().len(), 32);
        assert_eq!(p.get("B").as_deref(), Some("abc"));
        assert_eq!(p.get("N").as_deref(), Some("12"));
        assert_eq!(p.get("I").as_deref(), Some("0"));
        assert_eq!(p.get("L").as_deref(), Some("1"));
        assert_eq!(p.set("&b", "xy"), Ok(None));
        assert_eq!(p.get("B").as_deref(), Some("xy "));
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
                "DCL &X *DEC\nLNCCMD MAILSMTP\nIF (&X *EQ 1) THEN(DO)\n",
                3,
                "this DO has no ENDDO",
            ),
            (
                "LNCCMD MAILSMTP\nGOTO END\n",
                2,
                "no statement has the label END",
            ),
            (
                "DCL &X *CHAR\nIF (&X) THEN(RETURN)",
                2,
                "logical expression",
            ),
            ("LNCCMD MAILSMTP\nENDDO", 2, "ENDDO without a DO"),
            ("LEAVE", 1, "outside a DOWHILE"),
            ("RCVF", 1, "RCVF is not supported"),
            ("SNDUSRMSG MSG('x') MSGTYPE(*INQ)", 1, "*INFO only"),
            ("DCL &R *CHAR 1\nSNDUSRMSG MSG('x') MSGRPY(&R)", 2, "reply"),
            ("SNDPGMMSG MSGID(CPF1234) MSGF(QCPFMSG)", 1, "only CPF9898"),
            ("DCL &I *DEC\nDOFOR &I 1 2\nENDDO", 2, "*INT or *UINT"),
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
                "DCL &X *CHAR\nCHGVAR &X %SCAM(&X 1 2)",
                2,
                "%SCAM is not supported",
            ),
            ("CALL PGM(QCMDEXC) PARM('x' 1)", 1, "only CALL PGM(LNCCMD)"),
            (
                "DCL &H *CHAR\nCALL LNCCMD (&H 'MAILEND')",
                2,
                "needs 6 parameters",
            ),
            ("LNCCMD PARM1('x')", 1, "CMD() is required"),
            ("LNCCMD CMD(X) FOO(1)", 1, "unknown keyword FOO"),
            (
                "SNDPGMMSG MSG('x') MSGTYPE(*BREAK)",
                1,
                "MSGTYPE(*BREAK) is not supported",
            ),
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
        assert_eq!(r.map(|r| r.monitored), Ok(0));
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

    fn said(src: &str) -> (Vec<String>, Result<Report, Failure>) {
        let mut f = Fake::default();
        let (_, r) = run(src, &mut f);
        (f.said, r)
    }

    #[test]
    fn if_else_do_blocks_and_nested_ifs() {
        let src = "PGM
            DCL &N *INT VALUE(2)
            IF COND(&N *EQ 1) THEN(SNDPGMMSG MSG('one'))
            ELSE CMD(IF (&N = 2) THEN(DO))
                SNDPGMMSG 'two'
                SNDPGMMSG 'still two'
            ENDDO
            ELSE DO
                SNDPGMMSG 'other'
            ENDDO
            IF (&N *GT 1 *AND *NOT (&N *GE 5)) THEN(SNDPGMMSG MSG('between'))
            ENDPGM";
        let (out, r) = said(src);
        r.unwrap();
        assert_eq!(out, ["two", "still two", "between"]);
    }

    #[test]
    fn loops_leave_iterate_and_labels() {
        let src = "DCL &I *INT\nDCL &J *INT\nDCL &S *CHAR 40\n\
            DOFOR VAR(&I) FROM(1) TO(10) BY(2)\n\
              IF (&I = 5) THEN(ITERATE)\n\
              CHGVAR &S (&S *TCAT %CHAR(&I))\n\
            ENDDO\n\
            SNDPGMMSG &S\n\
            DOFOR &I 3 1 -1\n  SNDPGMMSG %CHAR(&I)\nENDDO\n\
            CHGVAR &J 0\n\
            OUTER: DOWHILE (&J < 100)\n\
              CHGVAR &J (&J + 1)\n\
              DOUNTIL (&J > 0)\n\
                IF (&J = 3) THEN(LEAVE CMDLBL(OUTER))\n\
              ENDDO\n\
            ENDDO\n\
            SNDPGMMSG ('J=' *CAT %CHAR(&J))\n\
            GOTO FIN\n\
            SNDPGMMSG 'skipped'\n\
            FIN:\n\
            SNDPGMMSG 'end'";
        let (out, r) = said(src);
        r.unwrap();
        assert_eq!(out, ["1379", "3", "2", "1", "J=3", "end"]);
    }

    #[test]
    fn select_when_otherwise() {
        for (code, want) in [
            ("108", "address"),
            ("400", "connection"),
            ("0", "ok"),
            ("999", "other"),
        ] {
            let src = format!(
                "DCL &R *CHAR 10 '{code}'\nSELECT\n\
                 WHEN (&R = '0') THEN(SNDPGMMSG 'ok')\n\
                 WHEN (%SST(&R 1 1) = '1') THEN(DO)\n  SNDPGMMSG 'address'\nENDDO\n\
                 WHEN (%SST(&R 1 1) *EQ '4') (SNDPGMMSG 'connection')\n\
                 OTHERWISE CMD(SNDPGMMSG 'other')\nENDSELECT"
            );
            let (out, r) = said(&src);
            r.unwrap();
            assert_eq!(out, [want], "{code}");
        }
    }

    #[test]
    fn a_call_error_goes_to_result_and_stops_only_when_not_looked_at() {
        let head = "DCL &H *DEC (10 0)\nDCL &R *CHAR 80\n\
                    CALL LNCCMD (&H 'MAILSMTP' ' ' 'x' ' ' &R)\n\
                    CALL LNCCMD (&H 'MAILTO' ' ' 'bad@' ' ' &R)\n";
        // Tested with IF: the program decides (here, GOTO ERREUR).
        let src = format!(
            "{head}IF (&R *NE '0') THEN(GOTO ERREUR)\n\
             CALL LNCCMD (&H 'MAILSEND' ' ' ' ' ' ' &R)\nRETURN\n\
             ERREUR: SNDPGMMSG MSGID(CPF9898) MSGF(QCPFMSG) MSGDTA('Echec:' *BCAT &R) MSGTYPE(*ESCAPE)"
        );
        let mut f = Fake::default();
        f.fail.insert("MAILTO".into(), 108);
        let (_, r) = run(&src, &mut f);
        assert_eq!(
            r,
            Err(Failure::Escape {
                line: 8,
                text: "CPF9898: Echec: 108 MAILTO: failed.".into()
            })
        );
        assert!(f.calls.iter().all(|c| c.1 != "MAILSEND"));
        // Not looked at: the next call does not run; the error stops the program.
        let src = format!("{head}CALL LNCCMD (&H 'MAILSEND' ' ' ' ' ' ' &R)\n");
        let mut f = Fake::default();
        f.fail.insert("MAILTO".into(), 108);
        let (_, r) = run(&src, &mut f);
        assert_eq!(
            r,
            Err(Failure::Call {
                line: 4,
                code: 108,
                result: "108 MAILTO: failed".into()
            })
        );
        assert_eq!(f.calls.len(), 2);
        // At the end of the program too.
        let mut f = Fake::default();
        f.fail.insert("MAILTO".into(), 108);
        let (_, r) = run(head, &mut f);
        assert!(matches!(r, Err(Failure::Call { code: 108, .. })), "{r:?}");
    }

    #[test]
    fn monmsg_exec_runs_its_command_or_block() {
        let src = "DCL &OK *LGL VALUE('1')\nDCL &N *DEC (7 2)\nDCL &T *CHAR 8 '12,3x'\n\
            LNCCMD MAILSEND\nMONMSG MSGID(CPF0000) EXEC(DO)\n  CHGVAR &OK '0'\n  SNDPGMMSG 'handled'\nENDDO\n\
            CHGVAR &N &T\nMONMSG MCH1202 EXEC(CHGVAR &N -1)\n\
            SNDPGMMSG (%CHAR(&OK) *BCAT %CHAR(&N))";
        let mut f = Fake::default();
        f.fail.insert("MAILSEND".into(), 504);
        let (_, r) = run(src, &mut f);
        let r = r.unwrap();
        assert_eq!(
            r.last_monitored_code, None,
            "handled by EXEC, not swallowed"
        );
        assert_eq!(f.said, ["handled", "0 -1.00"]);
        // Program level: MONMSG ... EXEC(GOTO label).
        let src = "PGM\nMONMSG CPF0000 EXEC(GOTO ERREUR)\nLNCCMD MAILSMTP\nLNCCMD MAILSEND\nSNDPGMMSG 'not here'\nRETURN\nERREUR: SNDPGMMSG 'erreur' *DIAG\nENDPGM";
        let src = src.replace(
            "SNDPGMMSG 'erreur' *DIAG",
            "SNDPGMMSG MSG('erreur') MSGTYPE(*DIAG)",
        );
        let mut f = Fake::default();
        f.fail.insert("MAILSEND".into(), 400);
        let (_, r) = run(&src, &mut f);
        r.unwrap();
        assert_eq!(f.said, ["*DIAG: erreur"]);
    }

    #[test]
    fn a_value_that_cannot_be_computed_for_a_call_is_never_monitored() {
        // A global MONMSG must not skip MAILTO and let MAILSEND go on.
        let src =
            "DCL &A *CHAR 5\nMONMSG CPF0000\nLNCCMD MAILTO PARM1(%SST(&A 4 5))\nLNCCMD MAILSEND";
        let mut f = Fake::default();
        let (_, r) = run(src, &mut f);
        assert!(matches!(r, Err(Failure::Script { line: 3, .. })), "{r:?}");
        assert!(f.calls.is_empty());
    }

    #[test]
    fn a_runaway_loop_stops_at_the_step_limit() {
        let mut p = compile("DCL &I *INT\nBOUCLE: CHGVAR &I 1\nGOTO BOUCLE", None).unwrap();
        p.set_max_steps(1000);
        let r = p.run(&mut Fake::default());
        match r {
            Err(Failure::Script { message, .. }) => {
                assert!(message.contains("--max-steps=1000"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn message_queues_are_accepted_and_messages_keep_their_type_and_id() {
        let src = "SNDPGMMSG MSG('a') TOPGMQ(*PRV (*)) MSGTYPE(*COMP)\n\
                   SNDPGMMSG MSGID(CPF9897) MSGF(*LIBL/QCPFMSG) MSGDTA('b') TOMSGQ(QSYSOPR) MSGTYPE(*DIAG)\n\
                   SNDUSRMSG MSG('c') TOUSR(*SYSOPR)";
        let (out, r) = said(src);
        r.unwrap();
        assert_eq!(out, ["*COMP: a", "*DIAG CPF9897: b", "c"]);
    }

    #[test]
    fn rtvjoba_and_rtvsysval_read_the_host() {
        let src = "DCL &D *CHAR 6\nDCL &T *CHAR 9\nDCL &U *CHAR 10\nDCL &Y *CHAR 2\nDCL &F *CHAR 4\n\
                   RTVJOBA USER(&U) DATE(&D) DATFMT(&F)\nRTVSYSVAL QTIME &T\nRTVSYSVAL SYSVAL(QYEAR) RTNVAR(&Y)\n\
                   SNDPGMMSG (&U *BCAT &D *BCAT &F *BCAT &T *BCAT &Y)";
        let (out, r) = said(src);
        r.unwrap();
        // The Fake's clock is the trait's default: 1 Jan 1970, midnight.
        assert_eq!(out, ["LNCCMD 010170 DMY 000000 70"]);
        let e = compile_err("DCL &D *CHAR 4\nRTVSYSVAL QDATE &D");
        assert!(e.message.contains("LEN(6) or longer"), "{e:?}");
    }

    /// Whichever call of a program fails, when the program does not look at
    /// &RESULT no later call runs (so no MAILSEND after a failed MAILTO),
    /// and when it does, the program's own IF decides; in both forms.
    #[test]
    fn no_call_runs_after_a_failure_the_program_did_not_see() {
        let cmds = [
            "MAILSMTP", "MAILPREP", "MAILTO", "MAILTEXT", "MAILLATT", "MAILSEND", "MAILEND",
        ];
        let call_form: String = cmds
            .iter()
            .map(|c| format!("CALL LNCCMD (&H '{c}' ' ' 'x' ' ' &R)\n"))
            .collect();
        let checked: String = cmds
            .iter()
            .map(|c| {
                format!("CALL LNCCMD (&H '{c}' ' ' 'x' ' ' &R)\nIF (&R *NE '0') THEN(GOTO FIN)\n")
            })
            .collect();
        let command_form: String = cmds
            .iter()
            .map(|c| format!("LNCCMD CMD({c}) PARM1('x')\n"))
            .collect();
        for (k, failing) in cmds.iter().enumerate() {
            for (src, form) in [
                (
                    format!("DCL &H *DEC (10 0)\nDCL &R *CHAR 100\n{call_form}"),
                    "call",
                ),
                (command_form.clone(), "command"),
                (
                    format!("DCL &H *DEC (10 0)\nDCL &R *CHAR 100\n{checked}FIN: RETURN\n"),
                    "checked",
                ),
            ] {
                let mut f = Fake::default();
                f.fail.insert(failing.to_string(), 108);
                let (_, r) = run(&src, &mut f);
                let called: Vec<&str> = f.calls.iter().map(|c| c.1.as_str()).collect();
                assert_eq!(called, &cmds[..=k], "{form} form, {failing} failing");
                match form {
                    "checked" => assert!(r.is_ok(), "{r:?}"),
                    _ => assert!(
                        matches!(r, Err(Failure::Call { code: 108, .. })),
                        "{form}: {r:?}"
                    ),
                }
            }
        }
    }
}
