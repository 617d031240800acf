//! Reading one image file: magics checked, then length-prefixed protobuf
//! entries with every length bounded before anything is allocated.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use super::error::ImageError;
use super::kind::ImageKind;

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
        let file = File::open(path).map_err(open_err)?;
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
