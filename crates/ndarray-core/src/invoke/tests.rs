//! Tests of the imperative call: the general way (engine ordering, in-place and update
//! kernels, errors) and where the short way ([`super::small`]) hands calls to it.

use super::*;

fn arr(v: Vec<f32>, shape: &[usize]) -> NDArray {
    NDArray::from_cpu(CpuStorage::F32(v.into()), shape, Context::cpu(0)).unwrap()
}

fn vals(a: &NDArray) -> Vec<f64> {
    let s = a.to_cpu_storage().unwrap();
    (0..s.len()).map(|i| s.get_f64(i)).collect()
}

/// Address of the array's buffer: an in-place op keeps it, the general path swaps it.
fn buffer(a: &NDArray) -> usize {
    a.read_cpu(|s, _, _| match s {
        CpuStorage::F32(v) => v.as_ptr() as usize,
        CpuStorage::I32(v) => v.as_ptr() as usize,
        _ => unreachable!(),
    })
    .unwrap()
}

/// Push an op that writes `x` and fails with "the producer failed".
fn fail_writer(x: &NDArray) {
    engine().push(
        Box::new(|| Err("the producer failed".into())),
        &[],
        std::slice::from_ref(x.var()),
        x.ctx().engine_device(),
        FnProperty::Normal,
        0,
        "failing producer",
    );
}

fn scalar(name: &str, a: &NDArray, s: &str, out: &NDArray) {
    invoke(name, &Attrs::from_pairs([("scalar", s)]), std::slice::from_ref(a), Some(std::slice::from_ref(out)), None)
        .unwrap();
}

#[test]
fn updates_of_a_whole_array_run_in_place() {
    // Large enough for the parallel kernels, odd so that the chunks are uneven.
    let n = 300_001;
    let x = arr((0..n).map(|i| (i % 11) as f32).collect(), &[n]);
    let y = arr((0..n).map(|i| 1.0 + (i % 5) as f32).collect(), &[n]);
    let p = buffer(&x);
    scalar("_plus_scalar", &x, "2", &x);
    scalar("_rminus_scalar", &x, "100", &x);
    scalar("_mul_scalar", &x, "0.5", &x);
    scalar("_rdiv_scalar", &x, "3", &x);
    invoke("broadcast_add", &Attrs::default(), &[x.clone(), y.clone()], Some(std::slice::from_ref(&x)), None).unwrap();
    invoke("elemwise_div", &Attrs::default(), &[x.clone(), y.clone()], Some(std::slice::from_ref(&x)), None).unwrap();
    let got = vals(&x);
    assert_eq!(buffer(&x), p, "the in-place ops replaced the buffer");
    for (i, g) in got.iter().enumerate() {
        let (a, b) = ((i % 11) as f32, 1.0 + (i % 5) as f32);
        let want = (3.0 / ((100.0 - (a + 2.0)) * 0.5) + b) / b;
        assert!((*g as f32 - want).abs() <= 1e-6 * want.abs(), "element {i}: {g} vs {want}");
    }
}

