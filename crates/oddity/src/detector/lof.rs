//! Local Outlier Factor (Breunig, Kriegel, Ng and Sander, SIGMOD 2000), as
//! scikit-learn's `LocalOutlierFactor(novelty=True)`, which PyOD's `LOF`
//! wraps.
//!
//! With `k` neighbours and `k_distance(o)` the distance from training point
//! `o` to its k-th nearest other training point:
//!
//! - the reachability distance of `x` from `o` is
//!   `max(distance(x, o), k_distance(o))`, which smooths distances inside
//!   `o`'s neighbourhood;
//! - the local reachability density of `x` is `1 / (mean reachability
//!   distance from its k nearest neighbours + 1e-10)`; the `1e-10` is
//!   scikit-learn's, and keeps the density finite when more than `k`
//!   training points coincide;
//! - the score, the local outlier factor, is the mean ratio of the
//!   neighbours' densities to the point's own: about 1 inside a cluster,
//!   well above 1 for a point less dense than its neighbours. It is
//!   scikit-learn's `score_samples` negated (`-negative_outlier_factor_`
//!   for training points), so higher is more anomalous.
//!
//! Training points find their neighbours and densities without
//! themselves, as in scikit-learn's fit, and their scores are kept as
//! [`LocalOutlierFactor::training_scores`]; new points are scored against
//! all training points. Defaults follow PyOD and scikit-learn
//! (`n_neighbors = 20`, Euclidean distance).
//!
//! Costs: as [`super::KNearestNeighbors`] with `k = 20`, one neighbour
//! query per training point to fit and per point to score; fitting also
//! holds `n × k` neighbours (12 bytes each) while it computes densities.
//! The fitted detector keeps the training points and two numbers per point.
//! `max_training_points` subsamples the training points as for
//! [`super::KNearestNeighbors`], with the same caveat: densities are
//! estimated from `m` of `n` points, so the neighbourhood of `k` sampled
//! points spans about `k n / m` real ones, and scores are approximate (on
//! 100,000 Gaussian points in 10 features, samples of 10,000 and 30,000
//! points kept a rank correlation of 0.92 and 0.94 with exact scores).
//! Each approximate fit measures this on 32 random training points: an
//! exact index over every training point gives their exact scores (each
//! needs the neighbours of its neighbours, about `k² + k + 1` searches),
//! and [`LocalOutlierFactor::approximation`] reports the rank correlation,
//! which the fit also logs as a warning. Building that index costs what an
//! exact fit's index costs; the searches, a small part of an exact fit's.
//! Above a million training points the index's copy of them is not built
//! and the fit only warns that its scores are approximate.
//!
//! Attribution: the score grows with the point's mean reachability distance
//! (the neighbours' densities do not depend on the point); each neighbour's
//! reachability distance is split over the features in proportion to the
//! squared per-feature differences from the point to it.

use ndarray::{ArrayView1, ArrayView2};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::neighbors::{self, ApproximationCheck, NeighborIndex};
use super::{Detector, FitError, ParamError, normalise_shares};

/// Added to the mean reachability distance before inverting it, as
/// scikit-learn does, so that coinciding points get a large finite density.
const DENSITY_EPSILON: f64 = 1e-10;

/// Parameters of [`LocalOutlierFactor`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LocalOutlierFactorParams {
    /// Neighbours per point, `k`; default 20 (PyOD, scikit-learn). Capped
    /// at the number of training points less one.
    pub n_neighbors: usize,
    /// Index only a uniform sample of this many training points, which
    /// makes scores approximate (see the module documentation); default
    /// `None`, exact.
    pub max_training_points: Option<usize>,
    /// Seed of the sample drawn for `max_training_points`; default 42.
    pub seed: u64,
}

impl Default for LocalOutlierFactorParams {
    fn default() -> Self {
        LocalOutlierFactorParams {
            n_neighbors: 20,
            max_training_points: None,
            seed: 42,
        }
    }
}

