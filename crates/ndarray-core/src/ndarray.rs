//! `NDArray`: a handle to a chunk of memory (storage + engine variable) plus an element offset
//! and a shape. As in MXNet, every array is contiguous; basic slices along the first axis and
//! reshapes are views sharing the chunk, everything else copies.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mxrs_engine::{EngineError, FnProperty, Var, engine};
use parking_lot::RwLock;

use crate::autograd::node::Entry;
use crate::backend::DeviceStorage;
use crate::backend::device::DevIn;
use crate::context::Context;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::{checked_bytes, checked_size, fmt_shape, size_of};

/// An array's dimensions.
pub(crate) type Dims = smallvec::SmallVec<[usize; 4]>;
use crate::storage::{CpuStorage, Storage};

/// The memory behind one or more arrays: storage, the engine variable that orders its use,
/// its context and dtype.
pub struct Chunk {
    /// The memory. The engine guarantees that a writer runs alone; the lock only makes that
    /// sharing safe in Rust's terms (it is never contended by correct schedules).
    pub(crate) storage: RwLock<Storage>,
    /// The engine variable of this memory.
    pub(crate) var: Var,
    pub(crate) ctx: Context,
    pub(crate) dtype: DType,
    /// Number of elements.
    pub(crate) len: usize,
    /// Set once the memory is shared outside (DLPack, NumPy views), and from the start for
    /// foreign memory: writes copy into the buffer instead of replacing it, so the outside
    /// pointer stays valid and the other library sees them.
    pub(crate) pinned: AtomicBool,
}

impl Drop for Chunk {
    fn drop(&mut self) {
        if let Storage::Cpu(c) =
            std::mem::replace(self.storage.get_mut(), Storage::Cpu(CpuStorage::F32(Default::default())))
        {
            crate::pool::give(c);
        }
    }
}

impl fmt::Debug for Chunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chunk").field("ctx", &self.ctx).field("dtype", &self.dtype).field("len", &self.len).finish()
    }
}

/// An n-dimensional array on a context. Cloning gives another handle to the same memory.
#[derive(Clone)]
pub struct NDArray {
    pub(crate) chunk: Arc<Chunk>,
    pub(crate) offset: usize,
    /// Held inline up to 4 dimensions: cloning an array (the op call's inputs, the tape's
    /// saved arrays) then allocates nothing.
    pub(crate) shape: Dims,
    /// The autograd slot: the tape node that produced this array, or its variable node
    /// (`None` outside any graph; see `crate::autograd`).
    pub(crate) ag: Option<Entry<NDArray>>,
}

impl fmt::Debug for NDArray {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NDArray({} {} @{})", fmt_shape(&self.shape), self.dtype(), self.ctx())
    }
}

/// Ops touching at most this many elements in all are "light": run on the pushing thread when
/// ready at once, since a hand-off to a worker would cost more than the op.
pub const LIGHT_OP_ELEMENTS: usize = 1 << 14;

/// The engine property for work on `ctx` touching `elements` elements. On a GPU every op is
/// light: its body only queues kernels on the device's stream (asynchronous), which costs less
/// than handing it to a worker thread. (An op without a device kernel then also runs its host
/// copies on the calling thread when its inputs are ready.)
pub(crate) fn property_for(ctx: Context, elements: usize) -> FnProperty {
    if ctx.is_host() && crate::op::custom::inline_ops() {
        return FnProperty::Light;
    }
    if elements <= light_op_elements() || !ctx.is_host() { FnProperty::Light } else { FnProperty::Normal }
}

/// A cheap pass over the elements ([`crate::op::Operator::inline_when_waited`]) counts them as
/// this fraction of a light op's while its caller [waits for each op](waits_each_op): then it
/// runs on the calling thread up to 2^21 elements in all (inputs and output), where its loop
/// splits over that thread and the team's helpers. The bound was 2^19 until the team split
/// loops of every size: on a 2-vCPU EPYC (Zen 4), `relu(x).wait_to_read()` of 3x10^5 float32
/// took 61-65 µs on a worker (split over rayon's pool, the caller asleep meanwhile) where
/// 2x10^5 took 10-11 µs on the calling thread. 2^22 was tried too; one run of
/// `benches/engine.py` then gave 14.2 ms against 6.1 for its two chains of `x += 1` on 4M
/// elements, but that benchmark swung 4.8-12.7 ms in later runs of both builds, and its ops
/// (40 between waits) never count as a waiting caller's: the smaller bound is the cautious one.
pub const CHEAP_WORK_SCALE: usize = 128;

