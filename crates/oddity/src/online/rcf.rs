//! Random cut forest (Guha, Mishra, Roy and Schrijvers, "Robust random cut
//! forest based anomaly detection on streams", ICML 2016), scored as AWS's
//! `rcflib` scores.
//!
//! # Sampling and forgetting
//!
//! Each tree keeps a sample of at most `sample_size` points, chosen by
//! weighted reservoir sampling with exponential time decay: the `t`-th
//! point learned gets the weight `ln(-ln u) - time_decay · t` with `u`
//! uniform in (0, 1), and the sample keeps the `sample_size` smallest
//! weights (a max-heap evicts the largest). Without decay this is a uniform
//! reservoir over the whole stream; with decay `λ` a point's chance to be
//! kept falls like `exp(-λ · age)`, so the sample covers roughly the last
//! `1 / λ` points. The default `λ = 1 / (10 · sample_size)` is rcflib's
//! and Amazon's Java library's; it keeps about 10% of new points per tree.
//! Until a tree holds `sample_size` points it accepts every point (rcflib's
//! `initial_accept_fraction = 1`).
//!
//! # Trees
//!
//! A tree is a random cut tree over its sample: each inner node holds the
//! bounding box of the points below it and a cut `(dimension, value)`; the
//! dimension is drawn with probability proportional to the box's side
//! length, the value uniformly along it. Inserting a point walks down from
//! the root; at each node it draws a cut in the box enlarged by the point
//! and, if that cut separates the point from the box, puts a new inner node
//! with that cut above the node; otherwise it enlarges the box and goes on
//! down. This is the paper's insertion, and the resulting tree has the
//! distribution of a tree grown on the sample from scratch. Deleting a leaf
//! splices out its parent and shrinks the boxes above it, stopping as soon as
//! a box does not change. Duplicates of a stored point share its leaf, whose
//! mass counts them. Nodes live in two fixed arenas per tree, `sample_size`
//! inner nodes and `sample_size` leaves, recycled through free lists:
//! nothing is allocated per point.
//!
//! # Score
//!
//! The score of a point `x` in one tree follows rcflib's scalar score
//! visitor. Walk from the root to the leaf `x` falls into, at depth `d`:
//!
//! - if the leaf stores `x` itself, with mass `m` in a tree of mass `M`,
//!   the tree's score is `(1 - m / 2M) / (d + log2(m + 1))`;
//! - otherwise start with `s = 1 / (d + 1)` and climb back up: at an inner
//!   node at depth `k`, let `p` be the probability that a random cut of the
//!   node's box enlarged by `x` separates `x` from the box (the sum over
//!   dimensions of how far `x` sticks out of the box, divided by the sum of
//!   the enlarged box's sides). Then `s = p / (k + 1) + (1 - p) s`; stop at
//!   the first node whose box contains `x` (`p = 0`, and so for all above).
//!
//! The tree's score is `s · log2(M + 1)` and the forest's is the mean over
//! trees. A point inside the bulk of a sample of 256 scores about 1 or less;
//! a point isolated near the root scores far above 1 (up to `log2(M + 1)`),
//! so the score is unbounded above but comparable across streams. It is 0
//! until `output_after` points have been learned (default `sample_size / 4`,
//! rcflib's default) and while a shingle is still filling.
//!
//! # Attribution
//!
//! [`RandomCutForest::attribution`] follows rcflib's attribution visitor: the
//! same recursion, with each `p` split over the dimensions and sides (above
//! or below the box) that `x` sticks out on, gives a [`DiVector`] whose
//! `high` and `low` parts sum to the score. A point stored as a leaf is
//! attributed against the "shadow box" of its siblings, the box the tree
//! would have without it. [`OnlineDetector::attribute_one`] folds the sides
//! and the shingle positions onto the raw features.
//!
//! # Shingling
//!
//! With `shingle_size = s > 1` the forest works on the concatenation of the
//! last `s` raw points, oldest first, so a run of individually ordinary
//! points in an unusual order stands out. Raw points are kept until `s` have
//! arrived; learning starts with the first full shingle, and `output_after`
//! counts shingles learned. [`OnlineDetector::n_features`] is the raw
//! length; [`DiVector`]s have one entry per shingled dimension (oldest raw
//! point first).
//!
//! # Precision and speed
//!
//! Points and cuts are `f64`, so routing and duplicate detection are exact.
//! Boxes are stored as `f32` rounded outward: each is exactly the outward
//! rounding of the true box, so it still holds all its points, and a point
//! is never separated from a box it lies in. The climb of a score compares
//! the point rounded to `f32` with these boxes in `f32` arithmetic, which
//! can move a score by about one part in 10^7; the attribution climbs in
//! `f64`. Scoring walks eight trees at a time, step by step, so that their
//! cache misses overlap; the sum over trees is still taken in tree order, so
//! scores do not depend on how the walk is interleaved.
//!
//! Costs: one score is `O(n_trees · depth · dims)` with `depth` about
//! `2 ln(sample_size)` (12.6 on average for 256 points); learning adds an
//! insertion and a deletion in about 10% of the trees. Memory is about
//! `n_trees · sample_size · (60 + 16 · dims)` bytes: 3 MB for 50 trees of
//! 256 points in 10 dimensions.

