//! A deterministic model check of the per-variable protocol (`queue.rs`), standing in for a
//! loom model: no threads, but every interleaving of pushes, op starts and per-variable
//! releases that proptest can generate. Each step is one critical section of the real engine
//! (a push registers under all its variables' locks at once; a release touches one variable).
//! After every step the `VarQueue` invariants are checked, running ops must never conflict, the
//! model must never get stuck, and the final cells and versions must equal serial evaluation.

use std::collections::VecDeque;

use proptest::prelude::*;

use crate::queue::{self, Opr, OprBlock, normalize_vars};
use crate::{Device, FnProperty, Var};

#[derive(Clone, Debug)]
struct ModelOp {
    reads: Vec<usize>,
    writes: Vec<usize>,
}

fn workload() -> impl Strategy<Value = (usize, Vec<ModelOp>)> {
    (1usize..=4).prop_flat_map(|nv| {
        let op = (prop::collection::vec(0..nv, 0..3), prop::collection::vec(0..nv, 0..3))
            .prop_map(|(reads, writes)| ModelOp { reads, writes });
        (Just(nv), prop::collection::vec(op, 1..14))
    })
}

struct Running {
    op: Opr,
    /// Variables not yet released: (index, is_write).
    held: Vec<(usize, bool)>,
}

fn body(seq: usize, reads: &[usize], writes: &[usize], cells: &mut [i64]) {
    let s = reads.iter().fold(seq as i64 + 1, |s, &r| s.wrapping_add(cells[r]));
    for &w in writes {
        cells[w] = cells[w].wrapping_mul(3).wrapping_add(s);
    }
}

fn check(nv: usize, ops: &[ModelOp], choices: &[u16]) {
    let vars: Vec<Var> = (0..nv).map(|_| Var::new()).collect();
    let index = |v: &Var| vars.iter().position(|x| x.same(v)).expect("known var");
    let normalized: Vec<(Vec<usize>, Vec<usize>)> = ops
        .iter()
        .map(|op| {
            let r: Vec<Var> = op.reads.iter().map(|&i| vars[i].clone()).collect();
            let w: Vec<Var> = op.writes.iter().map(|&i| vars[i].clone()).collect();
            let (r, w) = normalize_vars(&r, &w);
            (r.iter().map(index).collect(), w.iter().map(index).collect())
        })
        .collect();

    let mut cells = vec![0i64; nv];
    let (mut readers, mut writer) = (vec![0usize; nv], vec![false; nv]);
    let mut ready: VecDeque<Opr> = VecDeque::new();
    let mut running: Vec<Running> = Vec::new();
    let (mut pushed, mut finished) = (0usize, 0usize);
    let mut pick = choices.iter().copied().cycle();

    loop {
        let can_push = usize::from(pushed < ops.len());
        let n = can_push + ready.len() + running.len();
        if n == 0 {
            break;
        }
        let a = pick.next().unwrap_or(0) as usize % n;
        if a < can_push {
            let (r, w) = &normalized[pushed];
            let op = OprBlock::new(
                Box::new(|| Ok(())),
                r.iter().map(|&i| vars[i].clone()).collect(),
                w.iter().map(|&i| vars[i].clone()).collect(),
                Device::cpu(0),
                FnProperty::Normal,
                0,
                "model",
                pushed as u64,
            );
            if queue::append(&op) {
                ready.push_back(op);
            }
            pushed += 1;
        } else if a < can_push + ready.len() {
            // Start a ready op: it must not conflict with anything running.
            let op = ready.remove(a - can_push).expect("ready op");
            let (r, w) = &normalized[op.seq as usize];
            for &v in r {
                assert!(!writer[v], "read of var {v} started during a write");
                readers[v] += 1;
            }
            for &v in w {
                assert!(!writer[v] && readers[v] == 0, "write of var {v} started while in use");
                writer[v] = true;
            }
            body(op.seq as usize, r, w, &mut cells);
            let held = r.iter().map(|&v| (v, false)).chain(w.iter().map(|&v| (v, true))).collect();
            running.push(Running { op, held });
        } else {
            // Release one variable of a running op, in any order (an op without variables
            // just finishes).
            let j = a - can_push - ready.len();
            let held = &mut running[j].held;
            if !held.is_empty() {
                let k = pick.next().unwrap_or(0) as usize % held.len();
                let (v, is_write) = held.swap_remove(k);
                if is_write {
                    writer[v] = false;
                    queue::release_write(&vars[v], None, &mut ready);
                } else {
                    readers[v] -= 1;
                    queue::release_read(&vars[v], &mut ready);
                }
            }
            if running[j].held.is_empty() {
                let done = running.swap_remove(j);
                assert!(done.op.take_func().is_some(), "each op runs once");
                finished += 1;
            }
        }
        for v in &vars {
            v.0.sched.lock().check();
        }
    }
    assert_eq!(finished, ops.len(), "stuck with ops pending: the protocol deadlocked");

    let mut serial = vec![0i64; nv];
    let mut versions = vec![0u64; nv];
    for (i, (r, w)) in normalized.iter().enumerate() {
        body(i, r, w, &mut serial);
        for &v in w {
            versions[v] += 1;
        }
    }
    assert_eq!(cells, serial, "values differ from serial evaluation");
    for (v, want) in vars.iter().zip(&versions) {
        assert_eq!(v.version(), *want);
        assert!(v.0.sched.lock().is_idle());
        assert_eq!(std::sync::Arc::strong_count(&v.0), 1, "a finished op kept a var handle");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn protocol_is_serialisable_and_live(
        (nv, ops) in workload(),
        choices in prop::collection::vec(any::<u16>(), 1..40),
    ) {
        check(nv, &ops, &choices);
    }
}

/// Reads between two writes are granted together; the next write waits for all of them.
#[test]
fn reads_between_writes_are_granted_together() {
    let v = Var::new();
    let mk = |w: bool, seq| {
        let (r, wr) = if w { (vec![], vec![v.clone()]) } else { (vec![v.clone()], vec![]) };
        OprBlock::new(Box::new(|| Ok(())), r, wr, Device::cpu(0), FnProperty::Normal, 0, "m", seq)
    };
    let (w1, r1, r2, w2) = (mk(true, 0), mk(false, 1), mk(false, 2), mk(true, 3));
    assert!(queue::append(&w1));
    assert!(!queue::append(&r1));
    assert!(!queue::append(&r2));
    assert!(!queue::append(&w2));
    let mut ready = VecDeque::new();
    queue::release_write(&v, None, &mut ready);
    let seqs: Vec<u64> = ready.iter().map(|o| o.seq).collect();
    assert_eq!(seqs, [1, 2]);
    ready.clear();
    queue::release_read(&v, &mut ready);
    assert!(ready.is_empty(), "write granted while a read still runs");
    queue::release_read(&v, &mut ready);
    assert_eq!(ready.iter().map(|o| o.seq).collect::<Vec<_>>(), [3]);
    ready.clear();
    queue::release_write(&v, None, &mut ready);
    assert!(v.0.sched.lock().is_idle());
    assert_eq!(v.version(), 2);
}
