//! Choosing a clock's frequency from several short calibration rounds against a reference
//! timer, so that a round disturbed by a host stall cannot skew it.
//!
//! Under emulation (QEMU's TCG on a loaded host) the virtual CPU can be descheduled for
//! tens of milliseconds at any instruction. A round measures how many clock cycles pass
//! while the reference advances, between two readings of the reference, each bracketed by
//! clock reads. A stall does two kinds of harm, and each leaves a mark the round can see
//! without knowing the clock's frequency:
//!
//! - **Inside a reading** (between the clock reads around it): when the reference was read
//!   is uncertain by the bracket's length. A round whose two brackets together take more
//!   than 1/[`READ_LIMIT`] of the round is *disturbed*.
//! - **Long enough for the reference to wrap**: a counter of `period` ticks (the PIT's
//!   16 bits: 55 ms) that wraps unseen makes the round count `period` ticks too few, and
//!   its frequency several times too high. Such a round bears two marks; either one
//!   makes it *disturbed*:
//!   - *A long step.* A step runs from the start of one reading to the end of the next
//!     (the most there can be between the moments the reference was read, wherever the
//!     stall hit). The round ends at the first reading at least `window` ticks past the
//!     first one, so before a wrap the readings cover less than `window` ticks, and
//!     about as much after it: with one stall in the round, the step across the wrap
//!     holds at least `period - 2 * window` of the round's `period + window` ticks or
//!     more. With `window` at most `period / 11` that is over 3/4 of the round, so a
//!     round with a step over [`LONG_STEP_PERCENT`] % of it is disturbed.
//!   - *A long round.* However many stalls hit it, a round with a wrap lasts at least
//!     `period` ticks, and one without a stall about `window`: a round over
//!     [`LENGTH_LIMIT`] times as long as the shortest round of the calibration is
//!     disturbed. This holds while one round went without a wrap and `window` is at
//!     most `period / LENGTH_LIMIT`.
//!
//!   A shorter stall between readings does no harm: both ends of the round are
//!   readings.
//!
//! [`Meter`] turns one round's readings into a [`Round`]; [`Rounds`] collects rounds until [`WANTED`] are undisturbed or [`MAX_ROUNDS`] were
//! taken (the bound on the calibration's time) and chooses the median of the undisturbed
//! ones; with none, the least disturbed round. [`Calibration`] says how many were kept
//! and their spread, for the boot log.

/// Undisturbed rounds wanted.
pub const WANTED: usize = 5;

/// Rounds taken at most.
pub const MAX_ROUNDS: usize = 12;

/// A round whose two readings take more than 1/`READ_LIMIT` of it is disturbed.
pub const READ_LIMIT: u64 = 200;

/// A round with a step between readings longer than this share of it (in percent) is
/// disturbed.
pub const LONG_STEP_PERCENT: u64 = 75;

/// A round more than `LENGTH_LIMIT` times as long as the shortest one is disturbed.
pub const LENGTH_LIMIT: u64 = 4;

/// One reading of the reference, between two clock reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reading {
    /// The clock just before the reading.
    pub before: u64,
    /// The clock just after it: the reference was read in between.
    pub after: u64,
    /// Reference ticks since the round's first reading, as the counter says (modulo its
    /// period: a wrap goes unseen).
    pub ticks: u64,
}

impl Reading {
    /// The clock halfway through the reading.
    fn middle(&self) -> u64 {
        self.before + (self.after - self.before) / 2
    }
}

/// One round being measured: readings go in until the reference moved `window` ticks.
#[derive(Debug, Clone)]
pub struct Meter {
    window: u64,
    first: Reading,
    previous: Reading,
    longest_step: u64,
}

impl Meter {
    /// A round of `window` ticks that starts at `first` (whose `ticks` is 0).
    pub fn new(window: u64, first: Reading) -> Self {
        Self {
            window,
            first,
            previous: first,
            longest_step: 0,
        }
    }

    /// Adds the next reading; returns the round once it is at least `window` ticks past
    /// the first one.
    pub fn add(&mut self, reading: Reading) -> Option<Round> {
        // A step runs from the start of one reading to the end of the next: the most
        // there can be between the two moments the reference was read.
        let step = reading.after.saturating_sub(self.previous.before);
        self.longest_step = self.longest_step.max(step);
        self.previous = reading;
        (reading.ticks >= self.window).then(|| Round {
            cycles: reading.middle().saturating_sub(self.first.middle()),
            ticks: reading.ticks,
            read_cycles: (self.first.after - self.first.before) + (reading.after - reading.before),
            longest_step: self.longest_step,
        })
    }
}