/// The engine property of an op of `work` elements (inputs and output) on `ctx` (see
/// [`property_for`]), `cheap()` when it is a cheap pass over the elements: light also where
/// the calling thread waits for each op it pushes and the work is at most
/// [`CHEAP_WORK_SCALE`] light ops'.
///
/// A caller that pushes ops without waiting (an optimizer's updates, two independent chains)
/// gains from the workers: its ops run beside each other and beside its Python code. One that
/// waits for each (`relu(x).asnumpy()`, a metric, PyTorch-style code) gains nothing from them,
/// and when the op splits over two threads it sleeps through the split and takes microseconds
/// to wake: on a 2-vCPU EPYC (Zen 4), `relu(x).wait_to_read()` on 10^5 float32 took 11.0 µs
/// on a worker (one thread) and 6.0 µs on the calling thread (split over two), while two
/// independent chains of 200 `x += 1` on 2^17 elements took 1.27 ms on the workers and 1.70 ms
/// on the calling thread.
pub(crate) fn property_for_op(ctx: Context, work: usize, cheap: impl FnOnce() -> bool) -> FnProperty {
    let prop = property_for(ctx, work);
    if prop == FnProperty::Light || !ctx.is_host() {
        return prop;
    }
    let inline = work / CHEAP_WORK_SCALE <= light_op_elements() && waits_each_op() && cheap();
    PACE.with(|p| {
        let (calls, waits) = p.get();
        p.set((calls.saturating_add(1), waits));
    });
    if inline { FnProperty::Light } else { prop }
}

thread_local! {
    /// This thread's pace: ops it called that were not light since its last wait, and whether
    /// at most [`PACE_OPS`] such ops came between its last two waits.
    static PACE: std::cell::Cell<(u32, bool)> = const { std::cell::Cell::new((0, false)) };
}

/// See [`waits_each_op`]: a few ops then a wait (`where(x > y, x, y).asnumpy()`) still count as
/// waiting for each op.
const PACE_OPS: u32 = 8;

/// Whether the calling thread waits for each op (or each few ops) it calls: at most
/// [`PACE_OPS`] ops that were not light came between its last two waits (`wait_to_read`,
/// `asnumpy`, `waitall`), and fewer since. A thread that pushes a long stream without waiting
/// stops counting after [`PACE_OPS`] ops, and again at its next wait.
pub fn waits_each_op() -> bool {
    PACE.with(|p| {
        let (calls, paced) = p.get();
        paced && calls < PACE_OPS
    })
}

/// Record a wait of the calling thread (see [`waits_each_op`]).
fn note_wait() {
    PACE.with(|p| {
        let (calls, _) = p.get();
        p.set((0, calls <= PACE_OPS));
    });
}

/// [`LIGHT_OP_ELEMENTS`], or `MXRS_LIGHT_OP_ELEMENTS` when set (read once).
pub(crate) fn light_op_elements() -> usize {
    static BOUND: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *BOUND.get_or_init(|| crate::backend::cpu::env_usize("MXRS_LIGHT_OP_ELEMENTS", LIGHT_OP_ELEMENTS))
}

/// Convert an engine error back into this crate's error, keeping its kind.
pub fn from_engine(e: EngineError) -> Error {
    match e.source_error().downcast_ref::<Error>() {
        Some(inner) => inner.clone(),
        None => Error::Engine(e),
    }
}

impl NDArray {
    pub(crate) fn with_storage(storage: Storage, shape: &[usize], ctx: Context, dtype: DType) -> NDArray {
        let len = size_of(shape);
        // Foreign memory (a zero-copy import) is shared from the start: writes go into it.
        let shared = matches!(&storage, Storage::Cpu(c) if c.is_foreign());
        NDArray {
            chunk: Arc::new(Chunk {
                storage: RwLock::new(storage),
                var: Var::new(),
                ctx,
                dtype,
                len,
                pinned: AtomicBool::new(shared),
            }),
            offset: 0,
            shape: Dims::from_slice(shape),
            ag: None,
        }
    }

