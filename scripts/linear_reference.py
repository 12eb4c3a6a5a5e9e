"""Reference numbers for the PCA and MCD detectors' agreement tests.

Builds small datasets from a SplitMix64 generator that the tests in
crates/oddity/src/detector/{pca,mahalanobis}.rs reproduce bit for bit
(normals are sums of 12 uniforms less 6, features elementwise formulas),
fits PyOD's PCA and MCD (scikit-learn's MinCovDet) and prints what the
tests hard-code: scores of probe points, robust locations and covariances,
chi-square quantiles and consistency factors.

Run: python3 scripts/linear_reference.py

With `--time N D` it instead times PyOD's PCA and MCD (defaults) fitting
and scoring N standard Gaussian points in D features:
python3 scripts/linear_reference.py --time 100000 10
"""

import sys
import time

import numpy as np
import pyod
import scipy
import sklearn
from pyod.models.mcd import MCD
from pyod.models.pca import PCA
from scipy.stats import chi2
from sklearn.covariance import MinCovDet

if len(sys.argv) == 4 and sys.argv[1] == "--time":
    n_points, n_features = int(sys.argv[2]), int(sys.argv[3])
    X = np.random.default_rng(0).standard_normal((n_points, n_features))
    for name, make in [("pca", PCA), ("mcd", lambda: MCD(random_state=0))]:
        start = time.perf_counter()
        model = make().fit(X)
        fit = time.perf_counter() - start
        start = time.perf_counter()
        model.decision_function(X)
        score = time.perf_counter() - start
        print(f"pyod {name} {n_points} x {n_features}: fit {fit:.2f} s, score {score:.2f} s")
    sys.exit(0)

MASK = (1 << 64) - 1


class SplitMix:
    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def uniform(self):
        return (self.next() >> 11) * 2.0**-53

    def normal(self):
        total = 0.0
        for _ in range(12):
            total += self.uniform()
        return total - 6.0


def correlated(n_points, n_outliers, seed):
    """3 correlated features; the last n_outliers rows are a shifted cluster."""
    rng = SplitMix(seed)
    rows = []
    for i in range(n_points):
        a, b, c = rng.normal(), rng.normal(), rng.normal()
        row = [a, 0.6 * a + 0.8 * b, 0.5 * c - 0.3 * a + 2.0]
        if i >= n_points - n_outliers:
            row = [row[0] + 4.0, row[1] - 3.0, row[2] + 2.5]
        rows.append(row)
    return np.array(rows)


def separated(n_points, n_features, seed):
    """ceil((n + d + 1) / 2) correlated Gaussian inliers first, then outliers
    8 to 20 from the centre in every coordinate, so that the minimum
    covariance determinant subset is the inliers from any start."""
    rng = SplitMix(seed)
    n_inliers = -(-(n_points + n_features + 1) // 2)
    rows = []
    for i in range(n_points):
        if i < n_inliers:
            row = [rng.normal() for _ in range(n_features)]
            row = [row[0]] + [0.5 * row[0] + row[j] for j in range(1, n_features)]
        else:
            row = []
            for _ in range(n_features):
                magnitude = 8.0 + 12.0 * rng.uniform()
                row.append(magnitude if rng.uniform() < 0.5 else -magnitude)
        rows.append(row)
    return np.array(rows)


PROBES = np.array(
    [
        [0.0, 0.0, 2.0],
        [1.0, -1.0, 2.5],
        [3.0, 2.0, 1.0],
        [-2.0, 0.5, 4.0],
        [0.5, 0.3, -1.0],
    ]
)


def literal(values):
    return "[" + ", ".join(repr(float(v)) for v in np.ravel(values)) + "]"


print(
    f"// pyod {pyod.__version__}, scikit-learn {sklearn.__version__}, "
    f"scipy {scipy.__version__}, numpy {np.__version__}"
)

print("\n// PCA on correlated(60, 5, 3); scores of PROBES")
train = correlated(60, 5, 3)
for label, kwargs in [
    ("default", {}),
    ("two kept, one selected, unweighted", dict(n_components=2, n_selected_components=1, weighted=False)),
    ("not standardised", dict(standardization=False)),
]:
    model = PCA(**kwargs).fit(train)
    print(f"// {label}: {kwargs}")
    print(literal(model.decision_function(PROBES)))
    print("// training scores, first 5")
    print(literal(model.decision_scores_[:5]))

# The projection score has no PyOD counterpart; it is computed here from
# scikit-learn's components of the standardised points.
model = PCA().fit(train)
u = model.scaler_.transform(PROBES)
projection = ((u @ model.components_.T) ** 2 / model.explained_variance_).sum(axis=1)
print("// projection score, weighted, all components")
print(literal(projection))

print("\n// MCD: separated(n, d, 11), MinCovDet(random_state=0); every seed agrees")
for n_points, n_features in [(40, 3), (800, 3), (2000, 4)]:
    X = separated(n_points, n_features, 11)
    fits = [MinCovDet(random_state=seed).fit(X) for seed in range(10)]
    assert all(np.allclose(f.location_, fits[0].location_, rtol=0, atol=1e-12) for f in fits)
    detector = MCD(random_state=0).fit(X)
    probes = PROBES[:, :1].repeat(n_features, axis=1) + np.arange(n_features) * 0.1
    print(f"// separated({n_points}, {n_features}, 11): location, covariance, n_support, probe scores")
    print(literal(detector.location_))
    print(literal(detector.covariance_))
    print(detector.support_.sum())
    print(literal(detector.decision_function(probes)))

print("\n// MCD correction and reweighting from scikit-learn's raw estimate on correlated(80, 10, 7)")
X = correlated(80, 10, 7)
fit = MinCovDet(random_state=0).fit(X)
print("// raw location, raw covariance, h")
print(literal(fit.raw_location_))
print(literal(fit.raw_covariance_))
print(fit.raw_support_.sum())
print("// location, covariance, n_support, first 5 distances")
print(literal(fit.location_))
print(literal(fit.covariance_))
print(fit.support_.sum())
print(literal(fit.dist_[:5]))
print("// raw log-determinant over random states 0..40: best, worst, times best")
dets = [np.linalg.slogdet(MinCovDet(random_state=s).fit(X).raw_covariance_)[1] for s in range(40)]
print(repr(float(min(dets))), repr(float(max(dets))), sum(d <= min(dets) + 1e-9 for d in dets))

print("\n// chi-square quantiles and consistency factors")
for df in [1, 2, 3, 10, 100]:
    q = chi2.ppf(0.975, df)
    q_half = chi2.ppf(0.5, df)
    factor = 0.975 / chi2.cdf(q, df + 2)
    print(f"({df}, {float(q)!r}, {float(q_half)!r}, {float(factor)!r}),")
print("// consistency factor at (3, 22 / 40)")
alpha = 22 / 40
print(repr(float(alpha / chi2.cdf(chi2.ppf(alpha, 3), 5))))
