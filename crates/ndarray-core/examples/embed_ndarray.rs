//! Embedding the mxrs core in a Rust program: arrays, registered operators and the engine,
//! without Python. README.md shows this file; `tests/unit/test_readme_blocks.py` checks that
//! it is the same text.
//!
//! ```text
//! cargo run --profile dev-opt -p mxrs-ndarray-core --example embed_ndarray
//! ```

use mxrs_ndarray_core::{Attrs, Context, CpuStorage, NDArray, Result, invoke, waitall};

fn main() -> Result<()> {
    let ctx = Context::cpu(0);
    let a = NDArray::from_cpu(CpuStorage::F32(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0].into()), &[2, 3], ctx)?;
    let b = NDArray::from_cpu(CpuStorage::F32(vec![1.0; 6].into()), &[3, 2], ctx)?;
    // Any registered operator, by its MXNet name, with MXNet's attribute strings.
    let c = invoke("dot", &Attrs::default(), &[a.clone(), b], None, None)?.remove(0);
    let d = invoke("_plus_scalar", &Attrs::from_pairs([("scalar", "0.5")]), &[c], None, None)?.remove(0);
    let sum = invoke("sum", &Attrs::from_pairs([("axis", "1")]), &[a], None, None)?.remove(0);
    // Operators return at once; reading waits for the engine.
    println!("dot + 0.5 = {:?} (shape {:?})", d.to_cpu_storage()?, d.shape());
    println!("row sums  = {:?}", sum.to_cpu_storage()?);
    waitall()
}
