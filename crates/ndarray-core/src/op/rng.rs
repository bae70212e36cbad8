//! The per-context random generators behind the sampling ops.
//!
//! Each context has one generator, guarded by an engine variable that every sampling op
//! writes: draws therefore happen in push order, so `mx.random.seed(n)` makes them reproducible
//! whatever the engine's parallelism.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use rand::SeedableRng;

use crate::context::Context;

/// The generator type.
pub type Rng = rand::rngs::StdRng;

/// A context's generator and the engine variable that orders its use.
#[derive(Debug)]
pub struct RngResource {
    /// Written by every op that draws from `rng`.
    pub var: mxrs_engine::Var,
    /// The generator.
    pub rng: Mutex<Rng>,
}

fn seed_for(seed: u64, ctx: Context) -> u64 {
    // Distinct but reproducible streams per device.
    seed ^ ((ctx.dev_type as u64) << 56) ^ ((ctx.dev_id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

fn table() -> &'static Mutex<HashMap<Context, Arc<RngResource>>> {
    static T: OnceLock<Mutex<HashMap<Context, Arc<RngResource>>>> = OnceLock::new();
    T.get_or_init(|| Mutex::new(HashMap::new()))
}

static GLOBAL_SEED: AtomicU64 = AtomicU64::new(0);

/// Record the seed that generators created from now on start from (`mx.random.seed`).
pub fn set_global_seed(seed: u64) {
    GLOBAL_SEED.store(seed, Ordering::SeqCst);
}

/// The generator of `ctx`, created on first use from the last global seed (0 at start).
pub fn resource(ctx: Context) -> Arc<RngResource> {
    table()
        .lock()
        .entry(ctx)
        .or_insert_with(|| {
            let seed = seed_for(GLOBAL_SEED.load(Ordering::SeqCst), ctx);
            Arc::new(RngResource { var: mxrs_engine::Var::new(), rng: Mutex::new(Rng::seed_from_u64(seed)) })
        })
        .clone()
}

/// Every context whose generator exists.
pub fn contexts() -> Vec<Context> {
    table().lock().keys().copied().collect()
}

/// Reseed a generator now (callers order this after pending draws through the engine).
pub fn reseed(res: &RngResource, seed: u64, ctx: Context) {
    *res.rng.lock() = Rng::seed_from_u64(seed_for(seed, ctx));
}
