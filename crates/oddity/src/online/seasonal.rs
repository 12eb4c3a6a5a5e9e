//! Seasonal robust statistics with calendar context: each point is judged
//! against the recent values of the same hour of the day, day of the week
//! or hour of the week, for contextual anomalies: a load that is normal at
//! noon but not at 3 a.m., a Sunday that looks like a Monday.
//!
//! # Model
//!
//! The calendar is cut into buckets by the [`Season`]: 24 hours of the
//! day, 7 days of the week or 168 hours of the week, in UTC shifted by
//! `utc_offset_minutes` (so "09:00" can mean local office hours). Every
//! bucket keeps, per feature, the last `history` values that fell into it
//! (a ring buffer), and the detector keeps the last `8 × history` values
//! of each feature whatever their bucket (the *overall* history).
//!
//! A point in bucket `b` is scored per feature by the robust z-score
//!
//! `z = |x - median_b| / max(1.4826 · MAD_b, scale_floor · 1.4826 · MAD_all, tiny)`
//!
//! where `median_b` and `MAD_b` (median absolute deviation) come from the
//! bucket's history and `MAD_all` from the overall history; `tiny` is
//! `1e-9 · max(1, |median_b|)`, so a feature constant in its bucket and
//! overall scores a large but finite z when it moves. The floor keeps a
//! bucket whose few values happen to agree closely (a quiet night) from
//! calling every small wobble an anomaly. The median and MAD ignore up to
//! half of the bucket's history, so one bad night does not teach the
//! detector that bad nights are normal. A bucket with fewer than
//! `min_history` values is not yet trusted: the point is judged against the
//! overall history instead (a plain rolling robust z-score), and scores 0
//! while that too is shorter than `min_history`. The point's score is the
//! largest z over its features; attribution shares the per-feature z.
//!
//! # Time
//!
//! The detector knows the calendar only through
//! [`OnlineDetector::observe_time`], which the stream calls with each
//! record's timestamp before scoring it (`oddity stream --time COLUMN`).
//! The last time seen is part of the state, so a checkpoint restores it.
//! Without any time every point falls into the bucket of the epoch, and
//! the detector is a rolling robust z-score over the last `history` values.
//!
//! Costs: `O(n_features · history · log history)` per point (the medians
//! are found by partial sorts of small buffers) and
//! `8 · n_features · history · (buckets + 8)` bytes of state: 256 KiB for
//! ten features by hour of the day at the default history of 32.

use serde::{Deserialize, Serialize};

use super::{OnlineDetector, OnlineError, is_valid_point, normalise_shares};

pub(super) const NAME: &str = "seasonal";

/// Ratio of the standard deviation to the MAD for Gaussian data.
const MAD_TO_STD: f64 = 1.4826;

/// The overall history keeps this many times a bucket's history.
const OVERALL_FACTOR: usize = 8;

/// The spread is at least this share of the median's magnitude (or of 1).
const MIN_RELATIVE_SCALE: f64 = 1e-9;

const MS_PER_MINUTE: i64 = 60_000;
const MS_PER_HOUR: i64 = 3_600_000;
const MS_PER_DAY: i64 = 86_400_000;

/// How the calendar is cut into buckets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Season {
    /// 24 buckets, one per hour of the day.
    #[default]
    HourOfDay,
    /// 7 buckets, Monday to Sunday.
    DayOfWeek,
    /// 168 buckets, one per hour of the week: both daily and weekly
    /// rhythms, but each bucket fills seven times more slowly.
    HourOfWeek,
}

impl Season {
    /// The number of buckets.
    pub fn n_buckets(self) -> usize {
        match self {
            Season::HourOfDay => 24,
            Season::DayOfWeek => 7,
            Season::HourOfWeek => 168,
        }
    }

    /// The bucket of a local time, in milliseconds since the Unix epoch.
    pub fn bucket(self, local_ms: i64) -> usize {
        let hour_of_day = local_ms.div_euclid(MS_PER_HOUR).rem_euclid(24) as usize;
        // 1970-01-01 was a Thursday: day 0 is weekday 3 counting Monday as 0.
        let day_of_week = (local_ms.div_euclid(MS_PER_DAY) + 3).rem_euclid(7) as usize;
        match self {
            Season::HourOfDay => hour_of_day,
            Season::DayOfWeek => day_of_week,
            Season::HourOfWeek => day_of_week * 24 + hour_of_day,
        }
    }
}

