//! The imperative call: check and infer synchronously, then push the compute onto the engine
//! (or, for a light op on ready arrays, compute it at once: [`small`]).

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

/// A new array holding `op` (one output) over `inputs`, computed on the calling thread when the
/// call is a small elementwise op on ready host arrays of one shape and dtype, outside
/// autograd's recording ([`small`]'s short way); `None` otherwise, and the caller then makes the
/// general call ([`invoke_op_attrs`]), which behaves as it always does. The short way's own
/// entry, for callers that run tiny ops in a loop (Python's `a + b`): it takes the inputs by
/// reference and returns the array itself.
pub fn invoke_small(op: &dyn Operator, inputs: &[&NDArray]) -> Option<NDArray> {
    if record::is_recording() {
        return None;
    }
    small::try_new(op, inputs, is_training())
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
    if out.is_none()
        && let Some(output) = small::try_light(&*op, inputs, ctx, is_train)
    {
        return Ok(vec![output]);
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
        && small::run_in_place(op, ctx, is_train, &inputs.iter().collect::<SmallVec<[&NDArray; 4]>>())?
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
mod tests;
