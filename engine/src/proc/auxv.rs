//! `/proc/PID/auxv`: the auxiliary vector as (type, value) pairs of native u64s.

use nix::unistd::Pid;

use super::{proc_path, ProcError};

/// `AT_NULL`: the entry that ends the vector.
pub const AT_NULL: u64 = 0;

/// Read the auxiliary vector of `pid`, up to and without `AT_NULL`.
pub fn auxv(pid: Pid) -> Result<Vec<(u64, u64)>, ProcError> {
    let path = proc_path(pid, "auxv");
    let bytes = std::fs::read(&path).map_err(|source| ProcError::Read { pid, path, source })?;
    Ok(parse_auxv(&bytes))
}

/// Split raw auxv bytes into pairs; a trailing partial pair is dropped.
pub fn parse_auxv(bytes: &[u8]) -> Vec<(u64, u64)> {
    let word = |raw: &[u8]| {
        let mut buf = [0u8; 8];
        buf.copy_from_slice(raw);
        u64::from_ne_bytes(buf)
    };
    bytes
        .chunks_exact(16)
        .map(|pair| (word(&pair[..8]), word(&pair[8..])))
        .take_while(|(kind, _)| *kind != AT_NULL)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_stop_at_null() {
        let mut bytes = Vec::new();
        for word in [6u64, 4096, 25, 0x7ffd0000, 0, 0, 9, 9] {
            bytes.extend_from_slice(&word.to_ne_bytes());
        }
        assert_eq!(parse_auxv(&bytes), vec![(6, 4096), (25, 0x7ffd0000)]);
    }

    #[test]
    fn own_auxv_has_the_page_size() {
        let pairs = auxv(nix::unistd::getpid()).unwrap();
        assert!(pairs.contains(&(libc::AT_PAGESZ, 4096)));
    }
}