/// Parameters of [`SeasonalProfile`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SeasonalParams {
    /// How the calendar is cut; default hour of the day.
    pub season: Season,
    /// Values kept per bucket and feature; at least 3. Default 32: for
    /// five-minute data by hour of the day, the last two to three days of
    /// each hour.
    pub history: usize,
    /// Values a bucket needs before it judges its points; at least 2 and
    /// at most `history`. Default 8.
    pub min_history: usize,
    /// Minutes added to UTC to get the local calendar, in [-1440, 1440];
    /// default 0.
    pub utc_offset_minutes: i32,
    /// The bucket's spread is at least this share of the overall spread,
    /// in [0, 1]; default 0.1.
    pub scale_floor: f64,
}

impl Default for SeasonalParams {
    fn default() -> Self {
        SeasonalParams {
            season: Season::default(),
            history: 32,
            min_history: 8,
            utc_offset_minutes: 0,
            scale_floor: 0.1,
        }
    }
}

impl SeasonalParams {
    /// Checks every parameter; the first bad one is reported.
    pub fn validate(&self) -> Result<(), OnlineError> {
        if self.history < 3 {
            return Err(OnlineError::param(
                "history",
                "must be at least 3",
                self.history,
            ));
        }
        if self.min_history < 2 || self.min_history > self.history {
            let requirement = format!("must be at least 2 and at most history ({})", self.history);
            return Err(OnlineError::param(
                "min_history",
                requirement,
                self.min_history,
            ));
        }
        if self.utc_offset_minutes.abs() > 1440 {
            return Err(OnlineError::param(
                "utc_offset_minutes",
                "must be in [-1440, 1440]",
                self.utc_offset_minutes,
            ));
        }
        if !(0.0..=1.0).contains(&self.scale_floor) {
            return Err(OnlineError::param(
                "scale_floor",
                "must be in [0, 1]",
                self.scale_floor,
            ));
        }
        Ok(())
    }
}

/// The last `capacity` values of one series, oldest overwritten first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Ring {
    values: Vec<f64>,
    /// Where the next value goes once the ring is full.
    next: usize,
}

impl Ring {
    fn push(&mut self, value: f64, capacity: usize) {
        if self.values.len() < capacity {
            self.values.push(value);
        } else {
            self.values[self.next] = value;
        }
        self.next = (self.next + 1) % capacity;
    }

    /// The median and the MAD of the values, or `None` when there are
    /// fewer than `min_len`.
    fn median_mad(&self, min_len: usize, scratch: &mut Vec<f64>) -> Option<(f64, f64)> {
        if self.values.len() < min_len || self.values.is_empty() {
            return None;
        }
        scratch.clear();
        scratch.extend_from_slice(&self.values);
        let median = median_in_place(scratch);
        for value in scratch.iter_mut() {
            *value = (*value - median).abs();
        }
        Some((median, median_in_place(scratch)))
    }
}

/// The median of a non-empty slice, reordering it.
fn median_in_place(values: &mut [f64]) -> f64 {
    let len = values.len();
    let middle = len / 2;
    let (below, upper, _) = values.select_nth_unstable_by(middle, f64::total_cmp);
    let upper = *upper;
    if len % 2 == 1 {
        upper
    } else {
        // The lower middle value is the largest of the half below.
        let lower = below.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        0.5 * (lower + upper)
    }
}

/// Seasonal robust statistics detector; see the module documentation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SeasonalProfile {
    params: SeasonalParams,
    n_features: usize,
    /// `buckets[bucket * n_features + feature]`.
    buckets: Vec<Ring>,
    /// One per feature.
    overall: Vec<Ring>,
    /// The last time given to [`OnlineDetector::observe_time`], local
    /// milliseconds since the epoch.
    local_time: i64,
    n_seen: u64,
}

impl SeasonalProfile {
    /// An empty detector for points of `n_features` values.
    pub fn new(params: &SeasonalParams, n_features: usize) -> Result<SeasonalProfile, OnlineError> {
        params.validate()?;
        if n_features == 0 {
            return Err(OnlineError::param("n_features", "must be at least 1", 0));
        }
        let empty = Ring {
            values: Vec::new(),
            next: 0,
        };
        Ok(SeasonalProfile {
            params: params.clone(),
            n_features,
            buckets: vec![empty.clone(); params.season.n_buckets() * n_features],
            overall: vec![empty; n_features],
            local_time: 0,
            n_seen: 0,
        })
    }