    /// A new array whose memory the first op writing it will provide (reading it before then
    /// is an error naming the reader).
    pub fn new_pending(shape: &[usize], dtype: DType, ctx: Context) -> Result<NDArray> {
        ctx.check_available()?;
        Ok(Self::with_storage(Storage::Cpu(CpuStorage::zeros(dtype, 0)), shape, ctx, dtype))
    }

    /// An array of zeros (allocated at once): a shape error when the size overflows, an
    /// out-of-memory error naming the bytes when the system refuses them.
    pub fn zeros(shape: &[usize], dtype: DType, ctx: Context) -> Result<NDArray> {
        ctx.check_available()?;
        let bytes = checked_bytes("zeros", shape, dtype)?;
        let what = || format!("an array of shape {} and dtype {dtype}", fmt_shape(shape));
        if !ctx.is_host() {
            let d = DeviceStorage::zeros(ctx.dev_id, dtype, size_of(shape))?;
            return Ok(Self::with_storage(Storage::Device(d), shape, ctx, dtype));
        }
        crate::storage::fits_in_memory("zeros", bytes, what)?;
        let storage = CpuStorage::try_zeros("zeros", dtype, size_of(shape))
            .map_err(|_| Error::out_of_memory("zeros", bytes as u128, what()))?;
        Ok(Self::with_storage(Storage::Cpu(storage), shape, ctx, dtype))
    }

