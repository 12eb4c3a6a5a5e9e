#!/usr/bin/env python3
"""Runs oddity side by side with its scikit-learn and PyOD counterparts.

Parts, on the same machine and the same data in one run:

1. speed: Isolation Forest speed and memory on seeded synthetic data (10
   features; 10k, 100k and 1M points) against scikit-learn: every measured
   program runs as its own process, timed by wall clock, with its peak
   resident memory reported by GNU time.
2. accuracy: ROC-AUC under the ADBench protocol on the ADBench CSVs in
   ../shared/data/tabular: oddity's Isolation Forest against scikit-learn's
   and the published ADBench IForest column, then every other oddity
   detector that has a counterpart (PyOD ECOD, COPOD, HBOS, KNN, LOF, PCA,
   MCD, OCSVM; scikit-learn KMeans) on the very same splits.
3. detector-speed: kNN and LOF at 100k x 10, ECOD, COPOD and HBOS at
   1M x 10 against PyOD / scikit-learn, with peak memory.
4. suite: `oddity bench tabular` over a list of detectors.

Detectors this oddity binary does not know are skipped with a note. The
results are printed and written to docs/benchmarks.md, which this script
regenerates wholesale (with --results FILE, parts run at different times
are kept in FILE and rendered together). Run from anywhere:

    python3 bench/side_by_side.py [--only accuracy,detector-speed]
        [--compare knn,lof] [--datasets thyroid,WBC] [--seeds 1]
        [--sizes 10000,100000] [--neighbor-sizes 100000]
        [--stat-sizes 1000000] [--results FILE] [--doc PATH]

`--help` lists every option.
"""

import argparse
import datetime as dt
import importlib
import json
import math
import multiprocessing
import os
import platform
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from doc_sections import kept_sections

REPO_ROOT = Path(__file__).resolve().parent.parent
ODDITY = REPO_ROOT / "target" / "release" / "oddity"
TIMING_EXAMPLE = REPO_ROOT / "target" / "release" / "examples" / "fit_score_timing"
DOC_PATH = REPO_ROOT / "docs" / "benchmarks.md"
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "tabular"
GNU_TIME = "/usr/bin/time"

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
N_FEATURES = 10
# Share of synthetic points drawn as outliers, uniform in [-6, 6].
OUTLIER_SHARE = 0.01
SYNTHETIC_SEED = 0
# Threads given to oddity; the machine the doc was made on has 2 cores.
ODDITY_THREADS = 2
# Timed runs per measurement up to this many points (best one kept);
# larger inputs run once to keep the whole script within minutes.
REPEAT_UP_TO = 1_000_000
REPEATS = 3
# Every detector `oddity --detector` knows, for the ADBench suite.
SUITE_DETECTORS = ("iforest", "eif", "ecod", "copod", "hbos", "knn", "lof", "pca",
                   "kmeans", "ocsvm", "auto")

# ADBench protocol (paper section 4.1, adbench/datasets/data_generator.py).
ADBENCH_SEEDS = (1, 2, 3)
ADBENCH_MAX_POINTS = 10_000
ADBENCH_MIN_POINTS = 1_000
ADBENCH_TEST_SHARE = 0.3
# oddity and sklearn disagreeing by more than this is called out.
DISAGREEMENT = 0.03

# Detectors compared with a Python counterpart on the ADBench splits, by
# oddity's `--detector` name; the ones this oddity binary does not know are
# skipped with a note.
COMPARE_DETECTORS = ("iforest", "ecod", "copod", "hbos", "knn", "lof", "pca",
                     "mcd", "kmeans", "ocsvm", "dbscan")
# oddity detector -> (counterpart in words, ADBench Table D4 column).
COUNTERPARTS = {
    "iforest": ("scikit-learn IsolationForest", "IForest"),
    "ecod": ("PyOD ECOD", "ECOD"),
    "copod": ("PyOD COPOD", "COPOD"),
    "hbos": ("PyOD HBOS", "HBOS"),
    "knn": ("PyOD KNN", "KNN"),
    "lof": ("PyOD LOF", "LOF"),
    "pca": ("PyOD PCA", "PCA"),
    "mcd": ("PyOD MCD", None),
    "kmeans": ("scikit-learn KMeans, distance to the nearest centroid", None),
    "ocsvm": ("PyOD OCSVM", "OCSVM"),
    "dbscan": (None, None),
}
PYOD_CLASSES = {
    "ecod": ("pyod.models.ecod", "ECOD"),
    "copod": ("pyod.models.copod", "COPOD"),
    "hbos": ("pyod.models.hbos", "HBOS"),
    "knn": ("pyod.models.knn", "KNN"),
    "lof": ("pyod.models.lof", "LOF"),
    "pca": ("pyod.models.pca", "PCA"),
    "mcd": ("pyod.models.mcd", "MCD"),
    "ocsvm": ("pyod.models.ocsvm", "OCSVM"),
}
KMEANS_CLUSTERS = 8
# Seconds one detector may spend on one split (fit + score), per side;
# a side that runs out is not run on that dataset's later seeds.
ACCURACY_TIMEOUT_S = 60

# Speed of the other detectors on the synthetic data: the neighbour
# detectors at 100k points, the per-feature statistical ones at 1M.
NEIGHBOR_DETECTORS = ("knn", "lof")
STAT_DETECTORS = ("ecod", "copod", "hbos")
DEFAULT_NEIGHBOR_SIZES = (100_000,)
DEFAULT_STAT_SIZES = (1_000_000,)
# oddity's default `--max-fit-rows`.
ODDITY_MAX_FIT_ROWS = 100_000
# Seconds one measured process of that part may run.
SPEED_TIMEOUT_S = 1_800

PARTS = ("speed", "accuracy", "detector-speed", "suite")


# ---------------------------------------------------------------- processes


class Measured:
    """One finished process: wall seconds, peak RSS in MiB, exit status."""

    def __init__(self, wall_s, max_rss_mib, returncode, stderr):
        self.wall_s = wall_s
        self.max_rss_mib = max_rss_mib
        self.returncode = returncode
        self.stderr = stderr

    @property
    def ok(self):
        return self.returncode == 0

    def error_line(self):
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else f"exit status {self.returncode}"


def run_measured(cmd, cwd=None, timeout_s=None):
    """Runs cmd to completion under GNU time, which reports its peak RSS.

    GNU time, not os.wait4 here: Linux carries a parent's peak RSS into
    a child across fork and exec, so a child of this Python process
    (which holds numpy, pandas and sklearn) would report at least the
    parent's footprint. A child of the small `time` process does not.

    With timeout_s, a run still going after that many seconds is killed
    (its own process group: `time` and the measured program) and reported
    as failed, "timed out".
    """
    with tempfile.NamedTemporaryFile("r") as report, \
            tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [GNU_TIME, "-f", "%M", "-o", report.name]
            + [str(part) for part in cmd],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
        timed_out = False
        try:
            returncode = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            returncode = proc.wait()
        wall_s = time.perf_counter() - start
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
        if timed_out:
            stderr += f"\ntimed out after {timeout_s:.0f} s\n"
            returncode = returncode or -signal.SIGKILL
        # On failure time writes "Command exited with ..." first.
        fields = report.read().split()
        max_rss_kib = int(fields[-1]) if fields and fields[-1].isdigit() else 0
    return Measured(wall_s, max_rss_kib / 1024, returncode, stderr)


def best_of(repeats, cmd, cwd=None):
    """The fastest of `repeats` runs, with the largest peak RSS seen."""
    runs = [run_measured(cmd, cwd) for _ in range(repeats)]
    failed = [run for run in runs if not run.ok]
    if failed:
        return failed[0]
    best = min(runs, key=lambda run: run.wall_s)
    best.max_rss_mib = max(run.max_rss_mib for run in runs)
    return best


def ensure_oddity():
    if not ODDITY.exists() or not TIMING_EXAMPLE.exists():
        print("building oddity: cargo build --release -p oddity-cli "
              "-p oddity --example fit_score_timing")
        subprocess.run(
            ["cargo", "build", "--release", "-p", "oddity-cli", "-p", "oddity",
             "--example", "fit_score_timing"],
            cwd=REPO_ROOT,
            check=True,
        )
    return ODDITY


def oddity_in_memory(data, repeats, detector=None, max_fit_rows=None):
    """Fit and score timed inside one process on data already parsed
    (the library's `fit_score_timing` example), best of `repeats`; the
    example's default detector (Isolation Forest) unless `detector`, fitted
    on a sample of the library's default size unless `max_fit_rows`."""
    runs = []
    env = dict(os.environ, RAYON_NUM_THREADS=str(ODDITY_THREADS))
    cmd = [TIMING_EXAMPLE, data, "label", detector or "iforest"]
    if max_fit_rows is not None:
        cmd.append(str(max_fit_rows))
    for _ in range(repeats):
        out = subprocess.run(
            cmd, capture_output=True, text=True, env=env, check=False,
        )
        if out.returncode != 0:
            return {"error": out.stderr.strip().splitlines()[-1:]}
        timings = json.loads(out.stdout)
        timings["fit_score_s"] = timings["fit_s"] + timings["score_s"]
        runs.append(timings)
    return min(runs, key=lambda run: run["fit_score_s"])


def oddity_version():
    out = subprocess.run(
        [ODDITY, "--version"], capture_output=True, text=True, check=False
    )
    return out.stdout.strip() or "unknown"


def tiny_csv(workdir):
    """A small labelled CSV for probing what the binaries accept."""
    import numpy as np

    path = workdir / "probe.csv"
    if not path.exists():
        rng = np.random.default_rng(0)
        points = rng.standard_normal((64, 3))
        labels = (np.arange(64) % 16 == 0).astype(np.int64)
        write_csv(path, points, labels)
    return path


def oddity_detectors(workdir):
    """The `--detector` names this oddity binary accepts.

    Its error for an unknown name lists them ("the detectors are: ...");
    failing that, the `--detector` line of `oddity detect --help`.
    """
    out = subprocess.run(
        [ODDITY, "detect", tiny_csv(workdir), "--detector", "no-such-detector",
         "--label", "label", "--format", "csv", "-o", os.devnull, "-q"],
        capture_output=True, text=True, check=False,
    )
    match = re.search(r"detectors are:\s*([^\n]+)", out.stderr)
    if match:
        return [name.strip(" .") for name in match.group(1).split(",")
                if name.strip(" .")]
    help_text = subprocess.run(
        [ODDITY, "detect", "--help"], capture_output=True, text=True,
        check=False,
    ).stdout
    match = re.search(r"--detector <NAME>\s+Detector:(.*?)(\[default|\n\s*\n)",
                      help_text, re.S)
    if not match:
        return ["iforest"]
    words = set(re.findall(r"[a-z_]+", match.group(1)))
    return [name for name in COUNTERPARTS if name in words] or ["iforest"]


