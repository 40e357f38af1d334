//! `memory::return_large_blocks` hands a freed large block back to the system at once. In a test binary of its
//! own: the allocator settings are global to the process, and the resident size it measures must not move with
//! other tests.
#![cfg(all(target_os = "linux", target_env = "gnu"))]

use std::hint::black_box;

/// Resident pages of this process, in bytes.
fn resident() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn filled(len: usize) -> Vec<u8> {
    black_box(vec![7u8; len])
}

#[test]
fn a_large_block_freed_after_a_larger_one_leaves_no_resident_pages() {
    hhgitops_engine::memory::return_large_blocks();
    // glibc's default: freeing this mapped 24 MiB block raises its mmap threshold to 24 MiB, so the 16 MiB block
    // below would come from the heap and stay resident after it is freed (a small block allocated after it keeps
    // the heap's top from being trimmed).
    drop(filled(24 << 20));
    let block = filled(16 << 20);
    let pin = filled(4 << 10);
    let held = resident();
    drop(block);
    let after = resident();
    assert!(
        held.saturating_sub(after) >= 12 << 20,
        "resident {held} while the 16 MiB block is held, {after} after it is freed: it must go back"
    );
    assert!(pin.iter().all(|b| *b == 7), "live memory is kept");
}
