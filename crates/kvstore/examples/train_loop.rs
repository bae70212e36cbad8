//! The seed tutorial's distributed gradient descent, against the local store:
//!
//! ```c++
//! KVStore kvstore("dist_async");
//! kvstore.set_updater([](NDArray weight, NDArray gradient) { weight -= eta * gradient; });
//! for (int i = 0; i < max_iter; ++i) {
//!    kvstore.pull(network.weight);
//!    network.forward();
//!    network.backward();
//!    kvstore.push(network.gradient);
//! }
//! ```
//!
//! The "network" is a linear regression `y = X w` whose batch is split over two contexts
//! (`cpu(0)` and `cpu(1)` standing in for two GPUs). Every step pulls the weight to both,
//! computes each half's gradient there and pushes both gradients to one key: the store sums
//! them and its updater applies `weight -= eta * gradient`. Nothing waits until the loss is
//! read. Run with `cargo run -p mxrs-kvstore --example train_loop`.

use std::sync::Arc;

use mxrs_kvstore::{Key, create};
use mxrs_ndarray_core::{Attrs, Context, CpuStorage, DType, NDArray, Result, invoke};

/// One data-parallel replica: its part of the batch and its copy of the weight.
struct Replica {
    x: NDArray,
    y: NDArray,
    weight: NDArray,
    gradient: NDArray,
}

fn op(name: &str, attrs: &[(&str, &str)], inputs: &[NDArray]) -> Result<NDArray> {
    Ok(invoke(name, &Attrs::from_pairs(attrs.iter().copied()), inputs, None, None)?.remove(0))
}

impl Replica {
    /// forward: `pred = X w`; backward: `gradient = X^T (pred - y) / batch`.
    fn forward_backward(&self, batch: usize) -> Result<()> {
        let pred = op("dot", &[], &[self.x.clone(), self.weight.clone()])?;
        let err = op("elemwise_sub", &[], &[pred, self.y.clone()])?;
        let g = op("dot", &[("transpose_a", "True")], &[self.x.clone(), err])?;
        let scale = format!("{}", 1.0 / batch as f64);
        invoke(
            "_mul_scalar",
            &Attrs::from_pairs([("scalar", scale.as_str())]),
            &[g],
            Some(std::slice::from_ref(&self.gradient)),
            None,
        )?;
        Ok(())
    }
}

/// Train for `max_iter` steps with learning rate `eta`; returns the final weight and the
/// mean squared error of the first replica's data.
pub fn train(max_iter: usize, eta: f64) -> Result<(Vec<f64>, f64)> {
    let (features, rows_per_replica) = (4, 64);
    let true_w = [1.5f32, -2.0, 0.5, 3.0];
    let kvstore = create("local")?;
    let eta_s = eta.to_string();
    kvstore.set_updater(Some(Arc::new(move |_key: &Key, gradient: &NDArray, weight: &NDArray| {
        // weight -= eta * gradient
        let step = op("_mul_scalar", &[("scalar", eta_s.as_str())], std::slice::from_ref(gradient))?;
        invoke("elemwise_sub", &Attrs::default(), &[weight.clone(), step], Some(std::slice::from_ref(weight)), None)?;
        Ok(())
    })));

    let key = Key::Str("weight".into());
    let replicas: Vec<Replica> = (0..2u32)
        .map(|r| {
            let ctx = Context::cpu(r);
            let mut xs = Vec::with_capacity(rows_per_replica * features);
            let mut ys = Vec::with_capacity(rows_per_replica);
            for i in 0..rows_per_replica {
                let row: Vec<f32> =
                    (0..features).map(|j| (((i * 7 + j * 3 + r as usize * 11) % 17) as f32 - 8.0) / 8.0).collect();
                ys.push(row.iter().zip(&true_w).map(|(a, b)| a * b).sum::<f32>());
                xs.extend(row);
            }
            Ok(Replica {
                x: NDArray::from_cpu(CpuStorage::F32(xs.into()), &[rows_per_replica, features], ctx)?,
                y: NDArray::from_cpu(CpuStorage::F32(ys.into()), &[rows_per_replica, 1], ctx)?,
                weight: NDArray::zeros(&[features, 1], DType::F32, ctx)?,
                gradient: NDArray::zeros(&[features, 1], DType::F32, ctx)?,
            })
        })
        .collect::<Result<_>>()?;
    kvstore.init(std::slice::from_ref(&key), &[NDArray::zeros(&[features, 1], DType::F32, Context::cpu(0))?])?;

    let batch = 2 * rows_per_replica;
    for _ in 0..max_iter {
        let weights: Vec<NDArray> = replicas.iter().map(|r| r.weight.clone()).collect();
        kvstore.pull(std::slice::from_ref(&key), &[weights], 0)?;
        for r in &replicas {
            r.forward_backward(batch)?;
        }
        let grads: Vec<NDArray> = replicas.iter().map(|r| r.gradient.clone()).collect();
        kvstore.push(std::slice::from_ref(&key), &[grads], 0)?;
    }

    let out = NDArray::zeros(&[features, 1], DType::F32, Context::cpu(0))?;
    kvstore.pull(std::slice::from_ref(&key), &[vec![out.clone()]], 0)?;
    let w = out.to_cpu_storage()?;
    let w: Vec<f64> = (0..features).map(|i| w.get_f64(i)).collect();
    let r0 = &replicas[0];
    let pred = op("dot", &[], &[r0.x.clone(), out])?;
    let err = op("elemwise_sub", &[], &[pred, r0.y.clone()])?;
    let mse = op("mean", &[], &[op("square", &[], &[err])?])?.to_cpu_storage()?.get_f64(0);
    Ok((w, mse))
}

#[allow(dead_code)]
fn main() -> Result<()> {
    for iters in [10, 100, 400] {
        let (w, mse) = train(iters, 0.5)?;
        println!("after {iters:>3} steps: weight = {w:.4?}, mse = {mse:.3e}");
    }
    Ok(())
}
