//! Kernel sources and their compilation by NVRTC at first use, cached on disk by source hash,
//! architecture and NVRTC version (no nvcc is needed to build mxrs).

use std::hash::{Hash, Hasher};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use cudarc::nvrtc::{CompileOptions, Ptx};

use crate::error::{Error, Result};

/// One kernel file: its name and text (the shared header is prepended when compiling).
#[derive(Debug)]
pub(crate) struct Source {
    pub(crate) name: &'static str,
    pub(crate) text: &'static str,
}

const COMMON: &str = include_str!("kernels/common.cuh");

macro_rules! sources {
    ($($id:ident = $file:literal),* $(,)?) => {
        $(
            #[doc = concat!("The kernels of `kernels/", $file, "`.")]
            pub(crate) const $id: Source = Source { name: $file, text: include_str!(concat!("kernels/", $file)) };
        )*
        /// Every kernel file, for `make cuda-check` style tests.
        #[allow(dead_code)]
        pub(crate) const ALL: &[&Source] = &[$(&$id),*];
    };
}
sources!(
    UNARY = "unary.cu",
    BINARY = "binary.cu",
    CAST = "cast.cu",
    REDUCE = "reduce.cu",
    NN = "nn.cu",
    OPTIM = "optim.cu",
    RANDOM = "random.cu",
    CONV = "conv.cu",
);

/// The full text NVRTC compiles for `src`.
pub(crate) fn full_text(src: &Source) -> String {
    format!("{COMMON}\n#line 1 \"{}\"\n{}", src.name, src.text)
}

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

/// PTX for `src` on a device of compute capability `arch`; None without NVRTC.
pub(crate) fn compile(src: &Source, arch: (i32, i32)) -> Result<Option<Ptx>> {
    if !nvrtc_present() {
        return Ok(None);
    }
    let text = full_text(src);
    let version = nvrtc_version();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (&text, arch, version).hash(&mut h);
    let key = format!("{}-{:016x}-sm{}{}.ptx", src.name.trim_end_matches(".cu"), h.finish(), arch.0, arch.1);
    let cached = cache_dir().map(|d| d.join(&key));
    if let Some(p) = &cached
        && let Ok(ptx) = std::fs::read_to_string(p)
    {
        return Ok(Some(Ptx::from_src(ptx)));
    }
    let opts = CompileOptions {
        options: vec![format!("--gpu-architecture=compute_{}{}", arch.0, arch.1), "--std=c++17".to_string()],
        ..Default::default()
    };
    let ptx = catch_unwind(|| cudarc::nvrtc::compile_ptx_with_opts(&text, opts))
        .map_err(|_| Error::Context("NVRTC failed to load".to_string()))?
        .map_err(|e| Error::msg(format!("internal: NVRTC could not compile {}: {e}", src.name)))?;
    if let Some(p) = &cached {
        // A cache that cannot be written only costs a compile next time.
        let _ = p.parent().map(std::fs::create_dir_all);
        let tmp = p.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, ptx.to_src()).is_ok() {
            let _ = std::fs::rename(&tmp, p);
        }
    }
    Ok(Some(ptx))
}
