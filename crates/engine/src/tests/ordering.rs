//! Ordering, concurrency, lanes and configuration of the threaded engines.

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::thread::sleep;
use std::time::Duration;

use parking_lot::Mutex;

use super::util::{Gate, TimedBarrier, cpu_engine, push_cpu, with_timeout};
use crate::{
    Device, Engine, FnProperty, LaneKind, ThreadedConfig, ThreadedEngine, Var, check_engine_name, create_engine,
    current_worker, set_worker_init_hook, with_worker_state,
};

const LONG: Duration = Duration::from_secs(10);

#[test]
fn read_after_write_and_write_after_read() {
    with_timeout(30, || {
        let eng = cpu_engine(2);
        let v = Var::new();
        let cell = Arc::new(AtomicI64::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let c = cell.clone();
        push_cpu(&eng, &[], &[&v], move || {
            sleep(Duration::from_millis(30));
            c.store(1, Ordering::Relaxed);
            Ok(())
        });
        for _ in 0..2 {
            let (c, seen) = (cell.clone(), seen.clone());
            push_cpu(&eng, &[&v], &[], move || {
                let before = c.load(Ordering::Relaxed);
                sleep(Duration::from_millis(30));
                seen.lock().push((before, c.load(Ordering::Relaxed)));
                Ok(())
            });
        }
        let c = cell.clone();
        push_cpu(&eng, &[], &[&v], move || {
            c.store(2, Ordering::Relaxed);
            Ok(())
        });
        eng.wait_for_var(&v).unwrap();
        assert_eq!(cell.load(Ordering::Relaxed), 2);
        assert_eq!(*seen.lock(), [(1, 1), (1, 1)]);
        assert_eq!(v.version(), 2);
    });
}

#[test]
fn independent_ops_run_concurrently() {
    with_timeout(30, || {
        for eng in [cpu_engine(2), ThreadedEngine::new(ThreadedConfig::pooled())] {
            let barrier = Arc::new(TimedBarrier::new(2));
            let vars = [Var::new(), Var::new()];
            for v in &vars {
                let b = barrier.clone();
                push_cpu(&eng, &[], &[v], move || {
                    if b.wait(LONG) { Ok(()) } else { Err("ops did not run concurrently".into()) }
                });
            }
            eng.wait_for_all().unwrap();
        }
    });
}

#[test]
fn a_dependent_chain_stays_on_one_worker_and_side_work_still_overlaps() {
    with_timeout(30, || {
        let eng = cpu_engine(2);
        let (v, w) = (Var::new(), Var::new());
        let threads = Arc::new(Mutex::new(Vec::new()));
        // The chain's first link waits until every later link has been pushed (and the
        // independent op has run), so each link becomes ready on the worker that finishes the
        // one before it.
        let gate = Arc::new(Gate::default());
        let g = gate.clone();
        push_cpu(&eng, &[], &[&v], move || {
            if g.wait(LONG) { Ok(()) } else { Err("the independent op did not run beside the chain".into()) }
        });
        for _ in 0..50 {
            let t = threads.clone();
            push_cpu(&eng, &[], &[&v], move || {
                t.lock().push(std::thread::current().id());
                Ok(())
            });
        }
        // An independent op still runs beside the chain on the other worker.
        let g = gate.clone();
        push_cpu(&eng, &[], &[&w], move || {
            g.open();
            Ok(())
        });
        eng.wait_for_all().unwrap();
        let t = threads.lock();
        assert_eq!(t.len(), 50);
        assert!(t.iter().all(|id| *id == t[0]), "the chain hopped between workers");
    });
}

#[test]
fn parallel_ops_are_counted_while_they_run() {
    with_timeout(30, || {
        // Other tests run ops in parallel sections too, so only this op's own effect on the
        // count is checked: it is seen inside the op, and marking twice counts once.
        let eng = cpu_engine(1);
        let v = Var::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        push_cpu(&eng, &[], &[&v], move || {
            let before = crate::running::parallel_ops_now();
            crate::mark_parallel();
            crate::mark_parallel();
            s.lock().push((before, crate::running::parallel_ops_now()));
            Ok(())
        });
        eng.wait_for_var(&v).unwrap();
        let (before, inside) = seen.lock()[0];
        assert!(inside >= 1 && inside <= before + 1, "{before} -> {inside}");
        // The count drops again when such ops end: a thousand of them, nested ones included,
        // leave it where it was (give or take the ops other tests run meanwhile).
        let start = crate::running::parallel_ops_now();
        for _ in 0..1000 {
            crate::running::run_guarded(
                Box::new(|| {
                    crate::mark_parallel();
                    crate::running::run_guarded(Box::new(|| Ok(())), "inner", Device::cpu(0), FnProperty::Light)
                        .unwrap();
                    crate::running::run_guarded(
                        Box::new(|| {
                            crate::mark_parallel();
                            Ok(())
                        }),
                        "inner parallel",
                        Device::cpu(0),
                        FnProperty::Normal,
                    )
                    .unwrap();
                    Ok(())
                }),
                "outer",
                Device::cpu(0),
                FnProperty::Normal,
            )
            .unwrap();
        }
        assert!(crate::running::parallel_ops_now() < start + 8, "{start} -> {}", crate::running::parallel_ops_now());
        // Outside ops, marking does nothing.
        let n = crate::running::parallel_ops_now();
        crate::mark_parallel();
        assert!(crate::running::parallel_ops_now() <= n + 8);
    });
}

#[test]
fn reads_of_one_var_run_concurrently() {
    with_timeout(30, || {
        let eng = cpu_engine(2);
        let v = Var::new();
        push_cpu(&eng, &[], &[&v], || Ok(()));
        let barrier = Arc::new(TimedBarrier::new(2));
        for _ in 0..2 {
            let b = barrier.clone();
            push_cpu(&eng, &[&v], &[], move || {
                if b.wait(LONG) { Ok(()) } else { Err("reads did not run concurrently".into()) }
            });
        }
        eng.wait_for_all().unwrap();
    });
}

#[test]
fn writes_to_one_var_are_serialised() {
    with_timeout(60, || {
        let eng = cpu_engine(2);
        let v = Var::new();
        let cell = Arc::new(AtomicI64::new(0));
        for _ in 0..300 {
            let c = cell.clone();
            push_cpu(&eng, &[], &[&v], move || {
                let x = c.load(Ordering::Relaxed);
                std::thread::yield_now();
                c.store(x + 1, Ordering::Relaxed);
                Ok(())
            });
        }
        eng.wait_for_var(&v).unwrap();
        assert_eq!(cell.load(Ordering::Relaxed), 300);
        assert_eq!(v.version(), 300);
    });
}

#[test]
fn priority_lane_runs_higher_priority_first() {
    with_timeout(30, || {
        let eng = ThreadedEngine::new(ThreadedConfig { cpu_priority_workers: 1, ..ThreadedConfig::per_device() });
        let (started, release) = (Arc::new(Gate::default()), Arc::new(Gate::default()));
        let (s, r) = (started.clone(), release.clone());
        let blocker: crate::OpFn = Box::new(move || {
            s.open();
            if r.wait(LONG) { Ok(()) } else { Err("never released".into()) }
        });
        eng.push(blocker, &[], &[], Device::cpu(0), FnProperty::CpuPrioritized, 0, "blocker");
        assert!(started.wait(LONG));
        let order = Arc::new(Mutex::new(Vec::new()));
        for i in 0..20usize {
            let p = ((i * 7) % 10) as i32 - 5;
            let o = order.clone();
            let op: crate::OpFn = Box::new(move || {
                assert_eq!(current_worker().map(|w| w.lane), Some(LaneKind::CpuPriority));
                o.lock().push((p, i));
                Ok(())
            });
            eng.push(op, &[], &[], Device::cpu(0), FnProperty::CpuPrioritized, p, "prio");
        }
        release.open();
        eng.wait_for_all().unwrap();
        let got = order.lock().clone();
        let mut want = got.clone();
        want.sort_by_key(|&(p, i)| (-p, i));
        assert_eq!(got, want, "higher priority first, push order among equals");
        assert_eq!(got.len(), 20);
    });
}

/// Where an op ran: lane, device, thread name and what the worker's state slot held.
type Seen = (Option<crate::WorkerInfo>, String, Option<String>);

fn probe(eng: &dyn Engine, device: Device, prop: FnProperty) -> Seen {
    let out = Arc::new(Mutex::new(None));
    let o = out.clone();
    let v = Var::new();
    let op: crate::OpFn = Box::new(move || {
        let name = std::thread::current().name().unwrap_or("").to_string();
        let state = with_worker_state(|s| s.and_then(|s| s.downcast_ref::<String>().cloned()));
        *o.lock() = Some((current_worker(), name, state));
        Ok(())
    });
    eng.push(op, &[], std::slice::from_ref(&v), device, prop, 0, "probe");
    eng.wait_for_var(&v).unwrap();
    out.lock().take().expect("probe ran")
}

#[test]
fn lanes_threads_and_worker_state_seam() {
    with_timeout(30, || {
        set_worker_init_hook(Some(Arc::new(|info: &crate::WorkerInfo| {
            Some(Box::new(format!("{:?}@{}", info.lane, info.device.id)) as Box<dyn Any>)
        })));
        let eng = ThreadedEngine::new(ThreadedConfig::per_device());
        let cases = [
            (Device::cpu(0), FnProperty::Normal, LaneKind::CpuNormal, "mxrs-cpu-worker-", 0),
            (Device::cpu(1), FnProperty::CopyToDevice, LaneKind::CpuNormal, "mxrs-cpu-worker-", 0),
            (Device::cpu(0), FnProperty::CpuPrioritized, LaneKind::CpuPriority, "mxrs-cpu-priority-", 0),
            (Device::gpu(3), FnProperty::Normal, LaneKind::GpuNormal, "mxrs-gpu3-worker-", 3),
            (Device::gpu(3), FnProperty::CopyFromDevice, LaneKind::GpuCopy, "mxrs-gpu3-copy-", 3),
            (Device::gpu(1), FnProperty::CopyToDevice, LaneKind::GpuCopy, "mxrs-gpu1-copy-", 1),
        ];
        for (device, prop, lane, prefix, dev_id) in cases {
            let (info, name, state) = probe(&eng, device, prop);
            let info = info.expect("runs on a worker");
            assert_eq!((info.lane, info.device.id), (lane, dev_id), "{device:?} {prop:?}");
            assert!(name.starts_with(prefix), "{name} for {device:?} {prop:?}");
            assert_eq!(state, Some(format!("{lane:?}@{dev_id}")));
        }
        let pooled = ThreadedEngine::new(ThreadedConfig::pooled());
        for (device, prop) in [(Device::gpu(0), FnProperty::CopyToDevice), (Device::cpu(0), FnProperty::Normal)] {
            let (info, name, _) = probe(&pooled, device, prop);
            assert_eq!(info.map(|i| i.lane), Some(LaneKind::Pooled));
            assert!(name.starts_with("mxrs-worker-"), "{name}");
        }
        // Wait ops run inline, wherever they become ready: not on a worker here.
        let (info, _, _) = probe(&eng, Device::cpu(0), FnProperty::Wait);
        assert_eq!(info, None);
        assert_eq!(current_worker(), None);
        set_worker_init_hook(None);
    });
}

#[test]
fn engine_names_and_config_from_env() {
    with_timeout(30, || {
        assert_eq!(create_engine("").unwrap().name(), "ThreadedEnginePerDevice");
        assert_eq!(create_engine("ThreadedEnginePerDevice").unwrap().name(), "ThreadedEnginePerDevice");
        assert_eq!(create_engine("ThreadedEngine").unwrap().name(), "ThreadedEngine");
        assert_eq!(create_engine("NaiveEngine").unwrap().name(), "NaiveEngine");
        let err = create_engine("Bogus").unwrap_err();
        assert!(err.starts_with("Cannot find Engine Bogus: MXNET_ENGINE_TYPE must be NaiveEngine"), "{err}");
        // The check alone agrees with create_engine on every name, and builds nothing.
        for name in ["", "NaiveEngine", "ThreadedEngine", "ThreadedEnginePerDevice"] {
            assert_eq!(check_engine_name(name), Ok(()), "{name}");
        }
        for name in ["Bogus", "naiveengine", " NaiveEngine"] {
            assert_eq!(check_engine_name(name).unwrap_err(), create_engine(name).unwrap_err(), "{name}");
        }
    });
    let env = |k: &str| match k {
        "MXNET_CPU_WORKER_NTHREADS" => Some(" 3 ".to_string()),
        "MXNET_CPU_PRIORITY_NTHREADS" => Some("0".to_string()),
        "MXNET_GPU_WORKER_NTHREADS" => Some("junk".to_string()),
        "MXRS_ENGINE_MAX_PENDING" => Some("0".to_string()),
        _ => None,
    };
    let c = ThreadedConfig::from_lookup(true, env);
    assert_eq!(c.cpu_workers, 3);
    assert_eq!(c.cpu_priority_workers, 1, "at least one worker");
    assert_eq!(c.gpu_workers, crate::DEFAULT_GPU_WORKERS, "junk is ignored");
    assert_eq!(c.gpu_copy_workers, crate::DEFAULT_GPU_COPY_WORKERS);
    assert_eq!(c.max_pending, 0);
    assert_eq!(ThreadedConfig::from_lookup(false, |_| None), ThreadedConfig::pooled());
    assert_eq!(ThreadedConfig::from_lookup(true, |_| None), ThreadedConfig::default());
}

/// Push a light CPU op (run by the pusher when its variables are free).
fn push_light(
    eng: &dyn Engine,
    reads: &[&Var],
    writes: &[&Var],
    f: impl FnOnce() -> Result<(), crate::error::BoxError> + Send + 'static,
) {
    let (reads, writes): (Vec<Var>, Vec<Var>) =
        (reads.iter().map(|&v| v.clone()).collect(), writes.iter().map(|&v| v.clone()).collect());
    eng.push(Box::new(f), &reads, &writes, Device::cpu(0), FnProperty::Light, 0, "light_op");
}

#[test]
fn light_ops_run_in_push_when_free_and_queue_behind_busy_variables() {
    with_timeout(30, || {
        let eng = cpu_engine(2);
        let (a, b, out) = (Var::new(), Var::new(), Var::new());
        let log = Arc::new(Mutex::new(Vec::new()));
        // Free variables: the op has run (on this thread) when push returns, and is not pending.
        let (l, me) = (log.clone(), std::thread::current().id());
        push_light(&eng, &[&a, &b], &[&out], move || {
            l.lock().push(("free", std::thread::current().id() == me));
            Ok(())
        });
        assert_eq!(*log.lock(), [("free", true)]);
        assert_eq!(out.version(), 1);
        // A busy input: the light op waits for the write, then runs, in push order with a read
        // and a write pushed after it.
        let gate = Arc::new(Gate::default());
        let (g, l) = (gate.clone(), log.clone());
        push_cpu(&eng, &[], &[&a], move || {
            assert!(g.wait(LONG));
            l.lock().push(("write a", true));
            Ok(())
        });
        let l = log.clone();
        push_light(&eng, &[&a, &a], &[&out, &out], move || {
            l.lock().push(("light after write", true));
            Ok(())
        });
        let l = log.clone();
        push_light(&eng, &[&out], &[&b], move || {
            l.lock().push(("light reads out", true));
            Ok(())
        });
        assert_eq!(log.lock().len(), 1, "ran before the write it depends on");
        gate.open();
        eng.wait_for_all().unwrap();
        let order: Vec<&str> = log.lock().iter().map(|(s, _)| *s).collect();
        assert_eq!(order, ["free", "write a", "light after write", "light reads out"]);
        assert_eq!((a.version(), b.version(), out.version()), (1, 1, 2));
        // An error on an input: the light op skips and passes the error on; a light op that
        // fails leaves its error on its outputs and for wait_for_all, once.
        push_light(&eng, &[], &[&a], || Err("light failure".into()));
        let ran = Arc::new(AtomicI64::new(0));
        let r = ran.clone();
        push_light(&eng, &[&a], &[&b], move || {
            r.fetch_add(1, Ordering::Relaxed);
            Ok(())
        });
        assert_eq!(ran.load(Ordering::Relaxed), 0);
        assert!(b.error().is_some_and(|e| e.to_string().contains("light failure")), "{:?}", b.error());
        assert!(eng.wait_for_all().is_err());
        assert!(eng.wait_for_all().is_ok());
        // In-place on a variable read by a running op: waits for the read.
        let gate = Arc::new(Gate::default());
        let g = gate.clone();
        push_cpu(&eng, &[&out], &[], move || {
            assert!(g.wait(LONG));
            Ok(())
        });
        let r = ran.clone();
        push_light(&eng, &[&out], &[&out], move || {
            r.fetch_add(10, Ordering::Relaxed);
            Ok(())
        });
        assert_eq!(ran.load(Ordering::Relaxed), 0);
        gate.open();
        eng.wait_for_var(&out).unwrap();
        assert_eq!(ran.load(Ordering::Relaxed), 10);
    });
}

#[test]
fn run_now_runs_borrowed_ops_on_free_variables_only() {
    with_timeout(30, || {
        let eng = cpu_engine(2);
        let (a, b, out) = (Var::new(), Var::new(), Var::new());
        // Free: the op runs here, on data it only borrows, and its write counts.
        let mut seen = Vec::new();
        let mut op = || {
            seen.push(std::thread::current().id());
            Ok(())
        };
        assert!(eng.run_now(&mut op, &[a.clone(), b.clone()], std::slice::from_ref(&out), Device::cpu(0), "now"));
        assert_eq!(seen, [std::thread::current().id()]);
        assert_eq!(out.version(), 1);
        // A busy input: not run, nothing granted; the caller pushes it instead.
        let gate = Arc::new(Gate::default());
        let g = gate.clone();
        push_cpu(&eng, &[], &[&a], move || {
            assert!(g.wait(LONG));
            Ok(())
        });
        let mut runs = 0;
        let mut op = || {
            runs += 1;
            Ok(())
        };
        assert!(!eng.run_now(&mut op, std::slice::from_ref(&a), std::slice::from_ref(&out), Device::cpu(0), "now"));
        assert_eq!((runs, out.version()), (0, 1));
        gate.open();
        eng.wait_for_all().unwrap();
        // An error on an input: skipped, the error passed on; a failing op leaves its error on
        // its output and for wait_for_all, as a pushed op.
        push_light(&eng, &[], &[&a], || Err("input failure".into()));
        let _ = eng.wait_for_all();
        let mut runs = 0;
        let mut op = || {
            runs += 1;
            Ok(())
        };
        assert!(eng.run_now(&mut op, std::slice::from_ref(&a), std::slice::from_ref(&b), Device::cpu(0), "now"));
        assert_eq!(runs, 0);
        assert!(b.error().is_some_and(|e| e.to_string().contains("input failure")), "{:?}", b.error());
        let mut failing = || Err("own failure".into());
        assert!(eng.run_now(&mut failing, &[], std::slice::from_ref(&out), Device::cpu(0), "now"));
        assert!(out.error().is_some_and(|e| e.to_string().contains("own failure")), "{:?}", out.error());
        assert!(eng.wait_for_all().is_err());
        // The naive engine has no such path: its callers push.
        let naive = crate::NaiveEngine::new();
        let mut op = || Ok(());
        assert!(!naive.run_now(&mut op, &[], std::slice::from_ref(&b), Device::cpu(0), "now"));
    });
}
