//! CL values and expressions: typed values (`*CHAR`, `*DEC`, `*INT`,
//! `*LGL`), the expression tree built from a parameter's elements, its
//! static type check and its evaluation. Pure: variables come through `Env`.
//!
//! IBM's CL reference is the contract: operator precedence (unary, `* /`,
//! `+ -`, concatenation, relations, `*AND`, `*OR`), comparison of character
//! strings of unequal length (the shorter padded with blanks), fixed-length
//! `*CHAR` variables (padded with blanks, cut on the right), `*DEC(p s)`
//! variables (extra decimal positions dropped, too many integer digits an
//! error), and the built-in functions.

use std::cmp::Ordering;
use std::fmt;

use crate::cl::{CatOp, Elem};

/// An exact decimal number: `v / 10^scale`.
///
/// Hand-written fixed point on i128 rather than a decimal crate: CL
/// decimals have at most 15 digits (`*DEC LEN(15 9)`), intermediate results
/// at most 31 + 15, which i128 (38 digits) holds exactly; the whole of what
/// CL needs (add, subtract, multiply, divide truncated to a scale, compare,
/// print) is some thirty lines, while a crate (rust_decimal: 28 digits,
/// rounding by default) would still need CL's truncation rules on top.
#[derive(Clone, Copy, Debug)]
pub struct Dec {
    v: i128,
    scale: u32,
}

/// The scale of a quotient before it is stored (the variable's own scale
/// then applies, by truncation).
const DIV_SCALE: u32 = 15;

impl Dec {
    pub fn int(v: i64) -> Dec {
        Dec {
            v: v as i128,
            scale: 0,
        }
    }

    /// `[+-]digits[.digits]` (`,` also marks the decimals, as CL allows);
    /// blanks around are ignored.
    pub fn parse(s: &str) -> Option<Dec> {
        let t = s.trim_matches(' ');
        let (neg, digits) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            _ => (false, t),
        };
        let (int, frac) = digits.split_once(['.', ',']).unwrap_or((digits, ""));
        if (int.is_empty() && frac.is_empty())
            || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
            || int.len() + frac.len() > 31
        {
            return None;
        }
        let mut v: i128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            v = v * 10 + i128::from(b - b'0');
        }
        Some(Dec {
            v: if neg { -v } else { v },
            scale: frac.len() as u32,
        })
    }

    /// The same value at another scale: extra decimals are dropped
    /// (truncated toward zero, as CL does; it does not round).
    pub fn rescale(self, scale: u32) -> Option<Dec> {
        let v = match scale.cmp(&self.scale) {
            Ordering::Equal => self.v,
            Ordering::Greater => self
                .v
                .checked_mul(10i128.checked_pow(scale - self.scale)?)?,
            Ordering::Less => self.v / 10i128.checked_pow(self.scale - scale)?,
        };
        Some(Dec { v, scale })
    }

    fn aligned(self, o: Dec) -> Option<(i128, i128, u32)> {
        let s = self.scale.max(o.scale);
        Some((self.rescale(s)?.v, o.rescale(s)?.v, s))
    }

    fn add(self, o: Dec) -> Option<Dec> {
        let (a, b, scale) = self.aligned(o)?;
        Some(Dec {
            v: a.checked_add(b)?,
            scale,
        })
    }

    fn sub(self, o: Dec) -> Option<Dec> {
        self.add(Dec { v: -o.v, ..o })
    }

    fn mul(self, o: Dec) -> Option<Dec> {
        Some(Dec {
            v: self.v.checked_mul(o.v)?,
            scale: self.scale + o.scale,
        })
    }

    /// `None` also for a division by zero.
    fn div(self, o: Dec) -> Option<Dec> {
        if o.v == 0 {
            return None;
        }
        // (a / 10^sa) / (b / 10^sb) at DIV_SCALE: a * 10^(DIV_SCALE + sb - sa) / b.
        let shift = DIV_SCALE + o.scale;
        let a = Dec {
            v: self.v,
            scale: self.scale,
        }
        .rescale(shift)?
        .v;
        Some(Dec {
            v: a / o.v,
            scale: DIV_SCALE,
        })
    }

    pub fn cmp(self, o: Dec) -> Ordering {
        match self.aligned(o) {
            Some((a, b, _)) => a.cmp(&b),
            // Only values of more than 38 digits fail to align; the sign decides.
            None => self.v.signum().cmp(&o.v.signum()),
        }
    }

    /// Digits left of the decimal point.
    fn int_digits(self) -> usize {
        let i = (self.v / 10i128.pow(self.scale)).unsigned_abs();
        if i == 0 { 0 } else { i.to_string().len() }
    }

    /// The integer part, if it fits an i64.
    pub fn trunc_i64(self) -> Option<i64> {
        i64::try_from(self.v / 10i128.checked_pow(self.scale)?).ok()
    }

    /// `digits` integer digits with leading zeros, then the decimals: what
    /// CHGVAR stores in a `*CHAR` variable from a `*DEC(p s)` one (`00123`,
    /// `-012.50`).
    pub fn zoned(self, int_digits: usize) -> String {
        let abs = self.v.unsigned_abs().to_string();
        let s = self.scale as usize;
        let padded = format!("{abs:0>width$}", width = int_digits + s);
        let (i, f) = padded.split_at(padded.len() - s);
        let sign = if self.v < 0 { "-" } else { "" };
        if s == 0 {
            format!("{sign}{i}")
        } else {
            format!("{sign}{i}.{f}")
        }
    }
}

