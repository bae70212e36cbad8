//! Error semantics of the threaded engines (the same as `NaiveEngine`'s).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use parking_lot::Mutex;

use super::util::{cpu_engine, push_cpu, with_timeout};
use crate::{Device, Engine, FnProperty, OpFn, Var};

#[test]
fn failed_op_skips_dependents_and_error_stays_until_rewritten() {
    with_timeout(30, || {
        let eng = cpu_engine(2);
        let (a, b, c) = (Var::new(), Var::new(), Var::new());
        let ran = Arc::new(AtomicUsize::new(0));
        push_cpu(&eng, &[], &[&a], || Err("intentional fail 1".into()));
        for (src, dst) in [(&a, &b), (&b, &c)] {
            let r = ran.clone();
            push_cpu(&eng, &[src], &[dst], move || {
                r.fetch_add(1, Ordering::SeqCst);
                Ok(())
            });
        }
        let ea = eng.wait_for_var(&a).unwrap_err();
        assert_eq!(ea.to_string(), "intentional fail 1");
        assert!(eng.wait_for_var(&b).unwrap_err().same_as(&ea), "skipped op passes the error on");
        assert!(eng.wait_for_var(&c).unwrap_err().same_as(&ea));
        assert_eq!(ran.load(Ordering::SeqCst), 0, "dependents of a failed op are skipped");
        assert_eq!((a.version(), b.version(), c.version()), (1, 1, 1));
        // The error stays on every array it was to write, read after read.
        assert!(eng.wait_for_var(&a).unwrap_err().same_as(&ea));
        assert!(eng.wait_for_var(&c).unwrap_err().same_as(&ea));
        // A successful write clears it; the dependents keep theirs until rewritten.
        push_cpu(&eng, &[], &[&a], || Ok(()));
        eng.wait_for_var(&a).unwrap();
        assert!(eng.wait_for_var(&b).is_err());
        let r = ran.clone();
        push_cpu(&eng, &[&a], &[&b], move || {
            r.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
        eng.wait_for_var(&b).unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        // The error was already reported by the waits above, so wait_for_all does not repeat it
        // (as MXNet); the engine is clean and usable.
        eng.wait_for_all().unwrap();
        push_cpu(&eng, &[&b], &[&c], || Ok(()));
        eng.wait_for_var(&c).unwrap();
        eng.wait_for_all().unwrap();
    });
}

#[test]
fn wait_for_all_reports_once_then_ok() {
    with_timeout(30, || {
        let eng = cpu_engine(2);
        let vars: Vec<Var> = (0..4).map(|_| Var::new()).collect();
        for (i, v) in vars.iter().enumerate() {
            push_cpu(
                &eng,
                &[],
                &[v],
                move || {
                    if i % 2 == 1 { Err(format!("intentional fail {i}").into()) } else { Ok(()) }
                },
            );
        }
        let e = eng.wait_for_all().unwrap_err();
        assert!(["intentional fail 1", "intentional fail 3"].contains(&e.to_string().as_str()));
        eng.wait_for_all().unwrap();
        eng.wait_for_all().unwrap();
        // Errors stay on the arrays regardless.
        assert!(eng.wait_for_var(&vars[1]).is_err());
        assert!(eng.wait_for_var(&vars[0]).is_ok());
    });
}

#[test]
fn panicking_op_is_caught_and_worker_survives() {
    with_timeout(30, || {
        let eng = cpu_engine(1);
        let (v, w) = (Var::new(), Var::new());
        push_cpu(&eng, &[], &[&v], || panic!("intentional boom"));
        let names = Arc::new(Mutex::new(Vec::new()));
        for _ in 0..3 {
            let n = names.clone();
            push_cpu(&eng, &[], &[&w], move || {
                n.lock().push(std::thread::current().name().unwrap_or("").to_string());
                Ok(())
            });
        }
        let e = eng.wait_for_var(&v).unwrap_err();
        assert!(e.to_string().contains("panic") && e.to_string().contains("intentional boom"), "{e}");
        assert_eq!(e.op(), "test_op");
        eng.wait_for_var(&w).unwrap();
        assert_eq!(*names.lock(), vec!["mxrs-cpu-worker-0".to_string(); 3], "the one worker lives on");
        // Already reported by wait_for_var: wait_for_all does not repeat it.
        eng.wait_for_all().unwrap();
    });
}

#[test]
fn wait_ops_are_never_skipped() {
    with_timeout(30, || {
        let eng = cpu_engine(2);
        let (a, w) = (Var::new(), Var::new());
        push_cpu(&eng, &[], &[&a], || Err("intentional fail 0".into()));
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        let op: OpFn = Box::new(move || {
            r.store(true, Ordering::SeqCst);
            Ok(())
        });
        eng.push(op, std::slice::from_ref(&a), std::slice::from_ref(&w), Device::cpu(0), FnProperty::Wait, 0, "signal");
        eng.wait_for_var(&w).unwrap();
        assert!(ran.load(Ordering::SeqCst));
        assert!(eng.wait_for_var(&a).is_err());
    });
}

#[test]
fn wait_for_all_inside_an_op_fails_instead_of_deadlocking() {
    with_timeout(30, || {
        let eng = Arc::new(cpu_engine(1));
        let v = Var::new();
        let e2 = eng.clone();
        push_cpu(&*eng, &[], &[&v], move || {
            let _ = e2.wait_for_all();
            Ok(())
        });
        let e = eng.wait_for_var(&v).unwrap_err();
        assert!(e.to_string().contains("wait for itself"), "{e}");
        eng.wait_for_all().unwrap();
    });
}

#[test]
fn errors_skip_across_lanes() {
    with_timeout(30, || {
        let eng = cpu_engine(2);
        let (a, b, c) = (Var::new(), Var::new(), Var::new());
        let op: OpFn = Box::new(|| Err("intentional gpu fail".into()));
        eng.push(op, &[], std::slice::from_ref(&a), Device::gpu(0), FnProperty::Normal, 0, "gpu_op");
        let op: OpFn = Box::new(|| Ok(()));
        eng.push(
            op,
            std::slice::from_ref(&a),
            std::slice::from_ref(&b),
            Device::gpu(0),
            FnProperty::CopyFromDevice,
            0,
            "copy",
        );
        let op: OpFn = Box::new(|| Ok(()));
        eng.push(
            op,
            std::slice::from_ref(&b),
            std::slice::from_ref(&c),
            Device::cpu(0),
            FnProperty::CpuPrioritized,
            5,
            "prio",
        );
        let e = eng.wait_for_var(&c).unwrap_err();
        assert_eq!(e.op(), "gpu_op");
        assert_eq!(e.to_string(), "intentional gpu fail");
    });
}

#[test]
fn poll_var_answers_only_when_no_write_is_pending() {
    with_timeout(30, || {
        let engines: [Box<dyn Engine>; 2] = [Box::new(cpu_engine(2)), Box::new(crate::NaiveEngine::new())];
        for eng in engines {
            let eng = &*eng;
            let (a, b) = (Var::new(), Var::new());
            assert!(matches!(eng.poll_var(&a), Some(Ok(()))), "a fresh variable");
            let gate = Arc::new(AtomicBool::new(false));
            let g = gate.clone();
            let threaded = eng.name() != "NaiveEngine";
            if threaded {
                // A write that waits for the gate: polling must not claim the wait is over.
                push_cpu(eng, &[], &[&a], move || {
                    while !g.load(Ordering::SeqCst) {
                        std::thread::yield_now();
                    }
                    Ok(())
                });
                assert!(eng.poll_var(&a).is_none(), "a write is running");
                gate.store(true, Ordering::SeqCst);
            }
            eng.wait_for_var(&a).unwrap();
            assert!(matches!(eng.poll_var(&a), Some(Ok(()))));
            push_cpu(eng, &[], &[&b], || Err("intentional fail".into()));
            eng.wait_for_var(&b).unwrap_err();
            let e = eng.poll_var(&b).unwrap().unwrap_err();
            assert_eq!(e.to_string(), "intentional fail", "the error stays on the variable");
            // Seen through poll_var and wait_for_var: wait_for_all does not report it again.
            eng.wait_for_all().unwrap();
        }
    });
}

#[test]
fn held_variables_run_now_only_when_still() {
    with_timeout(30, || {
        let eng = cpu_engine(2);
        let (a, b) = (Var::new(), Var::new());
        // Free variables: `f` runs, a write counts as one.
        assert_eq!(crate::read_now(&[&a, &a, &b], || 7), Some(7));
        assert_eq!(crate::write_now(&[&a], &b, || Some(())), Some(()));
        assert_eq!(b.version(), 1);
        // `f` declining to write leaves the variable as it was.
        assert_eq!(crate::write_now(&[&a], &b, || None::<()>), None);
        assert_eq!(b.version(), 1);
        // A write waiting or running on a read variable, or a read running on the written one,
        // leaves the op to the engine.
        let go = Arc::new(AtomicBool::new(false));
        let started = Arc::new(AtomicBool::new(false));
        let (g, s) = (go.clone(), started.clone());
        push_cpu(&eng, &[&a], &[], move || {
            s.store(true, Ordering::SeqCst);
            while !g.load(Ordering::SeqCst) {
                std::thread::yield_now();
            }
            Ok(())
        });
        push_cpu(&eng, &[], &[&a], || Ok(()));
        while !started.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        assert_eq!(crate::read_now(&[&a], || ()), None, "a write waits on a");
        // Pairs of variables (a binary op's), in either order: one held variable is enough.
        assert_eq!(crate::read_now(&[&b, &a], || ()), None, "a write waits on a");
        assert_eq!(crate::read_now(&[&a, &b], || ()), None, "a write waits on a");
        assert_eq!(crate::read_now(&[&a, &a], || ()), None, "a write waits on a");
        assert_eq!(crate::write_now(&[&b], &a, || Some(())), None, "a read runs on a");
        go.store(true, Ordering::SeqCst);
        eng.wait_for_var(&a).unwrap();
        assert_eq!(crate::read_now(&[&a], || ()), Some(()));
        // A read variable with an error: the op must skip, so the engine runs it.
        push_cpu(&eng, &[], &[&a], || Err("intentional fail".into()));
        assert!(eng.wait_for_var(&a).is_err());
        assert_eq!(crate::read_now(&[&a], || ()), None);
        assert_eq!(crate::read_now(&[&b, &a], || ()), None);
        assert_eq!(crate::read_now(&[&a, &a], || ()), None);
        assert_eq!(crate::read_now(&[&b, &b], || 3), Some(3));
        // Only written, the error does not matter: the write clears it.
        assert_eq!(crate::write_now(&[&b], &a, || Some(())), Some(()));
        eng.wait_for_var(&a).unwrap();
        assert!(a.error().is_none());
        assert_eq!(crate::read_now(&[&b, &a], || 4), Some(4));
    });
}
