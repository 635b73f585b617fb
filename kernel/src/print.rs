//! `print!`/`println!` to the serial console, and the entry-point macro.

/// Prints to the console (the UART driver once bound, else the early COM1 port).
#[macro_export]
macro_rules! print {
    ($($argument:tt)*) => {
        $crate::console::write_fmt(format_args!($($argument)*))
    };
}

/// Prints a line to the console (the UART driver once bound, else the early COM1 port).
#[macro_export]
macro_rules! println {
    () => {
        $crate::print!("\n")
    };
    ($($argument:tt)*) => {
        $crate::console::write_fmt(format_args!("{}\n", format_args!($($argument)*)))
    };
}

/// Names the kernel's main function: `fn(&'static kernel::BootInfo) -> !`.
///
/// Exactly one per kernel image (the binary, or a test kernel through
/// [`crate::test_main!`]). It runs after bring-up, with the heap, the timer and
/// interrupts on.
#[macro_export]
macro_rules! entry_point {
    ($main:path) => {
        #[unsafe(export_name = "kernel_main")]
        fn __kernel_main(boot: &'static $crate::BootInfo) -> ! {
            let main: fn(&'static $crate::BootInfo) -> ! = $main;
            main(boot)
        }
    };
}
