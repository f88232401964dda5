//! A small disk that a test can fill and free: a tmpfs mounted on a temp dir, for the
//! "disk full" tests. Mounting needs root (or CAP_SYS_ADMIN); without it the tests skip,
//! saying so.

#![allow(dead_code)]

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The file that [`SmallDisk::fill`] grows until the disk is full.
const FILLER: &str = ".filler";

/// A tmpfs mounted on a temp dir; unmounted and removed on drop.
pub struct SmallDisk {
    dir: tempfile::TempDir,
    size_kib: u64,
}

impl SmallDisk {
    /// Mounts a tmpfs of `size_kib` KiB (mode 0700). Err says why it cannot.
    pub fn mount(size_kib: u64) -> Result<SmallDisk, String> {
        if !nix::unistd::geteuid().is_root() {
            return Err(format!(
                "mounting a tmpfs needs root (euid {})",
                nix::unistd::geteuid()
            ));
        }
        let dir = tempfile::Builder::new()
            .prefix("wkdisk")
            .tempdir_in("/tmp")
            .map_err(|e| format!("temp dir: {e}"))?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size_kib}k,mode=0700"))
            .arg("tmpfs")
            .arg(dir.path())
            .output()
            .map_err(|e| format!("running mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(SmallDisk { dir, size_kib })
    }

    /// The disk, or None after printing why `test` is skipped.
    pub fn mount_or_skip(test: &str, size_kib: u64) -> Option<SmallDisk> {
        match Self::mount(size_kib) {
            Ok(d) => Some(d),
            Err(why) => {
                eprintln!("SKIPPED {test}: no small disk to fill: {why}");
                None
            }
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A path on the disk.
    pub fn join(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Fills the disk to the last byte it will take; returns the bytes written.
    pub fn fill(&self) -> io::Result<u64> {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.join(FILLER))?;
        let mut written = 0u64;
        // Big writes first, then ever smaller ones to take the last partial pages.
        let mut chunk = 64 * 1024;
        let zeros = vec![0u8; chunk];
        while chunk > 0 {
            match f.write(&zeros[..chunk]) {
                Ok(0) => chunk /= 2,
                Ok(n) => written += n as u64,
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => chunk /= 2,
                Err(e) => return Err(e),
            }
        }
        f.sync_all()?;
        Ok(written)
    }

    /// Frees what [`SmallDisk::fill`] took.
    pub fn free(&self) -> io::Result<()> {
        match std::fs::remove_file(self.join(FILLER)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            r => r,
        }
    }

    /// Bytes still free for writing.
    pub fn available(&self) -> io::Result<u64> {
        let st = nix::sys::statvfs::statvfs(self.dir.path()).map_err(io::Error::from)?;
        Ok(st.blocks_available() as u64 * st.fragment_size() as u64)
    }

    pub fn size_kib(&self) -> u64 {
        self.size_kib
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazy unmount: a process under test (killed or not yet reaped) may still hold a
        // file open on it, which would make a plain umount fail with EBUSY.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}
