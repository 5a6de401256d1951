//! Owner-only data files. Everything the server keeps under its data directory — the
//! metadata database with its WAL and SHM, blobs, the audit spool and its journals, the
//! node id, `master.key`, `bootstrap-token`, the lock file — is readable by the server's
//! user alone: directories 0700, files 0600, whatever the umask. Three layers, each
//! enough on its own for what it covers:
//!
//! * `coffer server` sets its umask to 077 before anything else ([`restrict_umask`]), so
//!   whatever it or a library (SQLite) creates is owner-only;
//! * the directories the server owns are created 0700 and tightened to 0700 at every
//!   start ([`private_dir`]), and the files directly inside the data and spool
//!   directories to 0600 ([`tighten_files`]): a data directory written by an older
//!   version under umask 022 is closed off too (files deeper down, i.e. blobs, sit
//!   below a 0700 directory);
//! * files the server creates itself are opened with mode 0600 ([`create_file`]).
//!
//! Files the server writes whole — the secrets `master.key` and `bootstrap-token`, and
//! the node id — are written and read without following a symbolic link planted at
//! their path ([`write_private_file`], [`read_private_file`]): a link there is refused
//! with an error naming it, and its target is never read or written.

use coffer_core::local_file::{Links, is_refused_link, read_regular_file};
use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode of every directory the server creates.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file the server creates.
pub const FILE_MODE: u32 = 0o600;
/// The largest private file read (a hex master key, a token, a node id: tens of bytes).
const MAX_PRIVATE_FILE: u64 = 64 * 1024;

/// Makes every file and directory this process creates from now on owner-only (umask
/// 077). For the `coffer server` process; a library must not change a process-wide
/// setting behind its host's back.
pub fn restrict_umask() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

/// Creates `dir` (with missing parents) mode 0700, or tightens an existing one to 0700.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    tighten(dir, DIR_MODE)
}

/// Tightens the regular files directly inside `dir` to 0600 (symbolic links and
/// subdirectories are left alone).
pub fn tighten_files(dir: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            tighten(&entry.path(), FILE_MODE)?;
        }
    }
    Ok(())
}

/// Removes group and other permission bits beyond `mode`.
fn tighten(path: &Path, mode: u32) -> io::Result<()> {
    let current = std::fs::metadata(path)?.permissions().mode() & 0o7777;
    if current & !mode != 0 {
        std::fs::set_permissions(path, Permissions::from_mode(current & mode))?;
    }
    Ok(())
}

/// Creates (or truncates) `path` for writing, mode 0600.
pub fn create_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)
}

fn symlink_refused(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{} is a symbolic link; refusing to follow it (remove it: the server creates this file itself)",
            path.display()
        ),
    )
}

/// Writes a whole file durably, mode 0600: a fresh temp file beside it (exclusive
/// create, no-follow), fsync, rename over `path`, fsync the directory. Refuses when
/// `path` is a symbolic link (rename would replace the link, but a link there means
/// someone expects us to follow it).
pub fn write_private_file(path: &Path, contents: &[u8]) -> io::Result<()> {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(symlink_refused(path));
    }
    let tmp = path.with_extension("tmp");
    // A leftover of a crash (or anything planted there): unlinking never follows a link.
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(&tmp)?;
    f.write_all(contents)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Reads a file the server wrote whole, refusing a symbolic link at `path` (checked
/// by the open itself, so a link swapped in after a check is refused too) and anything
/// but a regular file.
pub fn read_private_file(path: &Path) -> io::Result<Vec<u8>> {
    read_regular_file(path, MAX_PRIVATE_FILE, Links::Refuse).map_err(|e| {
        if is_refused_link(&e) {
            symlink_refused(path)
        } else {
            e
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn directories_and_files_are_tightened() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        std::fs::set_permissions(&dir, Permissions::from_mode(0o755)).unwrap();
        let f = dir.join("f");
        std::fs::write(&f, b"x").unwrap();
        std::fs::set_permissions(&f, Permissions::from_mode(0o644)).unwrap();
        let ro = dir.join("ro");
        std::fs::write(&ro, b"x").unwrap();
        std::fs::set_permissions(&ro, Permissions::from_mode(0o400)).unwrap();
        private_dir(&dir).unwrap();
        tighten_files(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&f), 0o600);
        assert_eq!(mode(&ro), 0o400, "stricter modes stay");
        create_file(&dir.join("new")).unwrap();
        assert_eq!(mode(&dir.join("new")) & 0o077, 0);
    }

    #[test]
    fn secret_files_never_follow_links() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("target");
        std::fs::write(&target, b"precious").unwrap();
        let secret = tmp.path().join("secret");
        std::os::unix::fs::symlink(&target, &secret).unwrap();
        let e = write_private_file(&secret, b"new").unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        let e = read_private_file(&secret).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        // A link planted at the temp path is unlinked, not followed.
        std::fs::remove_file(&secret).unwrap();
        std::os::unix::fs::symlink(&target, tmp.path().join("secret.tmp")).unwrap();
        write_private_file(&secret, b"new").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"precious");
        assert_eq!(read_private_file(&secret).unwrap(), b"new");
        assert_eq!(mode(&secret), 0o600);
        assert!(!tmp.path().join("secret.tmp").exists());
    }
}
