//! A tar writer that reproduces `git archive`'s tar format byte for byte, kept apart from the
//! tree walk so the format rules (ustar fields, pax headers, git's padding) read in one place.

use std::io::Write;

use gix::ObjectId;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Dir,
    File,
    Executable,
    Symlink,
}

pub(super) const RECORD: usize = 512;
/// `git archive` writes in blocks of 20 records, so its output length is a multiple of this.
const BLOCK: u64 = 20 * RECORD as u64;
const USTAR_MAX_SIZE: u64 = 0o77777777777;
const USTAR_MAX_MTIME: u64 = 0o77777777777;

/// A tar writer that reproduces `git archive`'s tar format (archive-tar.c) byte for byte.
pub(super) struct TarWriter<W: Write> {
    out: W,
    written: u64,
    mtime: u64,
}

impl<W: Write> TarWriter<W> {
    pub(super) fn new(out: W, mtime: u64) -> Self {
        TarWriter {
            out,
            written: 0,
            mtime,
        }
    }

    pub(super) fn global_header(&mut self, commit_id: &str) -> std::io::Result<()> {
        let mut records = Vec::new();
        pax_record(&mut records, "comment", commit_id.as_bytes());
        if self.mtime > USTAR_MAX_MTIME {
            pax_record(&mut records, "mtime", self.mtime.to_string().as_bytes());
            self.mtime = USTAR_MAX_MTIME;
        }
        let mut header = [0u8; RECORD];
        put(&mut header[0..100], b"pax_global_header");
        header[156] = b'g';
        self.finish_header(&mut header, 0o666, records.len() as u64);
        self.write_padded(&header)?;
        self.write_padded(&records)
    }

    pub(super) fn entry(
        &mut self,
        path: &[u8],
        oid: ObjectId,
        kind: Kind,
        data: &[u8],
    ) -> std::io::Result<()> {
        let mut header = [0u8; RECORD];
        let mut pax = Vec::new();
        let (typeflag, mode) = match kind {
            Kind::Dir => (b'5', 0o775),
            Kind::File => (b'0', 0o664),
            Kind::Executable => (b'0', 0o775),
            Kind::Symlink => (b'2', 0o777),
        };
        header[156] = typeflag;
        if path.len() > 100 {
            let split = path_prefix_len(path, 155);
            let rest = path.len() - split - 1;
            if split > 0 && rest <= 100 {
                put(&mut header[345..500], &path[..split]);
                put(&mut header[0..100], &path[split + 1..]);
            } else {
                put(&mut header[0..100], format!("{oid}.data").as_bytes());
                pax_record(&mut pax, "path", path);
            }
        } else {
            put(&mut header[0..100], path);
        }
        if kind == Kind::Symlink {
            if data.len() > 100 {
                put(
                    &mut header[157..257],
                    format!("see {oid}.paxheader").as_bytes(),
                );
                pax_record(&mut pax, "linkpath", data);
            } else {
                put(&mut header[157..257], data);
            }
        }
        let regular = matches!(kind, Kind::File | Kind::Executable);
        let mut size = if regular { data.len() as u64 } else { 0 };
        if size > USTAR_MAX_SIZE {
            pax_record(&mut pax, "size", size.to_string().as_bytes());
            size = 0;
        }
        self.finish_header(&mut header, mode, size);
        if !pax.is_empty() {
            let mut pax_header = [0u8; RECORD];
            put(
                &mut pax_header[0..100],
                format!("{oid}.paxheader").as_bytes(),
            );
            pax_header[156] = b'x';
            self.finish_header(&mut pax_header, 0o666, pax.len() as u64);
            self.write_padded(&pax_header)?;
            self.write_padded(&pax)?;
        }
        self.write_padded(&header)?;
        if regular {
            self.write_padded(data)?;
        }
        Ok(())
    }

