//! The code in the documentation runs: every fenced block of README.md and
//! docs/ tagged `c` is a whole program (it has `main`), compiled with
//! `-std=c99 -Wall -Wextra -Werror -pedantic` against include/, linked with
//! this test run's library and run against aiosmtpd; every `python` block is
//! run with python3 and the library of the build tree. Blocks that are not
//! programs say so in their tag: `c fragment` (statements, compiled inside a
//! function that declares `handle`, `result` and `rc`) and `c declarations`
//! (file-scope code, compiled after the header), both with the same warnings
//! as errors except `-Wunused` (a fragment's results are used by the code
//! around it). The README's compile lines are run as written, in a copy of
//! the tree's layout, and the programs they build send a mail.
//!
//! Programs take the MAILSMTP property string as their first argument (with
//! a default for smtp.example.com), which is how the tests point them at
//! the local server.

mod common;

use common::*;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const CFLAGS: &[&str] = &["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"];

/// One fenced code block.
struct Block {
    /// `docs/ffi.md:83`: the file and the line of the opening fence.
    place: String,
    /// The file, relative to the repository, and the line of the first code line.
    file: String,
    first_line: usize,
    /// The info string: `c`, `c fragment`, `python`, `sh`, or empty.
    info: String,
    code: String,
}

/// The fenced blocks of `text`; the fence's indentation (a block inside a
/// list item) is removed from its lines.
fn blocks_of(file: &str, text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<(usize, usize, String, Vec<&str>)> = None;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        match &mut open {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    open = Some((n + 1, indent, info.trim().to_string(), Vec::new()));
                }
            }
            Some((start, ind, info, lines)) => {
                if trimmed == "```" {
                    out.push(Block {
                        place: format!("{file}:{start}"),
                        file: file.to_string(),
                        first_line: *start + 1,
                        info: std::mem::take(info),
                        code: lines.join("\n") + "\n",
                    });
                    open = None;
                } else {
                    let cut = line.len().min(*ind);
                    let keep = if line[..cut].trim().is_empty() {
                        &line[cut..]
                    } else {
                        line
                    };
                    lines.push(keep);
                }
            }
        }
    }
    assert!(open.is_none(), "{file}: a code block is not closed");
    out
}

fn all_blocks() -> Vec<Block> {
    markdown_files()
        .iter()
        .flat_map(|f| {
            let shown = f.strip_prefix(root()).unwrap().display().to_string();
            blocks_of(&shown, &std::fs::read_to_string(f).unwrap())
        })
        .collect()
}

fn is_c_program(code: &str) -> bool {
    code.contains("int main(")
}

