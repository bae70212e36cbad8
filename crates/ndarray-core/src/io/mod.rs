//! File formats and the storage layer.
//!
//! Format code works on bytes in memory (or a reader/writer) and never opens files itself;
//! every file path or URI goes through [`storage`], which picks the local file system or a
//! remote backend (`s3://`, `hdfs://`, `webhdfs://`: [`remote`]) from the URI's scheme.
//!
//! * [`ndarray_file`]: MXNet's NDArray binary format (`mx.nd.save` / `mx.nd.load`, `.params`
//!   files and the pickle payload of an NDArray), as pure functions over bytes;
//! * [`storage`]: reading and atomically writing whole files, and streaming readers and
//!   writers, by path or URI;
//! * [`store`]: the [`store::Store`] trait that backends implement;
//! * [`remote`]: the S3 and WebHDFS backends (the only code that knows `opendal`).

// Each module's documentation is its inner `//!` doc (so intra-doc links resolve inside it).
pub mod arrays;
pub mod ndarray_file;
pub mod remote;
pub mod storage;
pub mod store;
