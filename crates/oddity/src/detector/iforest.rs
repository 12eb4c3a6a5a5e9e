//! Isolation Forest (Liu, Ting and Zhou, ICDM 2008) and the Extended
//! Isolation Forest (Hariri, Carrasco Kind and Brunner, IEEE TKDE 2019).
//!
//! Each tree is grown on a random subsample of `max_samples` points by
//! random splits until every point is alone or the depth limit
//! `ceil(log2(max_samples))` is reached. Anomalies are isolated by fewer
//! splits, so the score `2^(-E[h(x)] / c(max_samples))` is close to 1 for
//! them and well below 0.5 for dense regions; `c(n)` is the average path
//! length of an unsuccessful binary-search-tree search, which also corrects
//! the path length of leaves that still hold several points.
//!
//! The standard variant splits on one feature at a uniformly random
//! threshold between the node's minimum and maximum, as scikit-learn's
//! `IsolationForest` does; the extended variant splits on a random
//! hyperplane through a random point of the node's bounding box, which
//! removes the axis-parallel artefacts of the standard score map.
//!
//! Costs: fitting is `O(n_trees · max_samples · log max_samples)`, scoring
//! `O(n_points · n_trees · log max_samples)`, both spread over all rayon
//! threads. Memory is about `32 · max_samples` bytes per tree.
//!
//! Attribution: each split on a point's path removes a share of the
//! training points that were still with it; the number of bits removed,
//! `log2(size(node) / size(child))`, is credited to the split's feature (to
//! each feature of a hyperplane in proportion to `|w_j (x_j - p_j)|`). A
//! feature that isolates the point quickly collects most of the bits.

use ndarray::{ArrayView1, ArrayView2};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Detector, FitError, ParamError, normalise_shares};

/// Euler–Mascheroni constant, used by the harmonic-number approximation.
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// Rows scored together by one rayon task: small enough to stay in cache
/// next to one tree, large enough to amortise task overhead.
const SCORE_BLOCK_ROWS: usize = 256;

/// Rows walked through a tree in lockstep, so that their independent memory
/// loads overlap instead of waiting on each other.
const LOCKSTEP_ROWS: usize = 8;

/// How many training points each tree sees.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxSamples {
    /// `min(256, n_points)`, the paper's and scikit-learn's default.
    Auto,
    /// A fixed count, capped at the number of training points.
    Count(usize),
    /// A fraction of the training points in (0, 1].
    Fraction(f64),
}

/// The kind of split a tree makes.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitKind {
    /// One feature, a threshold between its node minimum and maximum.
    Axis,
    /// A random hyperplane with `extension_level + 1` non-zero coefficients;
    /// `None` means all features (full extension).
    Hyperplane { extension_level: Option<usize> },
}

/// Parameters of [`IsolationForest`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IsolationForestParams {
    /// Number of trees; default 100.
    pub n_trees: usize,
    /// Subsample size per tree; default [`MaxSamples::Auto`] (256).
    pub max_samples: MaxSamples,
    /// Axis-parallel (default) or extended hyperplane splits.
    pub split: SplitKind,
    /// Seed of the random generator; equal seeds give equal forests whatever
    /// the number of threads. Default 42.
    pub seed: u64,
}

impl Default for IsolationForestParams {
    fn default() -> Self {
        IsolationForestParams {
            n_trees: 100,
            max_samples: MaxSamples::Auto,
            split: SplitKind::Axis,
            seed: 42,
        }
    }
}

impl IsolationForestParams {
    /// Checks every parameter; the first bad one is reported.
    pub fn validate(&self) -> Result<(), ParamError> {
        if self.n_trees == 0 {
            return Err(ParamError::new(
                "n_trees",
                "must be at least 1",
                self.n_trees,
            ));
        }
        if self.n_trees > 100_000 {
            return Err(ParamError::new(
                "n_trees",
                "must be at most 100000",
                self.n_trees,
            ));
        }
        match self.max_samples {
            MaxSamples::Auto => {}
            MaxSamples::Count(count) => {
                if count < 2 {
                    return Err(ParamError::new("max_samples", "must be at least 2", count));
                }
            }
            MaxSamples::Fraction(fraction) => {
                if !(fraction > 0.0 && fraction <= 1.0) {
                    return Err(ParamError::new(
                        "max_samples",
                        "must be in (0, 1]",
                        fraction,
                    ));
                }
            }
        }
        Ok(())
    }

