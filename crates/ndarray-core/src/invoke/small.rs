//! The imperative call's short ways: a small elementwise op ([`Operator::elementwise`]) on
//! equal-shaped host arrays that no op is writing runs here and now, without the general
//! call's inference, output checks and engine claim.
//!
//! The general call spends about 0.5 µs on `a + b` of 2x3 before and after the six additions:
//! shapes copied for inference and inferred back, the output array made pending, an engine
//! claim granted and released, the result stored into the pending array. Here the inputs'
//! engine variables are held still while the kernel reads them ([`mxrs_engine::read_now`]),
//! and the result becomes a new, ready array. Anything unusual (an input with an error or a
//! pending write, a kernel error or panic, the profiler on) leaves it to the general call,
//! which then behaves as it always did.
//!
//! Other light ops with one output (`dot`, `sum`, `transpose` of small arrays) take a second
//! short way, [`try_light`]: the op's own inference, then the same hold and a new array.

use std::panic::AssertUnwindSafe;

use mxrs_engine::{FnProperty, Var};
use smallvec::SmallVec;

use crate::backend::cpu::Parallelism;
use crate::context::Context;
use crate::dtype::DType;
use crate::error::Result;
use crate::ndarray::{NDArray, light_op_elements, property_for};
use crate::op::{OpCtx, Operator, TensorIn};
use crate::shape::{Shape, checked_size};
use crate::storage::{CpuStorage, Storage};

/// The op's outputs (new, or `out`), computed at once, or `None` when the general call must
/// run it. `out` may be input 0's whole array (`x += 1` runs in place) or an array no input
/// shares.
pub(super) fn try_run(
    op: &dyn Operator,
    inputs: &[NDArray],
    out: Option<&[NDArray]>,
    is_train: bool,
) -> Option<Vec<NDArray>> {
    let inputs: SmallVec<[&NDArray; 4]> = inputs.iter().collect();
    let Some(out) = out else { return try_new(op, &inputs, is_train).map(|a| vec![a]) };
    let [o] = out else { return None };
    let (first, rest) = inputs.split_first()?;
    if !admits(op, &inputs) || o.shape() != first.shape() || o.dtype() != first.dtype() || o.ctx() != first.ctx() {
        return None;
    }
    let vars: SmallVec<[&Var; 4]> = inputs.iter().map(|a| a.var()).collect();
    let run = Run { op, inputs: &inputs, is_train };
    let wrote = if o.same_chunk(first) {
        if !first.is_whole() || !o.is_whole() || rest.iter().any(|a| a.same_chunk(first)) {
            return None;
        }
        mxrs_engine::write_now(&vars, o.var(), || run.in_place())
    } else if rest.iter().any(|a| a.same_chunk(o)) {
        None
    } else {
        mxrs_engine::write_now(&vars, o.var(), || o.write_result(run.compute()?).ok())
    };
    wrote.map(|()| out.to_vec())
}

/// The op's one new output, computed at once, or `None` when the general call must run it
/// (as [`try_run`] without `out`). Takes the inputs by reference: the operators of Python's
/// `NDArray` call it for every `a + b`.
pub(super) fn try_new(op: &dyn Operator, inputs: &[&NDArray], is_train: bool) -> Option<NDArray> {
    if !admits(op, inputs) {
        return None;
    }
    let first = inputs[0];
    let run = Run { op, inputs, is_train };
    let hold = |vars: &[&Var]| mxrs_engine::read_now(vars, || run.compute());
    let data = match inputs {
        [a] => hold(&[a.var()]),
        [a, b] => hold(&[a.var(), b.var()]),
        _ => hold(&inputs.iter().map(|a| a.var()).collect::<SmallVec<[&Var; 4]>>()),
    }??;
    Some(NDArray::with_storage(Storage::Cpu(data), first.shape(), first.ctx(), first.dtype()))
}