mod tree;

use serde::{Deserialize, Serialize};

use self::tree::{LOCKSTEP_TREES, Tree, fingerprint, padded, score_group};
use super::rng::StreamRng;
use super::{OnlineDetector, OnlineError, is_valid_point, normalise_shares};

pub(super) const NAME: &str = "random_cut_forest";

/// rcflib's and the Java library's default decay is `1 / (10 · sample_size)`.
const SAMPLE_SIZES_PER_DECAY: f64 = 10.0;

/// rcflib starts scoring after a quarter of the sample size.
const OUTPUT_AFTER_SHARE: usize = 4;

const MAX_TREES: usize = 10_000;

/// Node references are `u32` with the top bit marking leaves.
const MAX_SAMPLE_SIZE: usize = 1 << 24;

/// The most values in one (shingled) point.
const MAX_DIMENSIONS: usize = 1 << 16;

/// Parameters of [`RandomCutForest`]; the defaults are rcflib's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RandomCutForestParams {
    /// Number of trees; default 50.
    pub n_trees: usize,
    /// Points sampled per tree; default 256.
    pub sample_size: usize,
    /// Raw points concatenated into one point of the forest; default 1 (no
    /// shingling).
    pub shingle_size: usize,
    /// Decay `λ` of the sampling weights per learned point; `None` (the
    /// default) means `1 / (10 · sample_size)`, 0 keeps a uniform sample of
    /// the whole stream.
    pub time_decay: Option<f64>,
    /// Points to learn (at least 1) before scores are reported (0 until
    /// then); `None` (the default) means `sample_size / 4`.
    pub output_after: Option<u64>,
    /// Seed of the random generators; default 42.
    pub seed: u64,
}

impl Default for RandomCutForestParams {
    fn default() -> Self {
        RandomCutForestParams {
            n_trees: 50,
            sample_size: 256,
            shingle_size: 1,
            time_decay: None,
            output_after: None,
            seed: 42,
        }
    }
}

