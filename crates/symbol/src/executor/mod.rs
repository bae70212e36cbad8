//! The executor: a bound graph with its forward and backward schedules and a memory plan.
//!
//! [`Executor::bind`] works in stages, each in its own module:
//!
//! 1. checks and inference (here): the given arrays against the symbol's inputs, then every
//!    entry's shape and dtype from the arguments';
//! 2. [`schedule`]: the forward schedule, one [`Step`](types::Step) per op node over value
//!    ids (the graph's entries);
//! 3. [`gradient`]: the backward schedule built from each op's registered gradient (steps made
//!    of registered ops over new value ids), wired into the argument gradient arrays by their
//!    [`GradReq`], with unread work pruned;
//! 4. [`memory_plan`]: which buffer holds each intermediate value over the forward then the
//!    backward schedule, reusing a buffer once its value is dead (its invariants and their
//!    tests are in that module); arguments, aux states, outputs, head gradients and argument
//!    gradients keep their own arrays.
//!
//! The types the stages share (`GradReq`, `Step`) live in `types`, below every stage; the tests'
//! symbols and the stages run without arrays (`testing`, `program`) are test-only modules.
//!
//! Forward and backward push every step onto the engine and return at once.

mod gradient;
mod memory_plan;
#[cfg(test)]
mod program;
mod schedule;
#[cfg(test)]
mod testing;
mod types;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use mxrs_ndarray_core::dtype::DType;
use mxrs_ndarray_core::invoke::invoke_op_full;
use mxrs_ndarray_core::shape::{Shape, checked_bytes, fmt_shape};
use mxrs_ndarray_core::{Context, CpuStorage, Error, NDArray, Result};

use crate::graph::Symbol;
use crate::infer::{IndexedGraph, infer_dtypes, infer_shapes};
use gradient::GradArray;
use memory_plan::{MemoryPlan, Place, schedule_io, value_sizes};
use types::Step;

pub use types::GradReq;

/// What a caller gives to [`Executor::bind`].
#[derive(Debug, Default)]
pub struct BindArgs {
    /// One array per argument, in `list_arguments` order.
    pub args: Vec<NDArray>,
    /// One optional gradient array per argument.
    pub grads: Vec<Option<NDArray>>,
    /// One request per argument.
    pub reqs: Vec<GradReq>,
    /// One array per aux state.
    pub aux: Vec<NDArray>,
}

/// A bound symbol.
#[derive(Debug)]
pub struct Executor {
    ctx: Context,
    fwd: Vec<Step>,
    bwd: Vec<Step>,
    /// One array per value id: its own array or a view of a plan buffer (locked while a pass
    /// is pushed, as [`Executor::set_grad_array`] may swap an argument's gradient array).
    arrays: Mutex<Vec<NDArray>>,
    /// `(argument index, value id)` of each argument gradient array.
    arg_grads: Vec<(usize, usize)>,
    outputs: Vec<NDArray>,
    head_grads: Vec<NDArray>,
    arg_names: Vec<String>,
    has_backward: bool,
    num_buffers: usize,
    peak_bytes: usize,
    /// The mode of the last forward: backward kernels such as BatchNorm's depend on it.
    last_train: AtomicBool,
}

