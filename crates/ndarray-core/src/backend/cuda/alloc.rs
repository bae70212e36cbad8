//! The caching device allocator: freed blocks wait in per-size free lists of their device and
//! are handed out again, since cuMemAlloc/cuMemFree synchronise and cost far more than an op.
//! Blocks are only reused by work on the device's one stream, which runs after every use of the
//! block's previous owner (stream order), so no event is needed.

use std::collections::BTreeMap;

use cudarc::driver::result as drv;

use super::runtime::Gpu;
use crate::error::{Error, Result};

/// Sizes are rounded up to this many bytes (small blocks) or to a multiple of 2 MiB (large
/// blocks), so that repeated shapes hit the free lists.
const SMALL: usize = 512;
const LARGE: usize = 1 << 21;

/// Free blocks of one device by size, and the bytes held.
#[derive(Debug, Default)]
pub(crate) struct Pool {
    free: BTreeMap<usize, Vec<u64>>,
    /// Bytes in the free lists.
    pub(crate) cached: usize,
    /// Bytes handed out and not yet returned.
    pub(crate) in_use: usize,
}

fn rounded(bytes: usize) -> usize {
    let b = bytes.max(1);
    if b < LARGE { b.div_ceil(SMALL) * SMALL } else { b.div_ceil(LARGE) * LARGE }
}

impl Gpu {
    /// A block of at least `bytes` bytes: from the free list, else new; on failure the cache is
    /// released and the allocation tried again, then an out-of-memory error names the device,
    /// the bytes asked for and the bytes free.
    pub(crate) fn alloc(&self, bytes: usize, what: &dyn Fn() -> String) -> Result<(u64, usize)> {
        let size = rounded(bytes);
        {
            let mut pool = self.pool.lock();
            if let Some(list) = pool.free.get_mut(&size)
                && let Some(ptr) = list.pop()
            {
                pool.cached -= size;
                pool.in_use += size;
                return Ok((ptr, size));
            }
        }
        self.bind()?;
        // SAFETY: a plain device allocation of `size` bytes in this device's context.
        let first = unsafe { drv::malloc_sync(size) };
        let ptr = match first {
            Ok(p) => p,
            Err(_) => {
                self.empty_cache()?;
                // SAFETY: as above.
                unsafe { drv::malloc_sync(size) }.map_err(|_| {
                    let free = drv::mem_get_info().map(|(f, _)| f).unwrap_or(0);
                    Error::out_of_memory(
                        format!("gpu({})", self.id),
                        bytes as u128,
                        format!("{} ({free} bytes free on gpu({}))", what(), self.id),
                    )
                })?
            }
        };
        self.pool.lock().in_use += size;
        Ok((ptr, size))
    }

    /// Return a block from [`Gpu::alloc`] to the free lists.
    pub(crate) fn give(&self, ptr: u64, size: usize) {
        let mut pool = self.pool.lock();
        pool.in_use = pool.in_use.saturating_sub(size);
        pool.cached += size;
        pool.free.entry(size).or_default().push(ptr);
    }

    /// Give every cached block back to the driver (after the queued work that may use them).
    pub(crate) fn empty_cache(&self) -> Result<()> {
        self.sync()?;
        let blocks = {
            let mut pool = self.pool.lock();
            pool.cached = 0;
            std::mem::take(&mut pool.free)
        };
        for ptr in blocks.into_values().flatten() {
            // SAFETY: the block came from malloc_sync, is in no list any more and no queued
            // work uses it (the stream was synchronised above).
            unsafe { drv::free_sync(ptr) }.map_err(|e| Error::Context(format!("gpu({}): {e}", self.id)))?;
        }
        Ok(())
    }

    /// (free, total) bytes of the device, as the driver reports them (the pool's cached blocks
    /// count as used, as in MXNet).
    pub(crate) fn memory_info(&self) -> Result<(usize, usize)> {
        self.bind()?;
        drv::mem_get_info().map_err(|e| Error::Context(format!("gpu({}): {e}", self.id)))
    }
}

#[cfg(test)]
mod tests {
    use super::rounded;

    #[test]
    fn sizes_round_to_their_class() {
        assert_eq!(rounded(0), 512);
        assert_eq!(rounded(513), 1024);
        assert_eq!(rounded((1 << 21) + 1), 2 << 21);
    }
}
