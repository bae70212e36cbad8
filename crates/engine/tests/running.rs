//! The running-op count behind kernels' thread budgets, in a process of its own (the counts are
//! process-wide, so the library's other tests would disturb them).

use std::sync::{Arc, Mutex};

use mxrs_engine::{Device, FnProperty, Var, create_engine, others_running, running_ops};

#[test]
fn light_ops_leave_the_running_count_alone() {
    let eng: Arc<dyn mxrs_engine::Engine> = Arc::from(create_engine("NaiveEngine").expect("known engine"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record =
        |what: &'static str, s: &Arc<Mutex<Vec<_>>>| s.lock().unwrap().push((what, running_ops(), others_running()));
    let (s, e) = (seen.clone(), eng.clone());
    let outer = Var::new();
    eng.push(
        Box::new(move || {
            record("normal", &s);
            // The naive engine runs a pushed op at once, here: a light op inside a counted one.
            let s2 = s.clone();
            e.push(
                Box::new(move || {
                    record("light inside", &s2);
                    Ok(())
                }),
                &[],
                &[Var::new()],
                Device::cpu(0),
                FnProperty::Light,
                0,
                "light",
            );
            record("normal again", &s);
            Ok(())
        }),
        &[],
        std::slice::from_ref(&outer),
        Device::cpu(0),
        FnProperty::Normal,
        0,
        "normal",
    );
    let s = seen.clone();
    eng.push(
        Box::new(move || {
            record("light alone", &s);
            Ok(())
        }),
        &[],
        &[Var::new()],
        Device::cpu(0),
        FnProperty::Light,
        0,
        "light",
    );
    eng.wait_for_all().unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [("normal", 1, false), ("light inside", 1, true), ("normal again", 1, false), ("light alone", 0, false)]
    );
    assert_eq!(running_ops(), 0);
}
