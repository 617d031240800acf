//! `crust show`: an image directory decoded to JSON.

use std::fs::{self, File};
use std::io::{BufReader, Read};
use std::path::Path;

use serde::Serialize;
use serde_json::{json, Value};

use super::core::{CoreEntry, TaskKobjIdsEntry};
use super::error::ImageError;
use super::fdinfo::{FdinfoEntry, FileEntry};
use super::file_lock::FileLockEntry;
use super::fs::FsEntry;
use super::ghost::{GhostChunkEntry, GhostFileEntry, RemapFilePathEntry};
use super::inventory::InventoryEntry;
use super::ipc::{padding, IpcMsg, IpcMsgEntry, IpcSemEntry, IpcShmEntry, IpcVarEntry};
use super::ipc::{SEM_MSG_ALIGN, SHM_ALIGN};
use super::json::drop_nulls;
use super::kind::{ImageKind, ImageName};
use super::memfd::MemfdInodeEntry;
use super::mm::MmEntry;
use super::pagemap::{PagemapEntry, PagemapHead};
use super::pipe::PipeDataEntry;
use super::pstree::PstreeEntry;
use super::reader::ImageReader;
use super::seccomp::SeccompEntry;
use super::sk_packet::SkPacketEntry;
use super::tty::{TtyDataEntry, TtyInfoEntry};

/// Every file of an image directory: known images decoded (pages files only
/// measured), other files listed as unknown. A file that fails to decode is
/// shown with its error, so a damaged dump can still be looked at. A
/// directory with no image at all (empty, or only a dump's staging area) is
/// an error.
pub fn show_dir(path: &Path) -> Result<Value, ImageError> {
    let read_err = |source| ImageError::ReadDir {
        path: path.into(),
        source,
    };
    let mut files = Vec::new();
    for dirent in fs::read_dir(path).map_err(read_err)? {
        files.push(dirent.map_err(read_err)?.file_name());
    }
    files.sort();
    let is_image = |file: &std::ffi::OsString| file.to_str().and_then(ImageName::parse).is_some();
    if !files.iter().any(is_image) {
        return Err(ImageError::NoImages { path: path.into() });
    }
    let mut images = Vec::with_capacity(files.len());
    for file in files {
        let file_name = file.to_string_lossy().into_owned();
        let file_path = path.join(&file);
        let shown = match ImageName::parse(&file_name) {
            Some(name) => show_image(&file_path, name).unwrap_or_else(
                |err| json!({"file": file_name, "kind": name.kind, "error": err.to_string()}),
            ),
            None => json!({"file": file_name, "kind": "unknown", "size": file_size(&file_path)}),
        };
        images.push(shown);
    }
    Ok(json!({"path": path.display().to_string(), "images": images}))
}

/// One image file decoded to JSON: its file name, kind and entries.
pub fn show_image(path: &Path, name: ImageName) -> Result<Value, ImageError> {
    let file_name = name.to_string();
    if name.kind == ImageKind::Pages {
        return Ok(json!({"file": file_name, "kind": name.kind, "size": file_size(path)}));
    }
    let mut reader = ImageReader::open(path, name.kind)?;
    let mut entries = decode_entries(&mut reader, name.kind)?;
    entries.iter_mut().for_each(drop_nulls);
    Ok(json!({"file": file_name, "kind": name.kind, "entries": entries}))
}

fn decode_entries(
    reader: &mut ImageReader<BufReader<File>>,
    kind: ImageKind,
) -> Result<Vec<Value>, ImageError> {
    match kind {
        ImageKind::Inventory => to_json::<InventoryEntry, _>(reader),
        ImageKind::Pstree => to_json::<PstreeEntry, _>(reader),
        ImageKind::Core => to_json::<CoreEntry, _>(reader),
        ImageKind::Ids => to_json::<TaskKobjIdsEntry, _>(reader),
        ImageKind::Mm => to_json::<MmEntry, _>(reader),
        ImageKind::Pagemap | ImageKind::ShmemPagemap => pagemap_to_json(reader),
        ImageKind::Fdinfo => to_json::<FdinfoEntry, _>(reader),
        ImageKind::Files => to_json::<FileEntry, _>(reader),
        ImageKind::Fs => to_json::<FsEntry, _>(reader),
        ImageKind::PipesData | ImageKind::FifoData => {
            with_payload_to_json::<PipeDataEntry, _>(reader, |e| e.bytes)
        }
        ImageKind::Seccomp => to_json::<SeccompEntry, _>(reader),
        ImageKind::SkQueues => with_payload_to_json::<SkPacketEntry, _>(reader, |e| e.length),
        ImageKind::TtyInfo => to_json::<TtyInfoEntry, _>(reader),
        ImageKind::TtyData => to_json::<TtyDataEntry, _>(reader),
        ImageKind::FileLocks => to_json::<FileLockEntry, _>(reader),
        ImageKind::Pages => Ok(Vec::new()),
        ImageKind::RemapFpath => to_json::<RemapFilePathEntry, _>(reader),
        ImageKind::GhostFile => ghost_file_to_json(reader),
        ImageKind::MemfdInode => to_json::<MemfdInodeEntry, _>(reader),
        ImageKind::IpcVar => to_json::<IpcVarEntry, _>(reader),
        ImageKind::IpcShm => {
            padded_payload_to_json::<IpcShmEntry, _>(reader, SHM_ALIGN, |e| e.size)
        }
        ImageKind::IpcSem => padded_payload_to_json::<IpcSemEntry, _>(reader, SEM_MSG_ALIGN, |e| {
            2 * u64::from(e.nsems)
        }),
        ImageKind::IpcMsg => msg_queues_to_json(reader),
    }
}