#[test]
fn unary_ops_written_over_their_input_run_in_place() {
    // The vectorised float32 kernels (exp, tanh, sigmoid) and the generic ones, over a
    // length that splits into uneven parallel chunks and stack-buffer pieces.
    let n = 300_001;
    let src: Vec<f32> = (0..n).map(|i| ((i % 97) as f32 - 48.0) / 16.0).collect();
    for name in ["exp", "tanh", "sigmoid", "sqrt", "abs", "negative", "floor"] {
        let x = arr(src.clone(), &[n]);
        let fresh = invoke(name, &Attrs::default(), std::slice::from_ref(&x), None, None).unwrap();
        let p = buffer(&x);
        invoke(name, &Attrs::default(), std::slice::from_ref(&x), Some(std::slice::from_ref(&x)), None).unwrap();
        assert_eq!(buffer(&x), p, "{name} replaced the buffer");
        let (got, want) = (vals(&x), vals(&fresh[0]));
        for i in 0..n {
            assert!(got[i] == want[i] || (got[i].is_nan() && want[i].is_nan()), "{name} element {i}");
        }
    }
    // Activation (what a graph executor runs in place over a batch norm's output), with a NaN.
    for act in ["relu", "tanh", "sigmoid"] {
        let attrs = Attrs::from_pairs([("act_type", act)]);
        let mut v = src.clone();
        v[5] = f32::NAN;
        let x = arr(v, &[n]);
        let fresh = invoke("Activation", &attrs, std::slice::from_ref(&x), None, None).unwrap();
        let p = buffer(&x);
        invoke("Activation", &attrs, std::slice::from_ref(&x), Some(std::slice::from_ref(&x)), None).unwrap();
        assert_eq!(buffer(&x), p, "Activation {act} replaced the buffer");
        let (got, want) = (vals(&x), vals(&fresh[0]));
        for i in 0..n {
            assert!(got[i] == want[i] || (got[i].is_nan() && want[i].is_nan()), "{act} element {i}");
        }
        // Its gradient over the output gradient (a backward pass's in-place step).
        let g = arr((0..n).map(|i| ((i % 13) as f32 - 6.0) / 3.0).collect(), &[n]);
        let ins = [g.clone(), x.clone(), x.clone()];
        let fresh = invoke("_backward_Activation", &attrs, &ins, None, None).unwrap();
        let p = buffer(&g);
        invoke("_backward_Activation", &attrs, &ins, Some(std::slice::from_ref(&g)), None).unwrap();
        assert_eq!(buffer(&g), p, "_backward_Activation {act} replaced the buffer");
        let (got, want) = (vals(&g), vals(&fresh[0]));
        for i in 0..n {
            assert!(got[i] == want[i] || (got[i].is_nan() && want[i].is_nan()), "{act} gradient element {i}");
        }
    }
    let x = NDArray::from_cpu(CpuStorage::I32(vec![-3, 4, -5, 0].into()), &[4], Context::cpu(0)).unwrap();
    let p = buffer(&x);
    invoke("abs", &Attrs::default(), std::slice::from_ref(&x), Some(std::slice::from_ref(&x)), None).unwrap();
    assert_eq!((vals(&x), buffer(&x)), (vec![3.0, 4.0, 5.0, 0.0], p));
}

#[test]
fn in_place_keeps_integer_semantics_and_one_element_operands() {
    let x = NDArray::from_cpu(CpuStorage::I32(vec![7, -7, 9, 0].into()), &[2, 2], Context::cpu(0)).unwrap();
    let p = buffer(&x);
    scalar("_div_scalar", &x, "2", &x);
    let one = NDArray::from_cpu(CpuStorage::I32(vec![3].into()), &[1], Context::cpu(0)).unwrap();
    invoke("broadcast_mul", &Attrs::default(), &[x.clone(), one], Some(std::slice::from_ref(&x)), None).unwrap();
    assert_eq!(vals(&x), [9.0, -9.0, 12.0, 0.0]);
    assert_eq!(buffer(&x), p);
}

