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

/// [`canonical_capacity`] of a length above 4: 8, then the length rounded up to a
/// sixteenth of its next power of two, so a long vector carries at most about 12%
/// spare room (a whole power of two would carry up to 100%: the registry's device list
/// and a driver's bound list hold one entry per device, the `heap` bench counts them).
/// A vector grows and shrinks in steps of that size, each step one reallocation.
#[inline(never)]
fn larger_capacity(length: usize) -> usize {
    let power = length.next_power_of_two();
    if power <= 16 {
        return power.max(8);
    }
    // A power of two: round up with a mask (no division).
    let step = power / 16;
    (length + step - 1) & !(step - 1)
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

#[cfg(test)]
mod tests {
    use super::canonical_capacity;

    /// Every length fits, the spare room of a long vector stays within an eighth, and
    /// the capacity never falls as the length grows (a push never shrinks).
    #[test]
    fn capacities_fit_closely_and_grow_monotonically() {
        assert_eq!(
            [0, 1, 4, 5, 8, 9, 16, 17, 18, 19].map(canonical_capacity),
            [0, 4, 4, 8, 8, 16, 16, 18, 18, 20]
        );
        assert_eq!(canonical_capacity(10_000), 10_240);
        let mut previous = 0;
        for length in 0..100_000 {
            let capacity = canonical_capacity(length);
            assert!(
                capacity >= length && capacity >= previous,
                "{length}: {capacity}"
            );
            if length > 16 {
                assert!(capacity - length <= length / 8, "{length}: {capacity}");
            }
            previous = capacity;
        }
    }
}
