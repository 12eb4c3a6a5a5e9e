//! Exact k-nearest-neighbour search under the Euclidean distance, shared by
//! the distance and density detectors.
//!
//! [`NeighborIndex`] is a KD-tree (Friedman, Bentley and Finkel, ACM TOMS
//! 1977) that splits each node at the median of its widest feature and
//! keeps a tight bounding box per node, as scikit-learn's `KDTree` does.
//! Leaves hold at most [`LEAF_SIZE`] points, stored in blocks of [`LANES`]
//! points feature by feature, so that the distances from a query to a
//! block are computed in SIMD lanes.
//!
//! A query walks the tree nearest child first and skips every node whose
//! box lies beyond its current k-th neighbour. Queries run in an order
//! where consecutive ones are neighbours (training points in tree order,
//! new points sorted by the leaf they fall in), so the leaves they read
//! stay in cache. How much of the data a query must read grows quickly with
//! the dimension, and a few probe queries measure it to choose among three
//! ways to walk ([`Strategy`]): alone; in groups that share the walk and
//! each leaf's trip into cache; or, when queries read most of the data
//! anyway (high dimension, where a tree degrades into brute force), in
//! groups that filter batches of leaves with matrix products, the
//! `|q|² + |p|² - 2 q·p` form of blocked brute force, and compute exact
//! distances only for the points that pass.
//!
//! Results are exact and deterministic: neighbours are ordered by distance
//! and then by index; every point distance is computed with the same
//! operations in the same order, and a box is skipped, or a product
//! filters a point out, only when, allowing for rounding, the point is
//! farther than the k-th neighbour (or as far with a larger index). Every
//! way to walk and any number of threads return identical neighbours.
//!
//! Costs: building is `O(n d log n)`; a query reads about `O(log n + k)`
//! leaves in low dimension and all `n` points in the worst case; queries
//! run in parallel on rayon. Memory is the points plus about
//! `(20 + 8 d) / 12` bytes per point of tree.

use ndarray::{ArrayView2, Axis};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{FitError, ParamError};

/// Most points in a leaf; leaves hold between half of this and this many.
/// Large enough that a leaf's distances fill several SIMD registers, small
/// enough that box pruning stays fine-grained (scikit-learn uses 30).
const LEAF_SIZE: usize = 32;

/// Points whose distances one pass over the features computes together:
/// eight sums fill four SSE2 (two AVX) registers, enough independent
/// additions to hide their latency.
const LANES: usize = 8;

/// How queries walk the tree; [`NeighborIndex::strategy`] chooses. The
/// choice changes speed, never results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Strategy {
    /// Each query walks alone and skips all it can, reading its leaves
    /// itself: best when queries read a small part of the data.
    Single,
    /// Groups of [`SHARED_GROUP_SIZE`] neighbouring queries walk together,
    /// so a leaf is loaded into cache once for all members, each of which
    /// still skips it if it can.
    Shared,
    /// Groups of [`PRODUCT_GROUP_SIZE`] walk together and filter whole
    /// batches of leaves with matrix products (see
    /// [`NeighborIndex::walk_product`]): best when queries read most of the
    /// data anyway, as in high dimension.
    Product,
}

impl Strategy {
    fn group_size(self) -> usize {
        match self {
            Strategy::Single => 1,
            Strategy::Shared => SHARED_GROUP_SIZE,
            Strategy::Product => PRODUCT_GROUP_SIZE,
        }
    }
}

/// Queries per group of [`Strategy::Shared`].
const SHARED_GROUP_SIZE: usize = 32;

/// Queries per group of [`Strategy::Product`]: the rows of each product.
const PRODUCT_GROUP_SIZE: usize = 64;

/// Single walks that read at most this fraction of the points stay
/// single; measured on Gaussian data at 100,000 points, single walks were
/// 1.3 times as fast as shared ones at 10 features (8 % read) and 1.4 times
/// as slow at 12 (16 % read).
const SHARED_FRACTION: f64 = 0.12;

/// Single walks that read more than this fraction of the points switch to
/// products; at 100,000 points shared walks were slightly faster at 14
/// features (35 % read), products 1.4 times as fast at 16 (53 %), and twice
/// as fast at 20 features (90 %).
const PRODUCT_FRACTION: f64 = 0.4;

/// Points gathered from leaves before one product filters them for a
/// group: enough columns to amortise the product's packing.
const BATCH_POINTS: usize = 256;

/// Single walks that measure the fraction of points queries read.
const PROBE_QUERIES: usize = 64;

/// Below this many indexed points all data stays in cache and single
/// walks are best.
const PROBE_MIN_POINTS: usize = 4096;

/// Query slots per rayon task: enough to amortise the task's buffers.
const TASK_SLOTS: usize = 256;

/// An exact k-nearest-neighbour index over a fixed set of points.
///
/// Points are referred to by their row in the matrix the index was built
/// from (their id). Coordinates must be finite: non-finite ones never panic
/// but give unspecified neighbours.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct NeighborIndex {
    n_features: usize,
    /// Points in leaf order, in blocks of [`LANES`] points (leaves start at
    /// block boundaries); within a block, all values of feature 0, then all
    /// of feature 1, and so on.
    points: Vec<f64>,
    /// Id of the point at each stored position.
    ids: Vec<u32>,
    /// Tree nodes in preorder; the root is node 0.
    nodes: Vec<Node>,
    /// Per node: the box's lower corner then its upper corner, rounded
    /// outwards to `f32`, which halves the tree's memory and still gives a
    /// box that holds all its points.
    bounds: Vec<f32>,
}

/// One tree node: the stored positions `start..end` below it.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct Node {
    start: u32,
    end: u32,
    /// Children, or 0 for a leaf (the root is nobody's child).
    left: u32,
    right: u32,
    /// Smallest id below the node: a box at exactly the k-th distance can
    /// only improve the result through an id smaller than the k-th's.
    min_id: u32,
}

impl Node {
    fn is_leaf(&self) -> bool {
        self.left == 0
    }

    fn range(&self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// A neighbour found by a query.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Neighbor {
    /// Euclidean distance to the query.
    pub distance: f64,
    /// Row of the neighbour in the matrix the index was built from.
    pub id: u32,
    /// Where the index stores it.
    position: u32,
}

/// The k nearest neighbours of many queries, nearest first, in flat
/// row-major arrays.
#[derive(Clone, Debug)]
pub(crate) struct Neighbors {
    k: usize,
    distances: Vec<f64>,
    ids: Vec<u32>,
}

impl Neighbors {
    /// Neighbours per query.
    #[cfg(test)]
    fn k(&self) -> usize {
        self.k
    }

    /// Distances of query `row`'s neighbours, ascending.
    pub(crate) fn distances(&self, row: usize) -> &[f64] {
        &self.distances[row * self.k..(row + 1) * self.k]
    }

    /// Ids of query `row`'s neighbours, in the order of [`Self::distances`].
    pub(crate) fn ids(&self, row: usize) -> &[u32] {
        &self.ids[row * self.k..(row + 1) * self.k]
    }
}

/// Ids are `u32`; this one never names a point, so it means "exclude none".
const NO_ID: u32 = u32::MAX;

/// The largest number of points an index holds.
pub(crate) const MAX_POINTS: usize = NO_ID as usize;

impl NeighborIndex {
    /// Indexes the rows of `points`: at least one and at most
    /// [`MAX_POINTS`], with at least one feature.
    pub(crate) fn build(points: ArrayView2<'_, f64>) -> NeighborIndex {
        let (n_points, n_features) = points.dim();
        assert!(
            (1..=MAX_POINTS).contains(&n_points) && n_features > 0,
            "callers check the shape"
        );
        let points = points.as_standard_layout();
        let data = points.as_slice().expect("standard layout is contiguous");

        let mut order: Vec<u32> = (0..n_points as u32).collect();
        let tree = Subtree::grow(data, n_features, &mut order, 0);
        let mut stored = vec![0.0; data.len()];
        for (position, &id) in order.iter().enumerate() {
            let row = &data[id as usize * n_features..(id as usize + 1) * n_features];
            for (feature, &value) in row.iter().enumerate() {
                stored[stored_index(position, feature, n_points, n_features)] = value;
            }
        }
        tracing::debug!(
            n_points,
            n_features,
            n_nodes = tree.nodes.len(),
            "built neighbour index"
        );
        NeighborIndex {
            n_features,
            points: stored,
            ids: order,
            nodes: tree.nodes,
            bounds: outward_f32(&tree.bounds, n_features),
        }
    }

