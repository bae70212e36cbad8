//! MXNet's NDArray binary format (`mx.nd.save` / `mx.nd.load`, `.params` files and the pickle
//! payload of an NDArray), as pure functions over bytes.
//!
//! Layout (all integers little-endian, unaligned, unpadded; see the fact sheet, section 1):
//!
//! * list file: `u64 0x112`, `u64 0` (reserved), `u64 N`, N array records, `u64 K` (0 for a list,
//!   N for a dict), K names as `u64 len` + UTF-8 bytes;
//! * array record, V2 (`0xF993FAC9`): `u32 magic`, `i32 stype`, \[sparse: storage *shape*\],
//!   *shape*, `i32 dev_type`, `i32 dev_id`, `i32 dtype flag`, \[sparse: per aux array `i32 flag`
//!   + *shape*\], data bytes, \[sparse: aux data bytes\]; *shape* = `i32 ndim` + `ndim × i64`;
//! * V3 (`0xF993FACA`) is V2, dense only, where ndim 0 is a scalar and dims may be 0;
//! * V1 (`0xF993FAC8`) has no stype; pre-V1 legacy records start with `u32 ndim` and `u32` dims.
//!
//! In V1/V2/legacy records a shape with ndim 0 or a zero dim is MXNet's "none" array: the record
//! ends right after the shape. Writers here emit V2 records with context `cpu(0)` and switch to
//! V3 only for shapes V2 cannot express (0-d or with a zero dim), so files of ordinary arrays are
//! byte-identical to what MXNet 1.9.1 writes.
//!
//! Readers never panic and never allocate more than the input could justify: every length is
//! checked against the bytes that remain before anything is allocated, products use checked
//! arithmetic, and every failure is an [`Error::Format`] whose message starts with the byte
//! offset. [`read_list`] densifies sparse records (row_sparse, csr), capped at
//! [`MAX_DENSIFIED_BYTES`]; [`read_list_sparse`] keeps their parts (what `mx.nd.load` uses: the
//! Python layer holds sparse arrays as their components). As MXNet's loader does, the shape of
//! a sparse record's values is derived from its aux shapes, not from its stored storage shape.

use std::fmt;
use std::io::{self, Write};

use crate::dtype::DType;
use crate::error::{Error, Result};

/// Magic number of a list file (`kMXAPINDArrayListMagic`), the first `u64` of the file.
pub const LIST_MAGIC: u64 = 0x112;
/// Magic of a V1 array record (no storage type field).
pub const V1_MAGIC: u32 = 0xF993_FAC8;
/// Magic of a V2 array record (what MXNet 1.x writes by default).
pub const V2_MAGIC: u32 = 0xF993_FAC9;
/// Magic of a V3 array record (numpy-shape semantics: 0-d scalars and zero dims allowed).
pub const V3_MAGIC: u32 = 0xF993_FACA;
/// Largest number of dimensions a record may declare.
pub const MAX_NDIM: usize = 32;
/// Largest dense size in bytes that a sparse record may be densified into.
pub const MAX_DENSIFIED_BYTES: usize = 1 << 30;

/// Smallest possible array record: a legacy record of ndim 0 is just its `u32`.
const MIN_RECORD_BYTES: usize = 4;

/// A dense array read from a file: dtype, shape and C-order little-endian element bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawArray {
    /// Element type.
    pub dtype: DType,
    /// Logical shape; `[]` is a 0-d scalar (V3 only).
    pub shape: Vec<usize>,
    /// `dtype.size() × prod(shape)` bytes, C order, little-endian.
    pub data: Vec<u8>,
}

