//! Sparse storage kernels (MXNet's `csr` and `row_sparse` arrays).
//!
//! mxrs keeps a sparse array as ordinary dense component arrays (`data`, `indices`, `indptr`)
//! held together by the Python classes of `mx.nd.sparse`; these ops are the kernels over those
//! components: conversions to and from dense storage, the sparse dot products and the row
//! assignment that lazy optimizer updates write back with. Components whose length depends on
//! the values (a dense array's number of non-zeros) are made in two steps: one op counts
//! (`_sparse_csr_indptr`, `_sparse_rsp_rowptr`), the caller reads the count, a second op fills
//! (`_sparse_csr_from_dense`, `_sparse_rsp_from_dense`).

mod common;
mod convert;
mod dot;

use super::registry::Registry;

/// Register the sparse kernels.
pub(super) fn register(r: &mut Registry) {
    convert::register(r);
    dot::register(r);
}

#[cfg(test)]
mod tests {
    use crate::context::Context;
    use crate::ndarray::NDArray;
    use crate::op::Attrs;
    use crate::storage::CpuStorage;
    use crate::{Error, invoke};

    fn f32s(v: &[f32], shape: &[usize]) -> NDArray {
        NDArray::from_cpu(CpuStorage::F32(v.to_vec().into()), shape, Context::cpu(0)).unwrap()
    }

    fn i64s(v: &[i64]) -> NDArray {
        NDArray::from_cpu(CpuStorage::I64(v.to_vec().into()), &[v.len()], Context::cpu(0)).unwrap()
    }

    fn values(a: &NDArray) -> Vec<f64> {
        let s = a.to_cpu_storage().unwrap();
        (0..s.len()).map(|i| s.get_f64(i)).collect()
    }

    fn run(op: &str, attrs: &[(&str, &str)], inputs: &[NDArray]) -> crate::error::Result<Vec<NDArray>> {
        invoke(op, &Attrs::from_pairs(attrs.iter().copied()), inputs, None, None)
    }

    /// [[5, 0, 6], [0, 0, 0], [0, 7, 0]] as csr components.
    fn csr() -> [NDArray; 3] {
        [f32s(&[5., 6., 7.], &[3]), i64s(&[0, 2, 1]), i64s(&[0, 2, 2, 3])]
    }

    #[test]
    fn csr_round_trip_and_dot() {
        let [d, i, p] = csr();
        let dense =
            &run("_sparse_csr_to_dense", &[("shape", "(3, 3)")], &[d.clone(), i.clone(), p.clone()]).unwrap()[0];
        assert_eq!(values(dense), [5., 0., 6., 0., 0., 0., 0., 7., 0.]);
        let ptr = &run("_sparse_csr_indptr", &[], std::slice::from_ref(dense)).unwrap()[0];
        assert_eq!(values(ptr), [0., 2., 2., 3.]);
        let parts = run("_sparse_csr_from_dense", &[("nnz", "3")], &[dense.clone(), ptr.clone()]).unwrap();
        assert_eq!((values(&parts[0]), values(&parts[1])), (vec![5., 6., 7.], vec![0., 2., 1.]));
        let rhs = f32s(&[1., 2., 3., 4., 5., 6.], &[3, 2]);
        let y =
            &run("_sparse_dot_csr", &[("num_cols", "3")], &[d.clone(), i.clone(), p.clone(), rhs.clone()]).unwrap()[0];
        assert_eq!(values(y), [35., 46., 0., 0., 21., 28.]);
        let attrs = [("num_cols", "3"), ("transpose_a", "True")];
        let yt = &run("_sparse_dot_csr", &attrs, &[d, i, p, rhs]).unwrap()[0];
        assert_eq!(values(yt), [5., 10., 35., 42., 6., 12.]);
    }

    #[test]
    fn row_sparse_round_trip_and_row_assign() {
        let dense = f32s(&[0., 0., 1., 2., 0., 0., 3., 4.], &[4, 2]);
        let ptr = &run("_sparse_rsp_rowptr", &[], std::slice::from_ref(&dense)).unwrap()[0];
        assert_eq!(values(ptr), [0., 0., 1., 1., 2.]);
        let parts = run("_sparse_rsp_from_dense", &[("nnr", "2")], &[dense.clone(), ptr.clone()]).unwrap();
        assert_eq!((values(&parts[0]), values(&parts[1])), (vec![1., 2., 3., 4.], vec![1., 3.]));
        let back = &run("_sparse_rsp_to_dense", &[("shape", "(4, 2)")], &parts).unwrap()[0];
        assert_eq!(values(back), values(&dense));
        let rows = f32s(&[9., 9.], &[1, 2]);
        let out = &run("_sparse_row_assign", &[], &[dense, rows, i64s(&[0])]).unwrap()[0];
        assert_eq!(values(out), [9., 9., 1., 2., 0., 0., 3., 4.]);
    }

    #[test]
    fn bad_structures_are_errors() {
        let [d, i, _] = csr();
        let e = run(
            "_sparse_dot_csr",
            &[("num_cols", "3")],
            &[d.clone(), i.clone(), i64s(&[0, 2]), f32s(&[1.; 6], &[3, 2])],
        );
        assert!(e.is_ok(), "shape-valid structure");
        let r = e.unwrap()[0].to_cpu_storage();
        assert!(r.unwrap_err().to_string().contains("indptr"));
        let bad_rhs = run(
            "_sparse_dot_csr",
            &[("num_cols", "3")],
            &[d.clone(), i.clone(), i64s(&[0, 2, 2, 3]), f32s(&[1.; 4], &[2, 2])],
        );
        assert!(matches!(bad_rhs, Err(Error::Shape { .. })));
        let cols = run("_sparse_csr_to_dense", &[("shape", "(3, 2)")], &[d, i, i64s(&[0, 2, 2, 3])]).unwrap();
        assert!(cols[0].to_cpu_storage().unwrap_err().to_string().contains("column index 2"));
        let rows = run("_sparse_rsp_to_dense", &[("shape", "(2, 1)")], &[f32s(&[1.], &[1, 1]), i64s(&[4])]).unwrap();
        assert!(rows[0].to_cpu_storage().unwrap_err().to_string().contains("row index 4"));
    }
}
