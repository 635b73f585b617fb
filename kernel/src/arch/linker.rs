//! Symbols defined by the linker script (`kernel/linker.ld`): where the image ends and
//! where the registered tests are.

/// First address past the kernel image (from the linker script).
pub fn kernel_end() -> u64 {
    unsafe extern "C" {
        static __kernel_end: u8;
    }
    (&raw const __kernel_end) as u64
}

/// The test descriptors the linker collected into `.kernel_tests`.
pub fn registered_tests() -> &'static [crate::test::Test] {
    unsafe extern "C" {
        static __kernel_tests_start: u8;
        static __kernel_tests_end: u8;
    }
    let start = (&raw const __kernel_tests_start).cast::<crate::test::Test>();
    let end = (&raw const __kernel_tests_end).cast::<crate::test::Test>();
    let bytes = end as usize - start as usize;
    let count = bytes / core::mem::size_of::<crate::test::Test>();
    // SAFETY: the linker script brackets `.kernel_tests` with these symbols and the
    // section only receives `Test` statics from `kernel_test!` (aligned, and `KEEP` lays
    // them out back to back: `Test`'s size is a multiple of its alignment). They are
    // immutable statics, so a shared 'static slice is fine.
    unsafe { core::slice::from_raw_parts(start, count) }
}
