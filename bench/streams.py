#!/usr/bin/env python3
"""Streaming benchmarks: throughput on the synthetic stream and NAB.

Two parts, in one run on the same machine:

1. throughput: the prequential loop (score a point, then learn it), one
   thread, on ../shared/data/synthetic/stream_10d.csv (200,000 points, 10
   features). oddity's random cut forest (50 trees, 256 points per tree)
   beside AWS's rcflib compiled natively (the `krcf` crate, built from
   bench/rcflib_native), through its Python bindings (`krcf`, when
   installed) and the README's figure for rcflib's native Rust; oddity's
   half-space trees beside River's HalfSpaceTrees at the same parameters
   (25 trees, height 15, window 250). River is slow, so it runs on the
   first `--river-points` points and oddity is timed on those too. Every
   program is its own process; GNU time reports its peak memory.
2. nab: `oddity bench nab` over ../shared/data/nab with several seeds.

The results replace the section between the stream markers in
docs/benchmarks.md (bench/side_by_side.py keeps that section when it
rewrites the rest); a part not run (`--only`) or whose data is absent is
left out of it, saying so.

    python3 bench/streams.py [--only throughput,nab] [--river-points 20000]
        [--seeds 1,2,3,4,5] [--doc PATH]

Needs: cargo, GNU time, `pip install river==0.26.1 krcf==0.4.0` (either may
be missing; its rows then say so), and crates.io for the native rcflib
build in bench/rcflib_native (without it, that row says so).
"""

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from doc_sections import replace_section

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared" / "data"
STREAM_CSV = SHARED / "synthetic" / "stream_10d.csv"
NAB_DIR = SHARED / "nab"
ODDITY = REPO_ROOT / "target" / "release" / "oddity"
THROUGHPUT = REPO_ROOT / "target" / "release" / "examples" / "stream_throughput"
# rcflib natively, through the `krcf` crate; its own cargo project.
RCFLIB_NATIVE_DIR = REPO_ROOT / "bench" / "rcflib_native"
RCFLIB_NATIVE_BIN = RCFLIB_NATIVE_DIR / "target" / "release" / "rcflib-native-bench"
DOC_PATH = REPO_ROOT / "docs" / "benchmarks.md"
GNU_TIME = "/usr/bin/time"

# The stream's README: rcflib (Rust, native) on this stream, one thread.
RCFLIB_NATIVE = (16_000, 18_000)
HST_PARAMS = {"n_trees": 25, "height": 15, "window_size": 250}
SKIP = 1000  # ROC-AUC is computed after the first 1,000 points.


def measured(cmd):
    """Runs cmd under GNU time; returns (stdout, peak RSS in MiB)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as timing:
        done = subprocess.run(
            [GNU_TIME, "-f", "%M", "-o", timing.name] + [str(c) for c in cmd],
            capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(map(str, cmd))}: {done.stderr.strip()}")
        peak_kib = int(timing.read().strip().splitlines()[-1])
    return done.stdout, peak_kib / 1024


def oddity_run(detector, settings=(), limit=None):
    cmd = [THROUGHPUT, STREAM_CSV, detector, *settings]
    if limit:
        cmd += ["--limit", limit]
    out, peak = measured(cmd)
    report = json.loads(out.strip().splitlines()[-1])
    report["peak_mib"] = peak
    return report


def rcflib_native_run():
    """AWS's random cut forest compiled natively (the `krcf` crate's port
    of rcflib, built from bench/rcflib_native), the same loop as
    `stream_throughput`; an error entry when it cannot be built."""
    built = subprocess.run(
        ["cargo", "build", "--release", "--manifest-path",
         RCFLIB_NATIVE_DIR / "Cargo.toml"], capture_output=True, text=True)
    if built.returncode != 0:
        return {"error": "cannot build bench/rcflib_native: "
                + built.stderr.strip().splitlines()[-1][:200]}
    try:
        out, peak = measured([RCFLIB_NATIVE_BIN, STREAM_CSV])
    except RuntimeError as error:
        return {"error": str(error).splitlines()[-1][:200]}
    report = json.loads(out.strip().splitlines()[-1])
    report["peak_mib"] = peak
    return report


def load_stream(limit=None):
    import numpy as np
    data = np.loadtxt(STREAM_CSV, delimiter=",", skiprows=1,
                      max_rows=limit, dtype=np.float64)
    return data[:, :-1], data[:, -1] != 0


def roc_auc(labels, scores):
    from sklearn.metrics import roc_auc_score
    return float(roc_auc_score(labels[SKIP:], scores[SKIP:]))


def river_worker(limit):
    """Child process: River's HalfSpaceTrees, prequential, one JSON line."""
    from river import anomaly
    points, labels = load_stream(int(limit))
    names = [f"v{i}" for i in range(points.shape[1])]
    rows = [dict(zip(names, map(float, row))) for row in points]
    model = anomaly.HalfSpaceTrees(seed=42, **HST_PARAMS)
    report_prequential(rows, labels, model.score_one, model.learn_one)


