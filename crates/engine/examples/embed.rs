//! The engine on its own, from Rust: two independent chains of ops over two buffers run in
//! parallel, and a third op that reads both waits for the two chains. A failing op shows how
//! an error is reported where its output is read.
//!
//! Run with `cargo run -p mxrs-engine --example embed` (set `MXNET_ENGINE_TYPE` to try
//! another engine).

use std::sync::Arc;

use mxrs_engine::{Device, Engine, FnProperty, OpFn, Var};
use parking_lot::Mutex;

/// A buffer and the engine variable that orders its readers and writers.
#[derive(Clone)]
struct Buffer {
    var: Var,
    data: Arc<Mutex<Vec<i64>>>,
}

impl Buffer {
    fn new(len: usize) -> Buffer {
        Buffer { var: Var::new(), data: Arc::new(Mutex::new(vec![0; len])) }
    }
}

/// Push `f(data)` as an op that writes `buf`.
fn update(eng: &dyn Engine, buf: &Buffer, name: &'static str, f: impl Fn(&mut [i64]) + Send + 'static) {
    let data = buf.data.clone();
    let op: OpFn = Box::new(move || {
        f(&mut data.lock());
        Ok(())
    });
    eng.push(op, &[], std::slice::from_ref(&buf.var), Device::cpu(0), FnProperty::Normal, 0, name);
}

/// Run the example on `eng`; returns the dot product and the error the failing op left.
pub fn run(eng: &dyn Engine) -> (i64, String) {
    const N: usize = 1000;
    let (x, y, out) = (Buffer::new(N), Buffer::new(N), Buffer::new(1));

    // Chain 1 on x and chain 2 on y: no shared variable, so they may run concurrently.
    update(eng, &x, "fill_x", |d| d.iter_mut().enumerate().for_each(|(i, v)| *v = i as i64));
    update(eng, &y, "fill_y", |d| d.iter_mut().enumerate().for_each(|(i, v)| *v = i as i64));
    update(eng, &x, "add_one", |d| d.iter_mut().for_each(|v| *v += 1));
    update(eng, &y, "triple", |d| d.iter_mut().for_each(|v| *v *= 3));

    // The dependent op reads x and y and writes out: it runs after both chains.
    let (dx, dy, dout) = (x.data.clone(), y.data.clone(), out.data.clone());
    let dot: OpFn = Box::new(move || {
        let (a, b) = (dx.lock(), dy.lock());
        dout.lock()[0] = a.iter().zip(b.iter()).map(|(p, q)| p * q).sum();
        Ok(())
    });
    let reads = [x.var.clone(), y.var.clone()];
    eng.push(dot, &reads, std::slice::from_ref(&out.var), Device::cpu(0), FnProperty::Normal, 0, "dot");

    // Reading waits for the writers of `out` only.
    eng.wait_for_var(&out.var).expect("dot ran");
    let result = out.data.lock()[0];

    // An op that fails leaves its error on what it writes; readers get it, once waited for.
    let bad: OpFn = Box::new(|| Err("division by zero".into()));
    let (reads, writes) = ([x.var.clone()], [y.var.clone()]);
    eng.push(bad, &reads, &writes, Device::cpu(0), FnProperty::Normal, 0, "div");
    let err = eng.wait_for_var(&y.var).expect_err("div failed");
    let _ = eng.wait_for_all(); // reports it once more, then the engine is clean
    (result, format!("{} failed: {err}", err.op()))
}

/// The expected dot product: sum over i of (i + 1) * 3i.
pub fn expected() -> i64 {
    (0..1000i64).map(|i| (i + 1) * 3 * i).sum()
}

/// Run the example on the process-wide engine and print what it computed.
pub fn main() {
    let eng = mxrs_engine::engine();
    let (dot, err) = run(eng);
    println!("{}: dot = {dot} (expected {})", eng.name(), expected());
    println!("{err}");
    assert_eq!(dot, expected());
    assert!(eng.wait_for_all().is_ok());
}
