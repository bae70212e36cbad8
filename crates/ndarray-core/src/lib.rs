//! # mxrs-ndarray-core
//!
//! Tensors for mxrs: dtypes, contexts, storage, host kernels, the single operator registry and
//! the imperative call that pushes every op through the dependency engine (`mxrs-engine`).
//!
//! ```
//! use mxrs_ndarray_core::{Attrs, Context, DType, NDArray, invoke};
//!
//! let a = NDArray::zeros(&[2, 3], DType::F32, Context::cpu(0)).unwrap();
//! let b = invoke("_plus_scalar", &Attrs::from_pairs([("scalar", "2")]), &[a], None, None).unwrap();
//! let v = b[0].to_cpu_storage().unwrap();
//! assert_eq!(v.get_f64(5), 2.0);
//! ```

pub mod autograd;
pub mod backend;
pub mod context;
pub mod dtype;
pub mod eager_grad;
pub mod error;
pub mod hostbuf;
pub mod invoke;
pub mod io;
pub mod ndarray;
pub mod op;
pub mod pool;
pub mod rtc;
pub mod shape;
pub mod storage;

pub use context::{Context, DevType};
pub use dtype::DType;
pub use error::{Error, Result};
pub use invoke::{invoke, invoke_op, random_seed};
pub use ndarray::{NDArray, waitall};
pub use op::{Attrs, registry};
pub use storage::CpuStorage;