    /// The parameters the detector was built with.
    pub fn params(&self) -> &SeasonalParams {
        &self.params
    }

    /// The bucket the next point falls into.
    pub fn current_bucket(&self) -> usize {
        self.params.season.bucket(self.local_time)
    }

    /// Checks the invariants that indexing relies on.
    pub fn check_state(&self) -> Result<(), OnlineError> {
        self.params.validate()?;
        let history = self.params.history;
        if self.n_features == 0
            || self.buckets.len() != self.params.season.n_buckets() * self.n_features
            || self.overall.len() != self.n_features
        {
            return Err(OnlineError::corrupt(
                "seasonal state does not match its feature count",
            ));
        }
        let bad_bucket = self
            .buckets
            .iter()
            .any(|ring| ring.values.len() > history || ring.next >= history);
        let bad_overall = self.overall.iter().any(|ring| {
            ring.values.len() > history * OVERALL_FACTOR || ring.next >= history * OVERALL_FACTOR
        });
        if bad_bucket || bad_overall {
            return Err(OnlineError::corrupt(
                "seasonal history longer than its capacity",
            ));
        }
        Ok(())
    }

    /// The robust z-score of each feature of a valid point.
    fn feature_scores(&self, point: &[f64]) -> Vec<f64> {
        let bucket = self.current_bucket();
        let mut scratch = Vec::with_capacity(self.params.history * OVERALL_FACTOR);
        let min_len = self.params.min_history;
        point
            .iter()
            .enumerate()
            .map(|(feature, &value)| {
                let overall = self.overall[feature].median_mad(min_len, &mut scratch);
                let local = self.buckets[bucket * self.n_features + feature]
                    .median_mad(min_len, &mut scratch);
                let Some((median, mad)) = local.or(overall) else {
                    return 0.0;
                };
                let overall_spread = overall.map_or(0.0, |(_, mad)| mad);
                let scale = (MAD_TO_STD * mad)
                    .max(self.params.scale_floor * MAD_TO_STD * overall_spread)
                    .max(MIN_RELATIVE_SCALE * median.abs().max(1.0));
                (value - median).abs() / scale
            })
            .collect()
    }
}

