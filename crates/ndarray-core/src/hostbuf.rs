//! [`HostBuf`]: the host memory of one dtype behind a [`crate::CpuStorage`], either a vector mxrs
//! owns or memory another library lent it (a DLPack import), kept alive by an owner object.
//!
//! Both kinds are a pointer and a length, so reading or writing the elements (through
//! `Deref<Target = [T]>`) costs what a `Vec` costs: kernels get plain slices. Operations that
//! change the length (`push`, `resize`...) first turn foreign memory into an owned copy; chunks
//! never change length, so shared memory stays shared.

use std::fmt;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// Who frees the memory of a [`HostBuf`].
enum Owner {
    /// The allocation of a `Vec<T>` of this capacity.
    Vec(usize),
    /// Memory of another library, released when this object is dropped.
    Foreign {
        /// Dropped with the buffer.
        _release: Box<dyn Send + Sync>,
    },
}

/// Host elements of type `T`: an owned vector or foreign memory (see the module's notes).
pub struct HostBuf<T> {
    ptr: NonNull<T>,
    len: usize,
    owner: Owner,
}

// SAFETY: a `HostBuf<T>` owns its elements as a `Vec<T>` does (foreign memory is lent for the
// buffer's lifetime and touched only through it), and its owner object is `Send + Sync`.
unsafe impl<T: Send> Send for HostBuf<T> {}
// SAFETY: as above; shared references only read the elements.
unsafe impl<T: Sync> Sync for HostBuf<T> {}

impl<T> HostBuf<T> {
    /// An empty owned buffer.
    pub const fn new() -> HostBuf<T> {
        HostBuf { ptr: NonNull::dangling(), len: 0, owner: Owner::Vec(0) }
    }

    /// A buffer over `len` elements of foreign memory at `ptr`; dropping the buffer drops
    /// `owner`, whose `Drop` releases the memory.
    ///
    /// # Safety
    /// `ptr` is aligned for `T` and valid for reads and writes of `len` initialised elements
    /// until `owner` is dropped, and nothing else frees or moves that memory meanwhile (`ptr`
    /// may be null or dangling when `len` is 0).
    pub unsafe fn from_foreign(ptr: *mut T, len: usize, owner: Box<dyn Send + Sync>) -> HostBuf<T> {
        let ptr = if len == 0 { NonNull::dangling() } else { NonNull::new(ptr).unwrap_or(NonNull::dangling()) };
        HostBuf { ptr, len, owner: Owner::Foreign { _release: owner } }
    }

    /// True when the memory belongs to another library.
    pub fn is_foreign(&self) -> bool {
        matches!(self.owner, Owner::Foreign { .. })
    }

    /// The elements as an owned vector: the buffer itself when owned, a copy of foreign
    /// memory (which is then released) otherwise.
    pub fn into_vec(self) -> Vec<T>
    where
        T: Clone,
    {
        if let Owner::Vec(cap) = self.owner {
            let this = ManuallyDrop::new(self);
            // SAFETY: `ptr`, `len` and `cap` are those of a vector's allocation (`From<Vec>`),
            // whose ownership moves to the new vector; `this` is never dropped.
            return unsafe { Vec::from_raw_parts(this.ptr.as_ptr(), this.len, cap) };
        }
        // Foreign memory: copied, then released by dropping `self`.
        self.to_vec()
    }

    /// Run `f` on the elements as an owned vector (copying foreign memory first), for the
    /// operations that change the length.
    fn with_vec<R>(&mut self, f: impl FnOnce(&mut Vec<T>) -> R) -> R
    where
        T: Clone,
    {
        let mut v = std::mem::take(self).into_vec();
        let r = f(&mut v);
        *self = HostBuf::from(v);
        r
    }

    /// Append an element (as `Vec::push`).
    pub fn push(&mut self, x: T)
    where
        T: Clone,
    {
        self.with_vec(|v| v.push(x));
    }

    /// Append the elements of `xs` (as `Vec::extend_from_slice`).
    pub fn extend_from_slice(&mut self, xs: &[T])
    where
        T: Clone,
    {
        self.with_vec(|v| v.extend_from_slice(xs));
    }

    /// Resize to `n` elements, filling with `x` (as `Vec::resize`).
    pub fn resize(&mut self, n: usize, x: T)
    where
        T: Clone,
    {
        self.with_vec(|v| v.resize(n, x));
    }

    /// Keep the first `n` elements (as `Vec::truncate`).
    pub fn truncate(&mut self, n: usize)
    where
        T: Clone,
    {
        if n < self.len {
            self.with_vec(|v| v.truncate(n));
        }
    }
}

impl<T> Default for HostBuf<T> {
    fn default() -> HostBuf<T> {
        HostBuf::new()
    }
}

impl<T> Drop for HostBuf<T> {
    fn drop(&mut self) {
        if let Owner::Vec(cap) = self.owner {
            // SAFETY: an owned buffer is a vector's allocation taken apart in `From<Vec>`.
            drop(unsafe { Vec::from_raw_parts(self.ptr.as_ptr(), self.len, cap) });
        }
        // A foreign owner is dropped with the field, which releases the memory.
    }
}

