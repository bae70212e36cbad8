//! A counting global allocator: the largest single request and the peak of live bytes since the
//! last [`reset`], so a run can check that no input makes a reader allocate more than the input
//! justifies.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Requests above this are refused (null): fallible reservations (`try_reserve`) then report an
/// error, infallible ones abort with "memory allocation of N bytes failed", which the
/// supervising process reports with the input. Nothing a fuzz input asks for is ever this big
/// legitimately, and refusing keeps a bad input from exhausting the machine.
pub const HARD_CAP: usize = 1 << 30;

static MAX_SINGLE: AtomicUsize = AtomicUsize::new(0);
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting.
#[derive(Debug)]
pub struct Counting;

fn note_request(size: usize) -> bool {
    MAX_SINGLE.fetch_max(size, Relaxed);
    size <= HARD_CAP
}

fn grew(by: usize) {
    let live = LIVE.fetch_add(by, Relaxed) + by;
    PEAK.fetch_max(live, Relaxed);
}

fn shrank(by: usize) {
    LIVE.fetch_sub(by, Relaxed);
}

// SAFETY: every call is forwarded to `System` with the caller's layout and pointer unchanged;
// the only addition is refusing (returning null, which the `GlobalAlloc` contract allows) a
// request above `HARD_CAP`, and the counters, which never touch the memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !note_request(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller upholds `alloc`'s contract for `layout`; forwarded as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !note_request(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: as in `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (through this allocator) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !note_request(new_size) {
            return std::ptr::null_mut();
        }
        // SAFETY: `ptr` was allocated by `System` with `layout`; the caller upholds the rest.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                shrank(layout.size() - new_size);
            }
        }
        p
    }
}

/// Forget the largest request and restart the peak from the bytes live now.
pub fn reset() {
    MAX_SINGLE.store(0, Relaxed);
    PEAK.store(LIVE.load(Relaxed), Relaxed);
}

/// `(largest single request, peak live bytes above the live bytes at the last reset)`.
pub fn since_reset(live_at_reset: usize) -> (usize, usize) {
    (MAX_SINGLE.load(Relaxed), PEAK.load(Relaxed).saturating_sub(live_at_reset))
}

/// Bytes live now.
pub fn live() -> usize {
    LIVE.load(Relaxed)
}