def split_known(requested, known):
    """Requested detectors this binary knows, and those it does not."""
    return ([name for name in requested if name in known],
            [name for name in requested if name not in known])


def in_memory_detectors(workdir, detectors):
    """The detectors that the `fit_score_timing` example can time.

    The example takes the detector as a third argument and names it in
    its JSON (`"detector": "knn"`) once it supports choosing one; an
    example that ignores the argument (times Isolation Forest) prints no
    such key, and its timings are not used for other detectors.
    """
    supported = []
    if not TIMING_EXAMPLE.exists():
        return supported
    for name in detectors:
        out = subprocess.run(
            [TIMING_EXAMPLE, tiny_csv(workdir), "label", name],
            capture_output=True, text=True, check=False,
        )
        try:
            reported = json.loads(out.stdout).get("detector")
        except (json.JSONDecodeError, AttributeError):
            reported = None
        if out.returncode == 0 and reported == name:
            supported.append(name)
    return supported


# ------------------------------------------------------------- counterparts


def counterpart_name(detector):
    """The counterpart in words, or None (oddity only)."""
    return COUNTERPARTS.get(detector, (None, None))[0]


def published_column(detector):
    """ADBench's column for the detector, or None."""
    return COUNTERPARTS.get(detector, (None, None))[1]


def make_counterpart(detector, seed, for_speed=False):
    """The Python counterpart of an oddity detector, unfitted, and a
    function giving its scores of new points (higher: more anomalous).

    PyOD detectors run with their defaults (`random_state=seed` where they
    take one), as ADBench ran them. For the speed part LOF is
    scikit-learn's `LocalOutlierFactor(novelty=True)`, which PyOD's LOF
    wraps with the same defaults.
    """
    if detector == "iforest":
        from sklearn.ensemble import IsolationForest

        model = IsolationForest(random_state=seed)
        return model, lambda points: -model.score_samples(points)
    if detector == "kmeans":
        from sklearn.cluster import KMeans

        model = KMeans(n_clusters=KMEANS_CLUSTERS, random_state=seed)
        return model, lambda points: model.transform(points).min(axis=1)
    if detector == "lof" and for_speed:
        from sklearn.neighbors import LocalOutlierFactor

        model = LocalOutlierFactor(novelty=True)
        return model, lambda points: -model.score_samples(points)
    if detector not in PYOD_CLASSES:
        raise KeyError(f"no counterpart for {detector}")
    module, name = PYOD_CLASSES[detector]
    model = getattr(importlib.import_module(module), name)()
    if "random_state" in model.get_params(deep=False):
        model.set_params(random_state=seed)
    return model, model.decision_function


def describe_counterpart(detector, for_speed=False):
    """`Class(param=value, ...)` with every parameter as run, from
    get_params (the seed shown as `seed`); None without a counterpart."""
    if counterpart_name(detector) is None:
        return None
    try:
        model, _ = make_counterpart(detector, 0, for_speed)
    except ImportError as error:
        return f"not importable: {error}"
    params = []
    for key, value in sorted(model.get_params(deep=False).items()):
        shown = "seed" if key == "random_state" else repr(value)
        params.append(f"{key}={shown}")
    # The public module: sklearn.ensemble, not sklearn.ensemble._iforest.
    module = ".".join(part for part in type(model).__module__.split(".")
                      if not part.startswith("_"))
    return f"{module}.{type(model).__name__}({', '.join(params)})"


def layout(points):
    """What numba specialises compiled code on besides the dtype: memory
    order and whether the array is writeable (pandas hands over read-only
    column-major arrays)."""
    return (bool(points.flags.f_contiguous and not points.flags.c_contiguous),
            bool(points.flags.writeable))


def warm_up(detector, like, for_speed=False):
    """Fits and scores the counterpart once on 64 random points laid out
    as `like` (see layout), so that code compiled on first use (PyOD's
    HBOS, ECOD and COPOD use numba) is compiled, and imports are done,
    before anything is timed. A failure here is left to the timed run."""
    import numpy as np

    fortran, writeable = layout(like)
    points = np.array(np.random.default_rng(0).standard_normal((64, 3)),
                      order="F" if fortran else "C")
    points.setflags(write=writeable)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model, score = make_counterpart(detector, 0, for_speed)
            model.fit(points)
            score(points)
        except Exception:  # noqa: BLE001 - the timed run reports it
            pass


def counterpart_loop(conn):
    """Worker process of CounterpartRunner: fits and scores counterparts
    on the splits it is sent until it is sent None."""
    warnings.simplefilter("ignore")
    from sklearn.metrics import roc_auc_score

    warmed = set()
    conn.send("ready")
    while True:
        task = conn.recv()
        if task is None:
            return
        detector, seed, train_x, test_x, test_y = task
        try:
            for points in (train_x, test_x):
                if (detector, layout(points)) not in warmed:
                    warm_up(detector, points)
                    warmed.add((detector, layout(points)))
            model, score = make_counterpart(detector, seed)
            start = time.perf_counter()
            model.fit(train_x)
            scores = score(test_x)
            seconds = time.perf_counter() - start
            conn.send(("ok", (float(roc_auc_score(test_y, scores)), seconds)))
        except Exception as error:  # noqa: BLE001 - reported in the doc
            message = " ".join(str(error).split())[:200]
            conn.send(("error", f"{type(error).__name__}: {message}"))


class CounterpartRunner:
    """Runs counterparts in one long-lived worker process, so that a run
    that takes too long can be stopped: the worker is killed and a fresh
    one started for the next task.

    The worker is spawned, not forked: scikit-learn's OpenMP runtime
    (KMeans, neighbour searches) hangs in a child forked from a process
    that has used it. It imports numpy, scikit-learn and PyOD once.
    """

    STARTUP_S = 300

    def __init__(self):
        self.ctx = multiprocessing.get_context("spawn")
        self.proc = None
        self.conn = None

    def _start(self):
        self.conn, child_conn = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=counterpart_loop,
                                     args=(child_conn,), daemon=True)
        self.proc.start()
        child_conn.close()
        if not self.conn.poll(self.STARTUP_S) or self.conn.recv() != "ready":
            self.stop()
            raise RuntimeError("the counterpart worker did not start")

    def run(self, detector, seed, train_x, test_x, test_y, timeout_s):
        """("ok", (roc_auc, seconds)), ("error", message) or
        ("timeout", message)."""
        if self.proc is None or not self.proc.is_alive():
            self._start()
        self.conn.send((detector, seed, train_x, test_x, test_y))
        try:
            if self.conn.poll(timeout_s):
                return self.conn.recv()
        except EOFError:
            self.stop()
            return ("error", "the counterpart worker died")
        self.stop()
        return ("timeout", f"timed out after {timeout_s:.0f} s")

    def stop(self):
        if self.proc is not None:
            if self.proc.is_alive():
                self.proc.kill()
            self.proc.join()
        if self.conn is not None:
            self.conn.close()
        self.proc = self.conn = None

    def close(self):
        if self.proc is not None and self.proc.is_alive():
            try:
                self.conn.send(None)
                self.proc.join(10)
            except (BrokenPipeError, OSError):
                pass
        self.stop()


def counterpart_worker(detector, csv_path, out_path):
    """Child-process mode for the detector speed part: load one CSV, fit
    the counterpart of `detector` and score every point; write timings."""
    warnings.simplefilter("ignore")
    import numpy as np
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    model, score = make_counterpart(detector, 0, for_speed=True)
    rss_after_imports = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    start = time.perf_counter()
    frame = pd.read_csv(csv_path)
    labels = frame.pop("label").to_numpy()
    points = frame.to_numpy(dtype=np.float64)
    load_s = time.perf_counter() - start
    # Untimed: compile for this very array layout (pandas may hand over a
    # read-only column-major array, numba compiles one version per layout).
    warm_up(detector, points, for_speed=True)

    start = time.perf_counter()
    model.fit(points)
    fit_s = time.perf_counter() - start

    start = time.perf_counter()
    scores = score(points)
    score_s = time.perf_counter() - start

    Path(out_path).write_text(json.dumps({
        "load_s": load_s,
        "fit_s": fit_s,
        "score_s": score_s,
        "rss_after_imports_mib": rss_after_imports / 1024,
        "auc": float(roc_auc_score(labels, scores)),
    }))


# ----------------------------------------------------------- sklearn worker


def sklearn_worker(csv_path, n_jobs, out_path):
    """Child-process mode: load, fit and score one CSV; write timings.

    Runs in its own process so that its peak RSS is its own. n_jobs is
    "none" (sklearn's default, one core) or "all": n_jobs=-1 for fit and,
    because score_samples ignores the estimator's n_jobs, a joblib
    parallel_config(n_jobs=-1) around score_samples.
    """
    import joblib
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import IsolationForest
    from sklearn.metrics import roc_auc_score

    rss_after_imports = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    start = time.perf_counter()
    frame = pd.read_csv(csv_path)
    labels = frame.pop("label").to_numpy()
    points = frame.to_numpy(dtype=np.float64)
    load_s = time.perf_counter() - start

    forest = IsolationForest(
        n_estimators=100,
        max_samples="auto",
        random_state=0,
        n_jobs=None if n_jobs == "none" else -1,
    )
    start = time.perf_counter()
    forest.fit(points)
    fit_s = time.perf_counter() - start

    start = time.perf_counter()
    if n_jobs == "none":
        scores = -forest.score_samples(points)
    else:
        with joblib.parallel_config(n_jobs=-1):
            scores = -forest.score_samples(points)
    score_s = time.perf_counter() - start

    result = {
        "load_s": load_s,
        "fit_s": fit_s,
        "score_s": score_s,
        "rss_after_imports_mib": rss_after_imports / 1024,
        "auc": float(roc_auc_score(labels, scores)),
    }
    Path(out_path).write_text(json.dumps(result))


# ------------------------------------------------------------------- speed


def synthetic(n_points):
    """99 % N(0, 1) points and 1 % uniform(-6, 6) outliers, label 1."""
    import numpy as np

    rng = np.random.default_rng(SYNTHETIC_SEED)
    points = rng.standard_normal((n_points, N_FEATURES))
    n_outliers = int(n_points * OUTLIER_SHARE)
    outlier_idx = rng.choice(n_points, n_outliers, replace=False)
    points[outlier_idx] = rng.uniform(-6, 6, (n_outliers, N_FEATURES))
    labels = np.zeros(n_points, dtype=np.int64)
    labels[outlier_idx] = 1
    return points, labels


def write_csv(path, points, labels, float_format=None):
    import pandas as pd

    columns = [f"x{idx}" for idx in range(points.shape[1])]
    frame = pd.DataFrame(points, columns=columns)
    frame["label"] = labels
    frame.to_csv(path, index=False, float_format=float_format)