#[test]
fn other_updates_take_the_general_path() {
    // x += x: the other operand shares the buffer.
    let x = arr(vec![1.0, 2.0, 3.0, 4.0], &[4]);
    invoke("broadcast_add", &Attrs::default(), &[x.clone(), x.clone()], Some(std::slice::from_ref(&x)), None).unwrap();
    assert_eq!(vals(&x), [2.0, 4.0, 6.0, 8.0]);
    // A view: only its rows change.
    let v = x.slice_axis0(1, 3).unwrap();
    scalar("_plus_scalar", &v, "10", &v);
    assert_eq!(vals(&x), [2.0, 14.0, 16.0, 8.0]);
    // A broadcast row operand (neither one element nor the full size).
    let m = arr(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let row = arr(vec![10.0, 20.0, 30.0], &[3]);
    invoke("broadcast_sub", &Attrs::default(), &[m.clone(), row], Some(std::slice::from_ref(&m)), None).unwrap();
    assert_eq!(vals(&m), [-9.0, -18.0, -27.0, -6.0, -15.0, -24.0]);
    // An op without an in-place kernel, written over its input.
    scalar("_power_scalar", &m, "2", &m);
    assert_eq!(vals(&m)[0], 81.0);
}

#[test]
fn impossible_outputs_fail_at_the_call() {
    let attrs = |pairs: &[(&str, &str)]| Attrs::from_pairs(pairs.iter().copied());
    // Too large for any allocator: out of memory, naming the op and the bytes.
    let e = invoke("_zeros", &attrs(&[("shape", "(4503599627370496,)")]), &[], None, None).unwrap_err();
    assert!(matches!(e, Error::OutOfMemory { bytes, .. } if bytes == 1 << 54), "{e}");
    assert!(e.to_string().contains("_zeros: out of memory: cannot allocate 18014398509481984 bytes"), "{e}");
    let e = invoke("_arange", &attrs(&[("start", "0"), ("stop", "1e15")]), &[], None, None).unwrap_err();
    assert!(e.to_string().contains("cannot allocate 4000000000000000 bytes"), "{e}");
    // Sizes that overflow, and bad dimensions: shape errors.
    let e = invoke("_zeros", &attrs(&[("shape", "(4611686018427387904, 8)")]), &[], None, None).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    let e = invoke("_full", &attrs(&[("shape", "(-1, 2)"), ("value", "1")]), &[], None, None).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    let e = invoke("_arange", &attrs(&[("start", "0"), ("stop", "inf")]), &[], None, None).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    let x = arr(vec![1.0], &[1, 1]);
    let big = attrs(&[("shape", "(1099511627776, 1099511627776)")]);
    let e = invoke("broadcast_to", &big, std::slice::from_ref(&x), None, None).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    // Nothing was pushed for them: the engine and the array still work.
    assert_eq!(vals(&invoke("_plus_scalar", &attrs(&[("scalar", "1")]), &[x], None, None).unwrap()[0]), [2.0]);
}

#[test]
fn failed_producer_is_reported_by_the_in_place_consumer() {
    // An op writing x fails at run time; the in-place update after it must not compute
    // over x but leave the original error for the next read.
    let x = arr(vec![1.0, 2.0], &[2]);
    fail_writer(&x);
    scalar("_plus_scalar", &x, "1", &x);
    let e = x.wait_to_read().unwrap_err().to_string();
    assert!(e.contains("the producer failed"), "{e}");
    // Written again, x is usable.
    x.write_from_cpu(CpuStorage::F32(vec![5.0, 6.0].into())).unwrap();
    scalar("_plus_scalar", &x, "1", &x);
    assert_eq!(vals(&x), [6.0, 7.0]);
}

/// The op `name` without attributes, for the short way ([`small::try_run`]).
fn plain_op(name: &str) -> Box<dyn Operator> {
    (registry().get(name).unwrap().create)(&Attrs::default()).unwrap()
}

#[test]
fn short_way_leaves_an_input_being_written_to_the_queue() {
    let (x, y) = (arr(vec![1.0, 2.0], &[2]), arr(vec![1.0, 1.0], &[2]));
    let target = x.clone();
    engine().push(
        Box::new(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            *target.chunk.storage.write() = Storage::Cpu(CpuStorage::F32(vec![5.0, 6.0].into()));
            Ok(())
        }),
        &[],
        std::slice::from_ref(x.var()),
        x.ctx().engine_device(),
        FnProperty::Normal,
        0,
        "slow producer",
    );
    let ins = [x, y];
    assert!(small::try_run(&*plain_op("elemwise_add"), &ins, None, false).is_none());
    // The call queues behind the write and sees its values.
    assert_eq!(vals(&invoke("elemwise_add", &Attrs::default(), &ins, None, None).unwrap()[0]), [6.0, 7.0]);
}

#[test]
fn short_way_leaves_an_input_with_an_error_to_the_engine() {
    let x = arr(vec![1.0, 2.0], &[2]);
    fail_writer(&x);
    let _ = x.wait_to_read();
    assert!(small::try_run(&*plain_op("relu"), std::slice::from_ref(&x), None, false).is_none());
    let out = invoke("relu", &Attrs::default(), std::slice::from_ref(&x), None, None).unwrap();
    let e = out[0].wait_to_read().unwrap_err().to_string();
    assert!(e.contains("the producer failed"), "{e}");
}

