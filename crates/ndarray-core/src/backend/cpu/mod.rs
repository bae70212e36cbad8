//! Host kernels. Every kernel is synchronous and engine-free: it maps contiguous input slices
//! (with their shapes) to a new output vector. Large inputs are split across rayon's pool, as
//! far as the op's thread budget ([`Parallelism`], handed down by the op context) allows.

pub mod blas;
pub mod cast;
pub mod conv;
pub mod elemwise;
pub mod gather;
pub mod matmul;
pub mod reduce;
#[cfg(target_arch = "x86_64")]
pub mod sgemm_avx2;
#[cfg(target_arch = "x86_64")]
pub mod sgemm_avx512;
#[cfg(target_arch = "x86_64")]
pub mod sgemm_driver;
#[cfg(target_arch = "x86_64")]
pub mod sgemm_own;
pub mod softmax;
pub mod stream;
pub mod team;
pub mod vmath;

/// Whether this is an Intel CPU (CPUID vendor "GenuineIntel"; checked once): some bounds
/// measured on Intel's caches and AMD's differ.
pub fn intel_cpu() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static INTEL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *INTEL.get_or_init(|| {
            let id = std::arch::x86_64::__cpuid(0);
            // "Genu" "ineI" "ntel" in EBX, EDX, ECX.
            (id.ebx, id.edx, id.ecx) == (0x756e_6547, 0x4965_6e69, 0x6c65_746e)
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Whether the CPU has AVX2 and FMA (checked once by the standard library's cache).
#[cfg(target_arch = "x86_64")]
pub(crate) fn avx2_fma() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

/// Defines a loop function (generic parameters with simple bounds, no return value) that runs
/// compiled for AVX2+FMA where the CPU has them (picked at run time), else as built for
/// baseline x86-64. The wheel must run on any x86-64, so loops are built for SSE2 unless they
/// are defined through here; with AVX2 (which implies SSE4.1) they also vectorise `floor`,
/// `ceil`, `round` and `trunc`, which SSE2 turns into a libm call per element. The results are
/// the same either way: Rust never contracts `a * b + c` into a fused multiply-add by itself.
///
/// The slices and the closure stay function parameters all the way down (never captures), so
/// that the compiler knows that writes to the output cannot change a captured scalar operand
/// (see `elemwise/map.rs`).
macro_rules! simd_fn {
    // The generic parameters go in brackets (`fn name[T: Copy, F: Fn(T) -> T](...)`), which a
    // macro can pass on as they are.
    ($(#[$attr:meta])* $vis:vis fn $name:ident[$($gen:tt)*]($($p:ident: $t:ty),* $(,)?) $body:block) => {
        $(#[$attr])*
        #[inline]
        #[allow(clippy::too_many_arguments)] // a loop's slices and scalars, passed as they are
        $vis fn $name<$($gen)*>($($p: $t),*) {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn body<$($gen)*>($($p: $t),*) $body
            #[cfg(target_arch = "x86_64")]
            if $crate::backend::cpu::avx2_fma() {
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                fn avx2<$($gen)*>($($p: $t),*) {
                    body($($p),*)
                }
                // SAFETY: the CPU supports AVX2 and FMA, checked just above.
                return unsafe { avx2($($p),*) };
            }
            body($($p),*)
        }
    };
}
pub(crate) use simd_fn;

/// A size or bound from the environment variable `var` (an unsigned integer), else `default`.
pub(crate) fn env_usize(var: &str, default: usize) -> usize {
    std::env::var(var).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

/// A raw pointer that may cross to a rayon thread, for kernels whose parallel parts each write
/// their own elements of one destination (split products and batches, Winograd's output
/// tiles) and only read their operands, all of which outlive the parallel section.
#[derive(Clone, Copy)]
pub(crate) struct SendPtr<T>(pub(crate) *mut T);
// SAFETY: see the type's contract: the parts write disjoint elements and nothing else touches
// the destination while they run.
unsafe impl<T> Send for SendPtr<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    /// The pointer (a method, so that a closure captures the whole `SendPtr`).
    pub(crate) fn get(self) -> *mut T {
        self.0
    }

    /// The pointer, through a reference (for a `SendPtr<T>` that is not `Copy`).
    pub(crate) fn ptr(&self) -> *mut T {
        self.0
    }
}

/// Inputs at least this long are processed in parallel chunks.
pub const PAR_THRESHOLD: usize = 1 << 16;

/// Chunk length for parallel elementwise loops.
pub const PAR_CHUNK: usize = 1 << 15;

/// Inputs of kernels that do a few flops per element (an SGD step, `x + y`, `x += 1`, a sum)
/// go parallel only from this length: below it, waking a second thread costs more than it
/// saves. On 2 cores an SGD step on 10^5 float32 took 35 µs on one thread and 65 µs split over
/// two; `x += 1` on 2^16 float32 13-18 µs against 23-31 µs.
pub const PAR_THRESHOLD_CHEAP: usize = 1 << 18;

/// Cheap kernels over at least this many elements, on the thread that called the op, split
/// over that thread and the team's spinning helpers ([`team`]), which join within
/// a microsecond where rayon's pool takes several to wake. On a 2-vCPU EPYC (Zen 4), `relu` of
/// 10^5 float32 run on the calling thread took 10.0 µs on one thread and 6.0 µs split so.
pub const TEAM_THRESHOLD_CHEAP: usize = 1 << 15;

/// How a kernel's loop over its elements runs: see [`Parallelism::split_cheap_mode`] and
/// [`chunks_mut`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// On the calling thread.
    One,
    /// Over the calling thread and this many threads in all from the team ([`team`]).
    Team(usize),
    /// Over rayon's pool, in chunks of [`PAR_CHUNK`].
    Pool,
}

impl Split {
    /// [`Split::Pool`] when `pool`, else [`Split::One`] (the kernels that split only over rayon).
    pub fn pool_if(pool: bool) -> Split {
        if pool { Split::Pool } else { Split::One }
    }
}

/// Run `f(start, chunk)` over consecutive chunks of `out` (`start` is the chunk's first index),
/// as `split` says: the whole on this thread, a few chunks per thread of the team (in whole
/// cache lines), or chunks of [`PAR_CHUNK`] over rayon's pool.
pub fn chunks_mut<T: Send>(split: Split, out: &mut [T], f: impl Fn(usize, &mut [T]) + Sync) {
    rows_mut(split, out, 16, f)
}

/// Run `f(start, rows)` over consecutive runs of whole rows of `out` (rows of `row` elements, the
/// last run possibly shorter; `start` is the run's first element), as `split` says: the whole on
/// this thread, two runs per thread of the team (a helper that starts late leaves more of them
/// to the caller), or runs of about [`PAR_CHUNK`] elements over rayon's pool.
pub fn rows_mut<T: Send>(split: Split, out: &mut [T], row: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    let row = row.max(1);
    let n = out.len();
    let threads = match split {
        Split::One => return f(0, out),
        Split::Pool => {
            use rayon::prelude::*;
            let step = (PAR_CHUNK / row).max(1) * row;
            return out.par_chunks_mut(step).enumerate().for_each(|(i, o)| f(i * step, o));
        }
        Split::Team(threads) => threads.max(1),
    };
    let step = (n / row).div_ceil(2 * threads).max(1) * row;
    let helpers = threads - 1;
    let base = SendPtr(out.as_mut_ptr());
    team::run_blocks(n.div_ceil(step), helpers, &|i| {
        let start = i * step;
        // SAFETY: the runs [i*step, min((i+1)*step, n)) are disjoint and inside `out`, which is
        // exclusively borrowed until every run has finished (run_blocks returns only then).
        let run = unsafe { std::slice::from_raw_parts_mut(base.ptr().add(start), step.min(n - start)) };
        f(start, run)
    });
}

/// The thread budget of one op run: how many threads its kernels may split work over, when,
/// and whom they tell when they do. The caller that runs the op fills it (the imperative call
/// gives rayon's pool size, `busy` true while other engine ops run, so that independent ops
/// run side by side instead of queueing for the same pool); kernels only read it.
#[derive(Clone, Copy, Debug)]
pub struct Parallelism {
    /// Threads a kernel may use; 1 keeps it on the calling thread.
    pub threads: usize,
    /// Asked each time a kernel decides whether to split: true while other work runs beside the
    /// op, and the kernel then keeps to one thread. Asked at each decision rather than once per
    /// op, so that a long op (a convolution's backward pass) that starts beside a short one (an
    /// SGD step) still splits its later kernels once it runs alone.
    pub busy: fn() -> bool,
    /// Called on the op's thread when a kernel splits its work over a pool (the engine then
    /// leaves every core to that pool).
    pub on_split: fn(),
}

impl Parallelism {
    /// One thread, telling nobody: kernels never split.
    pub const SERIAL: Parallelism = Parallelism { threads: 1, busy: never_busy, on_split: no_split_hook };

    /// Threads a kernel may use now: the budget's, or 1 while [`Parallelism::busy`].
    pub fn available(self) -> usize {
        if self.threads > 1 && !(self.busy)() { self.threads } else { 1 }
    }

    /// Whether a kernel over `n` elements should split its work over rayon's pool: only for
    /// large inputs and several [available](Parallelism::available) threads. A split is
    /// reported to `on_split`.
    pub fn split(self, n: usize) -> bool {
        let split = n >= PAR_THRESHOLD && self.available() > 1;
        if split {
            self.notify_split();
        }
        split
    }

    /// [`Parallelism::split`] for kernels that do a few flops per element.
    pub fn split_cheap(self, n: usize) -> bool {
        n >= PAR_THRESHOLD_CHEAP && self.split(n)
    }

    /// How a kernel that does a few flops per element runs over `n` elements: where the op runs
    /// on the thread that called it, over the team from [`TEAM_THRESHOLD_CHEAP`]; on an engine
    /// worker, over rayon's pool from [`PAR_THRESHOLD_CHEAP`] (as [`Parallelism::split_cheap`]);
    /// else on the one thread. A split is reported to `on_split`.
    ///
    /// An op on an engine worker keeps a mid-sized loop to itself: the other worker may take
    /// the next op meanwhile, and a helper beside both would leave three threads to two cores
    /// (two independent chains of `x += 1` on 2^17 elements took 2.65 ms against 1.25 ms). The
    /// thread that called the op splits over the team at any size: handing blocks to rayon from
    /// outside its pool puts the caller to sleep until a pool thread wakes it, and on a 2-vCPU
    /// EPYC (Zen 4) the float32 sum of 3x10^5 elements took 54-57 µs split over rayon against
    /// 17 µs on one thread.
    pub fn split_cheap_mode(self, n: usize) -> Split {
        let on_caller = mxrs_engine::current_worker().is_none();
        if n >= PAR_THRESHOLD_CHEAP && !on_caller {
            return Split::pool_if(self.split(n));
        }
        let threads = self.available();
        if n >= TEAM_THRESHOLD_CHEAP && threads > 1 && on_caller {
            self.notify_split();
            return Split::Team(threads);
        }
        Split::One
    }

    /// [`Parallelism::split_cheap_mode`] for kernels of a few dozen instructions an element
    /// (softmax rows): over the team from [`TEAM_THRESHOLD_CHEAP`] elements where the op runs on
    /// the thread that called it, over rayon's pool from [`PAR_THRESHOLD`] elsewhere and from
    /// [`PAR_THRESHOLD_CHEAP`] there.
    pub fn split_mode(self, n: usize) -> Split {
        match self.split_cheap_mode(n) {
            Split::One => Split::pool_if(self.split(n)),
            s => s,
        }
    }

    /// The budget of the engine op about to run on this thread: rayon's pool, of which its
    /// kernels use one thread whenever another engine op runs (each op then keeps to its own
    /// worker, and independent ops run side by side instead of queueing for the same pool);
    /// they ask at each split. Kernels that split report it to the engine, which then leaves
    /// the cores to the pool.
    pub fn engine_op() -> Parallelism {
        // Rayon's global pool never changes size once built; asking it per op would cost a
        // thread-local and registry lookup on every tiny op.
        static POOL_THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        let threads = *POOL_THREADS.get_or_init(rayon::current_num_threads);
        Parallelism { threads, busy: other_ops_running, on_split: mxrs_engine::mark_parallel }
    }

    /// Report a split decided by the kernel's own measure of work (the matrix products, an
    /// external BLAS's threads).
    pub fn notify_split(self) {
        (self.on_split)();
    }

    /// Every thread of the current rayon pool, splits reported to nobody: kernel tests that
    /// run outside the engine.
    #[cfg(test)]
    pub(crate) fn whole_pool() -> Parallelism {
        Parallelism { threads: rayon::current_num_threads(), busy: never_busy, on_split: no_split_hook }
    }
}

/// Whether engine ops other than the caller's run now (light ones aside: see `mxrs_engine::running_ops`).
fn other_ops_running() -> bool {
    mxrs_engine::others_running()
}

/// The `on_split` of a budget nobody listens to.
fn no_split_hook() {}

/// The `busy` of a budget that nothing runs beside.
fn never_busy() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::atomic::{AtomicUsize, Ordering};

    static SPLITS: AtomicUsize = AtomicUsize::new(0);

    fn count_split() {
        SPLITS.fetch_add(1, Ordering::Relaxed);
    }

    #[test]
    fn split_follows_the_thresholds_and_the_budget() {
        let par = Parallelism { threads: 4, busy: never_busy, on_split: count_split };
        let before = SPLITS.load(Ordering::Relaxed);
        assert!(!par.split(PAR_THRESHOLD - 1));
        assert!(par.split(PAR_THRESHOLD));
        assert!(!par.split_cheap(PAR_THRESHOLD_CHEAP - 1));
        assert!(par.split_cheap(PAR_THRESHOLD_CHEAP));
        assert_eq!(SPLITS.load(Ordering::Relaxed) - before, 2, "each split is reported once");
        let one = Parallelism { threads: 1, busy: never_busy, on_split: count_split };
        assert!(!one.split(usize::MAX) && !one.split_cheap(usize::MAX));
        assert!(!Parallelism::SERIAL.split(usize::MAX));
        assert_eq!(SPLITS.load(Ordering::Relaxed) - before, 2, "no split, no report");
    }

    fn busy() -> bool {
        true
    }

    #[test]
    fn cheap_loops_split_over_the_team_then_the_pool() {
        // On the thread that called the op (this test's): the team, at any size.
        let par = Parallelism { threads: 2, busy: never_busy, on_split: no_split_hook };
        assert_eq!(par.split_cheap_mode(TEAM_THRESHOLD_CHEAP - 1), Split::One);
        assert_eq!(par.split_cheap_mode(TEAM_THRESHOLD_CHEAP), Split::Team(2));
        assert_eq!(par.split_cheap_mode(PAR_THRESHOLD_CHEAP - 1), Split::Team(2));
        assert_eq!(par.split_cheap_mode(PAR_THRESHOLD_CHEAP), Split::Team(2));
        // On an engine worker: one thread below the pool's bound, the pool from it.
        let engine = mxrs_engine::engine();
        let (tx, rx) = std::sync::mpsc::channel();
        let var = mxrs_engine::Var::new();
        engine.push(
            Box::new(move || {
                let modes = [TEAM_THRESHOLD_CHEAP, PAR_THRESHOLD_CHEAP].map(|n| par.split_cheap_mode(n));
                tx.send(modes).unwrap();
                Ok(())
            }),
            &[],
            std::slice::from_ref(&var),
            mxrs_engine::Device::cpu(0),
            mxrs_engine::FnProperty::Normal,
            0,
            "split_mode_probe",
        );
        engine.wait_for_var(&var).unwrap();
        assert_eq!(rx.recv().unwrap(), [Split::One, Split::Pool]);
        // One thread, or other ops running beside: never split.
        assert_eq!(Parallelism::SERIAL.split_cheap_mode(usize::MAX), Split::One);
        let busy = Parallelism { threads: 2, busy, on_split: no_split_hook };
        assert_eq!(busy.split_cheap_mode(TEAM_THRESHOLD_CHEAP), Split::One);
        assert_eq!(busy.split_cheap_mode(PAR_THRESHOLD_CHEAP), Split::One);
    }

    /// Every element of the destination is handed to exactly one chunk, at its own index, in
    /// every mode and from inside rayon's pool too (where the team defers to rayon).
    #[test]
    fn chunks_cover_every_element_once() {
        let check = |split: Split| {
            for n in [0, 1, 15, 16, 17, 1000, 100_003] {
                let mut out = vec![0usize; n];
                chunks_mut(split, &mut out, |s, c| {
                    for (j, x) in c.iter_mut().enumerate() {
                        *x += s + j + 1;
                    }
                });
                assert!(out.iter().enumerate().all(|(i, &x)| x == i + 1), "{split:?}, {n} elements");
            }
        };
        for split in [Split::One, Split::Team(2), Split::Team(3), Split::Pool] {
            check(split);
            rayon::scope(|_| check(split));
            rayon::join(|| check(split), || check(split));
        }
    }
}