def f1_from_scored(path, labels):
    """F1 of an oddity scored CSV's `is_anomaly` decisions (its threshold)."""
    import pandas as pd
    from sklearn.metrics import f1_score

    scored = pd.read_csv(path).sort_values("row")
    return float(f1_score(labels, scored["is_anomaly"].to_numpy(), zero_division=0))


def auc_from_scored(path, labels):
    """ROC-AUC of an oddity scored CSV against the known labels."""
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    scored = pd.read_csv(path)
    # `row` counts data rows from 1 in input order.
    scores = scored.sort_values("row")["score"].to_numpy()
    if len(scores) != len(labels):
        raise ValueError(f"{path}: {len(scores)} scores, {len(labels)} labels")
    if "label" in scored and (
        scored.sort_values("row")["label"].to_numpy() != labels
    ).any():
        raise ValueError(f"{path}: label column does not match the input")
    return float(roc_auc_score(labels, scores))


def synthetic_csv(n_points, workdir):
    """The synthetic data set of n_points as a CSV (written once per run)
    and its labels."""
    points, labels = synthetic(n_points)
    data = workdir / f"synthetic_{n_points}.csv"
    if not data.exists():
        # Six significant digits: the same file feeds both tools.
        write_csv(data, points, labels, float_format="%.6g")
    return data, labels


def speed_one_size(n_points, workdir, cli_errors):
    print(f"speed: {n_points:,} points", flush=True)
    data, labels = synthetic_csv(n_points, workdir)
    repeats = REPEATS if n_points <= REPEAT_UP_TO else 1
    result = {"csv_mib": data.stat().st_size / 2**20, "repeats": repeats}

    for mode in ("none", "all"):
        runs = []
        for _ in range(repeats):
            out = workdir / f"sklearn_{mode}.json"
            cmd = [
                sys.executable, __file__, "--sklearn-worker",
                data, mode, out,
            ]
            proc = run_measured(cmd)
            if not proc.ok:
                raise RuntimeError(f"sklearn worker failed: {proc.stderr}")
            timings = json.loads(out.read_text())
            timings["wall_s"] = proc.wall_s
            timings["max_rss_mib"] = proc.max_rss_mib
            timings["e2e_s"] = (
                timings["load_s"] + timings["fit_s"] + timings["score_s"]
            )
            runs.append(timings)
        best = min(runs, key=lambda run: run["e2e_s"])
        best["max_rss_mib"] = max(run["max_rss_mib"] for run in runs)
        result[f"sklearn_{mode}"] = best

    model = workdir / "model.oddity"
    scored = workdir / "scored.csv"
    commands = {
        "detect_2": [
            ODDITY, "detect", data, "--label", "label", "--format", "csv",
            "-o", scored, "-q", "--threads", ODDITY_THREADS,
        ],
        "detect_1": [
            ODDITY, "detect", data, "--label", "label", "--format", "csv",
            "-o", scored, "-q", "--threads", 1,
        ],
        "fit": [
            ODDITY, "fit", data, "--label", "label", "-o", model, "-q",
            "--threads", ODDITY_THREADS,
        ],
        "score": [
            ODDITY, "score", model, data, "--format", "csv", "-o", scored,
            "-q", "--threads", ODDITY_THREADS,
        ],
    }
    for name, cmd in commands.items():
        if scored.exists():
            scored.unlink()
        proc = best_of(repeats, cmd)
        entry = {"wall_s": proc.wall_s, "max_rss_mib": proc.max_rss_mib}
        if not proc.ok:
            entry["error"] = proc.error_line()
            cli_errors.append((" ".join(map(str, cmd)), proc.error_line()))
        elif name in ("detect_2", "score"):
            entry["auc"] = auc_from_scored(scored, labels)
        result[f"oddity_{name}"] = entry
    result["oddity_in_memory"] = oddity_in_memory(data, repeats)
    return result


def detector_speed(detectors, neighbor_sizes, stat_sizes, in_memory, workdir,
                   cli_errors, timeout_s):
    """kNN and LOF, ECOD, COPOD and HBOS against their counterparts on the
    synthetic data: fit on every point and score every point.

    Each measured program is its own process under GNU time. The
    counterpart runs in a child of this script that loads the CSV with
    pandas and times load, fit and scoring inside; oddity runs as `oddity
    detect` (end to end, scored CSV to /dev/null) and as separate `fit` and
    `score` processes, and through the `fit_score_timing` example where it
    can choose the detector. One run each (these are the slow detectors).
    """
    plan = [(name, n) for name in NEIGHBOR_DETECTORS if name in detectors
            for n in neighbor_sizes]
    plan += [(name, n) for name in STAT_DETECTORS if name in detectors
             for n in stat_sizes]
    entries = []
    for name, n_points in plan:
        print(f"detector speed: {name}, {n_points:,} points", flush=True)
        data, _ = synthetic_csv(n_points, workdir)
        entry = {"detector": name, "points": n_points,
                 "csv_mib": data.stat().st_size / 2**20}

        out = workdir / "counterpart.json"
        if out.exists():
            out.unlink()
        cmd = [sys.executable, __file__, "--counterpart-worker", name, data,
               out]
        proc = run_measured(cmd, timeout_s=timeout_s)
        if proc.ok:
            timings = json.loads(out.read_text())
            timings["wall_s"] = proc.wall_s
            timings["max_rss_mib"] = proc.max_rss_mib
            timings["fit_score_s"] = timings["fit_s"] + timings["score_s"]
            timings["e2e_s"] = timings["load_s"] + timings["fit_score_s"]
            entry["counterpart"] = timings
        else:
            entry["counterpart"] = {"error": proc.error_line(),
                                    "wall_s": proc.wall_s}

        model = workdir / f"speed_{name}.oddity"
        detector_args = ["--detector", name, "--scale", "none"]
        commands = {
            "detect": [
                ODDITY, "detect", data, "--label", "label", *detector_args,
                "--format", "csv", "-o", os.devnull, "-q",
                "--threads", ODDITY_THREADS,
            ],
            "fit": [
                ODDITY, "fit", data, "--label", "label", *detector_args,
                "-o", model, "-q", "--threads", ODDITY_THREADS,
            ],
            "score": [
                ODDITY, "score", model, data, "--format", "csv",
                "-o", os.devnull, "-q", "--threads", ODDITY_THREADS,
            ],
        }
        if n_points > ODDITY_MAX_FIT_ROWS:
            # oddity fits a uniform sample of --max-fit-rows rows by
            # default; this run fits every point, as the counterpart does.
            commands["detect_all_rows"] = commands["detect"] + [
                "--max-fit-rows", n_points]
        for key, cmd in commands.items():
            if key == "score" and not entry["oddity_fit"].get("ok"):
                entry["oddity_score"] = {"error": "fit failed"}
                continue
            proc = run_measured(cmd, timeout_s=timeout_s)
            result = {"wall_s": proc.wall_s, "max_rss_mib": proc.max_rss_mib,
                      "ok": proc.ok}
            if not proc.ok:
                result["error"] = proc.error_line()
                cli_errors.append((" ".join(map(str, cmd)),
                                   proc.error_line()))
            entry[f"oddity_{key}"] = result
        if name in in_memory:
            # Every point fitted, as the counterpart does.
            entry["oddity_in_memory"] = oddity_in_memory(
                data, 1, name, max_fit_rows=n_points)
        entries.append(entry)
    return entries


# ---------------------------------------------------------------- accuracy


def read_reference(reference_dir):
    """Published AUCROC (x100) by dataset and ADBench column, and the
    dataset -> CSV map."""
    import pandas as pd

    table_ = pd.read_csv(reference_dir / "adbench_unsupervised_aucroc.csv")
    published = {}
    for row in table_.to_dict("records"):
        published[row["dataset"]] = {
            column: float(value) for column, value in row.items()
            if column != "dataset" and not column.endswith("_rank")
            and isinstance(value, (int, float)) and not math.isnan(value)
        }
    mapping = pd.read_csv(reference_dir / "dataset_map.csv").fillna("")
    adbench = mapping[mapping["reference_table"].str.startswith("adbench")]
    return published, list(zip(adbench["dataset_name_in_table"],
                                adbench["csv_file"], adbench["note"]))


def adbench_split(points, labels, seed):
    """ADBench's resampling, stratified split and MinMax scaling.

    ADBench calls np.random.seed(seed), np.random.choice for the
    resampling, then train_test_split with no random_state, which draws
    from the same global stream. One RandomState(seed) used for both, in
    that order, gives the same draws.
    """
    import numpy as np
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import MinMaxScaler

    rng = np.random.RandomState(seed)
    n_points = len(labels)
    if n_points < ADBENCH_MIN_POINTS:
        idx = rng.choice(np.arange(n_points), ADBENCH_MIN_POINTS, replace=True)
        points, labels = points[idx], labels[idx]
    if n_points > ADBENCH_MAX_POINTS:
        idx = rng.choice(
            np.arange(n_points), ADBENCH_MAX_POINTS, replace=False
        )
        points, labels = points[idx], labels[idx]
    train_x, test_x, train_y, test_y = train_test_split(
        points, labels, test_size=ADBENCH_TEST_SHARE, shuffle=True,
        stratify=labels, random_state=rng,
    )
    scaler = MinMaxScaler().fit(train_x)
    return scaler.transform(train_x), scaler.transform(test_x), train_y, test_y


def oddity_fit_score(train_csv, test_csv, seed, workdir, cli_errors,
                     extra_args=(), timeout_s=None):
    """`oddity fit` on train_csv, then `oddity score` of test_csv; returns
    (seconds of both processes, scored CSV) or (None, error line)."""
    model = workdir / "adbench.oddity"
    scored = workdir / "adbench_scored.csv"
    for path in (model, scored):
        if path.exists():
            path.unlink()
    fit_cmd = [
        ODDITY, "fit", train_csv, "--label", "label", *extra_args,
        "--seed", seed, "-o", model, "-q", "--threads", ODDITY_THREADS,
    ]
    score_cmd = [
        ODDITY, "score", model, test_csv, "--format", "csv",
        "-o", scored, "-q", "--threads", ODDITY_THREADS,
    ]
    fit = run_measured(fit_cmd, timeout_s=timeout_s)
    score = None
    if fit.ok:
        left = None if timeout_s is None else max(1, timeout_s - fit.wall_s)
        score = run_measured(score_cmd, timeout_s=left)
    failed = fit if not fit.ok else score if not score.ok else None
    if failed is not None:
        cmd = fit_cmd if failed is fit else score_cmd
        cli_errors.append((" ".join(map(str, cmd)), failed.error_line()))
        return None, failed.error_line()
    return fit.wall_s + score.wall_s, scored