def rcflib_worker():
    """Child process: AWS rcflib through krcf, prequential, one JSON line."""
    import krcf
    points, labels = load_stream()
    forest = krcf.RandomCutForest({
        "dimensions": points.shape[1], "shingle_size": 1, "num_trees": 50,
        "sample_size": 256, "random_seed": 42,
        "parallel_execution_enabled": False})
    rows = [list(map(float, row)) for row in points]
    report_prequential(rows, labels, forest.score, forest.update)


def report_prequential(rows, labels, score, learn):
    """Scores then learns each row, timed; prints one JSON line."""
    started = time.perf_counter()
    scores = []
    for row in rows:
        scores.append(score(row))
        learn(row)
    seconds = time.perf_counter() - started
    print(json.dumps({"points": len(rows), "seconds": seconds,
                      "points_per_s": len(rows) / seconds,
                      "roc_auc": roc_auc(labels, scores)}))


def python_run(worker, *args):
    try:
        out, peak = measured([sys.executable, __file__, worker, *args])
    except RuntimeError as error:
        return {"error": str(error).splitlines()[-1][:200]}
    report = json.loads(out.strip().splitlines()[-1])
    report["peak_mib"] = peak
    return report


def throughput_part(river_points):
    print("throughput: oddity rcf", flush=True)
    rcf = oddity_run("rcf")
    print("throughput: rcflib native (krcf crate)", flush=True)
    rcflib_native = rcflib_native_run()
    print("throughput: rcflib (krcf)", flush=True)
    rcflib = python_run("--rcflib-worker")
    print("throughput: oddity hst", flush=True)
    hst_settings = [f"{k}={v}" for k, v in HST_PARAMS.items()]
    hst_full = oddity_run("hst", hst_settings)
    hst_same = oddity_run("hst", hst_settings, river_points)
    print(f"throughput: River HalfSpaceTrees on {river_points} points",
          flush=True)
    river = python_run("--river-worker", str(river_points))
    return {"rcf": rcf, "rcflib": rcflib, "rcflib_native": rcflib_native,
            "hst_full": hst_full,
            "hst_same": hst_same, "river": river,
            "river_points": river_points}


