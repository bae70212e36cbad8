//! # mxrs-symbol
//!
//! Symbol graphs for mxrs: building them from registered ops with MXNet's naming rules,
//! listing and composing them, shape and dtype inference, MXNet's JSON format, the backward
//! graph built from each op's registered gradient, and the [`Executor`] that runs forward and
//! backward through the dependency engine with a memory plan.
//!
//! ```
//! use mxrs_ndarray_core::{Attrs, Context, DType, NDArray};
//! use mxrs_symbol::{BindArgs, Executor, GradReq, Symbol};
//!
//! let a = Symbol::variable("a", Attrs::default());
//! let b = Symbol::variable("b", Attrs::default());
//! let y = Symbol::create("elemwise_mul", "prod", Attrs::default(), &[a, b], &[]).unwrap();
//! let ctx = Context::cpu(0);
//! let arg = |v: f64| NDArray::from_cpu(mxrs_ndarray_core::CpuStorage::full(DType::F32, 3, v), &[3], ctx).unwrap();
//! let grads = vec![Some(arg(0.0)), Some(arg(0.0))];
//! let exe = Executor::bind(&y, ctx, BindArgs {
//!     args: vec![arg(2.0), arg(5.0)], grads: grads.clone(), reqs: vec![GradReq::Write; 2], aux: vec![],
//! }).unwrap();
//! exe.forward(true).unwrap();
//! exe.backward().unwrap();
//! assert_eq!(exe.outputs()[0].to_cpu_storage().unwrap().get_f64(0), 10.0);
//! assert_eq!(grads[0].as_ref().unwrap().to_cpu_storage().unwrap().get_f64(0), 5.0);
//! ```

pub mod executor;
pub mod graph;
pub mod infer;
pub mod json;

pub use executor::{BindArgs, Executor, GradReq};
pub use graph::{Entry, Node, Symbol};
pub use infer::{infer_shape_lists, infer_type_lists};
pub use json::{from_json, to_json};

#[cfg(test)]
mod tests {
    use super::*;
    use mxrs_ndarray_core::{Attrs, Context, CpuStorage, DType, NDArray};

    fn var(n: &str) -> Symbol {
        Symbol::variable(n, Attrs::default())
    }
    fn arr(v: Vec<f64>) -> NDArray {
        let n = v.len();
        NDArray::from_cpu(CpuStorage::F64(v.into()), &[n], Context::cpu(0)).unwrap()
    }
    fn vals(a: &NDArray) -> Vec<f64> {
        let s = a.to_cpu_storage().unwrap();
        (0..s.len()).map(|i| s.get_f64(i)).collect()
    }

    #[test]
    fn shared_input_gradients_accumulate_and_buffers_are_reused() {
        // y = exp(a*b) * a: `a` feeds two ops, so its gradient is a sum.
        let (a, b) = (var("a"), var("b"));
        let ab = Symbol::create("elemwise_mul", "m0", Attrs::default(), &[a.clone(), b], &[]).unwrap();
        let e = Symbol::create("exp", "e0", Attrs::default(), &[ab], &[]).unwrap();
        let y = Symbol::create("elemwise_mul", "m1", Attrs::default(), &[e, a], &[]).unwrap();
        assert_eq!(y.list_arguments(), ["a", "b"]);
        let (av, bv) = (vec![0.5, -1.0, 0.25], vec![0.3, 0.7, -2.0]);
        let ga = arr(vec![0.0; 3]);
        let gb = arr(vec![9.0; 3]);
        let exe = Executor::bind(
            &y,
            Context::cpu(0),
            BindArgs {
                args: vec![arr(av.clone()), arr(bv.clone())],
                grads: vec![Some(ga.clone()), Some(gb.clone())],
                reqs: vec![GradReq::Write, GradReq::Add],
                aux: vec![],
            },
        )
        .unwrap();
        exe.forward(true).unwrap();
        exe.backward().unwrap();
        let out = vals(&exe.outputs()[0]);
        for i in 0..3 {
            let (x, z) = (av[i], bv[i]);
            let ex = (x * z).exp();
            assert!((out[i] - ex * x).abs() < 1e-12);
            assert!((vals(&ga)[i] - (ex * z * x + ex)).abs() < 1e-12);
            assert!((vals(&gb)[i] - (9.0 + ex * x * x)).abs() < 1e-12);
        }
        assert!(exe.num_buffers() < exe.num_steps().0 + exe.num_steps().1);
    }

