//! Kernel sources and their compilation by NVRTC at first use, cached on disk by source hash,
//! architecture and NVRTC version (no nvcc is needed to build mxrs).

use std::hash::{Hash, Hasher};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use cudarc::nvrtc::Ptx;

use crate::error::{Error, Result};

/// One kernel module: a name, the kernel file's text and the defines it is compiled with (the
/// shared header is prepended when compiling). One file may give several modules.
#[derive(Debug)]
pub(crate) struct Source {
    pub(crate) name: &'static str,
    pub(crate) file: &'static str,
    pub(crate) text: &'static str,
    pub(crate) defines: &'static str,
}

const COMMON: &str = include_str!("kernels/common.cuh");

macro_rules! sources {
    ($($id:ident = $file:literal $(with $defines:literal)?),* $(,)?) => {
        $(
            #[doc = concat!("The kernels of `kernels/", $file, "`", $(" with `", $defines, "`",)? ".")]
            pub(crate) const $id: Source = Source {
                name: concat!($file $(, ":", $defines)?),
                file: $file,
                text: include_str!(concat!("kernels/", $file)),
                defines: concat!("" $(, $defines)?),
            };
        )*
        /// Every kernel module.
        #[allow(dead_code)]
        pub(crate) const ALL: &[&Source] = &[$(&$id),*];
    };
}
sources!(
    UNARY_F32 = "unary.cu" with "#define MXRS_DTYPE 1",
    UNARY_F64 = "unary.cu" with "#define MXRS_DTYPE 2",
    UNARY_F16 = "unary.cu" with "#define MXRS_DTYPE 3",
    UNARY_BF16 = "unary.cu" with "#define MXRS_DTYPE 4",
    BINARY_F32 = "binary.cu" with "#define BINARY_FAMILY 1\n#define MXRS_DTYPE 1",
    BINARY_F64 = "binary.cu" with "#define BINARY_FAMILY 1\n#define MXRS_DTYPE 2",
    BINARY_F16 = "binary.cu" with "#define BINARY_FAMILY 1\n#define MXRS_DTYPE 3",
    BINARY_BF16 = "binary.cu" with "#define BINARY_FAMILY 1\n#define MXRS_DTYPE 4",
    BCAST_F32 = "binary.cu" with "#define BINARY_FAMILY 2\n#define MXRS_DTYPE 1",
    BCAST_F64 = "binary.cu" with "#define BINARY_FAMILY 2\n#define MXRS_DTYPE 2",
    BCAST_F16 = "binary.cu" with "#define BINARY_FAMILY 2\n#define MXRS_DTYPE 3",
    BCAST_BF16 = "binary.cu" with "#define BINARY_FAMILY 2\n#define MXRS_DTYPE 4",
    SCALAR_F32 = "binary.cu" with "#define BINARY_FAMILY 3\n#define MXRS_DTYPE 1",
    SCALAR_F64 = "binary.cu" with "#define BINARY_FAMILY 3\n#define MXRS_DTYPE 2",
    SCALAR_F16 = "binary.cu" with "#define BINARY_FAMILY 3\n#define MXRS_DTYPE 3",
    SCALAR_BF16 = "binary.cu" with "#define BINARY_FAMILY 3\n#define MXRS_DTYPE 4",
    CAST = "cast.cu",
    REDUCE = "reduce.cu",
    NN = "nn.cu",
    OPTIM = "optim.cu",
    RANDOM = "random.cu",
    CONV = "conv.cu",
    LAYOUT = "layout.cu",
    ACTIVATION = "activation.cu",
);

/// The full text NVRTC compiles for `src`: its defines, the shared header, then the file.
pub(crate) fn full_text(src: &Source) -> String {
    format!("{}\n{COMMON}\n#line 1 \"{}\"\n{}", src.defines, src.file, src.text)
}

