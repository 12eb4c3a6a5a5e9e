//! Sequential minimal optimisation for the one-class SVM dual, as libsvm's
//! `Solver` (Fan, Chen and Lin, JMLR 2005) with every label `+1`:
//!
//! minimise `1/2 a'Qa + p'a` subject to `0 <= a_i <= upper` and
//! `sum_i a_i` fixed (by the starting point).
//!
//! Each step picks the pair by libsvm's second-order working-set selection
//! (WSS 3 of the paper: the maximal violator `i`, then the `j` that
//! decreases the objective most), solves the two-variable problem in closed
//! form and updates the gradient with the two rows of `Q`. The loop stops
//! when the largest violation of the optimality conditions is below `tol`,
//! the same test as libsvm's `eps`, so a caller that starts from libsvm's
//! point follows libsvm's path. There is no shrinking: it changes the path
//! slightly and saves time only on larger problems than the exact mode
//! takes.
//!
//! Rows of `Q` come from a [`QRows`] source, kept as `f32` like libsvm's
//! `Qfloat` (kernel values lie in `[0, 1]`, so the rounding, `6e-8`
//! relative, is far below any useful `tol`); the gradient and the diagonal
//! are `f64`.

use std::sync::Arc;

/// libsvm's `TAU`: the curvature used when a pair's is not positive.
const TAU: f64 = 1e-12;

/// A symmetric matrix served one row at a time.
pub(super) trait QRows {
    /// The matrix order.
    fn len(&self) -> usize;
    /// `Q_ii`.
    fn diagonal(&self, i: usize) -> f64;
    /// Row `i`; the solver holds at most two at a time.
    fn row(&mut self, i: usize) -> Arc<[f32]>;
}

/// The solver's result.
#[derive(Clone, Debug)]
pub(super) struct Solution {
    pub(super) alpha: Vec<f64>,
    /// The offset of the decision function, libsvm's `rho`.
    pub(super) rho: f64,
    pub(super) iterations: usize,
    /// Whether the violation fell below `tol` within the iteration limit.
    pub(super) converged: bool,
}

/// The most iterations for an order-`n` problem, libsvm's limit.
pub(super) fn default_max_iter(n: usize) -> usize {
    n.saturating_mul(100).max(10_000_000)
}

/// Minimises from `alpha`, which must be feasible (within the box); see
/// the module documentation.
pub(super) fn solve(
    q: &mut impl QRows,
    p: &[f64],
    mut alpha: Vec<f64>,
    upper: f64,
    tol: f64,
    max_iter: usize,
) -> Solution {
    let n = q.len();
    let mut gradient = p.to_vec();
    for (i, &value) in alpha.iter().enumerate() {
        if value != 0.0 {
            let row = q.row(i);
            for (g, &q_ik) in gradient.iter_mut().zip(row.iter()) {
                *g += value * f64::from(q_ik);
            }
        }
    }

    let mut iterations = 0;
    let mut converged = false;
    while iterations < max_iter {
        let Some((i, j)) = select_pair(q, &alpha, &gradient, upper, tol) else {
            converged = true;
            break;
        };
        iterations += 1;
        let row_i = q.row(i);
        let row_j = q.row(j);
        let (old_i, old_j) = (alpha[i], alpha[j]);

        // The pair moves along a_i + a_j = const; libsvm's update for equal
        // labels, then clipped to the box.
        let mut curvature = q.diagonal(i) + q.diagonal(j) - 2.0 * f64::from(row_i[j]);
        if curvature <= 0.0 {
            curvature = TAU;
        }
        let delta = (gradient[i] - gradient[j]) / curvature;
        let sum = old_i + old_j;
        let (mut new_i, mut new_j) = (old_i - delta, old_j + delta);
        if sum > upper {
            if new_i > upper {
                new_i = upper;
                new_j = sum - upper;
            }
        } else if new_j < 0.0 {
            new_j = 0.0;
            new_i = sum;
        }
        if sum > upper {
            if new_j > upper {
                new_j = upper;
                new_i = sum - upper;
            }
        } else if new_i < 0.0 {
            new_i = 0.0;
            new_j = sum;
        }
        alpha[i] = new_i;
        alpha[j] = new_j;

        let (change_i, change_j) = (new_i - old_i, new_j - old_j);
        for ((g, &q_ik), &q_jk) in gradient.iter_mut().zip(row_i.iter()).zip(row_j.iter()) {
            *g += f64::from(q_ik) * change_i + f64::from(q_jk) * change_j;
        }
    }
    debug_assert_eq!(alpha.len(), n);
    let rho = offset(&alpha, &gradient, upper);
    Solution {
        alpha,
        rho,
        iterations,
        converged,
    }
}