    pub(crate) fn name(&self) -> &'static str {
        match self.split {
            SplitKind::Axis => "isolation_forest",
            SplitKind::Hyperplane { .. } => "extended_isolation_forest",
        }
    }

    fn subsample_size(&self, n_points: usize) -> usize {
        let wanted = match self.max_samples {
            MaxSamples::Auto => 256,
            MaxSamples::Count(count) => count,
            MaxSamples::Fraction(fraction) => (fraction * n_points as f64).ceil() as usize,
        };
        wanted.clamp(1, n_points)
    }
}

/// A fitted Isolation Forest; see the module documentation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IsolationForest {
    params: IsolationForestParams,
    n_features: usize,
    subsample_size: usize,
    trees: Vec<Tree>,
}

/// One tree, nodes in flat arrays with the root at index 0.
///
/// Leaves point their `left` child at themselves and split at +inf, so a
/// walk of `depth` steps from the root always ends on the point's leaf:
/// this lets many rows be walked in lockstep without per-row exits. What a
/// walk reads (`nodes`) is kept apart from what only attribution and the
/// final lookup read, so the walked arrays stay small in cache.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Tree {
    nodes: Vec<Node>,
    /// Per node: training points that reached it.
    sizes: Vec<u32>,
    /// Per node: for leaves, depth plus the expected remaining path `c(size)`.
    path_lengths: Vec<f64>,
    /// Per node, extended trees only: number of hyperplane terms, starting
    /// at `feature` in `coefficients`. Empty for axis-parallel trees.
    n_terms: Vec<u32>,
    /// Deepest leaf's depth: the number of steps of every walk.
    depth: u32,
    /// Hyperplane terms of extended trees, referenced by their nodes.
    coefficients: Vec<HyperplaneTerm>,
}

/// One term of a hyperplane split: `weight * (x[feature] - intercept)`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct HyperplaneTerm {
    feature: u32,
    weight: f64,
    intercept: f64,
}

/// The part of a node a walk reads: 16 bytes.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct Node {
    /// Points with value (or projection) above this go right.
    threshold: f64,
    /// Axis split: the feature. Hyperplane split: start of its terms.
    feature: u32,
    /// Index of the left child; the right child is `left + 1`.
    left: u32,
}

impl Node {
    fn is_leaf(&self, index: usize) -> bool {
        self.left as usize == index
    }
}

impl IsolationForest {
    /// Grows the forest on a finite row-major matrix of training points.
    ///
    /// Non-finite values do not panic but make splits on that feature
    /// meaningless; [`crate::prep`] removes them first.
    pub fn fit(
        params: &IsolationForestParams,
        points: ArrayView2<'_, f64>,
    ) -> Result<IsolationForest, FitError> {
        params.validate()?;
        let (n_points, n_features) = points.dim();
        if n_points == 0 || n_features == 0 {
            let reason = if n_points == 0 {
                "no points"
            } else {
                "no features"
            };
            return Err(FitError::NotEnoughData {
                n_points,
                n_features,
                reason,
            });
        }
        let subsample_size = params.subsample_size(n_points);
        let max_depth = (subsample_size.max(2) as f64).log2().ceil() as u32;
        tracing::debug!(
            n_points,
            n_features,
            subsample_size,
            "growing isolation forest"
        );

        let points = points.as_standard_layout();
        let data = points.as_slice().expect("standard layout is contiguous");
        let trees = (0..params.n_trees)
            .into_par_iter()
            .map(|tree_index| {
                // One generator per tree, derived from the seed and the tree's
                // index, keeps the forest identical for any thread count.
                let seed = params.seed ^ (tree_index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
                let sample = rand::seq::index::sample(&mut rng, n_points, subsample_size);
                let builder = TreeBuilder {
                    data,
                    n_features,
                    max_depth,
                    split: params.split,
                };
                builder.grow(sample.into_vec(), &mut rng)
            })
            .collect();
        Ok(IsolationForest {
            params: params.clone(),
            n_features,
            subsample_size,
            trees,
        })
    }

    /// The parameters the forest was grown with.
    pub fn params(&self) -> &IsolationForestParams {
        &self.params
    }

    /// Points each tree was grown on.
    pub fn subsample_size(&self) -> usize {
        self.subsample_size
    }

    fn normaliser(&self) -> f64 {
        average_path_length(self.subsample_size as f64).max(f64::MIN_POSITIVE)
    }

    fn score_block(&self, block: &[f64], sums: &mut [f64]) {
        let n_features = self.n_features;
        for tree in &self.trees {
            if tree.n_terms.is_empty() {
                for (group, group_sums) in block
                    .chunks(LOCKSTEP_ROWS * n_features)
                    .zip(sums.chunks_mut(LOCKSTEP_ROWS))
                {
                    tree.walk_axis_lockstep(group, n_features, group_sums);
                }
            } else {
                for (row, sum) in block.chunks_exact(n_features).zip(sums.iter_mut()) {
                    *sum += tree.path_lengths[tree.leaf_of(row)];
                }
            }
        }
    }
}

impl Detector for IsolationForest {
    fn name(&self) -> &'static str {
        self.params.name()
    }