/// Any other light op with one output (`dot`, `sum`, `transpose` of small arrays) on ready
/// host arrays of one context, computed at once into a new array; `None` where the general
/// call must run it (which then behaves as it always did). The general call would run such an
/// op on the calling thread too ([`crate::ndarray::property_for`]), after making its output
/// pending and taking an engine claim, then store the result into the pending array: about
/// 0.5 µs of `mx.nd.dot` on 2x2. A failing or panicking kernel is left to the general call,
/// which runs it again ([`Operator::pure_forward`]) and reports the failure at the next wait.
///
/// An op without inputs (`_full`, `_arange`) makes its array on `ctx` (default: `cpu(0)`).
pub(super) fn try_light(
    op: &dyn Operator,
    inputs: &[NDArray],
    ctx: Option<Context>,
    is_train: bool,
) -> Option<NDArray> {
    let ctx = inputs.first().map_or(ctx.unwrap_or_default(), |a| a.ctx());
    if !ctx.is_host()
        || op.num_outputs() != 1
        || op.uses_rng()
        || !op.pure_forward()
        || inputs.iter().any(|a| a.ctx() != ctx)
        || mxrs_engine::profiler::is_recording()
        || !op.mutate_inputs().is_empty()
    {
        return None;
    }
    let in_shapes: SmallVec<[Shape; 4]> = inputs.iter().map(|a| a.shape().to_vec()).collect();
    // The work, or the inputs' part of it, must be light before the output is inferred: a
    // heavy op then costs the general call no second inference.
    let op_work = op.work_elements(&in_shapes);
    let input_work = inputs.iter().map(|a| a.size()).fold(0, usize::saturating_add);
    if property_for(ctx, op_work.unwrap_or(input_work)) != FnProperty::Light {
        return None;
    }
    let [shape]: [Shape; 1] = op.infer_shape(&in_shapes).ok()?.try_into().ok()?;
    let in_dtypes: SmallVec<[DType; 4]> = inputs.iter().map(|a| a.dtype()).collect();
    let [dtype]: [DType; 1] = op.infer_dtype(&in_dtypes).ok()?.try_into().ok()?;
    let size = checked_size(op.name(), &shape).ok()?;
    if property_for(ctx, op_work.unwrap_or(input_work.saturating_add(size))) != FnProperty::Light {
        return None;
    }
    let compute = || {
        let guards: SmallVec<[_; 4]> = inputs.iter().map(|a| a.chunk.storage.read()).collect();
        let tensors = inputs.iter().zip(&guards).map(|(a, g)| tensor(a, g)).collect::<Option<SmallVec<[_; 4]>>>()?;
        let mut octx = OpCtx { ctx, rng: None, is_train, par: Parallelism::engine_op() };
        let forward = AssertUnwindSafe(|| op.forward(&mut octx, &tensors, std::slice::from_ref(&shape), &[dtype]));
        let [data]: [CpuStorage; 1] = std::panic::catch_unwind(forward).ok()?.ok()?.try_into().ok()?;
        Some(data)
    };
    let data = match inputs {
        [] => Some(compute()),
        [a] => mxrs_engine::read_now(&[a.var()], compute),
        [a, b] => mxrs_engine::read_now(&[a.var(), b.var()], compute),
        _ => mxrs_engine::read_now(&inputs.iter().map(|a| a.var()).collect::<SmallVec<[&Var; 4]>>(), compute),
    }??;
    (data.len() == size && data.dtype() == dtype).then(|| NDArray::with_storage(Storage::Cpu(data), &shape, ctx, dtype))
}

/// Whether the short way may run `op` on `inputs`: an elementwise op on host arrays of one
/// shape, dtype and context, small enough to run on the calling thread, with the profiler off.
fn admits(op: &dyn Operator, inputs: &[&NDArray]) -> bool {
    let Some((first, rest)) = inputs.split_first() else { return false };
    let ctx = first.ctx();
    let (shape, dtype) = (first.shape(), first.dtype());
    // The general call's bound for work run on the calling thread (inputs and output).
    op.elementwise()
        && ctx.is_host()
        && first.size().saturating_mul(inputs.len() + 1) <= light_op_elements()
        && rest.iter().all(|a| a.shape() == shape && a.dtype() == dtype && a.ctx() == ctx)
        && !mxrs_engine::profiler::is_recording()
}

/// One call's op and inputs.
struct Run<'a> {
    op: &'a dyn Operator,
    inputs: &'a [&'a NDArray],
    is_train: bool,
}