impl LocalOutlierFactorParams {
    /// Checks every parameter; the first bad one is reported.
    pub fn validate(&self) -> Result<(), ParamError> {
        neighbors::validate_params(self.n_neighbors, self.max_training_points)
    }

    /// The detector's name, as [`Detector::name`] reports it.
    pub(crate) fn name(&self) -> &'static str {
        "local_outlier_factor"
    }
}

/// A fitted Local Outlier Factor detector; see the module documentation.
///
/// ```
/// # use oddity::detector::{Detector, LocalOutlierFactor, LocalOutlierFactorParams};
/// let points = ndarray::array![[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [0.1, 0.1], [5.0, 5.0]];
/// let params = LocalOutlierFactorParams { n_neighbors: 2, ..Default::default() };
/// let detector = LocalOutlierFactor::fit(&params, points.view()).unwrap();
/// let scores = detector.training_scores();
/// assert!(scores[4] > 10.0 && (scores[0] - 1.0).abs() < 0.5);
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LocalOutlierFactor {
    params: LocalOutlierFactorParams,
    /// `k` after capping at the indexed points less one.
    n_neighbors: usize,
    index: NeighborIndex,
    /// Per indexed point: distance to its k-th nearest other indexed point.
    k_distances: Vec<f64>,
    /// Per indexed point: local reachability density.
    densities: Vec<f64>,
    training_scores: Vec<f64>,
    /// With `max_training_points`, how closely the training scores follow
    /// exact ones; measured at fit time and not saved with the model.
    #[serde(skip)]
    approximation: Option<ApproximationCheck>,
}

/// Training points an approximate fit compares with their exact scores:
/// each costs about `k² + k + 1` searches of an exact index.
const APPROXIMATION_PROBES: usize = 32;

/// Most training points an approximate fit measures itself on: the exact
/// index holds a copy of every point, which beyond this would add more
/// memory than a measurement is worth.
const MAX_POINTS_CHECKED: usize = 1_000_000;

impl LocalOutlierFactor {
    /// Indexes the training points (finite, at least 2) and computes their
    /// k-distances, densities and leave-one-out scores.
    pub fn fit(
        params: &LocalOutlierFactorParams,
        points: ArrayView2<'_, f64>,
    ) -> Result<LocalOutlierFactor, FitError> {
        params.validate()?;
        neighbors::check_training_points(points)?;
        let reference =
            neighbors::choose_reference(points.nrows(), params.max_training_points, params.seed);
        let index = match &reference {
            Some(rows) => NeighborIndex::build(points.select(ndarray::Axis(0), rows).view()),
            None => NeighborIndex::build(points),
        };
        let n_neighbors = params.n_neighbors.min(index.n_points() - 1);
        tracing::debug!(
            n_points = points.nrows(),
            n_reference_points = index.n_points(),
            n_neighbors,
            "fitting local outlier factor"
        );

        let own = index.query_indexed(n_neighbors);
        let n_reference = index.n_points();
        let k_distances: Vec<f64> = (0..n_reference)
            .map(|id| own.distances(id)[n_neighbors - 1])
            .collect();
        let densities: Vec<f64> = (0..n_reference)
            .into_par_iter()
            .map(|id| density(own.distances(id), own.ids(id), &k_distances))
            .collect();
        let own_scores: Vec<f64> = (0..n_reference)
            .into_par_iter()
            .map(|id| outlier_factor(densities[id], own.ids(id), &densities))
            .collect();
        // The n × k neighbours are the fit's largest allocation; free them
        // before the points outside a sample are scored.
        drop(own);

        let mut detector = LocalOutlierFactor {
            params: params.clone(),
            n_neighbors,
            index,
            k_distances,
            densities,
            training_scores: Vec::new(),
            approximation: None,
        };
        detector.training_scores =
            neighbors::training_scores(points, reference.as_deref(), own_scores, |rows| {
                detector.score_finite(rows)
            });
        if reference.is_some() && points.nrows() > MAX_POINTS_CHECKED {
            tracing::warn!(
                "local_outlier_factor searches {} of {} training points, so its scores are \
                 approximate; how closely they follow exact ones is not measured above {} \
                 training points",
                detector.index.n_points(),
                points.nrows(),
                MAX_POINTS_CHECKED,
            );
        } else if reference.is_some() {
            let check = ApproximationCheck::measure(
                params.name(),
                detector.index.n_points(),
                &detector.training_scores,
                APPROXIMATION_PROBES,
                params.seed,
                |probes| exact_training_scores(points, probes, n_neighbors),
            );
            detector.approximation = Some(check);
        }
        Ok(detector)
    }