impl<T> From<Vec<T>> for HostBuf<T> {
    fn from(v: Vec<T>) -> HostBuf<T> {
        let mut v = ManuallyDrop::new(v);
        // A vector's pointer is never null (dangling when it has no allocation).
        let ptr = NonNull::new(v.as_mut_ptr()).unwrap_or(NonNull::dangling());
        HostBuf { ptr, len: v.len(), owner: Owner::Vec(v.capacity()) }
    }
}

impl<T> FromIterator<T> for HostBuf<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> HostBuf<T> {
        HostBuf::from(iter.into_iter().collect::<Vec<T>>())
    }
}

impl<T> Deref for HostBuf<T> {
    type Target = [T];
    #[inline(always)]
    fn deref(&self) -> &[T] {
        // SAFETY: `ptr` is valid for `len` initialised elements (a vector's, or foreign memory
        // as `from_foreign` requires) for as long as `self` lives.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> DerefMut for HostBuf<T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`; `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> AsRef<[T]> for HostBuf<T> {
    fn as_ref(&self) -> &[T] {
        self
    }
}

impl<T> AsMut<[T]> for HostBuf<T> {
    fn as_mut(&mut self) -> &mut [T] {
        self
    }
}

impl<T> std::borrow::Borrow<[T]> for HostBuf<T> {
    fn borrow(&self) -> &[T] {
        self
    }
}

impl<T: Clone> Clone for HostBuf<T> {
    /// An owned copy (also of foreign memory: the copy is mxrs's own).
    fn clone(&self) -> HostBuf<T> {
        HostBuf::from(self.to_vec())
    }
}

impl<T: fmt::Debug> fmt::Debug for HostBuf<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: PartialEq> PartialEq for HostBuf<T> {
    fn eq(&self, other: &HostBuf<T>) -> bool {
        **self == **other
    }
}

impl<T: PartialEq> PartialEq<Vec<T>> for HostBuf<T> {
    fn eq(&self, other: &Vec<T>) -> bool {
        **self == **other
    }
}

impl<'a, T> IntoIterator for &'a HostBuf<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a, T> IntoIterator for &'a mut HostBuf<T> {
    type Item = &'a mut T;
    type IntoIter = std::slice::IterMut<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

impl<T: Clone> IntoIterator for HostBuf<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;
    fn into_iter(self) -> Self::IntoIter {
        self.into_vec().into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts its drops, standing for a DLPack deleter.
    struct Release(Arc<AtomicUsize>);
    impl Drop for Release {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn owned_buffers_round_trip_without_copying() {
        let v = vec![1.0f32, 2.0, 3.0];
        let p = v.as_ptr();
        let mut b = HostBuf::from(v);
        b[1] = 5.0;
        assert_eq!(&*b, &[1.0, 5.0, 3.0]);
        assert!(!b.is_foreign());
        let c = b.clone();
        assert_ne!(c.as_ptr(), p);
        let back = b.into_vec();
        assert_eq!((back.as_ptr(), back), (p, vec![1.0, 5.0, 3.0]));
        let mut e: HostBuf<i64> = HostBuf::new();
        e.push(4);
        e.extend_from_slice(&[5, 6]);
        e.truncate(2);
        e.resize(3, 9);
        assert_eq!(e, vec![4, 5, 9]);
        assert_eq!(e.iter().copied().collect::<HostBuf<i64>>(), e);
    }

    #[test]
    fn foreign_memory_is_shared_and_released_once() {
        let released = Arc::new(AtomicUsize::new(0));
        let mut mem = vec![1i32, 2, 3, 4];
        let ptr = mem.as_mut_ptr();
        // SAFETY: `mem` outlives the buffers below and nothing else touches it meanwhile.
        let mut b = unsafe { HostBuf::from_foreign(ptr, 4, Box::new(Release(released.clone()))) };
        b[0] = 10;
        assert!(b.is_foreign());
        let c = b.clone();
        assert!(!c.is_foreign());
        assert_eq!(released.load(Ordering::SeqCst), 0);
        drop(b);
        assert_eq!(released.load(Ordering::SeqCst), 1);
        assert_eq!(mem, vec![10, 2, 3, 4]);
        assert_eq!(c, vec![10, 2, 3, 4]);

        // Growing foreign memory copies it out and releases it.
        let ptr = mem.as_mut_ptr();
        // SAFETY: as above.
        let mut g = unsafe { HostBuf::from_foreign(ptr, 4, Box::new(Release(released.clone()))) };
        g.push(7);
        assert!(!g.is_foreign());
        assert_eq!(released.load(Ordering::SeqCst), 2);
        assert_eq!(g.into_vec(), vec![10, 2, 3, 4, 7]);
        // SAFETY: empty foreign memory may be null.
        let z = unsafe { HostBuf::<f64>::from_foreign(std::ptr::null_mut(), 0, Box::new(Release(released.clone()))) };
        assert!(z.is_empty());
        assert_eq!(z.into_vec(), Vec::<f64>::new());
        assert_eq!(released.load(Ordering::SeqCst), 3);
    }
}