def nab_part(seeds):
    print(f"nab: oddity bench nab, seeds {seeds}", flush=True)
    with tempfile.NamedTemporaryFile("r", suffix=".csv") as rows:
        started = time.perf_counter()
        done = subprocess.run(
            [ODDITY, "--quiet", "bench", "nab", NAB_DIR, "--seeds", seeds,
             "-o", rows.name], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(done.stderr.strip())
        seconds = time.perf_counter() - started
        table = rows.read()
    return {"stdout": done.stdout, "csv": table, "seconds": seconds,
            "seeds": seeds}


def fmt_rate(report):
    if "error" in report:
        return f"failed: {report['error']}"
    return f"{report['points_per_s']:,.0f}"


def render_throughput(t):
    rcf, rcflib, river = t["rcf"], t["rcflib"], t["river"]
    lines = [
        "### Throughput on the synthetic stream (one thread)", "",
        f"`stream_10d.csv`: {rcf['points']:,} points x {rcf['features']} "
        "features, prequential (score, then learn), one thread, each program "
        "its own process; ROC-AUC over the points after the first 1,000; "
        "peak memory is the whole process's (GNU time), data included. "
        "rcflib runs three ways: compiled natively in this run (the "
        "`krcf` crate's port of AWS's rcflib, a modified copy of it, built "
        "from `bench/rcflib_native` with the same loop as oddity's "
        "`stream_throughput` example), through krcf's Python bindings "
        "(one Python call per score and per update), and the figure the "
        "stream's README gives for AWS's own Rust build on a machine of "
        "the kind the project builds on. The figure depends on the "
        "machine; the native run in this run does not.", "",
        "| implementation | parameters | points | points/s | ROC-AUC | peak MiB |",
        "|---|---|---|---|---|---|",
        f"| oddity random cut forest | 50 trees x 256 | {rcf['points']:,} | "
        f"{fmt_rate(rcf)} | {rcf['roc_auc']:.4f} | {rcf['peak_mib']:.0f} |",
    ]
    if "error" in rcflib:
        lines.append(f"| rcflib via krcf (Python bindings) | 50 trees x 256 | - | "
                     f"{fmt_rate(rcflib)} | - | - |")
    else:
        lines.append(
            f"| rcflib via krcf (Python bindings) | 50 trees x 256 | "
            f"{rcflib['points']:,} | {fmt_rate(rcflib)} | "
            f"{rcflib['roc_auc']:.4f} | {rcflib['peak_mib']:.0f} |")
    native = t.get("rcflib_native", {"error": "not run"})
    if "error" in native:
        lines.append(f"| rcflib, native Rust (krcf crate, this run) | 50 trees x 256 | - | "
                     f"{fmt_rate(native)} | - | - |")
    else:
        lines.append(
            f"| rcflib, native Rust (krcf {native['implementation'].split()[-1]} "
            f"crate, this run) | 50 trees x 256 | {native['points']:,} | "
            f"{fmt_rate(native)} | {native['roc_auc']:.4f} | "
            f"{native['peak_mib']:.0f} |")
    lo, hi = RCFLIB_NATIVE
    lines.append(f"| rcflib, native Rust (the stream's README) | 50 trees x 256 | "
                 f"200,000 | {lo:,} to {hi:,} | 0.998 | 23 |")
    hst_full, hst_same = t["hst_full"], t["hst_same"]
    lines += [
        f"| oddity half-space trees | 25 trees, height 15, window 250 | "
        f"{hst_full['points']:,} | {fmt_rate(hst_full)} | "
        f"{hst_full['roc_auc']:.4f} | {hst_full['peak_mib']:.0f} |",
        f"| oddity half-space trees | same | {hst_same['points']:,} | "
        f"{fmt_rate(hst_same)} | {hst_same['roc_auc']:.4f} | "
        f"{hst_same['peak_mib']:.0f} |",
    ]
    if "error" in river:
        lines.append(f"| River 0.26.1 HalfSpaceTrees | same | - | {fmt_rate(river)} | - | - |")
    else:
        lines.append(
            f"| River 0.26.1 HalfSpaceTrees | same | {river['points']:,} | "
            f"{fmt_rate(river)} | {river['roc_auc']:.4f} | "
            f"{river['peak_mib']:.0f} |")
    lines.append("")
    ratios = [f"random cut forest: {rcf['points_per_s'] / hi:.1f}x to "
              f"{rcf['points_per_s'] / lo:.1f}x rcflib's native figure"]
    if "error" not in native:
        ratios.append(f"{rcf['points_per_s'] / native['points_per_s']:.1f}x "
                      "rcflib compiled natively in this run")
    if "error" not in rcflib:
        ratios.append(f"{rcf['points_per_s'] / rcflib['points_per_s']:.1f}x "
                      "rcflib through its Python bindings in this run")
    if "error" not in river:
        ratios.append(
            f"half-space trees: {hst_same['points_per_s'] / river['points_per_s']:.0f}x "
            f"River on the same {river['points']:,} points")
    lines += ["Ratios: " + "; ".join(ratios) + ".", ""]
    return lines


def render_nab(n):
    table = n["stdout"].strip().splitlines()
    return [
        "### Numenta Anomaly Benchmark", "",
        "`oddity bench nab ../shared/data/nab --seeds " + n["seeds"] + "`: "
        "every series streamed through oddity's NAB detector (one "
        "configuration for the whole corpus: a random cut forest of 50 "
        "trees x 256 on the min-max scaled value and the time of day, its "
        "scores turned into an anomaly likelihood over a moving average of "
        "20 scores, values beyond the seen range scored 1), the threshold "
        "optimised per profile over the corpus as NAB v1.1's sweeper does "
        "(by the scorer that reproduces `final_results.json`), normalised "
        "as NAB does. Published rows are `../shared/data/nab/scoreboard.csv`"
        " (the final_results.json values).", "",
        "How the configuration was chosen, honestly: on this corpus, from "
        "about twenty candidates (shingle sizes 1 to 16, extra detectors, "
        "change and calendar features, likelihood averaging windows 5 to "
        "50); NAB has no held-out split, and the published entries were "
        "tuned the same way. The seeds show how much of a difference is "
        "noise. A held-out check, run once and not by this script "
        "(`cargo run --release -p oddity --example nab_holdout -- "
        "../shared/data/nab`, seeds 1 and 2): choosing among ten of those "
        "candidates on every other series picks this configuration (72.5 "
        "there), which scores 70.1 on the other half, where the best "
        "candidate would have scored 73.9.", "",
        "```", *table, "```", "",
    ]


def render(record):
    out = ["## Streams", "",
           f"Generated by `python3 bench/streams.py` on "
           f"{record['date']} ({record['runtime_s'] / 60:.1f} min, load "
           f"{record['load'][0]:.2f} to {record['load'][1]:.2f}, "
           f"{os.cpu_count()} cores).", ""]
    if record.get("throughput"):
        out += render_throughput(record["throughput"])
    else:
        out += ["Throughput: not run (`--only`, or the stream file is "
                "absent).", ""]
    if record.get("nab"):
        out += render_nab(record["nab"])
    else:
        out += ["NAB: not run (`--only`, or the corpus is absent).", ""]
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--river-worker":
        river_worker(sys.argv[2])
        return
    if len(sys.argv) == 2 and sys.argv[1] == "--rcflib-worker":
        rcflib_worker()
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="throughput,nab",
                        help="comma-separated parts: throughput, nab")
    parser.add_argument("--river-points", type=int, default=20_000)
    parser.add_argument("--seeds", default="1,2,3,4,5")
    parser.add_argument("--doc", type=Path, default=DOC_PATH)
    args = parser.parse_args()
    parts = set(args.only.split(","))
    if not Path(GNU_TIME).exists():
        sys.exit(f"{GNU_TIME} (GNU time) is needed to measure peak memory")
    for target in (["-p", "oddity-cli", "--bin", "oddity"],
                   ["-p", "oddity", "--example", "stream_throughput"]):
        subprocess.run(["cargo", "build", "--release", *target],
                       cwd=REPO_ROOT, check=True)
    started = time.perf_counter()
    record = {"date": f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
              "load": [os.getloadavg()[0]]}
    if "throughput" in parts:
        if STREAM_CSV.exists():
            record["throughput"] = throughput_part(args.river_points)
        else:
            print(f"throughput: skipped, {STREAM_CSV} is absent")
    if "nab" in parts:
        if (NAB_DIR / "data").is_dir():
            record["nab"] = nab_part(args.seeds)
        else:
            print(f"nab: skipped, {NAB_DIR / 'data'} is absent")
    record["load"].append(os.getloadavg()[0])
    record["runtime_s"] = time.perf_counter() - started
    section = render(record)
    replace_section(args.doc, "streams", "bench/streams.py", section)
    print(section)
    print(f"wrote {args.doc}")


if __name__ == "__main__":
    main()
