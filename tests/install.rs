//! Packaging: `make install` into a staging folder (DESTDIR, PREFIX, LIBDIR),
//! then C programs built with pkg-config's flags alone, run against a real
//! SMTP server. The Makefile installs the library this test run built
//! (`BUILDDIR=` the test's own deps folder): no second cargo build, which
//! would cost minutes (a release build from scratch in CI) and test nothing more.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const PREFIX: &str = "/opt/lnccmd";
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Runs `cmd` with its output captured, for at most `limit`; fails unless it succeeds.
fn run(cmd: &mut Command, limit: Duration) -> Output {
    let what = format!("{cmd:?}");
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let out = wait_child(child, limit);
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A staging folder that `make install DESTDIR=` filled.
struct Stage {
    dir: tempfile::TempDir,
    /// LIBDIR as given to make: where the library is once really installed.
    libdir: &'static str,
}

impl Stage {
    /// `make install` of this test run's library; `vars` are more make variables.
    fn install(libdir: &'static str, vars: &[&str]) -> Stage {
        let stage = Stage {
            dir: tempfile::tempdir().unwrap(),
            libdir,
        };
        stage.make("install", vars);
        stage
    }

    fn make(&self, target: &str, vars: &[&str]) -> Output {
        run(
            Command::new("make")
                .arg("-C")
                .arg(root())
                .arg(target)
                .arg(format!("DESTDIR={}", self.dir.path().display()))
                .arg(format!("PREFIX={PREFIX}"))
                .arg(format!("BUILDDIR={}", target_dir().display()))
                .args(vars),
            Duration::from_secs(120),
        )
    }

    /// An installed path (`/opt/lnccmd/...`) inside the staging folder.
    fn path(&self, installed: &str) -> PathBuf {
        self.dir.path().join(installed.trim_start_matches('/'))
    }

    fn lib(&self, name: &str) -> PathBuf {
        self.path(self.libdir).join(name)
    }

    /// pkg-config's answer for lnccmd, the staged .pc file the only one it
    /// sees; the sysroot puts the staging folder before its paths.
    fn pkg_config(&self, args: &[&str]) -> Vec<String> {
        let out = run(
            Command::new("pkg-config")
                .env("PKG_CONFIG_LIBDIR", self.lib("pkgconfig"))
                .env_remove("PKG_CONFIG_PATH")
                .env("PKG_CONFIG_SYSROOT_DIR", self.dir.path())
                .args(args)
                .arg("lnccmd"),
            Duration::from_secs(30),
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .map(String::from)
            .collect()
    }
}

/// The dynamic section entries `tag` (`SONAME`, `NEEDED`) of an ELF file.
fn dynamic(file: &Path, tag: &str) -> Vec<String> {
    let out = run(
        Command::new("readelf").arg("-d").arg(file),
        Duration::from_secs(30),
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| l.contains(&format!("({tag})")))
        .filter_map(|l| Some(l.split_once('[')?.1.strip_suffix(']')?.to_string()))
        .collect()
}

/// Compiles c-examples/send_text.c with exactly `flags` (no -I of the tree).
fn compile_send_text(dir: &Path, flags: &[String]) -> PathBuf {
    let exe = dir.join("send_text");
    run(
        Command::new("gcc")
            .args(["-std=c99", "-Wall", "-Wextra", "-Werror"])
            .arg(root().join("c-examples/send_text.c"))
            .arg("-o")
            .arg(&exe)
            .args(flags),
        Duration::from_secs(120),
    );
    exe
}

/// Runs send_text against `server` and checks what arrived.
fn send_text_arrives(exe: &Path, server: &SmtpServer) {
    let out = run(
        Command::new(exe)
            .args(["127.0.0.1", &server.port.to_string(), "bob@example.test"])
            // Only the rpath (or nothing) may say where the library is.
            .env_remove("LD_LIBRARY_PATH")
            .current_dir(exe.parent().unwrap()),
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("with lnccmd {VERSION}")),
        "{stdout}"
    );
    let m = &server.wait_for(1)[0];
    assert_eq!(rcpts(m), ["bob@example.test"]);
    assert_eq!(header(m, "Subject"), Some("test"));
    assert!(body_text(m).starts_with("Hello from LNCCMD.\n"));
}

#[test]
fn make_install_puts_the_library_its_links_header_and_pc_file() {
    let stage = Stage::install("/opt/lnccmd/lib", &[]);
    let real = format!("liblnccmd.so.{VERSION}");
    let meta = std::fs::symlink_metadata(stage.lib(&real)).unwrap();
    assert!(meta.is_file());
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o755
    );
    assert_eq!(dynamic(&stage.lib(&real), "SONAME"), [SONAME]);
    assert_eq!(
        std::fs::read_link(stage.lib(SONAME)).unwrap(),
        Path::new(&real)
    );
    assert_eq!(
        std::fs::read_link(stage.lib("liblnccmd.so")).unwrap(),
        Path::new(SONAME)
    );
    assert!(stage.lib("liblnccmd.a").is_file());
    assert_eq!(
        std::fs::read(stage.path("/opt/lnccmd/include/lnccmd.h")).unwrap(),
        std::fs::read(root().join("include/lnccmd.h")).unwrap()
    );
    let pc = std::fs::read_to_string(stage.lib("pkgconfig/lnccmd.pc")).unwrap();
    for line in [
        "prefix=/opt/lnccmd",
        "libdir=/opt/lnccmd/lib",
        "includedir=/opt/lnccmd/include",
        &format!("Version: {VERSION}"),
        "Libs: -L${libdir} -llnccmd",
    ] {
        assert!(pc.lines().any(|l| l == line), "no {line:?} in\n{pc}");
    }
    assert!(!pc.contains('@'), "a placeholder left in\n{pc}");
    assert_eq!(stage.pkg_config(&["--modversion"]), [VERSION]);
}