fn to_json<M, R>(reader: &mut ImageReader<R>) -> Result<Vec<Value>, ImageError>
where
    M: prost::Message + Default + Serialize,
    R: Read,
{
    let mut values = Vec::new();
    while let Some(entry) = reader.next_entry::<M>()? {
        values.push(value_of(reader.path(), &entry)?);
    }
    Ok(values)
}

/// The head entry, then runs.
fn pagemap_to_json<R: Read>(reader: &mut ImageReader<R>) -> Result<Vec<Value>, ImageError> {
    let mut values = Vec::new();
    if let Some(head) = reader.next_entry::<PagemapHead>()? {
        values.push(value_of(reader.path(), &head)?);
    }
    values.extend(to_json::<PagemapEntry, R>(reader)?);
    Ok(values)
}

/// The inode entry, then each chunk with the length of its data (or the length of the raw
/// contents, when the file is not in chunks).
fn ghost_file_to_json<R: Read>(reader: &mut ImageReader<R>) -> Result<Vec<Value>, ImageError> {
    let Some(head) = reader.next_entry::<GhostFileEntry>()? else {
        return Ok(Vec::new());
    };
    let mut values = vec![value_of(reader.path(), &head)?];
    if head.chunks != Some(true) {
        let len = reader.remaining();
        reader.skip_payload(len)?;
        values[0]["extra"] = json!(format!("<{len} bytes>"));
        return Ok(values);
    }
    while let Some(chunk) = reader.next_entry::<GhostChunkEntry>()? {
        reader.skip_payload(chunk.len)?;
        let mut value = value_of(reader.path(), &chunk)?;
        value["extra"] = json!(format!("<{} bytes>", chunk.len));
        values.push(value);
    }
    Ok(values)
}

/// Each entry with the length of the data that follows it, not the data.
fn with_payload_to_json<M, R>(
    reader: &mut ImageReader<R>,
    payload_len: impl Fn(&M) -> u32,
) -> Result<Vec<Value>, ImageError>
where
    M: prost::Message + Default + Serialize,
    R: Read,
{
    let mut values = Vec::new();
    while let Some(entry) = reader.next_entry::<M>()? {
        let len = payload_len(&entry);
        reader.skip_payload(u64::from(len))?;
        let mut value = value_of(reader.path(), &entry)?;
        value["extra"] = json!(format!("<{len} bytes>"));
        values.push(value);
    }
    Ok(values)
}

/// Entries each followed by `payload_len` bytes padded to `align`.
fn padded_payload_to_json<M, R>(
    reader: &mut ImageReader<R>,
    align: u64,
    payload_len: impl Fn(&M) -> u64,
) -> Result<Vec<Value>, ImageError>
where
    M: prost::Message + Default + Serialize,
    R: Read,
{
    let mut values = Vec::new();
    while let Some(entry) = reader.next_entry::<M>()? {
        let len = payload_len(&entry);
        reader.skip_payload(len)?;
        reader.skip_payload(padding(len, align))?;
        let mut value = value_of(reader.path(), &entry)?;
        value["extra"] = json!(format!("<{len} bytes>"));
        values.push(value);
    }
    Ok(values)
}

/// Each queue, with its messages (their bodies' lengths).
fn msg_queues_to_json<R: Read>(reader: &mut ImageReader<R>) -> Result<Vec<Value>, ImageError> {
    let mut values = Vec::new();
    while let Some(queue) = reader.next_entry::<IpcMsgEntry>()? {
        let mut messages = Vec::new();
        for _ in 0..queue.qnum {
            let message =
                reader
                    .next_entry::<IpcMsg>()?
                    .ok_or_else(|| ImageError::MissingEntry {
                        path: reader.path().into(),
                    })?;
            let len = u64::from(message.msize);
            reader.skip_payload(len)?;
            reader.skip_payload(padding(len, SEM_MSG_ALIGN))?;
            messages.push(value_of(reader.path(), &message)?);
        }
        let mut value = value_of(reader.path(), &queue)?;
        value["messages"] = Value::Array(messages);
        values.push(value);
    }
    Ok(values)
}

fn value_of<T: Serialize>(path: &Path, entry: &T) -> Result<Value, ImageError> {
    serde_json::to_value(entry).map_err(|source| ImageError::Json {
        path: path.into(),
        source,
    })
}

fn file_size(path: &Path) -> Option<u64> {
    fs::metadata(path).ok().map(|m| m.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::scratch::ScratchDir;
    use crate::images::STAGING_PREFIX;

    #[test]
    fn a_directory_without_images_is_an_error() {
        let scratch = ScratchDir::new("show-empty");
        fs::create_dir_all(scratch.path()).unwrap();
        let expected = format!("{} holds no images", scratch.path().display());
        let error = show_dir(scratch.path()).unwrap_err();
        assert_eq!(error.to_string(), expected);

        let staging = scratch.path().join(format!("{STAGING_PREFIX}1-0"));
        fs::create_dir(&staging).unwrap();
        fs::write(staging.join("inventory.img"), b"").unwrap();
        let error = show_dir(scratch.path()).unwrap_err();
        assert_eq!(error.to_string(), expected);
    }

    #[test]
    fn a_directory_with_a_damaged_image_is_still_shown() {
        let scratch = ScratchDir::new("show-damaged");
        fs::create_dir_all(scratch.path()).unwrap();
        fs::write(scratch.path().join("inventory.img"), b"xx").unwrap();
        let shown = show_dir(scratch.path()).unwrap();
        assert!(shown["images"][0]["error"].is_string(), "{shown}");
    }
}