#[test]
fn every_c_and_python_block_is_a_program_or_says_what_it_is() {
    let mut problems = Vec::new();
    let (mut programs, mut fragments) = (0, 0);
    for b in all_blocks() {
        match b.info.as_str() {
            "c" if is_c_program(&b.code) => programs += 1,
            "c" => problems.push(format!(
                "{}: a `c` block without main(): make it a program, or tag it `c fragment` or `c declarations`",
                b.place
            )),
            "c fragment" | "c declarations" if is_c_program(&b.code) => problems.push(format!(
                "{}: a whole program tagged `{}`: tag it `c`, so that it is run",
                b.place, b.info
            )),
            "c fragment" | "c declarations" => fragments += 1,
            "python" => programs += 1,
            "" | "sh" | "js" | "go" | "csharp" => {
                // An untagged block that calls lnccmd() is C that escaped the checks.
                if b.info.is_empty() && b.code.contains("lnccmd(&") && b.code.contains(");") {
                    problems.push(format!("{}: C code without a `c` tag", b.place));
                }
            }
            other => problems.push(format!(
                "{}: unknown tag `{other}` (c, c fragment, c declarations, python, sh, js, go, csharp, or none)",
                b.place
            )),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(programs >= 2, "only {programs} programs found");
    assert!(fragments >= 20, "only {fragments} fragments found");
}

/// Runs `cmd` for at most a minute, its output captured.
fn run(cmd: &mut Command) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    wait_child(child, Duration::from_secs(60))
}

fn cc() -> Command {
    Command::new(std::env::var("CC").unwrap_or_else(|_| "gcc".into()))
}

fn assert_ok(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `#line` so that the compiler's messages name the Markdown file and line.
fn located(b: &Block) -> String {
    format!("#line {} \"{}\"\n{}", b.first_line, b.file, b.code)
}

#[test]
fn c_programs_compile_cleanly_and_send_their_mail() {
    let server = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    link_soname(dir.path());
    let programs: Vec<Block> = all_blocks()
        .into_iter()
        .filter(|b| b.info == "c" && is_c_program(&b.code))
        .collect();
    assert!(!programs.is_empty(), "README.md has no C program");
    for (i, b) in programs.iter().enumerate() {
        let src = dir.path().join(format!("program{i}.c"));
        let exe = dir.path().join(format!("program{i}"));
        std::fs::write(&src, located(b)).unwrap();
        let out = run(cc()
            .args(CFLAGS)
            .arg("-I")
            .arg(root().join("include"))
            .arg(&src)
            .arg("-o")
            .arg(&exe)
            .arg(format!("-L{}", target_dir().display()))
            .arg(format!("-Wl,-rpath,{}", dir.path().display()))
            .arg("-llnccmd"));
        assert_ok(&format!("compiling {}", b.place), &out);
        // LD_LIBRARY_PATH from cargo would win over the rpath.
        let out = run(Command::new(&exe)
            .arg(server.props())
            .env_remove("LD_LIBRARY_PATH")
            .current_dir(dir.path()));
        assert_ok(&format!("running {}", b.place), &out);
        let m = &server.wait_for(i + 1)[i];
        assert_eq!(rcpts(m), ["bob@example.com"], "{}", b.place);
    }
}

#[test]
fn c_fragments_and_declarations_compile_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let prelude = "#define _POSIX_C_SOURCE 200809L\n#include <stdio.h>\n#include <stdlib.h>\n\
                   #include <string.h>\n#include <unistd.h>\n#include \"lnccmd.h\"\n";
    // Every fragment in one file, each in its own function: one compiler run.
    let mut fragments = String::from(prelude);
    let mut n = 0;
    for b in all_blocks() {
        match b.info.as_str() {
            "c fragment" => {
                let mut decls = String::new();
                if !b.code.contains("int32_t handle") {
                    decls.push_str("int32_t handle = 0;\n");
                }
                if !b.code.contains("char result[") {
                    decls.push_str("char result[LNCCMD_RESULT_LEN];\n");
                }
                if !b.code.contains("int32_t rc") && !b.code.contains("int rc") {
                    decls.push_str("int32_t rc = 0;\n");
                }
                fragments.push_str(&format!(
                    "int fragment{n}(void);\nint fragment{n}(void)\n{{\n{decls}{}\nreturn 0;\n}}\n",
                    located(&b)
                ));
                n += 1;
            }
            "c declarations" => {
                let src = dir.path().join(format!("declarations{n}.c"));
                std::fs::write(&src, format!("{prelude}{}", located(&b))).unwrap();
                let out = run(cc()
                    .args(CFLAGS)
                    .args(["-Wno-unused", "-fsyntax-only", "-I"])
                    .arg(root().join("include"))
                    .arg(&src));
                assert_ok(&format!("compiling {}", b.place), &out);
                n += 1;
            }
            _ => {}
        }
    }
    let src = dir.path().join("fragments.c");
    std::fs::write(&src, fragments).unwrap();
    let out = run(cc()
        .args(CFLAGS)
        .args(["-Wno-unused", "-fsyntax-only", "-I"])
        .arg(root().join("include"))
        .arg(&src));
    assert_ok("compiling the C fragments of the docs", &out);
}

#[test]
fn python_programs_run_and_send_their_mail() {
    let server = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let programs: Vec<Block> = all_blocks()
        .into_iter()
        .filter(|b| b.info == "python")
        .collect();
    assert!(!programs.is_empty(), "docs/ffi.md has no Python program");
    for (i, b) in programs.iter().enumerate() {
        let script = dir.path().join(format!("program{i}.py"));
        std::fs::write(&script, &b.code).unwrap();
        let out = run(Command::new("python3")
            .arg(&script)
            .arg(server.props())
            .env("LNCCMD_LIB", target_dir().join("liblnccmd.so")));
        assert_ok(&format!("running {}", b.place), &out);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains(&format!("lnccmd {}", env!("CARGO_PKG_VERSION"))),
            "{}: lnccmd_version() printed {stdout:?}",
            b.place
        );
        let m = &server.wait_for(i + 1)[i];
        assert_eq!(rcpts(m), ["bob@example.com"], "{}", b.place);
        assert_eq!(header(m, "Subject"), Some("Café"), "{}", b.place);
    }
}

