//! A process that ends while the global engine still has work pending must exit promptly and
//! cleanly: the engine lives in a static that is never dropped, and nothing waits at exit.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mxrs_engine::{Device, FnProperty, OpFn, Var, engine};

const CHILD_ENV: &str = "MXRS_ENGINE_EXIT_CHILD";

/// In the child process: leave long-running and queued work behind, then return (the test
/// harness then exits the process). In the parent: a no-op.
#[test]
fn exit_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let eng = engine();
    let v = Var::new();
    for i in 0..1000 {
        let op: OpFn = Box::new(move || {
            std::thread::sleep(Duration::from_millis(if i == 0 { 60_000 } else { 10 }));
            Ok(())
        });
        let prop = if i % 2 == 0 { FnProperty::Normal } else { FnProperty::CpuPrioritized };
        eng.push(op, &[], std::slice::from_ref(&v), Device::cpu(0), prop, 0, "slow");
    }
    let gpu: OpFn = Box::new(|| Ok(()));
    eng.push(gpu, std::slice::from_ref(&v), &[], Device::gpu(0), FnProperty::CopyFromDevice, 0, "copy");
}

#[test]
fn process_exits_with_work_pending() {
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args(["--exact", "exit_child", "--test-threads", "1"])
        .env(CHILD_ENV, "1")
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn child");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().expect("poll child") {
            assert!(status.success(), "child exited with {status}");
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process with pending engine work did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
