//! Random workloads give the same values, versions and errors on the threaded engines as on
//! `NaiveEngine` and as serial evaluation.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use proptest::prelude::*;

use super::util::{error_index, with_timeout};
use crate::{Device, Engine, FnProperty, NaiveEngine, OpFn, ThreadedConfig, ThreadedEngine, Var};

const NVARS: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Ok,
    Fail,
    Panic,
}

#[derive(Clone, Debug)]
struct TestOp {
    reads: Vec<usize>,
    writes: Vec<usize>,
    kind: Kind,
    /// 0..=2 CPU normal, 3 CPU prioritized, 4 GPU 0 compute, 5 GPU 1 copy, 6 `Wait`, 7 CPU
    /// light (run by the pusher when its variables are free).
    lane: u8,
    priority: i32,
    /// Call `wait_for_var` on this variable right after the push.
    wait_after: Option<usize>,
}

fn test_op() -> impl Strategy<Value = TestOp> {
    let kind = prop_oneof![16 => Just(Kind::Ok), 2 => Just(Kind::Fail), 1 => Just(Kind::Panic)];
    let lane =
        prop_oneof![12 => 0u8..3, 2 => Just(3u8), 2 => Just(4u8), 2 => Just(5u8), 1 => Just(6u8), 4 => Just(7u8)];
    let wait = prop_oneof![9 => Just(None), 1 => (0..NVARS).prop_map(Some)];
    (prop::collection::vec(0..NVARS, 0..4), prop::collection::vec(0..NVARS, 0..3), kind, lane, -3i32..3, wait).prop_map(
        |(reads, writes, kind, lane, priority, wait_after)| TestOp { reads, writes, kind, lane, priority, wait_after },
    )
}

/// What a run leaves behind. Errors are named by the index of the op that raised them.
#[derive(Debug, PartialEq)]
struct Outcome {
    cells: Vec<i64>,
    versions: Vec<u64>,
    errors: Vec<Option<usize>>,
    waits: Vec<Option<usize>>,
}

/// The variables an op really reads and writes, as `normalize_vars` leaves them.
fn normalized(op: &TestOp) -> (Vec<usize>, Vec<usize>) {
    let mut w: Vec<usize> = Vec::new();
    for &v in &op.writes {
        if !w.contains(&v) {
            w.push(v);
        }
    }
    let mut r: Vec<usize> = Vec::new();
    for &v in &op.reads {
        if !w.contains(&v) && !r.contains(&v) {
            r.push(v);
        }
    }
    (r, w)
}

fn compute(i: usize, r: &[usize], w: &[usize], load: impl Fn(usize) -> i64, store: impl Fn(usize, i64)) {
    let s = r.iter().fold(i as i64 + 1, |s, &v| s.wrapping_add(load(v)));
    for &v in w {
        store(v, load(v).wrapping_mul(3).wrapping_add(s));
    }
}

/// Serial evaluation; also returns the errors recorded for `wait_for_all`, in order.
fn serial(ops: &[TestOp]) -> (Outcome, Vec<usize>) {
    let cells = std::cell::RefCell::new(vec![0i64; NVARS]);
    let mut versions = vec![0u64; NVARS];
    let mut errors: Vec<Option<usize>> = vec![None; NVARS];
    let (mut waits, mut recorded) = (Vec::new(), Vec::new());
    for (i, op) in ops.iter().enumerate() {
        let (r, w) = normalized(op);
        let inherited = if op.lane == 6 {
            None
        } else {
            // Reads, and written variables also listed as read (in-place ops).
            let rw = op.reads.iter().filter(|v| op.writes.contains(v));
            r.iter().chain(rw).find_map(|&v| errors[v])
        };
        let fresh = inherited.is_none();
        let err = inherited.or_else(|| match op.kind {
            Kind::Ok => {
                compute(i, &r, &w, |v| cells.borrow()[v], |v, x| cells.borrow_mut()[v] = x);
                None
            }
            Kind::Fail | Kind::Panic => Some(i),
        });
        for &v in &w {
            errors[v] = err;
            versions[v] += 1;
        }
        if let Some(e) = err
            && fresh
            && !recorded.contains(&e)
        {
            recorded.push(e);
        }
        if let Some(v) = op.wait_after {
            waits.push(errors[v]);
            // An error reported by a wait counts as seen: wait_for_all does not repeat it.
            if let Some(e) = errors[v] {
                recorded.retain(|&x| x != e);
            }
        }
    }
    (Outcome { cells: cells.into_inner(), versions, errors, waits }, recorded)
}

