//! `memory::release_free` gives back pages that glibc keeps after a free. In a test binary of its own: the
//! resident size it measures must not move with other tests.
#![cfg(all(target_os = "linux", target_env = "gnu"))]

/// Resident pages of this process, in bytes.
fn resident() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn freed_pages_held_by_a_thread_arena_go_back_to_the_system() {
    // A worker thread fills its arena with 64 KiB blocks (below the mmap threshold, so they live in the arena),
    // keeps a block above them (so the arena's top cannot shrink on its own), frees the large ones and
    // ends: glibc keeps their 48 MiB resident until trimmed.
    let pin = std::thread::spawn(|| {
        let blocks: Vec<Vec<u8>> = (0..768).map(|i| vec![i as u8; 64 << 10]).collect();
        // Larger than anything freed in the arena before, so it is cut from the top, above the blocks.
        let pin = vec![1u8; 32 << 10];
        drop(blocks);
        pin
    })
    .join()
    .unwrap();
    let held = resident();
    hhgitops_engine::memory::release_free();
    let after = resident();
    assert!(
        held.saturating_sub(after) >= 32 << 20,
        "resident {held} before, {after} after: at least 32 MiB given back"
    );
    assert!(pin.iter().all(|b| *b == 1), "live memory is kept");
}
