//! The imperative call: check and infer synchronously, then push the compute onto the engine
//! (or, for a small elementwise op on ready arrays, compute it at once: [`small`]).

mod small;

use std::sync::Arc;

use mxrs_engine::{FnProperty, Var, engine};
use smallvec::SmallVec;

use crate::autograd::record;
use crate::backend::cpu::Parallelism;
use crate::backend::device::{DevIn, DeviceStorage};
use crate::context::Context;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ndarray::NDArray;
use crate::op::{Attrs, OpCtx, Operator, Slot, TensorIn, registry, rng};
use crate::shape::{Shape, checked_bytes, fmt_shape};
use crate::storage::{CpuStorage, Storage, probe_alloc};

/// Run the registered op `name` on `inputs`. Shape and dtype errors are raised here, at the
/// call; failures while computing surface at the next wait on an output. When `out` is given
/// the results are written into those arrays (which may alias inputs), otherwise new arrays are
/// made on `ctx` (default: the inputs' context).
pub fn invoke(
    name: &str,
    attrs: &Attrs,
    inputs: &[NDArray],
    out: Option<&[NDArray]>,
    ctx: Option<Context>,
) -> Result<Vec<NDArray>> {
    let def = registry().get(name)?;
    let op: Arc<dyn Operator> = Arc::from((def.create)(attrs)?);
    invoke_op_attrs(op, || attrs.clone(), inputs, out, ctx)
}

/// The imperative call of the frontends: [`invoke_op`], recorded on the autograd tape while
/// this thread records (`attrs` is only called then: the gradient functions read them).
pub fn invoke_op_attrs(
    op: Arc<dyn Operator>,
    attrs: impl FnOnce() -> Attrs,
    inputs: &[NDArray],
    out: Option<&[NDArray]>,
    ctx: Option<Context>,
) -> Result<Vec<NDArray>> {
    let visible = op.num_visible_outputs();
    let mut all = invoke_op_record(op, attrs, inputs, out, ctx, is_training())?;
    all.truncate(visible);
    Ok(all)
}

/// [`invoke_op_full`], recorded on the autograd tape while this thread records. Returns every
/// output, hidden ones too.
pub fn invoke_op_record(
    op: Arc<dyn Operator>,
    attrs: impl FnOnce() -> Attrs,
    inputs: &[NDArray],
    out: Option<&[NDArray]>,
    ctx: Option<Context>,
    is_train: bool,
) -> Result<Vec<NDArray>> {
    if !record::is_recording() {
        return invoke_op_full(op, inputs, out, ctx, is_train);
    }
    record::check_writable(op.name(), out)?;
    record::check_not_inplace(op.name(), inputs, out)?;
    let mut all = invoke_op_full(op.clone(), inputs, out, ctx, is_train)?;
    record::record_op(op, attrs, inputs, &mut all, is_train);
    Ok(all)
}

pub use crate::autograd::record::{is_training, set_training};

/// [`invoke`] with an already created op instance, never recorded. Returns the op's visible
/// outputs.
pub fn invoke_op(
    op: Arc<dyn Operator>,
    inputs: &[NDArray],
    out: Option<&[NDArray]>,
    ctx: Option<Context>,
) -> Result<Vec<NDArray>> {
    let visible = op.num_visible_outputs();
    let mut all = invoke_op_full(op, inputs, out, ctx, is_training())?;
    all.truncate(visible);
    Ok(all)
}

