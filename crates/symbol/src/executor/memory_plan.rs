//! The memory plan: which buffer holds each value of a schedule.
//!
//! Values the caller owns (arguments, aux states, outputs, head gradients, argument gradients)
//! are *fixed*: they keep their own arrays. Every other value a step writes gets a *buffer*,
//! walking the schedule in order: at each step, the buffers of the inputs read for the last
//! time are released first, then each output takes a released buffer of the same element count
//! and dtype (the most recently released one) or a new buffer; an output nobody reads is
//! released again right after its step. Each buffer gets its memory from the first step writing
//! it and keeps it; each value is a reshaped view of its buffer.
//!
//! # Invariants
//!
//! Checked over the whole schedule by `check_invariants` in the tests below, for an MLP's
//! forward and backward, a graph with branches and fan-out, chains of in-place candidates and
//! hand-built schedules:
//!
//! 1. **No buffer is read after reuse.** When a step reads a value held in a buffer, the last
//!    value written to that buffer is that value: a buffer is handed on only after the last
//!    step reading its value.
//! 2. **In place only when the input dies at that op.** An output shares a buffer with an input
//!    of its own step only when that step is the input's last reader (the op computes its
//!    results before writing them, so reading and overwriting in one step is safe).
//! 3. The outputs of one step have distinct buffers; a value and its buffer have the same
//!    element count and dtype; fixed values never get a buffer.
//! 4. **Peak bytes.** [`MemoryPlan::peak_bytes`] is the total size of the buffers. As all of
//!    them are held once written, it is the memory the plan uses for intermediates (fixed
//!    arrays not counted), and it is at least the bytes of the values live at once at any step.
//! 5. **Backward can run again.** A value written before step `hold_from` (the forward pass)
//!    and read at or after it (by the backward pass) keeps its buffer to the end: no later
//!    step writes that buffer, so a second backward (`retain_graph`) reads the same forward
//!    values. The backward's own intermediates still reuse each other's buffers.
//!
//! A value no step writes (one a pruned backward step would have produced) is left
//! [`Place::Unplanned`]; no step reads it either.

use std::collections::{HashMap, HashSet};

use mxrs_ndarray_core::dtype::DType;
use mxrs_ndarray_core::shape::Shape;

use super::types::Step;

/// Where a value lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Place {
    /// In an array of its own.
    Fixed,
    /// In buffer `i` of the plan.
    Buffer(usize),
    /// Written by no step.
    Unplanned,
}

/// One buffer: `len` elements of `dtype`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Buffer {
    /// Number of elements.
    pub len: usize,
    /// Element type.
    pub dtype: DType,
}

/// The inputs and outputs of one step, as value ids.
pub(crate) type StepIo<'a> = (&'a [usize], &'a [usize]);

/// The inputs and outputs of the forward then the backward steps: what the memory plan covers.
pub(crate) fn schedule_io<'a>(fwd: &'a [Step], bwd: &'a [Step]) -> Vec<StepIo<'a>> {
    fwd.iter().chain(bwd).map(|st| (&st.inputs[..], &st.outputs[..])).collect()
}

/// `(elements, dtype)` of each value.
pub(crate) fn value_sizes(shapes: &[Shape], dtypes: &[DType]) -> Vec<(usize, DType)> {
    shapes.iter().zip(dtypes).map(|(s, &d)| (s.iter().product(), d)).collect()
}

/// The buffers of a schedule and the place of each value.
#[derive(Debug)]
pub(crate) struct MemoryPlan {
    places: Vec<Place>,
    buffers: Vec<Buffer>,
}