    /// An array over host data; the storage's length must match the shape.
    pub fn from_cpu(data: CpuStorage, shape: &[usize], ctx: Context) -> Result<NDArray> {
        ctx.check_available()?;
        if Some(data.len()) != checked_size("array", shape).ok() {
            return Err(Error::shape(
                "array",
                format!("{} elements cannot have shape {}", data.len(), fmt_shape(shape)),
            ));
        }
        let dtype = data.dtype();
        if !ctx.is_host() {
            let d = DeviceStorage::upload(ctx.dev_id, &data, 0, data.len())?;
            return Ok(Self::with_storage(Storage::Device(d), shape, ctx, dtype));
        }
        Ok(Self::with_storage(Storage::Cpu(data), shape, ctx, dtype))
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    /// The element type.
    pub fn dtype(&self) -> DType {
        self.chunk.dtype
    }
    /// The context.
    pub fn ctx(&self) -> Context {
        self.chunk.ctx
    }
    /// Number of elements.
    pub fn size(&self) -> usize {
        size_of(&self.shape)
    }
    /// The engine variable of the memory (shared by views).
    pub fn var(&self) -> &Var {
        &self.chunk.var
    }
    /// True when both arrays use the same memory chunk.
    pub fn same_chunk(&self, other: &NDArray) -> bool {
        Arc::ptr_eq(&self.chunk, &other.chunk)
    }
    /// Whether `other` is this very region of the same memory: the same chunk, offset and shape.
    pub fn same_view(&self, other: &NDArray) -> bool {
        self.same_chunk(other) && self.offset == other.offset && self.shape() == other.shape()
    }
    /// Element offset inside the chunk.
    pub fn offset(&self) -> usize {
        self.offset
    }
    /// The autograd slot (`None` outside any graph).
    pub fn autograd_entry(&self) -> Option<&Entry<NDArray>> {
        self.ag.as_ref()
    }
    /// Another handle to the same memory with autograd slot `ag` (`None`: `detach()`).
    pub fn with_entry(&self, ag: Option<Entry<NDArray>>) -> NDArray {
        NDArray { chunk: self.chunk.clone(), offset: self.offset, shape: self.shape.clone(), ag }
    }
    /// Another handle to the same memory outside any graph (`NDArray.detach()`).
    pub fn detach(&self) -> NDArray {
        self.with_entry(None)
    }
    /// True when the array covers its whole chunk.
    pub fn is_whole(&self) -> bool {
        self.offset == 0 && self.size() == self.chunk.len
    }

    /// Block until all pending writes to this array are done; report their failure.
    pub fn wait_to_read(&self) -> Result<()> {
        note_wait();
        engine().wait_for_var(&self.chunk.var).map_err(from_engine)?;
        if !self.ctx().is_host() {
            // The engine has run the ops; the device may still be computing them.
            crate::backend::device::synchronize(self.ctx().dev_id)?;
        }
        Ok(())
    }

    /// [`NDArray::wait_to_read`] if it would not block (no write pending), else `None`.
    pub fn try_wait_to_read(&self) -> Option<Result<()>> {
        let r = engine().poll_var(&self.chunk.var)?;
        note_wait();
        Some(r.map_err(from_engine))
    }

    /// Block until every op pushed so far that reads or writes this array's memory is done (for
    /// a caller that will write it outside the engine, as MXNet's `WaitToWrite`); report a
    /// failure of pending writes. ([`NDArray::wait_to_read`] waits for the writes only.)
    pub fn wait_to_write(&self) -> Result<()> {
        self.wait_to_read()?;
        // A no-op write, ordered after every pending read and write of the chunk.
        engine().push(
            Box::new(|| Ok(())),
            &[],
            std::slice::from_ref(&self.chunk.var),
            self.ctx().engine_device(),
            FnProperty::Wait,
            0,
            "WaitToWrite",
        );
        self.wait_to_read()
    }

    /// Wait, then run `f` on the array's host elements.
    pub fn read_cpu<R>(&self, f: impl FnOnce(&CpuStorage, usize, usize) -> R) -> Result<R> {
        self.wait_to_read()?;
        let g = self.chunk.storage.read();
        if let Storage::Device(d) = &*g {
            let host = d.download(self.offset, self.size())?;
            return Ok(f(&host, 0, self.size()));
        }
        let cpu = g.cpu("asnumpy")?;
        if cpu.len() != self.chunk.len {
            return Err(Error::msg("array memory was never written (its producing op failed)"));
        }
        Ok(f(cpu, self.offset, self.size()))
    }

    /// The address of this array's first element in host memory, for sharing it outside
    /// (DLPack, NumPy views). The caller waits for the engine first (reads or writes, as it
    /// will use the memory). From this call on the buffer stays where it is for the chunk's
    /// lifetime (writes copy into it rather than replace it), so the address stays valid while
    /// the caller keeps a handle to the array.
    pub fn share_host_ptr(&self, op: &str) -> Result<*mut u8> {
        let mut g = self.chunk.storage.write();
        let cpu = g.cpu_mut(op)?;
        if cpu.len() != self.chunk.len {
            return Err(Error::msg(format!("{op}: array memory was never written (its producing op failed)")));
        }
        self.chunk.pinned.store(true, Ordering::Relaxed);
        let es = cpu.dtype().size();
        Ok(cpu.as_bytes_mut()[self.offset * es..].as_mut_ptr())
    }

    /// Run `f` outside the engine on `src`'s host bytes (read) and `dst`'s (written in place,
    /// made first if never written), for a caller such as an MPI collective that reads one
    /// buffer and writes another directly.
    ///
    /// Runs at once when no op pushed on either array is pending or running, else waits for
    /// them first. `f` runs while the engine holds both variables still
    /// ([`mxrs_engine::write_now`]): another thread pushing an op on either array meanwhile
    /// blocks until `f` returns, and the write counts as `dst`'s latest. Fails, without running `f`,
    /// when either array is not in host memory, when they share memory (other than as the very
    /// same view), or when a pending write of `src` failed.
    ///
    /// `f` gets `None` for the source when `src` and `dst` are the same view (in place, as
    /// `MPI_IN_PLACE`): `dst`'s bytes are then the source too.
    pub fn with_host_bytes<R>(
        src: &NDArray,
        dst: &NDArray,
        op: &str,
        f: impl FnOnce(Option<&[u8]>, &mut [u8]) -> R,
    ) -> Result<R> {
        if !src.ctx().is_host() || !dst.ctx().is_host() {
            return Err(Error::Context(format!("{op}: both arrays must be in host memory")));
        }
        if src.same_chunk(dst) && !src.same_view(dst) {
            return Err(Error::msg(format!("{op}: the source and the target share memory")));
        }
        let mut f = Some(f);
        loop {
            // `None`: an op on either array is pending or running (or was pushed by another
            // thread since the waits): wait for them, then try again.
            if let Some(r) = Self::host_bytes_now(src, dst, op, &mut f) {
                return r;
            }
            src.wait_to_read()?;
            dst.wait_to_write()?;
        }
    }

    /// [`NDArray::with_host_bytes`] without waiting: runs `f` (taken from its `Option`) when
    /// no op on either array is pending or running and no failed write left an error on
    /// `src`, else returns `None` with `f` left in place. The arrays are host arrays that do
    /// not share memory, or the very same view (`f` then gets `None` for the source).
    fn host_bytes_now<R>(
        src: &NDArray,
        dst: &NDArray,
        op: &str,
        f: &mut Option<impl FnOnce(Option<&[u8]>, &mut [u8]) -> R>,
    ) -> Option<Result<R>> {
        if src.same_chunk(dst) {
            let run = || {
                let mut d = dst.chunk.storage.write();
                let mut run = || -> Result<R> {
                    let d = d.cpu_mut(op)?;
                    if d.len() != dst.chunk.len {
                        return Err(Error::msg(format!("{op}: the array was never written (its producing op failed)")));
                    }
                    let es = d.dtype().size();
                    let bytes = &mut d.as_bytes_mut()[dst.offset * es..(dst.offset + dst.size()) * es];
                    let f = f.take().ok_or_else(|| Error::msg(format!("internal: {op} ran twice")))?;
                    Ok(f(None, bytes))
                };
                Some(run())
            };
            // The variable is both read and written: a failed earlier write is reported.
            return mxrs_engine::write_now(&[dst.var()], dst.var(), run);
        }
        let run = || {
            let s = src.chunk.storage.read();
            let mut d = dst.chunk.storage.write();
            let mut run = || -> Result<R> {
                let s = s.cpu(op)?;
                if s.len() != src.chunk.len {
                    return Err(Error::msg(format!("{op}: the source was never written (its producing op failed)")));
                }
                let d = d.cpu_mut(op)?;
                if d.len() != dst.chunk.len {
                    *d = CpuStorage::try_zeros(op, dst.chunk.dtype, dst.chunk.len)?;
                }
                let (ss, ds) = (s.dtype().size(), d.dtype().size());
                let send = &s.as_bytes()[src.offset * ss..(src.offset + src.size()) * ss];
                let recv = &mut d.as_bytes_mut()[dst.offset * ds..(dst.offset + dst.size()) * ds];
                let f = f.take().ok_or_else(|| Error::msg(format!("internal: {op} ran twice")))?;
                Ok(f(Some(send), recv))
            };
            Some(run())
        };
        mxrs_engine::write_now(&[src.var()], dst.var(), run)
    }

    /// Copy `src` into `self` at once on this thread when both are host arrays of one dtype
    /// and size, in separate memory, and no op on either is pending or running (true); else
    /// nothing happens (false) and the caller pushes the copy ([`NDArray::copy_from`]). For
    /// copies small enough that handing them to an engine worker costs more than the copy.
    pub fn copy_now(&self, src: &NDArray) -> Result<bool> {
        if !src.ctx().is_host()
            || !self.ctx().is_host()
            || src.dtype() != self.dtype()
            || src.size() != self.size()
            || src.same_chunk(self)
        {
            return Ok(false);
        }
        let mut f = Some(|s: Option<&[u8]>, d: &mut [u8]| {
            if let Some(s) = s {
                crate::backend::cpu::stream::copy_bytes(d, s);
            }
        });
        Self::host_bytes_now(src, self, "copyto", &mut f).transpose().map(|done| done.is_some())
    }

    /// Wait, then copy the elements out as little-endian bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        self.read_cpu(|s, off, n| {
            let es = s.dtype().size();
            s.as_bytes()[off * es..(off + n) * es].to_vec()
        })
    }

    /// Wait, then copy the elements into a new host storage.
    pub fn to_cpu_storage(&self) -> Result<CpuStorage> {
        self.read_cpu(|s, off, n| s.slice_copy(off, n))
    }

    /// A view of rows `[begin, end)` along the first axis (shares memory).
    pub fn slice_axis0(&self, begin: usize, end: usize) -> Result<NDArray> {
        let d0 = *self.shape.first().ok_or_else(|| Error::Index("cannot slice a 0-d array".into()))?;
        if begin > end || end > d0 {
            return Err(Error::Index(format!("slice [{begin}:{end}] is out of bounds for axis 0 of size {d0}")));
        }
        let row: usize = size_of(&self.shape[1..]);
        let mut shape = self.shape.clone();
        shape[0] = end - begin;
        Ok(NDArray { chunk: self.chunk.clone(), offset: self.offset + begin * row, shape, ag: None })
    }

    /// The view `self[i]` along the first axis (shares memory; drops that axis).
    pub fn at(&self, i: usize) -> Result<NDArray> {
        let d0 = *self.shape.first().ok_or_else(|| Error::Index("too many indices for a 0-d array".into()))?;
        if i >= d0 {
            return Err(Error::Index(format!("index {i} is out of bounds for axis 0 with size {d0}")));
        }
        let row: usize = size_of(&self.shape[1..]);
        Ok(NDArray {
            chunk: self.chunk.clone(),
            offset: self.offset + i * row,
            shape: Dims::from_slice(&self.shape[1..]),
            ag: None,
        })
    }

    /// A view with another shape of the same size (shares memory).
    pub fn reshape_view(&self, shape: &[usize]) -> Result<NDArray> {
        if checked_size("reshape", shape)? != self.size() {
            return Err(Error::shape(
                "reshape",
                format!("cannot reshape array of shape {} into shape {}", fmt_shape(&self.shape), fmt_shape(shape)),
            ));
        }
        Ok(NDArray { chunk: self.chunk.clone(), offset: self.offset, shape: Dims::from_slice(shape), ag: None })
    }

    /// Store an op's result into this array's region of its chunk. Called by engine ops only.
    pub(crate) fn write_result(&self, result: CpuStorage) -> Result<()> {
        let result =
            if result.dtype() != self.chunk.dtype { result.cast(0, result.len(), self.chunk.dtype) } else { result };
        self.check_result_len(result.len())?;
        if !self.ctx().is_host() {
            return self.write_device(
                |d| d.write_host(self.offset, &result, 0, result.len()),
                || DeviceStorage::upload(self.ctx().dev_id, &result, 0, result.len()),
            );
        }
        let mut g = self.chunk.storage.write();
        let cpu = g.cpu_mut("write")?;
        if self.is_whole() && !self.chunk.pinned.load(Ordering::Relaxed) {
            crate::pool::give(std::mem::replace(cpu, result));
        } else {
            if cpu.len() != self.chunk.len {
                *cpu = CpuStorage::try_zeros("write", self.chunk.dtype, self.chunk.len)?;
            }
            cpu.copy_in(self.offset, &result)?;
        }
        Ok(())
    }

    /// An op's result must fill this array's region.
    fn check_result_len(&self, n: usize) -> Result<()> {
        if n != self.size() {
            return Err(Error::msg(format!(
                "internal: op produced {n} elements for an output of shape {}",
                fmt_shape(&self.shape)
            )));
        }
        Ok(())
    }

    /// Store a result in device memory into this array's region: `whole` makes the chunk's
    /// new storage when the result is the whole chunk (or the chunk was never written and is
    /// covered), else `part` writes into the existing device storage.
    fn write_device(
        &self,
        part: impl FnOnce(&mut DeviceStorage) -> Result<()>,
        whole: impl FnOnce() -> Result<DeviceStorage>,
    ) -> Result<()> {
        let mut g = self.chunk.storage.write();
        let written = matches!(&*g, Storage::Device(d) if d.len() == self.chunk.len);
        if self.is_whole() {
            *g = Storage::Device(whole()?);
            return Ok(());
        }
        if !written {
            *g = Storage::Device(DeviceStorage::zeros(self.ctx().dev_id, self.chunk.dtype, self.chunk.len)?);
        }
        match &mut *g {
            Storage::Device(d) => part(d),
            Storage::Cpu(_) => Err(Error::msg("internal: host memory in a gpu array")),
        }
    }

    /// Store an op's device result into this array's region. Called by engine ops only.
    pub(crate) fn write_result_device(&self, result: DeviceStorage) -> Result<()> {
        let result = if result.dtype() != self.chunk.dtype {
            let whole = [result.len()];
            let x = DevIn { data: &result, offset: 0, shape: &whole };
            to_device(x, self.chunk.dtype, result.device_id())?
        } else {
            result
        };
        self.check_result_len(result.len())?;
        if self.is_whole() {
            *self.chunk.storage.write() = Storage::Device(result);
            return Ok(());
        }
        let n = result.len();
        self.write_device(
            |d| d.copy_device(self.offset, &result, 0, n),
            || Err(Error::msg("internal: a part of a chunk was taken for the whole")),
        )
    }

    /// Push a copy of `src` into `self` (any contexts; dtypes are converted). Shapes must have
    /// the same number of elements.
    pub fn copy_from(&self, src: &NDArray) -> Result<()> {
        if src.size() != self.size() {
            return Err(Error::shape(
                "copyto",
                format!("source shape {} and target shape {} differ", fmt_shape(&src.shape), fmt_shape(&self.shape)),
            ));
        }
        if self.same_chunk(src) && self.offset == src.offset {
            return Ok(());
        }
        let (s, d) = (src.clone(), self.clone());
        engine().push(
            Box::new(move || copy_body(&s, &d).map_err(|e| Box::new(e) as _)),
            std::slice::from_ref(&src.chunk.var),
            std::slice::from_ref(&self.chunk.var),
            copy_device(src.ctx(), self.ctx()),
            copy_property(src.ctx(), self.ctx(), 2 * self.size()),
            0,
            "copyto",
        );
        Ok(())
    }

    /// Push a write of host data (already converted to this array's dtype) into `self`.
    pub fn write_from_cpu(&self, data: CpuStorage) -> Result<()> {
        if data.len() != self.size() {
            return Err(Error::shape(
                "__setitem__",
                format!("{} values cannot be assigned to an array of shape {}", data.len(), fmt_shape(&self.shape)),
            ));
        }
        let d = self.clone();
        engine().push(
            Box::new(move || d.write_result(data).map_err(|e| Box::new(e) as _)),
            &[],
            std::slice::from_ref(&self.chunk.var),
            self.ctx().engine_device(),
            property_for(self.ctx(), self.size()),
            0,
            "copy_from_host",
        );
        Ok(())
    }
}

