"""Speed benchmarks: each figure is a ratio against a physical limit measured in the same run.

    python bench/speed.py extraction [--minutes 10]   # frame extraction vs raw decode
    python bench/speed.py faces [--min-scores 0.3 0.5] # face stage (BlazeFace, Haar) vs bare detectMultiScale
    python bench/speed.py hour [--fast-decode]        # a 1-hour 720p episode: frames + faces
    python bench/speed.py dryrun [--episodes 100]     # `snakemake -n` on 100 episodes
    python bench/speed.py scaling                     # front half on 1, 2, 4 episodes
    python bench/speed.py text                        # text inputs vs unique descriptions
    python bench/speed.py memory [--against B]        # peak RSS per rule (benchmark files), beside B's
    python bench/speed.py peaks --workdir W1 W2 ...   # exact peak RSS of the jobs that could grow with length

Needs ../shared/data beside the repository (the looped clip and bench-drama). Results are
printed as Markdown and also written to results/bench/<name>.md (git-ignored). The long
episodes are built once in --work (default ../bench-speed, outside the repository).
Besides wall time, the figures give the CPU time (user + system, this process and its
children): on a machine shared with other jobs it moves far less than wall time.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import pandas as pd
import yaml

from dramaemo.core.config import rule_resources
from dramaemo.core.options import BLAZEFACE, detector_settings
from dramaemo.dataset import annotations as ann
from dramaemo.dataset.demo import build_demo
from dramaemo.faces import blazeface
from dramaemo.faces import detection as faces
from dramaemo.video import frames as video

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
BENCH = SHARED / "bench-drama"
OUT = REPO / "results" / "bench"
WORK = REPO.parent / "bench-speed"  # long episodes and frames: never inside the repository
DEFAULTS = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_long_episodes import CLIP, HEIGHTS, make_long_episode  # noqa: E402


def timed(function, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - started, result


def best_of(repeats: int, function, *args, **kwargs) -> float:
    """Smallest wall time of `repeats` runs: the least disturbed by other load."""
    return min(timed(function, *args, **kwargs)[0] for _ in range(repeats))


def cpu_seconds() -> float:
    """User + system CPU time of this process and of its finished children so far."""
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measured(function, *args, **kwargs) -> tuple[float, float, object]:
    """(wall s, CPU s, result) of one call."""
    cpu = cpu_seconds()
    wall, result = timed(function, *args, **kwargs)
    return wall, cpu_seconds() - cpu, result


def best_measured(repeats: int, function, *args, **kwargs) -> tuple[float, float]:
    """Smallest wall and smallest CPU time of `repeats` runs."""
    runs = [measured(function, *args, **kwargs)[:2] for _ in range(repeats)]
    return min(wall for wall, _ in runs), min(cpu for _, cpu in runs)


def publish(name: str, text: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.md").write_text(text + "\n")
    print(text)


def raw_decode(path: Path) -> None:
    """The physical limit of extraction: decoding every frame, writing nothing."""
    subprocess.run(
        [
            video.ffmpeg_exe(),
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-i",
            str(path),
            "-map",
            "0:v:0",
            "-f",
            "null",
            "-",
        ],
        check=True,
    )


def bench_extraction(args) -> None:
    rows = []
    threads = rule_resources(DEFAULTS["resources"], "extract_frames")["threads"]
    for name, size in HEIGHTS.items():
        episode = make_long_episode(CLIP, Path(args.work) / f"loop_{name}.mp4", size, args.minutes)
        with tempfile.TemporaryDirectory(dir=args.work) as tmp:
            decode = best_measured(args.repeats, raw_decode, episode)
            extract = best_measured(args.repeats, video.extract_frames, episode, tmp, threads=threads)
            frames = len(list(Path(tmp).glob("*.jpg")))
        rows.append(
            {
                "episode": f"{name}, {args.minutes:g} min",
                "frames written": frames,
                "raw decode s": round(decode[0], 2),
                "extract_frames s": round(extract[0], 2),
                "ratio": round(extract[0] / decode[0], 3),
                "raw decode CPU s": round(decode[1], 2),
                "extract_frames CPU s": round(extract[1], 2),
                "CPU ratio": round(extract[1] / decode[1], 3),
                "goal": "<= 1.10",
            }
        )
    publish("extraction", pd.DataFrame(rows).to_markdown(index=False))


def bare_loop(frame_paths, classifier, settings) -> int:
    """What a user would write: read, gray, detectMultiScale at full resolution."""
    found = 0
    for path in frame_paths:
        gray = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2GRAY)
        found += len(
            classifier.detectMultiScale(
                gray,
                scaleFactor=settings["scale_factor"],
                minNeighbors=settings["min_neighbors"],
                minSize=(settings["min_size"], settings["min_size"]),
            )
        )
    return found


def detected(frames_dir: Path, episode: str, settings: dict, threads: int) -> pd.DataFrame:
    """detect_faces with the detector `dramaemo detect-faces` builds from ``settings``
    (options.detector_settings' keys)."""
    chosen = {key: value for key, value in settings.items() if key != "detector"}
    detector = faces.DETECTORS[settings["detector"]](**chosen)
    return faces.detect_faces(frames_dir=frames_dir, episode=episode, detector=detector, threads=threads)


def face_stage(frames_dir: Path, episode: str, settings, threads: int, workdir: Path) -> pd.DataFrame:
    """The pipeline's face stage, detect_faces + crop_faces as the rules run them: manifest."""
    cv2.setNumThreads(threads)  # as `dramaemo detect-faces --threads` does
    detections = detected(frames_dir, episode, settings, threads)
    return faces.crop_faces(
        frames_dir,
        detections,
        workdir / episode,
        margin=DEFAULTS["crops"]["margin"],
        image_size=DEFAULTS["crops"]["image_size"],
    )


def recall(annotations: Path, manifests: dict[str, pd.DataFrame], infos: dict[str, dict]) -> float:
    """Share of annotated faces matched by a detection (the join report's figure)."""
    _, _, summary = ann.join(annotations, manifests, infos)
    return summary["matched_share"]


def haar_settings() -> dict:
    """The config's Haar cascade settings (detector: haar)."""
    return detector_settings({**DEFAULTS["faces"], "detector": "haar"})


def blazeface_model(work: Path) -> Path:
    """The config's BlazeFace model, fetched into `work` once (as rule fetch_blazeface)."""
    settings = DEFAULTS["faces"]["blazeface"]
    model = Path(work) / f"blazeface-{settings['version']}.tflite"
    return model if model.is_file() else blazeface.fetch_model(model, settings["version"])


def default_detector_settings(work: Path) -> dict:
    """detect_faces' settings of the default config, the model fetched into `work`."""
    chosen = detector_settings(DEFAULTS["faces"])
    if chosen["detector"] == BLAZEFACE:
        chosen["model"] = blazeface_model(work)
    return chosen


def extracted(
    videos: dict[str, Path], root: Path, fast_decode: bool = DEFAULTS["frames"]["fast_decode"]
) -> tuple[dict[str, Path], dict[str, dict]]:
    """(frame folder, video info as the join reads it) of each episode, extracted in root."""
    frame_dirs, infos = {}, {}
    for episode, path in videos.items():
        frame_dirs[episode] = root / episode
        info = video.extract_frames(path, frame_dirs[episode], fast_decode=fast_decode)
        infos[episode] = video.frames_record(
            info, frame_dirs[episode], DEFAULTS["frames"]["offset"], fast_decode
        )
    return frame_dirs, infos


# Small faces, which bench-drama (faces of about 160 px) lacks: the demo at 240x180 pastes
# faces of 47-65 px, just above min_size (40), where a coarser scan loses faces first.
SMALL_FACE_DEMO = {"episodes": 6, "seconds": 20, "seed": 0, "width": 240, "height": 180, "fps": 5}


def bench_faces(args) -> None:
    settings = haar_settings()
    episodes = sorted(p.stem for p in (BENCH / "episodes").glob("*.mp4"))[: args.episodes]
    classifier = faces.load_cascade(settings["cascade"])
    bare_settings = {k: settings[k] for k in ("scale_factor", "min_neighbors", "min_size")}
    model = blazeface_model(args.work)
    rows = []
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        tmp = Path(tmp)
        frame_dirs, infos = extracted(
            {e: BENCH / "episodes" / f"{e}.mp4" for e in episodes}, tmp / "frames", args.fast_decode
        )
        small_annotations = tmp / "small" / "annotations.csv"
        small = build_demo(tmp / "small" / "episodes", small_annotations, **SMALL_FACE_DEMO)
        small_dirs, small_infos = extracted(
            {e: tmp / "small" / "episodes" / f"{e}.mp4" for e in small["episode"].unique()},
            tmp / "small" / "frames",
        )
        frame_paths = [p for e in episodes for _, p in faces.frame_files(frame_dirs[e])]
        default_threads = cv2.getNumThreads()  # what the bare loop gets: OpenCV's default
        bare_seconds, bare_cpu, _ = measured(bare_loop, frame_paths, classifier, bare_settings)
        # Each row: BlazeFace at a min_score; or the Haar cascade at a detection scale
        # (@threads), with the config's pyramid (scale_factor/min_neighbors) or, for the
        # --pyramids rows, another one at each of --pyramid-scales.
        runs = [
            (
                f"blazeface, min_score {score}",
                "",
                {
                    "detector": "blazeface",
                    "model": model,
                    "min_score": float(score),
                    "min_size": settings["min_size"],
                },
            )
            for score in args.min_scores
        ]
        runs += [
            (f"haar {settings['scale_factor']}/{settings['min_neighbors']}", label, settings)
            for label in args.scales
        ]
        runs += [
            (
                f"haar {factor}/{neighbours}",
                label,
                {**settings, "scale_factor": float(factor), "min_neighbors": int(neighbours)},
            )
            for factor, neighbours in (pyramid.split("/") for pyramid in args.pyramids)
            for label in args.pyramid_scales
        ]
        for number, (name, label, run_settings) in enumerate(runs):
            scale, threads = (label.split("@") + [None])[:2]
            threads = int(threads or rule_resources(DEFAULTS["resources"], "detect_faces")["threads"])
            if scale:
                run_settings = {**run_settings, "detection_scale": scale}
            workdir = tmp / f"run{number}"
            workdir.mkdir()
            seconds, cpu, manifests = measured(
                lambda settings, workers, folder: {
                    e: face_stage(frame_dirs[e], e, settings, workers, folder) for e in episodes
                },
                run_settings,
                threads,
                workdir,
            )
            small_manifests = {
                e: face_stage(small_dirs[e], e, run_settings, threads, workdir / "small") for e in small_dirs
            }
            rows.append(
                {
                    "detector": name,
                    "detection_scale": scale,
                    "threads": threads,
                    "detections": sum(len(manifest) for manifest in manifests.values()),
                    "small-face detections": sum(len(m) for m in small_manifests.values()),
                    "frames/s": round(len(frame_paths) / seconds, 1),
                    "bare loop frames/s": round(len(frame_paths) / bare_seconds, 1),
                    "speed-up": round(bare_seconds / seconds, 2),
                    "CPU s": round(cpu, 1),
                    "bare loop CPU s": round(bare_cpu, 1),
                    "recall %": round(100 * recall(BENCH / "annotations.csv", manifests, infos), 2),
                    "small-face recall %": round(
                        100 * recall(small_annotations, small_manifests, small_infos), 2
                    ),
                }
            )
    cv2.setNumThreads(default_threads)
    table = pd.DataFrame(rows)
    # the bare loop's recall: detect_faces' Haar at full resolution finds the same boxes
    full = table.loc[
        (table["detection_scale"] == "1.0")
        & (table["detector"] == f"haar {settings['scale_factor']}/{settings['min_neighbors']}"),
        "recall %",
    ]
    if len(full):
        table["recall vs bare loop (points)"] = (table["recall %"] - full.iloc[0]).round(2)
    small_faces = pd.to_numeric(small["x"], errors="coerce").notna().sum()
    publish(
        "faces",
        f"{len(frame_paths)} frames of {len(episodes)} bench-drama episodes "
        f"(fast_decode {args.fast_decode}); "
        f"small-face recall: {small_faces} faces of 47-65 px in "
        f"{len(small_dirs)} demo episodes at 240x180 ({SMALL_FACE_DEMO}), every face "
        f"annotated (detections beyond {small_faces} are false or duplicate boxes); the "
        f"bare loop is Haar {bare_settings} at full resolution with OpenCV's default "
        f"{default_threads} threads; goal: the default config ({DEFAULTS['faces']['detector']}) "
        ">= 2x the bare loop, recall within 1 point of the bare loop's\n\n" + table.to_markdown(index=False),
    )


def loop_episode(source: Path, out: Path, copies: int) -> Path:
    """`copies` times `source` back to back, without re-encoding; skip when it exists."""
    if not out.exists():
        partial = out.with_suffix(".partial.mp4")
        subprocess.run(
            [
                video.ffmpeg_exe(),
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-stream_loop",
                str(copies - 1),
                "-i",
                str(source),
                "-c",
                "copy",
                str(partial),
            ],
            check=True,
        )
        partial.rename(out)
    return out


def bench_hour(args) -> None:
    """A one-hour 720p episode through extract_frames, detect_faces and crop_faces with
    the default config and the default rules' threads, one stage after the other."""
    ten = make_long_episode(CLIP, Path(args.work) / "loop_720p.mp4", HEIGHTS["720p"], 10)
    episode = loop_episode(ten, Path(args.work) / "hour_720p.mp4", 6)
    threads = {
        rule: rule_resources(DEFAULTS["resources"], rule)["threads"]
        for rule in ("extract_frames", "detect_faces")
    }
    settings = default_detector_settings(args.work)
    rows = []
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        frames_dir, crops_dir = Path(tmp) / "frames", Path(tmp) / "crops"
        if args.decode:
            wall, cpu, _ = measured(raw_decode, episode)
            rows.append({"stage": "(raw decode, the limit of extract_frames)", "wall s": wall, "CPU s": cpu})
        wall, cpu, info = measured(
            video.extract_frames,
            episode,
            frames_dir,
            DEFAULTS["frames"]["offset"],
            DEFAULTS["frames"]["jpeg_quality"],
            threads["extract_frames"],
            args.fast_decode,
            scene_scores=Path(tmp) / "scenes.csv",  # as rule extract_frames: the shot cuts' scores too
        )
        rows.append(
            {
                "stage": "extract_frames (+ scene scores)" + (" (fast_decode)" if args.fast_decode else ""),
                "wall s": wall,
                "CPU s": cpu,
            }
        )
        cv2.setNumThreads(threads["detect_faces"])
        wall, cpu, detections = measured(detected, frames_dir, "hour", settings, threads["detect_faces"])
        rows.append({"stage": "detect_faces", "wall s": wall, "CPU s": cpu})
        wall, cpu, manifest = measured(
            faces.crop_faces,
            frames_dir,
            detections,
            crops_dir,
            DEFAULTS["crops"]["margin"],
            DEFAULTS["crops"]["image_size"],
        )
        rows.append({"stage": "crop_faces", "wall s": wall, "CPU s": cpu})
        frames = len(faces.frame_files(frames_dir))
    table = pd.DataFrame(rows)
    stages = table[~table["stage"].str.startswith("(")]
    table.loc[len(table)] = {
        "stage": "frames + faces",
        "wall s": stages["wall s"].sum(),
        "CPU s": stages["CPU s"].sum(),
    }
    publish(
        "hour",
        f"{info.duration / 60:.0f}-minute {info.width}x{info.height} episode, "
        f"{frames} frames, {len(manifest)} faces; detector {settings['detector']}; "
        f"threads {threads}; goal: frames + "
        "faces <= 120 s on 2 cores\n\n" + table.round(1).to_markdown(index=False),
    )


def snakemake(workdir: Path, config: Path, *arguments) -> subprocess.CompletedProcess:
    """The repository's workflow in `workdir`, with the default config under `config`
    (with -d, the Snakefile's own `config/config.yaml` would be looked for in workdir)."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(REPO / "Snakefile"),
            "-d",
            str(workdir),
            "--configfile",
            str(REPO / "config" / "config.yaml"),
            str(config),
            *arguments,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )


def fake_season(folder: Path, count: int, source: Path) -> Path:
    """`count` episodes (links to one real video) and an annotation CSV naming them."""
    episodes = folder / "episodes"
    episodes.mkdir(parents=True)
    for number in range(count):
        os.symlink(source, episodes / f"ep{number:03d}.mp4")
    rows = [f"ep{n:03d},1,10,10,50,50,Happy,a line" for n in range(count)]
    (folder / "annotations.csv").write_text(
        "episode,second,x,y,w,h,emotion,description\n" + "\n".join(rows) + "\n"
    )
    return folder


def season_config(folder: Path, extra: str = "") -> Path:
    config = folder / "season.yaml"
    config.write_text(
        f"demo: {{activate: false, episodes: 1, seconds: 10, seed: 0}}\n"
        f"episodes_dir: {folder / 'episodes'}\nannotations: {folder / 'annotations.csv'}\n" + extra
    )
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
    publish(
        "dryrun",
        f"`snakemake -n` on {args.episodes} episodes ({jobs[-1].strip() if jobs else '?'}"
        f" jobs): best {min(times):.2f} s, median {sorted(times)[len(times) // 2]:.2f} s "
        f"of {args.repeats}; goal < 5 s",
    )


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
                folder / "annotations.csv", index=False
            )
            config = season_config(folder)
            seconds, result = timed(
                snakemake,
                folder / "work",
                config,
                "--cores",
                str(args.cores),
                "results/split/scene/draw0.csv",
            )
            if result.returncode != 0:
                sys.exit(result.stdout[-3000:] + result.stderr[-3000:])
            minutes = sum(video.probe_video(p).duration for p in chosen) / 60
        rows.append(
            {
                "episodes": count,
                "video minutes": round(minutes, 1),
                "wall s": round(seconds, 1),
                "s per episode": round(seconds / count, 1),
                "s per video minute": round(seconds / minutes, 2),
            }
        )
    publish(
        "scaling",
        f"front half (frames -> split) with --cores {args.cores}; goal: cost "
        "per episode flat\n\n" + pd.DataFrame(rows).to_markdown(index=False),
    )


def bench_text(args) -> None:
    """prepare-glove and embed-elmo (the stand-in module) on 100 .. all unique descriptions."""
    from dramaemo.text import elmo
    from dramaemo.text import glove as text

    dataset = pd.read_csv(Path(args.workdir) / "results" / "dataset" / "dataset.csv", keep_default_na=False)
    unique = dataset["description"].drop_duplicates().tolist()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        module = elmo.build_standin(tmp / "elmo_standin")
        for count in [n for n in args.counts if n < len(unique)] + [len(unique)]:
            subset = dataset[dataset["description"].isin(set(unique[:count]))]
            subset_csv = tmp / f"dataset_{count}.csv"
            subset.to_csv(subset_csv, index=False)
            glove_s, _ = timed(
                text.prepare_glove, subset_csv, text.KUMO_SOURCE, 32, tmp / "g.npz", tmp / "g.json"
            )
            elmo_s, _ = timed(
                elmo.embed_descriptions, subset_csv, str(module), 32, 64, tmp / "e.npz", tmp / "e.json"
            )
            rows.append(
                {
                    "unique descriptions": count,
                    "items": len(subset),
                    "prepare-glove s": round(glove_s, 2),
                    "embed-elmo (stand-in) s": round(elmo_s, 2),
                    "embed-elmo ms per description": round(1000 * elmo_s / count, 2),
                }
            )
    publish(
        "text",
        "cost of the text inputs, computed once per unique description "
        "(prepare-glove includes loading GloVe 6B 50d, 400,000 words)\n\n"
        + pd.DataFrame(rows).to_markdown(index=False),
    )


def peak_rss(benchmarks: Path) -> pd.DataFrame:
    """Per rule of one run's Snakemake benchmark files: jobs, peak RSS (MB), mean and max wall s."""
    rows = []
    for path in sorted(benchmarks.rglob("*.tsv")):  # benchmarks/<rule>/<wildcards...>.tsv
        table = pd.read_csv(path, sep="\t")
        rows.append(
            {
                "rule": path.relative_to(benchmarks).parts[0],
                "job": str(path),
                "max_rss MB": table["max_rss"].max(),
                "s": table["s"].max(),
            }
        )
    if not rows:
        sys.exit(f"{benchmarks}: no benchmark files; run the workflow first")
    return (
        pd.DataFrame(rows)
        .groupby("rule")
        .agg(
            jobs=("job", "count"), peak_rss_mb=("max_rss MB", "max"), mean_s=("s", "mean"), max_s=("s", "max")
        )
        .round(1)
        .reset_index()
    )


def bench_memory(args) -> None:
    """Peak RSS per rule of one run; with --against, beside a second run's (e.g. a 1-hour
    and a 2-hour episode, each in a work folder of its own) and their ratio."""
    table = peak_rss(Path(args.benchmarks))
    if args.against:
        other = peak_rss(Path(args.against))
        table = table.merge(other, on="rule", how="outer", suffixes=("", " (against)"))
        table["rss ratio"] = (table["peak_rss_mb (against)"] / table["peak_rss_mb"]).round(3)
        table["s ratio"] = (table["max_s (against)"] / table["max_s"]).round(2)
        worst = table.loc[table["rss ratio"].idxmax()]
        print(f"largest RSS ratio: {worst['rule']} {worst['rss ratio']:.3f}")
    publish("memory", table.to_markdown(index=False))


PEAK_OF_CHILD = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def bench_peaks(args) -> None:
    """Exact peak RSS (the kernel's, getrusage of the child: not Snakemake's sampled one) of
    the index jobs whose memory could grow with an episode's length, rerun on the outputs
    of `snakemake index` in each --workdir (one episode each, e.g. a 1-hour and a 2-hour
    one), writing into --out; the index rows beside the run's own, compared."""
    import json

    import numpy as np

    from dramaemo.core import paths
    from dramaemo.footage import PROBABILITIES, RAW_PROBABILITIES

    rows = []
    for workdir in (Path(w).resolve() for w in args.workdir):
        episodes = [
            p.stem
            for p in (workdir / "results" / "index").glob("*.parquet")
            if p.stem not in ("cast", "segments")
        ]
        if len(episodes) != 1:
            sys.exit(f"{workdir}: expected one indexed episode, found {episodes}")
        episode = episodes[0]
        out = Path(args.out).resolve() / workdir.name
        out.mkdir(parents=True, exist_ok=True)
        at = {
            key: str(workdir / template.format(episode=episode))
            for key, template in (
                ("info", paths.FRAMES_INFO),
                ("manifest", paths.MANIFEST),
                ("shots", paths.SHOTS),
                ("index", paths.INDEX),
                ("identity", paths.TRACK_DESCRIPTORS),
                ("cast", paths.CAST),
            )
        }
        video = json.loads(Path(at["info"]).read_text()).get("path", "")
        commands = {
            "index_episode": [
                "index-episode",
                "--episode",
                episode,
                "--video",
                video,
                "--info",
                at["info"],
                "--manifest",
                at["manifest"],
                "--shots",
                at["shots"],
                "--model",
                args.model,
                "--model-path",
                args.model_path,
                "--text-source",
                args.text_source,
                "--output",
                str(out / "index.parquet"),
                "--summary",
                str(out / "index.json"),
            ],
            "cast": [
                "cast",
                "--index",
                at["index"],
                "--tracks",
                at["identity"],
                "--output",
                str(out / "cast.parquet"),
                "--record",
                str(out / "cast.json"),
            ],
            "index_segments": [
                "segments",
                "--index",
                at["index"],
                "--cast",
                at["cast"],
                "--output",
                str(out / "segments.parquet"),
            ],
            "index_timeline": [
                "index-timeline",
                "--index",
                at["index"],
                "--cast",
                at["cast"],
                "--output",
                str(out / "timeline.png"),
            ],
        }
        for rule, command in commands.items():
            if args.rules and rule not in args.rules:
                continue
            started = time.perf_counter()
            # a wrapper process per job: its children's largest RSS is that job's own
            done = subprocess.run(
                [sys.executable, "-c", PEAK_OF_CHILD, sys.executable, "-m", "dramaemo", *command],
                check=True,
                capture_output=True,
                text=True,
                cwd=workdir,  # the manifests' crop paths are the work folder's
            )
            rows.append(
                {
                    "workdir": workdir.name,
                    "rule": rule,
                    "peak RSS MB": round(int(done.stdout.split()[-1]) / 1024, 1),
                    "wall s": round(time.perf_counter() - started, 1),
                }
            )
        if args.rules and "index_episode" not in args.rules:
            continue
        old, new = pd.read_parquet(at["index"]), pd.read_parquet(out / "index.parquet")
        numbers = [*PROBABILITIES, *RAW_PROBABILITIES, "confidence"]
        same = all(old[c].equals(new[c]) for c in old.columns if c not in numbers)
        difference = float(np.nanmax(np.abs(old[numbers].to_numpy(float) - new[numbers].to_numpy(float))))
        print(
            f"{workdir.name}: index rows {len(new)}, other columns equal: {same}, max probability difference {difference:g}"
        )
    publish("peaks", pd.DataFrame(rows).to_markdown(index=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    extraction = commands.add_parser("extraction")
    extraction.add_argument("--minutes", type=float, default=10.0)
    extraction.add_argument("--repeats", type=int, default=2)
    extraction.set_defaults(func=bench_extraction)
    face = commands.add_parser("faces")
    face.add_argument("--episodes", type=int, default=5)
    face.add_argument(
        "--fast-decode",
        action=argparse.BooleanOptionalAction,
        default=DEFAULTS["frames"]["fast_decode"],
        help="bench-drama's frames extracted with frames.fast_decode",
    )
    face.add_argument(
        "--min-scores",
        nargs="*",
        default=[DEFAULTS["faces"]["blazeface"]["min_score"]],
        help="BlazeFace rows, one per min_score",
    )
    face.add_argument(
        "--scales",
        nargs="+",
        default=["auto", "1.0"],
        help="Haar rows: detection scales (auto or a factor), each optionally @threads "
        "(default: the detect_faces rule's threads), e.g. 0.4@1",
    )
    face.add_argument(
        "--pyramids",
        nargs="*",
        default=[],
        help="extra rows with another scale_factor/min_neighbors, e.g. 1.2/3 1.15/4",
    )
    face.add_argument(
        "--pyramid-scales", nargs="+", default=["auto"], help="the detection scales of the --pyramids rows"
    )
    face.set_defaults(func=bench_faces)
    hour = commands.add_parser("hour")
    hour.add_argument("--decode", action="store_true", help="also time a raw decode")
    hour.add_argument(
        "--fast-decode",
        action=argparse.BooleanOptionalAction,
        default=DEFAULTS["frames"]["fast_decode"],
        help="frames.fast_decode",
    )
    hour.set_defaults(func=bench_hour)
    dry = commands.add_parser("dryrun")
    dry.add_argument("--episodes", type=int, default=100)
    dry.add_argument("--repeats", type=int, default=3)
    dry.set_defaults(func=bench_dryrun)
    scaling = commands.add_parser("scaling")
    scaling.add_argument("--counts", type=int, nargs="+", default=[1, 2, 4])
    scaling.add_argument("--cores", type=int, default=2)
    scaling.set_defaults(func=bench_scaling)
    text_inputs = commands.add_parser("text")
    text_inputs.add_argument(
        "--workdir",
        default=str(REPO.parent / "bench-quality"),
        help="a workflow run holding results/dataset/dataset.csv",
    )
    text_inputs.add_argument("--counts", type=int, nargs="+", default=[100, 300, 1000])
    text_inputs.set_defaults(func=bench_text)
    memory = commands.add_parser("memory")
    memory.add_argument("--benchmarks", default=str(REPO / "benchmarks"))
    memory.add_argument("--against", help="a second run's benchmarks folder, e.g. the 2-hour episode's")
    memory.set_defaults(func=bench_memory)
    peaks = commands.add_parser("peaks")
    peaks.add_argument("--workdir", nargs="+", required=True, help="work folders, one indexed episode each")
    peaks.add_argument("--out", required=True, help="where the rerun jobs write (outside the repository)")
    peaks.add_argument("--model", default="minilm")
    peaks.add_argument("--model-path", required=True)
    peaks.add_argument("--text-source", required=True)
    peaks.add_argument(
        "--rules", nargs="+", choices=["index_episode", "cast", "index_segments", "index_timeline"]
    )
    peaks.set_defaults(func=bench_peaks)
    parser.add_argument("--work", default=str(WORK), help="folder for the long episodes and temporary frames")
    args = parser.parse_args()
    Path(args.work).mkdir(parents=True, exist_ok=True)
    if not SHARED.exists():
        sys.exit(f"{SHARED}: missing; benchmarks need ../shared/data beside the repository")
    args.func(args)


if __name__ == "__main__":
    main()