/// The general imperative call: every output (hidden ones too) is returned, `out` may name
/// either all outputs or only the visible ones (hidden ones are then allocated), and the
/// training mode is explicit. Inputs listed by [`Operator::mutate_inputs`] are updated in place.
pub fn invoke_op_full(
    op: Arc<dyn Operator>,
    inputs: &[NDArray],
    out: Option<&[NDArray]>,
    ctx: Option<Context>,
    is_train: bool,
) -> Result<Vec<NDArray>> {
    if let Some(outputs) = small::try_run(&*op, inputs, out, is_train) {
        return Ok(outputs);
    }
    // The op itself moves into the engine closure below; a second handle lends the name.
    let op_ref = op.clone();
    let name = op_ref.name();
    let ctx = match inputs.first() {
        Some(first) => {
            // Host contexts share memory, so cpu(1) + cpu(2) is fine (as in MXNet); device
            // memory must be moved explicitly.
            let clash = |a: &&NDArray| a.ctx() != first.ctx() && !(a.ctx().is_host() && first.ctx().is_host());
            if let Some(other) = inputs.iter().find(clash) {
                return Err(Error::Context(format!(
                    "{name}: all inputs must be on the same context, got {} and {}; copy them with as_in_context first",
                    first.ctx(),
                    other.ctx()
                )));
            }
            first.ctx()
        }
        None => ctx.or_else(|| out.and_then(|o| o.first()).map(|o| o.ctx())).unwrap_or_default(),
    };
    let in_shapes: SmallVec<[Shape; 4]> = inputs.iter().map(|a| a.shape().to_vec()).collect();
    let in_dtypes: SmallVec<[DType; 4]> = inputs.iter().map(|a| a.dtype()).collect();
    let mut out_shapes = op.infer_shape(&in_shapes)?;
    if inputs.is_empty()
        && let Some(o) = out
    {
        // A creation op declared with unknown (0) dimensions (`_zeros(shape=(0, 8))` in a
        // graph, as MXNet 1.x symbols allow) fills the output it is given: the executor's,
        // whose shape graph inference completed.
        for (s, a) in out_shapes.iter_mut().zip(o) {
            if s.contains(&0) && crate::shape::matches_partial(s, a.shape()) {
                *s = a.shape().to_vec();
            }
        }
    }
    let out_dtypes = op.infer_dtype(&in_dtypes)?;
    if out_shapes.len() != op.num_outputs() || out_dtypes.len() != op.num_outputs() {
        return Err(Error::msg(format!("internal: {name} inferred the wrong number of outputs")));
    }
    let outputs = make_outputs(name, op.num_visible_outputs(), out, &out_shapes, &out_dtypes, ctx)?;
    let rng = op.uses_rng().then(|| rng::resource(ctx));
    let reads: SmallVec<[Var; 4]> = inputs.iter().map(|a| a.var().clone()).collect();
    let mutated: Vec<NDArray> = op
        .mutate_inputs()
        .into_iter()
        .map(|i| {
            inputs.get(i).cloned().ok_or_else(|| Error::msg(format!("internal: {name} mutates missing input {i}")))
        })
        .collect::<Result<_>>()?;
    let mut writes: SmallVec<[Var; 4]> = outputs.iter().chain(&mutated).map(|a| a.var().clone()).collect();
    if let Some(r) = &rng {
        writes.push(r.var.clone());
    }
    // Inputs that are also outputs stay in `reads`: the engine then knows the op reads them
    // (an error on them makes it skip) and treats them as written.
    let work = match op.work_elements(&in_shapes) {
        Some(w) => w,
        None => inputs.iter().map(|a| a.size()).chain(outputs.iter().map(|a| a.size())).sum(),
    };
    let prop = crate::ndarray::property_for_op(ctx, work, || op.inline_when_waited(&in_shapes));
    let device = ctx.engine_device();
    // A light op whose variables are free runs here and now on the borrowed arrays: no boxed
    // closure and no copies of the arrays for it to own.
    let ran_now = prop == FnProperty::Light && mutated.is_empty() && {
        let mut now = || {
            run(&*op, ctx, is_train, inputs, &outputs, &out_shapes, &out_dtypes, rng.as_deref())
                .map_err(|e| Box::new(e) as _)
        };
        engine().run_now(&mut now, &reads, &writes, device, "invoke")
    };
    if !ran_now {
        // The engine closure needs the data only; autograd slots stay with the caller.
        let ins: Vec<NDArray> = inputs.iter().map(NDArray::detach).collect();
        let mut targets = outputs.clone();
        targets.extend(mutated);
        engine().push(
            Box::new(move || {
                run(&*op, ctx, is_train, &ins, &targets, &out_shapes, &out_dtypes, rng.as_deref())
                    .map_err(|e| Box::new(e) as _)
            }),
            &reads,
            &writes,
            device,
            prop,
            0,
            "invoke",
        );
    }
    if engine().name() == "NaiveEngine" {
        // As MXNet's NaiveEngine: the op has run, and its failure is raised by the call itself.
        for o in &outputs {
            o.wait_to_read()?;
        }
    }
    Ok(outputs)
}