    /// Number of indexed points.
    pub(crate) fn n_points(&self) -> usize {
        self.ids.len()
    }

    /// Number of features per point.
    pub(crate) fn n_features(&self) -> usize {
        self.n_features
    }

    /// The k nearest indexed points of each row of `queries` (which must
    /// have [`Self::n_features`] columns); `k` is capped at the number of
    /// indexed points.
    pub(crate) fn query(&self, queries: ArrayView2<'_, f64>, k: usize) -> Neighbors {
        let strategy = self.strategy(k, queries.nrows());
        self.query_in_groups(queries, k, strategy, strategy.group_size())
    }

    fn query_in_groups(
        &self,
        queries: ArrayView2<'_, f64>,
        k: usize,
        strategy: Strategy,
        group_size: usize,
    ) -> Neighbors {
        assert_eq!(queries.ncols(), self.n_features, "callers check the width");
        let k = k.min(self.n_points());
        let queries = queries.as_standard_layout();
        let rows = queries.as_slice().expect("standard layout is contiguous");
        let n_features = self.n_features;
        let row = |index: usize| &rows[index * n_features..(index + 1) * n_features];
        // In the order of the leaves they fall in, consecutive queries need
        // mostly the same leaves, which then stay in cache.
        let mut order: Vec<(usize, usize)> = (0..queries.nrows())
            .into_par_iter()
            .map(|index| (self.home_leaf(row(index)), index))
            .collect();
        order.par_sort_unstable();
        self.run(queries.nrows(), k, strategy, group_size, |slot, buffer| {
            let index = order[slot].1;
            buffer.copy_from_slice(row(index));
            (index, NO_ID)
        })
    }

    /// The k nearest other indexed points of every indexed point, by id:
    /// each point is left out of its own neighbours (a duplicate of it is
    /// not). `k` is capped at the number of indexed points less one.
    pub(crate) fn query_indexed(&self, k: usize) -> Neighbors {
        let strategy = self.strategy(k, self.n_points());
        self.query_indexed_in_groups(k, strategy, strategy.group_size())
    }

    fn query_indexed_in_groups(
        &self,
        k: usize,
        strategy: Strategy,
        group_size: usize,
    ) -> Neighbors {
        let k = k.min(self.n_points().saturating_sub(1));
        // Stored order is tree order: consecutive points are neighbours.
        self.run(
            self.n_points(),
            k,
            strategy,
            group_size,
            |position, buffer| {
                self.read_stored(position, buffer);
                let id = self.ids[position];
                (id as usize, id)
            },
        )
    }

    /// The k nearest indexed points of one point, nearest first.
    pub(crate) fn query_point(&self, point: &[f64], k: usize) -> Vec<Neighbor> {
        assert_eq!(point.len(), self.n_features, "callers check the width");
        let mut best = Best::new(k.min(self.n_points()));
        if best.k > 0 {
            self.walk(point, NO_ID, &mut best, &mut Vec::new());
        }
        best.items
            .iter()
            .map(|candidate| Neighbor {
                distance: candidate.squared.sqrt(),
                id: candidate.id,
                position: candidate.position,
            })
            .collect()
    }

    /// Coordinates of a neighbour a query returned.
    pub(crate) fn neighbor_point(&self, neighbor: &Neighbor) -> Vec<f64> {
        let mut point = vec![0.0; self.n_features];
        self.read_stored(neighbor.position as usize, &mut point);
        point
    }

    /// Copies the point at a stored position into `buffer`.
    fn read_stored(&self, position: usize, buffer: &mut [f64]) {
        for (feature, value) in buffer.iter_mut().enumerate() {
            *value = self.points[stored_index(position, feature, self.n_points(), self.n_features)];
        }
    }

    /// The block of points starting at stored position `start` (a multiple
    /// of [`LANES`]), feature-major, and how many points it holds.
    #[inline(always)]
    fn block(&self, start: usize) -> (&[f64], usize) {
        let width = LANES.min(self.n_points() - start);
        (
            &self.points[start * self.n_features..(start + width) * self.n_features],
            width,
        )
    }

    /// The leaf a point falls in, as its first stored position: the walk
    /// from the root to it always takes the nearer child.
    fn home_leaf(&self, point: &[f64]) -> usize {
        let mut node = &self.nodes[0];
        while !node.is_leaf() {
            let left = self.box_distance(node.left as usize, point);
            let right = self.box_distance(node.right as usize, point);
            let next = if left <= right { node.left } else { node.right };
            node = &self.nodes[next as usize];
        }
        node.start as usize
    }

    /// Chooses how to walk: a few single walks from evenly spread indexed
    /// points measure what fraction of the data a query reads.
    fn strategy(&self, k: usize, n_queries: usize) -> Strategy {
        let n_points = self.n_points();
        if k == 0 || n_queries < PROBE_QUERIES || n_points < PROBE_MIN_POINTS {
            return Strategy::Single;
        }
        let mut query = vec![0.0; self.n_features];
        let mut stack = Vec::new();
        let read: usize = (0..PROBE_QUERIES)
            .map(|probe| {
                let position = probe * n_points / PROBE_QUERIES;
                self.read_stored(position, &mut query);
                let mut best = Best::new(k.min(n_points - 1));
                self.walk(&query, self.ids[position], &mut best, &mut stack)
            })
            .sum();
        let fraction = read as f64 / (PROBE_QUERIES * n_points) as f64;
        let strategy = if fraction > PRODUCT_FRACTION {
            Strategy::Product
        } else if fraction > SHARED_FRACTION {
            Strategy::Shared
        } else {
            Strategy::Single
        };
        tracing::debug!(fraction, ?strategy, "probed neighbour queries");
        strategy
    }

    /// Answers `n_queries` queries of `k` neighbours with `strategy`, in
    /// groups of `group_size` consecutive slots. `fill(slot, buffer)` writes the
    /// query of `slot` into `buffer` and returns its row in the result and
    /// the id to leave out.
    fn run<F>(
        &self,
        n_queries: usize,
        k: usize,
        strategy: Strategy,
        group_size: usize,
        fill: F,
    ) -> Neighbors
    where
        F: Fn(usize, &mut [f64]) -> (usize, u32) + Sync,
    {
        let n_features = self.n_features;
        let task_slots = TASK_SLOTS.div_ceil(group_size) * group_size;
        let tasks: Vec<(Vec<usize>, Vec<f64>, Vec<u32>)> = (0..n_queries.div_ceil(task_slots))
            .into_par_iter()
            .map(|task| {
                let slots = task * task_slots..((task + 1) * task_slots).min(n_queries);
                let n_slots = slots.len();
                let mut queries = vec![0.0; n_slots * n_features];
                let (rows, excluded): (Vec<usize>, Vec<u32>) = slots
                    .enumerate()
                    .map(|(member, slot)| {
                        let buffer = &mut queries[member * n_features..(member + 1) * n_features];
                        fill(slot, buffer)
                    })
                    .unzip();
                let mut distances = vec![0.0; n_slots * k];
                let mut ids = vec![0u32; n_slots * k];
                let task = Task {
                    queries: &queries,
                    excluded: &excluded,
                    k,
                    strategy,
                    group_size,
                };
                self.search_dispatched(&task, &mut distances, &mut ids);
                (rows, distances, ids)
            })
            .collect();

        let mut distances = vec![0.0; n_queries * k];
        let mut ids = vec![0u32; n_queries * k];
        for (rows, task_distances, task_ids) in tasks {
            for (member, row) in rows.into_iter().enumerate() {
                let (to, from) = (row * k..(row + 1) * k, member * k..(member + 1) * k);
                distances[to.clone()].copy_from_slice(&task_distances[from.clone()]);
                ids[to].copy_from_slice(&task_ids[from]);
            }
        }
        Neighbors { k, distances, ids }
    }

    /// Runs [`Self::search`] compiled for AVX2 when the processor has it.
    ///
    /// The wider registers change only speed: Rust never fuses a multiply
    /// and an add on its own, so every lane performs the same rounded
    /// operations in the same order as the baseline build, and the
    /// neighbours are identical.
    #[allow(unsafe_code)]
    fn search_dispatched(&self, task: &Task<'_>, distances: &mut [f64], ids: &mut [u32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor supports AVX2, checked just above.
            unsafe { self.search_avx2(task, distances, ids) };
            return;
        }
        self.search(task, distances, ids);
    }