/// One calibration round, in clock cycles and reference ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Round {
    /// Clock cycles between the midpoints of the round's first and last reading.
    pub cycles: u64,
    /// Reference ticks between the two readings.
    pub ticks: u64,
    /// Clock cycles the first and the last reading took together (their brackets).
    pub read_cycles: u64,
    /// The most clock cycles between two consecutive readings of the round, from the
    /// start of one to the end of the next: the most there can be between the moments
    /// the reference was read, wherever a stall hit.
    pub longest_step: u64,
}

impl Round {
    /// The clock's frequency this round measured, for a reference of `reference_hz`
    /// (0 for a round without cycles or ticks).
    pub fn hz(&self, reference_hz: u64) -> u64 {
        if self.ticks == 0 {
            return 0;
        }
        let hz = u128::from(self.cycles) * u128::from(reference_hz) / u128::from(self.ticks);
        u64::try_from(hz).unwrap_or(u64::MAX)
    }

    /// Whether the round, on its own, bears no mark of a stall: no slow reading, no long
    /// step (see the module docs; [`Rounds`] compares its length with the others').
    pub fn is_undisturbed(&self) -> bool {
        self.cycles > 0 && !self.has_slow_reading() && !self.has_long_step()
    }

    /// Whether its two readings took more than 1/[`READ_LIMIT`] of the round.
    pub fn has_slow_reading(&self) -> bool {
        u128::from(self.read_cycles) * u128::from(READ_LIMIT) > u128::from(self.cycles)
    }

    /// Whether a step between readings is long enough to have hidden a wrap of the
    /// reference (see the module docs).
    pub fn has_long_step(&self) -> bool {
        u128::from(self.longest_step) * 100
            > u128::from(self.cycles) * u128::from(LONG_STEP_PERCENT)
    }
}

/// The chosen frequency and how it was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calibration {
    /// The clock's frequency in Hz.
    pub hz: u64,
    /// Rounds the frequency was chosen from: the undisturbed ones (1 if none was, the
    /// least disturbed).
    pub kept: usize,
    /// Rounds taken.
    pub rounds: usize,
    /// Whether every round was disturbed (the frequency is the least disturbed round's).
    pub disturbed: bool,
    /// The lowest frequency among the kept rounds.
    pub lowest_hz: u64,
    /// The highest frequency among the kept rounds.
    pub highest_hz: u64,
}

impl Calibration {
    /// The kept rounds' spread (highest minus lowest) in parts per million of [`Self::hz`].
    pub fn spread_ppm(&self) -> u64 {
        if self.hz == 0 {
            return 0;
        }
        let spread = u128::from(self.highest_hz - self.lowest_hz) * 1_000_000;
        u64::try_from(spread / u128::from(self.hz)).unwrap_or(u64::MAX)
    }
}

/// The rounds of one calibration (at most [`MAX_ROUNDS`]; no allocation).
#[derive(Debug, Clone)]
pub struct Rounds {
    rounds: [Round; MAX_ROUNDS],
    length: usize,
}

impl Default for Rounds {
    fn default() -> Self {
        Self::new()
    }
}

impl Rounds {
    /// No rounds yet.
    pub const fn new() -> Self {
        Self {
            rounds: [Round {
                cycles: 0,
                ticks: 0,
                read_cycles: 0,
                longest_step: 0,
            }; MAX_ROUNDS],
            length: 0,
        }
    }

    /// Adds a round; one past [`MAX_ROUNDS`] is ignored (the caller stops at
    /// [`Self::is_done`]).
    pub fn push(&mut self, round: Round) {
        if let Some(slot) = self.rounds.get_mut(self.length) {
            *slot = round;
            self.length += 1;
        }
    }

    /// The rounds taken.
    pub fn as_slice(&self) -> &[Round] {
        &self.rounds[..self.length]
    }

    /// The fewest cycles a round took.
    fn shortest(&self) -> u64 {
        self.as_slice()
            .iter()
            .map(|round| round.cycles)
            .min()
            .unwrap_or(0)
    }

    /// Whether `round` lasted over [`LENGTH_LIMIT`] times as long as the shortest round.
    fn is_long(&self, round: &Round) -> bool {
        u128::from(round.cycles) > u128::from(self.shortest()) * u128::from(LENGTH_LIMIT)
    }

    /// Whether `round` bears no mark of a stall (see the module docs).
    pub fn is_undisturbed(&self, round: &Round) -> bool {
        round.is_undisturbed() && !self.is_long(round)
    }

