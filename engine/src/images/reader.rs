//! Reading one image file: magics checked, then length-prefixed protobuf
//! entries with every length bounded before anything is allocated.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use super::error::ImageError;
use super::kind::ImageKind;
use super::open::open_image_file;

/// No entry or payload in an image is larger than this; a length past it
/// is damage, not data. (CRIU's largest entries, cores with xsave state and
/// mm entries with thousands of VMAs, are well under a megabyte.)
pub const MAX_ENTRY_LEN: u64 = 64 << 20;

/// An image file being read, from a file or from bytes in memory.
pub struct ImageReader<R> {
    path: PathBuf,
    src: R,
    offset: u64,
    len: u64,
}

impl ImageReader<BufReader<File>> {
    /// Opens an image file and checks its magics.
    pub fn open(path: &Path, kind: ImageKind) -> Result<Self, ImageError> {
        let open_err = |source| ImageError::OpenFile {
            path: path.into(),
            source,
        };
        let file = open_image_file(path)?;
        let len = file.metadata().map_err(open_err)?.len();
        ImageReader::start(path.into(), BufReader::new(file), len, kind)
    }
}

impl<'a> ImageReader<&'a [u8]> {
    /// Reads an image held in memory; `path` only names it in errors.
    pub fn from_bytes(path: &Path, bytes: &'a [u8], kind: ImageKind) -> Result<Self, ImageError> {
        ImageReader::start(path.into(), bytes, bytes.len() as u64, kind)
    }
}

impl<R: Read> ImageReader<R> {
    fn start(path: PathBuf, src: R, len: u64, kind: ImageKind) -> Result<Self, ImageError> {
        let mut reader = ImageReader {
            path,
            src,
            offset: 0,
            len,
        };
        for &expected in kind.magics() {
            let at = reader.offset;
            let found = u32::from_le_bytes(reader.take_array("magic")?);
            if found != expected {
                let path = reader.path;
                return Err(ImageError::BadMagic {
                    path,
                    offset: at,
                    expected,
                    found,
                });
            }
        }
        Ok(reader)
    }

    /// Path the image was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Offset of the next byte to be read.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Bytes left after the current offset.
    pub fn remaining(&self) -> u64 {
        self.len.saturating_sub(self.offset)
    }

    /// Reads the next entry, or `None` at the end of the file.
    pub fn next_entry<M: prost::Message + Default>(&mut self) -> Result<Option<M>, ImageError> {
        if self.remaining() == 0 {
            return Ok(None);
        }
        let len = u32::from_le_bytes(self.take_array("entry length")?);
        let at = self.offset;
        let bytes = self.take_vec(u64::from(len), "entry")?;
        let entry = M::decode(bytes.as_slice()).map_err(|source| ImageError::Decode {
            path: self.path.clone(),
            offset: at,
            source,
        })?;
        Ok(Some(entry))
    }

    /// Reads every entry up to the end of the file.
    pub fn read_entries<M: prost::Message + Default>(&mut self) -> Result<Vec<M>, ImageError> {
        let mut entries = Vec::new();
        while let Some(entry) = self.next_entry()? {
            entries.push(entry);
        }
        Ok(entries)
    }

    /// Reads the one entry of an image that holds exactly one.
    pub fn read_one<M: prost::Message + Default>(&mut self) -> Result<M, ImageError> {
        let entry = self.next_entry()?.ok_or_else(|| ImageError::MissingEntry {
            path: self.path.clone(),
        })?;
        if self.remaining() != 0 {
            return Err(ImageError::TrailingData {
                path: self.path.clone(),
                offset: self.offset,
            });
        }
        Ok(entry)
    }

    /// Reads the `len` raw bytes that follow an entry (pipe data).
    pub fn read_payload(&mut self, len: u64) -> Result<Vec<u8>, ImageError> {
        self.take_vec(len, "payload")
    }

    /// Steps over the `len` raw bytes that follow an entry and returns the
    /// offset where they start, for a caller that moves them itself (pread,
    /// splice from its own descriptor).
    pub fn skip_payload(&mut self, len: u64) -> Result<u64, ImageError> {
        let at = self.offset;
        self.check_fits(len, "payload")?;
        let copied = std::io::copy(&mut (&mut self.src).take(len), &mut std::io::sink())
            .map_err(|source| self.read_error(source))?;
        if copied != len {
            return Err(self.truncated("payload", len));
        }
        self.offset += len;
        Ok(at)
    }