    fn n_features(&self) -> usize {
        self.n_features
    }

    fn score(&self, points: ArrayView2<'_, f64>) -> Vec<f64> {
        let n_points = points.nrows();
        if n_points == 0 || points.ncols() != self.n_features {
            return vec![f64::NAN; n_points];
        }
        let points = points.as_standard_layout();
        let data = points.as_slice().expect("standard layout is contiguous");
        let mut scores = vec![0.0; n_points];
        let normaliser = self.normaliser() * self.trees.len() as f64;
        scores
            .par_chunks_mut(SCORE_BLOCK_ROWS)
            .zip(data.par_chunks(SCORE_BLOCK_ROWS * self.n_features))
            .for_each(|(block_scores, block)| {
                self.score_block(block, block_scores);
                for score in block_scores.iter_mut() {
                    *score = 2f64.powf(-*score / normaliser);
                }
            });
        scores
    }

    fn attribute(&self, point: ArrayView1<'_, f64>) -> Vec<f64> {
        let mut bits = vec![0.0; self.n_features];
        if point.len() != self.n_features {
            return bits;
        }
        let point = point.to_vec();
        for tree in &self.trees {
            tree.attribute(&point, &mut bits);
        }
        normalise_shares(bits)
    }
}

impl Tree {
    /// Walks up to [`LOCKSTEP_ROWS`] rows together and adds their leaves'
    /// path lengths to `sums`.
    fn walk_axis_lockstep(&self, rows: &[f64], n_features: usize, sums: &mut [f64]) {
        if sums.len() == LOCKSTEP_ROWS {
            self.walk_axis_group::<LOCKSTEP_ROWS>(rows, n_features, sums);
        } else {
            for (row, sum) in rows.chunks_exact(n_features).zip(sums.chunks_mut(1)) {
                self.walk_axis_group::<1>(row, n_features, sum);
            }
        }
    }

    /// Walks exactly `N` rows; a constant count lets the compiler unroll
    /// the inner loop so the rows' loads are issued back to back.
    fn walk_axis_group<const N: usize>(&self, rows: &[f64], n_features: usize, sums: &mut [f64]) {
        let rows: [&[f64]; N] =
            std::array::from_fn(|row| &rows[row * n_features..(row + 1) * n_features]);
        let mut at = [0u32; N];
        for _ in 0..self.depth {
            for (position, row) in at.iter_mut().zip(rows) {
                let node = &self.nodes[*position as usize];
                *position = node.left + u32::from(row[node.feature as usize] > node.threshold);
            }
        }
        for (sum, position) in sums.iter_mut().zip(at) {
            *sum += self.path_lengths[position as usize];
        }
    }

    /// Hyperplane terms of node `index`; empty for axis splits.
    fn terms(&self, index: usize) -> &[HyperplaneTerm] {
        match self.n_terms.get(index) {
            Some(&count) if count > 0 => {
                let start = self.nodes[index].feature as usize;
                &self.coefficients[start..start + count as usize]
            }
            _ => &[],
        }
    }

    /// Which side of node `index` the point falls on: `true` is right.
    fn goes_right(&self, index: usize, point: &[f64]) -> bool {
        let node = &self.nodes[index];
        let terms = self.terms(index);
        if terms.is_empty() {
            point[node.feature as usize] > node.threshold
        } else {
            let projection: f64 = terms
                .iter()
                .map(|term| term.weight * point[term.feature as usize])
                .sum();
            projection > node.threshold
        }
    }