/// `%CHAR` of a decimal: no leading zeros, the decimals kept (`12.50`,
/// `-0.5`, `0`).
impl fmt::Display for Dec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.zoned(1);
        // zoned(1) keeps one integer digit; drop more leading zeros.
        let (sign, rest) = s.strip_prefix('-').map_or(("", s.as_str()), |r| ("-", r));
        let trimmed = rest.trim_start_matches('0');
        let trimmed = if trimmed.is_empty() || trimmed.starts_with('.') {
            format!("0{trimmed}")
        } else {
            trimmed.to_string()
        };
        let sign = if self.v == 0 { "" } else { sign };
        write!(f, "{sign}{trimmed}")
    }
}

/// A CL value.
#[derive(Clone, Debug)]
pub enum Value {
    Char(String),
    Num(Dec),
    Lgl(bool),
}

impl Value {
    /// The text of a value where text is expected (an LNCCMD parameter, a
    /// message, an operand of `*CAT`).
    pub fn text(&self) -> String {
        match self {
            Value::Char(s) => s.clone(),
            Value::Num(d) => d.to_string(),
            Value::Lgl(b) => if *b { "1" } else { "0" }.into(),
        }
    }
}

/// A declared variable's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VarType {
    /// `*CHAR LEN(n)`.
    Char(usize),
    /// `*DEC LEN(p s)`.
    Dec(u32, u32),
    /// `*INT` / `*UINT LEN(2|4|8)`: bytes, signed.
    Int(u32, bool),
    Lgl,
}

impl VarType {
    fn kind(self) -> Kind {
        match self {
            VarType::Char(_) => Kind::Char,
            VarType::Dec(..) | VarType::Int(..) => Kind::Num,
            VarType::Lgl => Kind::Lgl,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            VarType::Char(_) => "*CHAR",
            VarType::Dec(..) => "*DEC",
            VarType::Int(_, true) => "*INT",
            VarType::Int(_, false) => "*UINT",
            VarType::Lgl => "*LGL",
        }
    }

    /// The starting value of a variable without `VALUE`.
    pub fn initial(self) -> Value {
        match self {
            VarType::Char(n) => Value::Char(" ".repeat(n)),
            VarType::Dec(_, s) => Value::Num(Dec { v: 0, scale: s }),
            VarType::Int(..) => Value::Num(Dec::int(0)),
            VarType::Lgl => Value::Lgl(false),
        }
    }

    /// `value` converted for a variable of this type, as CHGVAR does, and a
    /// warning when non-blank text was cut.
    pub fn store(self, value: &Value) -> Result<(Value, Option<String>), String> {
        match (self, value) {
            (VarType::Char(len), v) => {
                let text = v.text();
                let n = text.chars().count();
                let mut kept: String = text.chars().take(len).collect();
                let cut: String = text.chars().skip(len).collect();
                let warning = (!cut.trim_end_matches(' ').is_empty())
                    .then(|| format!("the value ({n} characters) was cut to LEN({len})"));
                kept.extend(std::iter::repeat_n(' ', len.saturating_sub(n)));
                Ok((Value::Char(kept), warning))
            }
            (VarType::Dec(p, s), v) => {
                let d = number(v)?;
                let d = d
                    .rescale(s)
                    .filter(|d| d.int_digits() <= (p - s) as usize)
                    .ok_or_else(|| {
                        format!(
                            "{} does not fit *DEC LEN({p} {s}) (at most {} digits before the decimal point)",
                            d,
                            p - s
                        )
                    })?;
                Ok((Value::Num(d), None))
            }
            (VarType::Int(bytes, signed), v) => {
                let d = number(v)?;
                let bits = bytes * 8;
                let (min, max): (i128, i128) = if signed {
                    (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
                } else {
                    (0, (1i128 << bits) - 1)
                };
                let i = d
                    .rescale(0)
                    .map(|d| d.v)
                    .filter(|i| (min..=max).contains(i));
                let i =
                    i.ok_or_else(|| format!("{d} does not fit {} LEN({bytes})", self.name()))?;
                Ok((Value::Num(Dec { v: i, scale: 0 }), None))
            }
            (VarType::Lgl, Value::Lgl(b)) => Ok((Value::Lgl(*b), None)),
            (VarType::Lgl, v) => match v.text().trim_matches(' ') {
                "1" => Ok((Value::Lgl(true), None)),
                "0" => Ok((Value::Lgl(false), None)),
                t => Err(format!("'{t}' is not a logical value ('0' or '1')")),
            },
        }
    }
}

/// A value as a number: a number, or text that holds one.
fn number(v: &Value) -> Result<Dec, String> {
    match v {
        Value::Num(d) => Ok(*d),
        Value::Char(s) => {
            Dec::parse(s).ok_or_else(|| format!("'{}' is not a number", s.trim_end_matches(' ')))
        }
        Value::Lgl(b) => Ok(Dec::int(i64::from(*b))),
    }
}

/// What kind of value an expression gives, for the check before the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Char,
    Num,
    Lgl,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Char => "a character value",
            Kind::Num => "a number",
            Kind::Lgl => "a logical value",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rel {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Cat(CatOp),
    Rel(Rel),
    And,
    Or,
}

impl BinOp {
    /// IBM's order of evaluation: higher binds first.
    fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And => 2,
            BinOp::Rel(_) => 3,
            BinOp::Cat(_) => 4,
            BinOp::Add | BinOp::Sub => 5,
            BinOp::Mul | BinOp::Div => 6,
        }
    }
}

