//! k-nearest-neighbour distance and Local Outlier Factor fit and score on
//! in-memory Gaussian data.
//!
//! Shapes: 10,000 and 100,000 points × 10 features (the tree walks alone),
//! and 10,000 × 40 (matrix-product filtering), default parameters. Run
//! with `cargo bench -p oddity --bench neighbors`; the comparison with
//! PyOD and scikit-learn is `scripts/knn_lof_reference.py`'s timing mode.

use ndarray::Array2;
use oddity::detector::{
    Detector, KNearestNeighbors, KNearestNeighborsParams, LocalOutlierFactor,
    LocalOutlierFactorParams,
};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand_distr::{Distribution, StandardNormal};

fn main() {
    divan::main();
}

fn gaussian(n_points: usize, n_features: usize) -> Array2<f64> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0);
    Array2::from_shape_fn((n_points, n_features), |_| StandardNormal.sample(&mut rng))
}

#[divan::bench(args = [(10_000, 10), (100_000, 10), (10_000, 40)])]
fn knn_fit(bencher: divan::Bencher, (n_points, n_features): (usize, usize)) {
    let points = gaussian(n_points, n_features);
    let params = KNearestNeighborsParams::default();
    bencher.bench(|| KNearestNeighbors::fit(&params, points.view()).expect("fits"));
}

#[divan::bench(args = [(10_000, 10), (100_000, 10), (10_000, 40)])]
fn knn_score(bencher: divan::Bencher, (n_points, n_features): (usize, usize)) {
    let points = gaussian(n_points, n_features);
    let detector =
        KNearestNeighbors::fit(&KNearestNeighborsParams::default(), points.view()).expect("fits");
    bencher.bench(|| detector.score(points.view()));
}

#[divan::bench(args = [(10_000, 10), (100_000, 10)])]
fn lof_fit(bencher: divan::Bencher, (n_points, n_features): (usize, usize)) {
    let points = gaussian(n_points, n_features);
    let params = LocalOutlierFactorParams::default();
    bencher.bench(|| LocalOutlierFactor::fit(&params, points.view()).expect("fits"));
}

#[divan::bench(args = [(10_000, 10), (100_000, 10)])]
fn lof_score(bencher: divan::Bencher, (n_points, n_features): (usize, usize)) {
    let points = gaussian(n_points, n_features);
    let detector =
        LocalOutlierFactor::fit(&LocalOutlierFactorParams::default(), points.view()).expect("fits");
    bencher.bench(|| detector.score(points.view()));
}
