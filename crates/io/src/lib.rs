//! Data input for mxrs: dmlc RecordIO files, MXNet image records and the image record
//! iterator behind `mx.io.ImageRecordIter`.
//!
//! * [`recordio`]: the chunked record framing (`.rec`) and its `.idx` index, byte-compatible
//!   with dmlc-core (records containing the magic word are split into chunks).
//! * [`header`]: the `IRHeader` that prefixes each image record (flag, label(s), id, id2).
//! * [`image`]: JPEG/PNG decode and encode, OpenCV-compatible bilinear resize, grayscale.
//! * [`iter`]: the batch producer: decode, resize, crop, mirror and normalise on a pool of
//!   worker threads, with batches prepared ahead on a background thread.
//!
//! ```
//! use mxrs_io::recordio::{RecordReader, RecordWriter};
//! let path = std::env::temp_dir().join(format!("mxrs_io_doc_{}.rec", std::process::id()));
//! let p = path.to_str().unwrap();
//! let mut w = RecordWriter::create(p).unwrap();
//! w.write(b"hello").unwrap();
//! w.flush().unwrap();
//! let mut r = RecordReader::open(p).unwrap();
//! assert_eq!(r.read().unwrap().as_deref(), Some(&b"hello"[..]));
//! assert_eq!(r.read().unwrap(), None);
//! # std::fs::remove_file(p).unwrap();
//! ```
//!
//! Errors are `mxrs_ndarray_core::Error`: a damaged record is an `Error::Format` naming the
//! file and the byte offset of the bad chunk.

pub mod header;
pub mod image;
pub mod iter;
pub mod recordio;

pub use mxrs_ndarray_core::{Error, Result};