/// The built-in functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    Sst,
    Trim,
    TrimL,
    TrimR,
    Scan,
    Check,
    CheckR,
    Len,
    Dec,
    Int,
    Char,
    Upper,
    Lower,
}

const BUILTINS: &[(&str, Builtin, usize, usize)] = &[
    ("%SST", Builtin::Sst, 3, 3),
    ("%SUBSTRING", Builtin::Sst, 3, 3),
    ("%TRIM", Builtin::Trim, 1, 2),
    ("%TRIML", Builtin::TrimL, 1, 2),
    ("%TRIMR", Builtin::TrimR, 1, 2),
    ("%SCAN", Builtin::Scan, 2, 3),
    ("%CHECK", Builtin::Check, 2, 3),
    ("%CHECKR", Builtin::CheckR, 2, 3),
    ("%LEN", Builtin::Len, 1, 1),
    ("%DEC", Builtin::Dec, 1, 3),
    ("%INT", Builtin::Int, 1, 1),
    ("%CHAR", Builtin::Char, 1, 1),
    ("%UPPER", Builtin::Upper, 1, 2),
    ("%LOWER", Builtin::Lower, 1, 2),
];

/// The names of the built-in functions, for messages and documentation.
pub fn builtin_names() -> String {
    BUILTINS.iter().map(|b| b.0).collect::<Vec<_>>().join(" ")
}

/// An expression.
#[derive(Clone, Debug)]
pub enum Expr {
    Lit(Value),
    Var(String),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
    Call(Builtin, Vec<Expr>),
}

/// An operator word of an expression.
fn operator(e: &Elem) -> Option<BinOp> {
    if let Elem::Op(op) = e {
        return Some(BinOp::Cat(*op));
    }
    let Elem::Word(w) = e else { return None };
    Some(match w.to_ascii_uppercase().as_str() {
        "*EQ" | "=" => BinOp::Rel(Rel::Eq),
        "*NE" | "<>" | "\u{00AC}=" => BinOp::Rel(Rel::Ne),
        "*GT" | ">" => BinOp::Rel(Rel::Gt),
        "*LT" | "<" => BinOp::Rel(Rel::Lt),
        "*GE" | ">=" | "*NL" | "\u{00AC}<" => BinOp::Rel(Rel::Ge),
        "*LE" | "<=" | "*NG" | "\u{00AC}>" => BinOp::Rel(Rel::Le),
        "*AND" | "&" => BinOp::And,
        "*OR" | "|" => BinOp::Or,
        "+" => BinOp::Add,
        "-" => BinOp::Sub,
        "*" => BinOp::Mul,
        "/" => BinOp::Div,
        _ => return None,
    })
}

fn is_not(e: &Elem) -> bool {
    matches!(e, Elem::Word(w) if w.eq_ignore_ascii_case("*NOT") || w == "\u{00AC}")
}

struct ExprParser<'a> {
    elems: &'a [Elem],
    pos: usize,
}

impl ExprParser<'_> {
    fn operand(&mut self) -> Result<Expr, String> {
        let Some(e) = self.elems.get(self.pos) else {
            return Err("a value is missing at the end of the expression (an operator needs a value on each side)".into());
        };
        self.pos += 1;
        if is_not(e) {
            return Ok(Expr::Not(Box::new(self.operand()?)));
        }
        if matches!(e, Elem::Word(w) if w == "-" || w == "+") {
            let inner = self.operand()?;
            return Ok(match e {
                Elem::Word(w) if w == "-" => Expr::Neg(Box::new(inner)),
                _ => inner,
            });
        }
        if let Some(op) = operator(e) {
            return Err(format!("{} needs a value on each side", op_name(op, e)));
        }
        Ok(match e {
            Elem::Str(s) => Expr::Lit(Value::Char(s.clone())),
            Elem::Word(w) => match Dec::parse(w) {
                Some(d) if !w.starts_with('*') => Expr::Lit(Value::Num(d)),
                _ => Expr::Lit(Value::Char(w.clone())),
            },
            Elem::Var(v) => Expr::Var(v.clone()),
            Elem::List(inner) => parse(inner)?,
            Elem::Func(name, args) => call(name, args)?,
            Elem::Op(_) => unreachable!("operators are handled above"),
            Elem::Cmd(st) => {
                return Err(format!("the command {} is not a value", st.command));
            }
        })
    }

    /// Precedence climbing: operators that bind at least as tight as `min`.
    fn expr(&mut self, min: u8) -> Result<Expr, String> {
        let mut left = self.operand()?;
        while let Some(e) = self.elems.get(self.pos) {
            let Some(op) = operator(e) else {
                return Err(
                    "two values side by side: join them with an operator (*CAT, *TCAT, *BCAT, *EQ, *AND, +...)"
                        .into(),
                );
            };
            if op.precedence() < min {
                break;
            }
            self.pos += 1;
            let right = self.expr(op.precedence() + 1)?;
            left = Expr::Bin(op, Box::new(left), Box::new(right));
        }
        Ok(left)
    }
}