impl RandomCutForestParams {
    /// Checks every parameter that does not depend on the number of
    /// features; the first bad one is reported.
    pub fn validate(&self) -> Result<(), OnlineError> {
        if self.n_trees == 0 {
            return Err(OnlineError::param(
                "n_trees",
                "must be at least 1",
                self.n_trees,
            ));
        }
        if self.n_trees > MAX_TREES {
            let requirement = format!("must be at most {MAX_TREES}");
            return Err(OnlineError::param("n_trees", requirement, self.n_trees));
        }
        if self.sample_size < 2 {
            return Err(OnlineError::param(
                "sample_size",
                "must be at least 2",
                self.sample_size,
            ));
        }
        if self.sample_size > MAX_SAMPLE_SIZE {
            let requirement = format!("must be at most {MAX_SAMPLE_SIZE}");
            return Err(OnlineError::param(
                "sample_size",
                requirement,
                self.sample_size,
            ));
        }
        if self.shingle_size == 0 {
            return Err(OnlineError::param(
                "shingle_size",
                "must be at least 1",
                self.shingle_size,
            ));
        }
        if self.shingle_size > MAX_DIMENSIONS {
            let requirement = format!("must be at most {MAX_DIMENSIONS}");
            return Err(OnlineError::param(
                "shingle_size",
                requirement,
                self.shingle_size,
            ));
        }
        if let Some(decay) = self.time_decay
            && !(decay.is_finite() && decay >= 0.0)
        {
            return Err(OnlineError::param(
                "time_decay",
                "must be finite and at least 0",
                decay,
            ));
        }
        Ok(())
    }

    fn resolved_time_decay(&self) -> f64 {
        self.time_decay
            .unwrap_or(1.0 / (SAMPLE_SIZES_PER_DECAY * self.sample_size as f64))
    }

    fn resolved_output_after(&self) -> u64 {
        self.output_after
            .unwrap_or((self.sample_size / OUTPUT_AFTER_SHARE) as u64)
    }
}

/// A score split by dimension and side: `high[i]` is the part due to the
/// point lying above what the trees have seen in dimension `i`, `low[i]`
/// below. The parts sum to the score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiVector {
    /// One value per dimension of the (shingled) point.
    pub high: Vec<f64>,
    /// One value per dimension of the (shingled) point.
    pub low: Vec<f64>,
}

impl DiVector {
    fn zeros(n_dimensions: usize) -> DiVector {
        DiVector {
            high: vec![0.0; n_dimensions],
            low: vec![0.0; n_dimensions],
        }
    }

    /// The sum of all parts.
    pub fn total(&self) -> f64 {
        self.high.iter().chain(&self.low).sum()
    }

    fn scale(&mut self, factor: f64) {
        for value in self.high.iter_mut().chain(self.low.iter_mut()) {
            *value *= factor;
        }
    }

    fn add_scaled(&mut self, other: &DiVector, factor: f64) {
        for (value, add) in self.high.iter_mut().zip(&other.high) {
            *value += factor * add;
        }
        for (value, add) in self.low.iter_mut().zip(&other.low) {
            *value += factor * add;
        }
    }
}

/// A random cut forest over a stream; see the module documentation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RandomCutForest {
    params: RandomCutForestParams,
    n_features: usize,
    /// `n_features · shingle_size`: the length of the points in the trees.
    n_dimensions: usize,
    time_decay: f64,
    output_after: u64,
    trees: Vec<Tree>,
    /// The last `shingle_size - 1` raw points (fewer at the start), oldest
    /// first.
    history: Vec<f64>,
    /// Raw points learned.
    n_seen: u64,
    /// Shingled points learned by the trees.
    n_learned: u64,
    /// Where learning builds its shingle, kept to avoid an allocation per
    /// point; not part of the state.
    #[serde(skip)]
    shingle: Vec<f64>,
    /// The shingle rounded to `f32`, for the same reason.
    #[serde(skip)]
    shingle32: Vec<f32>,
}

