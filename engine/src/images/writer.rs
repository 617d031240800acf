//! Writing one image file: magics, then length-prefixed protobuf entries,
//! with optional raw payloads after an entry.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};

use super::error::ImageError;
use super::kind::ImageKind;
use super::splice::splice_exact;

/// An image file being written. Call [`ImageWriter::finish`]: dropping a
/// writer loses the buffered tail silently.
pub struct ImageWriter {
    path: PathBuf,
    out: BufWriter<File>,
    offset: u64,
}

impl ImageWriter {
    /// Takes a freshly created file and writes the kind's magics.
    pub(crate) fn start(path: PathBuf, file: File, kind: ImageKind) -> Result<Self, ImageError> {
        let mut writer = ImageWriter {
            path,
            out: BufWriter::new(file),
            offset: 0,
        };
        for magic in kind.magics() {
            writer.put(&magic.to_le_bytes())?;
        }
        Ok(writer)
    }

    /// Path of the file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes written so far, magics included.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Appends one entry: its encoded length as a little-endian u32, then
    /// the protobuf bytes.
    pub fn write_entry<M: prost::Message>(&mut self, entry: &M) -> Result<(), ImageError> {
        let bytes = entry.encode_to_vec();
        let len = u32::try_from(bytes.len()).map_err(|_| ImageError::TooLarge {
            path: self.path.clone(),
            offset: self.offset,
            what: "entry",
            len: bytes.len() as u64,
            limit: u64::from(u32::MAX),
        })?;
        self.put(&len.to_le_bytes())?;
        self.put(&bytes)
    }

    /// Appends raw bytes after an entry (the data of a `pipe_data_entry`).
    pub fn write_payload(&mut self, bytes: &[u8]) -> Result<(), ImageError> {
        self.put(bytes)
    }

    /// Appends exactly `len` bytes read from `pipe` with splice(2).
    pub fn splice_payload(&mut self, pipe: BorrowedFd<'_>, len: usize) -> Result<(), ImageError> {
        self.flush()?;
        splice_exact(pipe, self.out.get_ref(), &self.path, self.offset, len)?;
        self.offset = self.offset.saturating_add(len as u64);
        Ok(())
    }

    /// Flushes what is buffered and closes the file.
    pub fn finish(mut self) -> Result<(), ImageError> {
        self.flush()
    }

    fn flush(&mut self) -> Result<(), ImageError> {
        self.out.flush().map_err(|source| ImageError::Write {
            path: self.path.clone(),
            offset: self.offset,
            source,
        })
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), ImageError> {
        self.out
            .write_all(bytes)
            .map_err(|source| ImageError::Write {
                path: self.path.clone(),
                offset: self.offset,
                source,
            })?;
        self.offset = self.offset.saturating_add(bytes.len() as u64);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::fd::AsFd;

    use crate::images::pipe::PipeDataEntry;
    use crate::images::scratch::ScratchDir;
    use crate::images::{ImageDir, ImageKind, ImageName};

    #[test]
    fn payloads_spliced_from_a_pipe_follow_their_entry() {
        let scratch = ScratchDir::new("writer-splice");
        let dir = ImageDir::create(scratch.path()).unwrap();
        let name = ImageName::fixed(ImageKind::PipesData);
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
        let (rx, tx) = nix::unistd::pipe().unwrap();
        let feeder = std::thread::spawn({
            let data = data.clone();
            move || std::fs::File::from(tx).write_all(&data).unwrap()
        });

        let mut writer = dir.writer(name).unwrap();
        let entry = PipeDataEntry {
            pipe_id: 9,
            bytes: data.len() as u32,
            size: None,
        };
        writer.write_entry(&entry).unwrap();
        writer.splice_payload(rx.as_fd(), data.len()).unwrap();
        writer
            .write_entry(&PipeDataEntry {
                pipe_id: 10,
                bytes: 2,
                size: None,
            })
            .unwrap();
        writer.write_payload(b"ok").unwrap();
        writer.finish().unwrap();
        feeder.join().unwrap();

        let mut reader = dir.reader(name).unwrap();
        let first: PipeDataEntry = reader.next_entry().unwrap().unwrap();
        assert_eq!(first, entry);
        assert!(reader.read_payload(u64::from(first.bytes)).unwrap() == data);
        let second: PipeDataEntry = reader.next_entry().unwrap().unwrap();
        assert_eq!(reader.read_payload(u64::from(second.bytes)).unwrap(), b"ok");
        assert_eq!(reader.remaining(), 0);
    }
}