#[test]
fn invoke_small_runs_tiny_ops_outside_recording_only() {
    let (x, y) = (arr(vec![1.0, -2.0, 3.0], &[3]), arr(vec![10.0, 20.0, 30.0], &[3]));
    let add = plain_op("elemwise_add");
    let sum = invoke_small(&*add, &[&x, &y]).expect("ready inputs");
    assert_eq!(vals(&sum), [11.0, 18.0, 33.0]);
    assert!(!sum.same_chunk(&x) && !sum.same_chunk(&y));
    assert_eq!(vals(&invoke_small(&*plain_op("relu"), &[&x]).unwrap()), [1.0, 0.0, 3.0]);
    // Shapes that broadcast are the general call's.
    let one = arr(vec![1.0], &[1]);
    assert!(invoke_small(&*plain_op("broadcast_add"), &[&x, &one]).is_none());
    // While autograd records, the tape needs the general call.
    let was = record::set_recording(true);
    let left = invoke_small(&*add, &[&x, &y]);
    record::set_recording(was);
    assert!(left.is_none());
}

#[test]
fn a_scalar_op_serves_every_dtype() {
    // One op instance keeps its scalar operand for the dtype it first ran on; other dtypes get
    // their own, and in-place runs use the same operand.
    let times = (registry().get("_mul_scalar").unwrap().create)(&Attrs::from_pairs([("scalar", "2.5")])).unwrap();
    let x = arr(vec![1.0, -2.0], &[2]);
    assert_eq!(vals(&invoke_small(&*times, &[&x]).unwrap()), [2.5, -5.0]);
    let ints = NDArray::from_cpu(CpuStorage::I32(vec![4, -6].into()), &[2], Context::cpu(0)).unwrap();
    // The scalar as an int32 is 2, as in MXNet.
    assert_eq!(vals(&invoke_small(&*times, &[&ints]).unwrap()), [8.0, -12.0]);
    let doubles = NDArray::from_cpu(CpuStorage::F64(vec![0.5].into()), &[1], Context::cpu(0)).unwrap();
    let times: Arc<dyn Operator> = Arc::from(times);
    let inout = std::slice::from_ref(&doubles);
    invoke_op_full(times.clone(), inout, Some(inout), None, false).unwrap();
    assert_eq!(vals(&doubles), [1.25]);
    assert_eq!(vals(&invoke_small(&*times, &[&x]).unwrap()), [2.5, -5.0]);
}

#[test]
fn failures_the_light_short_way_leaves_surface_at_the_wait() {
    // A failing kernel: the short way leaves it, the general call runs it, and the error
    // surfaces at the wait.
    let not_pd = arr(vec![-1.0, 0.0, 0.0, -1.0], &[2, 2]);
    let failed = invoke("linalg_potrf", &Attrs::default(), &[not_pd], None, None).unwrap();
    let err = failed[0].wait_to_read().unwrap_err().to_string();
    assert!(err.contains("positive definite"), "{err}");
    // An input that failed (here, or in an op before) fails the light op that reads it.
    let t = invoke("transpose", &Attrs::default(), &failed, None, None).unwrap();
    assert!(t[0].wait_to_read().is_err());
    let x = arr(vec![1.0, 2.0], &[2]);
    fail_writer(&x);
    let s = invoke("sum", &Attrs::default(), std::slice::from_ref(&x), None, None).unwrap();
    assert!(s[0].wait_to_read().unwrap_err().to_string().contains("the producer failed"));
    // The engine goes on: the same ops on good inputs take the short way.
    let ok =
        invoke("dot", &Attrs::default(), &[arr(vec![1.0, 2.0], &[1, 2]), arr(vec![3.0, 4.0], &[2, 1])], None, None);
    assert_eq!(vals(&ok.unwrap()[0]), [11.0]);
}
