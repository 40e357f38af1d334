//! Early write-back: a file written for a transaction is handed to the disk at once
//! (`sync_file_range(SYNC_FILE_RANGE_WRITE)`, which starts writing its dirty pages and returns without waiting),
//! so that the one flush that makes the transaction durable (`syncfs` before the journal) finds most pages
//! already written or in flight instead of starting all of them at the end.
//!
//! Only a hint: durability still comes from that flush alone (the call waits for nothing and guarantees
//! nothing, neither data nor metadata), so an error or a platform without the call changes nothing.

use std::os::fd::AsRawFd;

/// Starts writing back the dirty pages of `file`; returns at once. Errors are ignored (see the module).
pub fn start(file: &impl AsRawFd) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // SAFETY: a plain system call on a descriptor the caller keeps open for the duration of the call; it
        // reads and writes no memory of this process.
        let _ =
            unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = file;
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    #[test]
    fn starting_write_back_keeps_the_content() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        let mut f = std::fs::File::create(&p).unwrap();
        f.write_all(b"content").unwrap();
        super::start(&f);
        drop(f);
        assert_eq!(std::fs::read(&p).unwrap(), b"content");
    }
}
