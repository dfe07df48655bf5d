"""Seconds per training epoch of each model (baseline, glove, elmo, text).

Runs the real ``dramaemo train`` once per model on a workflow's own outputs (a demo or
benchmark run: dataset.csv, images.npz, a split, the prepare-glove and embed-elmo caches)
and prints, per model, the train items, the first epoch (includes graph tracing), the
mean of the later epochs and the whole job's wall time. Nothing is written to the repo:
models go to a temporary folder.

    python bench/train_speed.py --workdir /path/to/workflow/run [--split scene] \
        [--epochs 3] [--threads 2] [--image-size 64] [-- extra train options]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODELS = ("baseline", "glove", "elmo", "text")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--workdir", required=True, type=Path, help="folder holding results/ of a workflow run"
    )
    parser.add_argument("--split", default="scene")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("extra", nargs="*", help="more `dramaemo train` options, after --")
    args = parser.parse_args()
    results = args.workdir / "results"
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for model in args.models:
            out = Path(scratch) / model
            command = [
                sys.executable,
                "-m",
                "dramaemo",
                "train",
                "--model",
                model,
                "--seed",
                "0",
                "--dataset",
                str(results / "dataset" / "dataset.csv"),
                "--split-csv",
                str(results / "split" / f"{args.split}.csv"),
                "--images",
                str(results / "dataset" / "images.npz"),
                "--glove",
                str(results / "text" / "glove.npz"),
                "--elmo",
                str(results / "text" / "elmo_layers.npz"),
                "--epochs",
                str(args.epochs),
                "--threads",
                str(args.threads),
                "--class-weight",
                "balanced",
                "--model-out",
                str(out / "model.keras"),
                "--history-out",
                str(out / "history.csv"),
                "--summary-out",
                str(out / "training.json"),
                "--predictions-out",
                str(out / "predictions.csv"),
                *args.extra,
            ]
            started = time.perf_counter()
            run = subprocess.run(command, capture_output=True, text=True)
            if run.returncode:
                sys.exit(f"{model}: dramaemo train failed ({run.returncode}):\n{run.stderr[-2000:]}")
            wall = time.perf_counter() - started
            summary = json.loads((out / "training.json").read_text())
            seconds = [
                float(line.split(",")[-1]) for line in (out / "history.csv").read_text().splitlines()[1:]
            ]
            rows.append(
                (
                    model,
                    summary["train_items"],
                    summary["parameters"],
                    seconds[0],
                    sum(seconds[1:]) / max(len(seconds) - 1, 1),
                    wall,
                )
            )
    print(
        f"{'model':10s} {'train items':>11s} {'parameters':>10s} {'epoch 1 s':>9s} {'later epochs s':>14s} {'job wall s':>10s}"
    )
    for model, items, parameters, first, later, wall in rows:
        print(f"{model:10s} {items:11d} {parameters:10d} {first:9.2f} {later:14.2f} {wall:10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