impl Executor {
    /// Bind `sym` on `ctx` to the given arrays. Shapes and dtypes are checked against
    /// inference from the argument arrays; the backward graph is built for arguments whose
    /// request is not `Null`.
    pub fn bind(sym: &Symbol, ctx: Context, b: BindArgs) -> Result<Executor> {
        let g = IndexedGraph::new(sym);
        let arg_names: Vec<String> = g.args.iter().map(|&i| g.nodes[i].name.clone()).collect();
        let aux_names: Vec<String> = g.aux.iter().map(|&i| g.nodes[i].name.clone()).collect();
        check_inputs(&arg_names, &aux_names, &b)?;
        let (mut shapes, mut dtypes) = infer_values(&g, &arg_names, &aux_names, &b)?;
        check_grad_shapes(&g, &arg_names, &b.grads, &shapes)?;

        let fwd = schedule::forward(&g);
        let grad_arrays: Vec<Option<GradArray>> = (b.grads.iter().zip(&b.reqs))
            .map(|(a, &req)| a.as_ref().map(|a| GradArray { req, shape: a.shape().to_vec(), dtype: a.dtype() }))
            .collect();
        let back = gradient::build(&g, &b.reqs, &grad_arrays, &mut shapes, &mut dtypes)?;

        // Arrays of their own: argument gradients, arguments, aux states, outputs, head gradients.
        let mut fixed: HashMap<usize, NDArray> = back
            .arg_grads
            .iter()
            .map(|&(k, v)| (v, b.grads[k].clone().expect("wired gradients have arrays")))
            .collect();
        for (names, nodes, arrays) in [(&arg_names, &g.args, &b.args), (&aux_names, &g.aux, &b.aux)] {
            for ((name, &n), a) in names.iter().zip(nodes).zip(arrays) {
                check_array(name, a, &shapes[g.entry(n, 0)], ctx)?;
                fixed.insert(g.entry(n, 0), a.clone());
            }
        }
        let mut outputs = Vec::new();
        for &(n, k) in &g.heads {
            let e = g.entry(n, k);
            let a = match fixed.entry(e) {
                Entry::Occupied(a) => a.get().clone(),
                Entry::Vacant(slot) => slot.insert(NDArray::zeros(&shapes[e], dtypes[e], ctx)?).clone(),
            };
            outputs.push(a);
        }
        let mut head_grads = Vec::new();
        for &v in &back.head_grads {
            let n = shapes[v].iter().product();
            let a = NDArray::from_cpu(CpuStorage::try_full("bind", dtypes[v], n, 1.0)?, &shapes[v], ctx)?;
            fixed.insert(v, a.clone());
            head_grads.push(a);
        }

        let plan = MemoryPlan::new(
            &schedule_io(&fwd, &back.steps),
            &value_sizes(&shapes, &dtypes),
            |v| fixed.contains_key(&v),
            fwd.len(),
        );
        let arrays = materialize(&plan, &fixed, &shapes, &dtypes, ctx)?;
        Ok(Executor {
            ctx,
            fwd,
            has_backward: !back.head_grads.is_empty(),
            arg_grads: back.arg_grads,
            bwd: back.steps,
            arrays: Mutex::new(arrays),
            outputs,
            head_grads,
            arg_names,
            num_buffers: plan.buffers().len(),
            peak_bytes: plan.peak_bytes(),
            last_train: AtomicBool::new(true),
        })
    }

    /// Run the forward schedule (asynchronously).
    pub fn forward(&self, is_train: bool) -> Result<()> {
        self.last_train.store(is_train, Ordering::Relaxed);
        self.run(&self.fwd, is_train)
    }

    /// Run the backward schedule with the current head gradients (ones unless set), in the
    /// mode of the last forward.
    pub fn backward(&self) -> Result<()> {
        if !self.has_backward {
            return Ok(());
        }
        self.run(&self.bwd, self.last_train.load(Ordering::Relaxed))
    }

    /// The arguments backward writes a gradient for, in binding order (those with a gradient
    /// array, a request other than null, and some gradient reaching them).
    pub fn grad_args(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self.arg_grads.iter().map(|&(k, _)| k).collect();
        v.sort_unstable();
        v
    }

