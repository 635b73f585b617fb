//! The wait hook with a hook that yields the thread (issue 9.3), as a kernel with a
//! simple scheduler would: every wait point goes through it and finishes.

mod common;
#[path = "common/wait_scenarios.rs"]
mod scenarios;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use drivermodel::wait::{self, Channel, WaitHook, WaitPoint};

/// Yields; remembers which points are waiting right now.
struct Yielding {
    waiting: Mutex<Vec<WaitPoint>>,
    yields: AtomicUsize,
}

impl WaitHook for Yielding {
    fn wait(&self, channel: Channel, _ticket: u64) {
        self.waiting.lock().unwrap().push(channel.point);
        self.yields.fetch_add(1, Ordering::SeqCst);
        std::thread::yield_now();
        let mut waiting = self.waiting.lock().unwrap();
        let index = waiting.iter().position(|point| *point == channel.point);
        waiting.swap_remove(index.expect("pushed above"));
    }

    fn wake(&self, _channel: Channel) {}
}

static HOOK: Yielding = Yielding {
    waiting: Mutex::new(Vec::new()),
    yields: AtomicUsize::new(0),
};

/// Whether a thread has been seen waiting at `point` (sticky: a yielding waiter is not
/// inside `wait` at every instant).
fn seen(point: WaitPoint, seen: &Mutex<Vec<WaitPoint>>) -> bool {
    let mut seen = seen.lock().unwrap();
    seen.extend(HOOK.waiting.lock().unwrap().iter().copied());
    seen.contains(&point)
}

#[test]
fn every_wait_point_yields_through_the_hook() {
    assert!(wait::set_hook(&HOOK));
    let memory = Mutex::new(Vec::new());
    let waiting = |point| seen(point, &memory);
    scenarios::readers(&waiting);
    scenarios::revocation(&waiting);
    scenarios::transition_and_probes(&waiting);
    println!("{} yields", HOOK.yields.load(Ordering::SeqCst));
    assert!(HOOK.yields.load(Ordering::SeqCst) >= 4);
}