#[test]
fn a_c_program_built_with_pkg_config_alone_sends_mail() {
    let stage = Stage::install("/opt/lnccmd/lib", &[]);
    let mut flags = stage.pkg_config(&["--cflags", "--libs"]);
    let libdir = stage.path(stage.libdir);
    assert_eq!(
        flags,
        [
            format!("-I{}", stage.path("/opt/lnccmd/include").display()),
            format!("-L{}", libdir.display()),
            "-llnccmd".to_string()
        ]
    );
    // Where the loader finds the library once installed for real.
    flags.push(format!("-Wl,-rpath,{}", libdir.display()));
    let dir = tempfile::tempdir().unwrap();
    let exe = compile_send_text(dir.path(), &flags);
    assert!(dynamic(&exe, "NEEDED").contains(&SONAME.to_string()));
    let server = SmtpServer::start();
    send_text_arrives(&exe, &server);
}

/// Static linking: `pkg-config --static` gives the libraries liblnccmd.a
/// needs; `-l:liblnccmd.a` picks the archive where `-llnccmd` would take
/// the shared library beside it.
#[test]
fn a_static_link_with_pkg_config_static_sends_mail() {
    let stage = Stage::install("/opt/lnccmd/lib", &[]);
    let mut flags = stage.pkg_config(&["--cflags"]);
    flags.extend(
        stage
            .pkg_config(&["--static", "--libs"])
            .into_iter()
            .map(|f| {
                if f == "-llnccmd" {
                    "-l:liblnccmd.a".into()
                } else {
                    f
                }
            }),
    );
    assert!(flags.iter().any(|f| f == "-l:liblnccmd.a"), "{flags:?}");
    let dir = tempfile::tempdir().unwrap();
    let exe = compile_send_text(dir.path(), &flags);
    let needed = dynamic(&exe, "NEEDED");
    assert!(
        !needed.iter().any(|n| n.starts_with("liblnccmd")),
        "{needed:?}"
    );
    let server = SmtpServer::start();
    send_text_arrives(&exe, &server);
}

#[test]
fn make_uninstall_removes_what_make_install_put_in_another_libdir() {
    let vars = ["LIBDIR=/opt/lnccmd/lib64"];
    let stage = Stage::install("/opt/lnccmd/lib64", &vars);
    assert!(stage.lib(&format!("liblnccmd.so.{VERSION}")).is_file());
    assert!(!stage.path("/opt/lnccmd/lib").exists());
    let pc = std::fs::read_to_string(stage.lib("pkgconfig/lnccmd.pc")).unwrap();
    assert!(pc.contains("\nlibdir=/opt/lnccmd/lib64\n"), "{pc}");
    stage.make("uninstall", &vars);
    let mut left = Vec::new();
    let mut dirs = vec![stage.dir.path().to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                dirs.push(e.path());
            } else {
                left.push(e.path());
            }
        }
    }
    assert!(left.is_empty(), "left after make uninstall: {left:?}");
}
