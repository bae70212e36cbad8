//! `Custom` and `_backward_Custom`: operators written in Python (MXNet's `mx.operator.CustomOp`
//! with its `CustomOpProp`), used in Symbol graphs.
//!
//! The core knows nothing of Python. A frontend installs a [`CustomBackend`] (the PyO3 crate
//! does at import) that turns an `op_type` and its keyword arguments into a [`CustomProp`]: the
//! operator's argument, output and auxiliary-state names, its shape and dtype inference and its
//! forward and backward computations over host arrays. A `Custom` node's input names are the
//! prop's arguments then its auxiliary states (the last ones are aux, as MXNet lists them), its
//! outputs the prop's outputs.
//!
//! Forward and backward run inside engine ops, on a worker thread (or the pushing thread): the
//! backend takes the interpreter lock there, so every thread that waits for the engine must
//! release it first (the bindings do). Ops the Python code pushes while it runs are run at once
//! on that thread when they are ready ([`run_inline`]), so a custom op never waits for a worker
//! the other custom ops may all be holding.
//!
//! The backward op finds its forward op's prop (and through it the Python operator instance of
//! the same shapes, which may keep state between the two) by a hidden attribute the forward op
//! gives its gradient ([`Operator::gradient_attrs`]).

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::{Mutex, RwLock};

use super::{Attrs, GradBuilder, NodeEntry, OpCtx, Operator, Registry, TensorIn};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::{Shape, fmt_shape};
use crate::storage::CpuStorage;

/// Shapes (or dtypes) a prop's inference gives: arguments, outputs, auxiliary states.
pub type Inferred<T> = (Vec<T>, Vec<T>, Vec<T>);

/// A host array handed to a Python operator: its elements and shape.
pub type HostArray = (CpuStorage, Shape);

/// One forward call of a Python operator.
#[derive(Debug)]
pub struct ForwardCall<'a> {
    /// The training flag of the forward pass.
    pub is_train: bool,
    /// The arguments.
    pub in_data: Vec<HostArray>,
    /// The auxiliary states (the operator may update them).
    pub aux: Vec<HostArray>,
    /// Shapes of the outputs.
    pub out_shapes: &'a [Shape],
    /// Dtypes of the outputs.
    pub out_dtypes: &'a [DType],
}

/// One backward call of a Python operator.
#[derive(Debug)]
pub struct BackwardCall {
    /// Gradients of the outputs (zeros when the operator does not need them).
    pub out_grad: Vec<HostArray>,
    /// The arguments of the forward call.
    pub in_data: Vec<HostArray>,
    /// The outputs of the forward call.
    pub out_data: Vec<HostArray>,
    /// The auxiliary states.
    pub aux: Vec<HostArray>,
}

/// What a forward call computed: the outputs, then the new values of the auxiliary states.
pub type ForwardResult = (Vec<CpuStorage>, Vec<CpuStorage>);

/// A Python operator's properties, made by the [`CustomBackend`] for one `op_type` and its
/// keyword arguments.
pub trait CustomProp: Send + Sync + fmt::Debug {
    /// The registered `op_type`.
    fn op_type(&self) -> &str;
    /// `list_arguments()`.
    fn arguments(&self) -> &[String];
    /// `list_outputs()`.
    fn outputs(&self) -> &[String];
    /// `list_auxiliary_states()`.
    fn aux_states(&self) -> &[String];
    /// Whether backward reads the output gradients (False for loss heads).
    fn need_top_grad(&self) -> bool;
    /// `infer_shape` over the arguments' shapes (`None`: unknown). `Ok(None)` when it cannot
    /// tell yet (it failed while some shape is unknown).
    fn infer_shape(&self, args: &[Option<Shape>]) -> Result<Option<Inferred<Shape>>>;
    /// `infer_type` over the arguments' dtypes (`None`: unknown); unknown results are `None`.
    fn infer_type(&self, args: &[Option<DType>]) -> Result<Inferred<Option<DType>>>;
    /// Run the operator's `forward`.
    fn forward(&self, call: ForwardCall<'_>) -> Result<ForwardResult>;
    /// Run the operator's `backward`; returns one gradient per argument.
    fn backward(&self, call: BackwardCall) -> Result<Vec<CpuStorage>>;
}

/// Makes [`CustomProp`]s: the frontend's registry of Python operators.
pub trait CustomBackend: Send + Sync {
    /// The prop of `op_type` made with `kwargs` (all strings, as MXNet passes them).
    fn create(&self, op_type: &str, kwargs: &[(String, String)]) -> Result<Arc<dyn CustomProp>>;
}

static BACKEND: RwLock<Option<Arc<dyn CustomBackend>>> = RwLock::new(None);

/// Install the backend that makes Python operators (the PyO3 crate does at import).
pub fn set_backend(b: Arc<dyn CustomBackend>) {
    *BACKEND.write() = Some(b);
}

thread_local! {
    static INLINE: Cell<bool> = const { Cell::new(false) };
}

/// Run `f` with the ops this thread pushes on host contexts marked light, so that those ready
/// at once run on this thread instead of waiting for an engine worker. Custom operators run
/// their Python code this way: the ops it pushes read and write its own fresh arrays.
pub fn run_inline<R>(f: impl FnOnce() -> R) -> R {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            INLINE.with(|c| c.set(self.0));
        }
    }
    let _reset = Reset(INLINE.with(|c| c.replace(true)));
    f()
}

