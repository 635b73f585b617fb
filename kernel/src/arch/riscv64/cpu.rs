//! The interface's CPUs on riscv64: only the boot hart runs (no SBI HSM start-up yet), so
//! this is CPU 0 of 1 and every call runs here.

pub use super::super::cpu_error::{CallError, StartError};

/// The most CPUs the kernel runs here.
pub const MAX_CPUS: usize = 1;

/// Starts no other hart; returns 1 (the boot hart). `main` is what they would run.
///
/// # Errors
///
/// None yet (the signature is the interface's).
pub fn start_others(main: fn(usize) -> !) -> Result<usize, StartError> {
    let _ = main;
    Ok(1)
}

/// This CPU's number: 0.
pub fn current() -> usize {
    0
}

/// How many CPUs are up: 1.
pub fn online() -> usize {
    1
}

/// Runs `function` on CPU `cpu`: here, if `cpu` is 0.
///
/// # Errors
///
/// [`CallError::NoSuchCpu`] for any other number.
pub fn call_on(cpu: usize, function: &(dyn Fn() + Sync)) -> Result<(), CallError> {
    if cpu != 0 {
        return Err(CallError::NoSuchCpu { cpu, online: 1 });
    }
    function();
    Ok(())
}

/// Runs `function` on every other CPU: there is none.
///
/// # Errors
///
/// None (the signature is the interface's).
pub fn call_on_others(function: &(dyn Fn() + Sync)) -> Result<(), CallError> {
    let _ = function;
    Ok(())
}

/// Wakes CPU `cpu`: nothing to wake.
pub fn wake(cpu: usize) {
    let _ = cpu;
}

/// Stops every other CPU: there is none.
pub fn stop_others() {}

/// Wake-up IPIs taken by `cpu`: none.
pub fn wakeups(cpu: usize) -> u64 {
    let _ = cpu;
    0
}

/// Call-function IPIs run by `cpu`: none.
pub fn calls(cpu: usize) -> u64 {
    let _ = cpu;
    0
}
