//! The crate's one sort: an in-place heapsort by key.
//!
//! `core`'s sorts are fast on large inputs but generate 2 to 10 KiB of `.text` per
//! element type (the stable one more), and the crate sorts only short lists: the
//! candidates of one match, the drivers or devices of one report. A heapsort is a few
//! hundred bytes per instance, needs no scratch memory and stays `O(n log n)`.

#![forbid(unsafe_code)]

/// Sorts `slice` by `key`, smallest first. Not stable: callers whose ties matter put the
/// tie-breaker into the key.
pub(crate) fn sort_by_key<T, K: Ord>(slice: &mut [T], mut key: impl FnMut(&T) -> K) {
    let mut less = |left: &T, right: &T| key(left) < key(right);
    // Make a max-heap, then move its top behind the shrinking heap, one at a time.
    for node in (0..slice.len() / 2).rev() {
        sift_down(slice, node, &mut less);
    }
    for end in (1..slice.len()).rev() {
        slice.swap(0, end);
        sift_down(&mut slice[..end], 0, &mut less);
    }
}

/// Moves `heap[node]` down until neither child is larger.
fn sift_down<T>(heap: &mut [T], mut node: usize, less: &mut impl FnMut(&T, &T) -> bool) {
    loop {
        let mut child = 2 * node + 1;
        let (Some(left), Some(parent)) = (heap.get(child), heap.get(node)) else {
            return;
        };
        let mut larger = left;
        if let Some(right) = heap.get(child + 1)
            && less(left, right)
        {
            child += 1;
            larger = right;
        }
        if !less(parent, larger) {
            return;
        }
        heap.swap(node, child);
        node = child;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// Every permutation-ish input of several lengths comes out sorted, with the same
    /// elements (a multiset check through a sorted copy by `core`).
    #[test]
    fn sorts_like_core() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for length in 0..70 {
            for modulus in [3u64, 1000] {
                let mut values: Vec<u64> = (0..length)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        seed % modulus
                    })
                    .collect();
                let mut expected = values.clone();
                expected.sort_unstable();
                sort_by_key(&mut values, |value| *value);
                assert_eq!(values, expected, "length {length}, modulus {modulus}");
            }
        }
    }

    #[test]
    fn sorts_by_the_key_only() {
        let mut pairs = [(3, 'c'), (1, 'a'), (2, 'b')];
        sort_by_key(&mut pairs, |(key, _)| core::cmp::Reverse(*key));
        assert_eq!(pairs, [(3, 'c'), (2, 'b'), (1, 'a')]);
    }
}
