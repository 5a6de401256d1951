//! Reading a small file named by configuration (a JWKS file, the master key) without
//! letting the path do more than name a file: opened `O_NONBLOCK` (opening a FIFO would
//! wait for a writer), optionally `O_NOFOLLOW`, checked to be a regular file on the
//! opened handle (so a swap between a check and the read cannot matter), and read only
//! up to a bound. Blocking I/O: callers on an async runtime run it on the blocking pool.

use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Whether a symbolic link at the path is followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    Follow,
    Refuse,
}

/// The contents of `path` if it is a regular file of at most `max_len` bytes. A link
/// refused by [`Links::Refuse`] fails with `ELOOP` (`raw_os_error`).
pub fn read_regular_file(path: &Path, max_len: u64, links: Links) -> io::Result<Vec<u8>> {
    let mut flags = rustix::fs::OFlags::NONBLOCK;
    if links == Links::Refuse {
        flags |= rustix::fs::OFlags::NOFOLLOW;
    }
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)?;
    let meta = f.metadata()?;
    let too_large = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {max_len} bytes"),
        )
    };
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    if meta.len() > max_len {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    f.take(max_len + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_len {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Whether `e` is the error of a link refused by [`Links::Refuse`].
pub fn is_refused_link(e: &io::Error) -> bool {
    e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error())
}
