//! The gradient side of the op layer: the builder API gradient functions compose forward ops
//! with, and the shape and dtype inference shared by gradient ops.

use super::{Attrs, GradBuilder, NodeEntry, Operator};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::Shape;

/// The result of a gradient function: one gradient per input, `None` where it gets none.
pub(crate) type Grads = Result<Vec<Option<NodeEntry>>>;

/// The one builder API of gradient functions: every gradient is a composition of registered
/// ops, each added through [`GradBuilder::op`] by one of these methods.
impl dyn GradBuilder + '_ {
    /// Add op `name` on `inputs` with `attrs`; returns its first output.
    pub fn apply(&mut self, name: &str, inputs: &[NodeEntry], attrs: Attrs) -> Result<NodeEntry> {
        Ok(self.op(name, inputs, attrs)?[0])
    }

    /// Add a one-input op without attributes (`exp`, `zeros_like`...).
    pub fn unary(&mut self, name: &str, x: NodeEntry) -> Result<NodeEntry> {
        self.apply(name, &[x], Attrs::default())
    }

    /// Add a two-input op without attributes (`broadcast_mul`, `_reduce_sum_like`...).
    pub fn binary(&mut self, name: &str, x: NodeEntry, y: NodeEntry) -> Result<NodeEntry> {
        self.apply(name, &[x, y], Attrs::default())
    }

    /// `x * y` (same shapes).
    pub fn mul(&mut self, x: NodeEntry, y: NodeEntry) -> Result<NodeEntry> {
        self.binary("elemwise_mul", x, y)
    }

    /// `x / y` (same shapes).
    pub fn div(&mut self, x: NodeEntry, y: NodeEntry) -> Result<NodeEntry> {
        self.binary("elemwise_div", x, y)
    }

    /// A scalar op (`_mul_scalar`, `_rminus_scalar`...) with `scalar = s`.
    pub fn scalar_op(&mut self, name: &str, x: NodeEntry, s: f64) -> Result<NodeEntry> {
        self.apply(name, &[x], Attrs::from_pairs([("scalar", format!("{s:?}"))]))
    }

    /// Zero gradients (`zeros_like` of each input), as MXNet gives comparison and rounding ops.
    pub fn zeros_like_each(&mut self, inputs: &[NodeEntry]) -> Result<Vec<Option<NodeEntry>>> {
        inputs.iter().map(|&x| self.unary("zeros_like", x).map(Some)).collect()
    }
}

/// The attributes of `a` whose keys are in `keys` (those a gradient op shares with its
/// forward op).
pub(crate) fn pick_attrs(a: &Attrs, keys: &[&str]) -> Attrs {
    Attrs(a.0.iter().filter(|(k, _)| keys.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// Dtype inference of ops whose single output has the dtype of input `src` and whose other
/// inputs may have any dtype (integer indices).
pub(crate) fn dtype_of_input(
    op: &str,
    src: usize,
    inputs: &mut [Option<DType>],
    outputs: &mut [Option<DType>],
) -> Result<()> {
    match (inputs[src], outputs[0]) {
        (Some(a), Some(b)) if a != b => {
            Err(Error::dtype(op, b, format!("output dtype {b} conflicts with the input's {a}")))
        }
        (Some(a), _) => {
            outputs[0] = Some(a);
            Ok(())
        }
        (None, Some(b)) => {
            inputs[src] = Some(b);
            Ok(())
        }
        (None, None) => Ok(()),
    }
}

/// Deterministic pseudo-random values in [-1, 1) (a small LCG), for test data.
pub fn test_values(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect()
}

/// Partial shape inference of gradient ops whose output `k` has the shape of input `srcs[k]`
/// (`_backward_dot(ograd, a, b)` gives a's and b's shapes): each output is known as soon as its
/// source input is; once every input is known the op's full check runs.
pub(crate) fn shapes_of_inputs(
    op: &dyn Operator,
    srcs: &[usize],
    inputs: &mut [Option<Shape>],
    outputs: &mut [Option<Shape>],
) -> Result<()> {
    if let Some(known) = inputs.iter().cloned().collect::<Option<Vec<Shape>>>() {
        let inferred = op.infer_shape(&known)?;
        return super::assign_shapes(op.name(), outputs, &inferred);
    }
    for (k, &src) in srcs.iter().enumerate() {
        if let (Some(s), Some(slot)) = (inputs.get(src).cloned().flatten(), outputs.get_mut(k)) {
            super::assign_shapes(op.name(), std::slice::from_mut(slot), &[s])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::op::{Attrs, registry};

    /// Gradient ops give their outputs the shapes of the inputs they mirror before the output
    /// gradient's shape is known (Symbol shape inference of backward graphs).
    #[test]
    fn gradient_ops_infer_shapes_from_partial_inputs() {
        type Case = (&'static str, &'static [(&'static str, &'static str)], usize);
        let cases: &[Case] = &[
            ("_reduce_sum_like", &[], 2),
            ("_backward_take", &[], 3),
            ("_backward_dot", &[], 3),
            ("_backward_Concat", &[("num_args", "2"), ("dim", "0")], 3),
        ];
        for &(name, attrs, n_in) in cases {
            let op = (registry().get(name).unwrap().create)(&Attrs::from_pairs(attrs.iter().copied())).unwrap();
            let mut ins: Vec<Option<Vec<usize>>> = (0..n_in).map(|i| Some(vec![2 + i, 3])).collect();
            ins[0] = None;
            let mut outs = vec![None; op.num_outputs()];
            op.infer_shape_partial(&mut ins, &mut outs).unwrap();
            let src = if name == "_backward_take" { 2 } else { 1 };
            assert_eq!(outs[0], ins[src], "{name}");
            if name != "_reduce_sum_like" && outs.len() > 1 {
                assert_eq!(outs[1], ins[2], "{name}");
            }
        }
    }
}