    /// [`Self::search`] with AVX2 enabled; the search's hot functions are
    /// inlined into it, and so compiled with it.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn search_avx2(&self, task: &Task<'_>, distances: &mut [f64], ids: &mut [u32]) {
        self.search(task, distances, ids);
    }

    /// Finds the neighbours of every query of `task`, group by group, and
    /// writes each query's distances and ids, nearest first, to its `k`
    /// slots of `distances` and `ids`.
    #[inline(always)]
    fn search(&self, task: &Task<'_>, distances: &mut [f64], ids: &mut [u32]) {
        let Task {
            queries,
            excluded,
            k,
            strategy,
            group_size,
        } = *task;
        let n_features = self.n_features;
        let n_slots = excluded.len();
        let mut bests: Vec<Best> = (0..group_size).map(|_| Best::new(k)).collect();
        let mut scratch = Scratch::default();
        for first in (0..n_slots).step_by(group_size) {
            let members = first..(first + group_size).min(n_slots);
            let bests = &mut bests[..members.len()];
            bests.iter_mut().for_each(Best::clear);
            let group = &queries[members.start * n_features..members.end * n_features];
            let excluded = &excluded[members.clone()];
            match (strategy, &mut *bests) {
                _ if k == 0 => {}
                (_, [best]) => {
                    self.walk(group, excluded[0], best, &mut scratch.stack);
                }
                (Strategy::Single | Strategy::Shared, _) => {
                    self.walk_shared(group, excluded, bests, &mut scratch.stack);
                }
                (Strategy::Product, _) => {
                    self.walk_product(group, excluded, bests, &mut scratch);
                }
            }
            for (member, best) in members.zip(bests.iter()) {
                for (offset, candidate) in best.items.iter().enumerate() {
                    distances[member * k + offset] = candidate.squared.sqrt();
                    ids[member * k + offset] = candidate.id;
                }
            }
        }
    }

    /// Finds the neighbours of one query: walks the tree nearest child
    /// first, skipping nodes whose box lies beyond the current k-th
    /// neighbour. Returns how many points it read.
    #[inline(always)]
    fn walk(
        &self,
        query: &[f64],
        exclude: u32,
        best: &mut Best,
        stack: &mut Vec<(u32, f64)>,
    ) -> usize {
        let slack = prune_slack(self.n_features);
        let mut read = 0;
        stack.clear();
        stack.push((0, self.box_distance(0, query)));
        while let Some((index, box_squared)) = stack.pop() {
            let node = self.nodes[index as usize];
            if best.bound().prunes(box_squared, node.min_id, slack) {
                continue;
            }
            if node.is_leaf() {
                self.scan_leaf(&node, query, exclude, best);
                read += node.range().len();
                continue;
            }
            let left = self.box_distance(node.left as usize, query);
            let right = self.box_distance(node.right as usize, query);
            // The nearer child goes on top, to be searched first.
            if left <= right {
                stack.push((node.right, right));
                stack.push((node.left, left));
            } else {
                stack.push((node.left, left));
                stack.push((node.right, right));
            }
        }
        read
    }

    /// Finds the neighbours of a group of queries (row-major in `queries`,
    /// one [`Best`] each) in one walk of the tree that skips a node only
    /// when every member can; at each leaf left, each member skips it or
    /// scans it as a single walk would.
    #[inline(always)]
    fn walk_shared(
        &self,
        queries: &[f64],
        excluded: &[u32],
        bests: &mut [Best],
        stack: &mut Vec<(u32, f64)>,
    ) {
        let n_features = self.n_features;
        let slack = prune_slack(n_features);
        let (lower, upper) = corners(queries, n_features);
        let centre = middle(&lower, &upper);
        let mut bound = group_bound(bests);

        stack.clear();
        stack.push((0, self.box_to_box(0, &lower, &upper)));
        while let Some((index, box_squared)) = stack.pop() {
            let node = self.nodes[index as usize];
            if bound.prunes(box_squared, node.min_id, slack) {
                continue;
            }
            if node.is_leaf() {
                for ((query, &exclude), best) in queries
                    .chunks_exact(n_features)
                    .zip(excluded)
                    .zip(bests.iter_mut())
                {
                    let own = self.box_distance(index as usize, query);
                    if !best.bound().prunes(own, node.min_id, slack) {
                        self.scan_leaf(&node, query, exclude, best);
                    }
                }
                bound = group_bound(bests);
                continue;
            }
            self.push_children(&node, &lower, &upper, &centre, stack);
        }
    }

    /// Pushes a node's children for a group with box `lower..upper`, the
    /// nearer on top, to be searched first; when the group's box overlaps
    /// both, the one nearer its centre.
    #[inline(always)]
    fn push_children(
        &self,
        node: &Node,
        lower: &[f64],
        upper: &[f64],
        centre: &[f64],
        stack: &mut Vec<(u32, f64)>,
    ) {
        let left = self.box_to_box(node.left as usize, lower, upper);
        let right = self.box_to_box(node.right as usize, lower, upper);
        let left_first = if left == right {
            self.box_distance(node.left as usize, centre)
                <= self.box_distance(node.right as usize, centre)
        } else {
            left < right
        };
        if left_first {
            stack.push((node.right, right));
            stack.push((node.left, left));
        } else {
            stack.push((node.left, left));
            stack.push((node.right, right));
        }
    }

    /// Finds the neighbours of a group of queries (row-major in `queries`,
    /// one [`Best`] each) in one walk of the tree.
    ///
    /// Leaves the group does not skip are gathered into batches of about
    /// [`BATCH_POINTS`] points. One matrix product per batch gives every
    /// member's squared distance to every point as `|q|² + |p|² - 2 q·p`,
    /// in coordinates centred on the group so that cancellation stays
    /// small. That form is fast (the product uses the widest SIMD the
    /// processor has) but inexact, so it only filters: a point whose
    /// filtered distance, less its error bound, can still beat a member's
    /// k-th gets its exact distance computed and offered.
    #[inline(always)]
    fn walk_product(
        &self,
        queries: &[f64],
        excluded: &[u32],
        bests: &mut [Best],
        scratch: &mut Scratch,
    ) {
        let n_features = self.n_features;
        let slack = prune_slack(n_features);
        let (lower, upper) = corners(queries, n_features);
        let centre = middle(&lower, &upper);
        scratch.start_group(queries, &centre);
        let mut bound = group_bound(bests);

        let mut stack = std::mem::take(&mut scratch.stack);
        stack.clear();
        stack.push((0, self.box_to_box(0, &lower, &upper)));
        while let Some((index, box_squared)) = stack.pop() {
            let node = self.nodes[index as usize];
            if bound.prunes(box_squared, node.min_id, slack) {
                continue;
            }
            if node.is_leaf() {
                scratch.batch.push(index);
                scratch.batch_points += node.range().len();
                if scratch.batch_points >= BATCH_POINTS {
                    self.filter_batch(queries, excluded, bests, scratch, &centre);
                    bound = group_bound(bests);
                }
                continue;
            }
            self.push_children(&node, &lower, &upper, &centre, &mut stack);
        }
        self.filter_batch(queries, excluded, bests, scratch, &centre);
        scratch.stack = stack;
    }

    /// Offers the points of the batched leaves that pass the product
    /// filter to the group's members, and empties the batch.
    #[inline(always)]
    fn filter_batch(
        &self,
        queries: &[f64],
        excluded: &[u32],
        bests: &mut [Best],
        scratch: &mut Scratch,
        centre: &[f64],
    ) {
        if scratch.batch.is_empty() {
            return;
        }
        let n_features = self.n_features;
        // Rounding in the norms, the product and the centring moves the
        // filtered distance by at most this share of `|q|² + |p|²`.
        let tolerance = 4.0 * (n_features as f64 + 4.0) * f64::EPSILON;
        scratch.multiply(self, centre);
        let Scratch {
            query_norms,
            point_norms,
            products,
            filtered,
            positions,
            ..
        } = &mut *scratch;
        let n_points = positions.len();
        for (member, best) in bests.iter_mut().enumerate() {
            let query = &queries[member * n_features..(member + 1) * n_features];
            let query_norm = query_norms[member];
            // A separate pass without branches vectorises.
            for ((value, &product), &point_norm) in filtered
                .iter_mut()
                .zip(&products[member * n_points..(member + 1) * n_points])
                .zip(point_norms.iter())
            {
                *value = (query_norm + point_norm) * (1.0 - tolerance) - 2.0 * product;
            }
            let mut worst = best.bound().squared;
            for (&value, &position) in filtered.iter().zip(positions.iter()) {
                if value > worst {
                    continue;
                }
                let id = self.ids[position as usize];
                if id == excluded[member] {
                    continue;
                }
                let squared = self.exact_squared(query, position as usize);
                if squared <= worst {
                    best.offer(Candidate {
                        squared,
                        id,
                        position,
                    });
                    worst = best.bound().squared;
                }
            }
        }
        scratch.batch.clear();
        scratch.batch_points = 0;
    }

    /// Offers every point of a leaf except `exclude` to `best`.
    #[inline(always)]
    fn scan_leaf(&self, node: &Node, query: &[f64], exclude: u32, best: &mut Best) {
        let range = node.range();
        let mut squared = [0.0; LEAF_SIZE];
        // Within a block each point takes one SIMD lane and sums its
        // features in order, and the block is one stretch of memory.
        for (block_start, sums) in range.clone().step_by(LANES).zip(squared.chunks_mut(LANES)) {
            let (block, width) = self.block(block_start);
            if let Ok(sums) = <&mut [f64; LANES]>::try_from(&mut sums[..width]) {
                for (&value, column) in query.iter().zip(block.chunks_exact(LANES)) {
                    for (sum, &stored) in sums.iter_mut().zip(column) {
                        let difference = value - stored;
                        *sum += difference * difference;
                    }
                }
            } else {
                // Only the last block of the data can be partial.
                for (&value, column) in query.iter().zip(block.chunks_exact(width)) {
                    for (sum, &stored) in sums.iter_mut().zip(column) {
                        let difference = value - stored;
                        *sum += difference * difference;
                    }
                }
            }
        }

        let mut worst = best.bound().squared;
        for ((&squared, &id), position) in squared.iter().zip(&self.ids[range.clone()]).zip(range) {
            // Most points are farther than the k-th so far; one comparison
            // rejects them.
            if squared <= worst && id != exclude {
                best.offer(Candidate {
                    squared,
                    id,
                    position: position as u32,
                });
                worst = best.bound().squared;
            }
        }
    }

    /// The squared distance from `query` to the point at a stored
    /// position, summed exactly as [`Self::scan_leaf`] sums it.
    #[inline(always)]
    fn exact_squared(&self, query: &[f64], position: usize) -> f64 {
        let (block, width) = self.block(position - position % LANES);
        let mut squared = 0.0;
        for (&value, column) in query.iter().zip(block.chunks_exact(width)) {
            let difference = value - column[position % LANES];
            squared += difference * difference;
        }
        squared
    }

    /// Squared distance from `point` to the box of node `index`, rounded
    /// differently from point distances: compare it through
    /// [`Bound::prunes`], which allows for that.
    #[inline(always)]
    fn box_distance(&self, index: usize, point: &[f64]) -> f64 {
        let (lower, upper) = self.corners(index);
        // The gap to `low..high` is `low - value` below it, `value - high`
        // above it and 0 inside: each is computed exactly as for a point on
        // the box's face, so it never exceeds a point's term.
        sum_in_four(point, lower, upper, |value, low, high| {
            larger(larger(low - value, value - high), 0.0)
        })
    }

    /// Squared distance between the box of node `index` and the box
    /// `lower..upper`; like [`Self::box_distance`], each feature's term is
    /// at most that of any pair of points in the two boxes.
    #[inline(always)]
    fn box_to_box(&self, index: usize, lower: &[f64], upper: &[f64]) -> f64 {
        let (node_lower, node_upper) = self.corners(index);
        let mut partial = [0.0; 4];
        for (feature, ((&low, &high), (&node_low, &node_high))) in lower
            .iter()
            .zip(upper)
            .zip(node_lower.iter().zip(node_upper))
            .enumerate()
        {
            let (node_low, node_high) = (f64::from(node_low), f64::from(node_high));
            let gap = larger(larger(node_low - high, low - node_high), 0.0);
            partial[feature % 4] += gap * gap;
        }
        (partial[0] + partial[1]) + (partial[2] + partial[3])
    }

    #[inline(always)]
    fn corners(&self, index: usize) -> (&[f32], &[f32]) {
        let n_features = self.n_features;
        self.bounds[2 * index * n_features..2 * (index + 1) * n_features].split_at(n_features)
    }
}

