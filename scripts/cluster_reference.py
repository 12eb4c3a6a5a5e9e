#!/usr/bin/env python3
"""Expected values for the agreement tests of the k-means and DBSCAN
detectors (crates/oddity/src/detector/kmeans.rs and dbscan.rs).

Both tests build the same fixture from an integer LCG with exact float
arithmetic, so Rust and Python get bit-identical points without a data
file: 150 points in 2 features, four in ten from a blob at (0, 0), three
in ten from a tight blob at (6, 1), two in ten from a wide blob at (2, 6)
and one in ten uniform over [-6, 12]². Prints Rust literals to paste into
the tests.

Requires numpy and scikit-learn (tested with scikit-learn 1.9.1, numpy
2.4.6):

    python3 scripts/cluster_reference.py
"""

import numpy as np
from sklearn.cluster import DBSCAN, KMeans
from sklearn.neighbors import NearestNeighbors

MASK = (1 << 64) - 1


class Lcg:
    """Knuth's MMIX LCG; uniform draws from the top 53 bits."""

    def __init__(self, seed):
        self.state = seed

    def uniform(self):
        self.state = (self.state * 6364136223846793005 + 1442695040888963407) & MASK
        return (self.state >> 11) * (1.0 / 9007199254740992.0)

    def bell(self):
        """Sum of four uniforms less 2: mean 0, variance 1/3."""
        total = self.uniform()
        total = total + self.uniform()
        total = total + self.uniform()
        total = total + self.uniform()
        return total - 2.0


def fixture():
    rng = Lcg(2024)
    points = []
    for i in range(150):
        group = i % 10
        if group < 4:
            cx, cy, spread = 0.0, 0.0, 1.0
        elif group < 7:
            cx, cy, spread = 6.0, 1.0, 0.5
        elif group < 9:
            cx, cy, spread = 2.0, 6.0, 1.5
        else:
            points.append([-6.0 + 18.0 * rng.uniform(), -6.0 + 18.0 * rng.uniform()])
            continue
        x = cx + spread * rng.bell()
        y = cy + spread * rng.bell()
        points.append([x, y])
    return np.array(points)


NEW = np.array([[0.0, 0.0], [6.0, 1.2], [3.0, 3.0], [10.0, -5.0], [2.0, 6.5], [-4.0, 9.0]])


def rust(values):
    return repr(np.asarray(values).tolist()).replace(" ", "")


def kmeans(X, init, max_iter=300):
    model = KMeans(n_clusters=len(init), init=np.array(init), n_init=1, max_iter=max_iter,
                   tol=1e-4, algorithm="lloyd").fit(X)
    centers = model.cluster_centers_
    distances = np.sqrt(((X - centers[model.labels_]) ** 2).sum(axis=1))
    scales = np.array([np.median(distances[model.labels_ == c]) for c in range(len(init))])
    new_distances = np.sqrt(((NEW[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2))
    nearest = new_distances.argmin(axis=1)
    scores = new_distances[np.arange(len(NEW)), nearest] / scales[nearest]
    print(f"// init {init}, max_iter {max_iter}")
    print(f"centroids: {rust(centers)}")
    print(f"inertia: {model.inertia_!r}, n_iter: {model.n_iter_}")
    print(f"cluster scales: {rust(scales)}")
    print(f"new scores with cluster scales: {rust(scores)}")
    print(f"global scale: {float(np.median(distances))!r}")


def dbscan(X, eps, min_samples):
    model = DBSCAN(eps=eps, min_samples=min_samples).fit(X)
    core = np.zeros(len(X), dtype=bool)
    core[model.core_sample_indices_] = True
    # Reachability score of new points: min over core points c of
    # max(d(x, c), core distance of c), over eps.
    kth = NearestNeighbors(n_neighbors=min_samples).fit(X).kneighbors(X)[0][:, -1]
    cores = X[core]
    distances = np.sqrt(((NEW[:, None, :] - cores[None, :, :]) ** 2).sum(axis=2))
    reach = np.maximum(distances, kth[core][None, :]).min(axis=1)
    print(f"// eps {eps!r}, min_samples {min_samples}")
    print(f"labels: {rust(model.labels_)}")
    print(f"n_core: {core.sum()}, n_noise: {(model.labels_ == -1).sum()}")
    print(f"core: {rust(np.flatnonzero(core))}")
    print(f"new scores: {rust(reach / eps)}")


def main():
    X = fixture()
    print(f"// first points {rust(X[:3])}, sum {X.sum()!r}")
    kmeans(X, [[1.0, 1.0], [5.0, 0.0], [3.0, 5.0]])
    kmeans(X, X[[0, 1, 2, 3, 9]].tolist())
    # The far centroid gets no point and takes over the farthest one.
    kmeans(X, [[0.0, 0.0], [6.0, 1.0], [100.0, 100.0]], max_iter=1)
    best = KMeans(n_clusters=3, n_init=20, random_state=0).fit(X)
    print(f"// best of 20 k-means++ runs, k = 3: inertia {best.inertia_!r}")

    dbscan(X, 0.7, 5)
    kth = NearestNeighbors(n_neighbors=5).fit(X).kneighbors(X)[0][:, -1]
    dbscan(X, float(np.quantile(kth, 0.95)), 5)

    # A border point within reach of two clusters joins the one numbered
    # first (the cluster of the lower row), not the nearer one.
    shared = np.array([[2.2, 0], [2.3, 0], [2.4, 0], [2.5, 0], [1.22, 0],
                       [0.0, 0], [0.1, 0], [0.2, 0], [0.3, 0]])
    labels = DBSCAN(eps=1.0, min_samples=4).fit(shared).labels_
    print(f"// shared border point: labels {rust(labels)}")


if __name__ == "__main__":
    main()