def compare_one_split(detector, state, split, csvs, seed, workdir,
                      cli_errors, timeout_s, runner):
    """One seed of one detector: oddity through the CLI on the split's
    CSVs, its counterpart in the runner's worker on the same arrays. A side
    that failed or timed out on an earlier seed is not run again."""
    train_x, test_x, _, test_y = split
    train_csv, test_csv = csvs
    if state["oddity_error"] is None:
        seconds, scored = oddity_fit_score(
            train_csv, test_csv, seed, workdir, cli_errors,
            extra_args=("--detector", detector, "--scale", "none"),
            timeout_s=timeout_s)
        if seconds is None:
            state["oddity_error"] = scored
        else:
            state["oddity_s"].append(seconds)
            state["oddity"].append(auc_from_scored(scored, test_y))
    if counterpart_name(detector) is None or state["counterpart_error"]:
        return
    status, value = runner.run(detector, seed, train_x, test_x, test_y,
                               timeout_s)
    if status == "ok":
        state["counterpart"].append(value[0])
        state["counterpart_s"].append(value[1])
    else:
        state["counterpart_error"] = value


def accuracy_one_dataset(csv_path, workdir, cli_errors, detectors=(),
                         seeds=ADBENCH_SEEDS, timeout_s=ACCURACY_TIMEOUT_S,
                         runner=None):
    """Isolation Forest (oddity against sklearn, with F1), then every
    detector in `detectors` against its counterpart, on the same splits."""
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import IsolationForest
    from sklearn.metrics import f1_score, roc_auc_score

    frame = pd.read_csv(csv_path)
    labels = frame.pop("label").to_numpy().astype(np.int64)
    points = frame.to_numpy(dtype=np.float64)
    per_seed = {"sklearn": [], "oddity": [], "sklearn_s": [], "oddity_s": [],
                "sklearn_f1": [], "oddity_f1": []}
    errors = []
    states = {
        name: {"oddity": [], "counterpart": [], "oddity_s": [],
               "counterpart_s": [], "oddity_error": None,
               "counterpart_error": None}
        for name in detectors if name != "iforest"
    }

    own_runner = states and runner is None
    if own_runner:
        runner = CounterpartRunner()
    for seed in seeds:
        train_x, test_x, train_y, test_y = adbench_split(points, labels, seed)

        start = time.perf_counter()
        forest = IsolationForest(random_state=seed).fit(train_x)
        scores = -forest.score_samples(test_x)
        per_seed["sklearn_s"].append(time.perf_counter() - start)
        per_seed["sklearn"].append(roc_auc_score(test_y, scores))
        # sklearn's own decision with contamination="auto": anomaly score
        # above 0.5, the paper's rule.
        per_seed["sklearn_f1"].append(
            f1_score(test_y, forest.predict(test_x) == -1, zero_division=0))

        # Default float formatting round-trips, so oddity reads the very
        # arrays sklearn was given.
        train_csv = workdir / "train.csv"
        test_csv = workdir / "test.csv"
        write_csv(train_csv, train_x, train_y)
        write_csv(test_csv, test_x, test_y)
        seconds, scored = oddity_fit_score(
            train_csv, test_csv, seed, workdir, cli_errors)
        if seconds is None:
            errors.append(scored)
        else:
            per_seed["oddity_s"].append(seconds)
            per_seed["oddity"].append(auc_from_scored(scored, test_y))
            per_seed["oddity_f1"].append(f1_from_scored(scored, test_y))

        for name, state in states.items():
            compare_one_split(
                name, state, (train_x, test_x, train_y, test_y),
                (train_csv, test_csv), seed, workdir, cli_errors, timeout_s,
                runner)

    if own_runner:
        runner.close()

    def mean(values):
        return sum(values) / len(values) if values else None

    compared = {}
    for name, state in states.items():
        compared[name] = {
            "oddity": (mean(state["oddity"])
                       if state["oddity_error"] is None else None),
            "counterpart": (mean(state["counterpart"])
                            if state["counterpart_error"] is None else None),
            "oddity_s": mean(state["oddity_s"]),
            "counterpart_s": mean(state["counterpart_s"]),
            "oddity_error": state["oddity_error"],
            "counterpart_error": state["counterpart_error"],
        }

    return {
        "n_points": len(labels),
        "n_features": points.shape[1],
        "sklearn": mean(per_seed["sklearn"]),
        "oddity": mean(per_seed["oddity"]) if not errors else None,
        "sklearn_s": mean(per_seed["sklearn_s"]),
        "oddity_s": mean(per_seed["oddity_s"]) if not errors else None,
        "sklearn_f1": mean(per_seed["sklearn_f1"]),
        "oddity_f1": mean(per_seed["oddity_f1"]) if not errors else None,
        "sklearn_seeds": per_seed["sklearn"],
        "oddity_seeds": per_seed["oddity"],
        "errors": errors,
        "detectors": compared,
    }


def run_accuracy(data_dir, workdir, cli_errors, detectors=(),
                 seeds=ADBENCH_SEEDS, datasets=None,
                 timeout_s=ACCURACY_TIMEOUT_S):
    """The ADBench accuracy part; datasets, when given, names the ones to
    run (ADBench's names, case-insensitive)."""
    reference_dir = data_dir.parent / "reference"
    published, mapping = read_reference(reference_dir)
    wanted = None if not datasets else {name.lower() for name in datasets}
    runner = CounterpartRunner()
    try:
        results, absent = accuracy_datasets(
            data_dir, mapping, published, wanted, workdir, cli_errors,
            detectors, seeds, timeout_s, runner)
    finally:
        runner.close()
    return results, absent


def accuracy_datasets(data_dir, mapping, published, wanted, workdir,
                      cli_errors, detectors, seeds, timeout_s, runner):
    results, absent = [], []
    for name, csv_file, note in mapping:
        if wanted is not None and name.lower() not in wanted:
            continue
        csv_path = data_dir / Path(csv_file).name if csv_file else None
        if csv_path is None or not csv_path.exists():
            if "not in snapshot" in note:
                reason = "ADBench file of 4 MiB or more, not in the snapshot"
            elif note:
                reason = note
            else:
                reason = "mapped to a CSV that the data folder lacks"
            absent.append((name, reason))
            continue
        print(f"accuracy: {name}", flush=True)
        started = time.perf_counter()
        result = accuracy_one_dataset(csv_path, workdir, cli_errors,
                                      detectors, seeds, timeout_s, runner)
        result["name"] = name
        result["seconds"] = time.perf_counter() - started
        result["published"] = published[name]["IForest"] / 100
        for detector, entry in result["detectors"].items():
            column = published_column(detector)
            value = published.get(name, {}).get(column) if column else None
            entry["published"] = None if value is None else value / 100
        results.append(result)
    return results, absent


# ----------------------------------------------------------------- reports


def fmt(value, spec=".3f", missing="error"):
    return missing if value is None else format(value, spec)


def ratio(numerator, denominator):
    if numerator is None or denominator is None or denominator <= 0:
        return "n/a"
    return f"{numerator / denominator:.1f}x"


def table(header, rows):
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" if idx == 0 else "---:"
                       for idx in range(len(header))) + "|",
    ]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |"
              for row in rows]
    return "\n".join(lines)


def oddity_wall(entry):
    return None if "error" in entry else entry["wall_s"]


def speed_tables(speed):
    """Markdown tables for the speed results, keyed by number of points."""
    sizes = sorted(speed)
    e2e = []
    for n in sizes:
        r = speed[n]
        sk, sk_all = r["sklearn_none"], r["sklearn_all"]
        detect = oddity_wall(r["oddity_detect_2"])
        e2e.append([
            f"{n:,}",
            fmt(sk["e2e_s"], ".2f"),
            fmt(sk["wall_s"], ".2f"),
            fmt(sk_all["e2e_s"], ".2f"),
            fmt(detect, ".2f"),
            fmt(oddity_wall(r["oddity_detect_1"]), ".2f"),
            ratio(sk["e2e_s"], detect),
            ratio(sk_all["e2e_s"], detect),
            ratio(sk["fit_s"] + sk["score_s"], detect),
        ])
    split = []
    for n in sizes:
        r = speed[n]
        sk, sk_all = r["sklearn_none"], r["sklearn_all"]
        fit = oddity_wall(r["oddity_fit"])
        score = oddity_wall(r["oddity_score"])
        both = None if fit is None or score is None else fit + score
        split.append([
            f"{n:,}",
            fmt(sk["load_s"], ".2f"),
            fmt(sk["fit_s"], ".2f"),
            fmt(sk["score_s"], ".2f"),
            fmt(sk["fit_s"] + sk["score_s"], ".2f"),
            fmt(sk_all["fit_s"], ".2f"),
            fmt(sk_all["score_s"], ".2f"),
            fmt(fit, ".2f"),
            fmt(score, ".2f"),
            fmt(both, ".2f"),
        ])
    memory = []
    for n in sizes:
        r = speed[n]
        sk, sk_all = r["sklearn_none"], r["sklearn_all"]
        detect = r["oddity_detect_2"]["max_rss_mib"]
        memory.append([
            f"{n:,}",
            fmt(r["csv_mib"], ".0f"),
            fmt(sk["max_rss_mib"], ".0f"),
            fmt(sk_all["max_rss_mib"], ".0f"),
            fmt(sk["rss_after_imports_mib"], ".0f"),
            fmt(detect, ".0f"),
            fmt(r["oddity_fit"]["max_rss_mib"], ".0f"),
            fmt(r["oddity_score"]["max_rss_mib"], ".0f"),
            ratio(sk["max_rss_mib"], detect),
        ])
    auc = []
    for n in sizes:
        r = speed[n]
        auc.append([
            f"{n:,}",
            fmt(r["sklearn_none"]["auc"], ".4f"),
            fmt(r["oddity_detect_2"].get("auc"), ".4f"),
            fmt(r["oddity_score"].get("auc"), ".4f"),
        ])
    compute = []
    for n in sizes:
        r = speed[n]
        sk = r["sklearn_none"]
        mem = r.get("oddity_in_memory", {})
        both = mem.get("fit_score_s")
        compute.append([
            f"{n:,}",
            fmt(sk["fit_s"], ".3f"),
            fmt(sk["score_s"], ".3f"),
            fmt(sk["fit_s"] + sk["score_s"], ".3f"),
            fmt(mem.get("fit_s"), ".3f"),
            fmt(mem.get("score_s"), ".3f"),
            fmt(both, ".3f"),
            ratio(sk["fit_s"] + sk["score_s"], both),
        ])
    return [
        ("Fit + score on data already in memory (seconds): the headline "
         "comparison",
         table(["points", "sklearn fit", "sklearn score", "sklearn fit+score",
                f"oddity fit, {ODDITY_THREADS} threads", "oddity score",
                "oddity fit+score", "ratio sklearn / oddity"], compute)),
        ("End to end: read the CSV, fit, score every point (seconds)",
         table(["points", "sklearn, 1 core",
                "sklearn, 1 core, whole process", "sklearn, n_jobs=-1",
                f"oddity detect, {ODDITY_THREADS} threads",
                "oddity detect, 1 thread", "ratio sklearn / oddity",
                "ratio sklearn n_jobs=-1 / oddity",
                "ratio sklearn without load / oddity"], e2e)),
        ("Phases (seconds): sklearn inside one process; oddity fit and "
         "score as separate processes, each parsing the CSV",
         table(["points", "sklearn load", "sklearn fit", "sklearn score",
                "sklearn fit+score", "sklearn -1 fit", "sklearn -1 score",
                "oddity fit", "oddity score", "oddity fit+score"], split)),
        ("Peak resident memory (MiB)",
         table(["points", "CSV size", "sklearn, 1 core", "sklearn, n_jobs=-1",
                "sklearn after imports", "oddity detect", "oddity fit",
                "oddity score", "ratio sklearn / oddity detect"], memory)),
        ("ROC-AUC on the synthetic data (sanity check, training data scored)",
         table(["points", "sklearn", "oddity detect",
                "oddity fit, then score"], auc)),
    ]


