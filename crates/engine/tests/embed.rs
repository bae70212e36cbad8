//! Keeps `examples/embed.rs` working: runs its code on every engine.

#[allow(dead_code)]
#[path = "../examples/embed.rs"]
mod embed;

use std::sync::mpsc;
use std::time::Duration;

use mxrs_engine::create_engine;

#[test]
fn embed_example_runs_on_every_engine() {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for name in ["", "ThreadedEngine", "NaiveEngine"] {
            let eng = create_engine(name).expect("known engine");
            let (dot, err) = embed::run(&*eng);
            assert_eq!(dot, embed::expected(), "{name}");
            assert_eq!(err, "div failed: division by zero");
            assert!(eng.wait_for_all().is_ok());
        }
        embed::main(); // the global engine, as `cargo run --example embed` does
        tx.send(()).unwrap();
    });
    rx.recv_timeout(Duration::from_secs(60)).expect("example finished (or panicked) in time");
}
