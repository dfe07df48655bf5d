"""Speed benchmarks: each figure is a ratio against a physical limit measured in the same run.

    python bench/speed.py extraction [--minutes 10]   # frame extraction vs raw decode
    python bench/speed.py faces                       # face stage vs bare detectMultiScale
    python bench/speed.py dryrun [--episodes 100]     # `snakemake -n` on 100 episodes
    python bench/speed.py scaling                     # front half on 1, 2, 4 episodes
    python bench/speed.py text                        # text inputs vs unique descriptions
    python bench/speed.py memory                      # peak RSS per rule (benchmark files)

Needs ../shared/data beside the repository (the looped clip and bench-drama). Results are
printed as Markdown and also written to results/bench/<name>.md (git-ignored).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import cv2
import pandas as pd

from dramaemo import annotations as ann
from dramaemo import faces, video

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
BENCH = SHARED / "bench-drama"
OUT = REPO / "results" / "bench"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_long_episodes import CLIP, HEIGHTS, make_long_episode  # noqa: E402


def timed(function, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - started, result


def best_of(repeats: int, function, *args, **kwargs) -> float:
    """Smallest wall time of `repeats` runs: the least disturbed by other load."""
    return min(timed(function, *args, **kwargs)[0] for _ in range(repeats))


def publish(name: str, text: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.md").write_text(text + "\n")
    print(text)


def raw_decode(path: Path) -> None:
    """The physical limit of extraction: decoding every frame, writing nothing."""
    subprocess.run(
        [video.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin",
         "-i", str(path), "-map", "0:v:0", "-f", "null", "-"],
        check=True,
    )


def bench_extraction(args) -> None:
    rows = []
    for name, size in HEIGHTS.items():
        episode = make_long_episode(CLIP, REPO / "resources" / "bench" / f"loop_{name}.mp4",
                                    size, args.minutes)
        with tempfile.TemporaryDirectory() as tmp:
            decode = best_of(args.repeats, raw_decode, episode)
            extract = best_of(args.repeats, video.extract_frames, episode, tmp)
            frames = len(list(Path(tmp).glob("*.jpg")))
        rows.append({"episode": f"{name}, {args.minutes:g} min", "frames written": frames,
                     "raw decode s": round(decode, 2), "extract_frames s": round(extract, 2),
                     "ratio": round(extract / decode, 3), "goal": "<= 1.10"})
    publish("extraction", pd.DataFrame(rows).to_markdown(index=False))


def bare_loop(frame_paths, classifier, settings) -> int:
    """What a user would write: read, gray, detectMultiScale at full resolution."""
    found = 0
    for path in frame_paths:
        gray = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2GRAY)
        found += len(classifier.detectMultiScale(
            gray, scaleFactor=settings["scale_factor"], minNeighbors=settings["min_neighbors"],
            minSize=(settings["min_size"], settings["min_size"])))
    return found


def face_stage(frames_dir: Path, episode: str, settings, detection_scale: float,
               workdir: Path) -> pd.DataFrame:
    """The pipeline's face stage, detect_faces + crop_faces as the rules run them: manifest."""
    detections = faces.detect_faces(frames_dir, episode, detection_scale=detection_scale,
                                    **settings)
    return faces.crop_faces(frames_dir, detections, workdir / episode, margin=0.0,
                            image_size=64)


def recall(manifests: dict[str, pd.DataFrame], infos: dict[str, dict]) -> float:
    """Share of annotated faces matched by a detection (the join report's figure)."""
    _, _, summary = ann.join(BENCH / "annotations.csv", manifests, infos)
    return summary["matched_share"]