impl RawArray {
    /// A borrowed view, e.g. to write the array back.
    pub fn as_array_ref(&self) -> ArrayRef<'_> {
        ArrayRef { dtype: self.dtype, shape: &self.shape, data: &self.data }
    }

    /// Number of elements (`prod(shape)`, 1 for a scalar).
    pub fn num_elements(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A borrowed dense array to write: dtype, shape and C-order little-endian element bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArrayRef<'a> {
    /// Element type.
    pub dtype: DType,
    /// Logical shape; `[]` is a 0-d scalar.
    pub shape: &'a [usize],
    /// Exactly `dtype.size() × prod(shape)` bytes, C order, little-endian.
    pub data: &'a [u8],
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

/// Write a whole `mx.nd.save` file: the list header, one record per array, then the names.
///
/// `names` is empty for a list save, otherwise it must have one name per array (a dict save, in
/// that order). Ordinary arrays are written as V2 records with context `cpu(0)`, byte-identical
/// to MXNet 1.9.1; 0-d arrays and arrays with a zero dim are written as V3 records. An array
/// whose data length does not match its shape and dtype gives `InvalidInput`.
pub fn write_list<W: Write + ?Sized>(w: &mut W, arrays: &[ArrayRef<'_>], names: &[&str]) -> io::Result<()> {
    if !names.is_empty() && names.len() != arrays.len() {
        return Err(invalid_input(format!(
            "{} names for {} arrays (names must be empty or one per array)",
            names.len(),
            arrays.len()
        )));
    }
    // Validate everything before the first byte goes out.
    for (i, a) in arrays.iter().enumerate() {
        check_array_ref(a).map_err(|m| invalid_input(format!("array {i}: {m}")))?;
    }
    let mut head = Vec::with_capacity(24);
    head.extend_from_slice(&LIST_MAGIC.to_le_bytes());
    head.extend_from_slice(&0u64.to_le_bytes());
    head.extend_from_slice(&(arrays.len() as u64).to_le_bytes());
    w.write_all(&head)?;
    for a in arrays {
        write_record_unchecked(w, a)?;
    }
    w.write_all(&(names.len() as u64).to_le_bytes())?;
    for name in names {
        w.write_all(&(name.len() as u64).to_le_bytes())?;
        w.write_all(name.as_bytes())?;
    }
    Ok(())
}

/// Write one array record with no list header (`MXNDArraySaveRawBytes`, the pickle payload).
///
/// V2 with context `cpu(0)`, or V3 for a 0-d array or one with a zero dim.
pub fn write_record<W: Write + ?Sized>(w: &mut W, array: &ArrayRef<'_>) -> io::Result<()> {
    check_array_ref(array).map_err(invalid_input)?;
    write_record_unchecked(w, array)
}

/// The record bytes of an array already checked by [`check_array_ref`].
fn write_record_unchecked<W: Write + ?Sized>(w: &mut W, a: &ArrayRef<'_>) -> io::Result<()> {
    let needs_v3 = a.shape.is_empty() || a.shape.contains(&0);
    let magic = if needs_v3 { V3_MAGIC } else { V2_MAGIC };
    let mut head = Vec::with_capacity(4 + 4 + 4 + 8 * a.shape.len() + 12);
    head.extend_from_slice(&magic.to_le_bytes());
    head.extend_from_slice(&0i32.to_le_bytes()); // stype: dense
    head.extend_from_slice(&(a.shape.len() as i32).to_le_bytes());
    for &d in a.shape {
        head.extend_from_slice(&(d as i64).to_le_bytes());
    }
    head.extend_from_slice(&1i32.to_le_bytes()); // dev_type: cpu
    head.extend_from_slice(&0i32.to_le_bytes()); // dev_id
    head.extend_from_slice(&a.dtype.flag().to_le_bytes());
    w.write_all(&head)?;
    w.write_all(a.data)
}

/// Check that an array can be written and that its data length matches its shape.
fn check_array_ref(a: &ArrayRef<'_>) -> std::result::Result<(), String> {
    if a.shape.len() > MAX_NDIM {
        return Err(format!("{} dimensions, more than the {MAX_NDIM} supported", a.shape.len()));
    }
    if let Some(&d) = a.shape.iter().find(|&&d| i64::try_from(d).is_err()) {
        return Err(format!("dimension {d} does not fit in i64"));
    }
    match byte_len(a.shape, a.dtype.size()) {
        Some(n) if n == a.data.len() => Ok(()),
        Some(n) => Err(format!("shape {:?} of {} needs {n} data bytes, got {}", a.shape, a.dtype, a.data.len())),
        None => Err(format!("shape {:?} of {} overflows the address space", a.shape, a.dtype)),
    }
}

fn invalid_input(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.into())
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

/// Parse a whole `mx.nd.save` file from memory (`mx.nd.load` / `mx.nd.load_frombuffer`).
///
/// Returns the arrays in file order and the names: empty for a list save, else one per array.
/// Accepts V1, V2, V3 and pre-V1 legacy records and any stored context (arrays always load on
/// the host). Sparse records are densified into their logical shape; MXNet's "none" arrays
/// (legacy ndim 0) load as zero-size arrays of shape `[0]`, V3 scalars as shape `[]`. Bytes
/// after the names are ignored, as MXNet does. `path` only labels errors.
pub fn read_list(bytes: &[u8], path: &str) -> Result<(Vec<RawArray>, Vec<String>)> {
    read_list_with_limit(bytes, path, MAX_DENSIFIED_BYTES)
}

/// [`read_list`] with another cap than [`MAX_DENSIFIED_BYTES`] on the dense size of a sparse
/// array. Every other allocation is bounded by the input's length whatever the cap; the fuzz
/// targets use a small cap so that this holds for all of them.
pub fn read_list_with_limit(bytes: &[u8], path: &str, max_densified: usize) -> Result<(Vec<RawArray>, Vec<String>)> {
    let (records, names) = parse_list(bytes, path, max_densified)?;
    let arrays = records
        .into_iter()
        .enumerate()
        .map(|(i, rec)| rec.into_raw_array(path, Some(i)))
        .collect::<Result<Vec<_>>>()?;
    Ok((arrays, names))
}

/// Parse one array record with no list header (`MXNDArrayLoadFromRawBytes`, the pickle payload).
///
/// Same record rules as [`read_list`]; bytes after the record are ignored.
pub fn read_record(bytes: &[u8], path: &str) -> Result<RawArray> {
    read_record_with_limit(bytes, path, MAX_DENSIFIED_BYTES)
}

/// [`read_record`] with another cap on the dense size of a sparse array (see
/// [`read_list_with_limit`]).
pub fn read_record_with_limit(bytes: &[u8], path: &str, max_densified: usize) -> Result<RawArray> {
    let mut r = Reader { buf: bytes, pos: 0, path, index: None };
    let rec = parse_record(&mut r, max_densified, false)?;
    rec.into_raw_array(path, None)
}

/// A record as stored, before its dtype flag is mapped to a [`DType`]: this keeps files with
/// dtypes mxrs lacks (bfloat16, int16...) parseable for a clear error message.
#[derive(Debug)]
struct Record {
    /// Offset of the record's first byte.
    start: usize,
    /// MXNet type flag.
    flag: i32,
    shape: Vec<usize>,
    data: Vec<u8>,
    /// A sparse record read with its parts kept: `shape` and `data` are then the stored values.
    sparse: Option<SparseRecord>,
}

/// The parts of a sparse record besides its values, as stored.
#[derive(Debug)]
struct SparseRecord {
    stype: i32,
    shape: Vec<usize>,
    /// Per aux array: type flag, shape, bytes.
    aux: Vec<(i32, Vec<usize>, Vec<u8>)>,
}

/// A sparse array read from a file with its parts kept ([`read_list_sparse`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SparseParts {
    /// MXNet storage type: 1 row_sparse, 2 csr.
    pub stype: i32,
    /// Logical shape.
    pub shape: Vec<usize>,
    /// Aux arrays as stored: row_sparse `[indices]`, csr `[indptr, indices]`.
    pub aux: Vec<RawArray>,
}

/// One array of [`read_list_sparse`]: its dense data (a sparse record's stored values) and, for a
/// sparse record, its other parts.
pub type SparseOrDense = (RawArray, Option<SparseParts>);

/// Parse a whole `mx.nd.save` file keeping sparse records sparse: each array is its dense data
/// (for a sparse record, its stored values) and, for a sparse record, its other parts. The
/// sparse structure (index ranges) is not checked here; the record layout is.
pub fn read_list_sparse(bytes: &[u8], path: &str) -> Result<(Vec<SparseOrDense>, Vec<String>)> {
    let (records, names) = parse_list_mode(bytes, path, MAX_DENSIFIED_BYTES, true)?;
    let mut out = Vec::with_capacity(records.len());
    for (i, mut rec) in records.into_iter().enumerate() {
        let sparse = rec.sparse.take();
        let (start, values) = (rec.start, rec.into_raw_array(path, Some(i))?);
        let parts = match sparse {
            None => None,
            Some(sp) => {
                let aux = sp
                    .aux
                    .into_iter()
                    .map(|(flag, shape, data)| {
                        Record { start, flag, shape, data, sparse: None }.into_raw_array(path, Some(i))
                    })
                    .collect::<Result<Vec<_>>>()?;
                Some(SparseParts { stype: sp.stype, shape: sp.shape, aux })
            }
        };
        out.push((values, parts));
    }
    Ok((out, names))
}

impl Record {
    fn into_raw_array(self, path: &str, index: Option<usize>) -> Result<RawArray> {
        let dtype = DType::from_flag(self.flag)
            .ok()
            .filter(|d| Some(d.size()) == flag_item_size(self.flag))
            .ok_or_else(|| {
                format_error(
                    path,
                    self.start,
                    index,
                    format!("dtype flag {} ({}) is not supported by mxrs", self.flag, flag_name(self.flag)),
                )
            })?;
        Ok(RawArray { dtype, shape: self.shape, data: self.data })
    }
}

/// A little-endian cursor over the input that reports errors with the byte offset.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    path: &'a str,
    /// Index of the array being read, for messages.
    index: Option<usize>,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn error_at(&self, at: usize, msg: impl fmt::Display) -> Error {
        format_error(self.path, at, self.index, msg)
    }

    /// The next `n` bytes, or a truncation error; nothing is allocated.
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.error_at(
                self.pos,
                format!("truncated: {what} needs {n} bytes but only {} remain", self.remaining()),
            ));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        self.array(what).map(u32::from_le_bytes)
    }

    fn i32(&mut self, what: &str) -> Result<i32> {
        self.array(what).map(i32::from_le_bytes)
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        self.array(what).map(u64::from_le_bytes)
    }

    fn i64(&mut self, what: &str) -> Result<i64> {
        self.array(what).map(i64::from_le_bytes)
    }

    /// A *shape*: `i32 ndim` then `ndim × i64` dims, each checked.
    fn shape(&mut self, what: &str) -> Result<Vec<usize>> {
        let at = self.pos;
        let ndim = self.i32(what)?;
        let ndim = usize::try_from(ndim)
            .ok()
            .filter(|&n| n <= MAX_NDIM)
            .ok_or_else(|| self.error_at(at, format!("{what}: ndim {ndim} is not in 0..={MAX_NDIM}")))?;
        // ndim ≤ MAX_NDIM, so this allocation is tiny whatever the input says.
        let mut dims = Vec::with_capacity(ndim);
        for _ in 0..ndim {
            let dat = self.pos;
            let d = self.i64(what)?;
            let d = usize::try_from(d).map_err(|_| self.error_at(dat, format!("{what}: invalid dimension {d}")))?;
            dims.push(d);
        }
        self.check_extent(at, what, dims)
    }

    /// `dims` if the product of its non-zero dims is at most `isize::MAX`: a shape with a zero
    /// dim holds no data, but code that computes strides or sizes must not overflow on it.
    fn check_extent(&self, at: usize, what: &str, dims: Vec<usize>) -> Result<Vec<usize>> {
        let fits = dims.iter().filter(|&&d| d != 0).try_fold(1usize, |acc, &d| acc.checked_mul(d));
        match fits {
            Some(n) if isize::try_from(n).is_ok() => Ok(dims),
            _ => Err(self.error_at(at, format!("{what}: shape {dims:?} has more elements than fit in memory"))),
        }
    }

    /// Pre-V1 legacy shape: `ndim` was the record's first `u32`, dims are `u32`.
    fn legacy_shape(&mut self, at: usize, ndim: u32) -> Result<Vec<usize>> {
        let ndim = usize::try_from(ndim).ok().filter(|&n| n <= MAX_NDIM).ok_or_else(|| {
            self.error_at(
                at,
                format!(
                    "unknown array record magic 0x{ndim:08X} (not V1/V2/V3, and too large for a \
                     legacy ndim)"
                ),
            )
        })?;
        let mut dims = Vec::with_capacity(ndim);
        for _ in 0..ndim {
            let d = self.u32("legacy shape")?;
            dims.push(
                usize::try_from(d)
                    .map_err(|_| self.error_at(self.pos - 4, format!("dimension {d} does not fit in usize")))?,
            );
        }
        self.check_extent(at, "legacy shape", dims)
    }

    /// The data blob of `shape` with items of `item` bytes, copied out after checking that the
    /// input holds it.
    fn blob(&mut self, shape: &[usize], item: usize, what: &str) -> Result<Vec<u8>> {
        let at = self.pos;
        let n = byte_len(shape, item)
            .ok_or_else(|| self.error_at(at, format!("{what}: shape {shape:?} × {item} bytes overflows")))?;
        // `take` checks the remaining length, so the copy is at most the input's size.
        Ok(self.take(n, what)?.to_vec())
    }
}

