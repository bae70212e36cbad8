//! A small team of helper threads that split one kernel's blocks with the calling thread,
//! for kernels too short for rayon's hand-off (the matrix products of 64-256 rows), and for the
//! cheap elementwise loops and float32 reductions of 2^15 elements and more on the thread that
//! called the op (see `Parallelism::split_cheap_mode`).
//!
//! Rayon's `par_iter` from a thread outside its pool (an engine worker, or the Python thread
//! running an op inline) hands every block to the pool and puts the caller to sleep until a
//! pool thread wakes it; and rayon's idle threads fall asleep a few microseconds after their
//! last job, so the next split first wakes one. On a small VM each wake-up costs 5-30 µs,
//! more than half of a 128^3 float32 product. Here the caller works on the blocks itself, the
//! helpers keep looking for the next split for a while before they sleep, as the engine's
//! workers do (`MXRS_ENGINE_SPIN_US`, default 30 µs, yielding their core between looks), and
//! each block goes to whichever thread is free first: a helper that starts late finds nothing
//! left, so a split never takes much longer than running every block on the caller.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

/// One split: seats left, blocks claimed, blocks finished, whether one panicked, and the work
/// (valid until `done` reaches `count`: the caller does not return before).
struct Split {
    /// Helpers that may still join (the op's thread budget less the caller).
    seats: AtomicUsize,
    next: AtomicUsize,
    done: AtomicUsize,
    panicked: AtomicBool,
    count: usize,
    f: *const (dyn Fn(usize) + Sync),
}

// SAFETY: `f` is `Sync`, and is called only for claimed blocks, each of which the caller waits
// for before `f`'s referent goes away (see `Split::work`).
unsafe impl Send for Split {}
// SAFETY: as above; the other fields are atomics.
unsafe impl Sync for Split {}

impl Split {
    /// Claim and run blocks until none is left.
    fn work(&self) {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.count {
                return;
            }
            // SAFETY: block i was claimed by this thread and `done` does not count it yet, so
            // the caller still waits in `run_blocks` and `f` is alive.
            let f = unsafe { &*self.f };
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(i))).is_err() {
                self.panicked.store(true, Ordering::Relaxed);
            }
            self.done.fetch_add(1, Ordering::Release);
        }
    }
}

/// The helpers' shared state: the latest split and its generation.
struct Team {
    helpers: usize,
    generation: AtomicU64,
    job: Mutex<Option<Arc<Split>>>,
    sleepers: AtomicUsize,
    wake: Condvar,
    /// Guards sleeping (with `wake`).
    sleep: Mutex<()>,
}

fn team() -> &'static Team {
    static TEAM: OnceLock<&'static Team> = OnceLock::new();
    TEAM.get_or_init(|| {
        let helpers = rayon::current_num_threads().saturating_sub(1);
        let team: &'static Team = Box::leak(Box::new(Team {
            helpers,
            generation: AtomicU64::new(0),
            job: Mutex::new(None),
            sleepers: AtomicUsize::new(0),
            wake: Condvar::new(),
            sleep: Mutex::new(()),
        }));
        let (started, running) = std::sync::mpsc::channel();
        let mut spawned = 0;
        for i in 0..helpers {
            let started = started.clone();
            let helper = move || {
                let _ = started.send(());
                helper(team)
            };
            if std::thread::Builder::new().name(format!("mxrs-team-{i}")).spawn(helper).is_err() {
                // No helper thread: splits then run on their callers alone.
                break;
            }
            spawned += 1;
        }
        // A new thread carries its spawner's name until it starts and names itself: wait until
        // every helper runs, so that nothing sees a helper under an engine worker's name (a test
        // that counted `mxrs-cpu-worker` threads right after a split failed now and then).
        for _ in 0..spawned {
            let _ = running.recv();
        }
        team
    })
}

