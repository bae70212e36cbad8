//! The running-op count behind kernels' thread budgets, in a process of its own (the counts are
//! process-wide, so the library's other tests would disturb them).

use std::sync::{Arc, Mutex};

use mxrs_engine::{Device, Engine, FnProperty, Var, create_engine, others_running, running_ops};

/// What an op saw: its label, `running_ops()` and `others_running()`.
type Seen = Arc<Mutex<Vec<(&'static str, usize, bool)>>>;

fn record(what: &'static str, seen: &Seen) {
    seen.lock().unwrap().push((what, running_ops(), others_running()));
}

/// Push a light op that records what it sees as `what`.
fn push_light(eng: &dyn Engine, seen: &Seen, what: &'static str) {
    let s = seen.clone();
    eng.push(
        Box::new(move || {
            record(what, &s);
            Ok(())
        }),
        &[],
        &[Var::new()],
        Device::cpu(0),
        FnProperty::Light,
        0,
        "light",
    );
}

#[test]
fn light_ops_leave_the_running_count_alone() {
    let eng: Arc<dyn Engine> = Arc::from(create_engine("NaiveEngine").expect("known engine"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let outer = Var::new();
    let (s, e) = (seen.clone(), eng.clone());
    eng.push(
        Box::new(move || {
            record("normal", &s);
            // The naive engine runs a pushed op at once, here: a light op inside a counted one.
            push_light(&*e, &s, "light inside");
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
    push_light(&*eng, &seen, "light alone");
    eng.wait_for_all().unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [("normal", 1, false), ("light inside", 1, true), ("normal again", 1, false), ("light alone", 0, false)]
    );
    assert_eq!(running_ops(), 0);
}
