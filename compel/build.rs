//! Builds the parasite blob (../parasite, a no_std static PIE) with a
//! nested cargo and leaves it at `$OUT_DIR/parasite.elf` for `blob.rs`.
//!
//! The nested build gets its own target directory (the outer build holds
//! the lock on ours) and none of the outer build's flags or wrappers: the
//! blob is always a release build with exactly the flags below.

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{exit, Command};

/// Flags the blob needs on top of parasite/build.rs's link arguments.
const RUSTFLAGS: &[&str] = &["-Crelocation-model=pie"];

/// Outer-build variables that must not leak into the nested build.
const SCRUBBED: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_BUILD_RUSTC_WRAPPER",
    "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_PRIMARY_PACKAGE",
];

fn main() {
    let manifest_dir = PathBuf::from(env_or_die("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env_or_die("OUT_DIR"));
    let root = manifest_dir.parent().unwrap_or(&manifest_dir).to_path_buf();
    let parasite = root.join("parasite");

    rerun_if_changed(&root);
    let target_dir = out_dir.join("parasite-target");
    build_parasite(&parasite, &target_dir);

    let built = target_dir.join("release").join("parasite");
    let dest = out_dir.join("parasite.elf");
    if let Err(e) = std::fs::copy(&built, &dest) {
        die(&format!(
            "copying {} to {}: {e}",
            built.display(),
            dest.display()
        ));
    }
}

fn rerun_if_changed(root: &Path) {
    for path in [
        "parasite/src",
        "parasite/Cargo.toml",
        "parasite/build.rs",
        "parasite/parasite.ld",
        "arch/src",
        "arch/Cargo.toml",
        "syscalls/src",
        "syscalls/Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }
}

fn build_parasite(parasite: &Path, target_dir: &Path) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(cargo);
    command
        .current_dir(parasite)
        .args(["build", "--release", "--bin", "parasite", "--target-dir"])
        .arg(target_dir)
        .env("CARGO_ENCODED_RUSTFLAGS", RUSTFLAGS.join("\u{1f}"));
    for name in SCRUBBED.iter().filter(|n| **n != "CARGO_ENCODED_RUSTFLAGS") {
        command.env_remove(name);
    }
    for (name, _) in env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_BUILD_") || name.starts_with("CARGO_PROFILE_") {
            command.env_remove(&*name);
        }
    }
    let output = match command.output() {
        Ok(output) => output,
        Err(e) => die(&format!("running cargo for the parasite blob: {e}")),
    };
    if !output.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
        die(&format!(
            "building the parasite blob in {} failed ({})",
            parasite.display(),
            output.status
        ));
    }
}

fn env_or_die(name: &str) -> OsString {
    env::var_os(name).unwrap_or_else(|| die(&format!("{name} is not set")))
}

fn die(message: &str) -> ! {
    eprintln!("error: compel build script: {message}");
    exit(1)
}