    /// With `max_training_points` below the training points, how closely
    /// the training scores follow exact ones (measured at fit time on a
    /// seeded sample of training points); `None` when exact, or when the
    /// detector was loaded from a model file.
    pub fn approximation(&self) -> Option<ApproximationCheck> {
        self.approximation
    }

    /// The parameters the detector was fitted with.
    pub fn params(&self) -> &LocalOutlierFactorParams {
        &self.params
    }

    /// Neighbours per point actually used: `n_neighbors`, capped at the
    /// indexed points less one (scikit-learn's `n_neighbors_`).
    pub fn n_neighbors(&self) -> usize {
        self.n_neighbors
    }

    /// Training points the detector searches: all of them, or
    /// `max_training_points` when that is smaller.
    pub fn n_reference_points(&self) -> usize {
        self.index.n_points()
    }

    /// Scores of the training points, each leaving itself out of its
    /// neighbours (scikit-learn's `-negative_outlier_factor_`, PyOD's
    /// `decision_scores_`), in training order. These, not
    /// [`Detector::score`] of the training points, are the reference
    /// distribution for a threshold.
    pub fn training_scores(&self) -> &[f64] {
        &self.training_scores
    }

    fn score_in_sample_finite(&self, points: ArrayView2<'_, f64>) -> Vec<f64> {
        let found = self.index.query(points, self.n_neighbors + 1);
        (0..points.nrows())
            .into_par_iter()
            .map(|row| {
                let (distances, ids) =
                    neighbors::without_self(found.distances(row), found.ids(row));
                let own = density(distances, ids, &self.k_distances);
                outlier_factor(own, ids, &self.densities)
            })
            .collect()
    }

    fn score_finite(&self, points: ArrayView2<'_, f64>) -> Vec<f64> {
        let found = self.index.query(points, self.n_neighbors);
        (0..points.nrows())
            .into_par_iter()
            .map(|row| {
                let own = density(found.distances(row), found.ids(row), &self.k_distances);
                outlier_factor(own, found.ids(row), &self.densities)
            })
            .collect()
    }
}

