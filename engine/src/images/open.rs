//! Opening an image file for reading without ever blocking: a FIFO, a
//! device or a directory put (or linked) where an image should be is named
//! as what it is, not waited on.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use nix::fcntl::{fcntl, FcntlArg, OFlag};

use super::error::ImageError;

/// Opens `path` read-only and checks that it is a regular file.
///
/// O_NONBLOCK makes open(2) of a FIFO with no writer return at once instead
/// of waiting for one; O_NOCTTY keeps a terminal from becoming crust's. The
/// flag is cleared again so that reads of the (regular) file behave as usual.
pub fn open_image_file(path: &Path) -> Result<File, ImageError> {
    let open_err = |source| ImageError::OpenFile {
        path: path.into(),
        source,
    };
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(open_err)?;
    let file_type = file.metadata().map_err(open_err)?.file_type();
    if let Some(what) = not_regular(&file_type) {
        return Err(ImageError::NotRegular {
            path: path.into(),
            what,
        });
    }
    clear_nonblock(&file).map_err(|errno| open_err(errno.into()))?;
    Ok(file)
}

/// What a file that is not a regular file is, in words.
fn not_regular(file_type: &std::fs::FileType) -> Option<&'static str> {
    if file_type.is_file() {
        None
    } else if file_type.is_fifo() {
        Some("FIFO")
    } else if file_type.is_dir() {
        Some("directory")
    } else if file_type.is_char_device() {
        Some("character device")
    } else if file_type.is_block_device() {
        Some("block device")
    } else if file_type.is_socket() {
        Some("socket")
    } else {
        Some("special file")
    }
}

fn clear_nonblock(file: &File) -> nix::Result<()> {
    let fd = file.as_raw_fd();
    let flags = OFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags - OFlag::O_NONBLOCK))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;
    use std::path::PathBuf;
    use std::sync::mpsc;
    use std::time::Duration;

    use nix::sys::stat::Mode;

    use super::*;
    use crate::images::scratch::ScratchDir;
    use crate::images::{ImageDir, ImageKind, ImageName};

    /// Runs `open` on another thread and fails the test, rather than hanging
    /// it, if the call does not return within a few seconds.
    fn without_blocking<T: Send + 'static>(open: impl FnOnce() -> T + Send + 'static) -> T {
        let (sent, received) = mpsc::channel();
        std::thread::spawn(move || sent.send(open()));
        received
            .recv_timeout(Duration::from_secs(5))
            .expect("opening the image blocked")
    }

    fn dump_dir(tag: &str) -> (ScratchDir, PathBuf) {
        let scratch = ScratchDir::new(tag);
        std::fs::create_dir_all(scratch.path()).unwrap();
        let path = scratch.path().to_path_buf();
        (scratch, path)
    }

    #[test]
    fn a_fifo_core_image_is_named_as_a_fifo_without_blocking() {
        let (_scratch, dir) = dump_dir("open-fifo");
        nix::unistd::mkfifo(&dir.join("core-42.img"), Mode::from_bits_truncate(0o600)).unwrap();
        let images = ImageDir::open(&dir).unwrap();
        let error = without_blocking(move || {
            images
                .reader(ImageName::with_id(ImageKind::Core, 42))
                .err()
                .map(|e| e.to_string())
        });
        let expected = format!("{}/core-42.img is a FIFO, not an image file", dir.display());
        assert_eq!(error.as_deref(), Some(expected.as_str()));
    }

    #[test]
    fn a_fifo_pages_file_is_named_as_a_fifo_without_blocking() {
        let (_scratch, dir) = dump_dir("open-fifo-pages");
        let pages = dir.join("pages-1.img");
        nix::unistd::mkfifo(&pages, Mode::from_bits_truncate(0o600)).unwrap();
        let error = without_blocking(move || open_image_file(&pages).err().map(|e| e.to_string()));
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.ends_with("pages-1.img is a FIFO, not an image file")),
            "{error:?}"
        );
    }

    #[test]
    fn a_link_to_a_device_or_a_directory_is_named_for_what_it_is() {
        let (_scratch, dir) = dump_dir("open-links");
        for (target, what) in [("/dev/zero", "character device"), ("/", "directory")] {
            let link = dir.join("mm-7.img");
            let _ = std::fs::remove_file(&link);
            symlink(target, &link).unwrap();
            let error =
                without_blocking(move || open_image_file(&link).err().map(|e| e.to_string()));
            let expected = format!("{}/mm-7.img is a {what}, not an image file", dir.display());
            assert_eq!(error.as_deref(), Some(expected.as_str()));
        }
    }

    #[test]
    fn a_regular_image_opens_in_blocking_mode() {
        let (_scratch, dir) = dump_dir("open-regular");
        let path = dir.join("inventory.img");
        std::fs::write(&path, b"bytes").unwrap();
        let file = open_image_file(&path).unwrap();
        let flags = OFlag::from_bits_retain(fcntl(file.as_raw_fd(), FcntlArg::F_GETFL).unwrap());
        assert!(!flags.contains(OFlag::O_NONBLOCK), "{flags:?}");
    }

    #[test]
    fn a_missing_image_is_a_failed_open() {
        let (_scratch, dir) = dump_dir("open-missing");
        let error = open_image_file(&dir.join("core-1.img")).unwrap_err();
        assert!(matches!(error, ImageError::OpenFile { .. }), "{error}");
    }
}