impl RandomCutForest {
    /// An empty forest for raw points of `n_features` values.
    pub fn new(
        params: &RandomCutForestParams,
        n_features: usize,
    ) -> Result<RandomCutForest, OnlineError> {
        params.validate()?;
        let n_dimensions = dimensions(params, n_features)?;
        let mut seeds = StreamRng::seed_from_u64(params.seed);
        let trees = (0..params.n_trees)
            .map(|_| Tree::new(params.sample_size, n_dimensions, seeds.next_u64()))
            .collect();
        tracing::debug!(
            n_features,
            n_dimensions,
            n_trees = params.n_trees,
            sample_size = params.sample_size,
            "built random cut forest"
        );
        Ok(RandomCutForest {
            params: params.clone(),
            n_features,
            n_dimensions,
            time_decay: params.resolved_time_decay(),
            output_after: params.resolved_output_after(),
            trees,
            history: Vec::with_capacity((params.shingle_size - 1) * n_features),
            n_seen: 0,
            n_learned: 0,
            shingle: Vec::with_capacity(n_dimensions),
            shingle32: Vec::with_capacity(n_dimensions),
        })
    }

    /// The parameters the forest was built with.
    pub fn params(&self) -> &RandomCutForestParams {
        &self.params
    }

    /// Points currently sampled by each tree (at most `sample_size`).
    pub fn sample_sizes(&self) -> Vec<usize> {
        self.trees.iter().map(Tree::sample_len).collect()
    }

    /// The score of `point` split by dimension of the shingled point and by
    /// side, averaged over trees; its [`total`](DiVector::total) is the
    /// score. All zero for a bad point or before scores are reported.
    pub fn attribution(&self, point: &[f64]) -> DiVector {
        let mut total = DiVector::zeros(self.n_dimensions);
        let Some(shingle) = self.scoring_shingle(point) else {
            return total;
        };
        for tree in &self.trees {
            let part = tree.attribution(&shingle);
            total.add_scaled(&part, 1.0 / self.trees.len() as f64);
        }
        total
    }

    /// Checks the invariants that indexing and tree walks rely on, for a
    /// state read from outside: array sizes, node references in range, every
    /// tree a proper tree (no cycles, consistent parents and masses).
    pub fn check_state(&self) -> Result<(), OnlineError> {
        self.params.validate()?;
        if self.n_dimensions != dimensions(&self.params, self.n_features)?
            || self.trees.len() != self.params.n_trees
            || self.history.len() > (self.params.shingle_size - 1) * self.n_features
            || !self.history.len().is_multiple_of(self.n_features)
        {
            return Err(OnlineError::corrupt(
                "forest sizes do not match its parameters",
            ));
        }
        for tree in &self.trees {
            tree.check(self.params.sample_size, self.n_dimensions)?;
        }
        Ok(())
    }

    fn is_ready(&self) -> bool {
        self.n_learned >= self.output_after.max(1)
    }

    fn history_is_full(&self) -> bool {
        self.history.len() == (self.params.shingle_size - 1) * self.n_features
    }

    /// The shingle `point` completes, if the point is valid and the forest
    /// reports scores.
    fn scoring_shingle(&self, point: &[f64]) -> Option<Vec<f64>> {
        if !is_valid_point(point, self.n_features) || !self.is_ready() || !self.history_is_full() {
            return None;
        }
        let mut shingle = Vec::with_capacity(self.n_dimensions);
        shingle.extend_from_slice(&self.history);
        shingle.extend_from_slice(point);
        Some(shingle)
    }

    /// Scores and learns a valid point; trees are visited once each, so a
    /// tree is still in cache when it learns what it just scored.
    fn learn_valid(&mut self, point: &[f64], score: bool) -> f64 {
        let mut total = 0.0;
        if self.history_is_full() {
            let score = score && self.is_ready();
            let mut shingle = std::mem::take(&mut self.shingle);
            shingle.clear();
            shingle.extend_from_slice(&self.history);
            shingle.extend_from_slice(point);
            let time = self.n_learned;
            let mut shingle32 = std::mem::take(&mut self.shingle32);
            shingle32.clear();
            shingle32.extend(shingle.iter().map(|&value| value as f32));
            shingle32.resize(padded(self.n_dimensions), 0.0);
            let key = fingerprint(&shingle);
            for group in self.trees.chunks_mut(LOCKSTEP_TREES) {
                if score {
                    total += score_group(group, &shingle, &shingle32, key);
                }
                for tree in group {
                    tree.update(&shingle, time, self.time_decay);
                }
            }
            self.shingle = shingle;
            self.shingle32 = shingle32;
            self.n_learned += 1;
            if score {
                total /= self.trees.len() as f64;
            }
        }
        if self.params.shingle_size > 1 {
            if self.history_is_full() {
                self.history.drain(..self.n_features);
            }
            self.history.extend_from_slice(point);
        }
        self.n_seen += 1;
        total
    }
}