impl Run<'_> {
    fn octx(&self) -> OpCtx<'static> {
        OpCtx { ctx: self.inputs[0].ctx(), rng: None, is_train: self.is_train, par: Parallelism::engine_op() }
    }

    /// The output's data: `None` for an input never written (its op failed: the general call
    /// reports it) and for a failing or panicking kernel (the general call runs it again and
    /// turns the failure into the output's error, raised at the next wait, as for any op).
    fn compute(&self) -> Option<CpuStorage> {
        // One or two inputs (unary and binary ops) without the general case's lists.
        match self.inputs {
            [a] => {
                let g = a.chunk.storage.read();
                self.kernel(&[tensor(a, &g)?])
            }
            [a, b] => {
                let (ga, gb) = (a.chunk.storage.read(), b.chunk.storage.read());
                self.kernel(&[tensor(a, &ga)?, tensor(b, &gb)?])
            }
            inputs => {
                let guards: SmallVec<[_; 4]> = inputs.iter().map(|a| a.chunk.storage.read()).collect();
                let tensors =
                    inputs.iter().zip(&guards).map(|(a, g)| tensor(a, g)).collect::<Option<SmallVec<[_; 4]>>>()?;
                self.kernel(&tensors)
            }
        }
    }

    /// [`Run::compute`]'s kernel call over the inputs' data.
    fn kernel(&self, tensors: &[TensorIn<'_>]) -> Option<CpuStorage> {
        let first = self.inputs[0];
        let mut octx = self.octx();
        let forward = AssertUnwindSafe(|| match self.op.forward_elementwise(&mut octx, tensors) {
            Some(r) => r.ok(),
            None => {
                let out_shapes = [first.shape().to_vec()];
                let outs = self.op.forward(&mut octx, tensors, &out_shapes, &[first.dtype()]).ok()?;
                let [data]: [CpuStorage; 1] = outs.try_into().ok()?;
                Some(data)
            }
        });
        let data = std::panic::catch_unwind(forward).ok()??;
        (data.len() == first.size() && data.dtype() == first.dtype()).then_some(data)
    }

    /// The op over input 0's storage ([`run_in_place`]); `None` when it declined or failed.
    fn in_place(&self) -> Option<()> {
        // Elementwise kernels check their operands before writing: a failure leaves the data.
        let run = AssertUnwindSafe(|| run_in_place(self.op, self.inputs[0].ctx(), self.is_train, self.inputs));
        std::panic::catch_unwind(run).ok()?.ok()?.then_some(())
    }
}

/// `a`'s data as a kernel input, from its storage `s` (read-locked); `None` when it was never
/// written (a failed op left it empty).
fn tensor<'a>(a: &'a NDArray, s: &'a Storage) -> Option<TensorIn<'a>> {
    match s {
        Storage::Cpu(data) if data.len() == a.chunk.len => Some(TensorIn { data, offset: a.offset, shape: a.shape() }),
        _ => None,
    }
}