/// A helper's loop: wait for a new generation (spinning, then asleep), run its blocks.
fn helper(team: &'static Team) {
    let spin = mxrs_engine::spin_time();
    let mut seen = team.generation.load(Ordering::SeqCst);
    loop {
        let start = Instant::now();
        while team.generation.load(Ordering::SeqCst) == seen {
            if start.elapsed() >= spin {
                let mut g = team.sleep.lock();
                team.sleepers.fetch_add(1, Ordering::SeqCst);
                while team.generation.load(Ordering::SeqCst) == seen {
                    team.wake.wait(&mut g);
                }
                team.sleepers.fetch_sub(1, Ordering::SeqCst);
                break;
            }
            std::thread::yield_now();
        }
        seen = team.generation.load(Ordering::SeqCst);
        let job = team.job.lock().clone();
        if let Some(split) = job
            && split.seats.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok()
        {
            split.work();
        }
    }
}

/// Run `f(0)`, ..., `f(count - 1)` over the calling thread and up to `helpers` helper threads
/// (see the module's notes; the team has one per core but the caller's), and return when all
/// have run. From a thread of rayon's pool it
/// uses rayon's `par_iter` instead, which works inside the pool. A panic in any block is
/// raised again on the caller once every block has finished.
pub fn run_blocks(count: usize, helpers: usize, f: &(dyn Fn(usize) + Sync)) {
    if count <= 1 || helpers == 0 {
        return (0..count).for_each(f);
    }
    if rayon::current_thread_index().is_some() {
        use rayon::prelude::*;
        return (0..count).into_par_iter().for_each(f);
    }
    let team = team();
    // SAFETY: only the lifetime is erased: the pointer is dereferenced for claimed blocks,
    // all of which finish before this function returns.
    let f_static: *const (dyn Fn(usize) + Sync) =
        unsafe { std::mem::transmute(f as *const (dyn Fn(usize) + Sync + '_)) };
    let split = Arc::new(Split {
        seats: AtomicUsize::new(helpers),
        next: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        panicked: AtomicBool::new(false),
        count,
        f: f_static,
    });
    if team.helpers > 0 {
        *team.job.lock() = Some(Arc::clone(&split));
        team.generation.fetch_add(1, Ordering::SeqCst);
        if team.sleepers.load(Ordering::SeqCst) > 0 {
            let _g = team.sleep.lock();
            team.wake.notify_all();
        }
    }
    split.work();
    let mut spins = 0u32;
    while split.done.load(Ordering::Acquire) < count {
        spins += 1;
        if spins < 1 << 16 {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
    // A later split replaces the job; drop this one's now so the slot holds no stale work.
    {
        let mut job = team.job.lock();
        if job.as_ref().is_some_and(|j| Arc::ptr_eq(j, &split)) {
            *job = None;
        }
    }
    if split.panicked.load(Ordering::Relaxed) {
        panic!("a block of a split kernel panicked");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_block_runs_once_from_any_thread() {
        for count in [0, 1, 2, 7, 64] {
            let hits: Vec<AtomicUsize> = (0..count).map(|_| AtomicUsize::new(0)).collect();
            run_blocks(count, 3, &|i| {
                hits[i].fetch_add(1, Ordering::Relaxed);
            });
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1), "count {count}");
            // From inside rayon's pool too, and from several threads at once.
            let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
            pool.install(|| {
                run_blocks(count, 1, &|i| {
                    hits[i].fetch_add(1, Ordering::Relaxed);
                })
            });
            std::thread::scope(|s| {
                for _ in 0..3 {
                    s.spawn(|| {
                        run_blocks(count, 1, &|i| {
                            hits[i].fetch_add(1, Ordering::Relaxed);
                        })
                    });
                }
            });
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 5), "count {count}");
        }
    }

    #[test]
    fn a_panicking_block_is_raised_on_the_caller_after_the_others() {
        let ran = AtomicUsize::new(0);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_blocks(8, 1, &|i| {
                ran.fetch_add(1, Ordering::Relaxed);
                assert!(i != 3, "block 3 fails");
            })
        }));
        assert!(r.is_err());
        assert_eq!(ran.load(Ordering::Relaxed), 8, "every block ran before the panic was raised");
        // The team still works.
        let n = AtomicUsize::new(0);
        run_blocks(4, 1, &|_| {
            n.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(n.load(Ordering::Relaxed), 4);
    }
}