/// The largest violation of the optimality conditions: the largest `-G_i`
/// over variables that may grow plus the largest `G_j` over those that may
/// shrink; zero or less at the optimum.
pub(super) fn violation(alpha: &[f64], gradient: &[f64], upper: f64) -> f64 {
    let (up, down) = extremes(alpha, gradient, upper);
    up + down
}

fn extremes(alpha: &[f64], gradient: &[f64], upper: f64) -> (f64, f64) {
    let mut up = f64::NEG_INFINITY;
    let mut down = f64::NEG_INFINITY;
    for (&a, &g) in alpha.iter().zip(gradient) {
        if a < upper {
            up = up.max(-g);
        }
        if a > 0.0 {
            down = down.max(g);
        }
    }
    (up, down)
}

/// libsvm's `select_working_set` for all labels `+1`; `None` at optimality.
/// Ties go to the last index, as libsvm's `>=` and `<=` comparisons.
fn select_pair(
    q: &mut impl QRows,
    alpha: &[f64],
    gradient: &[f64],
    upper: f64,
    tol: f64,
) -> Option<(usize, usize)> {
    let mut g_max = f64::NEG_INFINITY;
    let mut first = None;
    for (t, (&a, &g)) in alpha.iter().zip(gradient).enumerate() {
        if a < upper && -g >= g_max {
            g_max = -g;
            first = Some(t);
        }
    }
    let row_i = first.map(|i| q.row(i));
    let diagonal_i = first.map_or(0.0, |i| q.diagonal(i));

    let mut g_max2 = f64::NEG_INFINITY;
    let mut second = None;
    let mut best = f64::INFINITY;
    for (j, (&a, &g)) in alpha.iter().zip(gradient).enumerate() {
        if a <= 0.0 {
            continue;
        }
        g_max2 = g_max2.max(g);
        let gain = g_max + g;
        if gain > 0.0
            && let Some(row_i) = &row_i
        {
            let curvature = diagonal_i + q.diagonal(j) - 2.0 * f64::from(row_i[j]);
            let decrease = -(gain * gain) / if curvature > 0.0 { curvature } else { TAU };
            if decrease <= best {
                best = decrease;
                second = Some(j);
            }
        }
    }
    if g_max + g_max2 < tol {
        return None;
    }
    Some((first?, second?))
}

/// libsvm's `calculate_rho`: the mean gradient over free variables, or the
/// middle of the feasible interval when none is free.
pub(super) fn offset(alpha: &[f64], gradient: &[f64], upper: f64) -> f64 {
    let mut upper_bound = f64::INFINITY;
    let mut lower_bound = f64::NEG_INFINITY;
    let mut n_free = 0usize;
    let mut sum_free = 0.0;
    for (&a, &g) in alpha.iter().zip(gradient) {
        if a >= upper {
            lower_bound = lower_bound.max(g);
        } else if a <= 0.0 {
            upper_bound = upper_bound.min(g);
        } else {
            n_free += 1;
            sum_free += g;
        }
    }
    if n_free > 0 {
        sum_free / n_free as f64
    } else {
        (upper_bound + lower_bound) / 2.0
    }
}

/// A dense matrix held in full, for small problems.
#[derive(Debug)]
pub(super) struct DenseRows {
    rows: Vec<Arc<[f32]>>,
}

impl DenseRows {
    pub(super) fn new(rows: Vec<Arc<[f32]>>) -> Self {
        DenseRows { rows }
    }
}

impl QRows for DenseRows {
    fn len(&self) -> usize {
        self.rows.len()
    }

    fn diagonal(&self, i: usize) -> f64 {
        f64::from(self.rows[i][i])
    }

    fn row(&mut self, i: usize) -> Arc<[f32]> {
        Arc::clone(&self.rows[i])
    }
}

/// Rows computed on demand by `compute` and kept, least recently used
/// first out, up to `capacity` rows.
#[derive(Debug)]
pub(super) struct CachedRows<F> {
    compute: F,
    diagonal: Vec<f64>,
    slots: Vec<Option<(Arc<[f32]>, u64)>>,
    n_cached: usize,
    capacity: usize,
    clock: u64,
    pub(super) misses: usize,
}

