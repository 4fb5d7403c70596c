//! Gives liblnccmd.so its SONAME, so that `cargo build` alone makes a library
//! that programs link against by ABI version (README, "Install").
//!
//! The ABI rule: a change that breaks the ABI takes a semver-breaking
//! version, and the SONAME carries the part of the version that says so:
//! MAJOR from 1.0 (`liblnccmd.so.1`); while MAJOR is 0 a MINOR bump is the
//! breaking one (Cargo's semver), so `0.MINOR` (`liblnccmd.so.0.1`), and
//! `0.0.PATCH` below that. This is cargo-c's rule: `cargo cinstall` would
//! give the same name.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let part = |name: &str| -> u64 {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} is not a number"))
    };
    let soversion = match (
        part("CARGO_PKG_VERSION_MAJOR"),
        part("CARGO_PKG_VERSION_MINOR"),
        part("CARGO_PKG_VERSION_PATCH"),
    ) {
        (0, 0, patch) => format!("0.0.{patch}"),
        (0, minor, _) => format!("0.{minor}"),
        (major, _, _) => major.to_string(),
    };
    let soname = format!("liblnccmd.so.{soversion}");
    // -soname is an ELF linker option; the library is built for Linux.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo::rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    }
    // For the tests, which link C programs and check the installed names.
    println!("cargo::rustc-env=LNCCMD_SONAME={soname}");
}
