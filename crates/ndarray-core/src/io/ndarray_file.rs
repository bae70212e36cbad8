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
//! offset. Sparse records (row_sparse, csr) are densified, because mxrs has no sparse storage
//! yet; the dense result is capped at [`MAX_DENSIFIED_BYTES`].

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
    let (records, names) = parse_list(bytes, path, MAX_DENSIFIED_BYTES)?;
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
    let mut r = Reader { buf: bytes, pos: 0, path, index: None };
    let rec = parse_record(&mut r, MAX_DENSIFIED_BYTES)?;
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
        Ok(dims)
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
        Ok(dims)
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
        records.push(parse_record(&mut r, max_dense)?);
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
fn parse_record(r: &mut Reader<'_>, max_dense: usize) -> Result<Record> {
    let start = r.pos;
    let magic = r.u32("array record magic")?;
    let none = |shape: Vec<usize>| {
        // MXNet's "none" array: the record ends after the shape. ndim 0 loads as shape [0].
        let shape = if shape.is_empty() { vec![0] } else { shape };
        Record { start, flag: DType::F32.flag(), shape, data: Vec::new() }
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
            let data = r.blob(storage_shape.as_deref().unwrap_or(&shape), item, "array data")?;
            let mut aux_data = Vec::with_capacity(n_aux);
            for (aux_flag, aux_shape) in &aux {
                let size = flag_item_size(*aux_flag).unwrap_or(8);
                aux_data.push(r.blob(aux_shape, size, "aux data")?);
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
            Ok(Record { start, flag, shape, data })
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
    Ok(Record { start, flag, shape, data })
}

/// A zero-filled buffer for a densified sparse array, within the cap and without aborting on
/// allocation failure.
fn dense_buffer(r: &Reader<'_>, start: usize, shape: &[usize], item: usize, max_dense: usize) -> Result<Vec<u8>> {
    let n = byte_len(shape, item).filter(|&n| n <= max_dense).ok_or_else(|| {
        r.error_at(
            start,
            format!(
                "sparse array of shape {shape:?} would densify to more than {max_dense} bytes \
                     (sparse storage is not supported yet)"
            ),
        )
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

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fixtures_dir() -> Option<PathBuf> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/fixtures");
        if dir.is_dir() {
            Some(dir)
        } else {
            println!("note: fixtures folder {} is missing; skipping", dir.display());
            None
        }
    }

    fn fixture(name: &str) -> Option<Vec<u8>> {
        let dir = fixtures_dir()?;
        Some(std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}")))
    }

    fn f32s(a: &RawArray) -> Vec<f32> {
        assert_eq!(a.dtype, DType::F32);
        a.data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
    }

    fn i64s(a: &RawArray) -> Vec<i64> {
        assert_eq!(a.dtype, DType::I64);
        a.data.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect()
    }

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    fn load_dict(name: &str) -> Option<Vec<(String, RawArray)>> {
        let bytes = fixture(name)?;
        let (arrays, names) = read_list(&bytes, name).unwrap();
        assert_eq!(names.len(), arrays.len(), "{name} is a dict save");
        Some(names.into_iter().zip(arrays).collect())
    }

    fn get<'a>(d: &'a [(String, RawArray)], key: &str) -> &'a RawArray {
        &d.iter().find(|(k, _)| k == key).unwrap_or_else(|| panic!("no key {key}")).1
    }

    fn check_f32(d: &[(String, RawArray)], key: &str, shape: &[usize], want: &[f32]) {
        let a = get(d, key);
        assert_eq!(a.shape, shape, "{key}");
        assert_eq!(f32s(a), want, "{key}");
    }

    fn assert_close(got: &[f32], want: &[f32], tol: f32, what: &str) {
        assert_eq!(got.len(), want.len(), "{what}");
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() <= tol, "{what}: got {got:?}, want {want:?}");
        }
    }

    fn write_to_vec(arrays: &[ArrayRef<'_>], names: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        write_list(&mut out, arrays, names).unwrap();
        out
    }

    fn rewrite(arrays: &[RawArray], names: &[String]) -> Vec<u8> {
        let refs: Vec<_> = arrays.iter().map(RawArray::as_array_ref).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        write_to_vec(&refs, &names)
    }

    fn assert_format_err<T: fmt::Debug>(r: Result<T>, needle: &str) {
        match r {
            Err(Error::Format { msg, .. }) => {
                assert!(msg.contains("at byte"), "no offset in {msg:?}");
                assert!(msg.contains(needle), "{msg:?} does not mention {needle:?}");
            }
            other => panic!("expected a format error mentioning {needle:?}, got {other:?}"),
        }
    }

    // ------------------------------------------------------------------ fixtures

    #[test]
    fn nd_dict_and_list_values_and_byte_exact_round_trip() {
        let (Some(dict), Some(list)) = (fixture("nd_dict.params"), fixture("nd_list.params")) else {
            return;
        };
        assert_eq!((dict.len(), list.len()), (170, 152));
        let (arrays, names) = read_list(&dict, "nd_dict.params").unwrap();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(arrays[0].shape, [2, 3]);
        assert_eq!(f32s(&arrays[0]), [2.0; 6]);
        assert_eq!(arrays[1].shape, [3]);
        assert_eq!(i64s(&arrays[1]), [0, 1, 2]);
        assert_eq!(rewrite(&arrays, &names), dict);

        let (larrays, lnames) = read_list(&list, "nd_list.params").unwrap();
        assert!(lnames.is_empty());
        assert_eq!(larrays, arrays);
        assert_eq!(rewrite(&larrays, &[]), list);
    }

    #[test]
    fn nd_single_and_empty() {
        let (Some(single), Some(empty)) = (fixture("nd_single.params"), fixture("nd_empty.params")) else {
            return;
        };
        let (arrays, names) = read_list(&single, "nd_single.params").unwrap();
        assert!(names.is_empty());
        assert_eq!(arrays.len(), 1);
        assert_eq!(arrays[0].shape, [2, 2]);
        assert_eq!(f32s(&arrays[0]), [1.5, -2.0, 0.25, 3.0]);
        assert_eq!(rewrite(&arrays, &names), single);

        assert_eq!(empty.len(), 32);
        let (arrays, names) = read_list(&empty, "nd_empty.params").unwrap();
        assert!(arrays.is_empty() && names.is_empty());
        assert_eq!(write_to_vec(&[], &[]), empty);
    }

    #[test]
    fn nd_dtypes_values() {
        let Some(bytes) = fixture("nd_dtypes.params") else { return };
        // Parse below the DType mapping so every value is checked, bfloat16 included.
        let (recs, names) = parse_list(&bytes, "nd_dtypes.params", MAX_DENSIFIED_BYTES).unwrap();
        let keys = ["f32", "f64", "f16", "u8", "i32", "i8", "i64", "bool", "bf16", "f32_2x2x2"];
        assert_eq!(names, keys);
        let flags: Vec<i32> = recs.iter().map(|r| r.flag).collect();
        assert_eq!(flags, [0, 1, 2, 3, 4, 5, 6, 7, 12, 0]);
        for r in &recs[..9] {
            assert_eq!(r.shape, [3]);
        }
        assert_eq!(recs[9].shape, [2, 2, 2]);
        let words = |r: &Record, n: usize| -> Vec<Vec<u8>> { r.data.chunks_exact(n).map(<[u8]>::to_vec).collect() };
        assert_eq!(recs[0].data, f32_bytes(&[1.0, -2.5, 3.140625]));
        let f64s: Vec<u8> = [1.0f64, -2.5, 1e-300].iter().flat_map(|x| x.to_le_bytes()).collect();
        assert_eq!(recs[1].data, f64s);
        let f16s: Vec<u8> =
            [1.0f32, -2.5, 65504.0].iter().flat_map(|&x| half::f16::from_f32(x).to_le_bytes()).collect();
        assert_eq!(recs[2].data, f16s);
        assert_eq!(recs[3].data, [0, 1, 255]);
        let i32s: Vec<u8> = [-1i32, 0, i32::MAX].iter().flat_map(|x| x.to_le_bytes()).collect();
        assert_eq!(recs[4].data, i32s);
        assert_eq!(recs[5].data, [0x80, 0, 127]);
        let i64b: Vec<u8> = [-1i64, 0, 1 << 40].iter().flat_map(|x| x.to_le_bytes()).collect();
        assert_eq!(recs[6].data, i64b);
        assert_eq!(recs[7].data, [1, 0, 1]);
        let bf16: Vec<u16> = words(&recs[8], 2).iter().map(|w| u16::from_le_bytes([w[0], w[1]])).collect();
        assert_eq!(bf16, [16256, 49184, 16457]);
        assert_eq!(recs[9].data, f32_bytes(&[0., 1., 2., 3., 4., 5., 6., 7.]));

        // The public reader maps flags to DType: bfloat16 works once DType has it, and until
        // then the error names the array and the flag.
        match DType::from_flag(12) {
            Ok(_) => {
                let (arrays, names) = read_list(&bytes, "nd_dtypes.params").unwrap();
                assert_eq!(rewrite(&arrays, &names), bytes);
            }
            Err(_) => assert_format_err(read_list(&bytes, "nd_dtypes.params"), "array 8"),
        }
    }

    #[test]
    fn nd_sparse_densified() {
        let Some(d) = load_dict("nd_sparse.params") else { return };
        assert_eq!(d[0].0, "rsp");
        assert_eq!(d[1].0, "csr");
        check_f32(&d, "rsp", &[4, 2], &[0., 0., 1., 2., 0., 0., 3., 4.]);
        check_f32(&d, "csr", &[3, 3], &[5., 0., 6., 0., 0., 0., 0., 7., 0.]);
    }

    #[test]
    fn nd_npshape_v3_round_trip() {
        let Some(bytes) = fixture("nd_npshape_v3.params") else { return };
        assert_eq!(bytes.len(), 100);
        let (arrays, names) = read_list(&bytes, "nd_npshape_v3.params").unwrap();
        assert!(names.is_empty());
        assert_eq!(arrays.len(), 2);
        assert_eq!(arrays[0].shape, Vec::<usize>::new());
        assert_eq!(f32s(&arrays[0]), [5.0]);
        assert_eq!(arrays[1].shape, [2, 0]);
        assert_eq!(arrays[1].dtype, DType::F32);
        assert!(arrays[1].data.is_empty());
        assert_eq!(rewrite(&arrays, &names), bytes);
    }

    #[test]
    fn nd_rawbytes_record() {
        let Some(bytes) = fixture("nd_rawbytes.bin") else { return };
        assert_eq!(bytes.len(), 56);
        let a = read_record(&bytes, "nd_rawbytes.bin").unwrap();
        assert_eq!(a.shape, [2, 2]);
        assert_eq!(f32s(&a), [1., 2., 3., 4.]);
        let mut out = Vec::new();
        write_record(&mut out, &a.as_array_ref()).unwrap();
        assert_eq!(out, bytes);
        // A record is not a list file, and a list file is not a record.
        assert_format_err(read_list(&bytes, "nd_rawbytes.bin"), "list magic");
        for n in 0..bytes.len() {
            assert_format_err(read_record(&bytes[..n], "cut"), "truncated");
        }
    }

    #[test]
    fn checkpoint_and_gluon_files() {
        let Some(d) = load_dict("ckpt-0001.params") else { return };
        let keys: Vec<&str> = d.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "arg:fc1_weight",
                "arg:fc1_bias",
                "arg:bn1_gamma",
                "arg:bn1_beta",
                "arg:fc2_weight",
                "arg:fc2_bias",
                "aux:bn1_moving_mean",
                "aux:bn1_moving_var"
            ]
        );
        let w = f32s(get(&d, "arg:fc1_weight"));
        let want: Vec<f32> = (0..12).map(|i| i as f32 / 10.0 - 0.5).collect();
        assert_eq!(get(&d, "arg:fc1_weight").shape, [4, 3]);
        assert_close(&w, &want, 1e-6, "arg:fc1_weight");
        check_f32(&d, "arg:fc1_bias", &[4], &[0.1, -0.1, 0.2, -0.2]);
        check_f32(&d, "arg:bn1_gamma", &[4], &[1., 0.5, 2., 1.5]);
        check_f32(&d, "arg:bn1_beta", &[4], &[0., 0.1, -0.1, 0.2]);
        check_f32(&d, "arg:fc2_weight", &[2, 4], &[1., -1., 0.5, 0.25, -0.5, 0.75, 1., -1.]);
        check_f32(&d, "arg:fc2_bias", &[2], &[0.05, -0.05]);
        check_f32(&d, "aux:bn1_moving_mean", &[4], &[0.1, 0.2, -0.3, 0.]);
        check_f32(&d, "aux:bn1_moving_var", &[4], &[1., 0.5, 2., 0.25]);
        let bytes = fixture("ckpt-0001.params").unwrap();
        let (arrays, names) = read_list(&bytes, "ckpt").unwrap();
        assert_eq!(rewrite(&arrays, &names), bytes);

        let Some(e) = load_dict("ckpt_expected.params") else { return };
        check_f32(&e, "data", &[2, 3], &[1., 2., 3., -1., 0.5, 0.]);
        check_f32(&e, "label", &[2], &[1., 0.]);
        let approx = [
            ("prob_inference", vec![0.999966, 3.4e-05, 0.561268, 0.438732]),
            ("prob_train", vec![0.781714, 0.218286, 0.635352, 0.364648]),
            ("bn1_moving_mean_after_train_fwd", vec![0.005, 0.1575, -0.18, 0.1325]),
            ("bn1_moving_var_after_train_fwd", vec![1.05625, 0.457562, 1.849, 0.505562]),
        ];
        for (k, want) in approx {
            assert_close(&f32s(get(&e, k)), &want, 2e-6, k);
        }
        for (k, p) in &d {
            if let Some(name) = k.strip_prefix("arg:") {
                assert_eq!(get(&e, &format!("grad:{name}")).shape, p.shape, "grad:{name}");
            }
        }

        let Some(g) = load_dict("gluon_save_parameters.params") else { return };
        let keys: Vec<&str> = g.iter().map(|(k, _)| k.as_str()).collect();
        let gk = ["0.weight", "0.bias", "1.gamma", "1.beta", "1.running_mean", "1.running_var"];
        assert_eq!(keys, gk);
        let Some(x) = load_dict("gluon_export-0000.params") else { return };
        let xk = [
            "arg:net_dense0_weight",
            "arg:net_dense0_bias",
            "arg:net_batchnorm0_gamma",
            "arg:net_batchnorm0_beta",
            "aux:net_batchnorm0_running_mean",
            "aux:net_batchnorm0_running_var",
        ];
        let values: [(&[usize], &[f32]); 6] = [
            (&[2, 3], &[0.5; 6]),
            (&[2], &[0., 0.]),
            (&[2], &[1., 1.]),
            (&[2], &[0., 0.]),
            (&[2], &[0., 0.]),
            (&[2], &[1., 1.]),
        ];
        for ((k, key), (shape, want)) in gk.iter().zip(xk).zip(values) {
            check_f32(&g, k, shape, want);
            check_f32(&x, key, shape, want);
        }
    }

    #[test]
    fn image_iter_expected_and_source_pixels() {
        let Some(src) = load_dict("img3_source_pixels.params") else { return };
        let bgr = get(&src, "bgr_hwc");
        let rgb = get(&src, "rgb_chw");
        assert_eq!((bgr.dtype, bgr.shape.as_slice()), (DType::U8, &[3, 6, 8, 3][..]));
        assert_eq!((rgb.dtype, rgb.shape.as_slice()), (DType::U8, &[3, 3, 6, 8][..]));
        let pixel = |i: usize, y: usize, x: usize| -> [u8; 3] {
            // [R, G, B] as the README's generating formula says.
            [((80 * i + 3 * x + 5 * y) % 256) as u8, ((40 * y + 11 * i) % 256) as u8, ((30 * x + 7 * i) % 256) as u8]
        };
        for i in 0..3 {
            for y in 0..6 {
                for x in 0..8 {
                    let p = pixel(i, y, x);
                    for c in 0..3 {
                        assert_eq!(bgr.data[((i * 6 + y) * 8 + x) * 3 + c], p[2 - c]);
                        assert_eq!(rgb.data[((i * 3 + c) * 6 + y) * 8 + x], p[c]);
                    }
                }
            }
        }

        // These records carry dev_type 3 (cpu_pinned).
        let Some(bytes) = fixture("imagerecorditer_expected.params") else { return };
        let word = |at: usize| i32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        // First record: list header (24), magic, stype, ndim at 32, dims, then dev_type.
        let ndim = word(32) as usize;
        assert_eq!(word(36 + 8 * ndim), 3);
        let Some(d) = load_dict("imagerecorditer_expected.params") else { return };
        let a = get(&d, "A_data");
        assert_eq!(a.shape, [3, 3, 4, 6]);
        let (mean, std) = ([10.0f32, 20.0, 30.0], [2.0f32, 4.0, 8.0]);
        let mut want = Vec::new();
        for i in 0..3 {
            for c in 0..3 {
                for y in 1..5 {
                    for x in 1..7 {
                        want.push((f32::from(pixel(i, y, x)[c]) - mean[c]) * 0.5 / std[c]);
                    }
                }
            }
        }
        assert_close(&f32s(a), &want, 1e-6, "A_data");
        assert_close(&f32s(a)[..6], &[-0.5, 0.25, 1.0, 1.75, 2.5, 3.25], 1e-6, "A_data[0,0,0]");
        check_f32(&d, "A_label", &[3], &[0., 1., 2.]);
        let c = get(&d, "C_data");
        assert_eq!(c.shape, [3, 3, 3, 4]);
        let c00 = [4., 10., 16., 22., 14., 20., 26., 32., 24., 30., 36., 42.];
        assert_eq!(f32s(c)[..12], c00);
        check_f32(&d, "D_label", &[2, 3], &[0.5, 1.5, -1., 1.5, 2.5, -1.]);
        assert_eq!(get(&d, "F_data").shape, [3, 3, 6, 8]);
    }

    /// Every `.params` fixture loads, and writing it back gives a file that loads identically.
    #[test]
    fn every_params_fixture_loads() {
        let Some(dir) = fixtures_dir() else { return };
        let mut count = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "params") {
                continue;
            }
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&path).unwrap();
            let (arrays, names) = match read_list(&bytes, &name) {
                Ok(x) => x,
                // bfloat16 is checked in nd_dtypes_values.
                Err(e) if name == "nd_dtypes.params" && DType::from_flag(12).is_err() => {
                    assert!(e.to_string().contains("bfloat16"), "{e}");
                    continue;
                }
                Err(e) => panic!("{name}: {e}"),
            };
            let again = rewrite(&arrays, &names);
            assert_eq!(read_list(&again, &name).unwrap(), (arrays, names), "{name}");
            count += 1;
        }
        assert!(count >= 12, "only {count} .params fixtures found");
    }

    // ------------------------------------------------------------------ synthetic records

    /// A record writer for tests, for layouts `write_record` never produces.
    struct Rec(Vec<u8>);
    impl Rec {
        fn new() -> Self {
            Rec(Vec::new())
        }
        fn u32(mut self, v: u32) -> Self {
            self.0.extend_from_slice(&v.to_le_bytes());
            self
        }
        fn i32(mut self, v: i32) -> Self {
            self.0.extend_from_slice(&v.to_le_bytes());
            self
        }
        fn u64(mut self, v: u64) -> Self {
            self.0.extend_from_slice(&v.to_le_bytes());
            self
        }
        fn shape(mut self, dims: &[i64]) -> Self {
            self = self.i32(dims.len() as i32);
            for d in dims {
                self.0.extend_from_slice(&d.to_le_bytes());
            }
            self
        }
        fn bytes(mut self, b: &[u8]) -> Self {
            self.0.extend_from_slice(b);
            self
        }
    }

    fn list_of(records: &[&[u8]], names: &[&str]) -> Vec<u8> {
        let mut f = Rec::new().u64(LIST_MAGIC).u64(0).u64(records.len() as u64);
        for r in records {
            f = f.bytes(r);
        }
        f = f.u64(names.len() as u64);
        for n in names {
            f = f.u64(n.len() as u64).bytes(n.as_bytes());
        }
        f.0
    }

    fn v2_header(dims: &[i64], flag: i32) -> Rec {
        Rec::new().u32(V2_MAGIC).i32(0).shape(dims).i32(1).i32(0).i32(flag)
    }

    /// A file using every record kind the reader knows, for the fuzz loops.
    fn corpus() -> Vec<u8> {
        let a = f32_bytes(&[1., 2., 3., 4., 5., 6.]);
        let scalar = f32_bytes(&[7.0]);
        let mut v2 = Vec::new();
        write_record(&mut v2, &ArrayRef { dtype: DType::F32, shape: &[2, 3], data: &a }).unwrap();
        let mut v3 = Vec::new();
        let s = ArrayRef { dtype: DType::F32, shape: &[], data: &scalar };
        write_record(&mut v3, &s).unwrap();
        let v1 = Rec::new().u32(V1_MAGIC).shape(&[2]).i32(2).i32(1).i32(4).bytes(&[9; 8]).0;
        let legacy = Rec::new().u32(2).u32(1).u32(2).i32(1).i32(0).i32(3).bytes(&[5, 6]).0;
        let rsp = Rec::new()
            .u32(V2_MAGIC)
            .i32(1)
            .shape(&[1, 2])
            .shape(&[3, 2])
            .i32(1)
            .i32(0)
            .i32(0)
            .i32(6)
            .shape(&[1])
            .bytes(&f32_bytes(&[1., 2.]))
            .bytes(&2i64.to_le_bytes())
            .0;
        let csr = Rec::new()
            .u32(V2_MAGIC)
            .i32(2)
            .shape(&[2])
            .shape(&[2, 3])
            .i32(1)
            .i32(0)
            .i32(0)
            .i32(4)
            .shape(&[3])
            .i32(4)
            .shape(&[2])
            .bytes(&f32_bytes(&[8., 9.]))
            .bytes(&[0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0])
            .bytes(&[2, 0, 0, 0, 0, 0, 0, 0])
            .0;
        list_of(&[&v2, &v3, &v1, &legacy, &rsp, &csr], &["a", "s", "v1", "leg", "rsp", "csr"])
    }

    #[test]
    fn all_record_versions_and_sparse_kinds() {
        let bytes = corpus();
        let (arrays, names) = read_list(&bytes, "corpus").unwrap();
        assert_eq!(names, ["a", "s", "v1", "leg", "rsp", "csr"]);
        assert_eq!(f32s(&arrays[0]), [1., 2., 3., 4., 5., 6.]);
        assert_eq!((arrays[1].shape.len(), f32s(&arrays[1])), (0, vec![7.0]));
        assert_eq!((arrays[2].dtype, &arrays[2].shape[..]), (DType::I32, &[2][..]));
        assert_eq!(arrays[2].data, [9; 8]);
        assert_eq!((arrays[3].dtype, &arrays[3].shape[..]), (DType::U8, &[1, 2][..]));
        assert_eq!(arrays[3].data, [5, 6]);
        assert_eq!(arrays[4].shape, [3, 2]);
        assert_eq!(f32s(&arrays[4]), [0., 0., 0., 0., 1., 2.]);
        assert_eq!(arrays[5].shape, [2, 3]);
        assert_eq!(f32s(&arrays[5]), [0., 0., 8., 9., 0., 0.]);
    }

    #[test]
    fn none_arrays_and_zero_size_writes() {
        // Legacy ndim 0 (pre-V1 and V2): a "none" array that ends after its shape.
        let legacy = Rec::new().u32(0).0;
        let v2 = Rec::new().u32(V2_MAGIC).i32(0).shape(&[]).0;
        let v1 = Rec::new().u32(V1_MAGIC).shape(&[3, 0]).0;
        let f = list_of(&[&legacy, &v2, &v1], &[]);
        let (arrays, _) = read_list(&f, "none").unwrap();
        assert_eq!(arrays[0], RawArray { dtype: DType::F32, shape: vec![0], data: vec![] });
        assert_eq!(arrays[1], arrays[0]);
        assert_eq!(arrays[2].shape, [3, 0]);
        // Writing zero-size arrays uses V3.
        let mut out = Vec::new();
        write_record(&mut out, &ArrayRef { dtype: DType::I64, shape: &[0], data: &[] }).unwrap();
        assert_eq!(out[..4], V3_MAGIC.to_le_bytes());
        let back = read_record(&out, "zero").unwrap();
        assert_eq!((back.dtype, back.shape, back.data.len()), (DType::I64, vec![0], 0));
    }

    #[test]
    fn writer_rejects_bad_input() {
        let mut out = Vec::new();
        let a = ArrayRef { dtype: DType::F32, shape: &[2], data: &[0; 4] };
        let e = write_list(&mut out, &[a], &[]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(out.is_empty(), "nothing written before validation");
        let ok = ArrayRef { dtype: DType::F32, shape: &[1], data: &[0; 4] };
        let e = write_list(&mut out, &[ok, ok], &["x"]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        let huge = ArrayRef { dtype: DType::F64, shape: &[usize::MAX, 2], data: &[] };
        assert!(write_record(&mut out, &huge).is_err());
    }

    #[test]
    fn malicious_headers_are_format_errors() {
        let path = "evil.params";
        // 2^60 float32 elements with 4 data bytes behind them.
        let rec = v2_header(&[1 << 60], 0).bytes(&[0; 4]).0;
        assert_format_err(read_list(&list_of(&[&rec], &[]), path), "truncated");
        // An element count that overflows usize.
        let rec = v2_header(&[1 << 62, 1 << 62], 0).0;
        assert_format_err(read_list(&list_of(&[&rec], &[]), path), "overflows");
        let rec = v2_header(&[1 << 61], 1).0;
        assert_format_err(read_list(&list_of(&[&rec], &[]), path), "overflows");
        // Array count and name length far beyond the input.
        let f = Rec::new().u64(LIST_MAGIC).u64(0).u64(1 << 60).0;
        assert_format_err(read_list(&f, path), "claims");
        let rec = v2_header(&[1], 0).bytes(&[0; 4]).0;
        let mut f = list_of(&[&rec], &["a"]);
        let len_at = f.len() - 9;
        f[len_at..len_at + 8].copy_from_slice(&(1u64 << 60).to_le_bytes());
        assert_format_err(read_list(&f, path), "name 0 claims");
        // Name count neither 0 nor N.
        let f = list_of(&[&rec, &rec], &["a"]);
        assert_format_err(read_list(&f, path), "name count is 1");
        // Wrong list magic, absurd ndim, negative dim, unknown flags and storage types.
        let mut f = list_of(&[&rec], &[]);
        f[0] = 0x13;
        assert_format_err(read_list(&f, path), "list magic");
        let bad_ndim = Rec::new().u32(V2_MAGIC).i32(0).i32(33).0;
        assert_format_err(read_list(&list_of(&[&bad_ndim], &[]), path), "ndim 33");
        let neg_ndim = Rec::new().u32(V2_MAGIC).i32(0).i32(-1).0;
        assert_format_err(read_list(&list_of(&[&neg_ndim], &[]), path), "ndim -1");
        let neg = v2_header(&[2, -3], 0).0;
        assert_format_err(read_list(&list_of(&[&neg], &[]), path), "invalid dimension -3");
        let flag = v2_header(&[1], 99).bytes(&[0; 8]).0;
        assert_format_err(read_list(&list_of(&[&flag], &[]), path), "dtype flag 99");
        let stype = Rec::new().u32(V2_MAGIC).i32(5).0;
        assert_format_err(read_list(&list_of(&[&stype], &[]), path), "storage type 5");
        let magic = Rec::new().u32(0xDEAD_BEEF).0;
        assert_format_err(read_list(&list_of(&[&magic], &[]), path), "0xDEADBEEF");
        // Invalid UTF-8 in a name.
        let f = list_of(&[&rec], &["\u{e9}"]);
        let mut f2 = f.clone();
        let last = f2.len() - 1;
        f2[last] = 0xFF;
        assert_format_err(read_list(&f2, path), "UTF-8");
        // A sparse record that would densify beyond the cap.
        let rsp = Rec::new()
            .u32(V2_MAGIC)
            .i32(1)
            .shape(&[0, 1 << 20])
            .shape(&[1 << 20, 1 << 20])
            .i32(1)
            .i32(0)
            .i32(0)
            .i32(6)
            .shape(&[0])
            .0;
        assert_format_err(read_list(&list_of(&[&rsp], &[]), path), "densify");
        // Messages carry the path and the array index.
        let e = read_list(&list_of(&[&rec, &neg], &[]), path).unwrap_err().to_string();
        assert!(e.starts_with("evil.params: invalid file: at byte") && e.contains("(array 1)"));
    }

    #[test]
    fn sparse_index_errors() {
        // row_sparse index out of range.
        let rsp = Rec::new()
            .u32(V2_MAGIC)
            .i32(1)
            .shape(&[1, 1])
            .shape(&[2, 1])
            .i32(1)
            .i32(0)
            .i32(0)
            .i32(6)
            .shape(&[1])
            .bytes(&[0; 4])
            .bytes(&5i64.to_le_bytes())
            .0;
        assert_format_err(read_list(&list_of(&[&rsp], &[]), "x"), "row index 5");
        // csr with a decreasing indptr.
        let csr = Rec::new()
            .u32(V2_MAGIC)
            .i32(2)
            .shape(&[1])
            .shape(&[2, 2])
            .i32(1)
            .i32(0)
            .i32(0)
            .i32(3)
            .shape(&[3])
            .i32(3)
            .shape(&[1])
            .bytes(&[0; 4])
            .bytes(&[0, 2, 1])
            .bytes(&[0])
            .0;
        assert_format_err(read_list(&list_of(&[&csr], &[]), "x"), "indptr");
    }

    /// Truncating a valid file at any length is an error; flipping any byte never panics, and
    /// never yields more array bytes than the cap allows.
    #[test]
    fn fuzz_truncation_and_bit_flips() {
        let mut files = vec![corpus()];
        for name in ["nd_dict.params", "nd_sparse.params", "nd_npshape_v3.params"] {
            if let Some(b) = fixture(name) {
                files.push(b);
            }
        }
        let max_dense = 1 << 16;
        for file in &files {
            assert!(parse_list(file, "f", max_dense).is_ok());
            for n in 0..file.len() {
                match parse_list(&file[..n], "cut", max_dense) {
                    Err(Error::Format { msg, .. }) => assert!(msg.contains("at byte"), "{msg}"),
                    other => panic!("truncated at {n}: {other:?}"),
                }
            }
            let mut buf = file.clone();
            for i in 0..buf.len() {
                for mask in [0x01u8, 0x10, 0x80, 0xFF] {
                    buf[i] ^= mask;
                    match parse_list(&buf, "flip", max_dense) {
                        Ok((recs, _)) => {
                            let total: usize = recs.iter().map(|r| r.data.len()).sum();
                            assert!(total <= buf.len() + recs.len() * max_dense);
                            for r in &recs {
                                let n = byte_len(&r.shape, flag_item_size(r.flag).unwrap());
                                assert_eq!(n, Some(r.data.len()), "flip {i}^{mask:#x}");
                            }
                        }
                        Err(Error::Format { msg, .. }) => assert!(msg.contains("at byte")),
                        Err(e) => panic!("unexpected error kind {e:?}"),
                    }
                    buf[i] ^= mask;
                }
            }
        }
        // Random garbage, with and without a valid list header in front.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..4000 {
            let len = (next() % 160) as usize;
            let mut buf: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if round % 2 == 0 && buf.len() >= 24 {
                buf[..8].copy_from_slice(&LIST_MAGIC.to_le_bytes());
                buf[16..24].copy_from_slice(&(next() % 4).to_le_bytes());
                if round % 4 == 0 && buf.len() >= 28 {
                    buf[24..28].copy_from_slice(&V2_MAGIC.to_le_bytes());
                }
            }
            let _ = parse_list(&buf, "garbage", max_dense);
            let _ = read_list(&buf, "garbage");
            let _ = read_record(&buf, "garbage");
        }
    }
}
