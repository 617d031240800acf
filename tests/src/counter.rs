//! Checking a counter file: lines `0`, `1`, `2`, ... with no gap and no repeat.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Why a counter file is not a clean count.
#[derive(Debug, thiserror::Error)]
pub enum CounterError {
    /// It could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The counter file.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// A line is not the next number.
    #[error("{path} line {line}: expected {expected}, found {found:?} (gap, repeat or damage)")]
    Broken {
        /// The counter file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// The number that belonged there.
        expected: u64,
        /// What was there.
        found: String,
    },
    /// The last line has no newline: a write was cut.
    #[error("{path}: the last line {last:?} is not terminated")]
    Unterminated {
        /// The counter file.
        path: PathBuf,
        /// The partial line.
        last: String,
    },
}

/// How many numbers `path` holds, provided they are exactly 0..n in order.
pub fn gapless_count(path: &Path) -> Result<u64, CounterError> {
    let text = fs::read_to_string(path).map_err(|source| CounterError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if !text.is_empty() && !text.ends_with('\n') {
        return Err(CounterError::Unterminated {
            path: path.to_path_buf(),
            last: text.lines().last().unwrap_or_default().to_owned(),
        });
    }
    let mut expected = 0_u64;
    for (index, line) in text.lines().enumerate() {
        if line.parse::<u64>().ok() != Some(expected) {
            return Err(CounterError::Broken {
                path: path.to_path_buf(),
                line: index + 1,
                expected,
                found: line.to_owned(),
            });
        }
        expected += 1;
    }
    Ok(expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TempDir;

    fn count_of(text: &str) -> Result<u64, CounterError> {
        let dir = TempDir::new("counter").expect("temp dir");
        let file = dir.path().join("count");
        fs::write(&file, text).expect("write");
        gapless_count(&file)
    }

    #[test]
    fn a_clean_count_is_counted() {
        assert_eq!(count_of("").ok(), Some(0));
        assert_eq!(count_of("0\n1\n2\n").ok(), Some(3));
    }

    #[test]
    fn a_gap_a_repeat_and_a_cut_line_are_caught() {
        assert!(matches!(
            count_of("0\n2\n"),
            Err(CounterError::Broken {
                line: 2,
                expected: 1,
                ..
            })
        ));
        assert!(matches!(
            count_of("0\n1\n1\n"),
            Err(CounterError::Broken { line: 3, .. })
        ));
        assert!(matches!(
            count_of("0\n1"),
            Err(CounterError::Unterminated { .. })
        ));
    }
}
