//! Packaging: `make install` into a staging folder (DESTDIR, PREFIX, LIBDIR),
//! then C programs built with pkg-config's flags alone, run against a real
//! SMTP server. The Makefile installs the library this test run built
//! (`BUILDDIR=` the test's own deps folder): no second cargo build, which
//! would cost minutes (a release build from scratch in CI) and test nothing more.
//! The same build makes the .debs (`make deb`), installed into a private dpkg
//! root, used there, and checked by lintian.

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
                .arg(concat!("LNCCMD_BIN=", env!("CARGO_BIN_EXE_lnccmd")))
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

/// `man` renders a page: its text, and any warning of groff or man.
fn render_man(page: &Path) -> (String, String) {
    let out = run(
        Command::new("man")
            .env("MANROFFSEQ", "")
            .env("MANWIDTH", "80")
            .args(["--warnings", "-E", "UTF-8", "-l", "-Tutf8"])
            .arg(page),
        Duration::from_secs(30),
    );
    // Bold and underline are overstrikes ("X\bX", "_\bX") when stdout is
    // not a terminal: keep the last character of each; groff writes `\-` as
    // U+2212 and a hyphen as U+2010 in UTF-8.
    let mut text = String::new();
    for c in String::from_utf8_lossy(&out.stdout).chars() {
        match c {
            '\u{8}' => {
                text.pop();
            }
            '\u{2212}' | '\u{2010}' => text.push('-'),
            c => text.push(c),
        }
    }
    (text, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Issue #16 item 6: `make install` puts the command in BINDIR, and its
/// pages lnccmd(1), lnccmd-run(1) and lnccmd-sndmail(1) in MANDIR/man1,
/// which man renders without a warning, the version filled in.
#[test]
fn make_install_puts_the_command_and_its_manual_pages() {
    let stage = Stage::install("/opt/lnccmd/lib", &[]);
    let bin = stage.path("/opt/lnccmd/bin/lnccmd");
    let out = run(Command::new(&bin).arg("--version"), Duration::from_secs(30));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("lnccmd {VERSION}")
    );
    let out = run(
        Command::new(&bin).args([
            "sndmail",
            "--check",
            "TOINTNET(a@example.test)",
            "SMTP('Server=h;Sender=s@example.test')",
        ]),
        Duration::from_secs(30),
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "lnccmd sndmail: no error found (nothing was sent)\n"
    );
    for (page, name) in [
        (
            "lnccmd.1",
            "lnccmd - LAUNCHER Office LNCCMD mail commands from the shell",
        ),
        (
            "lnccmd-run.1",
            "lnccmd-run - run a CL program of LNCCMD mail calls",
        ),
        (
            "lnccmd-sndmail.1",
            "lnccmd-sndmail - send one mail as LAUNCHER's LNCSNDMAIL command",
        ),
    ] {
        let file = stage.path(&format!("/opt/lnccmd/share/man/man1/{page}"));
        let meta = std::fs::metadata(&file).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
            0o644,
            "{page}"
        );
        let source = std::fs::read_to_string(&file).unwrap();
        assert!(!source.contains("@VERSION@"), "{page}");
        let (text, warnings) = render_man(&file);
        assert!(warnings.is_empty(), "{page}: {warnings}");
        assert!(text.contains(name), "{page}:\n{text}");
        assert!(
            text.contains(&format!("lnccmd {VERSION}")),
            "{page}:\n{text}"
        );
    }
    let (text, _) = render_man(&stage.path("/opt/lnccmd/share/man/man1/lnccmd-sndmail.1"));
    for keyword in ["TOINTNET", "MSGFILE", "CFGSMTP", "--check", "LNCCMD_SMTP"] {
        assert!(text.contains(keyword), "lnccmd-sndmail(1) lacks {keyword}");
    }
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

/// The names of the sections of an ELF file.
fn sections(file: &Path) -> Vec<String> {
    let out = run(
        Command::new("readelf").arg("-SW").arg(file),
        Duration::from_secs(30),
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once("] ")?.1.split_whitespace().next())
        .map(String::from)
        .collect()
}

/// CRC-32 (IEEE, as zlib): the checksum a .gnu_debuglink carries.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

#[test]
fn make_install_strips_and_install_debug_keeps_the_debug_info_the_debuglink_names() {
    let stage = Stage::install("/opt/lnccmd/lib", &[]);
    stage.make("install-debug", &[]);
    let real = format!("liblnccmd.so.{VERSION}");
    let lib = stage.lib(&real);
    // What cargo built has debug info (Cargo.toml's profiles), or this proves nothing.
    assert!(sections(&target_dir().join("liblnccmd.so")).contains(&".debug_info".into()));
    let installed = sections(&lib);
    for gone in [".debug_info", ".debug_line", ".symtab", ".comment"] {
        assert!(!installed.contains(&gone.into()), "{gone} in {installed:?}");
    }
    for kept in [".dynsym", ".gnu_debuglink", ".note.gnu.build-id"] {
        assert!(
            installed.contains(&kept.into()),
            "no {kept} in {installed:?}"
        );
    }
    let bin = stage.path("/opt/lnccmd/bin/lnccmd");
    assert!(!sections(&bin).contains(&".debug_info".into()));
    let debug = stage.path(&format!("/opt/lnccmd/lib/.debug/{real}.debug"));
    assert!(sections(&debug).contains(&".debug_info".into()));
    // The debuglink: the .debug file's name, NUL, padding to 4, its CRC.
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("link");
    run(
        Command::new("objcopy")
            .arg(format!("--dump-section=.gnu_debuglink={}", link.display()))
            .arg(&lib)
            .arg(dir.path().join("copy")),
        Duration::from_secs(60),
    );
    let link = std::fs::read(link).unwrap();
    let name = format!("{real}.debug");
    assert_eq!(&link[..name.len()], name.as_bytes());
    let (_, crc) = link.split_at(link.len() - 4);
    assert_eq!(
        u32::from_le_bytes(crc.try_into().unwrap()),
        crc32(&std::fs::read(&debug).unwrap()),
        "the debuglink's CRC is not the installed .debug file's"
    );
    // The archive: stripped of debug info, its symbols kept for the linker.
    let members = run(
        Command::new("readelf")
            .arg("-SW")
            .arg(stage.lib("liblnccmd.a")),
        Duration::from_secs(60),
    );
    assert!(!String::from_utf8_lossy(&members.stdout).contains(".debug_info"));
}

/// The three .debs of this test run's build, made once for the tests below.
fn debs() -> &'static [PathBuf] {
    static DEBS: std::sync::OnceLock<(tempfile::TempDir, Vec<PathBuf>)> =
        std::sync::OnceLock::new();
    &DEBS
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let out = run(
                Command::new("make")
                    .arg("-C")
                    .arg(root())
                    .arg("--no-print-directory")
                    .arg("deb")
                    .arg(format!("DEBDIR={}", dir.path().display()))
                    .arg(format!("BUILDDIR={}", target_dir().display()))
                    .arg(concat!("LNCCMD_BIN=", env!("CARGO_BIN_EXE_lnccmd"))),
                Duration::from_secs(300),
            );
            let debs: Vec<PathBuf> = String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .filter(|l| l.ends_with(".deb"))
                .map(PathBuf::from)
                .collect();
            (dir, debs)
        })
        .1
}