def bench_faces(args) -> None:
    settings = {"cascade": "haarcascade_frontalface_default.xml", "scale_factor": 1.1,
                "min_neighbors": 5, "min_size": 40}
    episodes = sorted(p.stem for p in (BENCH / "episodes").glob("*.mp4"))[: args.episodes]
    classifier = faces.load_cascade(settings["cascade"])
    bare_settings = {k: settings[k] for k in ("scale_factor", "min_neighbors", "min_size")}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        frame_dirs, infos = {}, {}
        for episode in episodes:
            frame_dirs[episode] = tmp / "frames" / episode
            info = video.extract_frames(BENCH / "episodes" / f"{episode}.mp4",
                                        frame_dirs[episode])
            infos[episode] = asdict(info) | {
                "frames": len(faces.frame_files(frame_dirs[episode]))}
        frame_paths = [p for e in episodes for _, p in faces.frame_files(frame_dirs[e])]
        bare_seconds, _ = timed(bare_loop, frame_paths, classifier, bare_settings)
        for scale in args.scales:
            workdir = tmp / f"scale{scale}"
            workdir.mkdir()
            started = time.perf_counter()
            manifests = {e: face_stage(frame_dirs[e], e, settings, scale, workdir)
                         for e in episodes}
            seconds = time.perf_counter() - started
            rows.append({"detection_scale": scale,
                         "frames/s": round(len(frame_paths) / seconds, 1),
                         "bare loop frames/s": round(len(frame_paths) / bare_seconds, 1),
                         "speed-up": round(bare_seconds / seconds, 2),
                         "recall %": round(100 * recall(manifests, infos), 2)})
    table = pd.DataFrame(rows)
    full = table.loc[table["detection_scale"] == 1.0, "recall %"]
    if len(full):
        table["recall vs full-res (points)"] = (table["recall %"] - full.iloc[0]).round(2)
    publish("faces", f"{len(frame_paths)} frames of {len(episodes)} bench-drama episodes; "
            "goal: >= 2x the bare loop, recall within 1 point\n\n"
            + table.to_markdown(index=False))


def snakemake(workdir: Path, config: Path, *arguments) -> subprocess.CompletedProcess:
    """The repository's workflow in `workdir`, with the default config under `config`
    (with -d, the Snakefile's own `config/config.yaml` would be looked for in workdir)."""
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
         "--configfile", str(REPO / "config" / "config.yaml"), str(config), *arguments],
        cwd=REPO, capture_output=True, text=True)


def fake_season(folder: Path, count: int, source: Path) -> Path:
    """`count` episodes (links to one real video) and an annotation CSV naming them."""
    episodes = folder / "episodes"
    episodes.mkdir(parents=True)
    for number in range(count):
        os.symlink(source, episodes / f"ep{number:03d}.mp4")
    rows = [f"ep{n:03d},1,10,10,50,50,Happy,a line" for n in range(count)]
    (folder / "annotations.csv").write_text(
        "episode,second,x,y,w,h,emotion,description\n" + "\n".join(rows) + "\n")
    return folder


def season_config(folder: Path, extra: str = "") -> Path:
    config = folder / "season.yaml"
    config.write_text(
        f"demo: {{activate: false, episodes: 1, seconds: 10, seed: 0}}\n"
        f"episodes_dir: {folder / 'episodes'}\nannotations: {folder / 'annotations.csv'}\n"
        + extra)
    return config


def bench_dryrun(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = fake_season(Path(tmp), args.episodes, BENCH / "episodes" / "ep01.mp4")
        config = season_config(folder)
        times = []
        for _ in range(args.repeats):
            seconds, result = timed(snakemake, folder / "work", config, "-n", "--cores", "8")
            if result.returncode != 0:
                sys.exit(result.stdout[-3000:] + result.stderr[-3000:])
            times.append(seconds)
        jobs = [line for line in result.stdout.splitlines() if line.strip().startswith("total")]
    publish("dryrun", f"`snakemake -n` on {args.episodes} episodes ({jobs[-1].strip() if jobs else '?'}"
            f" jobs): best {min(times):.2f} s, median {sorted(times)[len(times) // 2]:.2f} s "
            f"of {args.repeats}; goal < 5 s")


def bench_scaling(args) -> None:
    rows = []
    for count in args.counts:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / "episodes").mkdir()
            chosen = sorted((BENCH / "episodes").glob("*.mp4"))[:count]
            for path in chosen:
                os.symlink(path, folder / "episodes" / path.name)
            table = pd.read_csv(BENCH / "annotations.csv")
            table[table["episode"].isin([p.stem for p in chosen])].to_csv(
                folder / "annotations.csv", index=False)
            config = season_config(folder)
            seconds, result = timed(snakemake, folder / "work", config, "--cores",
                                    str(args.cores), "results/split/scene.csv")
            if result.returncode != 0:
                sys.exit(result.stdout[-3000:] + result.stderr[-3000:])
            minutes = sum(video.probe_video(p).duration for p in chosen) / 60
        rows.append({"episodes": count, "video minutes": round(minutes, 1),
                     "wall s": round(seconds, 1),
                     "s per episode": round(seconds / count, 1),
                     "s per video minute": round(seconds / minutes, 2)})
    publish("scaling", f"front half (frames -> split) with --cores {args.cores}; goal: cost "
            "per episode flat\n\n" + pd.DataFrame(rows).to_markdown(index=False))


