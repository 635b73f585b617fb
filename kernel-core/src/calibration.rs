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
//! - **Between two readings, long enough for the reference to wrap**: a counter of
//!   `period` ticks (the PIT's 16 bits: 55 ms) that wraps unseen makes the round count
//!   `period` ticks too few, and its frequency several times too high. The round ends
//!   at the first reading that is at least `window` ticks past the first one, so before a
//!   wrap the readings cover less than `window` ticks, and about as much after it: the
//!   step across the wrap holds at least `period - 2 * window` of the round's
//!   `period + window` ticks or more. With `window` at most `period / 8` that is at least
//!   2/3 of the round, so a round in which one step between consecutive readings takes
//!   more than 1/[`STEP_LIMIT`] (half) of the round is *disturbed*. A shorter stall
//!   between readings does no harm: both ends of the round are readings.
//!
//! [`Rounds`] collects rounds until [`WANTED`] are undisturbed or [`MAX_ROUNDS`] were
//! taken (the bound on the calibration's time) and chooses the median of the undisturbed
//! ones; with none, the least disturbed round. [`Calibration`] says how many were kept
//! and their spread, for the boot log.

/// Undisturbed rounds wanted.
pub const WANTED: usize = 5;

/// Rounds taken at most.
pub const MAX_ROUNDS: usize = 12;

/// A round whose two readings take more than 1/`READ_LIMIT` of it is disturbed.
pub const READ_LIMIT: u64 = 200;

/// A round with a step between readings longer than 1/`STEP_LIMIT` of it is disturbed.
pub const STEP_LIMIT: u64 = 2;

/// One calibration round, in clock cycles and reference ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Round {
    /// Clock cycles between the midpoints of the round's first and last reading.
    pub cycles: u64,
    /// Reference ticks between the two readings.
    pub ticks: u64,
    /// Clock cycles the first and the last reading took together (their brackets).
    pub read_cycles: u64,
    /// The most clock cycles between two consecutive readings of the round.
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

    /// Whether neither mark of a stall is on the round (see the module docs).
    pub fn is_undisturbed(&self) -> bool {
        self.cycles > 0
            && u128::from(self.read_cycles) * u128::from(READ_LIMIT) <= u128::from(self.cycles)
            && !self.has_long_step()
    }

    /// Whether a step between readings is long enough to have hidden a wrap of the
    /// reference (see the module docs).
    pub fn has_long_step(&self) -> bool {
        u128::from(self.longest_step) * u128::from(STEP_LIMIT) > u128::from(self.cycles)
    }

    /// How disturbed the round is, to order disturbed rounds: first whether it has a long
    /// step (its error has no bound), then the share of the round its readings took (a
    /// bound on its error).
    pub fn disturbance(&self) -> (bool, u128) {
        let cycles = u128::from(self.cycles.max(1));
        let share = if self.has_long_step() {
            u128::from(self.longest_step)
        } else {
            u128::from(self.read_cycles)
        };
        (self.has_long_step(), share * 1_000_000 / cycles)
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

    /// How many rounds are undisturbed.
    pub fn undisturbed(&self) -> usize {
        self.as_slice()
            .iter()
            .filter(|round| round.is_undisturbed())
            .count()
    }

    /// Whether to stop: [`WANTED`] undisturbed rounds, or [`MAX_ROUNDS`] taken.
    pub fn is_done(&self) -> bool {
        self.length >= MAX_ROUNDS || self.undisturbed() >= WANTED
    }

    /// The median frequency of the undisturbed rounds (of the middle two for an even
    /// count), or the least disturbed round's if none is; `None` without rounds.
    pub fn choose(&self, reference_hz: u64) -> Option<Calibration> {
        let mut kept = [0_u64; MAX_ROUNDS];
        let mut count = 0;
        for round in self
            .as_slice()
            .iter()
            .filter(|round| round.is_undisturbed())
        {
            kept[count] = round.hz(reference_hz);
            count += 1;
        }
        let disturbed = count == 0;
        if disturbed {
            let least = self
                .as_slice()
                .iter()
                .min_by_key(|round| round.disturbance())?;
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
        assert!(!round.has_long_step());
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
        shorter.longest_step = shorter.cycles * 2 / 3;
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
