//! The operator registry: every op of `mx.nd` and `mx.sym` is defined once here, with
//! its name, inputs, parameters, shape and dtype inference, compute function and a slot for its
//! gradient.
//!
//! Compute functions are synchronous and engine-free: they map input storages to output
//! storages, with what else they may use (the random generator, the training flag, the thread
//! budget of the kernels) handed in by [`OpCtx`]. Only [`crate::invoke()`] pushes them onto the
//! engine and fills that context from it.

pub mod attrs;
mod catalog;
mod classic;
mod contrib;
mod conv;
pub mod custom;
mod dot;
mod elemwise;
pub mod grad;
mod indexing;
mod init;
mod layers;
mod legacy_v1;
mod linalg;
mod matrix;
mod nn;
mod optimizer;
mod optimizer_multi;
mod pointwise;
mod pool;
mod random;
mod reduce;
mod registry;
mod remap;
pub mod rng;
mod sampler;
mod scan;
mod slice_assign;
mod sort;
mod sparse;

use std::fmt;
use std::sync::Arc;

pub use attrs::Attrs;
pub use catalog::registry;
pub use registry::Registry;

use crate::backend::cpu::Parallelism;
pub use crate::backend::device::DevIn;
use crate::backend::device::DeviceStorage;
use crate::context::Context;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::Shape;
use crate::storage::{CpuStorage, StorageElement};

/// A read-only contiguous input: `shape.iter().product()` elements of `data` from `offset`.
#[derive(Clone, Copy, Debug)]
pub struct TensorIn<'a> {
    /// The storage of the input's chunk.
    pub data: &'a CpuStorage,
    /// First element of the input inside `data`.
    pub offset: usize,
    /// The input's shape.
    pub shape: &'a [usize],
}

impl<'a> TensorIn<'a> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The element type.
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }
    /// The elements as a typed slice (the dtype must match `T`).
    pub fn typed<T: StorageElement>(&self) -> &'a [T] {
        let all = T::slice(self.data).expect("TensorIn::typed: dtype checked by the op");
        &all[self.offset..self.offset + self.len()]
    }
    /// A contiguous copy of the elements.
    pub fn to_storage(&self) -> CpuStorage {
        self.data.slice_copy(self.offset, self.len())
    }
    /// The elements as a storage, borrowed when the input is the whole chunk.
    pub fn storage(&self) -> std::borrow::Cow<'a, CpuStorage> {
        if self.offset == 0 && self.len() == self.data.len() {
            std::borrow::Cow::Borrowed(self.data)
        } else {
            std::borrow::Cow::Owned(self.to_storage())
        }
    }
}

/// An input of [`Operator::forward_update`]: read, or overwritten in place.
#[derive(Debug)]
pub enum Slot<'a> {
    /// An input the op only reads.
    Read(TensorIn<'a>),
    /// An input the op overwrites with one of its results: the array's whole storage.
    Write(&'a mut CpuStorage),
}

/// What an op's compute function may use besides its inputs.
pub struct OpCtx<'a> {
    /// The context the op runs on.
    pub ctx: Context,
    /// The random generator of `ctx`, for ops that declare [`Operator::uses_rng`].
    pub rng: Option<&'a mut rng::Rng>,
    /// True in training (Dropout drops, BatchNorm uses batch statistics and updates its
    /// moving averages); false for inference.
    pub is_train: bool,
    /// The threads the op's kernels may split their work over.
    pub par: Parallelism,
}

impl fmt::Debug for OpCtx<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpCtx")
            .field("ctx", &self.ctx)
            .field("is_train", &self.is_train)
            .field("par", &self.par)
            .finish()
    }
}