/// Offer the op an in-place run over input 0's storage ([`Operator::forward_inplace`]); false
/// when it declined (or an input was never written, which the general path reports).
pub(super) fn run_in_place(op: &dyn Operator, ctx: Context, is_train: bool, inputs: &[&NDArray]) -> Result<bool> {
    let mut target = inputs[0].chunk.storage.write();
    let Storage::Cpu(data) = &mut *target else { return Ok(false) };
    if data.len() != inputs[0].chunk.len {
        return Ok(false);
    }
    let guards: SmallVec<[_; 4]> = inputs[1..].iter().map(|a| a.chunk.storage.read()).collect();
    let Some(rest) = inputs[1..].iter().zip(&guards).map(|(a, g)| tensor(a, g)).collect::<Option<SmallVec<[_; 4]>>>()
    else {
        return Ok(false);
    };
    let mut octx = OpCtx { ctx, rng: None, is_train, par: Parallelism::engine_op() };
    op.forward_inplace(&mut octx, data, &rest)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use mxrs_engine::{FnProperty, engine};

    use super::*;
    use crate::context::Context;
    use crate::op::{Attrs, registry};
    use crate::storage::CpuStorage;

    fn arr(v: &[f32], shape: &[usize]) -> NDArray {
        NDArray::from_cpu(CpuStorage::F32(v.to_vec().into()), shape, Context::cpu(0)).unwrap()
    }

    fn vals(a: &NDArray) -> Vec<f64> {
        let s = a.to_cpu_storage().unwrap();
        (0..s.len()).map(|i| s.get_f64(i)).collect()
    }

    fn op(name: &str, pairs: &[(&str, &str)]) -> Box<dyn Operator> {
        (registry().get(name).unwrap().create)(&Attrs::from_pairs(pairs.iter().copied())).unwrap()
    }

    #[test]
    fn ready_inputs_take_the_short_way() {
        let (x, y) = (arr(&[1.0, -2.0, 3.0, 4.0], &[2, 2]), arr(&[10.0, 20.0, 30.0, 40.0], &[2, 2]));
        let add = op("elemwise_add", &[]);
        let short = try_run(&*add, &[x.clone(), y.clone()], None, false).expect("ready inputs").remove(0);
        assert_eq!(short.shape(), &[2, 2]);
        assert_eq!(vals(&short), [11.0, 18.0, 33.0, 44.0]);
        // The same variable twice (`x + x`) locks it once.
        assert_eq!(
            vals(&try_run(&*add, &[x.clone(), x.clone()], None, false).unwrap().remove(0)),
            [2.0, -4.0, 6.0, 8.0]
        );
        let scaled =
            try_run(&*op("_mul_scalar", &[("scalar", "2")]), std::slice::from_ref(&x), None, false).unwrap().remove(0);
        assert_eq!(vals(&scaled), [2.0, -4.0, 6.0, 8.0]);
        assert_eq!(
            vals(&try_run(&*op("relu", &[]), std::slice::from_ref(&x), None, false).unwrap().remove(0)),
            [1.0, 0.0, 3.0, 4.0]
        );
        // The result is an ordinary array: ops can read and write it.
        let again = try_run(&*op("elemwise_mul", &[]), &[short.clone(), y], None, false).unwrap();
        assert_eq!(vals(&again[0]), [110.0, 360.0, 990.0, 1760.0]);
    }

    #[test]
    fn other_calls_take_the_general_way() {
        let x = arr(&[1.0, 2.0], &[2]);
        // Shapes that broadcast, large inputs, other ops, devices' arrays are left alone.
        let b = op("broadcast_add", &[]);
        assert!(try_run(&*b, &[x.clone(), arr(&[1.0], &[1])], None, false).is_none());
        let big = NDArray::zeros(&[1 << 16], crate::dtype::DType::F32, Context::cpu(0)).unwrap();
        assert!(try_run(&*op("relu", &[]), &[big], None, false).is_none());
        assert!(try_run(&*op("sum", &[]), std::slice::from_ref(&x), None, false).is_none());
        let ints = NDArray::from_cpu(CpuStorage::I32(vec![1, 2].into()), &[2], Context::cpu(0)).unwrap();
        assert!(try_run(&*op("elemwise_add", &[]), &[x, ints], None, false).is_none());
    }

    #[test]
    fn light_ops_take_the_short_way() {
        let (x, y) = (arr(&[1.0, 2.0, 3.0, 4.0], &[2, 2]), arr(&[5.0, 6.0, 7.0, 8.0], &[2, 2]));
        let product = try_light(&*op("dot", &[]), &[x.clone(), y.clone()], None, false).expect("ready inputs");
        assert_eq!((product.shape(), vals(&product)), (&[2, 2][..], vec![19.0, 22.0, 43.0, 50.0]));
        // Shapes and dtypes come from the op's inference.
        let rows = try_light(&*op("sum", &[("axis", "1")]), std::slice::from_ref(&x), None, false).unwrap();
        assert_eq!((rows.shape(), vals(&rows)), (&[2][..], vec![3.0, 7.0]));
        let t = try_light(&*op("transpose", &[]), std::slice::from_ref(&x), None, false).unwrap();
        assert_eq!(vals(&t), [1.0, 3.0, 2.0, 4.0]);
        let ints = try_light(&*op("Cast", &[("dtype", "int32")]), std::slice::from_ref(&x), None, false).unwrap();
        assert_eq!((ints.dtype(), vals(&ints)), (crate::dtype::DType::I32, vec![1.0, 2.0, 3.0, 4.0]));
        // Three inputs, one of them a view.
        let row = y.slice_axis0(1, 2).unwrap();
        let fc = op("FullyConnected", &[("num_hidden", "2")]);
        let r = try_light(&*fc, &[row, x.clone(), arr(&[7.0, 8.0], &[2])], None, false).unwrap();
        assert_eq!(vals(&r), [7.0 + 16.0 + 7.0, 21.0 + 32.0 + 8.0]);
        // An op without inputs makes its array on the context given, or cpu(0).
        let full = op("_full", &[("shape", "(2, 3)"), ("value", "1.5")]);
        let ones = try_light(&*full, &[], Some(Context::cpu(1)), false).unwrap();
        assert_eq!((ones.shape(), ones.ctx(), vals(&ones)), (&[2, 3][..], Context::cpu(1), vec![1.5; 6]));
        assert_eq!(try_light(&*full, &[], None, false).unwrap().ctx(), Context::cpu(0));
        assert!(try_light(&*full, &[], Some(Context::gpu(0)), false).is_none());
        // The result is an ordinary array, which ops read.
        let again = try_light(&*op("dot", &[]), &[product.clone(), y.clone()], None, false).unwrap();
        assert_eq!(vals(&again), [249.0, 290.0, 565.0, 658.0]);
    }

    /// An op whose forward must not run while its inputs are held (a custom op's Python code).
    #[derive(Debug)]
    struct Impure;

    impl Operator for Impure {
        fn name(&self) -> &str {
            "impure"
        }
        fn infer_shape(&self, inputs: &[crate::shape::Shape]) -> Result<Vec<crate::shape::Shape>> {
            Ok(vec![inputs[0].clone()])
        }
        fn forward(
            &self,
            _: &mut OpCtx<'_>,
            x: &[TensorIn<'_>],
            _: &[crate::shape::Shape],
            _: &[crate::dtype::DType],
        ) -> Result<Vec<CpuStorage>> {
            Ok(vec![x[0].data.clone()])
        }
        fn pure_forward(&self) -> bool {
            false
        }
    }

    #[test]
    fn other_light_calls_take_the_general_way() {
        let x = arr(&[1.0, 2.0, 3.0, 4.0], &[2, 2]);
        // Several outputs, random numbers (with inputs or without), an impure op, heavy work.
        let split = op("SliceChannel", &[("num_outputs", "2")]);
        assert!(try_light(&*split, std::slice::from_ref(&x), None, false).is_none());
        let sample = op("_sample_uniform", &[]);
        assert!(try_light(&*sample, &[x.clone(), x.clone()], None, false).is_none());
        assert!(try_light(&Impure, std::slice::from_ref(&x), None, false).is_none());
        let big = NDArray::zeros(&[256, 256], crate::dtype::DType::F32, Context::cpu(0)).unwrap();
        assert!(try_light(&*op("dot", &[]), &[big.clone(), big], None, false).is_none());
        assert!(try_light(&*op("_random_uniform", &[("shape", "(2,)")]), &[], None, false).is_none());
        // Inference errors are the general call's to raise.
        assert!(try_light(&*op("dot", &[]), &[x.clone(), arr(&[1.0; 3], &[3])], None, false).is_none());
        // A failing kernel (the general call's tests: its error surfaces at the wait).
        let not_pd = arr(&[-1.0, 0.0, 0.0, -1.0], &[2, 2]);
        assert!(try_light(&*op("linalg_potrf", &[]), std::slice::from_ref(&not_pd), None, false).is_none());
        // An input that an op is still writing.
        let y = arr(&[1.0, 2.0], &[2]);
        engine().push(
            Box::new(|| {
                std::thread::sleep(Duration::from_millis(50));
                Ok(())
            }),
            &[],
            std::slice::from_ref(y.var()),
            y.ctx().engine_device(),
            FnProperty::Normal,
            0,
            "slow writer",
        );
        assert!(try_light(&*op("sum", &[]), std::slice::from_ref(&y), None, false).is_none());
        y.wait_to_read().unwrap();
        assert_eq!(vals(&try_light(&*op("sum", &[]), &[y], None, false).unwrap()), [3.0]);
    }

    #[test]
    fn outputs_given_are_written() {
        let (x, y) = (arr(&[1.0, 2.0], &[2]), arr(&[10.0, 20.0], &[2]));
        let ptr = |a: &NDArray| {
            a.read_cpu(|s, _, _| match s {
                CpuStorage::F32(v) => v.as_ptr() as usize,
                _ => unreachable!(),
            })
            .unwrap()
        };
        // `x += y` over x's own buffer.
        let before = ptr(&x);
        let add = op("elemwise_add", &[]);
        let r = try_run(&*add, &[x.clone(), y.clone()], Some(std::slice::from_ref(&x)), false).unwrap();
        assert!(r[0].same_chunk(&x));
        assert_eq!((vals(&x), ptr(&x)), (vec![11.0, 22.0], before));
        // Into another array, and into a view of one.
        let c = arr(&[0.0, 0.0], &[2]);
        try_run(&*add, &[x.clone(), y.clone()], Some(std::slice::from_ref(&c)), false).unwrap();
        assert_eq!(vals(&c), [21.0, 42.0]);
        let wide = arr(&[0.0; 4], &[2, 2]);
        let row = wide.slice_axis0(1, 2).unwrap().reshape_view(&[2]).unwrap();
        try_run(&*add, &[x.clone(), y.clone()], Some(std::slice::from_ref(&row)), false).unwrap();
        assert_eq!(vals(&wide), [0.0, 0.0, 21.0, 42.0]);
        // `y += x` where the output is input 1: the general call's.
        assert!(try_run(&*add, &[x.clone(), y.clone()], Some(std::slice::from_ref(&y)), false).is_none());
        // An output being read by a running op waits for it.
        engine().push(
            Box::new(|| {
                std::thread::sleep(Duration::from_millis(50));
                Ok(())
            }),
            std::slice::from_ref(c.var()),
            &[],
            c.ctx().engine_device(),
            FnProperty::Normal,
            0,
            "slow reader",
        );
        std::thread::sleep(Duration::from_millis(10));
        assert!(try_run(&*add, &[x.clone(), y.clone()], Some(std::slice::from_ref(&c)), false).is_none());
        c.wait_to_write().ok();
    }
}
