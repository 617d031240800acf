//! `fs-PID.img` (cwd and root as ids of directory entries in files.img,
//! umask) and `pipes-data.img` (each pipe's queued bytes, right after its
//! `pipe_data_entry`).

use std::collections::HashSet;
use std::io::ErrorKind;

use super::error::{check_range, fit, CodecError};
use super::files::ReadFiles;
use crate::images::fs::FsEntry;
use crate::images::pipe::PipeDataEntry;
use crate::images::{ImageDir, ImageError, ImageKind, ImageName};
use crate::snapshot::ProcessSnapshot;

/// Most pipes with queued data crust reads for one task.
const MAX_PIPES: usize = 1 << 16;

/// Writes `fs-PID.img` naming the cwd and root entries `cwd_id`, `root_id`.
pub(crate) fn write_fs(
    dir: &ImageDir,
    process: &ProcessSnapshot,
    cwd_id: u32,
    root_id: u32,
) -> Result<(), CodecError> {
    let entry = FsEntry {
        cwd_id,
        root_id,
        umask: Some(process.umask),
    };
    let pid = fit(process.pid, "pid", process.pid)?;
    dir.write_one(ImageName::with_id(ImageKind::Fs, pid), &entry)?;
    Ok(())
}

/// Writes `pipes-data.img` (and `fifo-data.img` when the tree holds FIFOs): an entry per
/// pipe of the tree, its bytes after it.
pub(crate) fn write_pipe_data(
    dir: &ImageDir,
    processes: &[ProcessSnapshot],
) -> Result<(), CodecError> {
    let fifos: HashSet<u32> = processes
        .iter()
        .flat_map(|p| &p.files)
        .filter_map(|f| match f {
            crate::snapshot::FileSnapshot::Fifo { fifo, .. } => Some(fifo.pipe_id),
            _ => None,
        })
        .collect();
    write_queued(dir, ImageKind::PipesData, processes, &|id| {
        !fifos.contains(&id)
    })?;
    if !fifos.is_empty() {
        write_queued(dir, ImageKind::FifoData, processes, &|id| {
            fifos.contains(&id)
        })?;
    }
    Ok(())
}

/// Writes the queued bytes of the pipes `wanted` says yes to into image `kind`.
fn write_queued(
    dir: &ImageDir,
    kind: ImageKind,
    processes: &[ProcessSnapshot],
    wanted: &dyn Fn(u32) -> bool,
) -> Result<(), CodecError> {
    let mut writer = dir.writer(ImageName::fixed(kind))?;
    let mut written = HashSet::new();
    for process in processes {
        for (pipe_id, data) in &process.pipe_data {
            if !wanted(*pipe_id) || !written.insert(*pipe_id) {
                continue;
            }
            let entry = PipeDataEntry {
                pipe_id: *pipe_id,
                bytes: fit(process.pid, "pipe data length", data.len() as u64)?,
                size: None,
            };
            writer.write_entry(&entry)?;
            writer.write_payload(data)?;
        }
    }
    writer.finish()?;
    Ok(())
}

/// The task's filesystem context read back.
pub(crate) struct ReadFs {
    pub cwd_id: u32,
    pub cwd: String,
    pub root: String,
    pub umask: u32,
}

/// Reads `fs-PID.img` and resolves its directories in `files`.
pub(crate) fn read_fs(dir: &ImageDir, pid: i32, files: &ReadFiles) -> Result<ReadFs, CodecError> {
    let name = ImageName::with_id(ImageKind::Fs, u32::try_from(pid).unwrap_or(0));
    let path = dir.file_path(name);
    let entry: FsEntry = dir.read_one(name)?;
    let umask = entry.umask.ok_or(CodecError::MissingField {
        path: path.clone(),
        what: "umask",
    })?;
    Ok(ReadFs {
        cwd_id: entry.cwd_id,
        cwd: files.regular(&path, "cwd_id", entry.cwd_id)?.path.clone(),
        root: files.regular(&path, "root_id", entry.root_id)?.path.clone(),
        umask: check_range(&path, "umask", umask, 0..=0o777)?,
    })
}