def accuracy_tables(results, absent):
    rows = []
    for r in results:
        odd = r["oddity"]
        rows.append([
            r["name"],
            f"{r['n_points']:,} x {r['n_features']}",
            fmt(r["published"]),
            fmt(r["sklearn"]),
            fmt(odd),
            fmt(None if odd is None else odd - r["published"], "+.3f"),
            fmt(None if odd is None else odd - r["sklearn"], "+.3f"),
            fmt(r["sklearn_s"], ".2f"),
            fmt(r["oddity_s"], ".2f"),
            fmt(r["sklearn_f1"]),
            fmt(r["oddity_f1"]),
        ])
    complete = [r for r in results if r["oddity"] is not None]
    if complete:
        def mean(key):
            return sum(r[key] for r in complete) / len(complete)

        published, sklearn, oddity = (
            mean("published"), mean("sklearn"), mean("oddity"))
        rows.append([
            f"**mean of {len(complete)}**", "",
            f"**{published:.3f}**", f"**{sklearn:.3f}**", f"**{oddity:.3f}**",
            f"**{oddity - published:+.3f}**", f"**{oddity - sklearn:+.3f}**",
            fmt(mean("sklearn_s"), ".2f"), fmt(mean("oddity_s"), ".2f"),
            f"**{mean('sklearn_f1'):.3f}**", f"**{mean('oddity_f1'):.3f}**",
        ])
    main = table(
        ["dataset", "rows x features (file)", "ADBench IForest",
         "sklearn", "oddity", "oddity - ADBench", "oddity - sklearn",
         "sklearn fit+score s", "oddity fit+score s",
         "F1 sklearn (score > 0.5)", "F1 oddity (auto threshold)"],
        rows,
    )
    disagree = [r for r in complete
                if abs(r["oddity"] - r["sklearn"]) > DISAGREEMENT]
    notes = []
    if disagree:
        notes.append(
            f"Datasets where oddity and sklearn differ by more than "
            f"{DISAGREEMENT}: "
            + ", ".join(f"{r['name']} ({r['oddity'] - r['sklearn']:+.3f})"
                        for r in disagree)
            + "."
        )
    failed = [r for r in results if r["errors"]]
    if failed:
        notes.append(
            "oddity failed on: "
            + "; ".join(f"{r['name']} ({r['errors'][0]})" for r in failed)
            + "."
        )
    reasons = {}
    for name, reason in absent:
        reasons.setdefault(reason, []).append(name)
    for reason, names in reasons.items():
        notes.append(f"Not run ({reason}): {', '.join(names)}.")
    return main, notes


def detector_entry(result, detector):
    """One dataset's numbers for one detector, Isolation Forest included."""
    if detector == "iforest":
        return {
            "oddity": result["oddity"], "counterpart": result["sklearn"],
            "published": result["published"],
            "oddity_s": result["oddity_s"], "counterpart_s": result["sklearn_s"],
            "oddity_error": result["errors"][0] if result["errors"] else None,
            "counterpart_error": None,
        }
    return result.get("detectors", {}).get(detector)


def side_cell(value, error):
    if value is not None:
        return f"{value:.3f}"
    if error is None:
        return "-"
    return "t/o" if "timed out" in error else "err"


def compare_tables(results, detectors):
    """The dataset x detector table of mean ROC-AUC (oddity / counterpart /
    ADBench), the per-detector summary, and notes on failures."""
    shown = [name for name in detectors
             if any(detector_entry(r, name) for r in results)]
    rows = []
    for r in results:
        row = [r["name"]]
        for name in shown:
            entry = detector_entry(r, name)
            if entry is None:
                row.append("")
                continue
            row.append(" / ".join([
                side_cell(entry["oddity"], entry["oddity_error"]),
                side_cell(entry["counterpart"], entry["counterpart_error"])
                if counterpart_name(name) else "-",
                fmt(entry.get("published"), missing="-"),
            ]))
        rows.append(row)
    grid = table(["dataset"] + shown, rows)

    def mean(values):
        return sum(values) / len(values) if values else None

    summary, notes = [], []
    for name in shown:
        entries = [(r["name"], detector_entry(r, name)) for r in results]
        entries = [(dataset, e) for dataset, e in entries if e is not None]
        has_counterpart = counterpart_name(name) is not None
        paired = [(dataset, e) for dataset, e in entries
                  if e["oddity"] is not None
                  and (e["counterpart"] is not None or not has_counterpart)]
        odd = mean([e["oddity"] for _, e in paired])
        other = (mean([e["counterpart"] for _, e in paired])
                 if has_counterpart else None)
        gap_text = "-"
        if has_counterpart and paired:
            dataset, e = max(paired, key=lambda item: abs(
                item[1]["oddity"] - item[1]["counterpart"]))
            gap_text = (f"{abs(e['oddity'] - e['counterpart']):.3f} "
                        f"({dataset})")
        in_paper = [e for _, e in paired if e.get("published") is not None]
        paper = mean([e["published"] for e in in_paper])
        odd_there = mean([e["oddity"] for e in in_paper])
        failed_oddity = [(d, e["oddity_error"]) for d, e in entries
                         if e["oddity_error"]]
        failed_other = [(d, e["counterpart_error"]) for d, e in entries
                        if e["counterpart_error"]]
        summary.append([
            name,
            counterpart_name(name) or "none (oddity only)",
            str(len(paired)),
            fmt(odd, missing="-"),
            fmt(other, missing="-"),
            fmt(None if odd is None or other is None else odd - other,
                "+.3f", missing="-"),
            gap_text,
            str(len(in_paper)) if published_column(name) else "-",
            fmt(odd_there, missing="-"),
            fmt(paper, missing="-"),
            fmt(mean([e["oddity_s"] for _, e in paired]), ".2f", missing="-"),
            fmt(mean([e["counterpart_s"] for _, e in paired]), ".2f",
                missing="-") if has_counterpart else "-",
            f"{len(failed_oddity)} / {len(failed_other)}",
        ])
        apart = [(dataset, e["oddity"] - e["counterpart"])
                 for dataset, e in paired
                 if has_counterpart
                 and abs(e["oddity"] - e["counterpart"]) > DISAGREEMENT]
        if apart:
            notes.append(
                f"{name}: oddity and {counterpart_name(name)} differ by more "
                f"than {DISAGREEMENT} on "
                + ", ".join(f"{d} ({gap:+.3f})" for d, gap in apart) + ".")
        for side, failed in (("oddity", failed_oddity),
                             (counterpart_name(name), failed_other)):
            if failed:
                notes.append(
                    f"{name}: {side} failed or timed out on "
                    + "; ".join(f"{d} (`{error}`)" for d, error in failed)
                    + "; those datasets are left out of its means.")
    body = table(
        ["detector", "counterpart", "datasets", "oddity", "counterpart",
         "oddity - counterpart", "largest per-dataset gap",
         "datasets in ADBench", "oddity there", "ADBench there",
         "oddity fit+score s", "counterpart fit+score s",
         "failed or timed out (oddity / counterpart)"],
        summary,
    )
    return grid, body, notes


def detector_speed_tables(entries, in_memory):
    """Time, ratio and memory tables for the detector speed part."""
    def side(entry, key, field="wall_s"):
        value = entry.get(key)
        if value is None or "error" in value:
            return None
        return value.get(field)

    def oddity_pair(entry):
        mem = entry.get("oddity_in_memory")
        if mem and "error" not in mem:
            return mem["fit_score_s"], "in memory"
        fit, score = side(entry, "oddity_fit"), side(entry, "oddity_score")
        if fit is None or score is None:
            return None, ""
        return fit + score, "processes"

    def detector_alone(entry):
        mem = entry.get("oddity_in_memory")
        if not mem or "error" in mem or "detector_fit_s" not in mem:
            return None
        return mem["detector_fit_s"] + mem["detector_score_s"]

    def cp(entry, field):
        value = entry["counterpart"]
        return None if "error" in value else value.get(field)

    times, ratios, memory = [], [], []
    for e in entries:
        label = f"{e['detector']} ({counterpart_name(e['detector'])})"
        points = f"{e['points']:,}"
        detect = side(e, "oddity_detect")
        detect_all = side(e, "oddity_detect_all_rows")
        pair, how = oddity_pair(e)
        times.append([
            label, points,
            fmt(cp(e, "load_s"), ".2f"), fmt(cp(e, "fit_s"), ".2f"),
            fmt(cp(e, "score_s"), ".2f"), fmt(cp(e, "fit_score_s"), ".2f"),
            fmt(cp(e, "wall_s"), ".2f"),
            fmt(detect, ".2f"),
            fmt(detect_all, ".2f", missing="-" if e["points"] <=
                ODDITY_MAX_FIT_ROWS else "error"),
            fmt(side(e, "oddity_fit"), ".2f"),
            fmt(side(e, "oddity_score"), ".2f"),
            fmt(pair, ".2f") + (" (in memory)" if how == "in memory" else ""),
            fmt(detector_alone(e), ".3f"),
            fmt(cp(e, "auc"), ".4f"),
        ])
        ratios.append([
            label, points,
            ratio(cp(e, "fit_score_s"), detector_alone(e)),
            ratio(cp(e, "fit_score_s"), pair),
            ratio(cp(e, "e2e_s"), detect),
            ratio(cp(e, "e2e_s"), detect_all)
            if e["points"] > ODDITY_MAX_FIT_ROWS else "-",
            ratio(cp(e, "max_rss_mib"), side(e, "oddity_detect",
                                              "max_rss_mib")),
            ratio(cp(e, "max_rss_mib"), side(e, "oddity_detect_all_rows",
                                              "max_rss_mib"))
            if e["points"] > ODDITY_MAX_FIT_ROWS else "-",
        ])
        memory.append([
            label, points, fmt(e["csv_mib"], ".0f"),
            fmt(cp(e, "max_rss_mib"), ".0f"),
            fmt(cp(e, "rss_after_imports_mib"), ".0f"),
            fmt(None if cp(e, "max_rss_mib") is None
                else cp(e, "max_rss_mib") - cp(e, "rss_after_imports_mib"),
                ".0f"),
            fmt(side(e, "oddity_detect", "max_rss_mib"), ".0f"),
            fmt(side(e, "oddity_detect_all_rows", "max_rss_mib"), ".0f",
                missing="-" if e["points"] <= ODDITY_MAX_FIT_ROWS
                else "error"),
            fmt(side(e, "oddity_fit", "max_rss_mib"), ".0f"),
            fmt(side(e, "oddity_score", "max_rss_mib"), ".0f"),
        ])
    pair_title = ("oddity fit+score (in memory where the example can "
                  "choose the detector, else the fit and score processes)")
    return [
        ("Time (seconds): fit on every point, score every point",
         table(["detector (counterpart)", "points", "counterpart load",
                "counterpart fit", "counterpart score",
                "counterpart fit+score", "counterpart whole process",
                f"oddity detect, {ODDITY_THREADS} threads",
                "oddity detect, every row fitted", "oddity fit process",
                "oddity score process", pair_title,
                "oddity detector alone on the prepared matrix, fit+score",
                "counterpart ROC-AUC (sanity)"], times)),
        ("Ratios counterpart / oddity (above 1: oddity faster or smaller)",
         table(["detector (counterpart)", "points",
                "fit+score: counterpart in memory / oddity detector alone",
                "fit+score: counterpart in memory / oddity pipeline",
                "end to end: counterpart load+fit+score / oddity detect",
                "end to end / oddity detect, every row fitted",
                "peak memory: counterpart / oddity detect",
                "peak memory: counterpart / oddity detect, every row fitted"],
               ratios)),
        ("Peak resident memory (MiB)",
         table(["detector (counterpart)", "points", "CSV size",
                "counterpart", "counterpart after imports",
                "counterpart above that", "oddity detect",
                "oddity detect, every row fitted", "oddity fit",
                "oddity score"], memory)),
    ]


