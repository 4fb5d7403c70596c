//! `lnccmd run`'s *DEC arithmetic against Python's `decimal` module, an
//! implementation nobody here wrote: a few hundred generated operands
//! (fixed seed), added, subtracted, multiplied, divided and compared in a
//! CL program, each result stored in a `*DEC(15 3)` (CL truncates the extra
//! decimals), printed with %CHAR and checked against
//! `Decimal.quantize(..., ROUND_DOWN)`.

mod common;

use common::*;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A number with up to 6 integer digits and up to 5 decimals, as text.
fn operand(state: &mut u64) -> String {
    // xorshift64*: the same operands on every run.
    let mut next = || {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let int = next() % 10u64.pow((next() % 7) as u32);
    let decimals = (next() % 6) as usize;
    let frac = next() % 10u64.pow(decimals as u32);
    let sign = if next() % 3 == 0 { "-" } else { "" };
    if decimals == 0 {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac:0decimals$}")
    }
}

#[test]
fn dec_arithmetic_matches_pythons_decimal_with_truncation() {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut pairs = Vec::new();
    while pairs.len() < 250 {
        let (a, b) = (operand(&mut state), operand(&mut state));
        if b.trim_start_matches('-')
            .chars()
            .any(|c| c != '0' && c != '.')
        {
            pairs.push((a, b));
        }
    }
    let mut cl = String::from(
        "PGM\n DCL &A *DEC (15 5)\n DCL &B *DEC (15 5)\n DCL &R *DEC (15 3)\n DCL &L *LGL\n",
    );
    let mut py = String::from(
        "import decimal, sys\nD = decimal.Decimal\ndecimal.getcontext().prec = 80\n\
         def q(x):\n    x = x.quantize(D('0.001'), rounding=decimal.ROUND_DOWN)\n    \
         return format(abs(x) if x == 0 else x, 'f')\n",
    );
    for (a, b) in &pairs {
        cl.push_str(&format!(" CHGVAR &A {a}\n CHGVAR &B {b}\n"));
        for op in ["+", "-", "*", "/"] {
            cl.push_str(&format!(" CHGVAR &R (&A {op} &B)\n SNDPGMMSG %CHAR(&R)\n"));
            py.push_str(&format!("print(q(D('{a}') {op} D('{b}')))\n"));
        }
        cl.push_str(" CHGVAR &L (&A *GT &B)\n SNDPGMMSG %CHAR(&L)\n");
        py.push_str(&format!("print(int(D('{a}') > D('{b}')))\n"));
    }
    cl.push_str("ENDPGM\n");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dec.clp");
    std::fs::write(&file, &cl).unwrap();
    let script = dir.path().join("dec.py");
    std::fs::write(&script, &py).unwrap();

    let out = wait_child(
        Command::new(env!("CARGO_BIN_EXE_lnccmd"))
            .args(["run", "--quiet"])
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
        Duration::from_secs(60),
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    let ours: Vec<&str> = err
        .lines()
        .map(|l| l.split_once(": *INFO: ").expect("a message line").1)
        .collect();
    let theirs = String::from_utf8(python3(&[&script])).unwrap();
    let theirs: Vec<&str> = theirs.lines().collect();
    assert_eq!(ours.len(), pairs.len() * 5);
    assert_eq!(ours.len(), theirs.len());
    for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
        let (a, b) = &pairs[i / 5];
        let op = ["+", "-", "*", "/", "*GT"][i % 5];
        assert_eq!(o, t, "{a} {op} {b}");
    }
}