/// Reads `pipes-data.img`. It must be there when `files.img` has a pipe:
/// without it a pipe's queued bytes would be lost without a word. (crust
/// always writes it; CRIU writes it only when some pipe holds data, so a
/// CRIU dump whose pipes are all empty but lacks the file is refused too.)
pub(crate) fn read_pipe_data(
    dir: &ImageDir,
    has_pipes: bool,
) -> Result<Vec<(u32, Vec<u8>)>, CodecError> {
    read_queued(dir, ImageKind::PipesData, has_pipes)
}

/// Reads `fifo-data.img`, needed when `has_fifos`.
pub(crate) fn read_fifo_data(
    dir: &ImageDir,
    has_fifos: bool,
) -> Result<Vec<(u32, Vec<u8>)>, CodecError> {
    read_queued(dir, ImageKind::FifoData, has_fifos)
}

fn read_queued(
    dir: &ImageDir,
    kind: ImageKind,
    has_pipes: bool,
) -> Result<Vec<(u32, Vec<u8>)>, CodecError> {
    let name = ImageName::fixed(kind);
    let path = dir.file_path(name);
    let mut reader = match dir.reader(name) {
        Ok(reader) => reader,
        Err(ImageError::OpenFile { source, .. })
            if source.kind() == ErrorKind::NotFound && !has_pipes =>
        {
            return Ok(Vec::new())
        }
        Err(ImageError::OpenFile { source, .. }) if source.kind() == ErrorKind::NotFound => {
            return Err(CodecError::MissingPipeData { path })
        }
        Err(err) => return Err(err.into()),
    };
    let mut seen = HashSet::new();
    let mut pipes = Vec::new();
    while let Some(entry) = reader.next_entry::<PipeDataEntry>()? {
        if pipes.len() == MAX_PIPES {
            return Err(CodecError::BadLength {
                path,
                what: "pipe data entries",
                found: MAX_PIPES + 1,
                expected: MAX_PIPES,
            });
        }
        if !seen.insert(entry.pipe_id) {
            let id = entry.pipe_id.into();
            return Err(CodecError::DuplicateId {
                path,
                what: "pipe id",
                id,
            });
        }
        let data = reader.read_payload(entry.bytes.into())?;
        pipes.push((entry.pipe_id, data));
    }
    Ok(pipes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::scratch::ScratchDir;

    fn empty_dump(tag: &str) -> (ScratchDir, ImageDir) {
        let scratch = ScratchDir::new(tag);
        std::fs::create_dir_all(scratch.path()).unwrap();
        let dir = ImageDir::open(scratch.path()).unwrap();
        (scratch, dir)
    }

    #[test]
    fn missing_pipe_data_is_refused_when_files_has_pipes() {
        let (scratch, dir) = empty_dump("codec-pipes-missing");
        let error = read_pipe_data(&dir, true).unwrap_err();
        let expected = format!(
            "{}/pipes-data.img is missing, and files.img describes pipes whose contents it holds",
            scratch.path().display()
        );
        assert_eq!(error.to_string(), expected);
    }

    #[test]
    fn missing_pipe_data_is_no_data_when_there_are_no_pipes() {
        let (_scratch, dir) = empty_dump("codec-pipes-none");
        assert_eq!(read_pipe_data(&dir, false).unwrap(), Vec::new());
    }

    #[test]
    fn an_empty_pipe_data_image_reads_as_no_data() {
        let scratch = ScratchDir::new("codec-pipes-empty");
        let dump = ImageDir::create(scratch.path()).unwrap();
        dump.writer(ImageName::fixed(ImageKind::PipesData))
            .unwrap()
            .finish()
            .unwrap();
        dump.commit().unwrap();
        let dir = ImageDir::open(scratch.path()).unwrap();
        assert_eq!(read_pipe_data(&dir, true).unwrap(), Vec::new());
    }
}
