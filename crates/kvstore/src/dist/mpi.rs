//! MPI, opened at run time.
//!
//! The wheel must import and work on machines without MPI, so `libmpi` is not linked: it is
//! opened with `dlopen` the first time a distributed store is created (`MXRS_MPI_LIBRARY`
//! names the file; otherwise `libmpi.so.40` (Open MPI 3-5), `libmpi.so.12` (MPICH 3-4, Intel
//! MPI, MVAPICH) and `libmpi.so` are tried). MPI has no common binary interface before MPI 5,
//! so the few handles used here are resolved per family: in Open MPI, handles are pointers to
//! exported globals (`ompi_mpi_comm_world`...); in the MPICH family, they are fixed integers.
//! Both are passed as a pointer-sized integer, which the C calling conventions of x86-64 and
//! AArch64 pass in one register or stack slot, the callee reading the low 32 bits for an `int`.
//!
//! Only the calls the kvstore needs exist: thread init, rank/size, `Isend`/`Test`,
//! `Iprobe`/`Get_count`/`Recv`, `Iallreduce`/`Allreduce`, `Abort`, `Finalize`. Open MPI 4.1 is tested in CI; MPICH 4.0
//! (Debian's `libmpich12`, started by `mpiexec.hydra`) was checked by hand with the same
//! scenarios (co-located and dedicated servers, the allreduce path, and `mxrs.launch --mpirun
//! mpiexec.hydra`).

use std::ffi::{c_char, c_int, c_void};
use std::sync::OnceLock;

use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};
use mxrs_ndarray_core::{Error, Result};

/// An MPI handle (communicator, datatype, request) of either family.
pub(crate) type Handle = usize;

/// `MPI_Status` of either family (Open MPI: 24 bytes, MPICH: 20 bytes), with room to spare.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Status([c_int; 8]);

type InitThreadFn = unsafe extern "C" fn(*mut c_int, *mut *mut *mut c_char, c_int, *mut c_int) -> c_int;
type IntOutFn = unsafe extern "C" fn(*mut c_int) -> c_int;
type VoidFn = unsafe extern "C" fn() -> c_int;
type CommIntFn = unsafe extern "C" fn(Handle, *mut c_int) -> c_int;
type IsendFn = unsafe extern "C" fn(*const c_void, c_int, Handle, c_int, c_int, Handle, *mut Handle) -> c_int;
type IprobeFn = unsafe extern "C" fn(c_int, c_int, Handle, *mut c_int, *mut Status) -> c_int;
type RecvFn = unsafe extern "C" fn(*mut c_void, c_int, Handle, c_int, c_int, Handle, *mut Status) -> c_int;
type TestFn = unsafe extern "C" fn(*mut Handle, *mut c_int, *mut Status) -> c_int;
type GetCountFn = unsafe extern "C" fn(*const Status, Handle, *mut c_int) -> c_int;
type AbortFn = unsafe extern "C" fn(Handle, c_int) -> c_int;
type LibVersionFn = unsafe extern "C" fn(*mut c_char, *mut c_int) -> c_int;
type IallreduceFn =
    unsafe extern "C" fn(*const c_void, *mut c_void, c_int, Handle, Handle, Handle, *mut Handle) -> c_int;
type AllreduceFn = unsafe extern "C" fn(*const c_void, *mut c_void, c_int, Handle, Handle, Handle) -> c_int;

/// The element types and operations of allreduces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Elem {
    F32,
    F64,
    I8,
    U8,
    I32,
    I64,
}

impl Elem {
    /// The MPI element type of `dtype`, if MPI has one (`float16` has none).
    pub(crate) fn of(dtype: mxrs_ndarray_core::DType) -> Option<Elem> {
        use mxrs_ndarray_core::DType as D;
        Some(match dtype {
            D::F32 => Elem::F32,
            D::F64 => Elem::F64,
            D::I8 => Elem::I8,
            D::U8 => Elem::U8,
            D::I32 => Elem::I32,
            D::I64 => Elem::I64,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            Elem::I8 | Elem::U8 => 1,
            Elem::F32 | Elem::I32 => 4,
            Elem::F64 | Elem::I64 => 8,
        }
    }
}

/// Reduction operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReduceOp {
    Sum,
    Max,
}

