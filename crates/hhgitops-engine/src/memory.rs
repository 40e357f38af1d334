//! Giving freed heap memory back to the system.
//!
//! A long-running process (`serve`) frees what an operation held (a fabric's parsed state, a drift report)
//! when the operation ends, but glibc's allocator keeps freed pages in the arena of the thread that used them,
//! one arena per thread that ever allocated: after a few large jobs on different worker threads the server stays
//! at the sum of their peaks. [`release_free`] hands those pages back (`malloc_trim`, every arena) once an
//! operation is over.
//!
//! [`return_large_blocks`] keeps large blocks from being kept at all: by default glibc raises its mmap threshold
//! to the size of every large block freed, so that the next ones of that size (an archived original, a manifest,
//! a journal) come from the arena and stay resident after they are freed; an ingestion's peak then holds the
//! large blocks of every stage before it.

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

/// Blocks of this size and more are mapped on their own and unmapped when freed (see [`return_large_blocks`]).
pub const LARGE_BLOCK: usize = 128 << 10;

/// Fixes glibc's mmap threshold at [`LARGE_BLOCK`] (instead of letting it rise with every large block freed)
/// and trims an arena's top once that much is free at it, so a freed large block is handed back to the system
/// at once. Called by the binary before anything allocates much; nothing on platforms without glibc.
pub fn return_large_blocks() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets allocator parameters; it is called before the program starts threads of its
    // own, and glibc takes its own lock while changing them.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, LARGE_BLOCK as libc::c_int);
        libc::mallopt(libc::M_TRIM_THRESHOLD, LARGE_BLOCK as libc::c_int);
    }
}
