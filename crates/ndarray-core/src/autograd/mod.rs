//! Imperative autograd (`mx.autograd`): a tape recorded by the imperative call and walked
//! backwards with the registry's gradient functions.
//!
//! Layers, top to bottom: `backward.rs` (the reverse walk, above [`crate::eager_grad`] and
//! [`crate::invoke()`]), `record.rs` (the thread's recording and training flags and the
//! functions that add nodes, which `invoke` calls), `node.rs` (the node types; generic over
//! the array type, so that `NDArray`'s autograd slot can name them from below).
//!
//! Recording costs nothing while off: `invoke` reads one thread-local flag. While on, each op
//! call adds one node holding the op instance, its attributes, its inputs (whose own autograd
//! slots are the graph's edges) and its outputs, and points the outputs' slots at it. A node
//! lives as long as some array or later node refers to it; backward without `retain_graph`
//! releases what every node it walked saved.

pub mod backward;
pub mod node;
pub mod record;
#[cfg(test)]
mod tests;

pub use backward::{BackwardOptions, backward};
pub use node::{CustomBackward, Entry, GradReq};
pub use record::{is_recording, is_training, set_recording, set_training};