    /// Fills the fields `prepare_header()` in git's archive-tar.c sets, checksum last.
    fn finish_header(&self, header: &mut [u8; RECORD], mode: u32, size: u64) {
        put(&mut header[100..108], format!("{mode:07o}").as_bytes());
        put(&mut header[108..116], b"0000000");
        put(&mut header[116..124], b"0000000");
        put(&mut header[124..136], format!("{size:011o}").as_bytes());
        put(
            &mut header[136..148],
            format!("{:011o}", self.mtime).as_bytes(),
        );
        put(&mut header[257..263], b"ustar\0");
        put(&mut header[263..265], b"00");
        put(&mut header[265..297], b"root");
        put(&mut header[297..329], b"root");
        put(&mut header[329..337], b"0000000");
        put(&mut header[337..345], b"0000000");
        header[148..156].fill(b' ');
        let checksum: u32 = header.iter().map(|&b| u32::from(b)).sum();
        header[148..156].fill(0);
        put(&mut header[148..156], format!("{checksum:07o}").as_bytes());
    }

    fn write_padded(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.out.write_all(data)?;
        let tail = data.len() % RECORD;
        if tail != 0 {
            self.out.write_all(&[0u8; RECORD][..RECORD - tail])?;
        }
        self.written += data.len().div_ceil(RECORD) as u64 * RECORD as u64;
        Ok(())
    }

    /// Git's trailer: zeros to the end of the 10 KiB block, and one more block when fewer than
    /// the two end-of-archive records fit.
    pub(super) fn finish(mut self) -> std::io::Result<W> {
        let mut tail = BLOCK - self.written % BLOCK;
        if tail < 2 * RECORD as u64 {
            tail += BLOCK;
        }
        let zeros = [0u8; RECORD];
        for _ in 0..tail / RECORD as u64 {
            self.out.write_all(&zeros)?;
        }
        Ok(self.out)
    }
}

fn put(field: &mut [u8], value: &[u8]) {
    let len = value.len().min(field.len());
    field[..len].copy_from_slice(&value[..len]);
}

/// Where git's `get_path_prefix()` splits a long path between the ustar prefix and name fields:
/// the last `/` before `max`, ignoring a trailing one.
fn path_prefix_len(path: &[u8], max: usize) -> usize {
    let mut i = path.len();
    if i > 1 && path[i - 1] == b'/' {
        i -= 1;
    }
    i = i.min(max);
    loop {
        i -= 1;
        if i == 0 || path[i] == b'/' {
            return i;
        }
    }
}

/// Appends a pax record, `"<len> <key>=<value>\n"` where `<len>` counts its own digits.
fn pax_record(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    let mut len = 1 + 1 + key.len() + 1 + value.len() + 1;
    let mut tmp = 1;
    while len / 10 >= tmp {
        len += 1;
        tmp *= 10;
    }
    out.extend_from_slice(format!("{len} {key}=").as_bytes());
    out.extend_from_slice(value);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use crate::git::open;
    use crate::git::testing::*;

    #[test]
    fn archive_is_byte_identical_to_git_archive() {
        let tmp = TempDir::new("rich");
        let id = rich_repo(tmp.path());
        let repo = open(tmp.path()).unwrap();
        let commit = repo.resolve("HEAD").unwrap();
        assert_eq!(commit.id, id);
        let (ours, summary) = archive(&repo, &commit, None);
        let theirs = git(tmp.path(), &["archive", "--format=tar", &id]);
        assert_same_tar(&ours, &theirs);
        let pax_headers = listing(&ours)
            .iter()
            .filter(|e| e.contains("|g|") || e.contains("|x|"))
            .count();
        assert_eq!(summary.entries, listing(&ours).len() - pax_headers);
        assert!(!summary.uses_lfs);
        let names = listing(&ours).join("\n");
        for ignored in ["secret.txt", "docs", "fixtures", "scratch.tmp"] {
            assert!(!names.contains(ignored), "{ignored} ships: {names}");
        }
        assert!(names.contains("|bin/web|0|0000775|"), "{names}");
        assert!(names.contains("|link|2|0000777|0|src/main.rb|"), "{names}");
    }
}