/// One rayon task's share of a query batch.
#[derive(Clone, Copy)]
struct Task<'a> {
    /// The queries, row-major.
    queries: &'a [f64],
    /// Per query, the id it must not count as its own neighbour
    /// ([`NO_ID`] for none).
    excluded: &'a [u32],
    k: usize,
    strategy: Strategy,
    group_size: usize,
}

/// Buffers a group walk reuses from group to group.
#[derive(Debug, Default)]
struct Scratch {
    stack: Vec<(u32, f64)>,
    /// The group's queries less its centre, row-major.
    queries: Vec<f64>,
    /// Their squared norms.
    query_norms: Vec<f64>,
    n_members: usize,
    /// Leaves waiting for the product filter, and their number of points.
    batch: Vec<u32>,
    batch_points: usize,
    /// Stored position of each batched point.
    positions: Vec<u32>,
    /// The batched points less the group's centre, feature-major.
    points: Vec<f64>,
    /// Their squared norms.
    point_norms: Vec<f64>,
    /// Centred queries times centred points, members × points.
    products: Vec<f64>,
    /// One member's filtered distances to the batched points.
    filtered: Vec<f64>,
}

impl Scratch {
    #[inline(always)]
    fn start_group(&mut self, queries: &[f64], centre: &[f64]) {
        let n_features = centre.len();
        self.n_members = queries.len() / n_features;
        self.queries.clear();
        self.queries
            .extend(queries.chunks_exact(n_features).flat_map(|query| {
                query
                    .iter()
                    .zip(centre)
                    .map(|(value, middle)| value - middle)
            }));
        self.query_norms.clear();
        self.query_norms.extend(
            self.queries
                .chunks_exact(n_features)
                .map(|query| query.iter().map(|value| value * value).sum::<f64>()),
        );
        self.batch.clear();
        self.batch_points = 0;
    }

    /// Centres the batched points and fills `point_norms` and `products`.
    #[inline(always)]
    fn multiply(&mut self, index: &NeighborIndex, centre: &[f64]) {
        let n_features = index.n_features;
        let n_points = self.batch_points;
        self.positions.clear();
        for &leaf in &self.batch {
            self.positions.extend(
                index.nodes[leaf as usize]
                    .range()
                    .map(|position| position as u32),
            );
        }
        self.points.clear();
        for (feature, &middle) in centre.iter().enumerate() {
            for &leaf in &self.batch {
                for block_start in index.nodes[leaf as usize].range().step_by(LANES) {
                    let (block, width) = index.block(block_start);
                    let column = &block[feature * width..(feature + 1) * width];
                    self.points
                        .extend(column.iter().map(|value| value - middle));
                }
            }
        }
        self.point_norms.clear();
        self.point_norms.resize(n_points, 0.0);
        for row in self.points.chunks_exact(n_points) {
            for (norm, value) in self.point_norms.iter_mut().zip(row) {
                *norm += value * value;
            }
        }
        self.products.clear();
        self.products.resize(self.n_members * n_points, 0.0);
        self.filtered.resize(n_points, 0.0);
        let queries = ArrayView2::from_shape((self.n_members, n_features), &self.queries)
            .expect("one row per member");
        let points = ArrayView2::from_shape((n_features, n_points), &self.points)
            .expect("one row per feature");
        let mut products =
            ndarray::ArrayViewMut2::from_shape((self.n_members, n_points), &mut self.products)
                .expect("one row per member");
        ndarray::linalg::general_mat_mul(1.0, &queries, &points, 0.0, &mut products);
    }
}

/// Where feature `feature` of the point at stored position `position` is
/// kept among `n_points` points: blocks of [`LANES`] points, feature-major
/// within a block (the last block may be narrower).
fn stored_index(position: usize, feature: usize, n_points: usize, n_features: usize) -> usize {
    let start = position - position % LANES;
    let width = LANES.min(n_points - start);
    start * n_features + feature * width + position - start
}

/// Sums `gap(value, low, high)²` over the features in four interleaved
/// partial sums, which vectorises and breaks the chain of dependent
/// additions a single sum would wait on.
#[inline(always)]
fn sum_in_four(
    point: &[f64],
    lower: &[f32],
    upper: &[f32],
    gap: impl Fn(f64, f64, f64) -> f64,
) -> f64 {
    let mut partial = [0.0; 4];
    let chunks = point
        .chunks_exact(4)
        .zip(lower.chunks_exact(4))
        .zip(upper.chunks_exact(4));
    for ((values, lows), highs) in chunks {
        for lane in 0..4 {
            let term = gap(values[lane], f64::from(lows[lane]), f64::from(highs[lane]));
            partial[lane] += term * term;
        }
    }
    let tail = point.len() - point.len() % 4;
    for (lane, ((&value, &low), &high)) in point[tail..]
        .iter()
        .zip(&lower[tail..])
        .zip(&upper[tail..])
        .enumerate()
    {
        let term = gap(value, f64::from(low), f64::from(high));
        partial[lane] += term * term;
    }
    (partial[0] + partial[1]) + (partial[2] + partial[3])
}

