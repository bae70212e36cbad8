//! Saving and loading NDArrays: the format of [`super::ndarray_file`] through the storage
//! layer of [`super::storage`].

use crate::context::Context;
use crate::error::{Error, Result};
use crate::io::ndarray_file::{ArrayRef, RawArray, read_list, read_list_sparse, read_record, write_list, write_record};
use crate::io::storage;
use crate::ndarray::NDArray;
use crate::storage::CpuStorage;

fn to_ndarray(raw: RawArray, ctx: Context) -> Result<NDArray> {
    let data = CpuStorage::from_le_bytes(raw.dtype, &raw.data)?;
    NDArray::from_cpu(data, &raw.shape, ctx)
}

/// Run `f` with byte views of every array, after waiting for their pending writes.
fn with_refs<R>(arrays: &[NDArray], f: impl FnOnce(&[ArrayRef<'_>]) -> R) -> Result<R> {
    for a in arrays {
        a.wait_to_read()?;
    }
    // Arrays in device memory are saved from host copies.
    let hosts: Vec<Option<CpuStorage>> = arrays
        .iter()
        .map(|a| if a.ctx().is_host() { Ok(None) } else { a.to_cpu_storage().map(Some) })
        .collect::<Result<_>>()?;
    let guards: Vec<_> = arrays.iter().map(|a| a.chunk.storage.read()).collect();
    let mut refs = Vec::with_capacity(arrays.len());
    for ((a, g), host) in arrays.iter().zip(&guards).zip(&hosts) {
        if let Some(h) = host {
            refs.push(ArrayRef { dtype: a.dtype(), shape: a.shape(), data: h.as_bytes() });
            continue;
        }
        let cpu = g.cpu("save")?;
        if cpu.len() != a.chunk.len {
            return Err(Error::msg("cannot save an array whose producing op failed"));
        }
        let es = a.dtype().size();
        refs.push(ArrayRef {
            dtype: a.dtype(),
            shape: a.shape(),
            data: &cpu.as_bytes()[a.offset * es..(a.offset + a.size()) * es],
        });
    }
    Ok(f(&refs))
}

/// `mx.nd.save`: write `arrays` (with `names`, or none for a list) to `uri` atomically.
pub fn save(uri: &str, arrays: &[NDArray], names: &[String]) -> Result<()> {
    if !names.is_empty() && names.len() != arrays.len() {
        return Err(Error::param("save", "names must match arrays"));
    }
    let names: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
    with_refs(arrays, |refs| storage::write_atomic(uri, &|w| write_list(w, refs, &names)))?
}

/// `mx.nd.load`: the arrays of a file (on `cpu(0)`, as MXNet's CPU build does) and their names
/// (empty for a list file).
pub fn load(uri: &str) -> Result<(Vec<NDArray>, Vec<String>)> {
    let bytes = storage::read(uri)?;
    load_from_bytes(&bytes, uri)
}

/// `mx.nd.load_frombuffer`.
pub fn load_from_bytes(bytes: &[u8], what: &str) -> Result<(Vec<NDArray>, Vec<String>)> {
    let (raws, names) = read_list(bytes, what)?;
    let arrays = raws.into_iter().map(|r| to_ndarray(r, Context::cpu(0))).collect::<Result<_>>()?;
    Ok((arrays, names))
}

/// A loaded array: dense, or the stored values of a sparse one with its storage type, logical
/// shape and aux arrays (row_sparse `[indices]`, csr `[indptr, indices]`).
pub type LoadedArray = (NDArray, Option<(i32, Vec<usize>, Vec<NDArray>)>);

/// `mx.nd.load` keeping sparse arrays sparse: [`load`] with each sparse record's parts.
pub fn load_sparse(uri: &str) -> Result<(Vec<LoadedArray>, Vec<String>)> {
    let bytes = storage::read(uri)?;
    load_sparse_from_bytes(&bytes, uri)
}

/// `mx.nd.load_frombuffer` keeping sparse arrays sparse.
pub fn load_sparse_from_bytes(bytes: &[u8], what: &str) -> Result<(Vec<LoadedArray>, Vec<String>)> {
    let (raws, names) = read_list_sparse(bytes, what)?;
    let cpu = Context::cpu(0);
    let mut out = Vec::with_capacity(raws.len());
    for (values, parts) in raws {
        let values = to_ndarray(values, cpu)?;
        let parts = match parts {
            None => None,
            Some(p) => {
                let aux = p.aux.into_iter().map(|a| to_ndarray(a, cpu)).collect::<Result<Vec<_>>>()?;
                Some((p.stype, p.shape, aux))
            }
        };
        out.push((values, parts));
    }
    Ok((out, names))
}

/// One array record without a list header (the pickle payload).
pub fn save_raw(array: &NDArray) -> Result<Vec<u8>> {
    with_refs(std::slice::from_ref(array), |refs| {
        let mut out = Vec::new();
        write_record(&mut out, &refs[0]).map(|_| out).map_err(|e| Error::io("<pickle>", e))
    })?
}

/// Parse one array record (the pickle payload).
pub fn load_raw(bytes: &[u8]) -> Result<NDArray> {
    to_ndarray(read_record(bytes, "<pickle>")?, Context::cpu(0))
}