# ------------------------------------------------------------------ driver


def machine_info():
    import numpy
    import pandas
    import sklearn

    try:
        import pyod
        pyod_version = pyod.__version__
    except ImportError:
        pyod_version = "not installed"

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 2**20:.0f} GiB"
    except OSError:
        pass
    return {
        "cores": len(os.sched_getaffinity(0)),
        "load": os.getloadavg()[0],
        "cpu": cpu,
        "memory": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "sklearn": sklearn.__version__,
        "pyod": pyod_version,
        "oddity": oddity_version(),
    }


PROTOCOL_SPEED = f"""\
Synthetic data: `numpy.random.default_rng({SYNTHETIC_SEED})`, \
{N_FEATURES} features, 99 % N(0, 1) points and 1 % uniform(-6, 6) outliers
(label 1), written once per size as a CSV (`x0..x9,label`, 6 significant
digits) that both tools read.

- **sklearn**: `IsolationForest(n_estimators=100, max_samples="auto" (256),
  random_state=0)`, in a child process that loads the CSV with
  `pandas.read_csv` and times the load, `fit` and `score_samples` on every
  point. "1 core" is sklearn's default `n_jobs=None`. "n_jobs=-1" sets
  `n_jobs=-1` for `fit` and wraps `score_samples` in
  `joblib.parallel_config(n_jobs=-1)`, because `score_samples` ignores the
  estimator's `n_jobs` (sklearn source, PR #28622). sklearn's times are
  measured inside the process, so they leave out interpreter start-up and
  imports, which favours sklearn; "whole process" is the wall clock of the
  same child process including them.
- **oddity**: `oddity detect data.csv --label label --format csv \
-o out.csv -q --threads {ODDITY_THREADS}`
  is the end-to-end run: it parses the CSV once (keeping it in memory
  within `--memory-budget`, 512 MiB by default; larger inputs are parsed
  again to score), fits, thresholds, and writes a scored CSV of every
  point (sklearn writes nothing). "In memory" times the library's
  `fit_score_timing` example (`crates/oddity/examples/`), which parses the
  CSV first and then times `Model::fit_frame` (sampling, preparation, forest,
  calibration on the training scores) and scoring every point (preparation,
  forest, probability, threshold): the counterpart of sklearn's `fit` plus
  `score_samples` on an array already loaded. `oddity fit` and `oddity score` are timed
  as separate processes, each parsing the CSV. oddity's defaults apply: 100
  trees, 256 points per tree, and `--max-fit-rows 100000`: at 1M points
  `fit` keeps a uniform sample of 100,000 rows in memory (sklearn holds all
  1M, though each of its trees also sees only 256).
- Wall-clock time of oddity is that of the whole process. Peak memory is
  the peak resident set size of each process (`%M` of GNU `/usr/bin/time`);
  for sklearn it includes the Python interpreter, pandas and sklearn
  ("after imports" shows that baseline).
- Each number is the best of {REPEATS} runs up to {REPEAT_UP_TO:,} points
  and a single run above (peak memory: the largest of the runs). The
  machine is shared with other work (see the load average above), so
  timings carry noise, and a second core may not be free.
- Ratios are sklearn / oddity: above 1 means oddity is faster or smaller.
"""

def protocol_accuracy(seeds):
    return f"""\
The ADBench protocol (Han et al., NeurIPS 2022; `adbench/datasets/
data_generator.py`), on the ADBench CSVs of `../shared/data/tabular`
(`../shared/data/reference/dataset_map.csv` names them; the PyOD `odds_*`
copies are not used):

- datasets with more than {ADBENCH_MAX_POINTS:,} rows are subsampled to
  {ADBENCH_MAX_POINTS:,} without replacement; datasets with fewer than
  {ADBENCH_MIN_POINTS:,} rows are resampled with replacement up to
  {ADBENCH_MIN_POINTS:,} (so a test point can also sit in the training set);
- stratified 70/30 train/test split;
- MinMax scaling fitted on the training part;
- fit on the training features (labels unused), score the test part,
  ROC-AUC with `sklearn.metrics.roc_auc_score`;
- seeds {", ".join(map(str, seeds))}, ROC-AUC averaged.

Randomness: one `numpy.random.RandomState(seed)` draws the resampling
(`choice`) and then the split (`train_test_split(..., stratify=y,
test_size=0.3, random_state=<that RandomState>)`), the same sequence of draws
as ADBench's `np.random.seed(seed)` followed by calls on the global stream.
The detectors get the seed too: `IsolationForest(random_state=seed)` with
sklearn's defaults, and `oddity fit train.csv --label label --seed <seed>
--threads {ODDITY_THREADS}` then `oddity score model test.csv --format csv`
on the same scaled arrays written as CSV (full precision, no `--scale`).
Times per dataset are the mean over seeds of fit + score: for sklearn
in-process on arrays in memory, for oddity the two processes, including
CSV parsing and model file I/O.

"ADBench IForest" is the published PyOD IForest column of ADBench's Table D4
(`adbench_unsupervised_aucroc.csv`, divided by 100). It ran on ADBench's
`.npz` arrays with PyOD 0.9.8 on other hardware; the sklearn column is the
same algorithm re-run here on the same splits as oddity.

The F1 columns judge the decisions, not the ranking, with no label used to
choose a threshold: sklearn's `predict` with `contamination="auto"` (anomaly
score above 0.5, the paper's rule) against oddity's default `auto` rule
(more than three robust standard deviations above the median training
score), both on the test part.
"""


def protocol_compare(meta):
    """How the per-detector comparison ran, with each counterpart's
    configuration as run."""
    text = f"""\
Every other detector runs on the very same splits as Isolation Forest
above: for each dataset and seed, the train and test CSVs written there
feed `oddity fit train.csv --label label --detector NAME --scale none
--seed <seed> --threads {ODDITY_THREADS}` and then `oddity score model
test.csv --format csv` (`--scale none`, oddity's default, which the
Isolation Forest command above relies on: the arrays are already MinMax
scaled, and both sides must see the same numbers), while the counterpart is
fitted in Python on the training array those CSVs hold and scores the test
array. Counterparts run with their library defaults, as ADBench ran PyOD,
and get the seed where they take a random state; oddity runs with its own
defaults. Each side may spend {meta['timeout_s']:.0f} s on one split (fit +
score; the counterpart in a worker process of this script, timed inside
it after a warm-up fit on 64 random points that compiles PyOD's numba code,
oddity's two processes by wall clock, so CSV parsing and model file I/O
count against oddity); a side that fails or runs out on one seed is not run
on that dataset's later seeds, and the dataset is left out of that
detector's means.

"ADBench" is the detector's published column of Table D4 (divided by 100),
run with PyOD 0.9.8 on ADBench's `.npz` arrays; the counterpart column is
the same algorithm with today's library on the same splits as oddity.

| detector | oddity | counterpart, as run | ADBench column |
|---|---|---|---|
"""
    for name in meta["detectors"]:
        config = meta["configs"].get(name)
        extra = ""
        if name == "iforest":
            extra = "; the table above"
        elif name == "kmeans":
            extra = ("; score: Euclidean distance to the nearest centroid "
                     "(`transform(x).min(axis=1)`). oddity's k-means score "
                     "divides that distance by one global scale, which "
                     "ranks the same")
        elif name in ("ecod", "copod"):
            extra = ("; `decision_function` recomputes the empirical "
                     "distributions over the training and the scored points "
                     "together (PyOD's implementation), so test points also "
                     "rank against each other")
        elif name == "lof":
            extra = "; wraps scikit-learn `LocalOutlierFactor(novelty=True)`"
        elif name == "pca":
            extra = "; standardises each feature first (`standardization`)"
        counterpart = f"`{config}`{extra}" if config else "none"
        if name == "dbscan":
            counterpart = ("none: scikit-learn's `DBSCAN` clusters its "
                           "training data but cannot score new points")
        text += (f"| {name} | `--detector {name}` | {counterpart} | "
                 f"{published_column(name) or '-'} |\n")
    return text