    /// Make `a` the gradient array of argument `arg` from the next backward on (an array of
    /// the same shape, dtype and context as the one bound; the same array is left alone). Lets
    /// a caller have backward write a gradient straight into a buffer of its own.
    pub fn set_grad_array(&self, arg: usize, a: &NDArray) -> Result<()> {
        let Some(&(_, v)) = self.arg_grads.iter().find(|&&(k, _)| k == arg) else {
            let name = self.arg_names.get(arg).map_or("?", String::as_str);
            return Err(Error::param(
                "set_grad_array",
                format!(
                    "argument {arg} ('{name}') has no gradient array (its grad_req is null or it gets no gradient)"
                ),
            ));
        };
        let mut arrays = self.arrays.lock().unwrap_or_else(|e| e.into_inner());
        let cur = &arrays[v];
        if cur.same_view(a) {
            return Ok(());
        }
        if a.dtype() != cur.dtype() {
            return Err(Error::param(
                "set_grad_array",
                format!(
                    "gradient array of '{}' must be {}, got {}",
                    self.arg_names[arg],
                    cur.dtype().name(),
                    a.dtype().name()
                ),
            ));
        }
        check_array(&self.arg_names[arg], a, cur.shape(), self.ctx)?;
        arrays[v] = a.clone();
        Ok(())
    }

    fn run(&self, steps: &[Step], is_train: bool) -> Result<()> {
        let arrays = self.arrays.lock().unwrap_or_else(|e| e.into_inner());
        for st in steps {
            let ins: Vec<NDArray> = st.inputs.iter().map(|&v| arrays[v].clone()).collect();
            let outs: Vec<NDArray> = st.outputs.iter().map(|&v| arrays[v].clone()).collect();
            invoke_op_full(st.op.clone(), &ins, Some(&outs), Some(self.ctx), is_train)?;
        }
        Ok(())
    }

    /// The output arrays (the same arrays after every forward).
    pub fn outputs(&self) -> &[NDArray] {
        &self.outputs
    }
    /// The head-gradient arrays `backward` reads (filled with ones at bind).
    pub fn head_grads(&self) -> &[NDArray] {
        &self.head_grads
    }
    /// Argument names in binding order.
    pub fn arg_names(&self) -> &[String] {
        &self.arg_names
    }
    /// Number of forward and backward steps.
    pub fn num_steps(&self) -> (usize, usize) {
        (self.fwd.len(), self.bwd.len())
    }
    /// Number of intermediate buffers the memory plan uses.
    pub fn num_buffers(&self) -> usize {
        self.num_buffers
    }
    /// Bytes of the memory plan's intermediate buffers, held once written (the arrays of
    /// arguments, aux states, outputs and gradients not counted).
    pub fn peak_bytes(&self) -> usize {
        self.peak_bytes
    }
    /// A readable listing of the schedules (for debugging and `debug_str`).
    pub fn debug_plan(&self) -> String {
        let mut s = String::new();
        for (name, steps) in [("forward", &self.fwd), ("backward", &self.bwd)] {
            s.push_str(name);
            s.push_str(":\n");
            for st in steps.iter() {
                s.push_str(&format!("  {st:?}\n"));
            }
        }
        s
    }
}

/// Check the numbers of arrays and requests, and that no two inputs share a name.
fn check_inputs(arg_names: &[String], aux_names: &[String], b: &BindArgs) -> Result<()> {
    check_count("arguments", arg_names, b.args.len())?;
    check_count("auxiliary states", aux_names, b.aux.len())?;
    if b.grads.len() != b.args.len() || b.reqs.len() != b.args.len() {
        return Err(Error::param("bind", "one gradient array and one grad_req per argument are needed"));
    }
    let mut seen = std::collections::HashSet::new();
    for n in arg_names.iter().chain(aux_names) {
        if !seen.insert(n.as_str()) {
            return Err(Error::param("bind", format!("two different inputs are both named '{n}'")));
        }
    }
    Ok(())
}