/// An op instance with parsed parameters.
pub trait Operator: Send + Sync + fmt::Debug {
    /// Number of outputs.
    fn num_outputs(&self) -> usize {
        1
    }
    /// Output shapes from input shapes.
    fn infer_shape(&self, inputs: &[Shape]) -> Result<Vec<Shape>>;
    /// Output dtypes from input dtypes. Default: all inputs share one dtype, which every output
    /// has.
    fn infer_dtype(&self, inputs: &[DType]) -> Result<Vec<DType>> {
        same_dtype(self.name(), inputs).map(|d| vec![d; self.num_outputs()])
    }
    /// Compute the outputs.
    fn forward(
        &self,
        ctx: &mut OpCtx<'_>,
        inputs: &[TensorIn<'_>],
        out_shapes: &[Shape],
        out_dtypes: &[DType],
    ) -> Result<Vec<CpuStorage>>;
    /// The only output of an [`Operator::elementwise`] op, input 0's shape and dtype, as
    /// [`Operator::forward`] computes it, without its lists: the imperative call's short way
    /// runs it for tiny arrays, where two allocations are a fair part of the call. `None`
    /// (the default): no such kernel, and `forward` runs.
    fn forward_elementwise(&self, _ctx: &mut OpCtx<'_>, _inputs: &[TensorIn<'_>]) -> Option<Result<CpuStorage>> {
        None
    }
    /// Compute the op's only output in place, over input 0's storage. [`crate::invoke()`] offers
    /// this when the output is the whole of input 0's array and has its shape and dtype
    /// (`x += 1`, `x *= y`): `data` holds input 0 and receives the result, `rest` are the other
    /// inputs, none of which shares `data`. Return `Ok(false)`, leaving `data` untouched, when
    /// there is no in-place kernel for these inputs; `forward` then runs instead. Working in
    /// place needs no second buffer, so a chain of updates of a 16 MB array stays in the cache.
    fn forward_inplace(&self, _ctx: &mut OpCtx<'_>, _data: &mut CpuStorage, _rest: &[TensorIn<'_>]) -> Result<bool> {
        Ok(false)
    }
    /// Whether the op has a [`Operator::forward_update`] kernel.
    fn updates_in_place(&self) -> bool {
        false
    }
    /// Compute every result in place, over the inputs the results replace. [`crate::invoke()`]
    /// offers this (to ops whose [`Operator::updates_in_place`] is true) when each output (the
    /// `out=` arrays, then the mutated inputs) is the whole array of one input, with its shape
    /// and dtype, and no other input shares that memory: those inputs are [`Slot::Write`], the
    /// others [`Slot::Read`]. Return `Ok(false)`, leaving every slot untouched, when there is no
    /// such kernel for these inputs; `forward` then runs. An optimizer step then updates its
    /// weights and states without a second buffer for each.
    fn forward_update(&self, _ctx: &mut OpCtx<'_>, _inputs: &mut [Slot<'_>]) -> Result<bool> {
        Ok(false)
    }
    /// Compute the outputs from inputs in device memory, with the backend's primitives
    /// ([`crate::backend::device`]). `Ok(None)`, the default, means the op has no device kernel
    /// for these inputs: it then runs [`Operator::forward`] over host copies of them, and its
    /// results are copied back (correct everywhere, fast only where a kernel exists). The same
    /// contract as `forward`: outputs, then the new values of mutated inputs.
    fn forward_device(
        &self,
        _ctx: &mut OpCtx<'_>,
        _inputs: &[DevIn<'_>],
        _out_shapes: &[Shape],
        _out_dtypes: &[DType],
    ) -> Result<Option<Vec<DeviceStorage>>> {
        Ok(None)
    }
    /// True when the op draws random numbers (it then also writes its context's generator).
    fn uses_rng(&self) -> bool {
        false
    }
    /// Whether `forward` only computes its results from its inputs and attributes: no effect
    /// outside them, no call back into the engine, so that it may run while its inputs' engine
    /// variables are held, and run again after it failed. True for every built-in op; false
    /// for custom ops, which run the user's Python code.
    fn pure_forward(&self) -> bool {
        true
    }
    /// The op's work on inputs of these shapes, in elements of an elementwise op, when it is
    /// not about the elements it touches (a matrix product does `m n k` multiply-adds on
    /// `m k + k n + m n` elements). The imperative call runs light work on the calling thread
    /// when the inputs are ready ([`crate::ndarray::LIGHT_OP_ELEMENTS`]). `None`: the elements.
    fn work_elements(&self, _inputs: &[Shape]) -> Option<usize> {
        None
    }
    /// Whether the op on inputs of these shapes is one short pass over its elements (an
    /// elementwise loop of an instruction or two an element: `relu`, `x + y`, `clip`, `where`;
    /// softmax rows), whose kernel splits mid-sized inputs over the calling thread and the
    /// team's helpers ([`crate::backend::cpu::Parallelism::split_cheap_mode`]). The imperative
    /// call runs such an op on the calling thread up to 2^21 elements in all (inputs and output) while
    /// that thread waits for each op it pushes ([`crate::ndarray::waits_each_op`]). A matrix
    /// product whose kernel splits over its own threads says yes up to a size it chooses
    /// (`dot`: about 322^3).
    fn inline_when_waited(&self, _inputs: &[Shape]) -> bool {
        false
    }
    /// Whether the op maps equal-shaped inputs element by element: one output, with input 0's
    /// shape and dtype whenever every input has them, computed by `forward` from the inputs
    /// and the op's attributes (no random numbers, no mutated inputs). The imperative call then runs it on small
    /// ready host arrays without inference or an engine claim (`invoke`'s short way).
    fn elementwise(&self) -> bool {
        false
    }
    /// The registered name, for messages.
    fn name(&self) -> &str;

    /// Outputs a caller sees (`mx.nd.X(...)` returns these, a Symbol lists these); the rest are
    /// kept for the gradient (Dropout's mask, BatchNorm's batch mean and variance).
    fn num_visible_outputs(&self) -> usize {
        self.num_outputs()
    }
    /// Output names, as MXNet's `list_outputs` suffixes (`fc1_output`, `bn_mean`, `split_output1`).
    fn output_names(&self) -> Vec<String> {
        match self.num_outputs() {
            1 => vec!["output".to_string()],
            n => (0..n).map(|i| format!("output{i}")).collect(),
        }
    }
    /// Input names of this instance when they depend on the attributes (FullyConnected with
    /// `no_bias` has no `bias`; `Concat` has `num_args` of them). `None`: the op's registered
    /// `inputs`. Auxiliary states come last.
    fn input_names(&self) -> Option<Vec<String>> {
        None
    }
    /// This op restricted to the outputs flagged in `keep` (one flag per output), computing
    /// only those and returning them in order. Executors use it to skip gradients nobody reads
    /// (the data gradient of a network's first layer). `None`, the default: the op always
    /// computes every output.
    fn keep_outputs(&self, keep: &[bool]) -> Option<Box<dyn Operator>> {
        let _ = keep;
        None
    }
    /// How many of the last inputs are auxiliary states (BatchNorm's `moving_mean` and
    /// `moving_var`): state the op updates itself, never given a gradient.
    fn num_aux(&self) -> usize {
        0
    }
    /// Attributes this instance adds to the node's parameters when its gradient is built (a
    /// Python `Custom` op names its prop, so that its backward op uses the same one). Default:
    /// none.
    fn gradient_attrs(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    /// Inputs the op updates in place (aux states, an optimizer's momentum). `forward` returns
    /// their new values after the outputs, in this order; the engine orders the op as a writer
    /// of those arrays.
    fn mutate_inputs(&self) -> Vec<usize> {
        Vec::new()
    }
    /// Shape inference over partly known shapes, for Symbol graphs: fill what can be deduced
    /// (a weight's shape from the data's and `num_hidden`, an input's shape from its partner's)
    /// and check what is known. Unknown shapes are `None`. The default runs
    /// [`Operator::infer_shape`] once every input is known.
    fn infer_shape_partial(&self, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
        let Some(known) = inputs.iter().cloned().collect::<Option<Vec<Shape>>>() else { return Ok(()) };
        let inferred = self.infer_shape(&known)?;
        assign_shapes(self.name(), outputs, &inferred)
    }
    /// Dtype inference over partly known dtypes. The default: every input and output shares
    /// one dtype (the first known one), as most ops require.
    fn infer_dtype_partial(&self, inputs: &mut [Option<DType>], outputs: &mut [Option<DType>]) -> Result<()> {
        if let Some(known) = inputs.iter().cloned().collect::<Option<Vec<DType>>>() {
            let inferred = self.infer_dtype(&known)?;
            for (o, d) in outputs.iter_mut().zip(inferred) {
                match o {
                    Some(x) if *x != d => {
                        return Err(Error::dtype(
                            self.name(),
                            d,
                            format!("output dtype {x} conflicts with inferred {d}"),
                        ));
                    }
                    _ => *o = Some(d),
                }
            }
            return Ok(());
        }
        let first = inputs.iter().chain(outputs.iter()).flatten().next().copied();
        if let Some(d) = first {
            for x in inputs.iter_mut().chain(outputs.iter_mut()) {
                match x {
                    Some(o) if *o != d => {
                        return Err(Error::dtype(
                            self.name(),
                            *o,
                            format!("all inputs must have the same dtype, got {d} and {o}"),
                        ));
                    }
                    _ => *x = Some(d),
                }
            }
        }
        Ok(())
    }
}

/// Which of a fused backward op's (data, weight, bias) gradients it computes: the state
/// behind [`Operator::keep_outputs`] for `_backward_FullyConnected` and the convolutions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Kept(pub(crate) [bool; 3]);

impl Kept {
    /// Every gradient (the bias's only when there is a bias).
    pub(crate) fn all(bias: bool) -> Kept {
        Kept([true, true, bias])
    }
    /// Number of outputs computed.
    pub(crate) fn count(self) -> usize {
        self.0.iter().filter(|&&k| k).count()
    }
    /// Narrowed to the current outputs flagged in `keep` (one flag per current output).
    pub(crate) fn narrow(self, keep: &[bool]) -> Option<Kept> {
        if keep.len() != self.count() {
            return None;
        }
        let mut flags = keep.iter();
        let mut next = self;
        for k in next.0.iter_mut().filter(|k| **k) {
            *k = *flags.next()?;
        }
        Some(next)
    }
    /// The entries of `all` (data, weight, bias) that are computed, in order.
    pub(crate) fn select<T>(self, all: [T; 3]) -> Vec<T> {
        all.into_iter().zip(self.0).filter(|(_, k)| *k).map(|(x, _)| x).collect()
    }
}

/// Store inferred output shapes, checking them against shapes already known.
pub fn assign_shapes(op: &str, slots: &mut [Option<Shape>], inferred: &[Shape]) -> Result<()> {
    for (i, (slot, s)) in slots.iter_mut().zip(inferred).enumerate() {
        match slot {
            Some(known) if known != s => {
                return Err(Error::shape(
                    op,
                    format!(
                        "output {i}: inferred shape {} conflicts with known shape {}",
                        crate::shape::fmt_shape(s),
                        crate::shape::fmt_shape(known)
                    ),
                ));
            }
            _ => *slot = Some(s.clone()),
        }
    }
    Ok(())
}

/// Partial shape inference of a creation op (`_zeros`, `_random_uniform`, ...) whose declared
/// `shape` may hold 0s: as in MXNet 1.x symbols, a 0 is an unknown dimension that the graph
/// fills (an RNN cell's `begin_state` of shape `(0, num_hidden)` takes the batch size from the
/// op that consumes it). A fully declared shape is assigned; a partial one leaves the output
/// unknown until a consumer supplies it, which must agree on every declared dimension.
pub fn assign_declared_shape(op: &str, outputs: &mut [Option<Shape>], declared: &Shape) -> Result<()> {
    if !declared.contains(&0) {
        return assign_shapes(op, outputs, std::slice::from_ref(declared));
    }
    match outputs.first() {
        Some(Some(known)) if !crate::shape::matches_partial(declared, known) => Err(Error::shape(
            op,
            format!(
                "the declared shape {} (0 = unknown) conflicts with the shape {} its consumers need",
                crate::shape::fmt_shape(declared),
                crate::shape::fmt_shape(known)
            ),
        )),
        _ => Ok(()),
    }
}

/// Partial shape inference of ops whose inputs and outputs all share one shape (elementwise
/// ops): whichever shape is known is given to every other slot; conflicts are errors.
pub fn same_shape_partial(op: &str, inputs: &mut [Option<Shape>], outputs: &mut [Option<Shape>]) -> Result<()> {
    let Some(s) = inputs.iter().chain(outputs.iter()).flatten().next().cloned() else { return Ok(()) };
    for slot in inputs.iter_mut().chain(outputs.iter_mut()) {
        match slot {
            Some(k) if *k != s => {
                return Err(Error::shape(
                    op,
                    format!("shapes {} and {} must be equal", crate::shape::fmt_shape(&s), crate::shape::fmt_shape(k)),
                ));
            }
            _ => *slot = Some(s.clone()),
        }
    }
    Ok(())
}

/// All inputs must share one dtype; returns it (float32 for no inputs).
pub fn same_dtype(op: &str, inputs: &[DType]) -> Result<DType> {
    let Some(&first) = inputs.first() else { return Ok(DType::F32) };
    if let Some(&other) = inputs.iter().find(|&&d| d != first) {
        return Err(Error::dtype(op, other, format!("all inputs must have the same dtype, got {first} and {other}")));
    }
    Ok(first)
}

/// Shape inference of one-input ops whose output has the input's shape.
pub fn same_shape_unary(op: &str, inputs: &[Shape]) -> Result<Vec<Shape>> {
    expect_inputs(op, inputs.len(), 1)?;
    Ok(vec![inputs[0].clone()])
}

/// Check the number of inputs.
pub fn expect_inputs(op: &str, got: usize, want: usize) -> Result<()> {
    if got != want {
        return Err(Error::param(op, format!("expects {want} input(s), got {got}")));
    }
    Ok(())
}

/// Identifies one output of a graph node while building a gradient (an index the builder
/// gives out).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodeEntry(pub usize);

/// Builds gradient graphs from registered ops: the Symbol executor adds graph nodes,
/// [`crate::eager_grad::EagerGrad`] runs each op at once. Gradient functions add ops through the
/// methods of `dyn GradBuilder` (`apply`, `unary`, `binary`, `scalar_op`...).
pub trait GradBuilder {
    /// Add a node applying the registered op `name` to `inputs`; returns its outputs.
    fn op(&mut self, name: &str, inputs: &[NodeEntry], attrs: Attrs) -> Result<Vec<NodeEntry>>;
}

/// A gradient function: given the forward node's attributes, inputs, outputs and the gradients
/// of its outputs, return one gradient per input (`None` where the input gets none).
pub type GradFn = fn(
    b: &mut dyn GradBuilder,
    attrs: &Attrs,
    inputs: &[NodeEntry],
    outputs: &[NodeEntry],
    out_grads: &[NodeEntry],
) -> Result<Vec<Option<NodeEntry>>>;

/// How an op parses its attributes into an [`Operator`].
pub type CreateFn = Arc<dyn Fn(&Attrs) -> Result<Box<dyn Operator>> + Send + Sync>;

/// One parameter of an op, for generated Python wrappers and docs.
#[derive(Clone, Copy, Debug)]
pub struct ParamSpec {
    /// Parameter name.
    pub name: &'static str,
    /// Default as MXNet prints it; `None` for a required parameter.
    pub default: Option<&'static str>,
}

/// A registered op.
#[derive(Clone)]
pub struct OpDef {
    /// Canonical name (MXNet's).
    pub name: &'static str,
    /// Names of the array inputs; a single `"*data"` means any number (`num_args`).
    pub inputs: &'static [&'static str],
    /// Parameters in MXNet's order.
    pub params: &'static [ParamSpec],
    /// One-line description.
    pub doc: &'static str,
    /// Parse attributes.
    pub create: CreateFn,
    /// The gradient, defined beside the op as a composition of registered ops.
    pub gradient: Option<GradFn>,
}

impl fmt::Debug for OpDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpDef").field("name", &self.name).field("inputs", &self.inputs).finish()
    }
}

/// Shorthand for building [`ParamSpec`] lists.
#[macro_export]
macro_rules! params {
    ($($name:literal = $def:expr),* $(,)?) => {
        &[$($crate::op::ParamSpec { name: $name, default: $def }),*]
    };
}
