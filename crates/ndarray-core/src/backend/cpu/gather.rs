//! Strided gathers: the one kernel behind transpose, strided slicing, broadcast_to, tile and
//! repeat. The source is contiguous; the output walks it with arbitrary (even zero) strides.

use rayon::prelude::*;

use super::{PAR_CHUNK, Parallelism};

/// Copy the elements of a strided view of `src` into a new contiguous vector. The view starts
/// at `offset` and has `shape` with per-axis `strides` (in elements; 0 repeats an element).
pub fn gather<T: crate::storage::StorageElement + Send + Sync>(
    par: Parallelism,
    src: &[T],
    offset: usize,
    shape: &[usize],
    strides: &[isize],
) -> Vec<T> {
    let n: usize = shape.iter().product();
    if n == 0 {
        return Vec::new();
    }
    if shape.is_empty() {
        return vec![src[offset]];
    }
    // Every element is written below, so a pooled buffer with stale content is fine.
    let mut out: Vec<T> = crate::pool::alloc(n);
    let buf = out.as_mut_slice();
    if par.split(n) {
        buf.par_chunks_mut(PAR_CHUNK).enumerate().for_each(|(ci, chunk)| {
            fill(src, offset, shape, strides, ci * PAR_CHUNK, chunk);
        });
    } else {
        fill(src, offset, shape, strides, 0, buf);
    }
    out
}

/// Write view elements `[start, start+dst.len())` (in row-major order) into `dst`.
fn fill<T: Copy>(src: &[T], offset: usize, shape: &[usize], strides: &[isize], start: usize, dst: &mut [T]) {
    let nd = shape.len();
    let mut idx = vec![0usize; nd];
    let mut rem = start;
    for ax in (0..nd).rev() {
        idx[ax] = rem % shape[ax];
        rem /= shape[ax];
    }
    let mut pos: isize = offset as isize + idx.iter().zip(strides).map(|(&i, &s)| i as isize * s).sum::<isize>();
    let last = shape[nd - 1];
    let ls = strides[nd - 1];
    let mut k = 0;
    while k < dst.len() {
        let run = (last - idx[nd - 1]).min(dst.len() - k);
        if ls == 1 {
            let p = pos as usize;
            dst[k..k + run].copy_from_slice(&src[p..p + run]);
        } else {
            let mut p = pos;
            for d in &mut dst[k..k + run] {
                *d = src[p as usize];
                p += ls;
            }
        }
        k += run;
        pos += run as isize * ls;
        idx[nd - 1] += run;
        // carry
        let mut ax = nd - 1;
        while idx[ax] == shape[ax] && ax > 0 {
            pos -= shape[ax] as isize * strides[ax];
            idx[ax] = 0;
            ax -= 1;
            idx[ax] += 1;
            pos += strides[ax];
        }
    }
}

/// Strides that broadcast a contiguous array of `shape` to `out_shape` (right-aligned; size-1
/// axes get stride 0).
pub fn broadcast_strides(shape: &[usize], out_shape: &[usize]) -> Vec<isize> {
    let cs = crate::shape::strides_of(shape);
    let off = out_shape.len() - shape.len();
    (0..out_shape.len()).map(|i| if i < off || shape[i - off] == 1 { 0 } else { cs[i - off] as isize }).collect()
}

/// Transpose a contiguous array of `shape` by `axes`.
pub fn transpose<T: crate::storage::StorageElement + Send + Sync>(
    par: Parallelism,
    src: &[T],
    shape: &[usize],
    axes: &[usize],
) -> Vec<T> {
    let cs = crate::shape::strides_of(shape);
    let out_shape: Vec<usize> = axes.iter().map(|&a| shape[a]).collect();
    let strides: Vec<isize> = axes.iter().map(|&a| cs[a] as isize).collect();
    gather(par, src, 0, &out_shape, &strides)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_2d() {
        let v: Vec<i32> = (0..6).collect();
        assert_eq!(transpose(Parallelism::SERIAL, &v, &[2, 3], &[1, 0]), vec![0, 3, 1, 4, 2, 5]);
    }

    #[test]
    fn broadcast_and_steps() {
        let v = vec![1, 2, 3];
        let s = broadcast_strides(&[3], &[2, 3]);
        assert_eq!(gather(Parallelism::SERIAL, &v, 0, &[2, 3], &s), vec![1, 2, 3, 1, 2, 3]);
        let v: Vec<i32> = (0..10).collect();
        assert_eq!(gather(Parallelism::SERIAL, &v, 9, &[4], &[-2]), vec![9, 7, 5, 3]);
    }

    #[test]
    fn parallel_matches_serial() {
        let shape = [300, 257];
        let v: Vec<i32> = (0..300 * 257).collect();
        let t = transpose(Parallelism::whole_pool(), &v, &shape, &[1, 0]);
        for i in 0..257 {
            for j in 0..300 {
                assert_eq!(t[i * 300 + j], v[j * 257 + i]);
            }
        }
    }
}