fn format_error(path: &str, at: usize, index: Option<usize>, msg: impl fmt::Display) -> Error {
    match index {
        Some(i) => Error::format(path, format!("at byte {at} (array {i}): {msg}")),
        None => Error::format(path, format!("at byte {at}: {msg}")),
    }
}

/// `item × prod(shape)` with overflow checks; 0 if any dim is 0 (whatever the others are).
fn byte_len(shape: &[usize], item: usize) -> Option<usize> {
    if shape.contains(&0) {
        return Some(0);
    }
    shape.iter().try_fold(item, |acc, &d| acc.checked_mul(d))
}

/// Item size of an mshadow type flag, including the flags mxrs has no [`DType`] for.
fn flag_item_size(flag: i32) -> Option<usize> {
    Some(match flag {
        0 => 4,  // float32
        1 => 8,  // float64
        2 => 2,  // float16
        3 => 1,  // uint8
        4 => 4,  // int32
        5 => 1,  // int8
        6 => 8,  // int64
        7 => 1,  // bool
        8 => 2,  // int16
        9 => 2,  // uint16
        10 => 4, // uint32
        11 => 8, // uint64
        12 => 2, // bfloat16
        _ => return None,
    })
}

fn flag_name(flag: i32) -> &'static str {
    match flag {
        0 => "float32",
        1 => "float64",
        2 => "float16",
        3 => "uint8",
        4 => "int32",
        5 => "int8",
        6 => "int64",
        7 => "bool",
        8 => "int16",
        9 => "uint16",
        10 => "uint32",
        11 => "uint64",
        12 => "bfloat16",
        _ => "unknown",
    }
}

