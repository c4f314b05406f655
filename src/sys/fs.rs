//! The filesystem sockdoc reads: the live system's `/`, or a fixture tree given with
//! `--root`. Every /proc, /proc/sys and /etc read goes through a [`Root`] and is bounded: a
//! fixture (or a host) can never make sockdoc block on a FIFO or fill memory from a device.
//! Nothing here writes.

use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Where the files sockdoc reads live: `/` normally, a fixture directory under `--root`.
/// Sockets are always the live kernel's; only file reads follow the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    path: PathBuf,
}

impl Root {
    /// The running system.
    pub fn live() -> Self {
        Self::at("/")
    }

    /// A tree laid out like `/` (`proc/sys/...`, `etc/sysctl.d/...`).
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The root as the user gave it, for messages.
    pub fn display(&self) -> std::path::Display<'_> {
        self.path.display()
    }

    /// `relative` under the root: `join("proc/net/netstat")`.
    pub fn join(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.path.join(relative)
    }

    /// Whether this is the live system's `/`: only there are there sockets to list.
    pub fn is_live(&self) -> bool {
        fs::canonicalize(&self.path).is_ok_and(|real| real == Path::new("/"))
    }

    /// The bytes of the regular file at `relative`, at most `limit` of them: see
    /// [`read_regular`].
    pub fn read(&self, relative: impl AsRef<Path>, limit: u64) -> io::Result<Vec<u8>> {
        read_regular(&self.join(relative), limit)
    }

    /// The regular file at `relative`, opened for a reader that streams it: see
    /// [`open_regular`].
    pub fn open(&self, relative: impl AsRef<Path>) -> io::Result<fs::File> {
        open_regular(&self.join(relative))
    }

    /// As [`Root::read`], as UTF-8 text (`InvalidData` otherwise).
    pub fn read_text(&self, relative: impl AsRef<Path>, limit: u64) -> io::Result<String> {
        String::from_utf8(self.read(relative, limit)?)
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))
    }
}

/// The most a config file may hold before it is refused: real ones are a few KiB.
pub const CONFIG_LIMIT: u64 = 1 << 20;

/// The most a /proc/sys value or /proc/net/sockstat may hold before it is refused. The
/// longest value a kernel can show is an `ip_local_reserved_ports` listing every other port,
/// about 190 KB; a real one is a few bytes.
pub const VALUE_LIMIT: u64 = 256 << 10;

/// The most /proc/net/netstat or /proc/net/snmp may hold before it is refused: about 5 KB
/// each on Linux 6.18, growing by a few names a year.
pub const COUNTERS_LIMIT: u64 = 1 << 20;

/// Reads a file that must be a regular file of at most `limit` bytes, so a fixture tree (or
/// a host) can never make sockdoc hang or fill memory: opening a FIFO blocks until a
/// writer comes, and a device such as /dev/zero never ends. Anything else is an error whose
/// text says why ("not a regular file (a FIFO)", "larger than 1 MiB"); a missing file keeps
/// its `NotFound` kind. /proc and /proc/sys files are regular files (of size 0), so the
/// limit is enforced on the bytes read, not on the size the file claims.
pub fn read_regular(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let file = open_regular(path)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("larger than {}", crate::units::human_size(limit)),
        ));
    }
    Ok(bytes)
}

/// Opens a file that must be a regular file, for a reader that streams it (a /proc/net
/// table of 100,000 sockets is megabytes): never a FIFO, which would block, or a device,
/// which would never end.
pub fn open_regular(path: &Path) -> io::Result<fs::File> {
    // Checked before open(), which is where a FIFO blocks ...
    refuse_irregular(&fs::metadata(path)?)?;
    // ... and again on the file opened (the path may have changed in between), with
    // O_NONBLOCK so even that open() cannot block.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    refuse_irregular(&file.metadata()?)?;
    Ok(file)
}

fn refuse_irregular(meta: &fs::Metadata) -> io::Result<()> {
    let kind = meta.file_type();
    let what = if kind.is_file() {
        return Ok(());
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "of an unknown type"
    };
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("not a regular file ({what})"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::human_size;
    use std::fs;

    #[test]
    fn bounded_reads_name_the_limit_and_keep_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, "12345").unwrap();
        assert_eq!(read_regular(&file, 5).unwrap(), b"12345");
        let error = read_regular(&file, 4).unwrap_err();
        assert_eq!(error.to_string(), "larger than 4 B");
        assert_eq!(
            read_regular(&dir.path().join("nowhere"), 4)
                .unwrap_err()
                .kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(human_size(CONFIG_LIMIT), "1 MiB");
        assert_eq!(human_size(VALUE_LIMIT), "256 KiB");
        assert_eq!(
            read_regular(dir.path(), 4).unwrap_err().to_string(),
            "not a regular file (a directory)"
        );
        // The live /proc files are regular (of size 0) and read whole.
        assert!(read_regular(Path::new("/proc/net/sockstat"), VALUE_LIMIT).is_ok());
        assert!(Root::live().is_live());
        assert!(!Root::at(dir.path()).is_live());
        assert_eq!(Root::at(dir.path()).read_text("f", 5).unwrap(), "12345");
    }
}