/// The engine lane of a copy: the device side's (MXNet runs copies on the GPU's copy workers).
fn copy_device(src: Context, dst: Context) -> mxrs_engine::Device {
    if !dst.is_host() { dst.engine_device() } else { src.engine_device() }
}

fn copy_property(src: Context, dst: Context, elements: usize) -> FnProperty {
    match (src.is_host(), dst.is_host()) {
        (true, true) => property_for(dst, elements),
        (true, false) => FnProperty::CopyToDevice,
        (false, true) => FnProperty::CopyFromDevice,
        (false, false) => FnProperty::Normal,
    }
}

/// The work of a copy between any two contexts, with dtype conversion.
fn copy_body(s: &NDArray, d: &NDArray) -> Result<()> {
    let g = s.chunk.storage.read();
    match &*g {
        Storage::Cpu(cpu) => {
            if cpu.len() != s.chunk.len {
                return Err(Error::msg("copyto: the source was never written (its producing op failed)"));
            }
            let data = cpu.cast_par(crate::backend::cpu::Parallelism::engine_op(), s.offset, s.size(), d.dtype());
            drop(g);
            d.write_result(data)
        }
        Storage::Device(dev) => {
            if dev.len() != s.chunk.len {
                return Err(Error::msg("copyto: the source was never written (its producing op failed)"));
            }
            if d.ctx().is_host() {
                let host = dev.download(s.offset, s.size())?;
                drop(g);
                return d.write_result(host);
            }
            let shape = [s.size()];
            let copy = to_device(DevIn { data: dev, offset: s.offset, shape: &shape }, d.dtype(), d.ctx().dev_id)?;
            drop(g);
            d.write_result_device(copy)
        }
    }
}

/// `x` as `dtype` on device `dev`: the device's cast kernel when `x` is on `dev` and the kernel
/// exists, else through host memory.
fn to_device(x: DevIn<'_>, dtype: DType, dev: u32) -> Result<DeviceStorage> {
    if x.data.device_id() == dev
        && let Some(c) = crate::backend::device::cast(x, dtype)?
    {
        return Ok(c);
    }
    let host = x.data.download(x.offset, x.len())?;
    let host = if host.dtype() != dtype { host.cast(0, host.len(), dtype) } else { host };
    DeviceStorage::upload(dev, &host, 0, host.len())
}

/// Wait for every pushed op; report the errors raised since the last call, once.
pub fn waitall() -> Result<()> {
    note_wait();
    engine().wait_for_all().map_err(from_engine)?;
    crate::backend::device::synchronize_all()
}

#[cfg(test)]
#[path = "ndarray_tests.rs"]
mod tests;
