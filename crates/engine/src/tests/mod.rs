//! In-crate tests of the threaded engines. Every test that could deadlock runs its body under
//! [`util::with_timeout`], so a deadlock fails the test instead of hanging it.

mod equivalence;
mod errors;
mod model;
mod ordering;
mod profiler;
mod stress;
mod util;