/// The shape and dtype of every graph entry, inferred from the argument and aux arrays (a dtype
/// nothing determines is float32). Every shape must be known.
fn infer_values(
    g: &IndexedGraph,
    arg_names: &[String],
    aux_names: &[String],
    b: &BindArgs,
) -> Result<(Vec<Shape>, Vec<DType>)> {
    let inputs = || arg_names.iter().zip(&b.args).chain(aux_names.iter().zip(&b.aux));
    let known: Vec<(String, Shape)> = inputs().map(|(n, a)| (n.clone(), a.shape().to_vec())).collect();
    let shapes = infer_shapes(g, &known)?;
    let known_t: Vec<(String, DType)> = inputs().map(|(n, a)| (n.clone(), a.dtype())).collect();
    let dtypes = infer_dtypes(g, &known_t)?;
    let mut vshapes: Vec<Shape> = Vec::with_capacity(shapes.len());
    for (i, s) in shapes.into_iter().enumerate() {
        let Some(s) = s else {
            let node = g.row_ptr.partition_point(|&r| r <= i) - 1;
            return Err(Error::shape(
                "bind",
                format!("cannot infer the shape of output {} of node {}", i - g.row_ptr[node], g.nodes[node].name),
            ));
        };
        vshapes.push(s);
    }
    let vtypes: Vec<DType> = dtypes.iter().map(|d| d.unwrap_or(DType::F32)).collect();
    // Every value gets memory at bind: sizes that overflow are shape errors here, before the
    // plan adds them up.
    for (s, &d) in vshapes.iter().zip(&vtypes) {
        checked_bytes("bind", s, d)?;
    }
    Ok((vshapes, vtypes))
}