    fn leaf_of(&self, point: &[f64]) -> usize {
        let mut index = 0;
        loop {
            let node = &self.nodes[index];
            if node.is_leaf(index) {
                return index;
            }
            index = node.left as usize + usize::from(self.goes_right(index, point));
        }
    }

    fn attribute(&self, point: &[f64], bits: &mut [f64]) {
        let mut index = 0;
        loop {
            let node = &self.nodes[index];
            if node.is_leaf(index) {
                return;
            }
            let child = node.left as usize + usize::from(self.goes_right(index, point));
            // An extended split can leave a child empty; it still isolates
            // the point completely, which is what size 1 expresses.
            let child_size = self.sizes[child].max(1);
            let removed = (f64::from(self.sizes[index]) / f64::from(child_size)).log2();
            let terms = self.terms(index);
            if terms.is_empty() {
                bits[node.feature as usize] += removed;
            } else {
                // Each term's share of how far the point lies from the
                // hyperplane's random point along the normal.
                let magnitudes: Vec<f64> = terms
                    .iter()
                    .map(|term| {
                        (term.weight * (point[term.feature as usize] - term.intercept)).abs()
                    })
                    .collect();
                let total: f64 = magnitudes.iter().sum();
                if total > 0.0 && total.is_finite() {
                    for (term, magnitude) in terms.iter().zip(magnitudes) {
                        bits[term.feature as usize] += removed * magnitude / total;
                    }
                }
            }
            index = child;
        }
    }
}

/// Grows one tree over a subsample of row indices.
struct TreeBuilder<'a> {
    data: &'a [f64],
    n_features: usize,
    max_depth: u32,
    split: SplitKind,
}

/// A split chosen for one node.
enum Split {
    Axis {
        feature: usize,
        threshold: f64,
    },
    Hyperplane {
        terms: Vec<HyperplaneTerm>,
        threshold: f64,
    },
}