/// The larger of two numbers, in one instruction: unlike `f64::max` it
/// does not special-case NaN, which the callers' values never are (and a
/// NaN only weakens pruning).
#[inline(always)]
fn larger(a: f64, b: f64) -> f64 {
    if a > b { a } else { b }
}

/// Per-feature minimum and maximum of row-major `rows`.
fn corners(rows: &[f64], n_features: usize) -> (Vec<f64>, Vec<f64>) {
    let mut lower = vec![f64::INFINITY; n_features];
    let mut upper = vec![f64::NEG_INFINITY; n_features];
    for row in rows.chunks_exact(n_features.max(1)) {
        for ((low, high), &value) in lower.iter_mut().zip(upper.iter_mut()).zip(row) {
            *low = low.min(value);
            *high = high.max(value);
        }
    }
    (lower, upper)
}

/// Boxes given as `[lower corner, upper corner]` per node, with each
/// corner rounded outwards to `f32`.
fn outward_f32(bounds: &[f64], n_features: usize) -> Vec<f32> {
    let mut rounded = Vec::with_capacity(bounds.len());
    for corners in bounds.chunks_exact(2 * n_features.max(1)) {
        let (lower, upper) = corners.split_at(n_features);
        rounded.extend(lower.iter().map(|&low| {
            let near = low as f32;
            if f64::from(near) > low {
                near.next_down()
            } else {
                near
            }
        }));
        rounded.extend(upper.iter().map(|&high| {
            let near = high as f32;
            if f64::from(near) < high {
                near.next_up()
            } else {
                near
            }
        }));
    }
    rounded
}

/// The middle of the box `lower..upper`.
fn middle(lower: &[f64], upper: &[f64]) -> Vec<f64> {
    lower
        .iter()
        .zip(upper)
        .map(|(low, high)| low + (high - low) / 2.0)
        .collect()
}

/// The loosest of a group's bounds: a node is skipped for the group only
/// if it is skipped for every member.
#[inline(always)]
fn group_bound(bests: &[Best]) -> Bound {
    bests
        .iter()
        .map(Best::bound)
        .max_by(|a, b| a.squared.total_cmp(&b.squared).then(a.id.cmp(&b.id)))
        .unwrap_or(Bound {
            squared: f64::INFINITY,
            id: NO_ID,
        })
}

/// The k-th neighbour found so far, as the limit a point must beat: it
/// enters if nearer, or as near with a smaller id.
#[derive(Clone, Copy, Debug)]
struct Bound {
    squared: f64,
    id: u32,
}

impl Bound {
    /// Whether nothing in a box at `box_squared`, with ids from `min_id`
    /// up, can beat the bound. A box distance sums its terms in another
    /// order than a point distance, so it may exceed the distance of a
    /// point on the box by a few units in the last place; `slack` (see
    /// [`prune_slack`]) covers that, so that no point tied with the k-th is
    /// ever skipped.
    #[inline(always)]
    fn prunes(&self, box_squared: f64, min_id: u32, slack: f64) -> bool {
        let limit = self.squared * slack;
        box_squared > limit || (box_squared >= limit && min_id > self.id)
    }
}

/// Factor on the k-th squared distance below which a box is not pruned.
/// Summing `d` non-negative terms in two orders gives results within a
/// relative `(d - 1) ε / 2` each of the exact sum; four times `d ε` bounds
/// their ratio with room to spare.
fn prune_slack(n_features: usize) -> f64 {
    1.0 + 4.0 * (n_features as f64 + 1.0) * f64::EPSILON
}

/// A candidate neighbour: squared distance, id and stored position.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    squared: f64,
    id: u32,
    position: u32,
}

impl Candidate {
    /// Orders by distance, then by id, so that ties resolve the same way
    /// whatever order points are met in.
    fn before(&self, other: &Candidate) -> bool {
        match self.squared.total_cmp(&other.squared) {
            std::cmp::Ordering::Less => true,
            std::cmp::Ordering::Equal => self.id < other.id,
            std::cmp::Ordering::Greater => false,
        }
    }
}

/// The best `k` candidates so far, sorted. A sorted vector beats a heap for
/// the small `k` detectors use, and hands back neighbours in order.
#[derive(Debug)]
struct Best {
    k: usize,
    items: Vec<Candidate>,
}

impl Best {
    fn new(k: usize) -> Best {
        Best {
            k,
            items: Vec::with_capacity(k + 1),
        }
    }

    fn clear(&mut self) {
        self.items.clear();
    }

    #[inline(always)]
    fn offer(&mut self, candidate: Candidate) {
        if self.items.len() == self.k {
            match self.items.last() {
                Some(worst) if candidate.before(worst) => {}
                _ => return,
            }
            self.items.pop();
        }
        let at = self.items.partition_point(|item| item.before(&candidate));
        self.items.insert(at, candidate);
    }

    /// The bound a candidate must beat: the k-th so far, or +inf (which
    /// every finite distance beats) while fewer than k are known.
    #[inline(always)]
    fn bound(&self) -> Bound {
        match self.items.last() {
            Some(worst) if self.items.len() == self.k => Bound {
                squared: worst.squared,
                id: worst.id,
            },
            _ if self.k == 0 => Bound {
                squared: f64::NEG_INFINITY,
                id: 0,
            },
            _ => Bound {
                squared: f64::INFINITY,
                id: NO_ID,
            },
        }
    }
}

/// A tree over a slice of ids, with node indices local to it.
struct Subtree {
    nodes: Vec<Node>,
    bounds: Vec<f64>,
}

/// Subtrees at least this large build their two halves in parallel.
const PARALLEL_BUILD_POINTS: usize = 16_384;

impl Subtree {
    /// Builds the subtree over `order` (ids), which starts at stored
    /// position `start`; reorders `order` into leaf order.
    fn grow(data: &[f64], n_features: usize, order: &mut [u32], start: usize) -> Subtree {
        let (lower, upper) = bounding_box(data, n_features, order);
        let min_id = order.iter().copied().min().unwrap_or(NO_ID);
        let mut node = Node {
            start: start as u32,
            end: (start + order.len()) as u32,
            left: 0,
            right: 0,
            min_id,
        };
        let mut bounds = lower.clone();
        bounds.extend_from_slice(&upper);
        if order.len() <= LEAF_SIZE || n_features == 0 {
            return Subtree {
                nodes: vec![node],
                bounds,
            };
        }

        let feature = (0..n_features)
            .max_by(|&a, &b| (upper[a] - lower[a]).total_cmp(&(upper[b] - lower[b])))
            .expect("at least one feature");
        let value = |id: u32| data[id as usize * n_features + feature];
        // Splitting at a multiple of LANES starts every node, and so every
        // leaf, at a block boundary of the storage. Ties in value split by
        // id, so that equal points still halve.
        let middle = (order.len() / 2).div_ceil(LANES) * LANES;
        order.select_nth_unstable_by(middle, |&a, &b| {
            value(a).total_cmp(&value(b)).then(a.cmp(&b))
        });
        let (left_order, right_order) = order.split_at_mut(middle);
        let (left, right) = if middle >= PARALLEL_BUILD_POINTS {
            rayon::join(
                || Subtree::grow(data, n_features, left_order, start),
                || Subtree::grow(data, n_features, right_order, start + middle),
            )
        } else {
            (
                Subtree::grow(data, n_features, left_order, start),
                Subtree::grow(data, n_features, right_order, start + middle),
            )
        };

        node.left = 1;
        node.right = 1 + left.nodes.len() as u32;
        let mut nodes = Vec::with_capacity(1 + left.nodes.len() + right.nodes.len());
        nodes.push(node);
        for (offset, subtree) in [(node.left, &left), (node.right, &right)] {
            nodes.extend(subtree.nodes.iter().map(|child| Node {
                left: if child.is_leaf() {
                    0
                } else {
                    child.left + offset
                },
                right: if child.is_leaf() {
                    0
                } else {
                    child.right + offset
                },
                ..*child
            }));
            bounds.extend_from_slice(&subtree.bounds);
        }
        Subtree { nodes, bounds }
    }
}

