//! Distributed stores over MPI: `dist_sync`, `dist_async` (and the sync aliases `dist`,
//! `dist_sync_device`, `dist_device_sync`).
//!
//! MXNet's roles: workers push gradients and pull weights; servers own the keys (sharded by
//! key, big arrays split over all servers), sum each round's pushes and run the updater (the
//! optimizer the workers send, pickled, with `set_optimizer`). The transport is MPI, opened at
//! run time ([`mpi`]), so a build without MPI works for everything else. Roles come from the MPI
//! ranks and `DMLC_NUM_WORKER` / `DMLC_NUM_SERVER` ([`layout`]).
//!
//! Every process has one communication thread that owns MPI ([`comm`]); a process hosting a
//! server shard answers requests on it ([`server`]). Workers wait for replies with a deadline
//! (`MXNET_KVSTORE_TIMEOUT`), so a lost peer ends in an error, never a hang.
//!
//! `dist_sync` with the servers inside the workers sums pushes with MPI allreduces among the
//! workers instead, each worker running the optimizer itself ([`DistStore::allreduce_keys`]).

mod comm;
mod layout;
mod mpi;
mod server;
mod wire;
mod worker;

use std::time::Duration;

pub use comm::InterruptCheck;
use mxrs_ndarray_core::{Error, Result};
pub use server::Controller;
pub use worker::DistStore;

use self::wire::{Msg, Op};

/// The role of this process in the job: (is a worker, MPI rank, workers, servers); starts MPI.
pub fn role() -> Result<(bool, usize, usize, usize)> {
    let c = comm::get()?;
    let l = c.layout;
    Ok((l.is_worker(), l.rank, l.workers, l.servers))
}

/// The MPI library distributed stores use (family, file, version); loads it, without starting
/// MPI. Fails with `NotSupported`, saying what to install, where there is none.
pub fn mpi_library() -> Result<String> {
    Ok(mpi::Mpi::get()?.describe.clone())
}

/// A worker's distributed store of type `name` (starts MPI on first use).
pub fn create(name: &str) -> Result<DistStore> {
    let c = comm::get()?;
    let l = c.layout;
    if !l.is_worker() {
        return Err(Error::msg(format!(
            "kvstore.create('{name}'): rank {} is a server (ranks {}.. of this job are servers: DMLC_NUM_WORKER={}); \
             servers run the server loop when mxrs is imported",
            l.rank, l.workers, l.workers
        )));
    }
    Ok(DistStore::new(name, c))
}

/// Install (or remove) the check that interrupts waits (every 100 ms; Python's Ctrl-C).
pub fn set_interrupt_check(check: Option<InterruptCheck>) {
    comm::set_interrupt_check(check);
}

/// Install (or remove) the command handler of this process's server shard.
pub fn set_controller(c: Option<Controller>) {
    *server::hooks().controller.write() = c;
}

/// Run this process as a dedicated server until every worker finished, then end MPI.
pub fn run_server() -> Result<()> {
    let c = comm::get()?;
    let l = c.layout;
    if l.is_worker() || !l.dedicated {
        return Err(Error::msg(format!(
            "rank {} is a worker, not a server (the job has {} workers and {} server(s) {})",
            l.rank,
            l.workers,
            l.servers,
            if l.dedicated { "of their own" } else { "inside the workers" }
        )));
    }
    // Host-language work (the optimizer) runs on this thread, the process's main thread.
    let (tx, rx) = std::sync::mpsc::channel::<server::Job>();
    *server::hooks().executor.lock() = Some(tx);
    while !c.shard_done() {
        if let Ok(job) = rx.recv_timeout(Duration::from_millis(5)) {
            job();
        }
    }
    *server::hooks().executor.lock() = None;
    while let Ok(job) = rx.try_recv() {
        job();
    }
    c.finalize(true);
    Ok(())
}

/// End this process's part of the job: a worker tells every server it finished, waits until
/// the shard it hosts (if any) saw every worker finish, then MPI is finalised. With `connect`,
/// MPI is started first if no store was created (a launched worker that never used one).
/// When the servers do not answer in time, the job is aborted (`MPI_Abort`) instead of hanging.
pub fn shutdown(connect: bool) -> Result<()> {
    let c = match (connect, comm::started()) {
        (_, Some(c)) => c,
        (true, None) => comm::get()?,
        (false, None) => return Ok(()),
    };
    let l = c.layout;
    if !l.is_worker() {
        return Ok(());
    }
    let timeout = worker::timeout();
    let ids: Vec<u64> = (0..l.servers)
        .map(|s| {
            let m = Msg { body: c.allreduces().to_le_bytes().to_vec(), ..Msg::bare(Op::Finalize, c.id()) };
            c.request(l.host(s), &m, true);
            m.id
        })
        .collect();
    let acked = c.wait(&ids, timeout, &|| format!("kvstore shutdown on rank {}", l.rank));
    if acked.is_ok() {
        // The shard this worker hosts serves the others until they finish too. No deadline: a
        // peer that dies ends the job (MPI), one stuck in a kvstore call fails within its own
        // timeout and then finishes.
        while l.shard_here().is_some() && !c.shard_done() {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let clean = acked.is_ok();
    if let Err(e) = acked {
        eprintln!("mxrs kvstore: rank {} could not finish cleanly ({e}); aborting the MPI job", l.rank);
    }
    c.finalize(clean);
    Ok(())
}