/// Exact leave-one-out scores of training rows `rows` of `points`, with `k`
/// neighbours, from an index of every point: the rows' neighbours, their
/// neighbours' neighbours (for densities), and the k-distances of those.
fn exact_training_scores(points: ArrayView2<'_, f64>, rows: &[usize], k: usize) -> Vec<f64> {
    let index = NeighborIndex::build(points);
    // Each training row's own neighbours, itself left out.
    let neighbours_of = |rows: &[usize]| -> Vec<(Vec<f64>, Vec<u32>)> {
        let found = index.query(points.select(ndarray::Axis(0), rows).view(), k + 1);
        (0..rows.len())
            .map(|row| {
                let (distances, ids) =
                    neighbors::without_self(found.distances(row), found.ids(row));
                (distances.to_vec(), ids.to_vec())
            })
            .collect()
    };
    let unseen = |lists: &[(Vec<f64>, Vec<u32>)], known: &[bool]| -> Vec<usize> {
        let mut ids: Vec<usize> = lists
            .iter()
            .flat_map(|(_, ids)| ids.iter().map(|&id| id as usize))
            .filter(|&id| !known[id])
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    let n_points = points.nrows();
    let mut k_distances = vec![f64::NAN; n_points];
    let mut known = vec![false; n_points];
    let probed = neighbours_of(rows);
    let around = unseen(&probed, &known);
    let around_lists = neighbours_of(&around);
    for (&id, (distances, _)) in around.iter().zip(&around_lists) {
        k_distances[id] = distances[k - 1];
        known[id] = true;
    }
    let beyond = unseen(&around_lists, &known);
    for (&id, (distances, _)) in beyond.iter().zip(neighbours_of(&beyond)) {
        k_distances[id] = distances[k - 1];
    }
    let mut densities = vec![f64::NAN; n_points];
    for (&id, (distances, ids)) in around.iter().zip(&around_lists) {
        densities[id] = density(distances, ids, &k_distances);
    }
    probed
        .iter()
        .map(|(distances, ids)| {
            outlier_factor(density(distances, ids, &k_distances), ids, &densities)
        })
        .collect()
}

/// Local reachability density from the distances to, and ids of, a point's
/// neighbours.
fn density(distances: &[f64], ids: &[u32], k_distances: &[f64]) -> f64 {
    let total: f64 = distances
        .iter()
        .zip(ids)
        .map(|(&distance, &id)| distance.max(k_distances[id as usize]))
        .sum();
    1.0 / (total / distances.len() as f64 + DENSITY_EPSILON)
}

/// Mean ratio of the neighbours' densities to the point's own, averaged
/// ratio by ratio as scikit-learn does.
fn outlier_factor(own_density: f64, ids: &[u32], densities: &[f64]) -> f64 {
    let total: f64 = ids
        .iter()
        .map(|&id| densities[id as usize] / own_density)
        .sum();
    total / ids.len() as f64
}

impl Detector for LocalOutlierFactor {
    fn name(&self) -> &'static str {
        self.params.name()
    }

    fn n_features(&self) -> usize {
        self.index.n_features()
    }

    fn score(&self, points: ArrayView2<'_, f64>) -> Vec<f64> {
        neighbors::score_rows(points, self.n_features(), |rows| self.score_finite(rows))
    }

    fn score_in_sample(&self, points: ArrayView2<'_, f64>) -> Vec<f64> {
        neighbors::score_rows(points, self.n_features(), |rows| {
            self.score_in_sample_finite(rows)
        })
    }

    fn training_scores(&self) -> Option<&[f64]> {
        Some(&self.training_scores)
    }

    fn attribute(&self, point: ArrayView1<'_, f64>) -> Vec<f64> {
        if point.len() != self.n_features() {
            return vec![0.0; self.n_features()];
        }
        let point = point.to_vec();
        if let Some(shares) = neighbors::non_finite_shares(&point) {
            return shares;
        }
        let nearest = self.index.query_point(&point, self.n_neighbors);
        let reachability: Vec<f64> = nearest
            .iter()
            .map(|neighbor| {
                neighbor
                    .distance
                    .max(self.k_distances[neighbor.id as usize])
            })
            .collect();
        normalise_shares(neighbors::split_over_features(
            &self.index,
            &point,
            &nearest,
            &reachability,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detector::ecdf::reference::gaussian;
    use ndarray::Array2;
    use rand::SeedableRng;
    use rand::rngs::Xoshiro256PlusPlus;
    use rand_distr::{Distribution, StandardNormal};

    fn fit_default(points: &Array2<f64>) -> LocalOutlierFactor {
        LocalOutlierFactor::fit(&LocalOutlierFactorParams::default(), points.view()).unwrap()
    }

    #[test]
    fn planted_outlier_scores_highest() {
        let mut points = gaussian(1000, 4, 1);
        points.row_mut(17).fill(6.0);
        let detector = fit_default(&points);
        for scores in [
            detector.training_scores().to_vec(),
            detector.score(points.view()),
        ] {
            let best = (0..scores.len()).max_by(|&a, &b| scores[a].total_cmp(&scores[b]));
            assert_eq!(best, Some(17));
            assert!(scores[17] > 2.0, "{}", scores[17]);
        }
        let mut sorted = detector.training_scores().to_vec();
        sorted.sort_by(f64::total_cmp);
        approx::assert_abs_diff_eq!(sorted[500], 1.0, epsilon = 0.1);
    }

    // scikit-learn's LocalOutlierFactor(novelty=True) on
    // `neighbors::fixture`, negated; see scripts/knn_lof_reference.py.
    const LOF_20_TRAIN: [f64; 40] = [
        0.9880662453839733,
        1.0329468704213454,
        0.9903228358477305,
        1.0236398447986912,
        0.988068538898353,
        1.015051514144814,
        1.021631927765171,
        2.8696637442351127,
        0.9798179981228765,
        0.9921865599704329,
        0.9807754393376804,
        0.9851452600418386,
        0.9851524855952489,
        1.0337472794220024,
        0.9935576488262248,
        0.9869787100559646,
        1.011127533076046,
        0.9862713098515732,
        0.986764316125569,
        1.0446101778635835,
        0.9748789429986535,
        1.0082044376917447,
        1.4818148844095451,
        1.1148970416965671,
        1.0264779952639125,
        1.0120703951680494,
        0.9877978688592158,
        0.9741058638813959,
        1.0889097851207499,
        1.0237445805890575,
        1.8006895299966221,
        1.877004560154911,
        1.79007079531497,
        1.917157028939513,
        1.6941887047134574,
        1.7450667571298866,
        1.8461908916132956,
        1.8329519814712594,
        1.9153371633547784,
        1.8019763888222613,
    ];
    const LOF_20_NEW: [f64; 6] = [
        1.4841972533534615,
        1.2867005992639426,
        1.0649560691408273,
        0.9695535179807553,
        1.7292467219219643,
        1.0128586304480827,
    ];
    const LOF_7_TRAIN: [f64; 40] = [
        0.9763134136462963,
        1.1208983256846259,
        1.0592738120843705,
        1.07778736595139,
        1.0163539770524257,
        1.4057979687648776,
        1.2152702786907699,
        3.695360917975326,
        0.9817536098980552,
        0.9118893661433459,
        1.0094356816458994,
        1.0472322887528593,
        0.971626302394152,
        1.1722527122181583,
        1.0259023791100048,
        1.0236538247519849,
        1.0941065649967674,
        0.9883452329075032,
        0.9787666630638884,
        1.1608226225975729,
        1.0653190448586962,
        1.0740726065320214,
        2.018725589387747,
        1.1760635438175038,
        1.0656233638149923,
        1.1145086835297084,
        0.9577716502904299,
        0.9590871150902769,
        1.3050490475027772,
        1.3526382658998084,
        0.9553416343267261,
        0.9934289008772073,
        1.0333675191253606,
        0.978083053274043,
        1.1471235510815045,
        1.1476673093595342,
        1.034877796138159,
        0.9707436661517512,
        0.9712715810554938,
        0.9962350204979157,
    ];
    const LOF_7_NEW: [f64; 6] = [
        2.2025203029101355,
        1.6280944317272863,
        1.1685656516588065,
        1.024139279891335,
        0.9381181532722734,
        1.0454505930414495,
    ];

    #[test]
    fn scores_agree_with_scikit_learn() {
        let train = ndarray::arr2(&neighbors::fixture::TRAIN);
        let new = ndarray::arr2(&neighbors::fixture::NEW);
        for (n_neighbors, on_train, on_new) in
            [(20, LOF_20_TRAIN, LOF_20_NEW), (7, LOF_7_TRAIN, LOF_7_NEW)]
        {
            let params = LocalOutlierFactorParams {
                n_neighbors,
                ..LocalOutlierFactorParams::default()
            };
            let detector = LocalOutlierFactor::fit(&params, train.view()).unwrap();
            for (got, want) in detector.training_scores().iter().zip(on_train) {
                approx::assert_abs_diff_eq!(*got, want, epsilon = 1e-6);
            }
            for (got, want) in detector.score(new.view()).iter().zip(on_new) {
                approx::assert_abs_diff_eq!(*got, want, epsilon = 1e-6);
            }
        }
    }

    #[test]
    fn planted_feature_ranks_first_in_attribution() {
        let points = gaussian(2000, 5, 7);
        let detector = fit_default(&points);
        for planted in 0..5 {
            let mut probe = vec![0.1; 5];
            probe[planted] = 7.0;
            let shares = detector.attribute(ArrayView1::from(&probe));
            let top = (0..5).max_by(|&a, &b| shares[a].total_cmp(&shares[b]));
            assert_eq!(top, Some(planted), "shares {shares:?}");
            approx::assert_abs_diff_eq!(shares.iter().sum::<f64>(), 1.0, epsilon = 1e-9);
        }
    }

    #[test]
    fn a_point_in_a_sparse_cluster_beside_a_dense_one_is_not_an_outlier() {
        // Density is judged locally: a point of a sparse cluster scores like
        // the dense cluster's points, about 1, while a point between them
        // scores high.
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let mut rows = Vec::new();
        for _ in 0..300 {
            let (x, y): (f64, f64) = (
                StandardNormal.sample(&mut rng),
                StandardNormal.sample(&mut rng),
            );
            rows.push([0.1 * x, 0.1 * y]);
            rows.push([10.0 + 2.0 * x, 2.0 * y]);
        }
        rows.push([1.5, 0.0]);
        let points = Array2::from(rows);
        let detector = fit_default(&points);
        let scores = detector.training_scores();
        assert!(scores[600] > 5.0, "{}", scores[600]);
        let sparse_median = {
            let mut sparse: Vec<f64> = scores
                .iter()
                .skip(1)
                .step_by(2)
                .take(300)
                .copied()
                .collect();
            sparse.sort_by(f64::total_cmp);
            sparse[150]
        };
        approx::assert_abs_diff_eq!(sparse_median, 1.0, epsilon = 0.15);
    }

    #[test]
    fn duplicates_beyond_k_give_finite_scores() {
        let mut points = Array2::zeros((60, 2));
        points.row_mut(59).fill(1.0);
        let detector = fit_default(&points);
        let scores = detector.training_scores();
        assert!(scores.iter().all(|score| score.is_finite()));
        assert_eq!(scores[0], 1.0);
        assert!(scores[59] > 1e9, "{}", scores[59]);
    }

    #[test]
    fn exact_scores_of_chosen_rows_equal_an_exact_fit() {
        let points = gaussian(600, 3, 12);
        let exact =
            LocalOutlierFactor::fit(&LocalOutlierFactorParams::default(), points.view()).unwrap();
        let rows = [0, 17, 299, 598];
        let scores = exact_training_scores(points.view(), &rows, 20);
        for (&row, score) in rows.iter().zip(scores) {
            let want = exact.training_scores()[row];
            assert!((score - want).abs() < 1e-12, "row {row}: {score} vs {want}");
        }
    }

    #[test]
    fn approximate_fit_measures_how_closely_it_follows_exact_scores() {
        let points = gaussian(3000, 3, 9);
        let check = |max_training_points| {
            let params = LocalOutlierFactorParams {
                max_training_points,
                ..LocalOutlierFactorParams::default()
            };
            LocalOutlierFactor::fit(&params, points.view())
                .unwrap()
                .approximation()
        };
        assert_eq!(check(None), None);
        let close = check(Some(2900)).unwrap();
        let rough = check(Some(60)).unwrap();
        assert_eq!(close.n_probes, 32);
        assert!(close.rank_correlation > 0.9, "{close:?}");
        assert!(
            rough.rank_correlation < close.rank_correlation - 0.05,
            "{rough:?} {close:?}"
        );
    }

    #[test]
    fn approximate_mode_indexes_a_sample_and_scores_every_training_point() {
        let mut points = gaussian(3000, 3, 4);
        points.row_mut(2500).fill(8.0);
        let params = LocalOutlierFactorParams {
            max_training_points: Some(500),
            ..LocalOutlierFactorParams::default()
        };
        let detector = LocalOutlierFactor::fit(&params, points.view()).unwrap();
        assert_eq!(detector.n_reference_points(), 500);
        let scores = detector.training_scores();
        assert_eq!(scores.len(), 3000);
        let best = (0..scores.len()).max_by(|&a, &b| scores[a].total_cmp(&scores[b]));
        assert_eq!(best, Some(2500));
    }

    #[test]
    fn constant_data_scores_one_without_panicking() {
        let points = Array2::from_elem((50, 3), 1.5);
        let detector = fit_default(&points);
        assert!(detector.training_scores().iter().all(|&score| score == 1.0));
        assert_eq!(detector.score(points.view()), vec![1.0; 50]);
        assert_eq!(detector.attribute(points.row(0)), vec![0.0; 3]);
    }

    #[test]
    fn two_points_fit_and_one_point_is_an_error() {
        let two = ndarray::array![[0.0, 0.0], [3.0, 4.0]];
        let detector = fit_default(&two);
        assert_eq!(detector.n_neighbors(), 1);
        assert_eq!(detector.training_scores(), &[1.0, 1.0]);
        let one = ndarray::array![[1.0, 2.0]];
        assert!(LocalOutlierFactor::fit(&LocalOutlierFactorParams::default(), one.view()).is_err());
    }

    #[test]
    fn non_finite_and_misshapen_points_do_not_panic() {
        let points = gaussian(100, 2, 5);
        let detector = fit_default(&points);
        let odd = ndarray::array![[f64::NAN, 1.0], [0.0, 0.0], [0.0, f64::NEG_INFINITY]];
        let scores = detector.score(odd.view());
        assert!(scores[0].is_nan() && scores[1].is_finite() && scores[2] == f64::INFINITY);
        assert_eq!(detector.attribute(odd.row(2)), vec![0.0, 1.0]);
        assert!(
            detector
                .score(Array2::zeros((2, 1)).view())
                .iter()
                .all(|s| s.is_nan())
        );
        let error = LocalOutlierFactor::fit(
            &LocalOutlierFactorParams::default(),
            ndarray::array![[0.0], [f64::INFINITY]].view(),
        )
        .unwrap_err();
        assert!(
            error.to_string().ends_with("points must be finite"),
            "{error}"
        );
    }

    #[test]
    fn bad_parameters_are_rejected_with_their_names() {
        let zero = LocalOutlierFactorParams {
            n_neighbors: 0,
            ..LocalOutlierFactorParams::default()
        };
        let error = LocalOutlierFactor::fit(&zero, gaussian(10, 2, 1).view()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid parameter: n_neighbors must be at least 1, got 0"
        );
    }

    #[test]
    fn postcard_round_trip_gives_identical_scores() {
        let points = gaussian(500, 3, 6);
        let detector = fit_default(&points);
        let bytes = postcard::to_stdvec(&detector).unwrap();
        let loaded: LocalOutlierFactor = postcard::from_bytes(&bytes).unwrap();
        let probes = gaussian(50, 3, 7);
        assert_eq!(loaded.score(probes.view()), detector.score(probes.view()));
        assert_eq!(loaded.training_scores(), detector.training_scores());
        assert_eq!(loaded.params(), detector.params());
    }

    #[test]
    fn scores_do_not_depend_on_the_thread_count() {
        let points = gaussian(5000, 4, 3);
        let fit_and_score = || {
            let detector = fit_default(&points);
            (
                detector.training_scores().to_vec(),
                detector.score(points.view()),
            )
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        assert_eq!(pool.install(fit_and_score), fit_and_score());
    }
}