/// Decode element `k` of an integer index blob with type flag `flag` (flags checked on read).
fn index_at(blob: &[u8], flag: i32, k: usize) -> i128 {
    let size = flag_item_size(flag).unwrap_or(8);
    let b = &blob[k * size..(k + 1) * size];
    match flag {
        3 => i128::from(b[0]),
        5 => i128::from(b[0] as i8),
        4 => i128::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        8 => i128::from(i16::from_le_bytes([b[0], b[1]])),
        9 => i128::from(u16::from_le_bytes([b[0], b[1]])),
        10 => i128::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        11 => i128::from(u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])),
        _ => i128::from(i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])),
    }
}

fn is_index_flag(flag: i32) -> bool {
    matches!(flag, 3..=6 | 8..=11)
}

/// Parse a list file into records (dtype flags not yet mapped) and names.
fn parse_list(bytes: &[u8], path: &str, max_dense: usize) -> Result<(Vec<Record>, Vec<String>)> {
    parse_list_mode(bytes, path, max_dense, false)
}

/// [`parse_list`], keeping sparse records' parts when `keep_sparse`.
fn parse_list_mode(
    bytes: &[u8],
    path: &str,
    max_dense: usize,
    keep_sparse: bool,
) -> Result<(Vec<Record>, Vec<String>)> {
    let mut r = Reader { buf: bytes, pos: 0, path, index: None };
    let magic = r.u64("list magic")?;
    if magic != LIST_MAGIC {
        return Err(r.error_at(0, format!("not an NDArray file: list magic is 0x{magic:X}, expected 0x{LIST_MAGIC:X}")));
    }
    let _reserved = r.u64("reserved header field")?;
    let n_at = r.pos;
    let n = r.u64("array count")?;
    // Every record takes at least MIN_RECORD_BYTES, which bounds the capacity by the input size.
    let n = usize::try_from(n)
        .ok()
        .filter(|&n| n <= r.remaining() / MIN_RECORD_BYTES)
        .ok_or_else(|| r.error_at(n_at, format!("header claims {n} arrays but only {} bytes follow", r.remaining())))?;
    let mut records = Vec::with_capacity(n);
    for i in 0..n {
        r.index = Some(i);
        records.push(parse_record(&mut r, max_dense, keep_sparse)?);
    }
    r.index = None;
    let k_at = r.pos;
    let k = r.u64("name count")?;
    if k != 0 && k != n as u64 {
        return Err(r.error_at(k_at, format!("name count is {k} but must be 0 (list) or {n} (dict, one per array)")));
    }
    // k ≤ n, which is already bounded by the input size.
    let mut names = Vec::with_capacity(k as usize);
    for i in 0..k as usize {
        let at = r.pos;
        let len = r.u64("name length")?;
        let len = usize::try_from(len).ok().filter(|&l| l <= r.remaining()).ok_or_else(|| {
            r.error_at(at, format!("truncated: name {i} claims {len} bytes but only {} remain", r.remaining()))
        })?;
        let name_at = r.pos;
        let raw = r.take(len, "name")?;
        let name =
            std::str::from_utf8(raw).map_err(|e| r.error_at(name_at, format!("name {i} is not valid UTF-8: {e}")))?;
        names.push(name.to_owned());
    }
    Ok((records, names))
}

