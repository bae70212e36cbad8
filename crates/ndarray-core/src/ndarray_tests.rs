//! Tests of [`NDArray`](super::NDArray)'s host memory access and engine waits.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::*;

#[test]
fn wait_to_write_waits_for_pending_reads_too() {
    let a = NDArray::zeros(&[4], DType::F32, Context::cpu(0)).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    // A slow op that only reads `a`: wait_to_read does not wait for it, wait_to_write must.
    engine().push(
        Box::new(move || {
            std::thread::sleep(Duration::from_millis(50));
            flag.store(true, Ordering::SeqCst);
            Ok(())
        }),
        std::slice::from_ref(&a.chunk.var),
        &[],
        a.ctx().engine_device(),
        FnProperty::Normal,
        0,
        "slow_read",
    );
    a.wait_to_write().unwrap();
    assert!(done.load(Ordering::SeqCst), "wait_to_write returned while a read was running");
    // The array is still readable and unchanged.
    assert_eq!(a.to_cpu_storage().unwrap().len(), 4);
}

fn f32s(a: &NDArray) -> Vec<f32> {
    a.to_bytes().unwrap().chunks(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

#[test]
fn host_bytes_reach_regions_and_wait_for_the_engine() {
    let src =
        NDArray::from_cpu(CpuStorage::F32(vec![1f32, 2., 3., 4., 5., 6.].into()), &[2, 3], Context::cpu(0)).unwrap();
    let dst = NDArray::new_pending(&[3, 2], DType::F32, Context::cpu(0)).unwrap();
    // A queued slow write of `src` must land before the call reads it.
    let (s, done) = (src.clone(), Arc::new(AtomicBool::new(false)));
    let flag = done.clone();
    engine().push(
        Box::new(move || {
            std::thread::sleep(Duration::from_millis(30));
            flag.store(true, Ordering::SeqCst);
            s.write_result(CpuStorage::F32(vec![7f32, 8., 9., 10., 11., 12.].into())).map_err(|e| Box::new(e) as _)
        }),
        &[],
        std::slice::from_ref(src.var()),
        src.ctx().engine_device(),
        FnProperty::Normal,
        0,
        "slow_write",
    );
    // The second row of `src` into the first row of a `dst` that was never written.
    let (row, out) = (src.at(1).unwrap(), dst.at(0).unwrap());
    let n = NDArray::with_host_bytes(&row, &out, "test", |send, recv| {
        let send = send.expect("separate arrays");
        recv[..8].copy_from_slice(&send[..8]);
        send.len()
    })
    .unwrap();
    assert!(done.load(Ordering::SeqCst));
    assert_eq!(n, 12);
    assert_eq!(f32s(&dst), [10., 11., 0., 0., 0., 0.]);
    // Shared memory is refused without running `f`.
    let err = NDArray::with_host_bytes(&src, &src.at(0).unwrap(), "test", |_, _| unreachable!()).unwrap_err();
    assert!(err.to_string().contains("share memory"), "{err}");
    // The very same view: in place, after a pending write.
    let (s2, done) = (src.clone(), Arc::new(AtomicBool::new(false)));
    let flag = done.clone();
    engine().push(
        Box::new(move || {
            std::thread::sleep(Duration::from_millis(30));
            flag.store(true, Ordering::SeqCst);
            s2.write_result(CpuStorage::F32(vec![1f32, 2., 3., 20., 11., 12.].into())).map_err(|e| Box::new(e) as _)
        }),
        &[],
        std::slice::from_ref(src.var()),
        src.ctx().engine_device(),
        FnProperty::Normal,
        0,
        "slow_write",
    );
    let row = src.at(1).unwrap();
    NDArray::with_host_bytes(&row, &row.clone(), "test", |send, recv| {
        assert!(send.is_none());
        for b in recv.chunks_mut(4) {
            let v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]) * 2.0;
            b.copy_from_slice(&v.to_le_bytes());
        }
    })
    .unwrap();
    assert!(done.load(Ordering::SeqCst));
    assert_eq!(f32s(&src), [1., 2., 3., 40., 22., 24.]);
}

#[test]
fn copy_now_copies_only_arrays_nothing_else_uses() {
    let src = NDArray::from_cpu(CpuStorage::F32(vec![1f32, 2., 3.].into()), &[3], Context::cpu(0)).unwrap();
    let dst = NDArray::zeros(&[3], DType::F32, Context::cpu(0)).unwrap();
    assert!(dst.copy_now(&src).unwrap());
    assert_eq!(f32s(&dst), [1., 2., 3.]);
    // Another dtype, or the same memory: left to the engine's copy.
    let ints = NDArray::zeros(&[3], DType::I32, Context::cpu(0)).unwrap();
    assert!(!ints.copy_now(&src).unwrap());
    assert!(!src.copy_now(&src.reshape_view(&[1, 3]).unwrap()).unwrap());
    // A read of `dst` still running: nothing happens now.
    let (d, gate) = (dst.clone(), Arc::new(AtomicBool::new(false)));
    let open = gate.clone();
    engine().push(
        Box::new(move || {
            while !open.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
            drop(d);
            Ok(())
        }),
        std::slice::from_ref(dst.var()),
        &[],
        dst.ctx().engine_device(),
        FnProperty::Normal,
        0,
        "held_read",
    );
    let other = NDArray::from_cpu(CpuStorage::F32(vec![7f32, 8., 9.].into()), &[3], Context::cpu(0)).unwrap();
    assert!(!dst.copy_now(&other).unwrap());
    gate.store(true, Ordering::SeqCst);
    dst.wait_to_write().unwrap();
    // The waiter can wake before the engine has released the no-op write it waited for (seen
    // once in CI); the copy happens now as soon as that is done.
    let start = std::time::Instant::now();
    while !dst.copy_now(&other).unwrap() {
        assert!(start.elapsed() < Duration::from_secs(5), "copy_now never found dst free");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(f32s(&dst), [7., 8., 9.]);
}

#[test]
fn host_bytes_report_a_failed_write_of_the_source() {
    let src = NDArray::zeros(&[2], DType::F32, Context::cpu(0)).unwrap();
    let dst = NDArray::zeros(&[2], DType::F32, Context::cpu(0)).unwrap();
    engine().push(
        Box::new(|| Err(Box::new(Error::msg("boom")) as _)),
        &[],
        std::slice::from_ref(src.var()),
        src.ctx().engine_device(),
        FnProperty::Normal,
        0,
        "failing_write",
    );
    let err = NDArray::with_host_bytes(&src, &dst, "test", |_, _| unreachable!()).unwrap_err();
    assert!(err.to_string().contains("boom"), "{err}");
}