/// The module of a family compiled for one float dtype (`F32`, `F64`, `F16`, `BF16` in this
/// order), for the float dtype `d`.
pub(crate) fn for_dtype(family: [&'static Source; 4], d: crate::dtype::DType) -> &'static Source {
    use crate::dtype::DType;
    match d {
        DType::F64 => family[1],
        DType::F16 => family[2],
        DType::BF16 => family[3],
        _ => family[0],
    }
}

/// The unary kernels, per float dtype.
pub(crate) const UNARY: [&Source; 4] = [&UNARY_F32, &UNARY_F64, &UNARY_F16, &UNARY_BF16];
/// The same-shape binary kernels, per float dtype.
pub(crate) const BINARY: [&Source; 4] = [&BINARY_F32, &BINARY_F64, &BINARY_F16, &BINARY_BF16];
/// The broadcasting binary kernels, per float dtype.
pub(crate) const BCAST: [&Source; 4] = [&BCAST_F32, &BCAST_F64, &BCAST_F16, &BCAST_BF16];
/// The binary kernels with a scalar operand, per float dtype.
pub(crate) const SCALAR: [&Source; 4] = [&SCALAR_F32, &SCALAR_F64, &SCALAR_F16, &SCALAR_BF16];

/// Whether NVRTC can be loaded; warns once on stderr when not.
fn nvrtc_present() -> bool {
    static PRESENT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PRESENT.get_or_init(|| {
        // SAFETY: only tries to dlopen libnvrtc by its names.
        let ok = catch_unwind(|| unsafe { cudarc::nvrtc::sys::is_culib_present() }).unwrap_or(false);
        if !ok {
            eprintln!(
                "mxrs: NVRTC (libnvrtc.so.13) was not found, so GPU ops run through host memory; \
                 `pip install nvidia-cuda-nvrtc` gives the GPU kernels"
            );
        }
        ok
    })
}

fn cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("MXRS_KERNEL_CACHE") {
        return (!d.is_empty()).then(|| PathBuf::from(d));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("mxrs").join("kernels"))
}

fn nvrtc_version() -> (i32, i32) {
    let (mut major, mut minor) = (0, 0);
    // SAFETY: nvrtcVersion writes two ints; NVRTC was found loadable before this is called.
    let _ = catch_unwind(AssertUnwindSafe(|| unsafe { cudarc::nvrtc::sys::nvrtcVersion(&mut major, &mut minor) }));
    (major, minor)
}

/// Machine code (CUBIN) for `sm_XY` when this NVRTC knows the architecture, else PTX for
/// `compute_XY` (which the driver compiles at load).
enum Image {
    Cubin(Vec<u8>),
    Ptx(String),
}

/// Compile `text` with NVRTC; the error carries NVRTC's log.
fn nvrtc_compile(text: &str, name: &str, arch: (i32, i32)) -> std::result::Result<Image, String> {
    use cudarc::nvrtc::{result, sys};
    let src = std::ffi::CString::new(text).map_err(|e| e.to_string())?;
    let cname = std::ffi::CString::new(name).map_err(|e| e.to_string())?;
    let prog = result::create_program(&src, Some(&cname)).map_err(|e| e.to_string())?;
    let run = |opts: &[String]| -> std::result::Result<(), String> {
        // SAFETY: `prog` is a live program made above and destroyed below.
        unsafe { result::compile_program(prog, opts) }.map_err(|e| {
            // SAFETY: as above; the log exists after a compile.
            let log = unsafe { result::get_program_log(prog) }.unwrap_or_default();
            let bytes: Vec<u8> = log.iter().map(|&c| c as u8).take_while(|&c| c != 0).collect();
            format!("{e}: {}", String::from_utf8_lossy(&bytes))
        })
    };
    let std = "--std=c++17".to_string();
    let out = match run(&[format!("--gpu-architecture=sm_{}{}", arch.0, arch.1), std.clone()]) {
        Ok(()) => {
            let mut size = 0usize;
            // SAFETY: the program compiled to machine code; the buffer gets exactly `size` bytes.
            let cubin = unsafe {
                sys::nvrtcGetCUBINSize(prog, &mut size).result().map_err(|e| e.to_string())?;
                let mut buf = vec![0u8; size];
                sys::nvrtcGetCUBIN(prog, buf.as_mut_ptr().cast()).result().map_err(|e| e.to_string())?;
                buf
            };
            Ok(Image::Cubin(cubin))
        }
        Err(first) => {
            // An architecture newer than this NVRTC: PTX of the newest it knows the driver JITs.
            run(&[format!("--gpu-architecture=compute_{}{}", arch.0, arch.1), std])
                .map_err(|e| format!("{first}; {e}"))?;
            // SAFETY: the program compiled to PTX.
            let ptx = unsafe { result::get_ptx(prog) }.map_err(|e| e.to_string())?;
            let bytes: Vec<u8> = ptx.iter().map(|&c| c as u8).take_while(|&c| c != 0).collect();
            Ok(Image::Ptx(String::from_utf8_lossy(&bytes).into_owned()))
        }
    };
    // SAFETY: destroyed once, after its last use.
    let _ = unsafe { result::destroy_program(prog) };
    out
}

/// The loadable image of `src` on a device of compute capability `arch`: machine code from the
/// disk cache or NVRTC. None without NVRTC.
pub(crate) fn compile(src: &Source, arch: (i32, i32)) -> Result<Option<Ptx>> {
    if !nvrtc_present() {
        return Ok(None);
    }
    let text = full_text(src);
    let version = nvrtc_version();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (&text, arch, version).hash(&mut h);
    let base: String = src.name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    let stem = format!("{base}-{:016x}-sm{}{}", h.finish(), arch.0, arch.1);
    let dir = cache_dir();
    if let Some(d) = &dir {
        if let Ok(bin) = std::fs::read(d.join(format!("{stem}.cubin"))) {
            return Ok(Some(Ptx::from_binary(bin)));
        }
        if let Ok(ptx) = std::fs::read_to_string(d.join(format!("{stem}.ptx"))) {
            return Ok(Some(Ptx::from_src(ptx)));
        }
    }
    let image = catch_unwind(AssertUnwindSafe(|| nvrtc_compile(&text, src.file, arch)))
        .map_err(|_| Error::Context("NVRTC failed to load".to_string()))?
        .map_err(|e| Error::msg(format!("internal: NVRTC could not compile {}: {e}", src.name)))?;
    let (ext, bytes) = match &image {
        Image::Cubin(b) => ("cubin", b.clone()),
        Image::Ptx(p) => ("ptx", p.clone().into_bytes()),
    };
    if let Some(d) = &dir {
        // A cache that cannot be written only costs a compile next time.
        let _ = std::fs::create_dir_all(d);
        let path = d.join(format!("{stem}.{ext}"));
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, &bytes).is_ok() {
            let _ = std::fs::rename(&tmp, &path);
        }
    }
    Ok(Some(match image {
        Image::Cubin(b) => Ptx::from_binary(b),
        Image::Ptx(p) => Ptx::from_src(p),
    }))
}