    #[test]
    fn unread_gradients_are_not_computed() {
        // y = FC(x) with no gradient for x: the fused backward op computes only dW and db, and
        // gives the same values as with every gradient requested.
        let fc_attrs = Attrs::from_pairs([("num_hidden", "2")]);
        let y = Symbol::create("FullyConnected", "fc", fc_attrs, &[var("x")], &[]).unwrap();
        assert_eq!(y.list_arguments(), ["x", "fc_weight", "fc_bias"]);
        let m = |v: Vec<f64>, s: &[usize]| NDArray::from_cpu(CpuStorage::F64(v.into()), s, Context::cpu(0)).unwrap();
        let run = |x_req: GradReq| {
            let grads = vec![Some(m(vec![0.0; 6], &[2, 3])), Some(m(vec![0.0; 6], &[2, 3])), Some(arr(vec![0.0; 2]))];
            let args = vec![
                m(vec![1.0, 2.0, 3.0, -1.0, 0.5, 2.0], &[2, 3]),
                m(vec![0.1, -0.2, 0.3, 0.4, 0.5, -0.6], &[2, 3]),
                arr(vec![0.0, 1.0]),
            ];
            let reqs = vec![x_req, GradReq::Write, GradReq::Write];
            let exe = Executor::bind(&y, Context::cpu(0), BindArgs { args, grads: grads.clone(), reqs, aux: vec![] })
                .unwrap();
            exe.forward(true).unwrap();
            exe.backward().unwrap();
            (exe.debug_plan(), grads.iter().map(|g| vals(g.as_ref().unwrap())).collect::<Vec<_>>())
        };
        let (all_plan, all) = run(GradReq::Write);
        let (pruned_plan, pruned) = run(GradReq::Null);
        // The plan lists `_backward_FullyConnected([inputs]) -> [outputs]`.
        let num_outputs = |plan: &str| {
            let line = plan.lines().find(|l| l.contains("_backward_FullyConnected")).unwrap();
            line.rsplit("->").next().unwrap().matches(',').count() + 1
        };
        assert_eq!(num_outputs(&all_plan), 3, "{all_plan}");
        assert_eq!(num_outputs(&pruned_plan), 2, "{pruned_plan}");
        assert_eq!(pruned[0], vec![0.0; 6], "x's gradient array is left alone");
        assert_eq!(pruned[1..], all[1..]);
    }

    #[test]
    fn json_round_trip_keeps_names_and_layout() {
        let y = Symbol::create("exp", "e0", Attrs::default(), &[var("data")], &[]).unwrap();
        let text = to_json(&y);
        assert!(text.contains("\"op\": \"exp\", \n"), "{text}");
        let back = from_json(&text).unwrap();
        assert_eq!(to_json(&back), text);
        assert_eq!(back.list_outputs(), ["e0_output"]);
    }

    #[test]
    fn malformed_json_is_an_error() {
        let cyclic =
            r#"{"nodes": [{"op": "exp", "name": "e", "inputs": [[0, 0, 0]]}], "arg_nodes": [], "heads": [[0, 0, 0]]}"#;
        assert!(from_json(cyclic).unwrap_err().to_string().contains("cyclic"));
        let unknown = r#"{"nodes": [{"op": "null", "name": "x", "inputs": []}, {"op": "nope", "name": "n", "inputs": [[0, 0, 0]]}], "arg_nodes": [0], "heads": [[1, 0, 0]]}"#;
        assert!(from_json(unknown).unwrap_err().to_string().contains("not registered"));
        assert!(from_json("{").is_err());
    }

    #[test]
    fn inference_fills_and_checks() {
        let y = Symbol::create("elemwise_mul", "m", Attrs::default(), &[var("a"), var("b")], &[]).unwrap();
        let (args, outs, _) = infer_shape_lists(&y, &[("a".into(), vec![2, 3])]).unwrap();
        assert_eq!(args, [Some(vec![2, 3]), Some(vec![2, 3])]);
        assert_eq!(outs, [Some(vec![2, 3])]);
        let err = infer_shape_lists(&y, &[("a".into(), vec![2, 3]), ("b".into(), vec![3, 2])]).unwrap_err();
        assert!(err.to_string().contains("Error in operator m"), "{err}");
        let (t, _, _) = infer_type_lists(&y, &[("b".into(), DType::F64)]).unwrap();
        assert_eq!(t, [Some(DType::F64), Some(DType::F64)]);
    }
}