fn op_name(op: BinOp, e: &Elem) -> String {
    match (op, e) {
        (_, Elem::Word(w)) => w.to_ascii_uppercase(),
        (BinOp::Cat(CatOp::Cat), _) => "*CAT".into(),
        (BinOp::Cat(CatOp::TCat), _) => "*TCAT".into(),
        _ => "*BCAT".into(),
    }
}

/// The expression of a parameter's elements (nothing: the empty string).
pub fn parse(elems: &[Elem]) -> Result<Expr, String> {
    if elems.is_empty() {
        return Ok(Expr::Lit(Value::Char(String::new())));
    }
    let mut p = ExprParser { elems, pos: 0 };
    p.expr(0)
}

/// A built-in function: its arguments are the values separated by blanks
/// (`%SST(&X 1 5)`), each a constant, a variable or a parenthesised
/// expression; an argument list with an operator in it is one expression
/// (`%TRIM(&A *CAT &B)`).
fn call(name: &str, args: &[Elem]) -> Result<Expr, String> {
    let Some(&(_, f, min, max)) = BUILTINS.iter().find(|b| b.0 == name) else {
        return Err(format!(
            "the built-in function {name} is not supported (supported: {})",
            builtin_names()
        ));
    };
    if f == Builtin::Sst
        && let Some(Elem::Word(w)) = args.first()
        && ["*LDA", "*GDA", "*PDA"].contains(&w.to_ascii_uppercase().as_str())
    {
        return Err(format!(
            "{name}({w} ...): there is no data area {w} outside IBM i (pass the value with --set)"
        ));
    }
    let has_op = args.iter().any(|e| operator(e).is_some() || is_not(e));
    let args: Vec<Expr> = if has_op {
        vec![parse(args)?]
    } else {
        args.iter()
            .map(|e| parse(std::slice::from_ref(e)))
            .collect::<Result<_, _>>()?
    };
    if args.len() < min || args.len() > max {
        let n = if min == max {
            format!("{min}")
        } else {
            format!("{min} to {max}")
        };
        return Err(format!(
            "{name} takes {n} arguments, not {} (separate them with blanks)",
            args.len()
        ));
    }
    Ok(Expr::Call(f, args))
}

/// Variables, for the check and the evaluation.
pub trait Env {
    /// A declared variable's type.
    fn var_type(&self, name: &str) -> Option<VarType>;
    /// A declared variable's value.
    fn value(&self, name: &str) -> Value;
}

/// The kind of value `e` gives, or what is wrong with it.
pub fn check(e: &Expr, env: &dyn Env) -> Result<Kind, String> {
    let want = |e: &Expr, k: Kind, what: &str| -> Result<(), String> {
        let got = check(e, env)?;
        // Text where a number is wanted is converted at run time, as CL does.
        if got == k
            || (k == Kind::Num && got == Kind::Char)
            || (k == Kind::Char && got != Kind::Lgl)
        {
            Ok(())
        } else {
            Err(format!("{what} needs {}, not {}", k.name(), got.name()))
        }
    };
    Ok(match e {
        Expr::Lit(v) => match v {
            Value::Char(_) => Kind::Char,
            Value::Num(_) => Kind::Num,
            Value::Lgl(_) => Kind::Lgl,
        },
        Expr::Var(v) => env
            .var_type(v)
            .ok_or_else(|| format!("&{v} is not declared (DCL VAR(&{v}) TYPE(*CHAR) LEN(...))"))?
            .kind(),
        Expr::Not(x) => {
            if check(x, env)? != Kind::Lgl {
                return Err("*NOT needs a logical value (a *LGL variable or a comparison)".into());
            }
            Kind::Lgl
        }
        Expr::Neg(x) => {
            want(x, Kind::Num, "the sign -")?;
            Kind::Num
        }
        Expr::Bin(op, a, b) => match op {
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div => {
                want(a, Kind::Num, "arithmetic")?;
                want(b, Kind::Num, "arithmetic")?;
                Kind::Num
            }
            BinOp::Cat(_) => {
                check(a, env)?;
                check(b, env)?;
                Kind::Char
            }
            BinOp::Rel(_) => {
                let (ka, kb) = (check(a, env)?, check(b, env)?);
                if (ka == Kind::Lgl) != (kb == Kind::Lgl) && ka != Kind::Char && kb != Kind::Char {
                    return Err(format!("a comparison of {} with {}", ka.name(), kb.name()));
                }
                Kind::Lgl
            }
            BinOp::And | BinOp::Or => {
                for x in [a, b] {
                    if check(x, env)? != Kind::Lgl {
                        return Err(
                            "*AND / *OR (& |) join logical values; to join text use *CAT (||), *BCAT (|>) or *TCAT (|<)"
                                .into(),
                        );
                    }
                }
                Kind::Lgl
            }
        },
        Expr::Call(f, args) => {
            for a in args {
                check(a, env)?;
            }
            match f {
                Builtin::Scan | Builtin::Check | Builtin::CheckR | Builtin::Len => Kind::Num,
                Builtin::Dec | Builtin::Int => Kind::Num,
                _ => Kind::Char,
            }
        }
    })
}

/// A run-time error of an expression.
pub type EvalError = String;

fn int_arg(e: &Expr, env: &dyn Env, what: &str) -> Result<i64, EvalError> {
    let d = number(&eval(e, env)?).map_err(|m| format!("{what}: {m}"))?;
    d.trunc_i64()
        .ok_or_else(|| format!("{what}: {d} is too large"))
}

