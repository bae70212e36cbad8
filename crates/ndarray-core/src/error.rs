//! The error type of `mxrs-ndarray-core`.
//!
//! Variants carry data (op names, shapes, dtypes, paths); the Python bindings map each variant to
//! one exception class of `mxrs.base` in a single place.

use crate::dtype::{DType, UnknownDType};

/// Errors raised by tensors, kernels, ops and file formats.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// Shapes that do not fit the op (maps to `ShapeError`, a `ValueError`).
    #[error("{op}: {msg}")]
    Shape {
        /// The op that found the problem.
        op: String,
        /// What is wrong, with the shapes involved.
        msg: String,
    },
    /// A dtype the op does not accept (maps to `DTypeError`, a `TypeError`).
    #[error("{op}: {msg} (dtype {dtype})")]
    DType {
        /// The op that found the problem.
        op: String,
        /// The offending dtype.
        dtype: DType,
        /// What is wrong.
        msg: String,
    },
    /// A bad attribute value or argument (maps to `MXNetError` + `ValueError`).
    #[error("{op}: {msg}")]
    Param {
        /// The op whose argument is wrong.
        op: String,
        /// What is wrong.
        msg: String,
    },
    /// An argument of the wrong kind, such as an unknown keyword argument (maps to
    /// `MXNetTypeError`, a `TypeError`).
    #[error("{op}: {msg}")]
    Type {
        /// The function or op whose argument is wrong.
        op: String,
        /// What is wrong, with the valid names where there are some.
        msg: String,
    },
    /// An allocation the system refused (maps to `MXNetMemoryError`, a `MemoryError`).
    #[error("{op}: out of memory: cannot allocate {bytes} bytes for {what}")]
    OutOfMemory {
        /// The op or function that asked.
        op: String,
        /// Bytes asked for.
        bytes: u128,
        /// What the memory was for (an array's shape and dtype).
        what: String,
    },
    /// An index out of range (maps to `IndexError`).
    #[error("{0}")]
    Index(String),
    /// Arrays on different or unavailable devices (maps to `ContextError`).
    #[error("{0}")]
    Context(String),
    /// A reading or writing failure on a file (maps to `MXNetIOError`, an `OSError`).
    #[error("{path}: {msg}")]
    Io {
        /// The file or URI.
        path: String,
        /// What went wrong.
        msg: String,
    },
    /// A file whose content is not what the format says (maps to `MXNetError`).
    #[error("{path}: invalid file: {msg}")]
    Format {
        /// The file or URI (or `<buffer>`).
        path: String,
        /// What is wrong, with the offset where it helps.
        msg: String,
    },
    /// A feature that this build or device does not provide (maps to `NotSupported`).
    #[error("{0}")]
    NotSupported(String),
    /// An op that is not registered.
    #[error("operator '{0}' is not registered")]
    UnknownOp(String),
    /// An error raised by an asynchronous op, delivered at a sync point.
    #[error("{0}")]
    Engine(#[from] mxrs_engine::EngineError),
    /// Misuse of autograd: backward outside a recorded graph, writing into an array a graph
    /// uses (maps to `AutogradError`, an `MXNetError`).
    #[error("{0}")]
    Autograd(String),
    /// Anything else.
    #[error("{0}")]
    Msg(String),
}

impl Error {
    /// A plain message error.
    pub fn msg(s: impl Into<String>) -> Self {
        Error::Msg(s.into())
    }
    /// A shape error from `op`.
    pub fn shape(op: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Shape { op: op.into(), msg: msg.into() }
    }
    /// A parameter error from `op`.
    pub fn param(op: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Param { op: op.into(), msg: msg.into() }
    }
    /// A dtype error from `op`.
    pub fn dtype(op: impl Into<String>, dtype: DType, msg: impl Into<String>) -> Self {
        Error::DType { op: op.into(), dtype, msg: msg.into() }
    }
    /// An argument-kind error from `op`.
    pub fn type_error(op: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Type { op: op.into(), msg: msg.into() }
    }
    /// An out-of-memory error: `op` could not get `bytes` bytes for `what`.
    pub fn out_of_memory(op: impl Into<String>, bytes: u128, what: impl Into<String>) -> Self {
        Error::OutOfMemory { op: op.into(), bytes, what: what.into() }
    }
    /// A format error for `path`.
    pub fn format(path: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Format { path: path.into(), msg: msg.into() }
    }
    /// An I/O error for `path`.
    pub fn io(path: impl Into<String>, err: impl std::fmt::Display) -> Self {
        Error::Io { path: path.into(), msg: err.to_string() }
    }
}

impl From<UnknownDType> for Error {
    fn from(e: UnknownDType) -> Self {
        Error::Msg(e.to_string())
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Return early with a shape error: `bail_shape!(op, "fmt", args..)`.
#[macro_export]
macro_rules! bail_shape {
    ($op:expr, $($arg:tt)*) => {
        return Err($crate::error::Error::shape($op, format!($($arg)*)))
    };
}

/// Return early with a parameter error: `bail_param!(op, "fmt", args..)`.
#[macro_export]
macro_rules! bail_param {
    ($op:expr, $($arg:tt)*) => {
        return Err($crate::error::Error::param($op, format!($($arg)*)))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_dtypes_become_message_errors() {
        let e = Error::from(DType::from_name("float128").unwrap_err());
        assert!(matches!(e, Error::Msg(_)));
        assert_eq!(e.to_string(), "unknown dtype 'float128'");
        assert_eq!(Error::from(UnknownDType::Flag(9)).to_string(), "unsupported dtype flag 9");
    }

    #[test]
    fn out_of_memory_names_the_bytes() {
        let e = Error::out_of_memory("zeros", 1 << 54, "an array of shape (4503599627370496) and dtype float32");
        assert_eq!(
            e.to_string(),
            "zeros: out of memory: cannot allocate 18014398509481984 bytes for an array of shape (4503599627370496) \
             and dtype float32"
        );
    }
}
