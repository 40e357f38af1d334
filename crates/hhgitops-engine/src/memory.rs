//! Giving freed heap memory back to the system.
//!
//! A long-running process (`serve`) frees what an operation held (a fabric's parsed state, a drift report)
//! when the operation ends, but glibc's allocator keeps freed pages in the arena of the thread that used them,
//! one arena per thread that ever allocated: after a few large jobs on different worker threads the server stays
//! at the sum of their peaks. [`release_free`] hands those pages back (`malloc_trim`, every arena) once an
//! operation is over.

/// Returns the free pages of every allocator arena to the system; nothing on platforms without glibc. Takes
/// milliseconds with a large heap: call it off the async workers, after an operation, not in a hot path.
pub fn release_free() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only walks and trims the allocator's own free lists; it touches no memory the
    // program owns and is thread-safe (it takes each arena's lock).
    unsafe {
        libc::malloc_trim(0);
    }
}