/// The README's `cc` lines, run as written from a folder laid out as the
/// repository after `make` (include/, target/release/ with the libraries
/// and the SONAME link) and with a pkg-config file as `make install`
/// writes it; each program they build then sends a mail.
#[test]
fn the_readme_compile_lines_build_programs_that_send() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let blocks = blocks_of("README.md", &readme);
    let program = blocks
        .iter()
        .find(|b| b.info == "c" && is_c_program(&b.code))
        .expect("README.md has a C program");
    let lines: Vec<String> = blocks
        .iter()
        .filter(|b| b.info == "sh")
        .flat_map(|b| b.code.lines().map(str::to_string).collect::<Vec<_>>())
        .filter(|l| l.starts_with("cc ") && l.contains("send.c"))
        .collect();
    let pkg_config = lines.iter().filter(|l| l.contains("pkg-config")).count();
    let tree = lines
        .iter()
        .filter(|l| l.contains("target/release"))
        .count();
    assert!(
        pkg_config >= 2 && tree >= 2,
        "README.md should give cc lines with pkg-config and for the build tree, shared and static: {lines:?}"
    );

    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    std::os::unix::fs::symlink(root().join("include"), w.join("include")).unwrap();
    let release = w.join("target/release");
    std::fs::create_dir_all(&release).unwrap();
    for lib in ["liblnccmd.so", "liblnccmd.a"] {
        std::os::unix::fs::symlink(target_dir().join(lib), release.join(lib)).unwrap();
    }
    // What `make` adds beside the library: the name the loader asks for.
    std::os::unix::fs::symlink("liblnccmd.so", release.join(SONAME)).unwrap();
    // An installed library: lib/ with the same files, and its .pc.
    let prefix = w.join("prefix");
    std::fs::create_dir_all(prefix.join("lib/pkgconfig")).unwrap();
    for lib in ["liblnccmd.so", "liblnccmd.a"] {
        std::os::unix::fs::symlink(target_dir().join(lib), prefix.join("lib").join(lib)).unwrap();
    }
    let pc = std::fs::read_to_string(root().join("lnccmd.pc.in"))
        .unwrap()
        .replace("@PREFIX@", &prefix.display().to_string())
        .replace("@LIBDIR@", &prefix.join("lib").display().to_string())
        .replace(
            "@INCLUDEDIR@",
            &root().join("include").display().to_string(),
        )
        .replace("@VERSION@", env!("CARGO_PKG_VERSION"));
    std::os::unix::fs::symlink("liblnccmd.so", prefix.join("lib").join(SONAME)).unwrap();
    std::fs::write(prefix.join("lib/pkgconfig/lnccmd.pc"), pc).unwrap();
    std::fs::write(w.join("send.c"), &program.code).unwrap();

    let server = SmtpServer::start();
    for (i, line) in lines.iter().enumerate() {
        let _ = std::fs::remove_file(w.join("send"));
        let out = run(Command::new("sh")
            .args(["-c", line])
            .current_dir(w)
            .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig"))
            .env("PKG_CONFIG_LIBDIR", prefix.join("lib/pkgconfig")));
        assert_ok(&format!("README.md: {line}"), &out);
        let mut send = Command::new(w.join("send"));
        send.arg(server.props()).env_remove("LD_LIBRARY_PATH");
        if line.contains("pkg-config --cflags --libs") {
            // Installed and ldconfig'd: the loader's own path, here given by hand.
            send.env("LD_LIBRARY_PATH", prefix.join("lib"));
        }
        let out = run(&mut send);
        assert_ok(&format!("the program built by `{line}`"), &out);
        let m = &server.wait_for(i + 1)[i];
        assert_eq!(rcpts(m), ["bob@example.com"], "{line}");
        if line.contains("liblnccmd.a") {
            let ldd = run(Command::new("ldd").arg(w.join("send")));
            assert!(
                !String::from_utf8_lossy(&ldd.stdout).contains("liblnccmd"),
                "`{line}` should link liblnccmd statically"
            );
        }
    }
}