/// Each gradient array must have its argument's shape.
fn check_grad_shapes(
    g: &IndexedGraph,
    arg_names: &[String],
    grads: &[Option<NDArray>],
    shapes: &[Shape],
) -> Result<()> {
    for (k, a) in grads.iter().enumerate() {
        if let Some(a) = a {
            let want = &shapes[g.entry(g.args[k], 0)];
            if a.shape() != want.as_slice() {
                return Err(Error::shape(
                    "bind",
                    format!(
                        "gradient array of '{}' has shape {} but the argument has shape {}",
                        arg_names[k],
                        fmt_shape(a.shape()),
                        fmt_shape(want)
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// One array per value: the fixed arrays, views of the plan's buffers, and arrays for values
/// no step writes. Buffers get their memory from the first step writing them (whole, so the
/// kernel's output becomes the buffer); unwritten values never get any.
fn materialize(
    plan: &MemoryPlan,
    fixed: &HashMap<usize, NDArray>,
    shapes: &[Shape],
    dtypes: &[DType],
    ctx: Context,
) -> Result<Vec<NDArray>> {
    let buffers: Vec<NDArray> =
        plan.buffers().iter().map(|b| NDArray::new_pending(&[b.len], b.dtype, ctx)).collect::<Result<_>>()?;
    (0..shapes.len())
        .map(|v| match plan.place(v) {
            Place::Fixed => Ok(fixed[&v].clone()),
            Place::Buffer(b) => buffers[b].reshape_view(&shapes[v]),
            Place::Unplanned => NDArray::new_pending(&shapes[v], dtypes[v], ctx),
        })
        .collect()
}

fn check_count(what: &str, names: &[String], got: usize) -> Result<()> {
    if names.len() != got {
        return Err(Error::param("bind", format!("expects {} {what} ({}), got {got}", names.len(), names.join(", "))));
    }
    Ok(())
}

fn check_array(name: &str, a: &NDArray, want: &[usize], ctx: Context) -> Result<()> {
    if a.shape() != want {
        return Err(Error::shape(
            "bind",
            format!("array for '{name}' has shape {} but the graph needs {}", fmt_shape(a.shape()), fmt_shape(want)),
        ));
    }
    if a.ctx() != ctx && !(a.ctx().is_host() && ctx.is_host()) {
        return Err(Error::Context(format!("bind: array for '{name}' is on {} but the executor on {ctx}", a.ctx())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use mxrs_ndarray_core::CpuStorage;

    use super::testing::{op, var};
    use super::*;

    fn arr(v: f64, shape: &[usize]) -> NDArray {
        let n = shape.iter().product();
        NDArray::from_cpu(CpuStorage::F32(vec![v as f32; n].into()), shape, Context::cpu(0)).unwrap()
    }

    fn bind(sym: &Symbol, args: Vec<NDArray>, grads: Vec<Option<NDArray>>, req: GradReq) -> Result<Executor> {
        let reqs = vec![req; args.len()];
        Executor::bind(sym, Context::cpu(0), BindArgs { args, grads, reqs, aux: vec![] })
    }

    #[test]
    fn bind_checks_its_arrays() {
        let y = op("elemwise_mul", "m", &[var("a"), var("b")]);
        let e = bind(&y, vec![arr(1.0, &[2])], vec![None], GradReq::Null).unwrap_err();
        assert!(e.to_string().contains("expects 2 arguments (a, b), got 1"), "{e}");
        let e = bind(&y, vec![arr(1.0, &[2]), arr(1.0, &[2])], vec![None], GradReq::Null).unwrap_err();
        assert!(e.to_string().contains("one gradient array and one grad_req per argument"), "{e}");
        let e = bind(&y, vec![arr(1.0, &[2]), arr(1.0, &[3])], vec![None, None], GradReq::Null).unwrap_err();
        assert!(e.to_string().contains("Error in operator m"), "{e}");
        let grads = vec![Some(arr(0.0, &[3])), None];
        let e = bind(&y, vec![arr(1.0, &[2]), arr(1.0, &[2])], grads, GradReq::Write).unwrap_err();
        assert!(e.to_string().contains("gradient array of 'a' has shape (3)"), "{e}");
        let twice = op("elemwise_add", "d", &[var("a"), var("a")]);
        let e = bind(&twice, vec![arr(1.0, &[2]), arr(1.0, &[2])], vec![None, None], GradReq::Null).unwrap_err();
        assert!(e.to_string().contains("both named 'a'"), "{e}");
        assert!(GradReq::parse("sometimes").is_err());
        assert_eq!(GradReq::parse("inplace").unwrap(), GradReq::Write);
    }

    #[test]
    fn bind_reports_the_plan() {
        // exp(exp(x)): the inner value is the only intermediate, in one buffer of 6 float32.
        let y = op("exp", "e1", &[op("exp", "e0", &[var("x")])]);
        let exe = bind(&y, vec![arr(0.0, &[2, 3])], vec![None], GradReq::Null).unwrap();
        assert_eq!((exe.num_steps(), exe.num_buffers(), exe.peak_bytes()), ((2, 0), 1, 24));
        exe.forward(false).unwrap();
        let e = std::f64::consts::E;
        assert!((exe.outputs()[0].to_cpu_storage().unwrap().get_f64(5) - e).abs() < 1e-6);
        // With the gradient: dx = exp(exp(x)) * exp(x), written straight into the array.
        let dx = arr(7.0, &[2, 3]);
        let exe = bind(&y, vec![arr(0.0, &[2, 3])], vec![Some(dx.clone())], GradReq::Write).unwrap();
        assert!(exe.num_steps().1 > 0 && exe.peak_bytes() >= 24);
        assert!(!exe.debug_plan().contains("_copy"), "{}", exe.debug_plan());
        exe.forward(true).unwrap();
        exe.backward().unwrap();
        assert!((dx.to_cpu_storage().unwrap().get_f64(0) - e).abs() < 1e-6);
    }

    #[test]
    fn forward_only_binds_have_no_backward() {
        let y = op("exp", "e", &[var("x")]);
        let exe = bind(&y, vec![arr(0.0, &[4])], vec![Some(arr(3.0, &[4]))], GradReq::Null).unwrap();
        assert!(exe.head_grads().is_empty());
        assert_eq!(exe.num_steps(), (1, 0));
        exe.forward(true).unwrap();
        exe.backward().unwrap();
        assert_eq!(exe.arg_names(), ["x"]);
    }
}