    fn take_array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], ImageError> {
        let mut bytes = [0u8; N];
        self.check_fits(N as u64, what)?;
        self.src
            .read_exact(&mut bytes)
            .map_err(|source| self.read_error(source))?;
        self.offset += N as u64;
        Ok(bytes)
    }

    fn take_vec(&mut self, len: u64, what: &'static str) -> Result<Vec<u8>, ImageError> {
        self.check_fits(len, what)?;
        let size = usize::try_from(len).map_err(|_| self.too_large(len, what))?;
        let mut bytes = vec![0u8; size];
        self.src
            .read_exact(&mut bytes)
            .map_err(|source| self.read_error(source))?;
        self.offset += len;
        Ok(bytes)
    }

    /// Checks a length against the cap and against what is left in the file.
    fn check_fits(&self, len: u64, what: &'static str) -> Result<(), ImageError> {
        if len > MAX_ENTRY_LEN {
            return Err(self.too_large(len, what));
        }
        if len > self.remaining() {
            return Err(self.truncated(what, len));
        }
        Ok(())
    }

    fn too_large(&self, len: u64, what: &'static str) -> ImageError {
        let (path, offset) = (self.path.clone(), self.offset);
        ImageError::TooLarge {
            path,
            offset,
            what,
            len,
            limit: MAX_ENTRY_LEN,
        }
    }

    fn truncated(&self, what: &'static str, needed: u64) -> ImageError {
        let (path, offset, remaining) = (self.path.clone(), self.offset, self.remaining());
        ImageError::Truncated {
            path,
            offset,
            what,
            needed,
            remaining,
        }
    }

    fn read_error(&self, source: std::io::Error) -> ImageError {
        ImageError::Read {
            path: self.path.clone(),
            offset: self.offset,
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::fs::FsEntry;
    use crate::images::kind::IMG_COMMON_MAGIC;
    use crate::images::pstree::PstreeEntry;

    const FS_MAGIC: u32 = 0x5140_3912;

    fn image(entries: &[&[u8]]) -> Vec<u8> {
        let mut bytes = [IMG_COMMON_MAGIC, FS_MAGIC].map(u32::to_le_bytes).concat();
        for entry in entries {
            bytes.extend_from_slice(&(entry.len() as u32).to_le_bytes());
            bytes.extend_from_slice(entry);
        }
        bytes
    }

    fn fs_entry(umask: u32) -> Vec<u8> {
        prost::Message::encode_to_vec(&FsEntry {
            cwd_id: 1,
            root_id: 2,
            umask: Some(umask),
        })
    }

    fn reader(bytes: &[u8]) -> Result<ImageReader<&[u8]>, ImageError> {
        ImageReader::from_bytes(Path::new("fs-1.img"), bytes, ImageKind::Fs)
    }

    #[test]
    fn reads_entries_in_order() {
        let bytes = image(&[&fs_entry(0o022), &fs_entry(0o077)]);
        let entries: Vec<FsEntry> = reader(&bytes).unwrap().read_entries().unwrap();
        let umasks: Vec<_> = entries.iter().map(|e| e.umask).collect();
        assert_eq!(umasks, [Some(0o022), Some(0o077)]);
    }

    #[test]
    fn an_empty_entry_is_the_default_message() {
        let bytes = image(&[&[]]);
        let entry: PstreeEntry = reader(&bytes).unwrap().read_one().unwrap();
        assert_eq!(entry, PstreeEntry::default());
    }

    #[test]
    fn wrong_magic_names_both_values() {
        let mut bytes = image(&[]);
        bytes[4] ^= 0xff;
        match reader(&bytes) {
            Err(ImageError::BadMagic {
                offset: 4,
                expected: FS_MAGIC,
                found,
                ..
            }) => {
                assert_eq!(found, FS_MAGIC ^ 0xff)
            }
            other => panic!("{:?}", other.err()),
        }
        let text = reader(&bytes).err().unwrap().to_string();
        assert!(
            text.contains("fs-1.img") && text.contains("0x51403912"),
            "{text}"
        );
    }

    #[test]
    fn a_file_shorter_than_its_magics_is_truncated() {
        let bytes = image(&[]);
        let err = reader(&bytes[..6]).err().unwrap();
        assert!(
            matches!(
                err,
                ImageError::Truncated {
                    offset: 4,
                    what: "magic",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_length_past_the_end_is_refused_before_allocating() {
        let mut bytes = image(&[&fs_entry(0)]);
        bytes[8..12].copy_from_slice(&1000u32.to_le_bytes());
        let err = reader(&bytes).unwrap().next_entry::<FsEntry>().unwrap_err();
        assert!(
            matches!(
                err,
                ImageError::Truncated {
                    offset: 12,
                    what: "entry",
                    needed: 1000,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_length_over_the_cap_is_refused() {
        let mut bytes = image(&[]);
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        let err = reader(&bytes).unwrap().next_entry::<FsEntry>().unwrap_err();
        assert!(
            matches!(err, ImageError::TooLarge { what: "entry", .. }),
            "{err}"
        );
    }

    #[test]
    fn a_torn_length_prefix_is_truncated() {
        let mut bytes = image(&[]);
        bytes.extend_from_slice(&[1, 0]);
        let err = reader(&bytes).unwrap().next_entry::<FsEntry>().unwrap_err();
        assert!(
            matches!(
                err,
                ImageError::Truncated {
                    what: "entry length",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn garbage_protobuf_is_a_decode_error_with_its_offset() {
        let bytes = image(&[&[0xff, 0xff, 0xff]]);
        let err = reader(&bytes).unwrap().next_entry::<FsEntry>().unwrap_err();
        assert!(
            matches!(err, ImageError::Decode { offset: 12, .. }),
            "{err}"
        );
    }

    #[test]
    fn read_one_wants_exactly_one_entry() {
        let empty = image(&[]);
        let err = reader(&empty).unwrap().read_one::<FsEntry>().unwrap_err();
        assert!(matches!(err, ImageError::MissingEntry { .. }), "{err}");
        let two = image(&[&fs_entry(0), &fs_entry(1)]);
        let err = reader(&two).unwrap().read_one::<FsEntry>().unwrap_err();
        assert!(matches!(err, ImageError::TrailingData { .. }), "{err}");
    }

    #[test]
    fn payloads_are_bounded_by_the_file() {
        let mut bytes = image(&[&fs_entry(0)]);
        bytes.extend_from_slice(b"abc");
        let mut r = reader(&bytes).unwrap();
        r.next_entry::<FsEntry>().unwrap();
        let at = r.offset();
        assert!(matches!(
            r.read_payload(4),
            Err(ImageError::Truncated { .. })
        ));
        assert_eq!(r.skip_payload(3).unwrap(), at);
        assert_eq!(r.remaining(), 0);
    }
}
