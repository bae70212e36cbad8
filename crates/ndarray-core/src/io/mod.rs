//! File formats and the storage layer.
//!
//! Format code works on bytes in memory and never opens files itself; every file path or URI
//! goes through [`storage`], so remote backends (`s3://`, `hdfs://`) can be added there later
//! without touching any format.
//!
//! * [`ndarray_file`]: MXNet's NDArray binary format (`mx.nd.save` / `mx.nd.load`, `.params`
//!   files and the pickle payload of an NDArray), as pure functions over bytes;
//! * [`storage`]: reading and atomically writing whole files by path or URI.

// Each module's documentation is its inner `//!` doc (so intra-doc links resolve inside it).
pub mod arrays;
pub mod ndarray_file;
pub mod storage;