impl OnlineDetector for RandomCutForest {
    fn name(&self) -> &'static str {
        NAME
    }

    fn state_bytes(&self) -> usize {
        size_of::<Self>()
            + self.trees.iter().map(Tree::state_bytes).sum::<usize>()
            + self.history.len() * size_of::<f64>()
            // The shingle buffers are scratch space of the forest's width.
            + self.n_dimensions * (size_of::<f64>() + size_of::<f32>())
    }

    fn n_features(&self) -> usize {
        self.n_features
    }

    fn score_one(&self, point: &[f64]) -> f64 {
        if !is_valid_point(point, self.n_features) {
            return f64::NAN;
        }
        if !self.is_ready() || !self.history_is_full() {
            return 0.0;
        }
        let score_all = |shingle: &[f64]| {
            // Scoring alone does not allocate for points of up to
            // STACK_DIMENSIONS values.
            const STACK_DIMENSIONS: usize = 32;
            let mut on_stack = [0.0f32; STACK_DIMENSIONS];
            let mut on_heap: Vec<f32>;
            let lanes = padded(shingle.len());
            let shingle32 = if lanes <= STACK_DIMENSIONS {
                &mut on_stack[..lanes]
            } else {
                on_heap = vec![0.0; lanes];
                &mut on_heap
            };
            for (rounded, &value) in shingle32.iter_mut().zip(shingle) {
                *rounded = value as f32;
            }
            let shingle32 = &*shingle32;
            self.trees
                .chunks(LOCKSTEP_TREES)
                .map(|group| score_group(group, shingle, shingle32, fingerprint(shingle)))
                .sum::<f64>()
        };
        let sum = if self.params.shingle_size == 1 {
            score_all(point)
        } else {
            score_all(&self.scoring_shingle(point).expect("checked ready and full"))
        };
        sum / self.trees.len() as f64
    }

    fn learn_one(&mut self, point: &[f64]) {
        if is_valid_point(point, self.n_features) {
            self.learn_valid(point, false);
        }
    }

    fn score_learn_one(&mut self, point: &[f64]) -> f64 {
        if !is_valid_point(point, self.n_features) {
            return f64::NAN;
        }
        self.learn_valid(point, true)
    }

    fn attribute_one(&self, point: &[f64]) -> Vec<f64> {
        let attribution = self.attribution(point);
        let mut shares = vec![0.0; self.n_features];
        let sides = attribution.high.iter().zip(&attribution.low);
        for (dimension, (high, low)) in sides.enumerate() {
            shares[dimension % self.n_features] += high + low;
        }
        normalise_shares(shares)
    }

    fn n_seen(&self) -> u64 {
        self.n_seen
    }
}

