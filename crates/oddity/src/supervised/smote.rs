//! SMOTE, the synthetic minority oversampling technique (Chawla, Bowyer,
//! Hall and Kegelmeyer, JAIR 2002), as imbalanced-learn's `SMOTE` with its
//! default strategy: the smaller class grows to the size of the larger.
//!
//! Each synthetic point lies on the segment between a minority point drawn
//! uniformly and one of that point's `k` nearest minority neighbours (also
//! drawn uniformly), at a uniform random position. Neighbours come from the
//! exact KD-tree index of the neighbour detectors; the cost is one
//! `k`-nearest-neighbour query per minority point.

use ndarray::{Array2, ArrayView2, Axis};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

use crate::detector::FitError;
use crate::detector::neighbors::NeighborIndex;

/// Synthetic points for the smaller class of `points` (rows with
/// `labels`), enough to equal the larger class; their label is the smaller
/// class's. Returns no rows when the classes are already equal.
pub(crate) fn oversample(
    points: ArrayView2<'_, f64>,
    labels: &[bool],
    k: usize,
    seed: u64,
) -> Result<(Array2<f64>, bool), FitError> {
    let n_anomalies = labels.iter().filter(|&&label| label).count();
    let n_normal = labels.len() - n_anomalies;
    let minority_label = n_anomalies < n_normal;
    let minority: Vec<usize> = (0..labels.len())
        .filter(|&row| labels[row] == minority_label)
        .collect();
    let n_new = n_anomalies.abs_diff(n_normal);
    let n_features = points.ncols();
    if n_new == 0 {
        return Ok((Array2::zeros((0, n_features)), minority_label));
    }
    if minority.len() < 2 || n_features == 0 {
        return Err(FitError::NotEnoughData {
            n_points: minority.len(),
            n_features,
            reason: "smote needs at least 2 labelled points of the smaller class",
        });
    }
    if points.iter().any(|value| !value.is_finite()) {
        return Err(FitError::NotEnoughData {
            n_points: labels.len(),
            n_features,
            reason: "smote needs finite points",
        });
    }

    let minority_points = points.select(Axis(0), &minority);
    let index = NeighborIndex::build(minority_points.view());
    let neighbours = index.query_indexed(k.max(1));
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut synthetic = Array2::zeros((n_new, n_features));
    for mut row in synthetic.rows_mut() {
        let base = rng.random_range(0..minority.len());
        let ids = neighbours.ids(base);
        let other = ids[rng.random_range(0..ids.len())] as usize;
        let gap: f64 = rng.random();
        let from = minority_points.row(base);
        let to = minority_points.row(other);
        for ((slot, &a), &b) in row.iter_mut().zip(from).zip(to) {
            *slot = a + gap * (b - a);
        }
    }
    tracing::debug!(
        n_synthetic = n_new,
        n_minority = minority.len(),
        k,
        "smote oversampled the smaller class"
    );
    Ok((synthetic, minority_label))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_points_lie_between_minority_neighbours() {
        // Minority points on the segment x = y in [10, 11]; majority far away.
        let mut values = Vec::new();
        let mut labels = Vec::new();
        for i in 0..6 {
            let t = 10.0 + f64::from(i) / 5.0;
            values.extend([t, t]);
            labels.push(true);
        }
        for i in 0..20 {
            values.extend([f64::from(i), -f64::from(i)]);
            labels.push(false);
        }
        let points = Array2::from_shape_vec((26, 2), values).unwrap();
        let (synthetic, label) = oversample(points.view(), &labels, 5, 7).unwrap();
        assert!(label);
        assert_eq!(synthetic.nrows(), 14);
        for row in synthetic.rows() {
            assert!((row[0] - row[1]).abs() < 1e-12, "{row}");
            assert!((10.0..=11.0).contains(&row[0]), "{row}");
        }
        let (again, _) = oversample(points.view(), &labels, 5, 7).unwrap();
        assert_eq!(synthetic, again);
    }

    #[test]
    fn one_minority_point_is_an_error() {
        let points = Array2::from_shape_vec((3, 1), vec![0.0, 1.0, 2.0]).unwrap();
        let error = oversample(points.view(), &[true, false, false], 5, 1).unwrap_err();
        assert!(error.to_string().contains("smote"), "{error}");
    }
}