/// Run the workload on `eng`; also returns what `wait_for_all` reported.
fn run(eng: &dyn Engine, ops: &[TestOp]) -> (Outcome, Option<usize>) {
    let vars: Vec<Var> = (0..NVARS).map(|_| Var::new()).collect();
    let cells: Arc<Vec<AtomicI64>> = Arc::new((0..NVARS).map(|_| AtomicI64::new(0)).collect());
    let mut waits = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let (r, w) = normalized(op);
        let (kind, c) = (op.kind, cells.clone());
        let f: OpFn = Box::new(move || {
            match kind {
                Kind::Fail => return Err(format!("intentional fail {i}").into()),
                Kind::Panic => panic!("intentional panic {i}"),
                Kind::Ok => {}
            }
            let load = |v: usize| c[v].load(Ordering::Relaxed);
            compute(i, &r, &w, load, |v, x| c[v].store(x, Ordering::Relaxed));
            Ok(())
        });
        let (device, prop) = match op.lane {
            3 => (Device::cpu(0), FnProperty::CpuPrioritized),
            4 => (Device::gpu(0), FnProperty::Normal),
            5 => (Device::gpu(1), FnProperty::CopyToDevice),
            6 => (Device::cpu(0), FnProperty::Wait),
            7 => (Device::cpu(0), FnProperty::Light),
            _ => (Device::cpu(0), FnProperty::Normal),
        };
        let reads: Vec<Var> = op.reads.iter().map(|&v| vars[v].clone()).collect();
        let writes: Vec<Var> = op.writes.iter().map(|&v| vars[v].clone()).collect();
        eng.push(f, &reads, &writes, device, prop, op.priority, "rand_op");
        if let Some(v) = op.wait_after {
            waits.push(eng.wait_for_var(&vars[v]).err().map(|e| error_index(&e)));
        }
    }
    let all = eng.wait_for_all().err().map(|e| error_index(&e));
    assert!(eng.wait_for_all().is_ok(), "{}: wait_for_all reports an error once", eng.name());
    let outcome = Outcome {
        cells: cells.iter().map(|c| c.load(Ordering::Relaxed)).collect(),
        versions: vars.iter().map(Var::version).collect(),
        errors: vars.iter().map(|v| v.error().map(|e| error_index(&e))).collect(),
        waits,
    };
    for v in &vars {
        assert_eq!(Arc::strong_count(&v.0), 1, "{}: a finished op kept a var handle", eng.name());
    }
    (outcome, all)
}

fn check(ops: Vec<TestOp>) {
    let (want, recorded) = serial(&ops);
    let (naive, naive_all) = run(&NaiveEngine::new(), &ops);
    assert_eq!(naive, want, "NaiveEngine differs from serial evaluation");
    assert_eq!(naive_all, recorded.first().copied());
    let engines = [
        ThreadedEngine::new(ThreadedConfig::per_device()),
        ThreadedEngine::new(ThreadedConfig { cpu_workers: 3, ..ThreadedConfig::pooled() }),
    ];
    for eng in &engines {
        let (got, all) = run(eng, &ops);
        assert_eq!(got, want, "{} differs from serial evaluation", eng.name());
        match all {
            None => assert!(recorded.is_empty(), "{}: wait_for_all missed an error", eng.name()),
            Some(e) => assert!(recorded.contains(&e), "{}: unexpected error {e}", eng.name()),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn threaded_engines_match_naive_and_serial(ops in prop::collection::vec(test_op(), 1..=200)) {
        with_timeout(120, move || check(ops));
    }
}
