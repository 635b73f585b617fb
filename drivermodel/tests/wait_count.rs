//! The wait hook with a parking hook that counts (issue 9.3): each wait point parks its
//! thread on a condition variable until the crate wakes it, so a missing wake would hang
//! here, and the counts show that every wait point went through the hook and was woken.

mod common;
#[path = "common/wait_scenarios.rs"]
mod scenarios;

use std::sync::{Condvar, Mutex};

use drivermodel::wait::{self, Channel, WaitHook, WaitPoint};

/// A tiny map from wait point to a count (the points are few).
struct PerPoint(Vec<(WaitPoint, usize)>);

impl PerPoint {
    fn get(&self, point: WaitPoint) -> usize {
        self.0
            .iter()
            .find(|(own, _)| *own == point)
            .map_or(0, |(_, count)| *count)
    }

    fn add(&mut self, point: WaitPoint, delta: isize) {
        match self.0.iter_mut().find(|(own, _)| *own == point) {
            Some((_, count)) => *count = count.checked_add_signed(delta).unwrap(),
            None => self.0.push((point, usize::try_from(delta).unwrap())),
        }
    }
}

struct Counts {
    /// Bumped by every wake: the event count that tickets are read from.
    wakes_total: u64,
    /// Threads parked now, per point.
    parked: PerPoint,
    waits: PerPoint,
    wakes: PerPoint,
}

/// Parks on one condition variable (keys ignored) with an event count.
struct Parking {
    counts: Mutex<Counts>,
    woken: Condvar,
}

impl WaitHook for Parking {
    fn prepare(&self, _channel: Channel) -> u64 {
        self.counts.lock().unwrap().wakes_total
    }

    fn wait(&self, channel: Channel, ticket: u64) {
        let mut counts = self.counts.lock().unwrap();
        counts.waits.add(channel.point, 1);
        counts.parked.add(channel.point, 1);
        while counts.wakes_total == ticket {
            counts = self.woken.wait(counts).unwrap();
        }
        counts.parked.add(channel.point, -1);
    }

    fn wake(&self, channel: Channel) {
        let mut counts = self.counts.lock().unwrap();
        counts.wakes_total += 1;
        counts.wakes.add(channel.point, 1);
        drop(counts);
        self.woken.notify_all();
    }
}

static HOOK: Parking = Parking {
    counts: Mutex::new(Counts {
        wakes_total: 0,
        parked: PerPoint(Vec::new()),
        waits: PerPoint(Vec::new()),
        wakes: PerPoint(Vec::new()),
    }),
    woken: Condvar::new(),
};

fn parked(point: WaitPoint) -> bool {
    HOOK.counts.lock().unwrap().parked.get(point) > 0
}

fn count(map: fn(&Counts) -> &PerPoint, point: WaitPoint) -> usize {
    map(&HOOK.counts.lock().unwrap()).get(point)
}

/// One test (the hook is global): the scenarios run one after another.
#[test]
fn every_wait_point_parks_in_the_hook_and_is_woken() {
    assert!(wait::set_hook(&HOOK));
    assert!(!wait::set_hook(&HOOK), "a second hook is refused");
    scenarios::readers(&parked);
    scenarios::revocation(&parked);
    scenarios::transition_and_probes(&parked);
    for point in [
        WaitPoint::Readers,
        WaitPoint::Revocation,
        WaitPoint::Transition,
        WaitPoint::Probes,
    ] {
        let (waits, wakes) = (count(|c| &c.waits, point), count(|c| &c.wakes, point));
        println!("{point:?}: {waits} waits, {wakes} wakes");
        assert!(
            waits >= 1 && wakes >= 1,
            "{point:?}: {waits} waits, {wakes} wakes"
        );
        assert!(!parked(point), "{point:?}: a thread is still parked");
    }
}