impl TreeBuilder<'_> {
    fn value(&self, row: usize, feature: usize) -> f64 {
        self.data[row * self.n_features + feature]
    }

    fn grow(&self, mut rows: Vec<usize>, rng: &mut Xoshiro256PlusPlus) -> Tree {
        let hyperplanes = matches!(self.split, SplitKind::Hyperplane { .. });
        let mut tree = Tree {
            nodes: Vec::new(),
            sizes: Vec::new(),
            path_lengths: Vec::new(),
            n_terms: Vec::new(),
            depth: 0,
            coefficients: Vec::new(),
        };
        let mut feature_order: Vec<usize> = (0..self.n_features).collect();
        // Pending nodes: (node index, start, end, depth) over `rows`.
        let mut pending = vec![(0usize, 0usize, rows.len(), 0u32)];
        push_leaf(&mut tree, rows.len(), 0, hyperplanes);
        while let Some((index, start, end, depth)) = pending.pop() {
            let size = end - start;
            let split = if size <= 1 || depth >= self.max_depth {
                None
            } else {
                self.choose_split(&rows[start..end], &mut feature_order, rng)
            };
            let Some(split) = split else {
                tree.depth = tree.depth.max(depth);
                continue;
            };
            let n_left = self.partition(&mut rows[start..end], &split);
            let left = tree.nodes.len();
            push_leaf(&mut tree, n_left, depth + 1, hyperplanes);
            push_leaf(&mut tree, size - n_left, depth + 1, hyperplanes);
            tree.nodes[index] = match split {
                Split::Axis { feature, threshold } => Node {
                    threshold,
                    feature: feature as u32,
                    left: left as u32,
                },
                Split::Hyperplane { terms, threshold } => {
                    let start = tree.coefficients.len() as u32;
                    tree.n_terms[index] = terms.len() as u32;
                    tree.coefficients.extend(terms);
                    Node {
                        threshold,
                        feature: start,
                        left: left as u32,
                    }
                }
            };
            pending.push((left, start, start + n_left, depth + 1));
            pending.push((left + 1, start + n_left, end, depth + 1));
        }
        tree
    }

    fn choose_split(
        &self,
        rows: &[usize],
        feature_order: &mut [usize],
        rng: &mut Xoshiro256PlusPlus,
    ) -> Option<Split> {
        match self.split {
            SplitKind::Axis => {
                // Draw features without replacement until one varies in this
                // node, like scikit-learn's random splitter; constant features
                // cannot separate anything.
                for drawn in 0..feature_order.len() {
                    let pick = rng.random_range(drawn..feature_order.len());
                    feature_order.swap(drawn, pick);
                    let feature = feature_order[drawn];
                    let (low, high) = self.range(rows, feature);
                    if low < high {
                        let mut threshold = rng.random_range(low..high);
                        if threshold >= high {
                            threshold = low;
                        }
                        return Some(Split::Axis { feature, threshold });
                    }
                }
                None
            }
            SplitKind::Hyperplane { extension_level } => {
                self.choose_hyperplane(rows, extension_level, rng)
            }
        }
    }

    fn choose_hyperplane(
        &self,
        rows: &[usize],
        extension_level: Option<usize>,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Option<Split> {
        let varying: Vec<(usize, f64, f64)> = (0..self.n_features)
            .filter_map(|feature| {
                let (low, high) = self.range(rows, feature);
                (low < high).then_some((feature, low, high))
            })
            .collect();
        if varying.is_empty() {
            return None;
        }
        let n_terms = extension_level.map_or(varying.len(), |level| (level + 1).min(varying.len()));
        // Partial Fisher–Yates over the varying features picks the terms.
        let mut order: Vec<usize> = (0..varying.len()).collect();
        for drawn in 0..n_terms {
            let pick = rng.random_range(drawn..order.len());
            order.swap(drawn, pick);
        }
        let mut terms = Vec::with_capacity(n_terms);
        let mut threshold = 0.0;
        for &choice in &order[..n_terms] {
            let (feature, low, high) = varying[choice];
            let weight: f64 = rng.sample(StandardNormal);
            let intercept = rng.random_range(low..high);
            threshold += weight * intercept;
            terms.push(HyperplaneTerm {
                feature: feature as u32,
                weight,
                intercept,
            });
        }
        Some(Split::Hyperplane { terms, threshold })
    }

    fn range(&self, rows: &[usize], feature: usize) -> (f64, f64) {
        rows.iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), &row| {
                let value = self.value(row, feature);
                (low.min(value), high.max(value))
            })
    }

    /// Moves rows going left to the front; returns how many there are.
    fn partition(&self, rows: &mut [usize], split: &Split) -> usize {
        let goes_right = |row: usize| match split {
            Split::Axis { feature, threshold } => self.value(row, *feature) > *threshold,
            Split::Hyperplane { terms, threshold } => {
                let projection: f64 = terms
                    .iter()
                    .map(|term| term.weight * self.value(row, term.feature as usize))
                    .sum();
                projection > *threshold
            }
        };
        let mut n_left = 0;
        for position in 0..rows.len() {
            if !goes_right(rows[position]) {
                rows.swap(n_left, position);
                n_left += 1;
            }
        }
        n_left
    }
}

/// Appends a leaf (a node that loops to itself) of `size` training points.
fn push_leaf(tree: &mut Tree, size: usize, depth: u32, hyperplanes: bool) {
    let index = tree.nodes.len() as u32;
    tree.nodes.push(Node {
        threshold: f64::INFINITY,
        feature: 0,
        left: index,
    });
    tree.sizes.push(size as u32);
    tree.path_lengths
        .push(f64::from(depth) + average_path_length(size as f64));
    if hyperplanes {
        tree.n_terms.push(0);
    }
}

