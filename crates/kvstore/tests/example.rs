//! Builds and runs the `train_loop` example (the seed's KVStore training loop).

#[path = "../examples/train_loop.rs"]
mod train_loop;

#[test]
fn train_loop_converges() {
    let (w, mse) = train_loop::train(400, 0.5).unwrap();
    let want = [1.5, -2.0, 0.5, 3.0];
    for (a, b) in w.iter().zip(want) {
        assert!((a - b).abs() < 1e-2, "weight {w:?}, want {want:?}");
    }
    assert!(mse < 1e-4, "mse {mse}");
}