fn text_arg(e: &Expr, env: &dyn Env) -> Result<Vec<char>, EvalError> {
    Ok(eval(e, env)?.text().chars().collect())
}

/// The value of an expression `check` accepted.
pub fn eval(e: &Expr, env: &dyn Env) -> Result<Value, EvalError> {
    Ok(match e {
        Expr::Lit(v) => v.clone(),
        Expr::Var(v) => env.value(v),
        Expr::Not(x) => Value::Lgl(!truth(&eval(x, env)?)?),
        Expr::Neg(x) => {
            let d = number(&eval(x, env)?)?;
            Value::Num(Dec { v: -d.v, ..d })
        }
        Expr::Bin(op, a, b) => {
            let (va, vb) = (eval(a, env)?, eval(b, env)?);
            match op {
                BinOp::And => Value::Lgl(truth(&va)? && truth(&vb)?),
                BinOp::Or => Value::Lgl(truth(&va)? || truth(&vb)?),
                BinOp::Cat(c) => Value::Char(cat(va.text(), *c, &vb.text())),
                BinOp::Rel(r) => Value::Lgl(relation(*r, compare(&va, &vb)?)),
                _ => {
                    let (x, y) = (number(&va)?, number(&vb)?);
                    let r = match op {
                        BinOp::Add => x.add(y),
                        BinOp::Sub => x.sub(y),
                        BinOp::Mul => x.mul(y),
                        _ if y.v == 0 => return Err(format!("division of {x} by zero")),
                        _ => x.div(y),
                    };
                    Value::Num(r.ok_or_else(|| format!("the result of {x} and {y} is too large"))?)
                }
            }
        }
        Expr::Call(f, args) => builtin(*f, args, env)?,
    })
}

fn truth(v: &Value) -> Result<bool, EvalError> {
    match v {
        Value::Lgl(b) => Ok(*b),
        other => match other.text().trim_matches(' ') {
            "1" => Ok(true),
            "0" => Ok(false),
            t => Err(format!("'{t}' is not a logical value ('0' or '1')")),
        },
    }
}

/// `*CAT` keeps both as they are; `*TCAT` drops the trailing blanks of the
/// left one; `*BCAT` does that and puts one blank between. When the left
/// one is all blanks, `*BCAT` adds no blank: IBM's table does not say, and
/// a blank first name must not start a greeting with a blank.
pub fn cat(left: String, op: CatOp, right: &str) -> String {
    match op {
        CatOp::Cat => left + right,
        CatOp::TCat => left.trim_end_matches(' ').to_string() + right,
        CatOp::BCat => {
            let l = left.trim_end_matches(' ');
            if l.is_empty() {
                right.to_string()
            } else {
                format!("{l} {right}")
            }
        }
    }
}

/// Two character strings of unequal length compare as if the shorter one
/// were padded with blanks; numbers compare by value, text holding a number
/// with a number by value too.
pub fn compare(a: &Value, b: &Value) -> Result<Ordering, EvalError> {
    match (a, b) {
        (Value::Num(_), _) | (_, Value::Num(_)) => Ok(number(a)?.cmp(number(b)?)),
        _ => {
            let (x, y) = (a.text(), b.text());
            let (mut i, mut j) = (x.chars(), y.chars());
            loop {
                match (i.next(), j.next()) {
                    (None, None) => return Ok(Ordering::Equal),
                    (c, d) => {
                        let o = c.unwrap_or(' ').cmp(&d.unwrap_or(' '));
                        if o != Ordering::Equal {
                            return Ok(o);
                        }
                    }
                }
            }
        }
    }
}

fn relation(r: Rel, o: Ordering) -> bool {
    match r {
        Rel::Eq => o == Ordering::Equal,
        Rel::Ne => o != Ordering::Equal,
        Rel::Gt => o == Ordering::Greater,
        Rel::Lt => o == Ordering::Less,
        Rel::Ge => o != Ordering::Less,
        Rel::Le => o != Ordering::Greater,
    }
}

/// The characters `%TRIM` drops: its second argument, else blanks.
fn trim_set(args: &[Expr], env: &dyn Env) -> Result<Vec<char>, EvalError> {
    match args.get(1) {
        Some(e) => text_arg(e, env),
        None => Ok(vec![' ']),
    }
}

/// A start position argument (1-based) within `len` characters.
fn start_arg(
    args: &[Expr],
    i: usize,
    len: usize,
    env: &dyn Env,
    f: &str,
) -> Result<usize, EvalError> {
    let Some(e) = args.get(i) else { return Ok(1) };
    let s = int_arg(e, env, f)?;
    if s < 1 || s as usize > len.max(1) {
        return Err(format!(
            "{f}: the start position {s} is not within 1..{}",
            len.max(1)
        ));
    }
    Ok(s as usize)
}