/// Per-feature minimum and maximum over the rows `ids` of `data`.
fn bounding_box(data: &[f64], n_features: usize, ids: &[u32]) -> (Vec<f64>, Vec<f64>) {
    let mut lower = vec![f64::INFINITY; n_features];
    let mut upper = vec![f64::NEG_INFINITY; n_features];
    for &id in ids {
        let row = &data[id as usize * n_features..(id as usize + 1) * n_features];
        for ((low, high), &value) in lower.iter_mut().zip(upper.iter_mut()).zip(row) {
            *low = low.min(value);
            *high = high.max(value);
        }
    }
    (lower, upper)
}

/// Most neighbours a detector may ask for: fitting holds
/// `n_points × n_neighbors` neighbours in memory.
const MAX_NEIGHBORS: usize = 10_000;

/// Checks the parameters the neighbour detectors share.
pub(crate) fn validate_params(
    n_neighbors: usize,
    max_training_points: Option<usize>,
) -> Result<(), ParamError> {
    if n_neighbors == 0 {
        return Err(ParamError::new(
            "n_neighbors",
            "must be at least 1",
            n_neighbors,
        ));
    }
    if n_neighbors > MAX_NEIGHBORS {
        return Err(ParamError::new(
            "n_neighbors",
            format!("must be at most {MAX_NEIGHBORS}"),
            n_neighbors,
        ));
    }
    if let Some(count) = max_training_points
        && count < 2
    {
        return Err(ParamError::new(
            "max_training_points",
            "must be at least 2",
            count,
        ));
    }
    Ok(())
}

/// Checks that a neighbour detector can be fitted on `points`: at least two
/// points (a point is never its own neighbour), at least one feature, at
/// most [`MAX_POINTS`] points, all finite.
pub(crate) fn check_training_points(points: ArrayView2<'_, f64>) -> Result<(), FitError> {
    let (n_points, n_features) = points.dim();
    let reason = if n_points == 0 {
        "no points"
    } else if n_features == 0 {
        "no features"
    } else if n_points < 2 {
        "a neighbour detector needs at least 2 points"
    } else if n_points > MAX_POINTS {
        "the neighbour index holds at most 4294967295 points"
    } else if points.iter().any(|value| !value.is_finite()) {
        "points must be finite"
    } else {
        return Ok(());
    };
    Err(FitError::NotEnoughData {
        n_points,
        n_features,
        reason,
    })
}

/// The training rows a detector indexes: `None` for all of them, or a
/// uniform sample of `max_points` rows drawn with `seed`, ascending.
pub(crate) fn choose_reference(
    n_points: usize,
    max_points: Option<usize>,
    seed: u64,
) -> Option<Vec<usize>> {
    let max_points = max_points.filter(|&max_points| max_points < n_points)?;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut rows = rand::seq::index::sample(&mut rng, n_points, max_points).into_vec();
    rows.sort_unstable();
    tracing::debug!(
        n_points,
        max_points,
        "indexing a sample of the training points; scores are approximate"
    );
    Some(rows)
}

/// How closely scores computed against a sample of the training points
/// follow exact ones, measured when such a detector is fitted.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ApproximationCheck {
    /// Training points compared: a seeded uniform sample of them.
    pub n_probes: usize,
    /// Spearman's rank correlation between their approximate and exact
    /// scores: 1 when the approximate scores rank them as exact ones do.
    pub rank_correlation: f64,
}

/// Mixed into the seed of the probe sample, so that it is drawn apart
/// from the indexed sample.
const PROBE_SEED_SALT: u64 = 0x5EED_0F9B_0E5A;

impl ApproximationCheck {
    /// Compares the approximate training `scores` of `detector` (which
    /// searches `n_indexed` of the `scores.len()` training points) with
    /// exact ones on a seeded sample of `n_probes` rows, whose exact scores
    /// `exact` computes, and logs the result as a warning.
    pub(crate) fn measure(
        detector: &str,
        n_indexed: usize,
        scores: &[f64],
        n_probes: usize,
        seed: u64,
        exact: impl FnOnce(&[usize]) -> Vec<f64>,
    ) -> ApproximationCheck {
        let probes = probe_rows(scores.len(), n_probes, seed);
        let exact_scores = exact(&probes);
        let approximate: Vec<f64> = probes.iter().map(|&row| scores[row]).collect();
        let check = ApproximationCheck {
            n_probes: probes.len(),
            rank_correlation: rank_correlation(&approximate, &exact_scores),
        };
        tracing::warn!(
            "{detector} searches {n_indexed} of {} training points, so its scores are \
             approximate: on {} random training points they rank with Spearman correlation \
             {:.3} against exact scores",
            scores.len(),
            check.n_probes,
            check.rank_correlation,
        );
        check
    }
}

/// Exact leave-one-out scores of the training rows `rows` of `points`:
/// `aggregate` turns a row's `k` nearest distances to the other training
/// points (ascending, found by brute force) into its score. Costs
/// `rows.len()` times `n d`, spread over threads.
pub(crate) fn brute_force_scores(
    points: ArrayView2<'_, f64>,
    rows: &[usize],
    k: usize,
    aggregate: impl Fn(&[f64]) -> f64 + Sync,
) -> Vec<f64> {
    rows.par_iter()
        .map(|&probe| {
            let query = points.row(probe);
            let mut distances: Vec<f64> = points
                .rows()
                .into_iter()
                .enumerate()
                .filter(|&(row, _)| row != probe)
                .map(|(_, row)| {
                    let squared: f64 = row.iter().zip(&query).map(|(a, b)| (a - b) * (a - b)).sum();
                    squared.sqrt()
                })
                .collect();
            let k = k.clamp(1, distances.len());
            distances.select_nth_unstable_by(k - 1, f64::total_cmp);
            let nearest = &mut distances[..k];
            nearest.sort_unstable_by(f64::total_cmp);
            aggregate(nearest)
        })
        .collect()
}

/// A seeded uniform sample of `count` of `n_points` rows (all when fewer),
/// drawn apart from the indexed sample, for measuring an approximation.
fn probe_rows(n_points: usize, count: usize, seed: u64) -> Vec<usize> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ PROBE_SEED_SALT);
    rand::seq::index::sample(&mut rng, n_points, count.min(n_points)).into_vec()
}

/// Spearman's rank correlation (ties take their mean rank) of two equally
/// long series; 1 when both are constant, 0 when only one is.
pub(crate) fn rank_correlation(a: &[f64], b: &[f64]) -> f64 {
    let (a, b) = (mean_ranks(a), mean_ranks(b));
    let mean = (a.len() as f64 + 1.0) / 2.0;
    let (mut covariance, mut variance_a, mut variance_b) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(&b) {
        covariance += (x - mean) * (y - mean);
        variance_a += (x - mean) * (x - mean);
        variance_b += (y - mean) * (y - mean);
    }
    match (variance_a > 0.0, variance_b > 0.0) {
        (true, true) => covariance / (variance_a * variance_b).sqrt(),
        (false, false) => 1.0,
        _ => 0.0,
    }
}

/// 1-based ranks, ties given the mean of the ranks they span.
fn mean_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        let rank = (start + end + 1) as f64 / 2.0;
        for &index in &order[start..end] {
            ranks[index] = rank;
        }
        start = end;
    }
    ranks
}

/// Scores of all training rows: rows in the `reference` sample (all rows
/// when it is `None`) take their leave-one-out score from `own`, indexed by
/// position in the sample; the others are scored as new points.
pub(crate) fn training_scores(
    points: ArrayView2<'_, f64>,
    reference: Option<&[usize]>,
    own: Vec<f64>,
    score_new: impl Fn(ArrayView2<'_, f64>) -> Vec<f64>,
) -> Vec<f64> {
    let Some(reference) = reference else {
        return own;
    };
    let mut in_reference = vec![false; points.nrows()];
    for &row in reference {
        in_reference[row] = true;
    }
    let others: Vec<usize> = (0..points.nrows())
        .filter(|&row| !in_reference[row])
        .collect();
    let other_scores = score_new(points.select(Axis(0), &others).view());
    let mut scores = vec![0.0; points.nrows()];
    for (&row, score) in reference.iter().zip(own) {
        scores[row] = score;
    }
    for (&row, score) in others.iter().zip(other_scores) {
        scores[row] = score;
    }
    scores
}

/// The `k` neighbours of a point that may itself be indexed, from its
/// `k + 1` nearest: an exact copy at distance 0 in first place is taken to
/// be the point itself and left out; otherwise the farthest is dropped.
/// A point not in the index that duplicates one that is loses that
/// duplicate, a small bias accepted so that in-sample rows match their
/// leave-one-out training scores.
pub(crate) fn without_self<'a>(distances: &'a [f64], ids: &'a [u32]) -> (&'a [f64], &'a [u32]) {
    let k = distances.len().saturating_sub(1);
    if distances.first() == Some(&0.0) {
        (&distances[1..], &ids[1..])
    } else {
        (&distances[..k], &ids[..k])
    }
}