/// True inside [`run_inline`].
pub(crate) fn inline_ops() -> bool {
    INLINE.with(|c| c.get())
}

/// Props alive in some op, by id: the backward op of a forward op finds its prop here.
static LIVE: Mutex<Option<HashMap<u64, Weak<dyn CustomProp>>>> = Mutex::new(None);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The hidden attribute naming a forward op's prop for its backward op.
const PROP_KEY: &str = "__custom_prop__";

fn op_type(attrs: &Attrs, op: &str) -> Result<String> {
    attrs.raw("op_type").map(str::to_string).ok_or_else(|| {
        Error::param(op, "the parameter op_type (the registered name of the Python operator) is required")
    })
}

/// The prop of a node's attributes: the live one its id names, else a new one.
fn prop_of(attrs: &Attrs, op: &str) -> Result<(Arc<dyn CustomProp>, u64)> {
    if let Some(id) = attrs.raw(PROP_KEY).and_then(|s| s.parse::<u64>().ok())
        && let Some(p) = LIVE.lock().as_ref().and_then(|m| m.get(&id)).and_then(Weak::upgrade)
    {
        return Ok((p, id));
    }
    let ty = op_type(attrs, op)?;
    let kwargs: Vec<(String, String)> = attrs
        .0
        .iter()
        .filter(|(k, _)| *k != "op_type" && !k.starts_with("__"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let backend = BACKEND.read().clone().ok_or_else(|| {
        Error::NotSupported(format!("{op}({ty}): Python operators need the mxrs Python package (no backend installed)"))
    })?;
    let prop = backend.create(&ty, &kwargs)?;
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let mut live = LIVE.lock();
    let map = live.get_or_insert_with(HashMap::new);
    map.retain(|_, w| w.strong_count() > 0);
    map.insert(id, Arc::downgrade(&prop));
    Ok((prop, id))
}

/// `Custom`: a Python operator's forward.
#[derive(Debug)]
struct CustomOp {
    prop: Arc<dyn CustomProp>,
    id: u64,
    /// Output shapes by argument shapes (inference calls into Python: once per shape).
    shapes: Mutex<HashMap<Vec<Shape>, Inferred<Shape>>>,
    /// Output dtypes by argument dtypes (each forward step asks).
    dtypes: Mutex<HashMap<Vec<DType>, Vec<DType>>>,
}

impl CustomOp {
    fn new(prop: Arc<dyn CustomProp>, id: u64) -> CustomOp {
        CustomOp { prop, id, shapes: Mutex::new(HashMap::new()), dtypes: Mutex::new(HashMap::new()) }
    }
    fn n_args(&self) -> usize {
        self.prop.arguments().len()
    }
    fn label(&self) -> String {
        format!("Custom({})", self.prop.op_type())
    }
    /// Full inference from the arguments' shapes, cached.
    fn infer_known(&self, args: &[Shape]) -> Result<Inferred<Shape>> {
        if let Some(r) = self.shapes.lock().get(args) {
            return Ok(r.clone());
        }
        let known: Vec<Option<Shape>> = args.iter().cloned().map(Some).collect();
        let r = self
            .prop
            .infer_shape(&known)?
            .ok_or_else(|| Error::shape(self.label(), format!("infer_shape gave no shapes for arguments {args:?}")))?;
        self.check_counts(&r)?;
        self.shapes.lock().insert(args.to_vec(), r.clone());
        Ok(r)
    }
    fn check_counts<T>(&self, r: &Inferred<T>) -> Result<()> {
        let (a, o, x) = (self.n_args(), self.prop.outputs().len(), self.prop.aux_states().len());
        if r.0.len() != a || r.1.len() != o || r.2.len() != x {
            return Err(Error::shape(
                self.label(),
                format!(
                    "infer_shape/infer_type must give {a} argument, {o} output and {x} auxiliary entries, gave {}, {} and {}",
                    r.0.len(),
                    r.1.len(),
                    r.2.len()
                ),
            ));
        }
        Ok(())
    }
}

/// Store `got` into `slot`, checking it against a known value.
fn assign<T: PartialEq + Clone + fmt::Debug>(
    op: &str,
    what: &str,
    slot: &mut Option<T>,
    got: T,
    show: impl Fn(&T) -> String,
) -> Result<()> {
    match slot {
        Some(k) if *k != got => {
            Err(Error::shape(op, format!("{what}: inferred {} conflicts with {}", show(&got), show(k))))
        }
        _ => {
            *slot = Some(got);
            Ok(())
        }
    }
}

impl Operator for CustomOp {
    fn num_outputs(&self) -> usize {
        self.prop.outputs().len()
    }
    fn name(&self) -> &str {
        "Custom"
    }
    fn pure_forward(&self) -> bool {
        false
    }
    fn output_names(&self) -> Vec<String> {
        self.prop.outputs().to_vec()
    }
    fn input_names(&self) -> Option<Vec<String>> {
        Some(self.prop.arguments().iter().chain(self.prop.aux_states()).cloned().collect())
    }
    fn num_aux(&self) -> usize {
        self.prop.aux_states().len()
    }
    fn mutate_inputs(&self) -> Vec<usize> {
        (self.n_args()..self.n_args() + self.num_aux()).collect()
    }
    fn gradient_attrs(&self) -> Vec<(String, String)> {
        vec![(PROP_KEY.to_string(), self.id.to_string())]
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        let n = self.n_args() + self.num_aux();
        if inputs.len() != n {
            return Err(Error::param(self.label(), format!("expects {n} input(s), got {}", inputs.len())));
        }
        Ok(self.infer_known(&inputs[..self.n_args()])?.1)
    }
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        let n = self.n_args();
        if inputs[..n].iter().all(Option::is_none) {
            return Ok(());
        }
        let r = match inputs[..n].iter().cloned().collect::<Option<Vec<Shape>>>() {
            Some(all) => self.infer_known(&all)?,
            None => match self.prop.infer_shape(&inputs[..n])? {
                Some(r) => r,
                None => return Ok(()),
            },
        };
        self.check_counts(&r)?;
        let label = self.label();
        let show = |s: &Shape| fmt_shape(s);
        let names = self.input_names().unwrap_or_default();
        for (i, s) in r.0.into_iter().chain(r.2).enumerate() {
            // An unknown argument echoed back as `[]` stays unknown.
            if inputs[i].is_none() && s.is_empty() {
                continue;
            }
            assign(&label, &format!("input '{}'", names[i]), &mut inputs[i], s, show)?;
        }
        for (i, s) in r.1.into_iter().enumerate() {
            assign(&label, &format!("output '{}'", self.prop.outputs()[i]), &mut outputs[i], s, show)?;
        }
        Ok(())
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        let key: Vec<DType> = inputs.iter().take(self.n_args()).copied().collect();
        if let Some(r) = self.dtypes.lock().get(&key) {
            return Ok(r.clone());
        }
        let args: Vec<Option<DType>> = key.iter().copied().map(Some).collect();
        let r = self.prop.infer_type(&args)?;
        self.check_counts(&r)?;
        let outs =
            r.1.into_iter()
                .map(|d| d.ok_or_else(|| Error::param(self.label(), "infer_type left an output dtype unknown")))
                .collect::<Result<Vec<DType>>>()?;
        self.dtypes.lock().insert(key, outs.clone());
        Ok(outs)
    }
    fn infer_dtype_partial(&self, inputs: &mut [Option<DType>], outputs: &mut [Option<DType>]) -> Result<()> {
        let n = self.n_args();
        if inputs[..n].iter().all(Option::is_none) {
            return Ok(());
        }
        let r = self.prop.infer_type(&inputs[..n])?;
        self.check_counts(&r)?;
        let label = self.label();
        let show = |d: &DType| d.to_string();
        let slots = inputs.iter_mut().chain(outputs.iter_mut());
        for (slot, d) in slots.zip(r.0.into_iter().chain(r.2).chain(r.1)) {
            if let Some(d) = d {
                assign(&label, "dtype", slot, d, show)?;
            }
        }
        Ok(())
    }
    fn forward(
        &self,
        ctx: &mut OpCtx<'_>,
        inputs: &[TensorIn<'_>],
        out_shapes: &[Shape],
        out_dtypes: &[DType],
    ) -> Result<Vec<CpuStorage>> {
        let host: Vec<HostArray> = inputs.iter().map(|t| (t.to_storage(), t.shape.to_vec())).collect();
        let (in_data, aux) = split(host, self.n_args());
        let call = ForwardCall { is_train: ctx.is_train, in_data, aux, out_shapes, out_dtypes };
        let (mut outs, aux) = self.prop.forward(call)?;
        outs.extend(aux);
        Ok(outs)
    }
}

fn split(mut v: Vec<HostArray>, at: usize) -> (Vec<HostArray>, Vec<HostArray>) {
    let rest = v.split_off(at.min(v.len()));
    (v, rest)
}

/// `_backward_Custom`: inputs are the output gradients (only when the prop needs them), the
/// arguments, the outputs and the auxiliary states; outputs one gradient per argument.
#[derive(Debug)]
struct CustomBackwardOp {
    prop: Arc<dyn CustomProp>,
}

impl CustomBackwardOp {
    /// `(out_grads, args, outputs, aux)` counts.
    fn counts(&self) -> (usize, usize, usize, usize) {
        let p = &self.prop;
        let og = if p.need_top_grad() { p.outputs().len() } else { 0 };
        (og, p.arguments().len(), p.outputs().len(), p.aux_states().len())
    }
    fn label(&self) -> String {
        format!("_backward_Custom({})", self.prop.op_type())
    }
}

impl Operator for CustomBackwardOp {
    fn num_outputs(&self) -> usize {
        self.prop.arguments().len()
    }
    fn name(&self) -> &str {
        "_backward_Custom"
    }
    fn pure_forward(&self) -> bool {
        false
    }
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>> {
        let (og, a, o, x) = self.counts();
        if inputs.len() != og + a + o + x {
            return Err(Error::param(
                self.label(),
                format!("expects {} input(s), got {}", og + a + o + x, inputs.len()),
            ));
        }
        Ok(inputs[og..og + a].to_vec())
    }
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        let (og, a, _, _) = self.counts();
        Ok(inputs[og..og + a].to_vec())
    }
    fn forward(
        &self,
        _ctx: &mut OpCtx<'_>,
        inputs: &[TensorIn<'_>],
        _out_shapes: &[Shape],
        _out_dtypes: &[DType],
    ) -> Result<Vec<CpuStorage>> {
        let (og, a, o, _) = self.counts();
        let host: Vec<HostArray> = inputs.iter().map(|t| (t.to_storage(), t.shape.to_vec())).collect();
        let (grads, rest) = split(host, og);
        let (in_data, rest) = split(rest, a);
        let (out_data, aux) = split(rest, o);
        let out_grad = if og == 0 {
            out_data.iter().map(|(s, shape)| (CpuStorage::zeros(s.dtype(), s.len()), shape.clone())).collect()
        } else {
            grads
        };
        let res = self.prop.backward(BackwardCall { out_grad, in_data, out_data, aux })?;
        if res.len() != a {
            return Err(Error::msg(format!(
                "{}: backward gave {} gradients for {a} arguments",
                self.label(),
                res.len()
            )));
        }
        Ok(res)
    }
}

/// The gradient of `Custom`: one `_backward_Custom` node calling the operator's `backward`.
fn custom_gradient(
    b: &mut dyn GradBuilder,
    attrs: &Attrs,
    inputs: &[NodeEntry],
    outputs: &[NodeEntry],
    out_grads: &[NodeEntry],
) -> Result<Vec<Option<NodeEntry>>> {
    let (prop, _) = prop_of(attrs, "Custom")?;
    let a = prop.arguments().len();
    let mut ins = Vec::new();
    if prop.need_top_grad() {
        ins.extend_from_slice(out_grads);
    }
    ins.extend_from_slice(&inputs[..a]);
    ins.extend_from_slice(outputs);
    ins.extend_from_slice(&inputs[a..]);
    let grads = b.op("_backward_Custom", &ins, attrs.clone())?;
    Ok(grads.into_iter().map(Some).chain(std::iter::repeat_n(None, inputs.len() - a)).collect())
}

pub(super) fn register(r: &mut Registry) {
    r.add(
        "Custom",
        &["*data"],
        crate::params!("op_type" = None),
        "apply a custom operator implemented in Python (registered with mx.operator.register)",
        |a| {
            let (prop, id) = prop_of(a, "Custom")?;
            Ok(Box::new(CustomOp::new(prop, id)))
        },
    );
    r.set_gradient("Custom", custom_gradient);
    r.add(
        "_backward_Custom",
        &["*data"],
        crate::params!("op_type" = None),
        "gradient of Custom: calls the Python operator's backward",
        |a| Ok(Box::new(CustomBackwardOp { prop: prop_of(a, "_backward_Custom")?.0 })),
    );
}

#[cfg(test)]
mod tests;
