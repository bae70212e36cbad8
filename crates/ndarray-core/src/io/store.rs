//! The interface of a storage backend: the [`Store`] trait and its streaming [`StoreReader`]
//! and [`StoreWriter`], implemented by the local file system ([`super::storage`]) and the
//! remote backends ([`super::remote`]), plus the parsing of a URI's scheme that both use.
//! Use the functions of [`super::storage`], which pick the store for a URI.

use std::io::{self, Read, Seek, Write};

use crate::error::Result;

/// A file opened for reading by [`Store::open`]: read and seek anywhere, with its size known.
pub trait StoreReader: Read + Seek + Send + std::fmt::Debug {
    /// The file's size in bytes.
    fn size(&self) -> u64;
}

/// A file being written by [`Store::create`].
///
/// Dropping it without [`finish`](StoreWriter::finish) keeps what was written for a local file
/// (as a plain `File` does) and abandons a remote one (the old object, if any, stays).
pub trait StoreWriter: Write + Send + std::fmt::Debug {
    /// Write out what is buffered and complete the file; a remote file appears only now.
    /// Writing after `finish` is an error.
    fn finish(&mut self) -> Result<()>;
}

/// A place files can be read from and written to, addressed by path or URI.
pub trait Store: Send + Sync {
    /// Read the whole file at `uri`.
    fn read(&self, uri: &str) -> Result<Vec<u8>>;

    /// Replace the file at `uri` with what `data` writes, atomically: readers see either the old
    /// file or the complete new one. If `data` (or anything else) fails, the old file is left
    /// as it was and the error names `uri`.
    fn write_atomic(&self, uri: &str, data: &dyn Fn(&mut dyn Write) -> io::Result<()>) -> Result<()>;

    /// Open the file at `uri` for reading (and seeking) without reading it all.
    fn open(&self, uri: &str) -> Result<Box<dyn StoreReader>>;

    /// Create (truncate) the file at `uri` for sequential writing.
    fn create(&self, uri: &str) -> Result<Box<dyn StoreWriter>>;
}

/// `(scheme, rest)` when `uri` starts with `scheme://` and the scheme is well formed
/// (a letter, then letters, digits, `+`, `-` or `.`); `None` for a plain path.
pub(crate) fn split_scheme(uri: &str) -> Option<(&str, &str)> {
    let i = uri.find("://")?;
    let scheme = &uri[..i];
    let mut chars = scheme.chars();
    let well_formed = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    well_formed.then(|| (scheme, &uri[i + 3..]))
}