#[test]
fn make_deb_packages_install_with_dpkg_and_a_c_program_and_the_cli_work() {
    let debs = debs();
    let names: Vec<String> = debs
        .iter()
        .map(|d| d.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let arch = String::from_utf8(
        run(
            Command::new("dpkg").arg("--print-architecture"),
            Duration::from_secs(30),
        )
        .stdout,
    )
    .unwrap();
    let arch = arch.trim();
    // liblnccmd0.1 for liblnccmd.so.0.1: the package is named after the SONAME.
    let libpkg = SONAME.replace(".so.", "");
    assert_eq!(
        names,
        [
            format!("{libpkg}_{VERSION}_{arch}.deb"),
            format!("liblnccmd-dev_{VERSION}_{arch}.deb"),
            format!("lnccmd_{VERSION}_{arch}.deb"),
        ]
    );
    // A private dpkg root: its own database, nothing of the system's
    // touched. --force-depends: libc6 and libssl3 are not in that database.
    let root_dir = tempfile::tempdir().unwrap();
    let r = root_dir.path();
    let admin = r.join("var/lib/dpkg");
    for d in ["info", "updates", "triggers"] {
        std::fs::create_dir_all(admin.join(d)).unwrap();
    }
    std::fs::write(admin.join("status"), "").unwrap();
    run(
        Command::new("dpkg")
            .arg(format!("--root={}", r.display()))
            .args([
                "--force-not-root",
                "--force-depends",
                "--force-script-chrootless",
            ])
            .args(["--log=/dev/null", "-i"])
            .args(debs),
        Duration::from_secs(120),
    );
    let listed = run(
        Command::new("dpkg-query")
            .arg(format!("--admindir={}", admin.display()))
            .args(["-W", "-f", "${Package} ${Version} ${Status}\n"]),
        Duration::from_secs(30),
    );
    let listed = String::from_utf8(listed.stdout).unwrap();
    for pkg in [libpkg.as_str(), "liblnccmd-dev", "lnccmd"] {
        let line = format!("{pkg} {VERSION} install ok installed");
        assert!(
            listed.lines().any(|l| l == line),
            "{line:?} not in\n{listed}"
        );
    }
    let multiarch = String::from_utf8(
        run(
            Command::new("gcc").arg("-print-multiarch"),
            Duration::from_secs(30),
        )
        .stdout,
    )
    .unwrap();
    let libdir = r.join("usr/lib").join(multiarch.trim());
    // Compiled in a clean folder with the flags pkg-config gives from the
    // installed .pc file, the sysroot putting the private root before them.
    let flags = run(
        Command::new("pkg-config")
            .env("PKG_CONFIG_LIBDIR", libdir.join("pkgconfig"))
            .env_remove("PKG_CONFIG_PATH")
            .env("PKG_CONFIG_SYSROOT_DIR", r)
            .args(["--cflags", "--libs", "lnccmd"]),
        Duration::from_secs(30),
    );
    let mut flags: Vec<String> = String::from_utf8(flags.stdout)
        .unwrap()
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(
        flags,
        [
            format!("-I{}", r.join("usr/include").display()),
            format!("-L{}", libdir.display()),
            "-llnccmd".to_string()
        ]
    );
    flags.push(format!("-Wl,-rpath,{}", libdir.display()));
    let clean = tempfile::tempdir().unwrap();
    let exe = compile_send_text(clean.path(), &flags);
    assert!(dynamic(&exe, "NEEDED").contains(&SONAME.to_string()));
    let server = SmtpServer::start();
    send_text_arrives(&exe, &server);
    // The command line, run from the package, and its manual page.
    let cli = r.join("usr/bin/lnccmd");
    let out = run(
        Command::new(&cli)
            .arg("--version")
            .current_dir(clean.path()),
        Duration::from_secs(30),
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("lnccmd {VERSION}")
    );
    run(
        Command::new(&cli)
            .arg("sndmail")
            .arg("TOINTNET((amy@example.test *TO))")
            .arg("SUBJECT('from the package')")
            .arg("MSG('Hello.')")
            .arg(format!(
                "CFGSMTP('127.0.0.1' {} 'billing@example.test')",
                server.port
            ))
            .current_dir(clean.path()),
        Duration::from_secs(60),
    );
    let m = &server.wait_for(2)[1];
    assert_eq!(rcpts(m), ["amy@example.test"]);
    assert_eq!(header(m, "Subject"), Some("from the package"));
    for page in [
        "man1/lnccmd.1.gz",
        "man1/lnccmd-run.1.gz",
        "man1/lnccmd-sndmail.1.gz",
        "man3/lnccmd.3.gz",
    ] {
        let out = run(
            Command::new("man")
                .env("MANROFFSEQ", "")
                .env("MANWIDTH", "80")
                .args(["--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z"])
                .arg(r.join("usr/share/man").join(page)),
            Duration::from_secs(30),
        );
        assert!(
            out.stderr.is_empty(),
            "{page}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// lintian on the three packages: no error and no warning. Informational
/// tags left, not failures: no-symbols-control-file (the shlibs file says
/// the version programs need) and hardening-no-fortify-functions (Rust
/// code calls no glibc function that _FORTIFY_SOURCE would replace).
#[test]
fn lintian_finds_no_error_or_warning_in_the_debs() {
    let debs = debs();
    let out = Command::new("lintian")
        .args(["--tag-display-limit", "0", "--fail-on", "error,warning"])
        .args(debs)
        .env("LC_ALL", "C.UTF-8")
        .output()
        .expect("lintian is needed (scripts/setup-deps installs it)");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "lintian: {report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !report
            .lines()
            .any(|l| l.starts_with("E:") || l.starts_with("W:")),
        "{report}"
    );
}