    /// How many rounds are undisturbed.
    pub fn undisturbed(&self) -> usize {
        self.as_slice()
            .iter()
            .filter(|round| self.is_undisturbed(round))
            .count()
    }

    /// Whether to stop: [`WANTED`] undisturbed rounds, or [`MAX_ROUNDS`] taken.
    pub fn is_done(&self) -> bool {
        self.length >= MAX_ROUNDS || self.undisturbed() >= WANTED
    }

    /// How disturbed `round` is, to order disturbed rounds: first whether it may hide a
    /// wrap (a long step or a long round: its error has no bound), then the share of the
    /// round its readings took, or its longest step took (in parts per million).
    fn disturbance(&self, round: &Round) -> (bool, u128) {
        let cycles = u128::from(round.cycles.max(1));
        let unbounded = round.has_long_step() || self.is_long(round);
        let share = if unbounded {
            u128::from(round.longest_step)
        } else {
            u128::from(round.read_cycles)
        };
        (unbounded, share * 1_000_000 / cycles)
    }

    /// The median frequency of the undisturbed rounds (of the middle two for an even
    /// count), or the least disturbed round's if none is; `None` without rounds.
    pub fn choose(&self, reference_hz: u64) -> Option<Calibration> {
        let mut kept = [0_u64; MAX_ROUNDS];
        let mut count = 0;
        for round in self
            .as_slice()
            .iter()
            .filter(|round| self.is_undisturbed(round))
        {
            kept[count] = round.hz(reference_hz);
            count += 1;
        }
        let disturbed = count == 0;
        if disturbed {
            let least = self
                .as_slice()
                .iter()
                .min_by_key(|round| self.disturbance(round))?;
            kept[0] = least.hz(reference_hz);
            count = 1;
        }
        let kept = &mut kept[..count];
        kept.sort_unstable();
        let middle = count / 2;
        let hz = if count % 2 == 1 {
            kept[middle]
        } else {
            kept[middle - 1] / 2 + kept[middle] / 2 + (kept[middle - 1] % 2 + kept[middle] % 2) / 2
        };
        Some(Calibration {
            hz,
            kept: count,
            rounds: self.length,
            disturbed,
            lowest_hz: kept[0],
            highest_hz: kept[count - 1],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A simulated PIT (16 bits, counting at 1.193182 MHz) read by a 3 GHz clock: each
    /// reading takes `read` cycles (the latch halfway), with `gap` cycles between
    /// readings, and the host stalls for `.1` cycles at each cycle `.0` of `stalls`.
    struct Simulation {
        read: u64,
        gap: u64,
        stalls: Vec<(u64, u64)>,
    }

    const CLOCK_HZ: u64 = 3_000_000_000;
    const PERIOD: u64 = 1 << 16;
    const WINDOW: u64 = 2_386;

    impl Simulation {
        /// The clock after `cycles` cycles of the guest's work starting at `start`.
        fn advance(&self, start: u64, cycles: u64) -> u64 {
            let stalled: u64 = self
                .stalls
                .iter()
                .filter(|&&(at, _)| start <= at && at < start + cycles)
                .map(|&(_, length)| length)
                .sum();
            start + cycles + stalled
        }

        /// One round from clock `start`: the round, and the true ticks it spanned.
        fn round(&self, start: u64) -> (Round, u64) {
            let true_ticks =
                |clock: u64| u128::from(clock) * u128::from(PIT_HZ) / u128::from(CLOCK_HZ);
            let mut clock = start;
            let reading = |clock: &mut u64, first_latch: Option<u128>| {
                let before = *clock;
                let latch = self.advance(before, self.read / 2);
                let after = self.advance(latch, self.read - self.read / 2);
                *clock = self.advance(after, self.gap);
                let ticks = first_latch.map_or(0, |first| (true_ticks(latch) - first) as u64);
                (
                    Reading {
                        before,
                        after,
                        ticks: ticks % PERIOD,
                    },
                    true_ticks(latch),
                    ticks,
                )
            };
            let (first, first_latch, _) = reading(&mut clock, None);
            let mut meter = Meter::new(WINDOW, first);
            loop {
                let (next, _, elapsed) = reading(&mut clock, Some(first_latch));
                if let Some(round) = meter.add(next) {
                    return (round, elapsed);
                }
            }
        }
    }

    #[test]
    fn a_round_that_a_stall_let_the_reference_wrap_in_is_always_disturbed() {
        // Stalls of 20 to 100 ms, at every point of a round (in a reading or between two,
        // before the latch or after it): a round with a hidden wrap is disturbed, and an
        // undisturbed one measures the clock within 0.05 %.
        let mut wrapped = 0;
        for stall_ms in [20, 46, 50, 54, 60, 100] {
            for offset in (0..7_000_000).step_by(7_919) {
                let simulation = Simulation {
                    read: 3_000,
                    gap: 1_000,
                    stalls: vec![(1_000_000 + offset, stall_ms * CLOCK_HZ / 1_000)],
                };
                let (round, true_ticks) = simulation.round(1_000_000);
                if true_ticks >= PERIOD {
                    wrapped += 1;
                    assert!(
                        !round.is_undisturbed(),
                        "{stall_ms} ms at {offset}: {round:?}"
                    );
                }
                if round.is_undisturbed() {
                    let hz = round.hz(PIT_HZ);
                    assert!(
                        hz.abs_diff(CLOCK_HZ) < CLOCK_HZ / 2_000,
                        "{stall_ms} ms at {offset}: {hz}"
                    );
                }
            }
        }
        assert!(wrapped > 1_000, "the simulation hid only {wrapped} wraps");
    }

    #[test]
    fn a_round_that_several_stalls_let_the_reference_wrap_in_is_too_long() {
        // A stall that wraps the reference (a period and a bit), then a second one: a
        // wrap too, or a long one that ends the round. Then no step need be long, but the
        // round is several times too fast, and many times as long as an undisturbed one.
        let period = PERIOD * CLOCK_HZ / PIT_HZ;
        let first = (1_500_000, period + 100 * CLOCK_HZ / PIT_HZ);
        let simulation = |stalls| Simulation {
            read: 3_000,
            gap: 1_000,
            stalls,
        };
        let (clean, _) = simulation(vec![]).round(1_000_000);
        let mut found = 0;
        for second_length in [first.1, 40 * CLOCK_HZ / 1_000] {
            for delay in (0..2_000_000).step_by(10_007) {
                let second = (first.0 + first.1 + delay, second_length);
                let (round, true_ticks) = simulation(vec![first, second]).round(1_000_000);
                if true_ticks < PERIOD || round.has_long_step() {
                    continue;
                }
                found += 1;
                assert!(round.hz(PIT_HZ) > 3 * CLOCK_HZ / 2, "{round:?}");
                let mut rounds = Rounds::new();
                rounds.push(clean);
                rounds.push(round);
                assert!(rounds.is_undisturbed(&clean), "{clean:?}");
                assert!(!rounds.is_undisturbed(&round), "{round:?}");
                let chosen = rounds.choose(PIT_HZ).unwrap();
                assert_eq!((chosen.hz, chosen.kept), (clean.hz(PIT_HZ), 1));
            }
        }
        assert!(
            found > 50,
            "only {found} rounds with two stalls and no long step"
        );
    }

    #[test]
    fn a_meter_measures_the_readings_it_was_given() {
        let first = Reading {
            before: 100,
            after: 110,
            ticks: 0,
        };
        let mut meter = Meter::new(10, first);
        assert_eq!(
            meter.add(Reading {
                before: 120,
                after: 124,
                ticks: 3
            }),
            None
        );
        // The step from the start of the second reading to the end of the third: 380.
        let round = meter
            .add(Reading {
                before: 496,
                after: 500,
                ticks: 12,
            })
            .unwrap();
        assert_eq!(
            round,
            Round {
                cycles: 498 - 105,
                ticks: 12,
                read_cycles: 14,
                longest_step: 380
            }
        );
    }

    /// The PIT's frequency: the reference of the x86_64 kernel.
    const PIT_HZ: u64 = 1_193_182;

    /// A clean 2 ms round of a 3 GHz clock, `offset` cycles off.
    fn clean(offset: i64) -> Round {
        Round {
            cycles: 6_000_000_u64.checked_add_signed(offset).unwrap(),
            ticks: 2_386,
            read_cycles: 6_000,
            longest_step: 3_000,
        }
    }

    #[test]
    fn a_round_measures_cycles_per_reference_second() {
        let hz = clean(0).hz(PIT_HZ);
        // 6e6 cycles in 2386 / 1193182 s: 3.000 GHz within the tick's resolution.
        assert!(hz.abs_diff(3_000_000_000) < 2_000_000, "{hz}");
        assert_eq!(Round::default().hz(PIT_HZ), 0);
        assert!(clean(0).is_undisturbed());
        assert!(!clean(0).has_long_step());
    }

    #[test]
    fn a_slow_reading_disturbs_the_round() {
        let mut round = clean(0);
        round.read_cycles = round.cycles / READ_LIMIT;
        assert!(round.is_undisturbed());
        round.read_cycles += 1;
        assert!(!round.is_undisturbed());
        assert!(round.has_slow_reading() && !round.has_long_step());
    }

    #[test]
    fn a_stall_that_hides_a_wrap_disturbs_the_round() {
        // A 50 ms stall between two readings: the 16-bit PIT wrapped (65536 ticks), and
        // the round counts only what it read. Its frequency is over 20 times too high.
        let stall = 150_000_000;
        let round = Round {
            cycles: 6_000_000 + stall,
            ticks: 2_386,
            read_cycles: 6_000,
            longest_step: stall,
        };
        assert!(round.hz(PIT_HZ) > 20 * 3_000_000_000);
        assert!(!round.is_undisturbed() && round.has_long_step());
        let mut rounds = Rounds::new();
        for round in [clean(0), round, clean(100), clean(-100)] {
            rounds.push(round);
        }
        let chosen = rounds.choose(PIT_HZ).unwrap();
        assert_eq!(chosen.hz, clean(0).hz(PIT_HZ));
        assert_eq!(
            (chosen.kept, chosen.rounds, chosen.disturbed),
            (3, 4, false)
        );
    }

    #[test]
    fn the_median_of_the_undisturbed_rounds_is_chosen() {
        let mut rounds = Rounds::new();
        for offset in [300, -200, 0, 100, -100] {
            rounds.push(clean(offset));
        }
        let chosen = rounds.choose(PIT_HZ).unwrap();
        assert_eq!(chosen.hz, clean(0).hz(PIT_HZ));
        assert_eq!(chosen.lowest_hz, clean(-200).hz(PIT_HZ));
        assert_eq!(chosen.highest_hz, clean(300).hz(PIT_HZ));
        // 500 cycles of 6e6: 83 ppm.
        assert!(
            (82..=84).contains(&chosen.spread_ppm()),
            "{}",
            chosen.spread_ppm()
        );
    }

    #[test]
    fn an_even_count_takes_the_middle_two() {
        let mut rounds = Rounds::new();
        for round in [clean(-300), clean(1_000), clean(-100), clean(100)] {
            rounds.push(round);
        }
        let chosen = rounds.choose(PIT_HZ).unwrap();
        let (low, high) = (clean(-100).hz(PIT_HZ), clean(100).hz(PIT_HZ));
        assert!(low < chosen.hz && chosen.hz < high);
        assert!(chosen.hz.abs_diff(clean(0).hz(PIT_HZ)) <= 1);
    }

    #[test]
    fn with_every_round_disturbed_the_least_disturbed_is_chosen() {
        // A slow reading bounds the error; a long step does not: it comes last.
        let mut rounds = Rounds::new();
        let mut slow = clean(0);
        slow.read_cycles = slow.cycles / 10;
        let mut slower = clean(5_000);
        slower.read_cycles = slower.cycles / 5;
        let mut stalled = clean(-5_000);
        stalled.longest_step = stalled.cycles;
        for round in [slower, stalled, slow] {
            rounds.push(round);
        }
        let chosen = rounds.choose(PIT_HZ).unwrap();
        assert_eq!(chosen.hz, slow.hz(PIT_HZ));
        assert_eq!((chosen.kept, chosen.disturbed), (1, true));
        assert_eq!(chosen.spread_ppm(), 0);
        assert_eq!(Rounds::new().choose(PIT_HZ), None);

        // Only long steps: the shortest one's round.
        let mut rounds = Rounds::new();
        let mut shorter = clean(7_000);
        shorter.longest_step = shorter.cycles * 4 / 5;
        rounds.push(stalled);
        rounds.push(shorter);
        assert_eq!(rounds.choose(PIT_HZ).unwrap().hz, shorter.hz(PIT_HZ));
    }

    #[test]
    fn rounds_stop_at_enough_undisturbed_or_at_the_bound() {
        let mut rounds = Rounds::new();
        let mut stalled = clean(0);
        stalled.longest_step = stalled.cycles;
        for _ in 0..WANTED - 1 {
            rounds.push(clean(0));
            rounds.push(stalled);
        }
        assert!(!rounds.is_done());
        rounds.push(clean(0));
        assert!(rounds.is_done());

        let mut rounds = Rounds::new();
        for taken in 0..MAX_ROUNDS {
            assert!(!rounds.is_done(), "done after {taken} disturbed rounds");
            rounds.push(stalled);
        }
        assert!(rounds.is_done());
        rounds.push(clean(0));
        assert_eq!(rounds.as_slice().len(), MAX_ROUNDS);
        assert_eq!(rounds.undisturbed(), 0);
    }
}
