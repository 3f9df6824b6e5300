//! Reading source tarballs the way Heroku's build service does.
//!
//! Public so tests can assert what a client uploaded (modes, symlinks, layout) with the same
//! reading the fake build applies.

use std::io::Read;

use flate2::read::GzDecoder;

/// What kind of entry a tarball path is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    /// A symbolic link with its target.
    Symlink(String),
    /// Anything else (hard links, devices, ...), with the raw tar type byte.
    Other(u8),
}

/// One entry of an unpacked source tarball.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Path relative to the app root: no leading `./`, and the single top-level directory
    /// stripped when the archive has one.
    pub path: String,
    /// Permission bits as stored (e.g. `0o755`).
    pub mode: u32,
    pub kind: EntryKind,
    /// File contents (empty for other kinds).
    pub data: Vec<u8>,
}

/// Unpacks a gzip-compressed tar archive in memory.
///
/// Applies the single-top-directory rule Heroku's build service follows: when every entry
/// lives under one top-level directory (GitHub's `repo-sha/` layout), that directory is
/// stripped; archives with files at the root (`./...` or bare paths) are taken as they are.
pub fn unpack(gzipped: &[u8]) -> Result<Vec<Entry>, String> {
    let mut archive = tar::Archive::new(GzDecoder::new(gzipped));
    let mut entries = Vec::new();
    for entry in archive
        .entries()
        .map_err(|e| format!("not a tar archive: {e}"))?
    {
        let mut entry = entry.map_err(|e| format!("corrupt archive: {e}"))?;
        let header = entry.header();
        let raw_type = header.entry_type();
        if raw_type.is_pax_global_extensions() || raw_type.is_pax_local_extensions() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| format!("invalid path in archive: {e}"))?
            .to_string_lossy()
            .into_owned();
        let mode = header.mode().unwrap_or(0) & 0o7777;
        let kind = if raw_type.is_dir() {
            EntryKind::Dir
        } else if raw_type.is_symlink() {
            let target = entry
                .link_name()
                .map_err(|e| format!("invalid link in archive: {e}"))?
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            EntryKind::Symlink(target)
        } else if raw_type.is_file() {
            EntryKind::File
        } else {
            EntryKind::Other(raw_type.as_byte())
        };
        let mut data = Vec::new();
        if kind == EntryKind::File {
            entry
                .read_to_end(&mut data)
                .map_err(|e| format!("corrupt archive: {e}"))?;
        }
        let path = path
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string();
        if path.is_empty() || path == "." {
            continue;
        }
        entries.push(Entry {
            path,
            mode,
            kind,
            data,
        });
    }
    strip_single_top_dir(&mut entries);
    Ok(entries)
}

fn strip_single_top_dir(entries: &mut Vec<Entry>) {
    let Some(first) = entries.first() else { return };
    let top = first.path.split('/').next().unwrap_or("").to_string();
    let prefix = format!("{top}/");
    let all_under = entries
        .iter()
        .all(|e| e.path == top || e.path.starts_with(&prefix));
    let top_is_dir = entries
        .iter()
        .any(|e| e.path.starts_with(&prefix) || (e.path == top && e.kind == EntryKind::Dir));
    if !all_under || !top_is_dir {
        return;
    }
    entries.retain(|e| e.path != top);
    for e in entries.iter_mut() {
        e.path = e.path[prefix.len()..].to_string();
    }
}

/// Process types declared by a `Procfile` (`name: command` lines).
pub fn procfile(entries: &[Entry]) -> Option<Vec<(String, String)>> {
    let file = entries
        .iter()
        .find(|e| e.path == "Procfile" && e.kind == EntryKind::File)?;
    let text = String::from_utf8_lossy(&file.data);
    Some(
        text.lines()
            .filter_map(|line| {
                let (name, command) = line.split_once(':')?;
                let name = name.trim();
                let valid = !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                valid.then(|| (name.to_string(), command.trim().to_string()))
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(paths: &[(&str, &[u8], u32)]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut builder = tar::Builder::new(gz);
        for (path, data, mode) in paths {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(*mode);
            header.set_cksum();
            builder.append_data(&mut header, path, *data).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn strips_a_single_top_directory() {
        let tgz = build(&[
            ("app-1234/Procfile", b"web: node server.js\n", 0o644),
            ("app-1234/bin/start", b"#!/bin/sh\n", 0o755),
        ]);
        let entries = unpack(&tgz).unwrap();
        let paths: Vec<_> = entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["Procfile", "bin/start"]);
        assert_eq!(entries[1].mode, 0o755);
        assert_eq!(
            procfile(&entries).unwrap(),
            [("web".to_string(), "node server.js".to_string())]
        );
    }

    #[test]
    fn keeps_root_level_files() {
        let tgz = build(&[
            ("./Procfile", b"web: x\n", 0o644),
            ("./lib/a.js", b"", 0o644),
        ]);
        let paths: Vec<_> = unpack(&tgz).unwrap().into_iter().map(|e| e.path).collect();
        assert_eq!(paths, ["Procfile", "lib/a.js"]);
    }

    #[test]
    fn rejects_garbage() {
        assert!(unpack(b"definitely not gzip").is_err());
    }
}
