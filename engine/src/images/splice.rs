//! Moving bytes from a pipe into an image file with splice(2), without a copy
//! through crust's memory.

use std::fs::File;
use std::os::fd::BorrowedFd;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{splice, SpliceFFlags};

use super::error::ImageError;

/// Splices exactly `len` bytes from `pipe` to the end of `file`, which is at
/// `offset`, looping over partial splices. A pipe that runs dry before `len`
/// bytes came is an error: the writer of the pipe promised them.
pub(crate) fn splice_exact(
    pipe: BorrowedFd<'_>,
    file: &File,
    path: &Path,
    offset: u64,
    len: usize,
) -> Result<(), ImageError> {
    let mut done = 0usize;
    while done < len {
        let want = len - done;
        let at = offset.saturating_add(done as u64);
        let moved = match splice(pipe, None, file, None, want, SpliceFFlags::SPLICE_F_MOVE) {
            Ok(moved) => moved,
            Err(Errno::EINTR) => continue,
            Err(source) => {
                return Err(ImageError::Splice {
                    path: path.into(),
                    offset: at,
                    len: want,
                    source,
                })
            }
        };
        if moved == 0 {
            return Err(ImageError::SpliceShort {
                path: path.into(),
                offset: at,
                missing: want,
            });
        }
        done += moved;
    }
    Ok(())
}