/// The arrays an op call writes: `out` (all outputs, or the visible ones with the hidden ones
/// made here), or new arrays, after checking what this call allocates.
fn make_outputs(
    name: &str,
    visible: usize,
    out: Option<&[NDArray]>,
    out_shapes: &[Shape],
    out_dtypes: &[DType],
    ctx: Context,
) -> Result<Vec<NDArray>> {
    // Outputs from `first_new` on are allocated by this call (all, the hidden ones, or none).
    let first_new = match out {
        None => 0,
        Some(o) if o.len() == visible && visible < out_shapes.len() => visible,
        Some(_) => out_shapes.len(),
    };
    check_output_memory(name, &out_shapes[first_new..], &out_dtypes[first_new..])?;
    Ok(match out {
        Some(o) if o.len() == visible && visible < out_shapes.len() => {
            let mut all = o.to_vec();
            for (s, &d) in out_shapes[visible..].iter().zip(&out_dtypes[visible..]) {
                all.push(NDArray::new_pending(s, d, ctx)?);
            }
            check_outputs(name, &all, out_shapes, ctx)?;
            all
        }
        Some(o) => {
            if o.len() != out_shapes.len() {
                return Err(Error::param(name, format!("expects {visible} output array(s), got {}", o.len())));
            }
            check_outputs(name, o, out_shapes, ctx)?;
            o.to_vec()
        }
        None => {
            out_shapes.iter().zip(out_dtypes).map(|(s, &d)| NDArray::new_pending(s, d, ctx)).collect::<Result<_>>()?
        }
    })
}

/// Outputs of at least this many bytes in all are asked of the allocator before the op is
/// pushed; a refusal of less would mean the process is out of memory anyway.
pub const PROBE_BYTES: usize = 1 << 26;

/// Check the outputs an op call will allocate: a shape error when a size overflows, and an
/// out-of-memory error naming the bytes when the system cannot give them now. Kernels allocate
/// their outputs on engine workers, where a refused allocation would abort the process; this
/// makes an impossible request (`zeros((1 << 52,))`) fail at the call instead.
fn check_output_memory(name: &str, shapes: &[Shape], dtypes: &[DType]) -> Result<()> {
    let mut total = 0usize;
    for (s, &d) in shapes.iter().zip(dtypes) {
        let b = checked_bytes(name, s, d)?;
        total = total.checked_add(b).filter(|&t| t <= isize::MAX as usize).ok_or_else(|| {
            Error::shape(name, format!("the outputs of shapes {shapes:?} take more bytes than can be addressed"))
        })?;
    }
    if total < PROBE_BYTES {
        return Ok(());
    }
    probe_alloc(name, total, || match (shapes, dtypes) {
        ([s], [d]) => format!("an output of shape {} and dtype {d}", fmt_shape(s)),
        _ => {
            let each: Vec<String> = shapes.iter().zip(dtypes).map(|(s, d)| format!("{} {d}", fmt_shape(s))).collect();
            format!("outputs of shapes {}", each.join(", "))
        }
    })
}

fn check_outputs(name: &str, o: &[NDArray], out_shapes: &[Shape], ctx: Context) -> Result<()> {
    for (a, s) in o.iter().zip(out_shapes) {
        if a.shape() != s.as_slice() {
            return Err(Error::shape(
                name,
                format!("output array has shape {} but the result has shape {}", fmt_shape(a.shape()), fmt_shape(s)),
            ));
        }
        // Host contexts share memory, as for the inputs.
        if a.ctx() != ctx && !(a.ctx().is_host() && ctx.is_host()) {
            return Err(Error::Context(format!("{name}: output is on {} but inputs are on {ctx}", a.ctx())));
        }
    }
    Ok(())
}