/// The length of the forest's points, checked.
fn dimensions(params: &RandomCutForestParams, n_features: usize) -> Result<usize, OnlineError> {
    if n_features == 0 {
        return Err(OnlineError::param(
            "n_features",
            "must be at least 1",
            n_features,
        ));
    }
    match n_features.checked_mul(params.shingle_size) {
        Some(n_dimensions) if n_dimensions <= MAX_DIMENSIONS => Ok(n_dimensions),
        _ => {
            let requirement = format!(
                "times shingle_size ({}) must be at most {MAX_DIMENSIONS}",
                params.shingle_size
            );
            Err(OnlineError::param("n_features", requirement, n_features))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Points from a few Gaussian-ish blobs in `n_features` dimensions.
    fn blobs(n_points: usize, n_features: usize, seed: u64) -> Vec<Vec<f64>> {
        let mut rng = StreamRng::seed_from_u64(seed);
        (0..n_points)
            .map(|index| {
                let centre = (index % 3) as f64;
                (0..n_features)
                    .map(|_| centre + (rng.unit() + rng.unit() + rng.unit() - 1.5) * 0.3)
                    .collect()
            })
            .collect()
    }

    fn small_params() -> RandomCutForestParams {
        RandomCutForestParams {
            n_trees: 30,
            sample_size: 64,
            ..RandomCutForestParams::default()
        }
    }

    #[test]
    fn planted_anomaly_scores_highest() {
        let mut points = blobs(2000, 4, 1);
        points[1500] = vec![1.0, 1.0, 4.0, 1.0];
        let mut forest =
            RandomCutForest::new(&RandomCutForestParams::default(), 4).expect("valid parameters");

        let scores: Vec<f64> = points.iter().map(|p| forest.score_learn_one(p)).collect();

        let best = (500..2000).max_by(|&a, &b| scores[a].total_cmp(&scores[b]));
        assert_eq!(best, Some(1500));
        let mut sorted = scores[500..].to_vec();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[sorted.len() / 2];
        assert!(
            scores[1500] > 2.5 * median,
            "{} vs median {median}",
            scores[1500]
        );
    }

    #[test]
    fn planted_feature_gets_the_largest_attribution() {
        for planted in 0..4 {
            let mut forest = RandomCutForest::new(&small_params(), 4).expect("valid parameters");
            for point in blobs(1000, 4, 2) {
                forest.learn_one(&point);
            }
            let mut probe = vec![1.0; 4];
            probe[planted] = -3.0;

            let shares = forest.attribute_one(&probe);
            let sides = forest.attribution(&probe);

            let top = (0..4).max_by(|&a, &b| shares[a].total_cmp(&shares[b]));
            assert_eq!(top, Some(planted), "{shares:?}");
            assert!(sides.low[planted] > 10.0 * sides.high[planted], "{sides:?}");
            approx::assert_abs_diff_eq!(shares.iter().sum::<f64>(), 1.0, epsilon = 1e-12);
        }
    }

    #[test]
    fn attribution_sums_to_the_score() {
        let mut forest = RandomCutForest::new(&small_params(), 3).expect("valid parameters");
        let points = blobs(800, 3, 3);
        for point in &points {
            forest.learn_one(point);
        }
        for probe in [
            vec![5.0, 0.0, 1.0],
            vec![1.0, 1.1, 0.9],
            points[799].clone(),
        ] {
            let score = forest.score_one(&probe);
            let total = forest.attribution(&probe).total();
            // The score climbs in f32 arithmetic, attribution in f64.
            approx::assert_relative_eq!(total, score, max_relative = 1e-6);
        }
    }

    #[test]
    fn score_follows_the_rcflib_formula_on_a_two_point_tree() {
        let params = RandomCutForestParams {
            n_trees: 5,
            sample_size: 2,
            time_decay: Some(0.0),
            output_after: Some(0),
            ..RandomCutForestParams::default()
        };
        let mut forest = RandomCutForest::new(&params, 1).expect("valid parameters");
        forest.learn_one(&[0.0]);
        forest.learn_one(&[1.0]);

        // x = 2 lands in leaf 1 at depth 1 (score 1/2); the root's box [0, 1]
        // enlarged to [0, 2] separates it with probability 1/2 at depth 0.
        let outside = (0.5 * 1.0 + 0.5 * 0.5) * 3f64.log2();
        approx::assert_relative_eq!(forest.score_one(&[2.0]), outside, max_relative = 1e-12);
        // x = 1 is stored: damp (1 - 1/4) times 1 / (1 + log2(2)).
        let stored = 0.75 * 0.5 * 3f64.log2();
        approx::assert_relative_eq!(forest.score_one(&[1.0]), stored, max_relative = 1e-12);
    }

    #[test]
    fn time_decay_forgets_an_old_regime() {
        let learn = |time_decay: Option<f64>| {
            let params = RandomCutForestParams {
                time_decay,
                ..small_params()
            };
            let mut forest = RandomCutForest::new(&params, 2).expect("valid parameters");
            let mut rng = StreamRng::seed_from_u64(8);
            for index in 0..4000 {
                let centre = if index < 1000 { 0.0 } else { 10.0 };
                forest.learn_one(&[centre + rng.unit(), centre + rng.unit()]);
            }
            forest.score_one(&[0.5, 0.5])
        };

        let forgetting = learn(None);
        let remembering = learn(Some(0.0));

        // A uniform reservoir still holds about a quarter of the old regime.
        assert!(
            forgetting > 1.5 * remembering,
            "{forgetting} vs {remembering}"
        );
    }

    #[test]
    fn shingling_finds_a_point_out_of_order() {
        let sawtooth = |index: usize| [(index % 4) as f64];
        let run = |shingle_size: usize| {
            let params = RandomCutForestParams {
                shingle_size,
                ..small_params()
            };
            let mut forest = RandomCutForest::new(&params, 1).expect("valid parameters");
            for index in 0..1000 {
                forest.learn_one(&sawtooth(index));
            }
            // 1000 % 4 == 0, so the stream expects 0; 2 is common but not here.
            (forest.score_one(&[2.0]), forest.score_one(&[0.0]))
        };

        let (plain_odd, plain_usual) = run(1);
        let (shingled_odd, shingled_usual) = run(4);

        assert!(
            plain_odd < 1.5 * plain_usual,
            "{plain_odd} vs {plain_usual}"
        );
        assert!(
            shingled_odd > 2.0 * shingled_usual,
            "{shingled_odd} vs {shingled_usual}"
        );
    }

    #[test]
    fn scores_are_zero_until_output_after_and_a_full_shingle() {
        let params = RandomCutForestParams {
            n_trees: 4,
            sample_size: 40,
            shingle_size: 3,
            ..RandomCutForestParams::default()
        };
        let mut forest = RandomCutForest::new(&params, 2).expect("valid parameters");
        // Two raw points fill the history, ten shingles reach output_after.
        for step in 0..12 {
            assert_eq!(
                forest.score_learn_one(&[step as f64, 1.0]),
                0.0,
                "step {step}"
            );
        }
        assert!(forest.score_one(&[100.0, 1.0]) > 0.0);
        assert_eq!(forest.n_seen(), 12);
        assert_eq!(forest.attribution(&[1.0, 1.0]).high.len(), 6);
    }

    #[test]
    fn invalid_parameters_name_the_parameter_and_value() {
        let cases = [
            (
                RandomCutForestParams {
                    n_trees: 0,
                    ..RandomCutForestParams::default()
                },
                "invalid parameter: n_trees must be at least 1, got 0",
            ),
            (
                RandomCutForestParams {
                    sample_size: 1,
                    ..RandomCutForestParams::default()
                },
                "invalid parameter: sample_size must be at least 2, got 1",
            ),
            (
                RandomCutForestParams {
                    shingle_size: 0,
                    ..RandomCutForestParams::default()
                },
                "invalid parameter: shingle_size must be at least 1, got 0",
            ),
            (
                RandomCutForestParams {
                    time_decay: Some(-0.5),
                    ..RandomCutForestParams::default()
                },
                "invalid parameter: time_decay must be finite and at least 0, got -0.5",
            ),
            (
                RandomCutForestParams {
                    shingle_size: 40_000,
                    ..RandomCutForestParams::default()
                },
                "invalid parameter: n_features times shingle_size (40000) must be at most \
                 65536, got 2",
            ),
        ];
        for (params, message) in cases {
            let error = RandomCutForest::new(&params, 2).expect_err("invalid");
            assert_eq!(error.to_string(), message);
        }
    }
}