/// Parse one array record at the reader's position.
fn parse_record(r: &mut Reader<'_>, max_dense: usize, keep_sparse: bool) -> Result<Record> {
    let start = r.pos;
    let magic = r.u32("array record magic")?;
    let none = |shape: Vec<usize>| {
        // MXNet's "none" array: the record ends after the shape. ndim 0 loads as shape [0].
        let shape = if shape.is_empty() { vec![0] } else { shape };
        Record { start, flag: DType::F32.flag(), shape, data: Vec::new(), sparse: None }
    };
    let is_none = |shape: &[usize]| shape.is_empty() || shape.contains(&0);
    match magic {
        V2_MAGIC | V3_MAGIC => {
            let v3 = magic == V3_MAGIC;
            let stype_at = r.pos;
            let stype = r.i32("storage type")?;
            let n_aux = match stype {
                0 => 0,
                1 => 1, // row_sparse: indices
                2 => 2, // csr: indptr, indices
                _ => {
                    return Err(r.error_at(stype_at, format!("unknown storage type {stype} (expected 0, 1 or 2)")));
                }
            };
            if v3 && stype != 0 {
                return Err(r.error_at(stype_at, format!("storage type {stype} in a V3 record (V3 is dense only)")));
            }
            let storage_shape = if n_aux > 0 { Some(r.shape("storage shape")?) } else { None };
            let shape = r.shape("shape")?;
            if !v3 && is_none(&shape) {
                return Ok(none(shape));
            }
            let _dev_type = r.i32("context dev_type")?;
            let _dev_id = r.i32("context dev_id")?;
            let flag_at = r.pos;
            let flag = r.i32("dtype flag")?;
            let item = flag_item_size(flag).ok_or_else(|| r.error_at(flag_at, format!("unknown dtype flag {flag}")))?;
            let mut aux = Vec::with_capacity(n_aux);
            for _ in 0..n_aux {
                let aux_at = r.pos;
                let aux_flag = r.i32("aux dtype flag")?;
                if !is_index_flag(aux_flag) {
                    return Err(r.error_at(
                        aux_at,
                        format!("aux dtype flag {aux_flag} ({}) is not an integer type", flag_name(aux_flag)),
                    ));
                }
                aux.push((aux_flag, r.shape("aux shape")?));
            }
            // As MXNet's loader, the values' shape comes from the aux shapes (the stored storage
            // shape can be stale: MXNet may write it before the array's producer finished).
            let storage_shape = match storage_shape {
                Some(_) => Some(derived_storage_shape(r, start, stype, &shape, &aux)?),
                None => None,
            };
            let data = r.blob(storage_shape.as_deref().unwrap_or(&shape), item, "array data")?;
            let mut aux_data = Vec::with_capacity(n_aux);
            for (aux_flag, aux_shape) in &aux {
                let size = flag_item_size(*aux_flag).unwrap_or(8);
                aux_data.push(r.blob(aux_shape, size, "aux data")?);
            }
            if keep_sparse && let Some(sshape) = storage_shape {
                let aux = aux.into_iter().zip(aux_data).map(|((f, s), d)| (f, s, d)).collect();
                let sparse = Some(SparseRecord { stype, shape, aux });
                return Ok(Record { start, flag, shape: sshape, data, sparse });
            }
            let data = match (stype, storage_shape) {
                (1, Some(sshape)) => densify_row_sparse(
                    r,
                    start,
                    &shape,
                    &sshape,
                    item,
                    &data,
                    aux[0].0,
                    &aux[0].1,
                    &aux_data[0],
                    max_dense,
                )?,
                (2, Some(sshape)) => densify_csr(
                    r,
                    start,
                    &shape,
                    &sshape,
                    item,
                    &data,
                    [(aux[0].0, &aux[0].1, &aux_data[0]), (aux[1].0, &aux[1].1, &aux_data[1])],
                    max_dense,
                )?,
                _ => data,
            };
            Ok(Record { start, flag, shape, data, sparse: None })
        }
        V1_MAGIC => {
            let shape = r.shape("shape")?;
            dense_tail(r, start, shape, is_none, none)
        }
        ndim => {
            let shape = r.legacy_shape(start, ndim)?;
            dense_tail(r, start, shape, is_none, none)
        }
    }
}