/// `MPI_THREAD_SERIALIZED` (the same in both families): one thread at a time calls MPI (the
/// comm thread, or a worker running an allreduce, each holding the endpoint's MPI lock).
const THREAD_SERIALIZED: c_int = 2;

/// The MPI library and the handles of its family.
#[derive(Debug)]
pub(crate) struct Mpi {
    /// Open MPI or MPICH family, and the library file.
    pub(crate) describe: String,
    comm_world: Handle,
    byte: Handle,
    any_source: c_int,
    /// Index of `MPI_SOURCE` and `MPI_TAG` in [`Status`].
    source_at: usize,
    /// Element types in [`Elem`]'s order, then `MPI_SUM`, `MPI_MAX`.
    elems: [Handle; 6],
    ops: [Handle; 2],
    /// `MPI_IN_PLACE` (Open MPI: 1, MPICH: -1).
    in_place: usize,
    fns: Fns,
    _lib: Library,
}

#[derive(Debug)]
struct Fns {
    init_thread: InitThreadFn,
    initialized: IntOutFn,
    finalize: VoidFn,
    rank: CommIntFn,
    size: CommIntFn,
    isend: IsendFn,
    iprobe: IprobeFn,
    recv: RecvFn,
    test: TestFn,
    get_count: GetCountFn,
    abort: AbortFn,
    iallreduce: IallreduceFn,
    allreduce: AllreduceFn,
}

/// How to get MPI, for error messages.
pub(crate) const INSTALL_HINT: &str = "install MPI (Debian/Ubuntu: apt-get install openmpi-bin libopenmpi-dev; \
     or MPICH), or set MXRS_MPI_LIBRARY to the path of libmpi.so, then start the program with \
     `python -m mxrs.launch -n WORKERS -s SERVERS python train.py` or `mpirun -np N python train.py`";

/// Library names tried when `MXRS_MPI_LIBRARY` is not set.
const LIBRARIES: [&str; 4] = ["libmpi.so.40", "libmpi.so.12", "libmpich.so.12", "libmpi.so"];

fn sym<T: Copy>(lib: &Library, name: &str) -> Result<T> {
    // SAFETY: every `T` asked for here is the C signature of the MPI function `name`, as
    // declared by the MPI standard (handles as pointer-sized integers, see the module docs).
    unsafe { lib.get::<T>(name.as_bytes()) }
        .map(|s| *s)
        .map_err(|e| Error::NotSupported(format!("the MPI library has no {name}: {e}")))
}

/// The address of an exported global (an Open MPI predefined handle), if present.
fn global(lib: &Library, name: &str) -> Option<Handle> {
    // SAFETY: only the symbol's address is taken; nothing is read through it here.
    unsafe { lib.get::<*mut c_void>(name.as_bytes()) }.ok().map(|s| s.into_raw() as Handle)
}

/// Whether the version string names an MPICH-family library.
fn is_mpich(version: &str) -> bool {
    ["MPICH", "INTEL", "MVAPICH", "CRAY"].iter().any(|k| version.to_uppercase().contains(k))
}

fn open_library() -> Result<(Library, String)> {
    let names: Vec<String> = match std::env::var("MXRS_MPI_LIBRARY") {
        Ok(p) if !p.is_empty() => vec![p],
        _ => LIBRARIES.iter().map(|s| s.to_string()).collect(),
    };
    let mut errors = Vec::new();
    for n in &names {
        // SAFETY: opening an MPI library runs its initialisers, which only set up MPI's own
        // state. RTLD_GLOBAL: Open MPI's plugins resolve libmpi's symbols globally.
        match unsafe { Library::open(Some(n), RTLD_NOW | RTLD_GLOBAL) } {
            Ok(lib) => return Ok((lib, n.clone())),
            Err(e) => errors.push(format!("{e}")),
        }
    }
    Err(Error::NotSupported(format!(
        "distributed kvstore needs MPI, which could not be loaded ({}); {INSTALL_HINT}",
        errors.join("; ")
    )))
}

