//! Regularising a timestamped series onto an even grid, and inferring its
//! seasonal period from the spacing.
//!
//! STL needs evenly spaced values without gaps. The grid's step is the
//! median spacing of the timestamps; each point goes to the nearest grid
//! slot (two points in one slot are averaged for the decomposition), and
//! empty slots are filled by linear interpolation between the nearest
//! filled ones (the nearest value beyond the ends). Filled slots feed the
//! decomposition only: they are no points, so they are never tested or
//! reported.

use super::SeriesError;

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// A grid longer than this many times the points means gaps dominate the
/// series; filling them would be invention, not interpolation.
const MAX_GRID_PER_POINT: usize = 10;

/// Where each point of a series sits on an even grid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grid {
    /// Grid step: the median spacing of the timestamps (1 when there are
    /// none, counting points).
    pub spacing_ms: i64,
    /// Number of grid slots.
    pub n_slots: usize,
    /// The slot of each point, in input order.
    pub slots: Vec<usize>,
}

impl Grid {
    /// Every point in its own slot: a series without timestamps.
    pub fn positions(n_points: usize) -> Self {
        Grid {
            spacing_ms: 1,
            n_slots: n_points,
            slots: (0..n_points).collect(),
        }
    }

    /// The grid of `timestamps` (milliseconds), in any order: the step is
    /// the median of the positive gaps between consecutive distinct times,
    /// the first slot the earliest time. Repeated times share a slot (as
    /// NAB's corpus has around clock changes).
    ///
    /// Errors when the gaps would make the grid more than ten times as long
    /// as the series.
    pub fn from_timestamps(timestamps: &[i64]) -> Result<Self, SeriesError> {
        let mut sorted = timestamps.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let Some(&start) = sorted.first() else {
            return Ok(Grid::positions(0));
        };
        let mut gaps: Vec<i64> = sorted.windows(2).map(|pair| pair[1] - pair[0]).collect();
        if gaps.is_empty() {
            return Ok(Grid {
                spacing_ms: 1,
                n_slots: 1,
                slots: vec![0; timestamps.len()],
            });
        }
        let middle = gaps.len() / 2;
        let spacing_ms = *gaps.select_nth_unstable(middle).1;

        let slots: Vec<usize> = timestamps
            .iter()
            .map(|&t| ((t - start) as f64 / spacing_ms as f64).round() as usize)
            .collect();
        let n_slots = slots.iter().max().map_or(0, |last| last + 1);
        if n_slots > MAX_GRID_PER_POINT * timestamps.len() {
            return Err(SeriesError::Gaps {
                n_points: timestamps.len(),
                n_slots,
                spacing_ms,
            });
        }
        Ok(Grid {
            spacing_ms,
            n_slots,
            slots,
        })
    }

    /// The points' values laid on the grid: slots with several points get
    /// their mean; empty slots (and non-finite values) are interpolated.
    /// `None` when no value is finite.
    pub fn fill(&self, values: &[f64]) -> Option<Vec<f64>> {
        let mut sums = vec![0.0; self.n_slots];
        let mut counts = vec![0u32; self.n_slots];
        for (&slot, &value) in self.slots.iter().zip(values) {
            if value.is_finite() {
                sums[slot] += value;
                counts[slot] += 1;
            }
        }
        let known: Vec<usize> = (0..self.n_slots).filter(|&s| counts[s] > 0).collect();
        let (&first, &last) = (known.first()?, known.last()?);
        for &slot in &known {
            sums[slot] /= f64::from(counts[slot]);
        }

        let (before, after) = (sums[first], sums[last]);
        sums[..first].fill(before);
        sums[last + 1..].fill(after);
        for pair in known.windows(2) {
            let (left, right) = (pair[0], pair[1]);
            let step = (sums[right] - sums[left]) / (right - left) as f64;
            for slot in left + 1..right {
                sums[slot] = sums[left] + step * (slot - left) as f64;
            }
        }
        Some(sums)
    }
}

/// The daily period of a grid with step `spacing_ms`: a day's worth of
/// steps for sub-daily data (rounded), a week of days for daily data;
/// `None` for other spacings, whose period must be given.
pub fn infer_period(spacing_ms: i64) -> Option<usize> {
    if spacing_ms <= 0 {
        return None;
    }
    if spacing_ms == DAY_MS {
        return Some(7);
    }
    let per_day = (DAY_MS as f64 / spacing_ms as f64).round();
    (per_day >= 2.0).then_some(per_day as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000;

    #[test]
    fn irregular_timestamps_snap_to_the_median_spacing() {
        let times = [0, 5, 10, 15, 20, 35].map(|m| m * MINUTE);
        let mut times = times.to_vec();
        times[2] += 20_000;

        let grid = Grid::from_timestamps(&times).unwrap();

        assert_eq!(grid.spacing_ms, 5 * MINUTE);
        assert_eq!(grid.slots, [0, 1, 2, 3, 4, 7]);
        assert_eq!(grid.n_slots, 8);
    }

    #[test]
    fn gaps_and_missing_values_are_interpolated() {
        let grid = Grid {
            spacing_ms: 1,
            n_slots: 7,
            slots: vec![1, 2, 3, 6],
        };

        let filled = grid.fill(&[2.0, f64::NAN, 6.0, 0.0]).unwrap();

        assert_eq!(filled, [2.0, 2.0, 4.0, 6.0, 4.0, 2.0, 0.0]);
        assert_eq!(grid.fill(&[f64::NAN; 4]), None);
    }

    #[test]
    fn points_sharing_a_slot_are_averaged() {
        let grid = Grid {
            spacing_ms: 1,
            n_slots: 2,
            slots: vec![0, 1, 1],
        };
        assert_eq!(grid.fill(&[1.0, 2.0, 4.0]).unwrap(), [1.0, 3.0]);
    }

    #[test]
    fn repeated_and_unordered_times_share_the_grid() {
        let grid = Grid::from_timestamps(&[0, 10, 10, 30, 20]).unwrap();

        assert_eq!(grid.spacing_ms, 10);
        assert_eq!(grid.slots, [0, 1, 1, 3, 2]);
        assert_eq!(grid.n_slots, 4);
    }

    #[test]
    fn huge_gaps_are_refused() {
        let error = Grid::from_timestamps(&[0, 1, 2, 3, 1000]).unwrap_err();
        assert!(matches!(error, SeriesError::Gaps { .. }), "{error}");
    }

    #[test]
    fn periods_follow_the_day() {
        assert_eq!(infer_period(5 * MINUTE), Some(288));
        assert_eq!(infer_period(60 * MINUTE), Some(24));
        assert_eq!(infer_period(DAY_MS), Some(7));
        assert_eq!(infer_period(7 * MINUTE), Some(206));
        assert_eq!(infer_period(2 * DAY_MS), None);
        assert_eq!(infer_period(0), None);
    }
}