/// The shape of a sparse record's values, as MXNet derives it: row_sparse `[nnr] + shape[1..]`
/// with `nnr` the length of its indices, csr `[nnz]` with `nnz` the length of its indices.
fn derived_storage_shape(
    r: &Reader<'_>,
    start: usize,
    stype: i32,
    shape: &[usize],
    aux: &[(i32, Vec<usize>)],
) -> Result<Vec<usize>> {
    let idx = &aux[aux.len() - 1].1;
    if idx.len() != 1 || shape.is_empty() || (stype == 2 && shape.len() != 2) {
        return Err(r.error_at(start, format!("sparse record: indices shape {idx:?} does not fit shape {shape:?}")));
    }
    let mut s = if stype == 1 { shape.to_vec() } else { vec![0] };
    s[0] = idx[0];
    Ok(s)
}

/// The rest of a V1 or legacy record after its shape: ctx, dtype, data.
fn dense_tail(
    r: &mut Reader<'_>,
    start: usize,
    shape: Vec<usize>,
    is_none: impl Fn(&[usize]) -> bool,
    none: impl Fn(Vec<usize>) -> Record,
) -> Result<Record> {
    if is_none(&shape) {
        return Ok(none(shape));
    }
    let _dev_type = r.i32("context dev_type")?;
    let _dev_id = r.i32("context dev_id")?;
    let flag_at = r.pos;
    let flag = r.i32("dtype flag")?;
    let item = flag_item_size(flag).ok_or_else(|| r.error_at(flag_at, format!("unknown dtype flag {flag}")))?;
    let data = r.blob(&shape, item, "array data")?;
    Ok(Record { start, flag, shape, data, sparse: None })
}

