//! Which build a process is, and which build an executable file holds: the workspace version
//! and the GNU build id the linker writes into the ELF file (`NT_GNU_BUILD_ID`, a hash of the
//! linked code: two builds of the same version from different sources differ). An executable
//! without one is named by its size and modification time instead.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::Path;

/// The version every crate of the workspace has.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Longest program-header table or note segment read, bytes.
const READ_MAX: u64 = 64 * 1024;
/// Most bytes read of one file, all segments together.
pub const TOTAL_MAX: u64 = 1 << 20;
/// `PT_NOTE`.
const PT_NOTE: u32 = 4;
/// `NT_GNU_BUILD_ID`.
const NT_GNU_BUILD_ID: u32 = 3;

/// The build id of the executable at `path`: the hex GNU build id, else `file-<size>-<mtime>`.
/// Only a regular file is read (opened without blocking: a FIFO planted there is refused), and
/// at most [`TOTAL_MAX`] bytes of it.
pub fn build_id_of(path: &Path) -> std::io::Result<String> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{}: not a regular file", path.display()),
        ));
    }
    if let Some(id) = gnu_build_id(&mut file)? {
        return Ok(id);
    }
    let meta = file.metadata()?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    Ok(format!("file-{}-{mtime}", meta.len()))
}

/// This process's build id (its executable's, read once).
pub fn this_build_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        build_id_of(Path::new("/proc/self/exe")).unwrap_or_else(|_| "unknown".to_string())
    })
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Reads up to `len` (at most [`READ_MAX`]) bytes at `offset`.
fn read_at(file: &mut std::fs::File, offset: u64, len: u64) -> std::io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::new();
    file.take(len.min(READ_MAX)).read_to_end(&mut buf)?;
    Ok(buf)
}

/// The GNU build id of a 64-bit little-endian ELF file, if it has one (anything else: `None`).
pub fn gnu_build_id(file: &mut std::fs::File) -> std::io::Result<Option<String>> {
    let header = read_at(file, 0, 64)?;
    if header.get(..4) != Some(b"\x7fELF".as_slice())
        || header.get(4) != Some(&2)
        || header.get(5) != Some(&1)
    {
        return Ok(None);
    }
    let (Some(phoff), Some(entsize), Some(count)) = (
        u64_at(&header, 0x20),
        u16_at(&header, 0x36),
        u16_at(&header, 0x38),
    ) else {
        return Ok(None);
    };
    let (entsize, count) = (usize::from(entsize), usize::from(count));
    if entsize < 0x28 {
        return Ok(None);
    }
    let table = read_at(file, phoff, (entsize * count) as u64)?;
    let mut read = table.len() as u64 + 64;
    for i in 0..count {
        let at = i * entsize;
        let (Some(kind), Some(offset), Some(size)) = (
            u32_at(&table, at),
            u64_at(&table, at + 8),
            u64_at(&table, at + 0x20),
        ) else {
            break;
        };
        if kind != PT_NOTE {
            continue;
        }
        if read >= TOTAL_MAX {
            break;
        }
        let notes = read_at(file, offset, size.min(TOTAL_MAX - read))?;
        read += notes.len() as u64;
        if let Some(id) = build_id_note(&notes) {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

/// The `GNU` build-id note among the notes of one segment.
fn build_id_note(notes: &[u8]) -> Option<String> {
    let pad = |n: usize| n.checked_next_multiple_of(4);
    let mut at = 0usize;
    while at + 12 <= notes.len() {
        let name_len = u32_at(notes, at)? as usize;
        let desc_len = u32_at(notes, at + 4)? as usize;
        let kind = u32_at(notes, at + 8)?;
        let name_at = at + 12;
        let desc_at = name_at.checked_add(pad(name_len)?)?;
        let desc = notes.get(desc_at..desc_at.checked_add(desc_len)?)?;
        if kind == NT_GNU_BUILD_ID
            && notes.get(name_at..name_at.checked_add(name_len)?) == Some(b"GNU\0".as_slice())
            && !desc.is_empty()
        {
            return Some(desc.iter().map(|b| format!("{b:02x}")).collect());
        }
        at = desc_at.checked_add(pad(desc_len)?)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_test_binary_has_a_gnu_build_id_and_a_copy_shares_it() {
        let id = this_build_id();
        assert!(
            id.len() >= 16 && id.chars().all(|c| c.is_ascii_hexdigit()),
            "{id}"
        );
        let exe = std::env::current_exe().unwrap_or_default();
        assert_eq!(build_id_of(&exe).ok().as_deref(), Some(id));
    }

    #[test]
    fn a_file_that_is_not_elf_is_named_by_size_and_time() {
        let dir = std::env::temp_dir().join(format!("build-id-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("script");
        let _ = std::fs::write(&path, b"#!/bin/sh\n");
        let id = build_id_of(&path).unwrap_or_default();
        assert!(id.starts_with("file-10-"), "{id}");
        // Truncated or hostile notes: no panic, no id.
        assert_eq!(build_id_note(&[0xff; 11]), None);
        assert_eq!(
            build_id_note(&[4, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 3, 0, 0, 0]),
            None
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