def bench_text(args) -> None:
    """prepare-glove and embed-elmo (the stand-in module) on 100 .. all unique descriptions."""
    from dramaemo import elmo, text

    dataset = pd.read_csv(Path(args.workdir) / "results" / "dataset" / "dataset.csv",
                          keep_default_na=False)
    unique = dataset["description"].drop_duplicates().tolist()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        module = elmo.build_standin(tmp / "elmo_standin")
        for count in [n for n in args.counts if n < len(unique)] + [len(unique)]:
            subset = dataset[dataset["description"].isin(set(unique[:count]))]
            subset_csv = tmp / f"dataset_{count}.csv"
            subset.to_csv(subset_csv, index=False)
            glove_s, _ = timed(text.prepare_glove, subset_csv, text.KUMO_SOURCE, 32,
                               tmp / "g.npz", tmp / "g.json")
            elmo_s, _ = timed(elmo.embed_descriptions, subset_csv, str(module), 32, 64,
                              tmp / "e.npz", tmp / "e.json")
            rows.append({"unique descriptions": count, "items": len(subset),
                         "prepare-glove s": round(glove_s, 2),
                         "embed-elmo (stand-in) s": round(elmo_s, 2),
                         "embed-elmo ms per description": round(1000 * elmo_s / count, 2)})
    publish("text", "cost of the text inputs, computed once per unique description "
            "(prepare-glove includes loading GloVe 6B 50d, 400,000 words)\n\n"
            + pd.DataFrame(rows).to_markdown(index=False))


def bench_memory(args) -> None:
    rows = []
    root = Path(args.benchmarks)
    for path in sorted(root.rglob("*.tsv")):  # benchmarks/<rule>/<wildcards...>.tsv
        table = pd.read_csv(path, sep="\t")
        rows.append({"rule": path.relative_to(root).parts[0], "job": str(path),
                     "max_rss MB": table["max_rss"].max(), "s": table["s"].max()})
    if not rows:
        sys.exit(f"{args.benchmarks}: no benchmark files; run the workflow first")
    table = pd.DataFrame(rows).groupby("rule").agg(
        jobs=("job", "count"), peak_rss_mb=("max_rss MB", "max"),
        mean_s=("s", "mean"), max_s=("s", "max")).round(1).reset_index()
    publish("memory", table.to_markdown(index=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    extraction = commands.add_parser("extraction")
    extraction.add_argument("--minutes", type=float, default=10.0)
    extraction.add_argument("--repeats", type=int, default=2)
    extraction.set_defaults(func=bench_extraction)
    face = commands.add_parser("faces")
    face.add_argument("--episodes", type=int, default=5)
    face.add_argument("--scales", type=float, nargs="+", default=[1.0, 0.5, 0.4])
    face.set_defaults(func=bench_faces)
    dry = commands.add_parser("dryrun")
    dry.add_argument("--episodes", type=int, default=100)
    dry.add_argument("--repeats", type=int, default=3)
    dry.set_defaults(func=bench_dryrun)
    scaling = commands.add_parser("scaling")
    scaling.add_argument("--counts", type=int, nargs="+", default=[1, 2, 4])
    scaling.add_argument("--cores", type=int, default=2)
    scaling.set_defaults(func=bench_scaling)
    text_inputs = commands.add_parser("text")
    text_inputs.add_argument("--workdir", default=str(REPO.parent / "bench-quality"),
                             help="a workflow run holding results/dataset/dataset.csv")
    text_inputs.add_argument("--counts", type=int, nargs="+", default=[100, 300, 1000])
    text_inputs.set_defaults(func=bench_text)
    memory = commands.add_parser("memory")
    memory.add_argument("--benchmarks", default=str(REPO / "benchmarks"))
    memory.set_defaults(func=bench_memory)
    args = parser.parse_args()
    if not SHARED.exists():
        sys.exit(f"{SHARED}: missing; benchmarks need ../shared/data beside the repository")
    args.func(args)


if __name__ == "__main__":
    main()