impl<F: FnMut(usize) -> Vec<f32>> CachedRows<F> {
    /// `capacity` is at least 2, the rows one step holds.
    pub(super) fn new(diagonal: Vec<f64>, capacity: usize, compute: F) -> Self {
        let n = diagonal.len();
        CachedRows {
            compute,
            diagonal,
            slots: vec![None; n],
            n_cached: 0,
            capacity: capacity.max(2),
            clock: 0,
            misses: 0,
        }
    }
}

impl<F: FnMut(usize) -> Vec<f32>> QRows for CachedRows<F> {
    fn len(&self) -> usize {
        self.diagonal.len()
    }

    fn diagonal(&self, i: usize) -> f64 {
        self.diagonal[i]
    }

    fn row(&mut self, i: usize) -> Arc<[f32]> {
        self.clock += 1;
        let now = self.clock;
        if let Some((row, used)) = &mut self.slots[i] {
            *used = now;
            return Arc::clone(row);
        }
        self.misses += 1;
        if self.n_cached >= self.capacity {
            // A linear scan for the oldest row: a miss costs a kernel row,
            // O(n d), anyway.
            let oldest = self
                .slots
                .iter()
                .enumerate()
                .filter_map(|(k, slot)| slot.as_ref().map(|(_, used)| (k, *used)))
                .min_by_key(|&(_, used)| used)
                .map(|(k, _)| k);
            if let Some(oldest) = oldest {
                self.slots[oldest] = None;
                self.n_cached -= 1;
            }
        }
        let row: Arc<[f32]> = (self.compute)(i).into();
        self.slots[i] = Some((Arc::clone(&row), now));
        self.n_cached += 1;
        row
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gram(points: &[[f64; 2]], gamma: f64) -> DenseRows {
        let rows = points
            .iter()
            .map(|a| {
                points
                    .iter()
                    .map(|b| {
                        let d2 = (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2);
                        (-gamma * d2).exp() as f32
                    })
                    .collect::<Vec<f32>>()
                    .into()
            })
            .collect();
        DenseRows::new(rows)
    }

    #[test]
    fn solution_satisfies_the_optimality_conditions() {
        let points: Vec<[f64; 2]> = (0..40)
            .map(|k| {
                let t = k as f64 * 0.7;
                [t.sin() * (1.0 + 0.1 * t), (2.0 * t).cos()]
            })
            .collect();
        let mut q = gram(&points, 0.5);
        let mut alpha = vec![0.0; 40];
        alpha[..12].fill(1.0);
        alpha[12] = 0.4;
        let solution = solve(&mut q, &[0.0; 40], alpha, 1.0, 1e-9, 1_000_000);
        assert!(solution.converged);
        assert!((solution.alpha.iter().sum::<f64>() - 12.4).abs() < 1e-9);
        let gradient: Vec<f64> = (0..40)
            .map(|i| {
                let row = q.row(i);
                (0..40).map(|k| f64::from(row[k]) * solution.alpha[k]).sum()
            })
            .collect();
        assert!(violation(&solution.alpha, &gradient, 1.0) < 1e-8);
        for (&a, &g) in solution.alpha.iter().zip(&gradient) {
            assert!((0.0..=1.0).contains(&a));
            // KKT: at 0 the gradient is at least rho, at the top at most.
            if a <= 0.0 {
                assert!(g >= solution.rho - 1e-8);
            } else if a >= 1.0 {
                assert!(g <= solution.rho + 1e-8);
            } else {
                assert!((g - solution.rho).abs() < 1e-8);
            }
        }
    }

    #[test]
    fn cache_recomputes_evicted_rows_only() {
        let mut computed = Vec::new();
        let mut cache = CachedRows::new(vec![1.0; 4], 2, |i| {
            computed.push(i);
            vec![i as f32; 4]
        });
        for i in [0, 1, 0, 2, 1, 0] {
            assert_eq!(cache.row(i)[0], i as f32);
        }
        // 0, 1 computed; 0 hit; 2 evicts 1; 1 evicts 0; 0 evicts 2.
        assert_eq!(cache.misses, 5);
        drop(cache);
        assert_eq!(computed, vec![0, 1, 2, 1, 0]);
    }
}