impl OnlineDetector for SeasonalProfile {
    fn name(&self) -> &'static str {
        NAME
    }

    fn state_bytes(&self) -> usize {
        let ring_bytes = |ring: &Ring| size_of::<Ring>() + ring.values.len() * size_of::<f64>();
        size_of::<Self>()
            + self.buckets.iter().map(ring_bytes).sum::<usize>()
            + self.overall.iter().map(ring_bytes).sum::<usize>()
    }

    fn n_features(&self) -> usize {
        self.n_features
    }

    fn score_one(&self, point: &[f64]) -> f64 {
        if !is_valid_point(point, self.n_features) {
            return f64::NAN;
        }
        self.feature_scores(point).into_iter().fold(0.0, f64::max)
    }

    fn learn_one(&mut self, point: &[f64]) {
        if !is_valid_point(point, self.n_features) {
            return;
        }
        let bucket = self.current_bucket();
        let history = self.params.history;
        for (feature, &value) in point.iter().enumerate() {
            self.buckets[bucket * self.n_features + feature].push(value, history);
            self.overall[feature].push(value, history * OVERALL_FACTOR);
        }
        self.n_seen += 1;
    }

    fn attribute_one(&self, point: &[f64]) -> Vec<f64> {
        if !is_valid_point(point, self.n_features) {
            return vec![0.0; self.n_features];
        }
        normalise_shares(self.feature_scores(point))
    }

    fn n_seen(&self) -> u64 {
        self.n_seen
    }

    fn observe_time(&mut self, epoch_ms: i64) {
        let offset = i64::from(self.params.utc_offset_minutes) * MS_PER_MINUTE;
        self.local_time = epoch_ms.saturating_add(offset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-30 00:00 UTC, a Monday.
    const MONDAY: i64 = 1_795_996_800_000;

    #[test]
    fn buckets_follow_the_calendar() {
        assert_eq!(Season::DayOfWeek.bucket(0), 3, "the epoch was a Thursday");
        assert_eq!(Season::DayOfWeek.bucket(MONDAY), 0);
        assert_eq!(Season::HourOfDay.bucket(MONDAY + 13 * MS_PER_HOUR + 59), 13);
        assert_eq!(
            Season::HourOfWeek.bucket(MONDAY + 6 * MS_PER_DAY + 23 * MS_PER_HOUR),
            167
        );
        // Before the epoch the calendar still runs forwards.
        assert_eq!(Season::HourOfDay.bucket(-1), 23);
        assert_eq!(Season::DayOfWeek.bucket(-1), 2);
    }

    #[test]
    fn medians_of_odd_and_even_lengths() {
        assert_eq!(median_in_place(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median_in_place(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median_in_place(&mut [7.0]), 7.0);
    }

    /// Hourly values: 100 in working hours (09-17), 10 otherwise, with a
    /// small deterministic wobble.
    fn office_load(hour_index: i64) -> f64 {
        let hour = hour_index.rem_euclid(24);
        let wobble = [0.0, 1.0, -1.0, 0.5, -0.5][(hour_index % 5) as usize];
        if (9..17).contains(&hour) {
            100.0 + wobble
        } else {
            10.0 + wobble
        }
    }

    fn trained(params: &SeasonalParams, days: i64) -> SeasonalProfile {
        let mut detector = SeasonalProfile::new(params, 1).unwrap();
        for hour_index in 0..days * 24 {
            detector.observe_time(MONDAY + hour_index * MS_PER_HOUR);
            detector.learn_one(&[office_load(hour_index)]);
        }
        detector
    }

    #[test]
    fn a_value_normal_by_day_is_anomalous_at_night() {
        let detector = trained(&SeasonalParams::default(), 20);
        let at = |hour: i64, value: f64| {
            let mut probe = detector.clone();
            probe.observe_time(MONDAY + (20 * 24 + hour) * MS_PER_HOUR);
            probe.score_one(&[value])
        };
        let noon_busy = at(12, 100.0);
        let night_busy = at(3, 100.0);
        let night_quiet = at(3, 10.0);
        assert!(noon_busy < 1.0, "{noon_busy}");
        assert!(night_quiet < 1.0, "{night_quiet}");
        assert!(night_busy > 20.0, "{night_busy}");

        // Without the calendar every busy hour looks like the anomaly: the
        // recent history is mostly quiet hours.
        let mut blind = SeasonalProfile::new(&SeasonalParams::default(), 1).unwrap();
        for hour_index in 0..20 * 24 {
            blind.learn_one(&[office_load(hour_index)]);
        }
        assert!(blind.score_one(&[100.0]) > 20.0);
    }

    #[test]
    fn day_of_week_separates_weekends() {
        let params = SeasonalParams {
            season: Season::DayOfWeek,
            ..SeasonalParams::default()
        };
        let mut detector = SeasonalProfile::new(&params, 1).unwrap();
        for day in 0..70 {
            detector.observe_time(MONDAY + day * MS_PER_DAY);
            let weekend = day % 7 >= 5;
            let wobble = (day % 3) as f64;
            detector.learn_one(&[if weekend { 5.0 } else { 50.0 } + wobble]);
        }
        detector.observe_time(MONDAY + 75 * MS_PER_DAY); // a Saturday
        assert!(detector.score_one(&[6.0]) < 1.5);
        assert!(detector.score_one(&[50.0]) > 10.0);
    }

    #[test]
    fn the_offset_shifts_the_calendar() {
        let params = SeasonalParams {
            utc_offset_minutes: -300,
            ..SeasonalParams::default()
        };
        let mut detector = SeasonalProfile::new(&params, 1).unwrap();
        detector.observe_time(MONDAY + 14 * MS_PER_HOUR);
        assert_eq!(detector.current_bucket(), 9);
    }

    #[test]
    fn young_buckets_fall_back_to_the_overall_history() {
        let params = SeasonalParams::default();
        let mut detector = SeasonalProfile::new(&params, 1).unwrap();
        assert_eq!(detector.score_one(&[5.0]), 0.0, "nothing learned yet");
        // Ten values, all at hour 0.
        for step in 0..10 {
            detector.observe_time(MONDAY + step * MS_PER_DAY);
            detector.learn_one(&[(step % 3) as f64]);
        }
        // Hour 5 has no history: judged against the overall one.
        detector.observe_time(MONDAY + 5 * MS_PER_HOUR);
        assert!(detector.score_one(&[1.0]) < 1.0);
        assert!(detector.score_one(&[30.0]) > 10.0);
    }

    #[test]
    fn one_bad_night_does_not_become_normal() {
        let mut detector = trained(&SeasonalParams::default(), 20);
        // Three nights in a row at 03:00 are busy.
        for night in 20..23 {
            detector.observe_time(MONDAY + (night * 24 + 3) * MS_PER_HOUR);
            detector.learn_one(&[100.0]);
        }
        detector.observe_time(MONDAY + (23 * 24 + 3) * MS_PER_HOUR);
        assert!(detector.score_one(&[100.0]) > 20.0);
    }

    #[test]
    fn attribution_names_the_feature_that_moved() {
        let mut detector = SeasonalProfile::new(&SeasonalParams::default(), 3).unwrap();
        for step in 0..200 {
            let wobble = (step % 4) as f64;
            detector.observe_time(MONDAY + step * MS_PER_HOUR);
            detector.learn_one(&[wobble, 10.0 + wobble, -wobble]);
        }
        detector.observe_time(MONDAY + 200 * MS_PER_HOUR);
        let shares = detector.attribute_one(&[1.0, 40.0, -2.0]);
        assert!(shares[1] > 0.9, "{shares:?}");
        assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn constant_features_give_finite_scores() {
        let mut detector = SeasonalProfile::new(&SeasonalParams::default(), 1).unwrap();
        for _ in 0..50 {
            detector.learn_one(&[0.0]);
        }
        assert_eq!(detector.score_one(&[0.0]), 0.0);
        let moved = detector.score_one(&[1.0]);
        assert!(moved.is_finite() && moved > 1e6, "{moved}");
    }

    #[test]
    fn bad_points_score_nan_and_are_not_learned() {
        let mut detector = SeasonalProfile::new(&SeasonalParams::default(), 2).unwrap();
        assert!(detector.score_one(&[f64::NAN, 1.0]).is_nan());
        assert!(detector.score_one(&[1.0]).is_nan());
        detector.learn_one(&[f64::INFINITY, 1.0]);
        detector.learn_one(&[1.0]);
        assert_eq!(detector.n_seen(), 0);
        assert_eq!(detector.attribute_one(&[1.0]), vec![0.0, 0.0]);
    }

    #[test]
    fn memory_is_bounded_by_the_history() {
        let params = SeasonalParams {
            history: 5,
            min_history: 3,
            ..SeasonalParams::default()
        };
        let mut detector = SeasonalProfile::new(&params, 1).unwrap();
        for step in 0..10_000 {
            detector.observe_time(MONDAY + step * MS_PER_HOUR);
            detector.learn_one(&[step as f64]);
        }
        assert!(detector.buckets.iter().all(|ring| ring.values.len() == 5));
        assert_eq!(detector.overall[0].values.len(), 40);
        detector.check_state().unwrap();
    }

    #[test]
    fn parameters_are_checked() {
        let check = |params: SeasonalParams| SeasonalProfile::new(&params, 1).unwrap_err();
        let error = check(SeasonalParams {
            history: 2,
            ..SeasonalParams::default()
        });
        assert!(
            error.to_string().contains("history must be at least 3"),
            "{error}"
        );
        let error = check(SeasonalParams {
            min_history: 40,
            ..SeasonalParams::default()
        });
        assert!(error.to_string().contains("min_history"), "{error}");
        let error = check(SeasonalParams {
            scale_floor: 2.0,
            ..SeasonalParams::default()
        });
        assert!(error.to_string().contains("scale_floor"), "{error}");
        let error = check(SeasonalParams {
            utc_offset_minutes: 5000,
            ..SeasonalParams::default()
        });
        assert!(error.to_string().contains("utc_offset_minutes"), "{error}");
    }

    #[test]
    fn restored_state_scores_identically() {
        let detector = trained(&SeasonalParams::default(), 5);
        let bytes = postcard::to_stdvec(&detector).unwrap();
        let mut restored: SeasonalProfile = postcard::from_bytes(&bytes).unwrap();
        restored.check_state().unwrap();
        let mut original = detector;
        for hour_index in 120..200 {
            let time = MONDAY + hour_index * MS_PER_HOUR;
            original.observe_time(time);
            restored.observe_time(time);
            let point = [office_load(hour_index * 7)];
            assert_eq!(
                original.score_learn_one(&point).to_bits(),
                restored.score_learn_one(&point).to_bits()
            );
        }
    }
}