/// The body of an engine op: read the inputs, compute, store the outputs (then the new values
/// of mutated inputs, which `outputs` lists after the real outputs).
#[allow(clippy::too_many_arguments)]
fn run(
    op: &dyn Operator,
    ctx: Context,
    is_train: bool,
    inputs: &[NDArray],
    outputs: &[NDArray],
    out_shapes: &[Shape],
    out_dtypes: &[DType],
    rng: Option<&rng::RngResource>,
) -> Result<()> {
    if mxrs_engine::profiler::is_recording() {
        let bytes: usize = out_shapes.iter().zip(out_dtypes).map(|(s, d)| s.iter().product::<usize>() * d.size()).sum();
        mxrs_engine::profiler::note_op(op.name(), bytes as u64);
    }
    if !ctx.is_host() {
        return run_device(op, ctx, is_train, inputs, outputs, out_shapes, out_dtypes, rng);
    }
    if rng.is_none()
        && in_place_candidate(inputs, outputs, out_shapes, out_dtypes)
        && small::run_in_place(op, ctx, is_train, inputs)?
    {
        return Ok(());
    }
    if rng.is_none() && run_update(op, ctx, is_train, inputs, outputs)? {
        return Ok(());
    }
    recycle_outputs(inputs, outputs);
    let results = {
        let guards: SmallVec<[_; 4]> = inputs.iter().map(|a| a.chunk.storage.read()).collect();
        let mut tensors: SmallVec<[TensorIn<'_>; 4]> = SmallVec::with_capacity(inputs.len());
        for (a, g) in inputs.iter().zip(&guards) {
            let data = match &**g {
                Storage::Cpu(c) => c,
                Storage::Device(_) => {
                    return Err(Error::NotSupported(format!("{}: GPU kernels are not implemented yet", op.name())));
                }
            };
            if data.len() != a.chunk.len {
                return Err(Error::msg(format!("{}: an input was never written (its producing op failed)", op.name())));
            }
            tensors.push(TensorIn { data, offset: a.offset, shape: a.shape() });
        }
        let mut rng_guard = rng.map(|r| r.rng.lock());
        let mut octx = OpCtx { ctx, rng: rng_guard.as_deref_mut(), is_train, par: Parallelism::engine_op() };
        op.forward(&mut octx, &tensors, out_shapes, out_dtypes)?
    };
    // `outputs` includes the mutated inputs, whose new values follow the outputs.
    check_result_count(op, results.len(), outputs.len())?;
    for (o, r) in outputs.iter().zip(results) {
        o.write_result(r)?;
    }
    Ok(())
}

/// How many times each op ran on a GPU context through host memory (no device kernel).
static HOST_FALLBACKS: parking_lot::Mutex<Option<std::collections::BTreeMap<String, u64>>> =
    parking_lot::Mutex::new(None);

fn note_host_fallback(name: &str) {
    *HOST_FALLBACKS.lock().get_or_insert_with(Default::default).entry(name.to_string()).or_default() += 1;
}

/// The ops that ran on a GPU context through host memory since the last reset, with their
/// counts (`reset` starts a new count): the ops that would gain from a device kernel.
pub fn host_fallbacks(reset: bool) -> Vec<(String, u64)> {
    let mut g = HOST_FALLBACKS.lock();
    let out = g.as_ref().map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect()).unwrap_or_default();
    if reset {
        *g = None;
    }
    out
}

/// [`run`] on a GPU context: the op's device kernels, or else its host kernel over copies of
/// the inputs, whose results are copied back.
#[allow(clippy::too_many_arguments)]
fn run_device(
    op: &dyn Operator,
    ctx: Context,
    is_train: bool,
    inputs: &[NDArray],
    outputs: &[NDArray],
    out_shapes: &[Shape],
    out_dtypes: &[DType],
    rng: Option<&rng::RngResource>,
) -> Result<()> {
    let results = {
        let guards: Vec<_> = inputs.iter().map(|a| a.chunk.storage.read()).collect();
        let mut tensors = Vec::with_capacity(inputs.len());
        for (a, g) in inputs.iter().zip(&guards) {
            match &**g {
                Storage::Device(d) if d.len() == a.chunk.len => {
                    tensors.push(DevIn { data: d, offset: a.offset, shape: a.shape() })
                }
                Storage::Device(_) | Storage::Cpu(_) => {
                    return Err(Error::msg(format!(
                        "{}: an input was never written (its producing op failed)",
                        op.name()
                    )));
                }
            }
        }
        let mut rng_guard = rng.map(|r| r.rng.lock());
        let mut octx = OpCtx { ctx, rng: rng_guard.as_deref_mut(), is_train, par: Parallelism::engine_op() };
        match op.forward_device(&mut octx, &tensors, out_shapes, out_dtypes)? {
            Some(r) => r,
            None => {
                note_host_fallback(op.name());
                let host: Vec<CpuStorage> =
                    tensors.iter().map(|t| t.data.download(t.offset, t.len())).collect::<Result<_>>()?;
                let host_in: Vec<TensorIn<'_>> =
                    host.iter().zip(&tensors).map(|(h, t)| TensorIn { data: h, offset: 0, shape: t.shape }).collect();
                let r = op.forward(&mut octx, &host_in, out_shapes, out_dtypes)?;
                r.iter().map(|c| DeviceStorage::upload(ctx.dev_id, c, 0, c.len())).collect::<Result<_>>()?
            }
        }
    };
    check_result_count(op, results.len(), outputs.len())?;
    for (o, r) in outputs.iter().zip(results) {
        o.write_result_device(r)?;
    }
    Ok(())
}