/// A zero-filled buffer for a densified sparse array, within the cap and without aborting on
/// allocation failure.
fn dense_buffer(r: &Reader<'_>, start: usize, shape: &[usize], item: usize, max_dense: usize) -> Result<Vec<u8>> {
    let n = byte_len(shape, item).filter(|&n| n <= max_dense).ok_or_else(|| {
        r.error_at(start, format!("sparse array of shape {shape:?} would densify to more than {max_dense} bytes"))
    })?;
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|e| r.error_at(start, format!("cannot allocate {n} bytes: {e}")))?;
    v.resize(n, 0);
    Ok(v)
}

#[allow(clippy::too_many_arguments)]
fn densify_row_sparse(
    r: &Reader<'_>,
    start: usize,
    shape: &[usize],
    sshape: &[usize],
    item: usize,
    values: &[u8],
    idx_flag: i32,
    idx_shape: &[usize],
    idx: &[u8],
    max_dense: usize,
) -> Result<Vec<u8>> {
    let bad = |msg: String| r.error_at(start, format!("row_sparse record: {msg}"));
    if shape.is_empty() || sshape.len() != shape.len() || sshape[1..] != shape[1..] {
        return Err(bad(format!("storage shape {sshape:?} does not fit shape {shape:?}")));
    }
    let nnz = sshape[0];
    if idx_shape != [nnz] {
        return Err(bad(format!("indices shape {idx_shape:?} is not [{nnz}]")));
    }
    let mut dense = dense_buffer(r, start, shape, item, max_dense)?;
    // The dense buffer exists, so a row's byte size cannot overflow.
    let row_bytes = byte_len(&shape[1..], item).unwrap_or(0);
    for k in 0..nnz {
        let row = index_at(idx, idx_flag, k);
        let row = usize::try_from(row)
            .ok()
            .filter(|&x| x < shape[0])
            .ok_or_else(|| bad(format!("row index {row} out of range 0..{}", shape[0])))?;
        dense[row * row_bytes..(row + 1) * row_bytes].copy_from_slice(&values[k * row_bytes..(k + 1) * row_bytes]);
    }
    Ok(dense)
}

