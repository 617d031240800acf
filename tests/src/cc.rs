//! Building C test programs with the system compiler, cached by content.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::run::{run_with_timeout, RunError};

/// Longest a single compile may take.
const CC_TIMEOUT: Duration = Duration::from_secs(120);

/// Bumped when the way programs are built changes, to leave old builds behind.
const CACHE_VERSION: &str = "1";

static BUILDS: AtomicU32 = AtomicU32::new(0);

/// Which instruction set a test program is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abi {
    /// A 64-bit program.
    X86_64,
    /// A 32-bit program run through IA32 emulation (`-m32`, gcc-multilib).
    Ia32,
}

impl Abi {
    fn flag(self) -> &'static str {
        match self {
            Abi::X86_64 => "-m64",
            Abi::Ia32 => "-m32",
        }
    }
}

/// Why a test program was not built.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The cache directory or a file in it could not be written.
    #[error("{path}: {source}")]
    Cache {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// cc could not be run.
    #[error(transparent)]
    Run(#[from] RunError),
    /// cc refused the program.
    #[error("cc failed on {source_file}:\n{stderr}")]
    Failed {
        /// The C source, kept for reading.
        source_file: PathBuf,
        /// What cc said.
        stderr: String,
    },
}

/// Builds `source` with `cc -O1 -g -Wall` plus the ABI flag and `flags`
/// (such as `-pthread`); returns the executable. Builds are cached under
/// the temporary directory by a hash of everything that goes into them.
pub fn compile_c(source: &str, abi: Abi, flags: &[&str]) -> Result<PathBuf, CompileError> {
    let dir = std::env::temp_dir().join("crust-test-programs");
    fs::create_dir_all(&dir).map_err(cache_error(&dir))?;
    let key = fnv1a_64([CACHE_VERSION, source, abi.flag()].iter().chain(flags));
    let program = dir.join(format!("prog-{key:016x}"));
    if program.is_file() {
        return Ok(program);
    }

    // Private names first, then a link, so that parallel tests never see half a build.
    let unique = format!(
        "{key:016x}-{}-{}",
        std::process::id(),
        BUILDS.fetch_add(1, Ordering::Relaxed)
    );
    let source_file = dir.join(format!("prog-{unique}.c"));
    let output = dir.join(format!("prog-{unique}.out"));
    fs::write(&source_file, source).map_err(cache_error(&source_file))?;

    let mut command = Command::new("cc");
    command.env("LC_ALL", "C");
    command.args(["-O1", "-g", "-Wall", abi.flag()]).args(flags);
    command.arg("-o").arg(&output).arg(&source_file);
    let finished = run_with_timeout(&mut command, CC_TIMEOUT)?;
    if !finished.status.success() {
        return Err(CompileError::Failed {
            source_file,
            stderr: finished.stderr,
        });
    }
    // A link, not a rename: a rename would replace a twin build another test
    // already runs, leaving that process running a deleted file (which crust
    // refuses to dump). The first build to arrive stays; later ones go.
    let published = match fs::hard_link(&output, &program) {
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    };
    let _ = fs::remove_file(&output);
    let _ = fs::remove_file(&source_file);
    published.map_err(cache_error(&program))?;
    Ok(program)
}

fn cache_error(path: &Path) -> impl FnOnce(io::Error) -> CompileError + '_ {
    move |source| CompileError::Cache {
        path: path.to_path_buf(),
        source,
    }
}

/// FNV-1a, 64-bit, over the parts with a zero byte after each (so that
/// moving a boundary changes the hash).
fn fnv1a_64<'a>(parts: impl Iterator<Item = &'a &'a str>) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET_BASIS;
    for part in parts {
        for &byte in part.as_bytes().iter().chain(&[0]) {
            hash = (hash ^ u64::from(byte)).wrapping_mul(PRIME);
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::run_with_timeout;

    const HELLO: &str =
        "#include <stdio.h>\nint main(void) { printf(\"%zu\\n\", sizeof(void *)); return 0; }\n";

    fn pointer_size_printed_by(program: &Path) -> String {
        let finished = run_with_timeout(&mut Command::new(program), Duration::from_secs(10))
            .expect("the program ran");
        finished.stdout.trim().to_owned()
    }

    #[test]
    fn a_64_bit_program_builds_and_runs() {
        let program = compile_c(HELLO, Abi::X86_64, &[]).expect("built");
        assert_eq!(pointer_size_printed_by(&program), "8");
    }

    #[test]
    fn a_32_bit_program_builds_and_runs() {
        let program = compile_c(HELLO, Abi::Ia32, &[]).expect("built");
        assert_eq!(pointer_size_printed_by(&program), "4");
    }

    #[test]
    fn the_same_program_is_built_once() {
        let source = format!("{HELLO}/* cache test */\n");
        let first = compile_c(&source, Abi::X86_64, &["-DCACHE"]).expect("built");
        let built_at = fs::metadata(&first)
            .and_then(|m| m.modified())
            .expect("mtime");
        let second = compile_c(&source, Abi::X86_64, &["-DCACHE"]).expect("built");
        assert_eq!(first, second);
        assert_eq!(
            fs::metadata(&second).and_then(|m| m.modified()).ok(),
            Some(built_at)
        );
    }

    #[test]
    fn flags_are_part_of_the_key() {
        let plain = compile_c(HELLO, Abi::X86_64, &[]).expect("built");
        let threaded = compile_c(HELLO, Abi::X86_64, &["-pthread"]).expect("built");
        assert_ne!(plain, threaded);
    }

    #[test]
    fn a_compile_error_keeps_the_source_and_cc_message() {
        let error = compile_c("int main(void) { return x; }", Abi::X86_64, &[]).unwrap_err();
        match error {
            CompileError::Failed {
                source_file,
                stderr,
            } => {
                assert!(source_file.is_file());
                assert!(stderr.contains("undeclared"), "{stderr}");
                let _ = fs::remove_file(source_file);
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn moving_a_boundary_between_parts_changes_the_hash() {
        assert_ne!(fnv1a_64(["ab", "c"].iter()), fnv1a_64(["a", "bc"].iter()));
    }
}
