//! Volume, memory, throttling, many pushers and shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::util::{Gate, Live, cpu_engine, push_cpu, with_timeout};
use crate::{Engine, ThreadedConfig, ThreadedEngine, Var};

const LONG: Duration = Duration::from_secs(20);

#[test]
fn a_million_tiny_ops_complete_and_free_everything() {
    static LIVE: AtomicUsize = AtomicUsize::new(0);
    static PEAK: AtomicUsize = AtomicUsize::new(0);
    const N: usize = 1_000_000;
    const VARS: usize = 1000;
    const MAX_PENDING: usize = 10_000;
    with_timeout(600, || {
        let eng = ThreadedEngine::new(ThreadedConfig { max_pending: MAX_PENDING, ..ThreadedConfig::per_device() });
        let vars: Vec<Var> = (0..VARS).map(|_| Var::new()).collect();
        let count = Arc::new(AtomicUsize::new(0));
        for i in 0..N {
            let (guard, c) = (Live::new(&LIVE, &PEAK), count.clone());
            let (r, w) = (&vars[(i * 7 + 1) % VARS], &vars[i % VARS]);
            push_cpu(&eng, &[r], &[w], move || {
                let _guard = guard;
                c.fetch_add(1, Ordering::Relaxed);
                Ok(())
            });
        }
        eng.wait_for_all().unwrap();
        assert_eq!(count.load(Ordering::Relaxed), N);
        assert_eq!(LIVE.load(Ordering::SeqCst), 0, "every closure was freed");
        let peak = PEAK.load(Ordering::SeqCst);
        assert!(peak <= MAX_PENDING + 1, "pending ops bounded: peak {peak}");
        assert_eq!(eng.pending(), 0);
        for v in &vars {
            assert_eq!(v.version(), (N / VARS) as u64);
            assert_eq!(Arc::strong_count(&v.0), 1, "no op kept a var handle");
            assert!(v.0.sched.lock().is_idle());
        }
    });
}

#[test]
fn many_threads_pushing_at_once() {
    with_timeout(300, || {
        for max_pending in [0, 64] {
            let eng = Arc::new(ThreadedEngine::new(ThreadedConfig { max_pending, ..ThreadedConfig::per_device() }));
            let (a, b) = (Var::new(), Var::new());
            let shared = Arc::new(AtomicI64::new(0));
            let threads: Vec<_> = (0..8)
                .map(|t| {
                    let (eng, a, b, shared) = (eng.clone(), a.clone(), b.clone(), shared.clone());
                    std::thread::spawn(move || {
                        let own = Var::new();
                        let mine = Arc::new(AtomicI64::new(0));
                        // Opposite variable orders from alternate threads: the 2PL push keeps
                        // every pair of ops in one order on both variables.
                        let writes = if t % 2 == 0 { [a, b] } else { [b, a] };
                        for k in 0..2_000 {
                            let (s, m) = (shared.clone(), mine.clone());
                            if k % 3 == 0 {
                                push_cpu(&*eng, &[], &[&own], move || {
                                    m.fetch_add(1, Ordering::Relaxed);
                                    Ok(())
                                });
                            } else {
                                push_cpu(&*eng, &[&own], &[&writes[0], &writes[1]], move || {
                                    let x = s.load(Ordering::Relaxed);
                                    std::thread::yield_now();
                                    s.store(x + 1, Ordering::Relaxed);
                                    Ok(())
                                });
                            }
                        }
                        eng.wait_for_var(&own).unwrap();
                        (mine.load(Ordering::Relaxed), own.version())
                    })
                })
                .collect();
            for t in threads {
                assert_eq!(t.join().unwrap(), (667, 667));
            }
            eng.wait_for_all().unwrap();
            assert_eq!(shared.load(Ordering::Relaxed), 8 * 1333);
            assert_eq!((a.version(), b.version()), (8 * 1333, 8 * 1333));
        }
    });
}

#[test]
fn throttling_blocks_a_producer_far_ahead() {
    with_timeout(60, || {
        let eng = Arc::new(ThreadedEngine::new(ThreadedConfig {
            cpu_workers: 1,
            max_pending: 8,
            ..ThreadedConfig::per_device()
        }));
        let gate = Arc::new(Gate::default());
        let pushed = Arc::new(AtomicUsize::new(0));
        let (e, g, p) = (eng.clone(), gate.clone(), pushed.clone());
        let producer = std::thread::spawn(move || {
            for _ in 0..100 {
                let g = g.clone();
                push_cpu(&*e, &[], &[], move || if g.wait(LONG) { Ok(()) } else { Err("gate".into()) });
                p.fetch_add(1, Ordering::SeqCst);
            }
        });
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(pushed.load(Ordering::SeqCst), 8, "push blocks at max_pending");
        assert_eq!(eng.pending(), 8);
        gate.open();
        producer.join().unwrap();
        eng.wait_for_all().unwrap();
        assert_eq!(pushed.load(Ordering::SeqCst), 100);
    });
}

#[test]
fn pushes_from_workers_are_never_throttled() {
    with_timeout(60, || {
        let eng = Arc::new(ThreadedEngine::new(ThreadedConfig {
            cpu_workers: 1,
            max_pending: 2,
            ..ThreadedConfig::per_device()
        }));
        let count = Arc::new(AtomicUsize::new(0));
        let (e, c) = (eng.clone(), count.clone());
        push_cpu(&*eng, &[], &[], move || {
            for _ in 0..50 {
                let c = c.clone();
                push_cpu(&*e, &[], &[], move || {
                    c.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                });
            }
            Ok(())
        });
        eng.wait_for_all().unwrap();
        assert_eq!(count.load(Ordering::SeqCst), 50);
    });
}

#[test]
fn dropping_an_engine_with_pending_work_neither_blocks_nor_leaks() {
    with_timeout(60, || {
        let eng = cpu_engine(2);
        let gate = Arc::new(Gate::default());
        let done = Arc::new(AtomicUsize::new(0));
        let v = Var::new();
        for _ in 0..50 {
            let (g, d) = (gate.clone(), done.clone());
            push_cpu(&eng, &[], &[&v], move || {
                let ok = g.wait(LONG);
                d.fetch_add(1, Ordering::SeqCst);
                if ok { Ok(()) } else { Err("gate".into()) }
            });
        }
        let shared = eng.shared_weak();
        let t = Instant::now();
        drop(eng);
        assert!(t.elapsed() < Duration::from_secs(1), "drop must not wait for pending ops");
        gate.open();
        let deadline = Instant::now() + LONG;
        while shared.upgrade().is_some() {
            assert!(Instant::now() < deadline, "workers did not exit after the last op");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(done.load(Ordering::SeqCst), 50, "pushed ops still ran");
        assert_eq!(v.version(), 50);
        assert!(v.error().is_none());
        // An engine dropped idle, and one that never started a lane, go at once.
        let idle = cpu_engine(1);
        push_cpu(&idle, &[], &[], || Ok(()));
        idle.wait_for_all().unwrap();
        let weak = idle.shared_weak();
        drop(idle);
        let deadline = Instant::now() + LONG;
        while weak.upgrade().is_some() {
            assert!(Instant::now() < deadline, "idle workers did not exit");
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(cpu_engine(1));
    });
}
