"""Reference numbers for the one-class SVM detector's agreement tests.

Builds the small datasets of crates/oddity/src/detector/mahalanobis.rs's
`test_data` (a SplitMix64 generator reproduced bit for bit; normals are
sums of 12 uniforms less 6), fits scikit-learn's `OneClassSVM` (libsvm,
what PyOD's `OCSVM` wraps) with the parameters of each case and prints
what crates/oddity/src/detector/ocsvm.rs hard-codes: rho, the number of
support vectors, the decision values of the probe points and of the first
five training points. oddity's score is minus these decision values
(PyOD's `decision_function`).

Run: python3 scripts/ocsvm_reference.py

With `--time N D` it instead times PyOD's OCSVM (defaults) fitting and
scoring N uniform points in D features:
python3 scripts/ocsvm_reference.py --time 7000 10
"""

import sys
import time

import numpy as np
import sklearn
from sklearn.svm import OneClassSVM

if len(sys.argv) == 4 and sys.argv[1] == "--time":
    from pyod.models.ocsvm import OCSVM

    n_points, n_features = int(sys.argv[2]), int(sys.argv[3])
    X = np.random.default_rng(0).uniform(size=(n_points, n_features))
    start = time.perf_counter()
    model = OCSVM().fit(X)
    fit = time.perf_counter() - start
    start = time.perf_counter()
    model.decision_function(X)
    score = time.perf_counter() - start
    print(f"pyod ocsvm {n_points} x {n_features}: fit {fit:.2f} s, score {score:.2f} s")
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


PROBES = np.array(
    [
        [0.0, 0.0, 2.0],
        [1.0, -1.0, 2.5],
        [3.0, 2.0, 1.0],
        [-2.0, 0.5, 4.0],
        [0.5, 0.3, -1.0],
    ]
)

# (label, data arguments, OneClassSVM keyword arguments)
CASES = [
    ("defaults (PyOD's)", (60, 5, 3), dict(nu=0.5, gamma="auto")),
    ("nu 0.1, gamma scale", (60, 5, 3), dict(nu=0.1, gamma="scale")),
    ("nu 0.3, gamma 0.8, tol 1e-9", (200, 10, 4), dict(nu=0.3, gamma=0.8, tol=1e-9)),
]

print(f"// scikit-learn {sklearn.__version__}")
for label, data_args, kwargs in CASES:
    train = correlated(*data_args)
    model = OneClassSVM(kernel="rbf", **kwargs).fit(train)
    values = np.concatenate(
        [model.decision_function(PROBES), model.decision_function(train[:5])]
    )
    print(f"\n// {label}: correlated{data_args}, {kwargs}")
    print(f"// gamma {float(model._gamma)!r}")
    print(f"rho: {float(-model.intercept_[0])!r},")
    print(f"n_support: {model.support_.size},")
    print("decision: [")
    for value in values:
        print(f"    {float(value)!r},")
    print("],")