fn builtin(f: Builtin, args: &[Expr], env: &dyn Env) -> Result<Value, EvalError> {
    let num = |n: usize| Value::Num(Dec::int(n as i64));
    Ok(match f {
        Builtin::Sst => {
            let s = text_arg(&args[0], env)?;
            let start = int_arg(&args[1], env, "%SST start")?;
            let len = int_arg(&args[2], env, "%SST length")?;
            if start < 1 || len < 1 || (start - 1 + len) as usize > s.len() {
                return Err(format!(
                    "%SST: start {start} and length {len} go outside the {} characters of the value",
                    s.len()
                ));
            }
            let a = (start - 1) as usize;
            Value::Char(s[a..a + len as usize].iter().collect())
        }
        Builtin::Trim | Builtin::TrimL | Builtin::TrimR => {
            let s = text_arg(&args[0], env)?;
            let set = trim_set(args, env)?;
            let mut a = 0;
            let mut b = s.len();
            if f != Builtin::TrimR {
                while a < b && set.contains(&s[a]) {
                    a += 1;
                }
            }
            if f != Builtin::TrimL {
                while b > a && set.contains(&s[b - 1]) {
                    b -= 1;
                }
            }
            Value::Char(s[a..b].iter().collect())
        }
        Builtin::Scan => {
            let pat = text_arg(&args[0], env)?;
            let s = text_arg(&args[1], env)?;
            let start = start_arg(args, 2, s.len(), env, "%SCAN")?;
            let found = (start - 1..s.len())
                .find(|&i| !pat.is_empty() && s[i..].starts_with(&pat))
                .map_or(0, |i| i + 1);
            num(found)
        }
        Builtin::Check | Builtin::CheckR => {
            let set = text_arg(&args[0], env)?;
            let s = text_arg(&args[1], env)?;
            let start = start_arg(args, 2, s.len(), env, "%CHECK")?;
            let found = if f == Builtin::Check {
                (start - 1..s.len()).find(|&i| !set.contains(&s[i]))
            } else {
                let end = if args.len() > 2 { start } else { s.len() };
                (0..end).rev().find(|&i| !set.contains(&s[i]))
            };
            num(found.map_or(0, |i| i + 1))
        }
        Builtin::Len => match &args[0] {
            Expr::Var(v) => match env.var_type(v) {
                Some(VarType::Char(n)) => num(n),
                Some(VarType::Dec(p, _)) => num(p as usize),
                Some(VarType::Int(b, _)) => num(if b == 2 {
                    5
                } else if b == 4 {
                    10
                } else {
                    20
                }),
                _ => num(1),
            },
            e => num(eval(e, env)?.text().chars().count()),
        },
        Builtin::Dec => {
            let v = eval(&args[0], env)?;
            let d = number(&v).map_err(|m| format!("%DEC: {m}"))?;
            let p = args
                .get(1)
                .map(|e| int_arg(e, env, "%DEC"))
                .transpose()?
                .unwrap_or(15);
            let s = args
                .get(2)
                .map(|e| int_arg(e, env, "%DEC"))
                .transpose()?
                .unwrap_or(5);
            if !(1..=63).contains(&p) || !(0..=p).contains(&s) {
                return Err(format!("%DEC: length {p} and decimals {s} are not valid"));
            }
            let (stored, _) = VarType::Dec(p as u32, s as u32)
                .store(&Value::Num(d))
                .map_err(|m| format!("%DEC: {m}"))?;
            stored
        }
        Builtin::Int => {
            let v = eval(&args[0], env)?;
            let d = number(&v).map_err(|m| format!("%INT: {m}"))?;
            Value::Num(d.rescale(0).ok_or("%INT: too large")?)
        }
        Builtin::Char => Value::Char(eval(&args[0], env)?.text()),
        Builtin::Upper | Builtin::Lower => {
            let s = eval(&args[0], env)?.text();
            // One character for one, so fixed fields keep their length
            // (a character whose case form is longer, like ß, stays).
            let map = |c: char| -> char {
                let mut it: Vec<char> = if f == Builtin::Upper {
                    c.to_uppercase().collect()
                } else {
                    c.to_lowercase().collect()
                };
                if it.len() == 1 { it.remove(0) } else { c }
            };
            Value::Char(s.chars().map(map).collect())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cl;
    use std::collections::HashMap;

    /// Variables for the tests: name -> (type, value).
    struct Vars(HashMap<String, (VarType, Value)>);

    impl Env for Vars {
        fn var_type(&self, name: &str) -> Option<VarType> {
            self.0.get(name).map(|v| v.0)
        }
        fn value(&self, name: &str) -> Value {
            self.0[name].1.clone()
        }
    }

    fn vars(decls: &[(&str, VarType, &str)]) -> Vars {
        Vars(
            decls
                .iter()
                .map(|(n, t, v)| {
                    let (val, _) = t.store(&Value::Char(v.to_string())).unwrap();
                    (n.to_string(), (*t, val))
                })
                .collect(),
        )
    }

    /// The value of the expression written in `CHGVAR &X (expr)`.
    fn ev(src: &str, env: &Vars) -> Result<Value, String> {
        let st = cl::parse(&format!("CHGVAR &X ({src})")).unwrap().remove(0);
        let e = parse(&st.params[1].elems)?;
        check(&e, env)?;
        eval(&e, env)
    }

    fn text(src: &str, env: &Vars) -> String {
        ev(src, env).unwrap().text()
    }

    #[test]
    fn concatenation_keeps_pads_and_drops_blanks_as_ibm_documents() {
        // A *CHAR 6 holding 'ab' keeps its four trailing blanks for *CAT.
        let v = vars(&[("A", VarType::Char(6), "ab"), ("B", VarType::Char(4), "cd")]);
        assert_eq!(text("&A *CAT &B", &v), "ab    cd  ");
        assert_eq!(text("&A || &B", &v), "ab    cd  ");
        assert_eq!(text("&A *TCAT &B", &v), "abcd  ");
        assert_eq!(text("&A |< &B", &v), "abcd  ");
        assert_eq!(text("&A *BCAT &B", &v), "ab cd  ");
        assert_eq!(text("&A |> &B", &v), "ab cd  ");
        // Leading blanks of the right operand stay.
        assert_eq!(text("'x' *BCAT '  y'", &v), "x   y");
        // A left operand of blanks only: *BCAT adds no blank.
        assert_eq!(text("'   ' *BCAT 'y'", &v), "y");
    }

    #[test]
    fn char_variables_pad_and_truncate() {
        let t = VarType::Char(5);
        let (v, w) = t.store(&Value::Char("ab".into())).unwrap();
        assert_eq!((v.text(), w), ("ab   ".into(), None));
        let (v, w) = t.store(&Value::Char("abcdefg".into())).unwrap();
        assert_eq!(v.text(), "abcde");
        assert!(w.unwrap().contains("cut to LEN(5)"));
        // Trailing blanks that are cut are not a loss.
        assert_eq!(t.store(&Value::Char("abcde   ".into())).unwrap().1, None);
        // A *DEC(5 0) variable's digits with leading zeros (CHGVAR of a
        // *DEC variable to a *CHAR one), a number otherwise as %CHAR.
        assert_eq!(Dec::parse("123").unwrap().zoned(5), "00123");
        assert_eq!(Dec::parse("-1.50").unwrap().zoned(3), "-001.50");
        let (c, _) = t.store(&Value::Num(Dec::parse("12.5").unwrap())).unwrap();
        assert_eq!(c.text(), "12.5 ");
    }

    #[test]
    fn comparison_of_unequal_lengths_pads_the_shorter_with_blanks() {
        let v = vars(&[("R", VarType::Char(256), "0")]);
        assert!(matches!(ev("&R *EQ '0'", &v), Ok(Value::Lgl(true))));
        assert!(matches!(ev("&R = '0  '", &v), Ok(Value::Lgl(true))));
        assert!(matches!(ev("&R *NE '0'", &v), Ok(Value::Lgl(false))));
        assert!(matches!(ev("'AB' *LT 'AB '", &v), Ok(Value::Lgl(false))));
        assert!(matches!(ev("'AB' *LT 'ABC'", &v), Ok(Value::Lgl(true))));
        assert!(matches!(ev("'AB' *NG 'AB'", &v), Ok(Value::Lgl(true))));
        assert!(matches!(ev("'B' *NL 'AB'", &v), Ok(Value::Lgl(true))));
        assert!(matches!(ev("'B' ¬= 'AB'", &v), Ok(Value::Lgl(true))));
        // Numbers by value, whatever their decimals.
        assert!(matches!(ev("1.50 = 1.5", &v), Ok(Value::Lgl(true))));
        assert!(matches!(ev("-2 < 1", &v), Ok(Value::Lgl(true))));
        // Text holding a number, with a number.
        assert!(matches!(ev("'  42' *EQ 42", &v), Ok(Value::Lgl(true))));
        assert!(
            ev("'abc' *EQ 42", &v)
                .unwrap_err()
                .contains("'abc' is not a number")
        );
    }

    #[test]
    fn precedence_and_logic() {
        let v = vars(&[("I", VarType::Int(4, true), "3"), ("L", VarType::Lgl, "1")]);
        assert_eq!(text("1 + 2 * 3", &v), "7");
        assert_eq!(text("(1 + 2) * 3", &v), "9");
        assert_eq!(text("&I - 1 - 1", &v), "1");
        assert_eq!(text("-&I + 10", &v), "7");
        assert!(matches!(ev("&I *GT 2 *AND &L", &v), Ok(Value::Lgl(true))));
        assert!(matches!(ev("&I=3&&L", &v), Ok(Value::Lgl(true))));
        assert!(matches!(
            ev("*NOT &L *OR &I *EQ 3", &v),
            Ok(Value::Lgl(true))
        ));
        assert!(matches!(ev("*NOT &L | &I > 3", &v), Ok(Value::Lgl(false))));
        assert!(matches!(ev("¬&L", &v), Ok(Value::Lgl(false))));
        assert!(matches!(ev("&L *EQ '1'", &v), Ok(Value::Lgl(true))));
        // Mistakes found before the run.
        let st = cl::parse("CHGVAR &X ('a' | 'b')").unwrap().remove(0);
        let e = parse(&st.params[1].elems).unwrap();
        assert!(check(&e, &v).unwrap_err().contains("*AND / *OR"));
        let st = cl::parse("CHGVAR &X (*NOT 'a')").unwrap().remove(0);
        let e = parse(&st.params[1].elems).unwrap();
        assert!(check(&e, &v).unwrap_err().contains("*NOT needs"));
        assert!(
            parse(&cl::parse("CHGVAR &X (1 2)").unwrap()[0].params[1].elems)
                .unwrap_err()
                .contains("side by side")
        );
        assert!(
            parse(&cl::parse("CHGVAR &X (1 *EQ)").unwrap()[0].params[1].elems)
                .unwrap_err()
                .contains("missing")
        );
    }

    #[test]
    fn decimal_arithmetic_is_exact_and_truncates_to_the_variable() {
        let v = vars(&[
            ("P", VarType::Dec(7, 2), "19.99"),
            ("Q", VarType::Dec(3, 0), "3"),
        ]);
        // 0.1 + 0.2 is 0.3 exactly, where binary floating point is not.
        assert!(matches!(ev("0.1 + 0.2 = 0.3", &v), Ok(Value::Lgl(true))));
        assert_eq!(text("&P * &Q", &v), "59.97");
        assert_eq!(text("&P * 1.196", &v), "23.90804");
        // Into a *DEC(7 2): extra decimals are dropped, not rounded.
        let t = VarType::Dec(7, 2);
        let (r, _) = t.store(&ev("&P * 1.196", &v).unwrap()).unwrap();
        assert_eq!(r.text(), "23.90");
        let (r, _) = t.store(&ev("10 / 3", &v).unwrap()).unwrap();
        assert_eq!(r.text(), "3.33");
        let (r, _) = t.store(&ev("-10 / 3", &v).unwrap()).unwrap();
        assert_eq!(r.text(), "-3.33");
        let (r, _) = t.store(&ev("2 / 3", &v).unwrap()).unwrap();
        assert_eq!(r.text(), "0.66");
        // Too many integer digits is an error, never a silent cut.
        let e = VarType::Dec(5, 2)
            .store(&Value::Num(Dec::int(1000)))
            .unwrap_err();
        assert!(e.contains("does not fit *DEC LEN(5 2)"), "{e}");
        assert!(ev("1 / 0", &v).unwrap_err().contains("by zero"));
        // A decimal comma, as CL allows.
        assert_eq!(text("'1,5' + 1", &v), "2.5");
        // *INT: integer range, decimals dropped.
        let i = VarType::Int(2, true);
        assert_eq!(i.store(&ev("7 / 2", &v).unwrap()).unwrap().0.text(), "3");
        assert!(i.store(&Value::Num(Dec::int(40000))).is_err());
        assert!(
            VarType::Int(4, false)
                .store(&Value::Num(Dec::int(-1)))
                .is_err()
        );
    }

    #[test]
    fn builtins_as_documented() {
        let v = vars(&[
            ("REC", VarType::Char(30), "0042Dupont    dupont@x.test"),
            ("A", VarType::Char(10), "  ab  "),
            ("N", VarType::Dec(9, 2), "-0012.30"),
        ]);
        assert_eq!(text("%SST(&REC 1 4)", &v), "0042");
        assert_eq!(text("%SUBSTRING(&REC 5 10)", &v), "Dupont    ");
        assert!(
            ev("%SST(&REC 25 10)", &v)
                .unwrap_err()
                .contains("outside the 30")
        );
        assert_eq!(text("%TRIM(&A)", &v), "ab");
        assert_eq!(text("%TRIML(&A)", &v), "ab      ");
        assert_eq!(text("%TRIMR(&A)", &v), "  ab");
        assert_eq!(text("%TRIM('**x*' '*')", &v), "x");
        assert_eq!(text("%TRIM(&A *CAT 'c')", &v), "ab      c");
        assert_eq!(text("%SCAN('@' &REC)", &v), "21");
        assert_eq!(text("%SCAN('zz' &REC)", &v), "0");
        assert_eq!(text("%SCAN('o' &REC 7)", &v), "8");
        assert_eq!(text("%CHECK('0123456789' &REC)", &v), "5");
        assert_eq!(text("%CHECK('0123456789' '1234')", &v), "0");
        assert_eq!(text("%CHECKR(' ' &A)", &v), "4");
        assert_eq!(text("%LEN(&REC)", &v), "30");
        assert_eq!(text("%LEN(&N)", &v), "9");
        assert_eq!(text("%LEN(%TRIM(&A))", &v), "2");
        assert_eq!(text("%CHAR(&N)", &v), "-12.30");
        assert_eq!(text("%CHAR(0.5)", &v), "0.5");
        assert_eq!(text("%DEC(%SST(&REC 1 4) 5 0) + 1", &v), "43");
        assert_eq!(text("%DEC('12.345' 5 2)", &v), "12.34");
        assert_eq!(text("%INT('  17 ')", &v), "17");
        assert_eq!(text("%INT(&N)", &v), "-12");
        assert_eq!(text("%UPPER('dupont é ß')", &v), "DUPONT É ß");
        assert_eq!(text("%LOWER('DUPONT É')", &v), "dupont é");
        let e = parse(&cl::parse("CHGVAR &X (%SST(*LDA 1 10))").unwrap()[0].params[1].elems);
        assert!(e.unwrap_err().contains("no data area *LDA"));
        let e = parse(&cl::parse("CHGVAR &X (%FOO(1))").unwrap()[0].params[1].elems);
        assert!(e.unwrap_err().contains("%FOO is not supported"));
        let e = parse(&cl::parse("CHGVAR &X (%SST(&REC 1))").unwrap()[0].params[1].elems);
        assert!(e.unwrap_err().contains("takes 3 arguments, not 2"));
    }

    #[test]
    fn dec_parse_and_print() {
        for (s, out) in [
            ("0", "0"),
            ("-0.50", "-0.50"),
            ("+007", "7"),
            ("12,5", "12.5"),
        ] {
            assert_eq!(Dec::parse(s).unwrap().to_string(), out, "{s}");
        }
        for bad in ["", "-", ".", "1.2.3", "1e5", "abc", "1 2"] {
            assert!(Dec::parse(bad).is_none(), "{bad}");
        }
    }
}
