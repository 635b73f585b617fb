//! Vector capacities that depend on the length alone, so that growing a vector and
//! shrinking it back leaves the heap exactly where it was (unregistering a driver
//! returns what registering it took).

#![forbid(unsafe_code)]

use alloc::vec::Vec;

/// The capacity a vector of `length` elements is kept at.
///
/// The short lengths (most vectors of the crate) are answered inline; longer ones out
/// of line: on targets without a count-leading-zeros instruction (riscv64gc has none
/// without the Zbb extension) `next_power_of_two` is a long software sequence, and every
/// vector helper's instance carried its own copy (about 1.4 KiB in all).
#[inline(always)]
pub(crate) fn canonical_capacity(length: usize) -> usize {
    match length {
        0 => 0,
        1..=4 => 4,
        _ => larger_capacity(length),
    }
}

/// [`canonical_capacity`] of a length above 4.
#[inline(never)]
fn larger_capacity(length: usize) -> usize {
    length.next_power_of_two()
}

/// Pushes `value`, growing `vector` to [`canonical_capacity`] only.
pub(crate) fn push_canonical<T>(vector: &mut Vec<T>, value: T) {
    if vector.len() == vector.capacity() {
        vector.reserve_exact(canonical_capacity(vector.len() + 1) - vector.len());
    }
    vector.push(value);
}

/// Inserts `value` at `index` (at most the length), growing `vector` to
/// [`canonical_capacity`] only.
pub(crate) fn insert_canonical<T>(vector: &mut Vec<T>, index: usize, value: T) {
    if vector.len() == vector.capacity() {
        vector.reserve_exact(canonical_capacity(vector.len() + 1) - vector.len());
    }
    vector.insert(index, value);
}

/// Shrinks `vector` back to [`canonical_capacity`] (frees it when empty).
pub(crate) fn fit_canonical<T>(vector: &mut Vec<T>) {
    let capacity = canonical_capacity(vector.len());
    if vector.capacity() > capacity {
        vector.shrink_to(capacity);
    }
}