impl MemoryPlan {
    /// Plan `schedule` (steps in running order) over values `values[v] = (elements, dtype)`;
    /// `is_fixed(v)` marks the values that keep their own arrays, and values written before
    /// step `hold_from` but read from it on are held to the end (invariant 5).
    pub(crate) fn new(
        schedule: &[StepIo<'_>],
        values: &[(usize, DType)],
        is_fixed: impl Fn(usize) -> bool,
        hold_from: usize,
    ) -> Self {
        let mut last_use = last_uses(schedule);
        for (_, outputs) in &schedule[..hold_from.min(schedule.len())] {
            for v in *outputs {
                if let Some(l) = last_use.get_mut(v)
                    && *l >= hold_from
                {
                    *l = usize::MAX;
                }
            }
        }
        let mut places: Vec<Place> =
            (0..values.len()).map(|v| if is_fixed(v) { Place::Fixed } else { Place::Unplanned }).collect();
        let mut buffers: Vec<Buffer> = Vec::new();
        let mut free: HashMap<(usize, DType), Vec<usize>> = HashMap::new();
        let mut released = HashSet::new();
        for (s, (inputs, outputs)) in schedule.iter().enumerate() {
            for &v in *inputs {
                if last_use.get(&v) == Some(&s)
                    && released.insert(v)
                    && let Place::Buffer(b) = places[v]
                {
                    free.entry((buffers[b].len, buffers[b].dtype)).or_default().push(b);
                }
            }
            let mut dead = Vec::new();
            for &v in *outputs {
                if places[v] != Place::Unplanned {
                    continue;
                }
                let (len, dtype) = values[v];
                let b = free.get_mut(&(len, dtype)).and_then(Vec::pop).unwrap_or_else(|| {
                    buffers.push(Buffer { len, dtype });
                    buffers.len() - 1
                });
                places[v] = Place::Buffer(b);
                if !last_use.contains_key(&v) {
                    dead.push(b);
                }
            }
            for b in dead {
                free.entry((buffers[b].len, buffers[b].dtype)).or_default().push(b);
            }
        }
        MemoryPlan { places, buffers }
    }

    /// Where value `v` lives.
    pub(crate) fn place(&self, v: usize) -> Place {
        self.places[v]
    }

    /// The buffers, indexed by [`Place::Buffer`].
    pub(crate) fn buffers(&self) -> &[Buffer] {
        &self.buffers
    }

    /// Bytes of all buffers: the plan's memory for intermediate values.
    pub(crate) fn peak_bytes(&self) -> usize {
        self.buffers.iter().map(|b| b.len * b.dtype.size()).sum()
    }
}

/// For each value some step reads, the index of the last step reading it.
fn last_uses(schedule: &[StepIo<'_>]) -> HashMap<usize, usize> {
    let mut last_use = HashMap::new();
    for (s, (inputs, _)) in schedule.iter().enumerate() {
        for &v in *inputs {
            last_use.insert(v, s);
        }
    }
    last_use
}

#[cfg(test)]
mod tests {
    use mxrs_ndarray_core::Attrs;

    use super::*;
    use crate::executor::program::Program;
    use crate::executor::testing::{op, var};
    use crate::executor::types::GradReq;
    use crate::graph::Symbol;

    /// Assert invariants 1-4 of the module docs over `schedule`; returns the number of steps
    /// whose output took the buffer of one of its inputs (in place).
    fn check_invariants(
        schedule: &[StepIo<'_>],
        values: &[(usize, DType)],
        is_fixed: impl Fn(usize) -> bool,
        plan: &MemoryPlan,
    ) -> usize {
        let last_use = last_uses(schedule);
        let mut holder: HashMap<usize, usize> = HashMap::new();
        let mut in_place = 0;
        let mut max_live = 0;
        for (s, (inputs, outputs)) in schedule.iter().enumerate() {
            for &v in *inputs {
                if let Place::Buffer(b) = plan.place(v) {
                    assert_eq!(holder.get(&b), Some(&v), "step {s} reads value {v} from buffer {b} after its reuse");
                }
            }
            let mut written = HashSet::new();
            for &v in *outputs {
                match plan.place(v) {
                    Place::Fixed => assert!(is_fixed(v)),
                    Place::Unplanned => panic!("output {v} of step {s} has no place"),
                    Place::Buffer(b) => {
                        assert!(!is_fixed(v), "fixed value {v} got buffer {b}");
                        assert!(written.insert(b), "two outputs of step {s} share buffer {b}");
                        let buf = plan.buffers()[b];
                        assert_eq!((buf.len, buf.dtype), values[v], "value {v} in buffer {b}");
                        for &i in *inputs {
                            if plan.place(i) == Place::Buffer(b) {
                                assert_eq!(last_use[&i], s, "step {s} overwrites input {i}, read later");
                                in_place += 1;
                            }
                        }
                        holder.insert(b, v);
                    }
                }
            }
            // Bytes of the buffered values live across this step: still to be read, or just written.
            let live: usize = holder
                .iter()
                .filter(|(_, v)| last_use.get(*v).is_some_and(|&l| l >= s) || outputs.contains(*v))
                .map(|(&b, _)| plan.buffers()[b].len * plan.buffers()[b].dtype.size())
                .sum();
            max_live = max_live.max(live);
        }
        for (v, p) in plan.places.iter().enumerate() {
            assert_eq!(*p == Place::Fixed, is_fixed(v), "value {v}");
        }
        assert!(plan.peak_bytes() >= max_live);
        in_place
    }

    /// Invariant 5: no step from `hold_from` on writes the buffer of a value written before it
    /// and read from it on.
    fn check_forward_values_held(schedule: &[StepIo<'_>], hold_from: usize, plan: &MemoryPlan) {
        let last_use = last_uses(schedule);
        let held: HashSet<usize> = schedule[..hold_from]
            .iter()
            .flat_map(|(_, o)| o.iter())
            .filter(|v| last_use.get(v).is_some_and(|&l| l >= hold_from))
            .filter_map(|&v| match plan.place(v) {
                Place::Buffer(b) => Some(b),
                _ => None,
            })
            .collect();
        for (s, (_, outputs)) in schedule.iter().enumerate().skip(hold_from) {
            for &v in *outputs {
                if let Place::Buffer(b) = plan.place(v) {
                    assert!(!held.contains(&b), "backward step {s} writes buffer {b} of a forward value");
                }
            }
        }
    }

    #[test]
    fn forward_values_read_by_backward_are_held() {
        // Steps 0-1 are the forward pass; 1 and 2 are last read by backward step 2.
        let values = [f32s(4); 5];
        let steps: [(Vec<usize>, Vec<usize>); 4] =
            [(vec![0], vec![1]), (vec![1], vec![2]), (vec![1, 2], vec![3]), (vec![3], vec![4])];
        let schedule: Vec<StepIo<'_>> = steps.iter().map(|(i, o)| (&i[..], &o[..])).collect();
        let is_fixed = |v: usize| v == 0 || v == 4;
        let free = MemoryPlan::new(&schedule, &values, is_fixed, schedule.len());
        // Without holding, 3 takes the buffer of 1 or 2 (both die at step 2).
        assert!(free.place(3) == free.place(1) || free.place(3) == free.place(2));
        let held = MemoryPlan::new(&schedule, &values, is_fixed, 2);
        assert_ne!(held.place(3), held.place(1));
        assert_ne!(held.place(3), held.place(2));
        check_forward_values_held(&schedule, 2, &held);
        check_invariants(&schedule, &values, is_fixed, &held);
    }

    fn f32s(n: usize) -> (usize, DType) {
        (n, DType::F32)
    }

    #[test]
    fn hand_built_schedule_reuses_in_place_and_reports_peak_bytes() {
        // 0: x (fixed); 5: an output (fixed); 6 and 7: 3 x f64; the rest 6 x f32.
        let values = [f32s(6), f32s(6), f32s(6), f32s(6), f32s(6), f32s(6), (3, DType::F64), (3, DType::F64)];
        let is_fixed = |v: usize| v == 0 || v == 5;
        let steps: [(Vec<usize>, Vec<usize>); 6] = [
            (vec![0], vec![1]),    // 1 -> buffer 0
            (vec![1], vec![2]),    // 1 dies here: 2 takes buffer 0 (in place)
            (vec![0], vec![3]),    // buffer 0 holds 2, still live: 3 -> buffer 1
            (vec![2, 3], vec![4]), // both die; 4 takes the last one released (buffer 1)
            (vec![4], vec![5, 6]), // 5 fixed; 6 unread -> buffer 2 (f64), released at once
            (vec![4], vec![7]),    // 7 reuses buffer 2
        ];
        let schedule: Vec<StepIo<'_>> = steps.iter().map(|(i, o)| (&i[..], &o[..])).collect();
        let plan = MemoryPlan::new(&schedule, &values, is_fixed, schedule.len());
        let places: Vec<Place> = (0..values.len()).map(|v| plan.place(v)).collect();
        use Place::{Buffer as B, Fixed as F};
        assert_eq!(places, [F, B(0), B(0), B(1), B(1), F, B(2), B(2)]);
        // Two buffers of 6 float32 and one of 3 float64.
        assert_eq!(plan.peak_bytes(), 6 * 4 + 6 * 4 + 3 * 8);
        assert_eq!(check_invariants(&schedule, &values, is_fixed, &plan), 2);
    }

    #[test]
    fn a_value_read_again_later_keeps_its_buffer() {
        // 1 is read by steps 1 and 2, so step 1's output may not take its buffer.
        let values = [f32s(4); 4];
        let steps: [(Vec<usize>, Vec<usize>); 3] = [(vec![0], vec![1]), (vec![1], vec![2]), (vec![1, 2], vec![3])];
        let schedule: Vec<StepIo<'_>> = steps.iter().map(|(i, o)| (&i[..], &o[..])).collect();
        let is_fixed = |v: usize| v == 0 || v == 3;
        let plan = MemoryPlan::new(&schedule, &values, is_fixed, schedule.len());
        assert_ne!(plan.place(1), plan.place(2));
        assert_eq!(plan.peak_bytes(), 2 * 4 * 4);
        assert_eq!(check_invariants(&schedule, &values, is_fixed, &plan), 0);
    }

    #[test]
    fn sizes_and_dtypes_are_never_mixed() {
        let values = [f32s(4), f32s(4), f32s(8), (4, DType::F64)];
        let steps: [(Vec<usize>, Vec<usize>); 3] = [(vec![0], vec![1]), (vec![1], vec![2]), (vec![2], vec![3])];
        let schedule: Vec<StepIo<'_>> = steps.iter().map(|(i, o)| (&i[..], &o[..])).collect();
        let plan = MemoryPlan::new(&schedule, &values, |v| v == 0, schedule.len());
        assert_eq!(plan.buffers().len(), 3);
        assert_eq!(plan.peak_bytes(), 4 * 4 + 8 * 4 + 4 * 8);
        check_invariants(&schedule, &values, |v| v == 0, &plan);
    }

    /// Plan a real graph's forward and backward schedules and check the invariants; returns the
    /// plan, the number of in-place steps and the number of values.
    fn plan_graph(sym: &Symbol, known: &[(&str, Vec<usize>)], req: GradReq) -> (MemoryPlan, usize, usize) {
        let p = Program::build(sym, known, req);
        let schedule = schedule_io(&p.fwd, &p.back.steps);
        let values = value_sizes(&p.shapes, &p.dtypes);
        let plan = MemoryPlan::new(&schedule, &values, |v| p.fixed.contains(&v), p.fwd.len());
        let in_place = check_invariants(&schedule, &values, |v| p.fixed.contains(&v), &plan);
        check_forward_values_held(&schedule, p.fwd.len(), &plan);
        (plan, in_place, values.len())
    }

    fn fc(data: Symbol, name: &str, hidden: usize) -> Symbol {
        let attrs = Attrs::from_pairs([("num_hidden", hidden.to_string())]);
        Symbol::create("FullyConnected", name, attrs, &[data], &[]).unwrap()
    }

    #[test]
    fn mlp_forward_and_backward() {
        let act = |x: Symbol, name: &str| {
            Symbol::create("Activation", name, Attrs::from_pairs([("act_type", "relu")]), &[x], &[]).unwrap()
        };
        let h = act(fc(var("data"), "fc1", 16), "relu1");
        let h = act(fc(h, "fc2", 16), "relu2");
        let out = Symbol::create("SoftmaxOutput", "sm", Attrs::default(), &[fc(h, "fc3", 10)], &[]).unwrap();
        let known = [("data", vec![8, 20]), ("sm_label", vec![8])];
        let (plan, _, n_values) = plan_graph(&out, &known, GradReq::Write);
        assert!(plan.buffers().len() < n_values / 2, "{plan:?}");
        let (fwd_only, _, _) = plan_graph(&out, &known, GradReq::Null);
        assert!(fwd_only.peak_bytes() <= plan.peak_bytes());
    }

    #[test]
    fn branches_and_fan_out() {
        // a feeds three ops; e = exp(a*b) feeds two; the gradients of a and e are sums.
        let (a, b) = (var("a"), var("b"));
        let e = op("exp", "e", &[op("elemwise_mul", "m", &[a.clone(), b])]);
        let l = op("elemwise_mul", "l", &[e.clone(), a.clone()]);
        let r = op("elemwise_add", "r", &[op("sin", "s", &[e]), op("negative", "n", &[a])]);
        let y = op("elemwise_add", "y", &[l, r]);
        for req in [GradReq::Write, GradReq::Add] {
            let (plan, _, _) = plan_graph(&y, &[("a", vec![5, 3]), ("b", vec![5, 3])], req);
            assert!(plan.peak_bytes() > 0);
        }
    }

    #[test]
    fn chains_of_in_place_candidates() {
        let mut x = var("x");
        for (i, name) in ["exp", "sigmoid", "tanh", "exp", "sigmoid"].iter().enumerate() {
            x = op(name, &format!("u{i}"), &[x]);
        }
        let (fwd, in_place, _) = plan_graph(&x, &[("x", vec![7, 9])], GradReq::Null);
        // u0 -> u1 -> u2 -> u3 each die at their only reader: one buffer, reused in place.
        assert_eq!(fwd.buffers().len(), 1);
        assert_eq!(fwd.peak_bytes(), 7 * 9 * 4);
        assert_eq!(in_place, 3);
        // The backward reads the forward values again, so they must stay put until then.
        let (both, in_place, _) = plan_graph(&x, &[("x", vec![7, 9])], GradReq::Write);
        assert!(both.buffers().len() > 1);
        assert!(in_place > 0);
    }
}