def protocol_detector_speed(meta):
    in_memory = meta["in_memory"]
    if in_memory:
        pair = (f"For {', '.join(in_memory)} the `fit_score_timing` example "
                "times fit and score on the parsed CSV inside one process, "
                "fitting every point (`MAX_FIT_ROWS` set to the number of "
                "points; oddity's default fits a sample of "
                f"{ODDITY_MAX_FIT_ROWS:,}), the counterpart of the Python "
                "side's in-memory times. It times two things: the whole "
                "pipeline (preparation with column profiles, detector, "
                "score calibration, and one scored record per point with "
                "its probability) and the detector alone on the prepared "
                "matrix (fit with the training points' scores, as PyOD's "
                "`fit` computes `decision_scores_`, then scoring every "
                "point), which is the work the counterpart does on its "
                "array. For the others, ")
    else:
        pair = ("The `fit_score_timing` example cannot choose the detector "
                "yet (it times Isolation Forest), so ")
    pair += ("oddity's fit+score is the wall clock of the fit and score "
             "processes, each parsing the CSV, model file I/O included, "
             "which favours the counterpart, whose times leave out loading.")
    neighbor = ", ".join(f"{n:,}" for n in meta["neighbor_sizes"]) or "-"
    stat = ", ".join(f"{n:,}" for n in meta["stat_sizes"]) or "-"
    configs = "\n".join(
        f"  - {name}: `{meta['configs'][name]}`"
        for name in meta["detectors"] if meta["configs"].get(name))
    return f"""\
The synthetic data of the Isolation Forest speed part (same generator,
same CSV files), {N_FEATURES} features: kNN and LOF at {neighbor} points,
ECOD, COPOD and HBOS at {stat} points. Both sides fit on every point and
then score every point as new points.

- **Counterparts**, each in a child process of this script under GNU time
  that loads the CSV with `pandas.read_csv` and times load, `fit` and
  scoring (`decision_function`; `-score_samples` for scikit-learn's LOF)
  inside; between load and fit an untimed warm-up fit on 64 random points
  laid out as the loaded array compiles PyOD's numba code. They run with
  their defaults, on one core ("whole process" includes interpreter
  start-up, imports and the warm-up; the peak memory includes the
  warm-up's compilation):
{configs}
  PyOD's ECOD and COPOD score new points by recomputing the empirical
  distributions over the training points and the new ones together, so
  scoring 1M points after fitting 1M processes 2M.
- **oddity**: `oddity detect data.csv --label label --detector NAME --scale
  none --format csv -o /dev/null -q --threads {ODDITY_THREADS}` end to end
  (parse, fit, score, write every scored point), and `oddity fit` and
  `oddity score model data.csv --format csv -o /dev/null` as separate
  processes. Above {ODDITY_MAX_FIT_ROWS:,} points oddity fits a uniform
  sample of `--max-fit-rows` ({ODDITY_MAX_FIT_ROWS:,}) rows by default and
  scores every point; "every row fitted" adds `--max-fit-rows <points>`, so
  that it fits every point as the counterpart does.
- {pair}
- One run of each (these are the slow detectors); each process may run
  {meta['timeout_s']:.0f} s. Peak memory is `%M` of GNU `/usr/bin/time`.
  The machine is shared with other work, so timings carry noise.
- Ratios are counterpart / oddity: above 1 means oddity is faster or
  smaller. The counterparts use one core and oddity {ODDITY_THREADS}
  threads.
"""


def skipped_notes(meta):
    """Requested detectors this binary does not know."""
    if not meta.get("unknown"):
        return []
    return [f"Skipped, not known to this oddity binary (its `--detector` "
            f"accepts {', '.join(meta['known'])}): "
            f"{', '.join(meta['unknown'])}. They run once oddity has them."]


# The heading each part's section starts with, to find it in an old doc.
PART_HEADINGS = {
    "speed": "## Speed and memory",
    "accuracy": "## Accuracy under the ADBench protocol",
    "detector-speed": "## Speed and memory of the other detectors",
    "suite": "## Every detector under the ADBench protocol",
}


def old_sections(doc_path):
    """The sections of the parts in an existing doc, and each part's entry
    of its "Parts:" line, so that parts not run now are kept as they were
    (without --results the doc would otherwise lose them)."""
    text = doc_path.read_text() if doc_path.exists() else ""
    sections, current = {}, None
    for line in text.split("\n"):
        # A marked section another script owns ends the part before it.
        if line.startswith("## ") or re.match(r"<!-- [\w-]+:begin", line):
            current = next((part for part, heading in PART_HEADINGS.items()
                            if line == heading), None)
            if current:
                sections[current] = []
        if current:
            sections[current].append(line)
    entries = {}
    found = re.search(r"^- Parts: (.*)\.$", text, re.M)
    machine = re.search(r"^- Machine: (.*)$", text, re.M)
    # "; " separates the entries, so the machine text must not hold it.
    machine = (f", on {machine.group(1).replace('; ', ', ')}"
               if machine else "")
    for entry in (found.group(1).split("; ") if found else []):
        if "kept from" not in entry:
            entry += f" (kept from an earlier run{machine})"
        entries[entry.split(" run ")[0]] = entry
    return {part: ("\n".join(lines).rstrip("\n").split("\n"),
                   entries.get(part, f"{part} (date unknown)"))
            for part, lines in sections.items()}


def render(info, parts, runtime_s, kept=None):
    kept = {part: section for part, section in (kept or {}).items()
            if part not in parts}
    part_entries = [
        f"{name} run {record['date']} ({record['runtime_s'] / 60:.1f} min,"
        f" load {record['load'][0]:.2f} to {record['load'][1]:.2f})"
        for name, record in parts.items()]
    part_entries += [entry for _, entry in kept.values()]
    out = [
        "# Benchmarks: oddity side by side with scikit-learn and PyOD",
        "",
        "Generated by `python3 bench/side_by_side.py`; the script rewrites "
        "this file wholesale. Rerun it rather than editing the numbers "
        "(`--only`, `--skip-*`, `--sizes`, `--compare`, `--datasets` and "
        "`--data-dir` narrow a run, `--results` keeps parts run at "
        "different times; see `bench/README.md`).",
        "",
        f"- Date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC "
        f"(whole run {runtime_s / 60:.1f} min)",
        f"- Machine: {info['cores']} cores available ({info['cpu']}), "
        f"{info['memory']} memory, {info['os']}; shared with other work",
        f"- Versions: {info['oddity']}, scikit-learn {info['sklearn']}, "
        f"PyOD {info.get('pyod', 'unknown')}, "
        f"numpy {info['numpy']}, pandas {info['pandas']}, "
        f"Python {info['python']}",
        f"- Load average (1 min) at start and end: {info['load']:.2f}, "
        f"{os.getloadavg()[0]:.2f}",
        f"- Threads: oddity `--threads {ODDITY_THREADS}` unless a column says "
        "otherwise; scikit-learn's IsolationForest defaults to `n_jobs=None`,"
        " one core, and so do the PyOD detectors (`n_jobs=1`).",
        "- Parts: " + "; ".join(part_entries) + ".",
        "",
    ]
    printed = []
    if "speed" in parts:
        speed = parts["speed"]["data"]
        out += ["## Speed and memory", "", PROTOCOL_SPEED]
        for title, body in speed_tables(speed):
            out += [f"### {title}", "", body, ""]
            printed.append((title, body))
    elif "speed" in kept:
        out += kept["speed"][0] + [""]
    if "accuracy" in parts:
        record = parts["accuracy"]
        meta = record["meta"]
        results, absent = record["data"]["results"], record["data"]["absent"]
        n_seeds = len(meta["seeds"])
        seeds_text = f"{n_seeds} seed" + ("s" if n_seeds != 1 else "")
        out += ["## Accuracy under the ADBench protocol", "",
                protocol_accuracy(meta["seeds"])]
        if results:
            body, notes = accuracy_tables(results, absent)
            out += [f"### ROC-AUC, mean of {seeds_text}", "", body, ""]
            out += [f"- {note}" for note in notes] + [""]
            printed.append((f"ADBench ROC-AUC, mean of {seeds_text}",
                            body + "\n\n" + "\n".join(notes)))
            others = [name for name in meta["detectors"] if name != "iforest"]
            if others or meta.get("unknown"):
                out += ["### Every detector next to its counterpart", "",
                        protocol_compare(meta)]
                grid, summary, notes = compare_tables(
                    results, meta["detectors"])
                notes = skipped_notes(meta) + notes
                out += [f"#### Mean ROC-AUC of {seeds_text} per dataset: "
                        "oddity / counterpart / ADBench", "",
                        "`-`: no such value; `err`: failed; `t/o`: timed "
                        "out (see the notes below).", "", grid, "",
                        "#### Means per detector", "",
                        "Means over the datasets where both sides finished "
                        "every seed (for a detector without a counterpart, "
                        "where oddity did). \"Largest per-dataset gap\" is "
                        "the largest |oddity - counterpart| among them. "
                        "\"ADBench there\" is the published mean over those "
                        "of them that the paper reports, next to oddity's "
                        "mean on the same datasets. Times are the mean fit + "
                        "score seconds of one split.", "", summary, ""]
                out += [f"- {note}" for note in notes] + [""]
                printed.append(("Every detector, oddity / counterpart / "
                                "ADBench", grid))
                printed.append(("Means per detector",
                                summary + "\n\n" + "\n".join(notes)))
        else:
            out += [meta.get("empty_message")
                    or accuracy_skip_message(meta["data_dir"]), ""]
    elif "accuracy" in kept:
        out += kept["accuracy"][0] + [""]
    if "detector-speed" in parts:
        record = parts["detector-speed"]
        meta = record["meta"]
        out += ["## Speed and memory of the other detectors", "",
                protocol_detector_speed(meta)]
        notes = skipped_notes(meta)
        if record["data"]:
            for title, body in detector_speed_tables(record["data"],
                                                     meta["in_memory"]):
                out += [f"### {title}", "", body, ""]
                printed.append((title, body))
        else:
            out += ["No detector of this part was run.", ""]
        out += [f"- {note}" for note in notes] + ([""] if notes else [])
    elif "detector-speed" in kept:
        out += kept["detector-speed"][0] + [""]
    if "suite" in parts:
        record = parts["suite"]
        out += ["## Every detector under the ADBench protocol", "", SUITE_TEXT]
        if record["data"] is not None:
            body = suite_table(record["data"])
            out += [body, ""]
            printed.append(("Every detector, ADBench protocol", body))
        else:
            out += ["`oddity bench tabular` failed; see below.", ""]
        out += [f"- {note}" for note in skipped_notes(record["meta"])]
        out += [""] if record["meta"].get("unknown") else []
    elif "suite" in kept:
        out += kept["suite"][0] + [""]
    cli_errors = [error for record in parts.values()
                  for error in record.get("cli_errors", [])]
    if cli_errors:
        out += ["## oddity command failures seen during the runs above", ""]
        seen = set()
        for cmd, error in cli_errors:
            if error in seen:
                continue
            seen.add(error)
            out += [f"- `{cmd}`: `{error}`"]
        out += [""]
    return "\n".join(out), printed


def run_detector_suite(data_dir, detectors, workdir, cli_errors):
    """Every listed detector through `oddity bench tabular` (the ADBench
    protocol implemented in Rust); returns the per-dataset rows."""
    import csv

    out = workdir / "suite.csv"
    cmd = [ODDITY, "bench", "tabular", data_dir, "--detectors",
           ",".join(detectors), "-o", out, "--threads", ODDITY_THREADS]
    proc = run_measured(cmd)
    if not proc.ok:
        cli_errors.append((" ".join(map(str, cmd)), proc.error_line()))
        return None
    with open(out, newline="") as handle:
        return list(csv.DictReader(handle))