/// Average path length of an unsuccessful search in a binary search tree of
/// `n` points: `2 H(n - 1) - 2 (n - 1) / n`, with `c(1) = 0` and `c(2) = 1`.
pub(crate) fn average_path_length(n: f64) -> f64 {
    if n <= 1.0 {
        0.0
    } else if n <= 2.0 {
        1.0
    } else {
        2.0 * ((n - 1.0).ln() + EULER_GAMMA) - 2.0 * (n - 1.0) / n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detector::ecdf::reference::gaussian;
    use ndarray::Array2;

    fn params(split: SplitKind) -> IsolationForestParams {
        IsolationForestParams {
            split,
            ..IsolationForestParams::default()
        }
    }

    #[test]
    fn average_path_length_matches_known_values() {
        assert_eq!(average_path_length(1.0), 0.0);
        assert_eq!(average_path_length(2.0), 1.0);
        // scikit-learn's _average_path_length([256]).
        approx::assert_abs_diff_eq!(
            average_path_length(256.0),
            10.244_770_920_119_917,
            epsilon = 1e-12
        );
    }

    #[test]
    fn planted_outlier_scores_highest() {
        for split in [
            SplitKind::Axis,
            SplitKind::Hyperplane {
                extension_level: None,
            },
        ] {
            let mut points = gaussian(1000, 4, 1);
            points.row_mut(17).fill(6.0);
            let forest = IsolationForest::fit(&params(split), points.view()).expect("fits");
            let scores = forest.score(points.view());
            let best = (0..scores.len()).max_by(|&a, &b| scores[a].total_cmp(&scores[b]));
            assert_eq!(best, Some(17), "{split:?}");
            assert!(scores[17] > 0.6, "{split:?}: {}", scores[17]);
            let median = {
                let mut sorted = scores.clone();
                sorted.sort_by(f64::total_cmp);
                sorted[500]
            };
            assert!(median < 0.5, "{split:?}: {median}");
        }
    }

    #[test]
    fn planted_feature_ranks_first_in_attribution() {
        for split in [
            SplitKind::Axis,
            SplitKind::Hyperplane {
                extension_level: None,
            },
        ] {
            for planted in 0..5 {
                let points = gaussian(2000, 5, 7);
                let forest = IsolationForest::fit(&params(split), points.view()).expect("fits");
                let mut probe = vec![0.1; 5];
                probe[planted] = 7.0;
                let shares = forest.attribute(ArrayView1::from(&probe));
                let top = (0..5).max_by(|&a, &b| shares[a].total_cmp(&shares[b]));
                assert_eq!(top, Some(planted), "{split:?} shares {shares:?}");
                approx::assert_abs_diff_eq!(shares.iter().sum::<f64>(), 1.0, epsilon = 1e-9);
            }
        }
    }

    #[test]
    fn same_seed_gives_same_scores_for_any_thread_count() {
        let points = gaussian(600, 3, 3);
        let forest =
            IsolationForest::fit(&IsolationForestParams::default(), points.view()).expect("fits");
        let serial_pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("pool");
        let serial = serial_pool.install(|| {
            let forest = IsolationForest::fit(&IsolationForestParams::default(), points.view())
                .expect("fits");
            forest.score(points.view())
        });
        assert_eq!(forest.score(points.view()), serial);
    }

    #[test]
    fn lockstep_walk_agrees_with_single_point_walk() {
        let points = gaussian(300, 6, 11);
        let forest =
            IsolationForest::fit(&IsolationForestParams::default(), points.view()).expect("fits");
        let scores = forest.score(points.view());
        let normaliser = forest.normaliser() * forest.trees.len() as f64;
        for (row, score) in points.rows().into_iter().zip(&scores).take(50) {
            let row = row.to_vec();
            let total: f64 = forest
                .trees
                .iter()
                .map(|tree| tree.path_lengths[tree.leaf_of(&row)])
                .sum();
            approx::assert_abs_diff_eq!(2f64.powf(-total / normaliser), *score, epsilon = 1e-12);
        }
    }

    #[test]
    fn constant_data_scores_without_panicking() {
        let points = Array2::from_elem((50, 3), 1.5);
        let forest =
            IsolationForest::fit(&IsolationForestParams::default(), points.view()).expect("fits");
        let scores = forest.score(points.view());
        assert!(scores.iter().all(|score| score.is_finite()));
        assert_eq!(forest.attribute(points.row(0)), vec![0.0; 3]);
    }

    #[test]
    fn one_point_fits_and_scores() {
        let points = Array2::from_elem((1, 2), 3.0);
        let forest =
            IsolationForest::fit(&IsolationForestParams::default(), points.view()).expect("fits");
        assert_eq!(forest.score(points.view()).len(), 1);
    }

    #[test]
    fn non_finite_points_do_not_panic() {
        let points = gaussian(100, 2, 5);
        let forest =
            IsolationForest::fit(&IsolationForestParams::default(), points.view()).expect("fits");
        let odd = ndarray::array![[f64::NAN, 1.0], [f64::INFINITY, f64::NEG_INFINITY]];
        assert_eq!(forest.score(odd.view()).len(), 2);
        let _ = forest.attribute(odd.row(0));
    }

    #[test]
    fn zero_trees_is_rejected_with_the_parameter_name() {
        let params = IsolationForestParams {
            n_trees: 0,
            ..IsolationForestParams::default()
        };
        let error = IsolationForest::fit(&params, gaussian(10, 2, 1).view()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid parameter: n_trees must be at least 1, got 0"
        );
    }
}
