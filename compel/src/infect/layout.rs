//! Where things go in the shared area.
//!
//! ```text
//! 0                 blob image (relocated), page-aligned size not needed
//! trampoline        `syscall; jmp parasite_selfcure` (16-byte aligned)
//! thread_trampoline `syscall; rt_sigreturn` through thread_sigframe (16 bytes later)
//! header            AreaHeader (64-byte aligned)
//! args              args region (64-byte aligned)
//! stack_top         parasite stack grows down from here (page aligned)
//! sigframe          rt_sigframe with the leader's saved state (64-byte aligned)
//! thread_sigframe   rt_sigframe with the saved state of the other thread last given a
//!                   remote syscall (64-byte aligned)
//! size              total, a whole number of pages
//! ```

use std::mem::size_of;

use super::protocol::AreaHeader;

/// Bytes of the parasite's stack unless told otherwise.
pub const DEFAULT_STACK_SIZE: usize = 64 * 1024;
/// Bytes of the args region unless told otherwise: 4096 page ranges.
pub const DEFAULT_ARGS_SIZE: usize = 64 * 1024;
const PAGE_SIZE: usize = 4096;
/// Room for the area trampoline.
const TRAMPOLINE_ROOM: usize = 16;
/// Room for the area trampoline and the threads' one after it.
const TRAMPOLINES_ROOM: usize = TRAMPOLINE_ROOM + 32;

/// Offsets (from the area's start) and sizes of everything in the area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AreaLayout {
    /// Total size, a multiple of the page size.
    pub size: usize,
    /// Length of the blob image at offset 0.
    pub blob_len: usize,
    /// The area trampoline.
    pub trampoline: usize,
    /// The trampoline of the other threads' remote syscalls.
    pub thread_trampoline: usize,
    /// The [`AreaHeader`].
    pub header: usize,
    /// The args region.
    pub args: usize,
    /// Size of the args region.
    pub args_size: usize,
    /// Initial stack pointer region end (the stack grows down from here).
    pub stack_top: usize,
    /// The rt_sigframe.
    pub sigframe: usize,
    /// Room reserved for each rt_sigframe.
    pub sigframe_size: usize,
    /// The rt_sigframe of the other thread running a remote syscall.
    pub thread_sigframe: usize,
}

/// Sizes asked of an area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AreaRequest {
    /// Length of the blob image.
    pub blob_len: usize,
    /// Largest rt_sigframe with the leader's xsave area.
    pub sigframe_size: usize,
    /// Bytes of args region.
    pub args_size: usize,
    /// Bytes of stack.
    pub stack_size: usize,
    /// A fixed total size, or `None` to take what is needed.
    pub area_size: Option<usize>,
}

/// The blob and its data do not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// The sizes add up past the address space.
    #[error("area sizes overflow (blob {blob_len} bytes)")]
    Overflow {
        /// Length of the blob image.
        blob_len: usize,
    },
    /// A fixed area size is smaller than what the blob needs.
    #[error("blob of {blob_len} bytes needs an area of {need} bytes, area is {size}")]
    TooSmall {
        /// Length of the blob image.
        blob_len: usize,
        /// Bytes needed.
        need: usize,
        /// Bytes given.
        size: usize,
    },
}

fn align(value: usize, to: usize) -> Option<usize> {
    value.checked_next_multiple_of(to)
}

impl AreaLayout {
    /// Lays out an area for `request`.
    pub fn plan(request: AreaRequest) -> Result<Self, LayoutError> {
        let overflow = LayoutError::Overflow {
            blob_len: request.blob_len,
        };
        let trampoline = align(request.blob_len, 16).ok_or(overflow)?;
        let header = trampoline
            .checked_add(TRAMPOLINES_ROOM)
            .and_then(|end| align(end, 64));
        let header = header.ok_or(overflow)?;
        let args = header
            .checked_add(size_of::<AreaHeader>())
            .and_then(|end| align(end, 64))
            .ok_or(overflow)?;
        let stack_top = args
            .checked_add(request.args_size)
            .and_then(|end| end.checked_add(request.stack_size))
            .and_then(|end| align(end, PAGE_SIZE))
            .ok_or(overflow)?;
        let thread_sigframe = stack_top
            .checked_add(request.sigframe_size)
            .and_then(|end| align(end, 64))
            .ok_or(overflow)?;
        let need = thread_sigframe
            .checked_add(request.sigframe_size)
            .and_then(|end| align(end, PAGE_SIZE))
            .ok_or(overflow)?;
        let size = match request.area_size {
            None => need,
            Some(size) if size >= need && size % PAGE_SIZE == 0 => size,
            Some(size) => {
                return Err(LayoutError::TooSmall {
                    blob_len: request.blob_len,
                    need,
                    size,
                })
            }
        };
        Ok(AreaLayout {
            size,
            blob_len: request.blob_len,
            trampoline,
            thread_trampoline: trampoline + TRAMPOLINE_ROOM,
            header,
            args,
            args_size: request.args_size,
            stack_top,
            sigframe: stack_top,
            sigframe_size: thread_sigframe - stack_top,
            thread_sigframe,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(blob_len: usize, area_size: Option<usize>) -> AreaRequest {
        AreaRequest {
            blob_len,
            sigframe_size: 3000,
            args_size: DEFAULT_ARGS_SIZE,
            stack_size: DEFAULT_STACK_SIZE,
            area_size,
        }
    }

    #[test]
    fn pieces_are_aligned_and_in_order() {
        let layout = AreaLayout::plan(request(10_001, None)).expect("fits");
        assert_eq!(layout.trampoline, 10_016);
        assert_eq!(layout.header % 64, 0);
        assert!(layout.header >= layout.trampoline + 16);
        assert_eq!(layout.args % 64, 0);
        assert!(layout.args + layout.args_size + DEFAULT_STACK_SIZE <= layout.stack_top);
        assert_eq!(layout.stack_top % 4096, 0);
        assert!(layout.sigframe + 3000 <= layout.thread_sigframe);
        assert_eq!(layout.thread_trampoline, layout.trampoline + 16);
        assert_eq!(layout.thread_sigframe % 64, 0);
        assert!(layout.thread_sigframe + layout.sigframe_size <= layout.size);
        assert_eq!(layout.size % 4096, 0);
    }

    #[test]
    fn too_small_area_is_refused_with_sizes() {
        let error = AreaLayout::plan(request(10_001, Some(4096)));
        let need = AreaLayout::plan(request(10_001, None))
            .map(|l| l.size)
            .unwrap_or(0);
        assert_eq!(
            error,
            Err(LayoutError::TooSmall {
                blob_len: 10_001,
                need,
                size: 4096
            })
        );
    }

    #[test]
    fn huge_blob_overflows_cleanly() {
        let error = AreaLayout::plan(request(usize::MAX - 8, None));
        assert_eq!(
            error,
            Err(LayoutError::Overflow {
                blob_len: usize::MAX - 8
            })
        );
    }
}