/// An op returns one result per output (the new values of mutated inputs included).
fn check_result_count(op: &dyn Operator, got: usize, want: usize) -> Result<()> {
    if got != want {
        return Err(Error::msg(format!("internal: {} returned {got} outputs, expected {want}", op.name())));
    }
    Ok(())
}

/// Offer an updating op ([`Operator::forward_update`]) its outputs in place, when each output
/// is the whole array of a distinct input that no other input shares; false when the op
/// declined or the arrays do not allow it (or an input was never written, which the general
/// path reports).
fn run_update(
    op: &dyn Operator,
    ctx: Context,
    is_train: bool,
    inputs: &[NDArray],
    outputs: &[NDArray],
) -> Result<bool> {
    if !op.updates_in_place() {
        return Ok(false);
    }
    let mut written = vec![false; inputs.len()];
    for o in outputs {
        let Some(k) = inputs.iter().position(|a| a.same_chunk(o)) else { return Ok(false) };
        let a = &inputs[k];
        if written[k] || !a.is_whole() || !o.is_whole() || a.shape() != o.shape() || a.dtype() != o.dtype() {
            return Ok(false);
        }
        written[k] = true;
    }
    let shares_written = |k: usize| inputs.iter().zip(&written).any(|(b, &w)| w && b.same_chunk(&inputs[k]));
    if (0..inputs.len()).any(|k| !written[k] && shares_written(k)) {
        return Ok(false);
    }
    enum Guard<'g> {
        R(parking_lot::RwLockReadGuard<'g, Storage>),
        W(parking_lot::RwLockWriteGuard<'g, Storage>),
    }
    let mut guards: Vec<Guard<'_>> = inputs
        .iter()
        .zip(&written)
        .map(|(a, &w)| if w { Guard::W(a.chunk.storage.write()) } else { Guard::R(a.chunk.storage.read()) })
        .collect();
    let mut slots = Vec::with_capacity(inputs.len());
    for (a, g) in inputs.iter().zip(guards.iter_mut()) {
        let slot = match g {
            Guard::R(g) => match &**g {
                Storage::Cpu(c) if c.len() == a.chunk.len => {
                    Slot::Read(TensorIn { data: c, offset: a.offset, shape: a.shape() })
                }
                _ => return Ok(false),
            },
            Guard::W(g) => match &mut **g {
                Storage::Cpu(c) if c.len() == a.chunk.len => Slot::Write(c),
                _ => return Ok(false),
            },
        };
        slots.push(slot);
    }
    let mut octx = OpCtx { ctx, rng: None, is_train, par: Parallelism::engine_op() };
    op.forward_update(&mut octx, &mut slots)
}

/// Give the buffers of outputs the op is about to replace whole to the buffer pool, where
/// the kernel's allocation of the same size takes them back: an array written again and again
/// (an executor's planned buffer, an `out=` array) keeps one buffer instead of taking a
/// second one from the pool each time. Skipped for outputs that are also inputs (their old
/// values are read), views, and memory shared with other owners.
fn recycle_outputs(inputs: &[NDArray], outputs: &[NDArray]) {
    for o in outputs {
        // The size first: a tiny op's output is never pooled, and skips the lock below.
        if o.chunk.len * o.chunk.dtype.size() < crate::pool::MIN_POOLED_BYTES
            || !o.is_whole()
            || o.chunk.pinned.load(std::sync::atomic::Ordering::Relaxed)
            || inputs.iter().any(|a| a.same_chunk(o))
        {
            continue;
        }
        let mut g = o.chunk.storage.write();
        if let Storage::Cpu(c) = &mut *g
            && c.len() == o.chunk.len
        {
            crate::pool::give(std::mem::replace(c, CpuStorage::zeros(o.chunk.dtype, 0)));
        }
    }
}

/// Whether the op writes its only output over the whole of input 0, with input 0's shape and
/// dtype, and no other input shares that memory: then [`Operator::forward_inplace`] may run.
fn in_place_candidate(inputs: &[NDArray], outputs: &[NDArray], out_shapes: &[Shape], out_dtypes: &[DType]) -> bool {
    let ([first, rest @ ..], [out]) = (inputs, outputs) else { return false };
    first.same_chunk(out)
        && first.is_whole()
        && out.is_whole()
        && first.shape() == out_shapes[0].as_slice()
        && first.dtype() == out_dtypes[0]
        && !rest.iter().any(|a| a.same_chunk(first))
}

/// Reseed the generator of every context (or only `ctx`), ordered after pending draws.
pub fn random_seed(seed: u64, ctx: Option<Context>) {
    let ctxs = match ctx {
        Some(c) => vec![c],
        None => {
            rng::set_global_seed(seed);
            let mut v = rng::contexts();
            if !v.contains(&Context::cpu(0)) {
                v.push(Context::cpu(0));
            }
            v
        }
    };
    for c in ctxs {
        let res = rng::resource(c);
        let r2 = res.clone();
        engine().push(
            Box::new(move || {
                rng::reseed(&r2, seed, c);
                Ok(())
            }),
            &[],
            std::slice::from_ref(&res.var),
            c.engine_device(),
            FnProperty::Normal,
            0,
            "random_seed",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arr(v: Vec<f32>, shape: &[usize]) -> NDArray {
        NDArray::from_cpu(CpuStorage::F32(v.into()), shape, Context::cpu(0)).unwrap()
    }

    fn vals(a: &NDArray) -> Vec<f64> {
        let s = a.to_cpu_storage().unwrap();
        (0..s.len()).map(|i| s.get_f64(i)).collect()
    }

    /// Address of the array's buffer: an in-place op keeps it, the general path swaps it.
    fn buffer(a: &NDArray) -> usize {
        a.read_cpu(|s, _, _| match s {
            CpuStorage::F32(v) => v.as_ptr() as usize,
            CpuStorage::I32(v) => v.as_ptr() as usize,
            _ => unreachable!(),
        })
        .unwrap()
    }

    /// Push an op that writes `x` and fails with "the producer failed".
    fn fail_writer(x: &NDArray) {
        engine().push(
            Box::new(|| Err("the producer failed".into())),
            &[],
            std::slice::from_ref(x.var()),
            x.ctx().engine_device(),
            FnProperty::Normal,
            0,
            "failing producer",
        );
    }

    fn scalar(name: &str, a: &NDArray, s: &str, out: &NDArray) {
        invoke(
            name,
            &Attrs::from_pairs([("scalar", s)]),
            std::slice::from_ref(a),
            Some(std::slice::from_ref(out)),
            None,
        )
        .unwrap();
    }

    #[test]
    fn updates_of_a_whole_array_run_in_place() {
        // Large enough for the parallel kernels, odd so that the chunks are uneven.
        let n = 300_001;
        let x = arr((0..n).map(|i| (i % 11) as f32).collect(), &[n]);
        let y = arr((0..n).map(|i| 1.0 + (i % 5) as f32).collect(), &[n]);
        let p = buffer(&x);
        scalar("_plus_scalar", &x, "2", &x);
        scalar("_rminus_scalar", &x, "100", &x);
        scalar("_mul_scalar", &x, "0.5", &x);
        scalar("_rdiv_scalar", &x, "3", &x);
        invoke("broadcast_add", &Attrs::default(), &[x.clone(), y.clone()], Some(std::slice::from_ref(&x)), None)
            .unwrap();
        invoke("elemwise_div", &Attrs::default(), &[x.clone(), y.clone()], Some(std::slice::from_ref(&x)), None)
            .unwrap();
        let got = vals(&x);
        assert_eq!(buffer(&x), p, "the in-place ops replaced the buffer");
        for (i, g) in got.iter().enumerate() {
            let (a, b) = ((i % 11) as f32, 1.0 + (i % 5) as f32);
            let want = (3.0 / ((100.0 - (a + 2.0)) * 0.5) + b) / b;
            assert!((*g as f32 - want).abs() <= 1e-6 * want.abs(), "element {i}: {g} vs {want}");
        }
    }

    #[test]
    fn unary_ops_written_over_their_input_run_in_place() {
        // The vectorised float32 kernels (exp, tanh, sigmoid) and the generic ones, over a
        // length that splits into uneven parallel chunks and stack-buffer pieces.
        let n = 300_001;
        let src: Vec<f32> = (0..n).map(|i| ((i % 97) as f32 - 48.0) / 16.0).collect();
        for name in ["exp", "tanh", "sigmoid", "sqrt", "abs", "negative", "floor"] {
            let x = arr(src.clone(), &[n]);
            let fresh = invoke(name, &Attrs::default(), std::slice::from_ref(&x), None, None).unwrap();
            let p = buffer(&x);
            invoke(name, &Attrs::default(), std::slice::from_ref(&x), Some(std::slice::from_ref(&x)), None).unwrap();
            assert_eq!(buffer(&x), p, "{name} replaced the buffer");
            let (got, want) = (vals(&x), vals(&fresh[0]));
            for i in 0..n {
                assert!(got[i] == want[i] || (got[i].is_nan() && want[i].is_nan()), "{name} element {i}");
            }
        }
        // Activation (what a graph executor runs in place over a batch norm's output), with a NaN.
        for act in ["relu", "tanh", "sigmoid"] {
            let attrs = Attrs::from_pairs([("act_type", act)]);
            let mut v = src.clone();
            v[5] = f32::NAN;
            let x = arr(v, &[n]);
            let fresh = invoke("Activation", &attrs, std::slice::from_ref(&x), None, None).unwrap();
            let p = buffer(&x);
            invoke("Activation", &attrs, std::slice::from_ref(&x), Some(std::slice::from_ref(&x)), None).unwrap();
            assert_eq!(buffer(&x), p, "Activation {act} replaced the buffer");
            let (got, want) = (vals(&x), vals(&fresh[0]));
            for i in 0..n {
                assert!(got[i] == want[i] || (got[i].is_nan() && want[i].is_nan()), "{act} element {i}");
            }
            // Its gradient over the output gradient (a backward pass's in-place step).
            let g = arr((0..n).map(|i| ((i % 13) as f32 - 6.0) / 3.0).collect(), &[n]);
            let ins = [g.clone(), x.clone(), x.clone()];
            let fresh = invoke("_backward_Activation", &attrs, &ins, None, None).unwrap();
            let p = buffer(&g);
            invoke("_backward_Activation", &attrs, &ins, Some(std::slice::from_ref(&g)), None).unwrap();
            assert_eq!(buffer(&g), p, "_backward_Activation {act} replaced the buffer");
            let (got, want) = (vals(&g), vals(&fresh[0]));
            for i in 0..n {
                assert!(got[i] == want[i] || (got[i].is_nan() && want[i].is_nan()), "{act} gradient element {i}");
            }
        }
        let x = NDArray::from_cpu(CpuStorage::I32(vec![-3, 4, -5, 0].into()), &[4], Context::cpu(0)).unwrap();
        let p = buffer(&x);
        invoke("abs", &Attrs::default(), std::slice::from_ref(&x), Some(std::slice::from_ref(&x)), None).unwrap();
        assert_eq!((vals(&x), buffer(&x)), (vec![3.0, 4.0, 5.0, 0.0], p));
    }

    #[test]
    fn in_place_keeps_integer_semantics_and_one_element_operands() {
        let x = NDArray::from_cpu(CpuStorage::I32(vec![7, -7, 9, 0].into()), &[2, 2], Context::cpu(0)).unwrap();
        let p = buffer(&x);
        scalar("_div_scalar", &x, "2", &x);
        let one = NDArray::from_cpu(CpuStorage::I32(vec![3].into()), &[1], Context::cpu(0)).unwrap();
        invoke("broadcast_mul", &Attrs::default(), &[x.clone(), one], Some(std::slice::from_ref(&x)), None).unwrap();
        assert_eq!(vals(&x), [9.0, -9.0, 12.0, 0.0]);
        assert_eq!(buffer(&x), p);
    }

    #[test]
    fn other_updates_take_the_general_path() {
        // x += x: the other operand shares the buffer.
        let x = arr(vec![1.0, 2.0, 3.0, 4.0], &[4]);
        invoke("broadcast_add", &Attrs::default(), &[x.clone(), x.clone()], Some(std::slice::from_ref(&x)), None)
            .unwrap();
        assert_eq!(vals(&x), [2.0, 4.0, 6.0, 8.0]);
        // A view: only its rows change.
        let v = x.slice_axis0(1, 3).unwrap();
        scalar("_plus_scalar", &v, "10", &v);
        assert_eq!(vals(&x), [2.0, 14.0, 16.0, 8.0]);
        // A broadcast row operand (neither one element nor the full size).
        let m = arr(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
        let row = arr(vec![10.0, 20.0, 30.0], &[3]);
        invoke("broadcast_sub", &Attrs::default(), &[m.clone(), row], Some(std::slice::from_ref(&m)), None).unwrap();
        assert_eq!(vals(&m), [-9.0, -18.0, -27.0, -6.0, -15.0, -24.0]);
        // An op without an in-place kernel, written over its input.
        scalar("_power_scalar", &m, "2", &m);
        assert_eq!(vals(&m)[0], 81.0);
    }

    #[test]
    fn impossible_outputs_fail_at_the_call() {
        let attrs = |pairs: &[(&str, &str)]| Attrs::from_pairs(pairs.iter().copied());
        // Too large for any allocator: out of memory, naming the op and the bytes.
        let e = invoke("_zeros", &attrs(&[("shape", "(4503599627370496,)")]), &[], None, None).unwrap_err();
        assert!(matches!(e, Error::OutOfMemory { bytes, .. } if bytes == 1 << 54), "{e}");
        assert!(e.to_string().contains("_zeros: out of memory: cannot allocate 18014398509481984 bytes"), "{e}");
        let e = invoke("_arange", &attrs(&[("start", "0"), ("stop", "1e15")]), &[], None, None).unwrap_err();
        assert!(e.to_string().contains("cannot allocate 4000000000000000 bytes"), "{e}");
        // Sizes that overflow, and bad dimensions: shape errors.
        let e = invoke("_zeros", &attrs(&[("shape", "(4611686018427387904, 8)")]), &[], None, None).unwrap_err();
        assert!(matches!(e, Error::Shape { .. }), "{e}");
        let e = invoke("_full", &attrs(&[("shape", "(-1, 2)"), ("value", "1")]), &[], None, None).unwrap_err();
        assert!(matches!(e, Error::Shape { .. }), "{e}");
        let e = invoke("_arange", &attrs(&[("start", "0"), ("stop", "inf")]), &[], None, None).unwrap_err();
        assert!(matches!(e, Error::Shape { .. }), "{e}");
        let x = arr(vec![1.0], &[1, 1]);
        let big = attrs(&[("shape", "(1099511627776, 1099511627776)")]);
        let e = invoke("broadcast_to", &big, std::slice::from_ref(&x), None, None).unwrap_err();
        assert!(matches!(e, Error::Shape { .. }), "{e}");
        // Nothing was pushed for them: the engine and the array still work.
        assert_eq!(vals(&invoke("_plus_scalar", &attrs(&[("scalar", "1")]), &[x], None, None).unwrap()[0]), [2.0]);
    }

    #[test]
    fn failed_producer_is_reported_by_the_in_place_consumer() {
        // An op writing x fails at run time; the in-place update after it must not compute
        // over x but leave the original error for the next read.
        let x = arr(vec![1.0, 2.0], &[2]);
        fail_writer(&x);
        scalar("_plus_scalar", &x, "1", &x);
        let e = x.wait_to_read().unwrap_err().to_string();
        assert!(e.contains("the producer failed"), "{e}");
        // Written again, x is usable.
        x.write_from_cpu(CpuStorage::F32(vec![5.0, 6.0].into())).unwrap();
        scalar("_plus_scalar", &x, "1", &x);
        assert_eq!(vals(&x), [6.0, 7.0]);
    }

    /// The op `name` without attributes, for the short way ([`small::try_run`]).
    fn plain_op(name: &str) -> Box<dyn Operator> {
        (registry().get(name).unwrap().create)(&Attrs::default()).unwrap()
    }

    #[test]
    fn short_way_leaves_an_input_being_written_to_the_queue() {
        let (x, y) = (arr(vec![1.0, 2.0], &[2]), arr(vec![1.0, 1.0], &[2]));
        let target = x.clone();
        engine().push(
            Box::new(move || {
                std::thread::sleep(std::time::Duration::from_millis(50));
                *target.chunk.storage.write() = Storage::Cpu(CpuStorage::F32(vec![5.0, 6.0].into()));
                Ok(())
            }),
            &[],
            std::slice::from_ref(x.var()),
            x.ctx().engine_device(),
            FnProperty::Normal,
            0,
            "slow producer",
        );
        let ins = [x, y];
        assert!(small::try_run(&*plain_op("elemwise_add"), &ins, None, false).is_none());
        // The call queues behind the write and sees its values.
        assert_eq!(vals(&invoke("elemwise_add", &Attrs::default(), &ins, None, None).unwrap()[0]), [6.0, 7.0]);
    }

    #[test]
    fn short_way_leaves_an_input_with_an_error_to_the_engine() {
        let x = arr(vec![1.0, 2.0], &[2]);
        fail_writer(&x);
        let _ = x.wait_to_read();
        assert!(small::try_run(&*plain_op("relu"), std::slice::from_ref(&x), None, false).is_none());
        let out = invoke("relu", &Attrs::default(), std::slice::from_ref(&x), None, None).unwrap();
        let e = out[0].wait_to_read().unwrap_err().to_string();
        assert!(e.contains("the producer failed"), "{e}");
    }
}