fn library_version(lib: &Library) -> String {
    let Ok(f) = sym::<LibVersionFn>(lib, "MPI_Get_library_version") else {
        return String::new();
    };
    let mut buf = vec![0 as c_char; 8192];
    let mut len: c_int = 0;
    // SAFETY: MPI_Get_library_version may be called before MPI_Init and writes at most
    // MPI_MAX_LIBRARY_VERSION_STRING (8192 in both families) characters.
    unsafe { f(buf.as_mut_ptr(), &mut len) };
    let bytes: Vec<u8> = buf[..len.clamp(0, 8192) as usize].iter().map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).lines().next().unwrap_or("").to_string()
}

impl Mpi {
    fn load() -> Result<Mpi> {
        let (lib, file) = open_library()?;
        let version = library_version(&lib);
        let (comm_world, byte, any_source, source_at, family) =
            match (global(&lib, "ompi_mpi_comm_world"), global(&lib, "ompi_mpi_byte")) {
                (Some(c), Some(b)) => (c, b, -1, 0, "Open MPI"),
                _ if is_mpich(&version) => (0x4400_0000, 0x4c00_010d, -2, 2, "MPICH"),
                _ => {
                    return Err(Error::NotSupported(format!(
                        "{file} ({version}) is neither Open MPI nor an MPICH-family library; {INSTALL_HINT}"
                    )));
                }
            };
        let (elems, ops) = if family == "Open MPI" {
            let g = |n: &str| global(&lib, n).ok_or_else(|| Error::NotSupported(format!("{file} has no {n}")));
            let names = ["float", "double", "int8_t", "uint8_t", "int32_t", "int64_t"];
            let mut elems = [0; 6];
            for (e, n) in elems.iter_mut().zip(names) {
                *e = g(&format!("ompi_mpi_{n}"))?;
            }
            (elems, [g("ompi_mpi_op_sum")?, g("ompi_mpi_op_max")?])
        } else {
            // MPICH's mpi.h: MPI_FLOAT, MPI_DOUBLE, MPI_INT8_T, MPI_UINT8_T, MPI_INT32_T,
            // MPI_INT64_T; MPI_SUM, MPI_MAX.
            ([0x4c00_040a, 0x4c00_080b, 0x4c00_0137, 0x4c00_013b, 0x4c00_0439, 0x4c00_083a], [0x5800_0003, 0x5800_0001])
        };
        let fns = Fns {
            init_thread: sym(&lib, "MPI_Init_thread")?,
            initialized: sym(&lib, "MPI_Initialized")?,
            finalize: sym(&lib, "MPI_Finalize")?,
            rank: sym(&lib, "MPI_Comm_rank")?,
            size: sym(&lib, "MPI_Comm_size")?,
            isend: sym(&lib, "MPI_Isend")?,
            iprobe: sym(&lib, "MPI_Iprobe")?,
            recv: sym(&lib, "MPI_Recv")?,
            test: sym(&lib, "MPI_Test")?,
            get_count: sym(&lib, "MPI_Get_count")?,
            abort: sym(&lib, "MPI_Abort")?,
            iallreduce: sym(&lib, "MPI_Iallreduce")?,
            allreduce: sym(&lib, "MPI_Allreduce")?,
        };
        Ok(Mpi {
            describe: format!("{family} ({file}: {version})"),
            comm_world,
            byte,
            any_source,
            source_at,
            elems,
            ops,
            in_place: if family == "Open MPI" { 1 } else { usize::MAX },
            fns,
            _lib: lib,
        })
    }

