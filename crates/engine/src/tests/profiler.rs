//! The op profiler: ops are recorded only while it is on, under the name they report.

use crate::profiler::{note_bytes, note_op, set_recording, take_events};
use crate::{Device, FnProperty, Var, create_engine};

#[test]
fn records_ops_only_while_on_with_their_bytes() {
    let eng = create_engine("ThreadedEnginePerDevice").unwrap();
    let v = Var::new();
    let push = |name: &'static str| {
        eng.push(
            Box::new(|| {
                note_bytes(32);
                note_op("renamed", 32);
                Ok(())
            }),
            &[],
            std::slice::from_ref(&v),
            Device::cpu(0),
            FnProperty::Normal,
            0,
            name,
        )
    };
    push("before");
    eng.wait_for_all().unwrap();
    set_recording(true);
    push("profiled_op");
    eng.wait_for_all().unwrap();
    set_recording(false);
    push("after");
    eng.wait_for_all().unwrap();
    let all = take_events();
    assert!(all.iter().all(|e| e.name != "before" && e.name != "after"));
    let ev: Vec<_> = all.into_iter().filter(|e| e.name == "renamed").collect();
    assert_eq!(ev.len(), 1);
    assert_eq!((ev[0].bytes, ev[0].device), (64, Device::cpu(0)));
    assert!(ev[0].dur_us >= 0.0 && ev[0].thread.1.starts_with("mxrs-"));
    assert!(take_events().iter().all(|e| e.name != "renamed"));
}
