//! Isolation Forest fit and score on in-memory Gaussian data.
//!
//! Shapes: 10,000 and 100,000 points × 10 features, default parameters
//! (100 trees, 256 points per tree). Run with `cargo bench -p oddity`;
//! comparisons against other tools live in `bench/side_by_side.py`.

use ndarray::Array2;
use oddity::detector::{Detector, IsolationForest, IsolationForestParams, SplitKind};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand_distr::{Distribution, StandardNormal};

const N_FEATURES: usize = 10;

fn main() {
    divan::main();
}

fn gaussian(n_points: usize) -> Array2<f64> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0);
    Array2::from_shape_fn((n_points, N_FEATURES), |_| StandardNormal.sample(&mut rng))
}

#[divan::bench(args = [10_000, 100_000])]
fn fit(bencher: divan::Bencher, n_points: usize) {
    let points = gaussian(n_points);
    let params = IsolationForestParams::default();
    bencher.bench(|| IsolationForest::fit(&params, points.view()).expect("fits"));
}

#[divan::bench(args = [10_000, 100_000])]
fn score(bencher: divan::Bencher, n_points: usize) {
    let points = gaussian(n_points);
    let forest =
        IsolationForest::fit(&IsolationForestParams::default(), points.view()).expect("fits");
    bencher.bench(|| forest.score(points.view()));
}

#[divan::bench(args = [10_000])]
fn score_extended(bencher: divan::Bencher, n_points: usize) {
    let points = gaussian(n_points);
    let params = IsolationForestParams {
        split: SplitKind::Hyperplane {
            extension_level: None,
        },
        ..IsolationForestParams::default()
    };
    let forest = IsolationForest::fit(&params, points.view()).expect("fits");
    bencher.bench(|| forest.score(points.view()));
}

#[divan::bench]
fn attribute(bencher: divan::Bencher) {
    let points = gaussian(10_000);
    let forest =
        IsolationForest::fit(&IsolationForestParams::default(), points.view()).expect("fits");
    bencher.bench(|| forest.attribute(points.row(0)));
}