    /// The process's MPI library, opened once.
    pub(crate) fn get() -> Result<&'static Mpi> {
        static MPI: OnceLock<std::result::Result<Mpi, Error>> = OnceLock::new();
        MPI.get_or_init(Mpi::load).as_ref().map_err(Clone::clone)
    }

    fn check(&self, what: &str, rc: c_int) -> Result<()> {
        if rc != 0 {
            return Err(Error::msg(format!("{what} failed with MPI error code {rc}")));
        }
        Ok(())
    }

    /// `MPI_Init_thread(SERIALIZED)` unless MPI is already initialised (by mpi4py, say);
    /// returns (rank, size, whether MPI was initialised here and so is finalised here).
    pub(crate) fn init(&self) -> Result<(usize, usize, bool)> {
        let mut flag: c_int = 0;
        // SAFETY: MPI_Initialized may be called at any time and writes one int.
        self.check("MPI_Initialized", unsafe { (self.fns.initialized)(&mut flag) })?;
        if flag == 0 {
            let mut provided: c_int = 0;
            // SAFETY: argc/argv may be NULL (MPI-2); `provided` is a valid int.
            let rc = unsafe {
                (self.fns.init_thread)(std::ptr::null_mut(), std::ptr::null_mut(), THREAD_SERIALIZED, &mut provided)
            };
            self.check("MPI_Init_thread", rc)?;
        }
        let (mut rank, mut size): (c_int, c_int) = (0, 0);
        // SAFETY: MPI is initialised; both write one int.
        unsafe {
            self.check("MPI_Comm_rank", (self.fns.rank)(self.comm_world, &mut rank))?;
            self.check("MPI_Comm_size", (self.fns.size)(self.comm_world, &mut size))?;
        }
        Ok((rank as usize, size as usize, flag == 0))
    }

    /// Start sending `buf` to `dest`; the buffer must live until [`Mpi::test`] says done.
    pub(crate) fn isend(&self, buf: &[u8], dest: usize, tag: i32) -> Result<Handle> {
        let n = c_int::try_from(buf.len())
            .map_err(|_| Error::msg(format!("a kvstore message of {} bytes is over MPI's 2 GiB limit", buf.len())))?;
        let mut req: Handle = 0;
        // SAFETY: `buf` stays alive (owned by the caller's in-flight list) until the request
        // completes; `req` receives a request handle of either family (the low bytes for MPICH).
        let rc = unsafe {
            (self.fns.isend)(buf.as_ptr().cast(), n, self.byte, dest as c_int, tag, self.comm_world, &mut req)
        };
        self.check("MPI_Isend", rc)?;
        Ok(req)
    }

    /// Start an allreduce over every rank of `send` (elements of type `elem`) into `recv`, of
    /// the same length (`send` None: `recv` in place); both buffers must live until
    /// [`Mpi::test`] says done.
    ///
    /// # Safety
    /// Both buffers must stay alive and unmoved, and `recv` otherwise untouched, until
    /// [`Mpi::test`] says the request is done (a caller giving up earlier leaks them).
    pub(crate) unsafe fn iallreduce(
        &self,
        send: Option<&[u8]>,
        recv: &mut [u8],
        elem: Elem,
        op: ReduceOp,
    ) -> Result<Handle> {
        let (send, n, dt, op) = self.allreduce_args(send, recv, elem, op)?;
        let mut req: Handle = 0;
        // SAFETY: both buffers (or `recv` and MPI_IN_PLACE) hold `n` elements of `elem` and stay
        // alive until the request completes (this function's contract); `req` receives the
        // handle.
        let rc = unsafe { (self.fns.iallreduce)(send, recv.as_mut_ptr().cast(), n, dt, op, self.comm_world, &mut req) };
        self.check("MPI_Iallreduce", rc)?;
        Ok(req)
    }

    /// `MPI_Allreduce` over every rank of `send` into `recv` (`send` None: in place): returns
    /// when this rank's sum is complete.
    pub(crate) fn allreduce(&self, send: Option<&[u8]>, recv: &mut [u8], elem: Elem, op: ReduceOp) -> Result<()> {
        let (send, n, dt, op) = self.allreduce_args(send, recv, elem, op)?;
        // SAFETY: both buffers (or `recv` and MPI_IN_PLACE) hold `n` elements of `elem` and are
        // borrowed for the whole (blocking) call.
        let rc = unsafe { (self.fns.allreduce)(send, recv.as_mut_ptr().cast(), n, dt, op, self.comm_world) };
        self.check("MPI_Allreduce", rc)
    }

    /// The send pointer (or `MPI_IN_PLACE`), count, datatype and operation of an allreduce.
    fn allreduce_args(
        &self,
        send: Option<&[u8]>,
        recv: &[u8],
        elem: Elem,
        op: ReduceOp,
    ) -> Result<(*const c_void, c_int, Handle, Handle)> {
        let len = recv.len();
        if send.is_some_and(|s| s.len() != len) || !len.is_multiple_of(elem.size()) {
            return Err(Error::msg(format!("allreduce of {:?} bytes into {len} bytes", send.map(<[u8]>::len))));
        }
        let n = c_int::try_from(len / elem.size())
            .map_err(|_| Error::msg(format!("an allreduce of {len} bytes is over MPI's count limit")))?;
        let send: *const c_void = send.map_or(self.in_place as *const c_void, |s| s.as_ptr().cast());
        Ok((send, n, self.elems[elem as usize], self.ops[op as usize]))
    }

    /// True once the request (a send or an allreduce) has completed (MPI then frees it).
    pub(crate) fn test(&self, req: &mut Handle) -> Result<bool> {
        let mut flag: c_int = 0;
        let mut st = Status::default();
        // SAFETY: `req` is a live request from `isend`; MPI_Test writes the flag and status.
        self.check("MPI_Test", unsafe { (self.fns.test)(req, &mut flag, &mut st) })?;
        Ok(flag != 0)
    }

    /// The next incoming message, if one has arrived: (source, tag, bytes).
    pub(crate) fn try_recv(&self) -> Result<Option<(usize, i32, Vec<u8>)>> {
        let mut flag: c_int = 0;
        let mut st = Status::default();
        // SAFETY: MPI_Iprobe writes the flag and the status.
        let rc = unsafe { (self.fns.iprobe)(self.any_source, -1, self.comm_world, &mut flag, &mut st) };
        self.check("MPI_Iprobe", rc)?;
        if flag == 0 {
            return Ok(None);
        }
        let (src, tag) = (st.0[self.source_at], st.0[self.source_at + 1]);
        let mut count: c_int = 0;
        // SAFETY: `st` is the status MPI_Iprobe filled.
        self.check("MPI_Get_count", unsafe { (self.fns.get_count)(&st, self.byte, &mut count) })?;
        let mut buf = vec![0u8; count.max(0) as usize];
        let mut st2 = Status::default();
        // SAFETY: `buf` holds exactly the probed message's `count` bytes; source and tag name
        // the probed message, which only this thread receives.
        let rc =
            unsafe { (self.fns.recv)(buf.as_mut_ptr().cast(), count, self.byte, src, tag, self.comm_world, &mut st2) };
        self.check("MPI_Recv", rc)?;
        Ok(Some((src as usize, tag, buf)))
    }

    /// `MPI_Finalize`.
    pub(crate) fn finalize(&self) -> Result<()> {
        // SAFETY: called once, by the comm thread's owner after the comm thread stopped.
        self.check("MPI_Finalize", unsafe { (self.fns.finalize)() })
    }

    /// `MPI_Abort(COMM_WORLD, code)`: ends every process of the job.
    pub(crate) fn abort(&self, code: i32) {
        // SAFETY: MPI_Abort may be called from any thread once MPI is initialised.
        unsafe { (self.fns.abort)(self.comm_world, code) };
    }
}
