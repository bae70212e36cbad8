//! `mx.rtc`: a kernel the user compiled at run time, launched on arrays of one GPU as an engine
//! op. The op reads the arrays passed as `const` pointers and writes the others, so it is
//! ordered with every other op on those arrays; the kernel itself is queued on the device's
//! stream, and a fault in it is reported at the next sync point.

use std::sync::Arc;

use mxrs_engine::{FnProperty, Var, engine};

use crate::backend::device::{self, RtcArg, RtcLaunch};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::ndarray::NDArray;
use crate::storage::Storage;

/// One argument of a run-time kernel, in the order of its C signature.
#[derive(Debug, Clone)]
pub enum RtcValue {
    /// An array passed as a pointer to its first element; `writes` is false for `const`
    /// pointers.
    Array {
        /// The array (on the launch's GPU, of the pointer's dtype).
        array: NDArray,
        /// Whether the kernel may write it.
        writes: bool,
    },
    /// A scalar of the signature's type.
    Scalar(RtcArg),
}

/// Push a launch of kernel `name` of the PTX `ptx` on `gpu(dev)` with `args`.
pub fn rtc_launch(dev: u32, ptx: Arc<str>, name: String, args: Vec<RtcValue>, cfg: RtcLaunch) -> Result<()> {
    let ctx = Context::gpu(dev);
    ctx.check_available()?;
    let mut reads: Vec<&NDArray> = Vec::new();
    let mut writes: Vec<&NDArray> = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if let RtcValue::Array { array, writes: w } = a {
            if array.ctx() != ctx {
                return Err(Error::msg(format!(
                    "rtc: kernel {name}: argument {i} is on {}, the launch is on {ctx}",
                    array.ctx()
                )));
            }
            if *w { writes.push(array) } else { reads.push(array) }
        }
    }
    let write_vars: Vec<Var> = unique_vars(&writes, &[]);
    let read_vars: Vec<Var> = unique_vars(&reads, &writes);
    engine().push(
        Box::new(move || launch_body(dev, &ptx, &name, &args, cfg).map_err(|e| Box::new(e) as _)),
        &read_vars,
        &write_vars,
        ctx.engine_device(),
        FnProperty::Light,
        0,
        "rtc_launch",
    );
    Ok(())
}

/// The engine variables of `arrays`, once each, leaving out those of `except`.
fn unique_vars(arrays: &[&NDArray], except: &[&NDArray]) -> Vec<Var> {
    let mut out: Vec<&NDArray> = Vec::new();
    for a in arrays {
        if !except.iter().any(|e| e.same_chunk(a)) && !out.iter().any(|o| o.same_chunk(a)) {
            out.push(a);
        }
    }
    out.iter().map(|a| a.chunk.var.clone()).collect()
}

fn launch_body(dev: u32, ptx: &str, name: &str, args: &[RtcValue], cfg: RtcLaunch) -> Result<()> {
    let mut raw = Vec::with_capacity(args.len());
    for a in args {
        match a {
            RtcValue::Scalar(s) => raw.push(*s),
            RtcValue::Array { array, .. } => {
                let storage = array.chunk.storage.read();
                match &*storage {
                    Storage::Device(d) => raw.push(RtcArg::Ptr(d.address(array.offset))),
                    Storage::Cpu(_) => {
                        return Err(Error::msg(format!("rtc: kernel {name}: an argument is in host memory")));
                    }
                }
            }
        }
    }
    device::rtc_launch(dev, ptx, name, &raw, cfg)
}