/// Scores the rows of `points` with `score_finite`, which sees only
/// finite rows of the right width: a row with the wrong width or a NaN
/// scores NaN, and a row with an infinite value, infinitely far from every
/// training point, scores +inf.
pub(crate) fn score_rows(
    points: ArrayView2<'_, f64>,
    n_features: usize,
    score_finite: impl Fn(ArrayView2<'_, f64>) -> Vec<f64>,
) -> Vec<f64> {
    if points.ncols() != n_features {
        return vec![f64::NAN; points.nrows()];
    }
    let special: Vec<Option<f64>> = points
        .rows()
        .into_iter()
        .map(|row| {
            if row.iter().any(|value| value.is_nan()) {
                Some(f64::NAN)
            } else if row.iter().any(|value| value.is_infinite()) {
                Some(f64::INFINITY)
            } else {
                None
            }
        })
        .collect();
    if special.iter().all(Option::is_none) {
        return score_finite(points);
    }
    let finite: Vec<usize> = (0..points.nrows())
        .filter(|&row| special[row].is_none())
        .collect();
    let mut finite_scores = score_finite(points.select(Axis(0), &finite).view()).into_iter();
    special
        .into_iter()
        .map(|special| {
            special.unwrap_or_else(|| finite_scores.next().expect("one score per finite row"))
        })
        .collect()
}

/// Raw per-feature attribution of a score that is a weighted sum of
/// distances to `neighbors`: neighbour j's `weights[j]` is split over the
/// features in proportion to the squared differences, which sum to the
/// squared distance. Neighbours at distance 0 carry nothing to split.
pub(crate) fn split_over_features(
    index: &NeighborIndex,
    point: &[f64],
    neighbors: &[Neighbor],
    weights: &[f64],
) -> Vec<f64> {
    let mut raw = vec![0.0; point.len()];
    for (neighbor, &weight) in neighbors.iter().zip(weights) {
        if neighbor.distance <= 0.0 || weight <= 0.0 {
            continue;
        }
        let scale = weight / (neighbor.distance * neighbor.distance);
        for ((share, &value), stored) in raw
            .iter_mut()
            .zip(point)
            .zip(index.neighbor_point(neighbor))
        {
            *share += scale * (value - stored) * (value - stored);
        }
    }
    raw
}

/// Attribution of a point that is not finite, if it is not: an infinite
/// value puts the point infinitely far away along its own features, which
/// share the anomaly equally; a NaN leaves nothing to attribute.
pub(crate) fn non_finite_shares(point: &[f64]) -> Option<Vec<f64>> {
    if point.iter().all(|value| value.is_finite()) {
        return None;
    }
    if point.iter().any(|value| value.is_nan()) {
        return Some(vec![0.0; point.len()]);
    }
    let infinite = point.iter().filter(|value| value.is_infinite()).count() as f64;
    Some(
        point
            .iter()
            .map(|value| {
                if value.is_infinite() {
                    1.0 / infinite
                } else {
                    0.0
                }
            })
            .collect(),
    )
}

/// A small fixed dataset the detectors' agreement tests share: 30 points
/// from N(0, 1) and 10 from N(4, 0.5²) in 3 features, one moved far out,
/// and six new points, the last a copy of a training point. Generated with
/// the expected scores by `scripts/knn_lof_reference.py`
/// (pyod 3.6.7, scikit-learn 1.9.1, numpy 2.4.6).
#[cfg(test)]
pub(crate) mod fixture {
    pub(crate) const TRAIN: [[f64; 3]; 40] = [
        [0.6479062041731867, 0.4693207943802901, -0.6430206107408429],
        [-1.1782586485051316, -0.1446904068952663, 1.2034583961932943],
        [1.333583812903236, 0.9083014032879105, 0.34656442984553604],
        [1.6000346749383478, 1.2328398158997746, -0.22031750392712676],
        [
            -1.061964641201837,
            -0.36456878996907954,
            -0.42001856219517336,
        ],
        [
            0.6875091126951889,
            -1.8991159625601923,
            -0.19136868930570952,
        ],
        [1.6712221291321379, -0.9202837558478939, -0.7584636198504452],
        [6.0, -5.0, 1.0],
        [
            -0.015652895541861434,
            -0.004655182959846793,
            -0.9885139058919145,
        ],
        [
            -0.36583041215273976,
            0.6538175542587453,
            -0.7145507176945846,
        ],
        [0.5471974805622952, 0.6555123703846103, -1.427000612748674],
        [-0.6453062309323778, 0.6553126335987838, 0.4934947931680514],
        [
            0.17937520344520916,
            -0.34861752934233964,
            0.10855880251924171,
        ],
        [1.8747731613999465, -0.22145548793200193, 0.5796499277441246],
        [
            -0.4167484551841611,
            -0.19832604870600817,
            0.6480267698571607,
        ],
        [
            -0.9290022648018306,
            -0.2424174591323166,
            -0.6103077783876595,
        ],
        [-0.8587081710264369, 0.17575308681264953, 1.2398231036475955],
        [
            0.22140705877812705,
            -0.38176655894604455,
            -1.4511199677461464,
        ],
        [0.8189569572581015, 0.21045908127569718, -0.6313136468257957],
        [0.8614358218902247, 1.574228717601692, -1.6316532266028163],
        [0.5903271438221837, 0.8458533849511832, 0.5805286755607001],
        [1.6017619872258395, 0.6253781389011206, -0.9035320411022687],
        [3.800127793684673, 0.14619224930101304, 1.4821070160056187],
        [1.966109047273969, 0.881449723807857, -1.7981082688694707],
        [
            -1.703972134564654,
            -0.6776004826356928,
            0.034065154178900735,
        ],
        [
            -1.3888266085416647,
            -0.9371519642668998,
            -0.4450897243625932,
        ],
        [
            -0.4751071222504473,
            0.18861528399919464,
            0.07257124736723158,
        ],
        [
            -0.03876358563915929,
            -0.6177084431588887,
            -0.8323965324406506,
        ],
        [-1.9109162750011652, 1.2674883483332806, 0.19547133004320258],
        [0.3695175726456784, -1.7173593585067457, 0.7511567758062927],
        [3.955986974440804, 4.48417203432448, 3.656913426867738],
        [4.499178567305522, 4.719698740365667, 3.9152193423069277],
        [3.8477358165351934, 3.7998525540094823, 4.0678149002743575],
        [5.369999096400597, 3.976238493994066, 4.325307843902835],
        [3.258754880398786, 2.8361386426365547, 4.080324043156043],
        [3.9506681974549167, 4.6095565744622835, 2.833290066235249],
        [4.208035694412977, 3.1232940786402454, 4.878965456188193],
        [4.38035196848251, 3.5114272943473086, 4.364868507658693],
        [4.445524734714116, 4.058956915465885, 4.771974788077165],
        [4.487144310241261, 3.9605570873734135, 3.7825833742906183],
    ];
    pub(crate) const NEW: [[f64; 3]; 6] = [
        [1.1027680138720086, -0.9153339514362842, -3.9342632146570087],
        [-0.5544935730807927, -2.6098777558856843, 1.524773444283373],
        [0.15784547394867743, 0.8782062891673323, 1.7595955378684667],
        [
            -0.04971606987119838,
            -0.026007299492034654,
            0.670988376229451,
        ],
        [4.0, 4.0, 4.0],
        [1.6000346749383478, 1.2328398158997746, -0.22031750392712676],
    ];
}

#[cfg(test)]
mod tests {
    use super::Strategy;
    use super::*;
    use crate::detector::ecdf::reference::gaussian;
    use ndarray::Array2;
    use proptest::prelude::*;

    /// Every distance, sorted by (distance, id): the definition the index
    /// must reproduce exactly.
    fn brute_force(
        points: &Array2<f64>,
        query: &[f64],
        k: usize,
        exclude: Option<usize>,
    ) -> Vec<(f64, u32)> {
        let mut all: Vec<(f64, u32)> = points
            .rows()
            .into_iter()
            .enumerate()
            .filter(|&(id, _)| Some(id) != exclude)
            .map(|(id, row)| {
                let mut squared = 0.0;
                for (&a, &b) in query.iter().zip(row) {
                    squared += (a - b) * (a - b);
                }
                (squared.sqrt(), id as u32)
            })
            .collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        all.truncate(k);
        all
    }

    fn assert_matches_brute_force(points: &Array2<f64>, queries: &Array2<f64>, k: usize) {
        let index = NeighborIndex::build(points.view());
        let runs = [
            (Strategy::Single, 1),
            (Strategy::Shared, 7),
            (Strategy::Shared, SHARED_GROUP_SIZE),
            (Strategy::Product, 5),
            (Strategy::Product, PRODUCT_GROUP_SIZE),
        ];
        for (strategy, group_size) in runs {
            let found = index.query_in_groups(queries.view(), k, strategy, group_size);
            for (row, query) in queries.rows().into_iter().enumerate() {
                let expected = brute_force(points, query.as_slice().unwrap(), k, None);
                let got: Vec<(f64, u32)> = found
                    .distances(row)
                    .iter()
                    .copied()
                    .zip(found.ids(row).iter().copied())
                    .collect();
                assert_eq!(got, expected, "{strategy:?} by {group_size}, query {row}");
            }
            let indexed = index.query_indexed_in_groups(k, strategy, group_size);
            for (id, point) in points.rows().into_iter().enumerate() {
                let expected = brute_force(points, point.as_slice().unwrap(), k, Some(id));
                let got: Vec<(f64, u32)> = indexed
                    .distances(id)
                    .iter()
                    .copied()
                    .zip(indexed.ids(id).iter().copied())
                    .collect();
                assert_eq!(
                    got, expected,
                    "{strategy:?} by {group_size}, indexed point {id}"
                );
            }
        }
    }

    #[test]
    fn rank_correlation_gives_ties_their_mean_rank() {
        assert_eq!(mean_ranks(&[3.0, 1.0, 3.0, 2.0]), vec![3.5, 1.0, 3.5, 2.0]);
        assert_eq!(rank_correlation(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]), 1.0);
        assert_eq!(rank_correlation(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), -1.0);
        // Monotone but not linear: ranks agree.
        assert_eq!(
            rank_correlation(&[1.0, 2.0, 3.0, 4.0], &[1.0, 8.0, 27.0, 1e6]),
            1.0
        );
        assert_eq!(rank_correlation(&[1.0, 1.0], &[2.0, 2.0]), 1.0);
        assert_eq!(rank_correlation(&[1.0, 1.0], &[1.0, 2.0]), 0.0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn index_agrees_with_brute_force(
            n_points in 1usize..300,
            n_features in 1usize..12,
            k in 1usize..12,
            seed in 0u64..1000,
            // Coarse grids make many exact ties and duplicates.
            grid in prop_oneof![Just(0.0), Just(1.0), Just(0.25)],
        ) {
            let mut points = gaussian(n_points, n_features, seed);
            let mut queries = gaussian(20, n_features, seed + 1);
            if grid > 0.0 {
                points.mapv_inplace(|value| (value / grid).round() * grid);
                queries.mapv_inplace(|value| (value / grid).round() * grid);
            }
            assert_matches_brute_force(&points, &queries, k);
        }
    }

    #[test]
    fn index_agrees_with_brute_force_in_high_dimension() {
        let points = gaussian(400, 40, 3);
        let queries = gaussian(30, 40, 4);
        assert_matches_brute_force(&points, &queries, 7);
        // Far from the origin, with ties: the product filter's cancellation
        // and tie-breaking at work.
        let mut grid = gaussian(300, 25, 5).mapv(|value| 1000.0 + (value / 0.5).round() * 0.5);
        let copied = grid.row(4).to_owned();
        grid.row_mut(3).assign(&copied);
        let queries = grid.select(Axis(0), &(0..20).collect::<Vec<_>>());
        assert_matches_brute_force(&grid, &queries, 5);
    }

    #[test]
    fn probe_walks_alone_in_low_and_with_products_in_high_dimension() {
        let low = NeighborIndex::build(gaussian(20_000, 3, 1).view());
        assert_eq!(low.strategy(5, 20_000), Strategy::Single);
        let high = NeighborIndex::build(gaussian(5000, 40, 1).view());
        assert_eq!(high.strategy(5, 5000), Strategy::Product);
        assert_eq!(high.strategy(5, 10), Strategy::Single);
    }

    #[test]
    fn many_duplicates_resolve_to_the_smallest_ids() {
        let mut points = Array2::zeros((500, 2));
        points.row_mut(499).fill(1.0);
        let index = NeighborIndex::build(points.view());
        let found = index.query_indexed(3);
        assert_eq!(found.ids(0), &[1, 2, 3]);
        assert_eq!(found.ids(7), &[0, 1, 2]);
        assert_eq!(found.distances(499), &[2f64.sqrt(); 3]);
        assert_eq!(found.ids(499), &[0, 1, 2]);
    }

    #[test]
    fn k_is_capped_by_the_number_of_points() {
        let points = gaussian(3, 2, 1);
        let index = NeighborIndex::build(points.view());
        assert_eq!(index.query(points.view(), 10).k(), 3);
        assert_eq!(index.query_indexed(10).k(), 2);
        assert_eq!(index.query_point(&[0.0, 0.0], 10).len(), 3);
    }

    #[test]
    fn neighbours_read_back_their_coordinates() {
        let points = gaussian(2000, 3, 9);
        let index = NeighborIndex::build(points.view());
        for neighbor in index.query_point(&[0.3, -0.2, 1.0], 5) {
            assert_eq!(
                index.neighbor_point(&neighbor),
                points.row(neighbor.id as usize).to_vec()
            );
        }
    }

    #[test]
    fn single_point_queries_match_batch_queries() {
        let points = gaussian(1000, 4, 2);
        let queries = gaussian(10, 4, 3);
        let index = NeighborIndex::build(points.view());
        let batch = index.query(queries.view(), 5);
        for (row, query) in queries.rows().into_iter().enumerate() {
            let single = index.query_point(query.as_slice().unwrap(), 5);
            let ids: Vec<u32> = single.iter().map(|neighbor| neighbor.id).collect();
            assert_eq!(ids, batch.ids(row));
        }
    }

    #[test]
    fn non_finite_queries_do_not_panic() {
        let points = gaussian(300, 2, 2);
        let index = NeighborIndex::build(points.view());
        let odd = ndarray::array![[f64::NAN, 0.0], [f64::INFINITY, f64::NEG_INFINITY]];
        assert_eq!(index.query(odd.view(), 5).k(), 5);
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let points = gaussian(3000, 5, 8);
        let index = NeighborIndex::build(points.view());
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let serial = pool.install(|| NeighborIndex::build(points.view()).query_indexed(10));
        let parallel = index.query_indexed(10);
        assert_eq!(serial.ids, parallel.ids);
        assert_eq!(serial.distances, parallel.distances);
    }

    #[test]
    fn dispatched_search_matches_the_baseline_build_bit_for_bit() {
        // 6 features read few leaves and 24 read most, so that both the
        // walks and the product filter run.
        for (n_features, seed) in [(6, 11), (24, 12)] {
            let points = gaussian(1500, n_features, seed);
            let queries = gaussian(200, n_features, seed + 100);
            let index = NeighborIndex::build(points.view());
            let excluded = vec![NO_ID; queries.nrows()];
            let k = 7;
            for (strategy, group_size) in [
                (Strategy::Single, 1),
                (Strategy::Shared, SHARED_GROUP_SIZE),
                (Strategy::Product, PRODUCT_GROUP_SIZE),
            ] {
                let task = Task {
                    queries: queries.as_slice().unwrap(),
                    excluded: &excluded,
                    k,
                    strategy,
                    group_size,
                };
                let size = queries.nrows() * k;
                let (mut baseline_distances, mut baseline_ids) = (vec![0.0; size], vec![0; size]);
                index.search(&task, &mut baseline_distances, &mut baseline_ids);
                let (mut distances, mut ids) = (vec![0.0; size], vec![0; size]);
                index.search_dispatched(&task, &mut distances, &mut ids);
                assert_eq!(ids, baseline_ids, "{n_features} features, {strategy:?}");
                let bits = |values: &[f64]| values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(&distances),
                    bits(&baseline_distances),
                    "{n_features} features, {strategy:?}"
                );
            }
        }
    }
}
