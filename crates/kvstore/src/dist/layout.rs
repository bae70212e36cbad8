//! Which MPI ranks are workers and which host server shards.
//!
//! * `DMLC_NUM_WORKER=W` and `DMLC_NUM_SERVER=S` with `W + S` ranks (what `python -m
//!   mxrs.launch -n W -s S` starts): ranks `0..W` are workers (the worker rank is the MPI rank),
//!   ranks `W..W+S` are dedicated server processes, as MXNet's roles.
//! * A plain `mpirun -np N` (neither variable set), or `DMLC_NUM_WORKER=N` with `N` ranks: every
//!   rank is a worker, and each also hosts one server shard on its communication thread
//!   (`N` shards, as MXNet's launcher defaults to as many servers as workers);
//!   `DMLC_NUM_SERVER=S <= N` with `DMLC_NUM_WORKER=N` and `N` ranks puts the `S` shards on
//!   ranks `0..S`.
//! * `DMLC_NUM_SERVER=S` alone with `N > S` ranks: `N - S` workers, `S` dedicated servers.

use mxrs_ndarray_core::{Error, Result};

/// The roles of the job's ranks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    /// This process's MPI rank.
    pub(crate) rank: usize,
    /// Number of workers (ranks `0..workers`).
    pub(crate) workers: usize,
    /// Number of server shards.
    pub(crate) servers: usize,
    /// Whether servers are processes of their own (ranks `workers..`), or live in workers.
    pub(crate) dedicated: bool,
}

fn env_count(name: &str) -> Result<Option<usize>> {
    match std::env::var(name) {
        Err(_) => Ok(None),
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(Error::param("kvstore", format!("{name}={v:?} is not a positive integer"))),
        },
    }
}

impl Layout {
    /// The layout of a job of `size` ranks, from `DMLC_NUM_WORKER` / `DMLC_NUM_SERVER`.
    pub(crate) fn from_env(rank: usize, size: usize) -> Result<Layout> {
        Layout::new(rank, size, env_count("DMLC_NUM_WORKER")?, env_count("DMLC_NUM_SERVER")?)
    }

    /// The layout for the given counts (see the module docs).
    pub(crate) fn new(rank: usize, size: usize, w: Option<usize>, s: Option<usize>) -> Result<Layout> {
        let (workers, servers, dedicated) = match (w, s) {
            (None, None) => (size, size, false),
            (Some(w), None) if w == size => (w, w, false),
            (Some(w), None) if w < size => (w, size - w, true),
            (None, Some(s)) if s < size => (size - s, s, true),
            (Some(w), Some(s)) if w + s == size => (w, s, true),
            (Some(w), Some(s)) if w == size && s <= w => (w, s, false),
            _ => {
                let f = |o: Option<usize>| o.map_or("unset".to_string(), |n| n.to_string());
                return Err(Error::param(
                    "kvstore",
                    format!(
                        "the job has {size} MPI processes but DMLC_NUM_WORKER={} and DMLC_NUM_SERVER={}: start \
                         WORKERS+SERVERS processes (python -m mxrs.launch -n WORKERS -s SERVERS ...), or unset \
                         both to make every process a worker",
                        f(w),
                        f(s)
                    ),
                ));
            }
        };
        Ok(Layout { rank, workers, servers, dedicated })
    }

    /// True when this process is a worker.
    pub(crate) fn is_worker(&self) -> bool {
        self.rank < self.workers
    }

    /// The rank hosting server shard `s`.
    pub(crate) fn host(&self, s: usize) -> usize {
        if self.dedicated { self.workers + s } else { s }
    }

    /// The shard this process hosts, if any.
    pub(crate) fn shard_here(&self) -> Option<usize> {
        if self.dedicated {
            self.rank.checked_sub(self.workers)
        } else {
            (self.rank < self.servers).then_some(self.rank)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        let l = Layout::new(0, 3, None, None).unwrap();
        assert_eq!((l.workers, l.servers, l.dedicated, l.shard_here()), (3, 3, false, Some(0)));
        let l = Layout::new(2, 3, Some(2), Some(1)).unwrap();
        assert_eq!((l.is_worker(), l.shard_here(), l.host(0)), (false, Some(0), 2));
        let l = Layout::new(1, 5, Some(3), None).unwrap();
        assert_eq!((l.workers, l.servers, l.dedicated, l.shard_here()), (3, 2, true, None));
        let l = Layout::new(1, 4, Some(4), Some(2)).unwrap();
        assert_eq!((l.dedicated, l.shard_here(), l.host(1)), (false, Some(1), 1));
        let e = Layout::new(0, 4, Some(2), Some(1)).unwrap_err().to_string();
        assert!(e.contains("4 MPI processes") && e.contains("DMLC_NUM_WORKER=2"), "{e}");
        assert!(Layout::new(0, 2, None, Some(2)).is_err());
    }
}