/// One aux array of a sparse record: dtype flag, shape, bytes.
type Aux<'x> = (i32, &'x Vec<usize>, &'x Vec<u8>);

#[allow(clippy::too_many_arguments)]
fn densify_csr(
    r: &Reader<'_>,
    start: usize,
    shape: &[usize],
    sshape: &[usize],
    item: usize,
    values: &[u8],
    [(ptr_flag, ptr_shape, ptr), (col_flag, col_shape, cols)]: [Aux<'_>; 2],
    max_dense: usize,
) -> Result<Vec<u8>> {
    let bad = |msg: String| r.error_at(start, format!("csr record: {msg}"));
    if shape.len() != 2 || sshape.len() != 1 {
        return Err(bad(format!("shape {shape:?} / storage shape {sshape:?} are not 2-d / 1-d")));
    }
    let (rows, ncols, nnz) = (shape[0], shape[1], sshape[0]);
    if col_shape.as_slice() != [nnz] {
        return Err(bad(format!("indices shape {col_shape:?} is not [{nnz}]")));
    }
    let mut dense = dense_buffer(r, start, shape, item, max_dense)?;
    // An all-zero csr array may come with an empty indptr.
    if nnz == 0 && ptr_shape.as_slice() == [0] {
        return Ok(dense);
    }
    if rows.checked_add(1).is_none_or(|n| ptr_shape.as_slice() != [n]) {
        return Err(bad(format!("indptr shape {ptr_shape:?} is not [{rows} + 1]")));
    }
    if index_at(ptr, ptr_flag, 0) != 0 || index_at(ptr, ptr_flag, rows) != nnz as i128 {
        return Err(bad(format!("indptr must start at 0 and end at {nnz}")));
    }
    for row in 0..rows {
        let (lo, hi) = (index_at(ptr, ptr_flag, row), index_at(ptr, ptr_flag, row + 1));
        if lo > hi || hi > nnz as i128 {
            return Err(bad(format!("indptr is not non-decreasing at row {row}")));
        }
        // 0 ≤ lo ≤ hi ≤ nnz, so these fit in usize.
        for j in lo as usize..hi as usize {
            let col = index_at(cols, col_flag, j);
            let col = usize::try_from(col)
                .ok()
                .filter(|&c| c < ncols)
                .ok_or_else(|| bad(format!("column index {col} out of range 0..{ncols}")))?;
            let at = (row * ncols + col) * item;
            dense[at..at + item].copy_from_slice(&values[j * item..(j + 1) * item]);
        }
    }
    Ok(dense)
}

#[cfg(test)]
#[path = "ndarray_file_tests.rs"]
mod tests;
