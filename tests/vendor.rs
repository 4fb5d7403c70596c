//! The vendored lettre is pristine lettre from crates.io plus the patch
//! series in vendor/lettre-patches, and the fuzz build uses the library's versions.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `scripts/lettre-patches check`: the series applies, in order, on the
/// sha256-checked crate (downloaded by scripts/setup-deps, so offline here),
/// and gives vendor/lettre byte for byte; one patch per vendor/README.md entry.
#[test]
fn vendored_lettre_is_the_crate_plus_the_patch_series() {
    let out = Command::new(root().join("scripts/lettre-patches"))
        .arg("check")
        .output()
        .expect("run scripts/lettre-patches");
    assert!(
        out.status.success(),
        "scripts/lettre-patches check failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Name -> the (version, source) of each [[package]] of a Cargo.lock.
fn locked(path: &str) -> BTreeMap<String, BTreeSet<(String, String)>> {
    let text = std::fs::read_to_string(root().join(path)).unwrap();
    let mut packages: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    for block in text.split("[[package]]").skip(1) {
        let field = |key: &str| {
            block
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{key} = \"")))
                .map(|v| v.trim_end_matches('"').to_string())
                .unwrap_or_default()
        };
        packages
            .entry(field("name"))
            .or_default()
            .insert((field("version"), field("source")));
    }
    packages
}

/// The fuzz workspace has its own lock file; a crate both use is locked to
/// the same version in both, so fuzzing exercises the code the library ships.
/// Fix with `cargo update -p NAME --precise VERSION` in fuzz/.
#[test]
fn fuzz_lock_file_has_the_library_versions() {
    let library = locked("Cargo.lock");
    let fuzz = locked("fuzz/Cargo.lock");
    let differ: Vec<String> = library
        .iter()
        .filter_map(|(name, versions)| {
            let other = fuzz.get(name)?;
            (other != versions).then(|| format!("{name}: {versions:?} vs fuzz {other:?}"))
        })
        .collect();
    assert!(
        differ.is_empty(),
        "Cargo.lock and fuzz/Cargo.lock differ:\n{}",
        differ.join("\n")
    );
    assert!(fuzz.contains_key("lnccmd") && fuzz.contains_key("lettre"));
}

/// The version the script applies the series to is the one vendored and
/// the one Cargo.toml asks for.
#[test]
fn one_lettre_version_everywhere() {
    let script = std::fs::read_to_string(root().join("scripts/lettre-patches")).unwrap();
    let version = script
        .lines()
        .find_map(|l| l.strip_prefix("LETTRE_VERSION="))
        .expect("LETTRE_VERSION= in scripts/lettre-patches");
    let vendored = std::fs::read_to_string(root().join("vendor/lettre/Cargo.toml")).unwrap();
    assert!(
        vendored.contains(&format!("\nversion = \"{version}\"\n")),
        "vendor/lettre is not lettre {version}"
    );
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains(&format!("lettre = {{ version = \"{version}\"")),
        "Cargo.toml does not ask for lettre {version}"
    );
    let lock = locked("Cargo.lock");
    assert_eq!(
        lock["lettre"],
        BTreeSet::from([(version.to_string(), String::new())]),
        "Cargo.lock: lettre {version} from the path"
    );
}