def suite_table(rows):
    """Mean ROC-AUC and PR-AUC per detector, ours next to ADBench's on the
    datasets where the paper has a value."""
    by_detector = {}
    for row in rows:
        by_detector.setdefault(row["detector"], []).append(row)
    lines = []
    for detector, mine in by_detector.items():
        published = [r for r in mine if r["published_roc_auc"]]

        def mean(key, subset):
            return sum(float(r[key]) for r in subset) / len(subset) if subset else None

        ours_on_published = mean("roc_auc", published)
        paper = mean("published_roc_auc", published)
        lines.append([
            detector,
            str(len(mine)),
            fmt(mean("roc_auc", mine)),
            fmt(mean("average_precision", mine)),
            str(len(published)),
            fmt(ours_on_published, missing="-"),
            fmt(paper, missing="-"),
            fmt(None if paper is None else ours_on_published - paper, "+.3f", missing="-"),
            fmt(mean("fit_seconds", mine), ".4f"),
            fmt(mean("score_seconds", mine), ".4f"),
        ])
    return table(
        ["detector", "datasets", "ROC-AUC", "PR-AUC", "datasets in the paper",
         "ours there", "ADBench there", "difference", "mean fit s",
         "mean score s"],
        lines,
    )


SUITE_TEXT = """\
`oddity bench tabular` implements the same protocol in Rust (its own random
draws, and subsampling that keeps each class's share so that rare-anomaly
sets such as smtp keep anomalies in every test part) and runs each detector
with its defaults on the in-memory arrays, so fit and score times exclude
parsing. "ADBench there" is the paper's mean for the same detector over the
datasets it reports; the comparison is over those datasets only.
"""


def accuracy_skip_message(data_dir):
    return (f"Skipped: no ADBench CSVs under `{data_dir}` "
            "(pass `--data-dir`).")


def csv_list(text):
    return [item.strip() for item in text.split(",") if item.strip()]


def int_list(text):
    return [int(item.replace("_", "")) for item in csv_list(text)]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--only",
        help="comma-separated parts to run, of " + ", ".join(PARTS)
             + " (default: all; the --skip-* flags remove parts; `none` "
             "runs nothing and rewrites the doc from --results)",
    )
    parser.add_argument(
        "--sizes",
        default=",".join(map(str, DEFAULT_SIZES)),
        help="comma-separated numbers of synthetic points for the Isolation "
             "Forest speed part (default: %(default)s)",
    )
    parser.add_argument("--skip-speed", action="store_true",
                        help="skip the Isolation Forest speed part")
    parser.add_argument("--skip-accuracy", action="store_true",
                        help="skip the ADBench accuracy part (Isolation "
                             "Forest and every compared detector)")
    parser.add_argument("--skip-detector-speed", action="store_true",
                        help="skip the speed part of kNN, LOF, ECOD, COPOD "
                             "and HBOS")
    parser.add_argument("--skip-suite", action="store_true",
                        help="skip `oddity bench tabular` over every detector")
    parser.add_argument(
        "--compare",
        default=",".join(COMPARE_DETECTORS),
        help="oddity detectors to run next to their counterparts, in the "
             "accuracy part and (knn, lof, ecod, copod, hbos) the detector "
             "speed part; names this binary does not know are skipped with "
             "a note (default: %(default)s)",
    )
    parser.add_argument(
        "--datasets",
        help="comma-separated ADBench dataset names for the accuracy part "
             "(default: every one in the data folder)",
    )
    parser.add_argument(
        "--seeds",
        default=",".join(map(str, ADBENCH_SEEDS)),
        help="ADBench seeds (default: %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=ACCURACY_TIMEOUT_S,
        help="seconds one side of one detector may spend on one ADBench "
             "split (default: %(default)s)",
    )
    parser.add_argument(
        "--neighbor-sizes",
        default=",".join(map(str, DEFAULT_NEIGHBOR_SIZES)),
        help="synthetic sizes for kNN and LOF in the detector speed part "
             "(default: %(default)s; empty for none)",
    )
    parser.add_argument(
        "--stat-sizes",
        default=",".join(map(str, DEFAULT_STAT_SIZES)),
        help="synthetic sizes for ECOD, COPOD and HBOS in the detector speed "
             "part (default: %(default)s; empty for none)",
    )
    parser.add_argument(
        "--speed-timeout",
        type=float,
        default=SPEED_TIMEOUT_S,
        help="seconds one process of the detector speed part may run "
             "(default: %(default)s)",
    )
    parser.add_argument(
        "--detectors",
        default=",".join(SUITE_DETECTORS),
        help="detectors for the suite (default: %(default)s)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="folder of the ADBench CSVs; reference tables are read from "
             "its sibling `reference` (default: %(default)s)",
    )
    parser.add_argument(
        "--doc",
        type=Path,
        default=DOC_PATH,
        help="markdown file to write (default: %(default)s)",
    )
    parser.add_argument(
        "--results",
        type=Path,
        help="JSON file of results kept between runs: the parts run now "
             "replace theirs in it, and the doc shows every part it holds "
             "(run parts one at a time, each regenerating the whole doc)",
    )
    args = parser.parse_args()
    parts = set(csv_list(args.only)) if args.only else set(PARTS)
    parts.discard("none")
    unknown = parts - set(PARTS)
    if unknown:
        parser.error(f"--only: unknown part(s) {', '.join(sorted(unknown))}; "
                     f"the parts are {', '.join(PARTS)}")
    for part, skip in (("speed", args.skip_speed),
                       ("accuracy", args.skip_accuracy),
                       ("detector-speed", args.skip_detector_speed),
                       ("suite", args.skip_suite)):
        if skip:
            parts.discard(part)
    args.parts = [part for part in PARTS if part in parts]
    return args


def json_default(value):
    """numpy scalars and paths in results."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} as JSON")


def load_results(path):
    """Parts kept from earlier runs (speed keyed by int sizes again)."""
    if path is None or not path.exists():
        return {}
    parts = json.loads(path.read_text()).get("parts", {})
    if "speed" in parts:
        parts["speed"]["data"] = {
            int(n): value for n, value in parts["speed"]["data"].items()}
    return parts


def run_part(name, func):
    """Runs one part; returns its record for rendering and the JSON file."""
    started = time.perf_counter()
    load = os.getloadavg()[0]
    cli_errors = []
    data, meta = func(cli_errors)
    return {
        "date": f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
        "runtime_s": time.perf_counter() - started,
        "load": [load, os.getloadavg()[0]],
        "cli_errors": cli_errors,
        "meta": meta,
        "data": data,
    }


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--sklearn-worker":
        sklearn_worker(*sys.argv[2:])
        return
    if len(sys.argv) == 5 and sys.argv[1] == "--counterpart-worker":
        counterpart_worker(*sys.argv[2:])
        return
    args = parse_args()
    if not Path(GNU_TIME).exists():
        sys.exit(f"{GNU_TIME} (GNU time) is needed to measure peak memory: "
                 "apt-get install time")
    started = time.perf_counter()
    ensure_oddity()
    info = machine_info()
    parts = load_results(args.results)
    workdir = Path(tempfile.mkdtemp(prefix="oddity-bench-"))
    try:
        known = oddity_detectors(workdir)
        compare, unknown = split_known(csv_list(args.compare), known)
        print(f"oddity detectors: {', '.join(known)}"
              + (f"; skipped (unknown): {', '.join(unknown)}"
                 if unknown else ""), flush=True)
        if not args.parts:
            print("no part to run")

        def speed_part(cli_errors):
            sizes = int_list(args.sizes)
            return ({n: speed_one_size(n, workdir, cli_errors)
                     for n in sizes}, {"sizes": sizes})

        def accuracy_part(cli_errors):
            seeds = int_list(args.seeds)
            meta = {
                "seeds": seeds, "detectors": compare, "unknown": unknown,
                "known": known, "timeout_s": args.timeout,
                "data_dir": str(args.data_dir),
                "configs": {name: describe_counterpart(name)
                            for name in compare},
            }
            results, absent = run_accuracy(
                args.data_dir, workdir, cli_errors, compare, seeds,
                csv_list(args.datasets) if args.datasets else None,
                args.timeout)
            if not results and args.datasets:
                meta["empty_message"] = (
                    f"No dataset of `--datasets {args.datasets}` was found "
                    f"under `{args.data_dir}`.")
            return {"results": results, "absent": absent}, meta

        def detector_speed_part(cli_errors):
            wanted = [name for name in compare
                      if name in NEIGHBOR_DETECTORS + STAT_DETECTORS]
            in_memory = in_memory_detectors(workdir, wanted)
            meta = {
                "detectors": wanted,
                "unknown": [name for name in unknown
                            if name in NEIGHBOR_DETECTORS + STAT_DETECTORS],
                "known": known,
                "neighbor_sizes": int_list(args.neighbor_sizes),
                "stat_sizes": int_list(args.stat_sizes),
                "in_memory": in_memory, "timeout_s": args.speed_timeout,
                "configs": {name: describe_counterpart(name, for_speed=True)
                            for name in wanted},
            }
            entries = detector_speed(
                wanted, meta["neighbor_sizes"], meta["stat_sizes"],
                in_memory, workdir, cli_errors, args.speed_timeout)
            return entries, meta

        def suite_part(cli_errors):
            detectors, missing = split_known(csv_list(args.detectors), known)
            print("detector suite: oddity bench tabular", flush=True)
            rows = run_detector_suite(args.data_dir, detectors, workdir,
                                      cli_errors) if detectors else None
            return rows, {"unknown": missing, "known": known}

        runners = {"speed": speed_part, "accuracy": accuracy_part,
                   "detector-speed": detector_speed_part, "suite": suite_part}
        for name in args.parts:
            if name == "accuracy" and not (
                    args.data_dir.is_dir()
                    and (args.data_dir.parent / "reference").is_dir()):
                print(accuracy_skip_message(args.data_dir))
                continue
            if name == "suite" and not args.data_dir.is_dir():
                continue
            parts[name] = run_part(name, runners[name])
            if args.results is not None:
                args.results.parent.mkdir(parents=True, exist_ok=True)
                args.results.write_text(json.dumps(
                    {"parts": parts}, indent=1, default=json_default))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    runtime_s = time.perf_counter() - started
    ordered = {name: parts[name] for name in PARTS if name in parts}
    doc, printed = render(info, ordered, runtime_s, old_sections(args.doc))
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    args.doc.write_text(doc + kept_sections(args.doc))
    print()
    for title, body in printed:
        print(f"{title}\n\n{body}\n")
    errors = [error for record in ordered.values()
              for error in record.get("cli_errors", [])]
    for cmd, error in errors[:5]:
        print(f"oddity failed: {cmd}\n  {error}")
    for name, record in ordered.items():
        print(f"part {name}: {record['runtime_s'] / 60:.1f} min "
              f"({record['date']})")
    print(f"wrote {args.doc} in {runtime_s / 60:.1f} min")


if __name__ == "__main__":
    main()
