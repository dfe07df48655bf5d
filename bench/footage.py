"""Footage index and search benchmarks (BENCHMARKS.md "Footage index and search").

    python bench/footage.py latency [--episodes 20 --hours 1]   # search over a synthesised index
    python bench/footage.py shots --video EP.mp4 [--video ...]   # PySceneDetect vs ffmpeg scene score
    python bench/footage.py throughput --workdir W               # video seconds per wall second, per stage
    python bench/footage.py precision --workdir W [--top 10] [--segments S]  # top-k precision, recall of runs >= 3 s
    python bench/footage.py agreement --workdir W   # index vs evaluation on the test faces, macro-F1 of each
    python bench/footage.py subtitles --annotations A --episodes-dir E --outdir O  # an SRT per episode

``throughput``, ``precision`` and ``agreement`` read a work folder where `snakemake index` ran on
bench-drama (config/bench.yaml plus an `index:` section; BENCHMARKS.md gives the
commands). ``latency`` compares the pandas query (what `dramaemo search` runs) with the
same query in DuckDB when it is importable (it is not a dependency: `pip install
--target /tmp/duckdb-lib duckdb` and PYTHONPATH=/tmp/duckdb-lib). Figures are printed as
Markdown.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from dramaemo import EMOTIONS
from dramaemo.core import paths
from dramaemo.core.config import schema_defaults
from dramaemo.dataset.split import read_split
from dramaemo.footage import NO_FACE, PROBABILITIES
from dramaemo.footage.search import check_query, indexed_episodes, search
from dramaemo.footage.segments import episode_segments
from dramaemo.footage.tables import read_index, read_segments


def _median_seconds(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def synthetic_index(episode: str, seconds: int, rng: np.random.Generator) -> pd.DataFrame:
    """Index rows of one episode: 0-3 faces a second in shots of 2-12 s, each face's
    probabilities a slowly drifting softmax (tracks a shot long)."""
    rows, second, shot, track = [], 0, 0, 0
    while second < seconds:
        length = min(int(rng.integers(2, 13)), seconds - second)
        people = int(rng.choice([0, 1, 1, 2, 2, 3]))
        for _person in range(people):
            logits = rng.normal(0, 1.5, len(EMOTIONS)) + np.cumsum(
                rng.normal(0, 0.4, (length, len(EMOTIONS))), axis=0
            )
            probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
            for k in range(length):
                rows.append((episode, second + k, shot, track, people, *probabilities[k]))
            track += 1
        if people == 0:
            rows += [
                (episode, second + k, shot, NO_FACE, 0, *[np.nan] * len(EMOTIONS)) for k in range(length)
            ]
        second, shot = second + length, shot + 1
    return pd.DataFrame(
        rows, columns=["episode", "second", "shot", "track", "faces_on_screen", *PROBABILITIES]
    )


def latency(args) -> None:
    rng = np.random.default_rng(0)
    folder = Path(tempfile.mkdtemp(prefix="footage-latency-"))
    seconds = int(args.hours * 3600)
    started = time.perf_counter()
    tables, rows = [], 0
    for number in range(args.episodes):
        index = synthetic_index(f"ep{number + 1:02d}", seconds, rng)
        rows += len(index)
        settings = schema_defaults("index", "segments")
        tables.append(episode_segments(index, None, "", **settings, track_characters=None))
    segment_seconds = time.perf_counter() - started
    segments = pd.concat(tables, ignore_index=True)
    path = folder / "segments.parquet"
    segments.to_parquet(path, index=False, compression="zstd")
    episodes = {f"ep{n + 1:02d}" for n in range(args.episodes)}
    query = check_query(
        episodes,
        emotions=["Sad"],
        min_seconds=3,
        min_confidence=0.6,
        min_faces=2,
        max_faces=2,
        episodes=[],
        limit=None,
        characters=[],
        character_names={},
        cast_ids=None,
    )

    def with_pandas():
        return search(pd.read_parquet(path), **query)

    hits = with_pandas()
    pandas_seconds = _median_seconds(with_pandas, args.repeats)
    print(
        f"| synthesised index | {args.episodes} episodes x {args.hours:g} h = {args.episodes * seconds:,} s, "
        f"{rows:,} rows (faces + faceless seconds) |"
    )
    print(
        f"| segments | {len(segments):,} ({path.stat().st_size / 1e6:.1f} MB zstd Parquet), "
        f"built in {segment_seconds:.1f} s |"
    )
    print(f"| query | Sad, >= 3 s, mean confidence >= 0.6, exactly 2 faces: {len(hits)} hits |")
    print(
        f"| pandas (read Parquet + filter + rank), median of {args.repeats} | {pandas_seconds * 1000:.1f} ms |"
    )
    try:
        import duckdb
    except ImportError:
        print("| DuckDB | not importable (see the module doc) |")
        return
    sql = (
        f"SELECT * FROM read_parquet('{path}') WHERE emotion = 'Sad' AND seconds >= 3 "
        "AND mean_confidence >= 0.6 AND faces_min >= 2 AND faces_max <= 2 "
        "ORDER BY mean_confidence DESC, seconds DESC, episode, start"
    )
    connection = duckdb.connect()
    found = connection.execute(sql).df()
    assert len(found) == len(hits), (len(found), len(hits))
    duck_seconds = _median_seconds(lambda: connection.execute(sql).df(), args.repeats)
    print(
        f"| DuckDB {duckdb.__version__} (same query in SQL over the Parquet), median of {args.repeats} | "
        f"{duck_seconds * 1000:.1f} ms ({duck_seconds / pandas_seconds:.2f}x pandas) |"
    )


def shots(args) -> None:
    from dramaemo.footage.shots import detect_shots
    from dramaemo.video.frames import probe_video

    for video in args.video:
        duration = probe_video(video).duration
        found = {}
        for method in ("scenedetect", "ffmpeg"):
            started = time.perf_counter()
            table = detect_shots(video, method)
            elapsed = time.perf_counter() - started
            found[method] = table["start"].to_numpy()[1:]
            print(
                f"| {Path(video).name} ({duration:.0f} s) | {method} | {len(table) - 1} cuts | {elapsed:.1f} s "
                f"({duration / elapsed:.0f}x real time) |"
            )
        a, b = found["scenedetect"], found["ffmpeg"]
        matched = sum(np.min(np.abs(b - cut)) <= 0.2 for cut in a) if len(a) and len(b) else 0
        print(
            f"| {Path(video).name} | agreement | {matched} of {len(a)} PySceneDetect cuts have an ffmpeg cut "
            f"within 0.2 s ({len(b)} ffmpeg cuts) | |"
        )


# The index's rules in the order data flows: one job per episode, then one for all.
EPISODE_RULES = (
    "extract_frames",
    "detect_shots",
    "detect_faces",
    "crop_faces",
    "index_episode",
    "describe_tracks",
    "index_timeline",
)
ALL_EPISODE_RULES = ("index_segments", "cast", "character_summary", "index_summary")
IDENTITY_RULES = ("describe_tracks", "cast")  # the characters' stage (issue 23's budget)
REPORT_RULES = ("index_timeline", "character_summary", "index_summary")  # plots, after the index


def identity_share(stages: dict[str, float]) -> tuple[float, float]:
    """(identity seconds, the rest of the index from the video to segments.parquet)."""
    identity = sum(stages.get(rule, 0.0) for rule in IDENTITY_RULES)
    rest = sum(v for rule, v in stages.items() if rule not in IDENTITY_RULES + REPORT_RULES)
    return identity, rest


def stage_times(workdir: Path, episodes) -> pd.DataFrame:
    """Wall and CPU seconds of each index rule (Snakemake's benchmark files, summed over
    the episodes; rules without a file, e.g. the cast when off, are left out)."""
    rows = []
    for rule in EPISODE_RULES + ALL_EPISODE_RULES:
        names = episodes if rule in EPISODE_RULES else [rule]
        files = [workdir / "benchmarks" / rule / f"{name}.tsv" for name in names]
        if not all(f.is_file() for f in files):
            continue
        tables = [pd.read_csv(f, sep="\t") for f in files]
        rows.append(
            {
                "rule": rule,
                "wall s": sum(float(t["s"].iloc[0]) for t in tables),
                "CPU s": sum(float(t["cpu_time"].iloc[0]) for t in tables),
                "max RSS MB": max(float(t["max_rss"].iloc[0]) for t in tables),
            }
        )
    return pd.DataFrame(rows)


def throughput(args) -> None:
    workdir = Path(args.workdir)
    summaries = [json.loads(p.read_text()) for p in sorted((workdir / paths.INDEX_DIR).glob("*.json"))]
    summaries = [s for s in summaries if "episode" in s]  # cast.json is no episode's summary
    episodes = [s["episode"] for s in summaries]
    video_seconds = sum(s["seconds"] for s in summaries)
    times = stage_times(workdir, episodes)
    stages = dict(zip(times["rule"], times["wall s"]))
    total = sum(stages.values())
    print(
        f"| episodes | {len(episodes)}, {video_seconds:,} s of video, "
        f"{sum(s['faces'] for s in summaries):,} faces, {sum(s['faceless_seconds'] for s in summaries):,} "
        "faceless seconds |"
    )
    print(
        f"| whole index, one job at a time | {total:.0f} s: {video_seconds / total:.1f} video seconds per wall second |"
    )
    for row in times.itertuples(index=False):
        print(
            f"| {row.rule} | {row[1]:.0f} s wall ({row[1] / total:.0%}), {row[2]:.0f} s CPU, "
            f"max RSS {row[3]:.0f} MB |"
        )
    identity, rest = identity_share(stages)
    if identity:
        print(
            f"| identity stage ({', '.join(IDENTITY_RULES)}) | {identity:.0f} s: +{identity / rest:.0%} on the "
            f"rest of the index from the video to segments.parquet ({rest:.0f} s) |"
        )
    inner = {}
    for summary in summaries:
        for stage, seconds in summary["stage_seconds"].items():
            inner[stage] = inner.get(stage, 0.0) + seconds
    print("| inside index_episode | " + ", ".join(f"{k} {v:.1f} s" for k, v in inner.items()) + " |")
    index_only = stages["detect_shots"] + stages["index_episode"]
    print(
        f"| index on top of training's frames and faces | {index_only:.0f} s: "
        f"{video_seconds / index_only:.1f} video seconds per wall second |"
    )


def add_run_arguments(command) -> None:
    """--split and --seed: which training run the index in --workdir applied."""
    defaults = schema_defaults("index")
    command.add_argument("--split", default=defaults["split"], help="config index.split of the indexed run")
    command.add_argument("--seed", type=int, default=defaults["seed"], help="config index.seed")


def indexed_run(workdir: Path, split_name: str, seed: int) -> tuple[pd.DataFrame, str, Path, Path]:
    """(the index's face rows, its model, the training run's folder, that run's split
    file: the draw its run.json records)."""
    frames = [
        read_index(workdir / paths.INDEX.format(episode=episode))
        for episode in sorted(indexed_episodes(workdir / paths.INDEX_DIR))
    ]
    index = pd.concat(frames, ignore_index=True)
    index = index[index["face_index"] != NO_FACE]
    # the model of most faces (the text model; an image-only index has only its own)
    model = index["model"].value_counts().idxmax()
    folder = workdir / paths.run_dir(split_name, model, seed)
    draw = json.loads((folder / "run.json").read_text())["split_draw"]
    return index, model, folder, workdir / paths.SPLIT.format(split=split_name, draw=draw)


def precision(args) -> None:
    """Top-k precision per emotion of segments on the test seconds of the indexed run's
    split draw."""
    workdir = Path(args.workdir)
    dataset = pd.read_csv(workdir / paths.DATASET)
    _, _, _, split_file = indexed_run(workdir, args.split, args.seed)
    split = read_split(split_file)
    dataset = dataset.merge(split[["item_id", "part"]], on="item_id")
    # the index row of each labelled face: same episode, second and detection
    frames = []
    for path in sorted((workdir / "results" / "index").glob("ep*.parquet")):
        frames.append(pd.read_parquet(path, columns=["episode", "second", "face_index", "track"]))
    index = pd.concat(frames)
    labelled = dataset.merge(index, on=["episode", "second", "face_index"], how="inner")
    test_tracks = labelled.groupby(["episode", "track"])["part"].agg(lambda p: set(p) == {"test"})
    segments = read_segments(args.segments or workdir / paths.SEGMENTS)
    rows = []
    for emotion in EMOTIONS:
        candidates = segments[segments["emotion"] == emotion].copy()
        keys = list(zip(candidates["episode"], candidates["track"]))
        candidates = candidates[np.array([test_tracks.get(key, False) for key in keys], dtype=bool)]
        hits = candidates.sort_values(["mean_confidence", "seconds"], ascending=False).head(args.top)
        correct = 0
        for hit in hits.itertuples():
            truth = labelled[
                (labelled.episode == hit.episode)
                & (labelled.track == hit.track)
                & (labelled.second >= hit.start)
                & (labelled.second < hit.end)
            ]["emotion"]
            correct += bool(len(truth)) and truth.value_counts().idxmax() == emotion
        # annotated runs >= 3 s of this emotion on one track, in the test part
        runs = labelled[(labelled.part == "test") & (labelled.emotion == emotion)].sort_values("second")
        found = total = 0
        for (episode, track), group in runs.groupby(["episode", "track"]):
            seconds = group["second"].to_numpy()
            for run in np.split(seconds, np.flatnonzero(np.diff(seconds) > 1) + 1):
                if len(run) < 3:
                    continue
                total += 1
                mine = segments[
                    (segments.episode == episode) & (segments.track == track) & (segments.emotion == emotion)
                ]
                covered = sum(((mine.start <= s) & (s < mine.end)).any() for s in run)
                found += covered >= len(run) / 2
        rows.append(
            {
                "emotion": emotion,
                "test segments": len(candidates),
                f"top-{args.top}": len(hits),
                "precision": correct / len(hits) if len(hits) else float("nan"),
                "runs >= 3 s": total,
                "recall": found / total if total else float("nan"),
            }
        )
    table = pd.DataFrame(rows)
    print(table.to_markdown(index=False, floatfmt=".2f"))
    kept = table.dropna(subset=["precision"])
    print(
        f"\nmean precision over the {len(kept)} emotions with hits: {kept['precision'].mean():.2f}; "
        f"test faces labelled {int((labelled.part == 'test').sum())}, tracks {int(test_tracks.sum())}"
    )


def agreement(args) -> None:
    """The index's raw probabilities on the labelled test faces of its split against the
    evaluation's predictions of the same training run (same face, same description)."""
    from dramaemo.evaluation.evaluate import macro_f1
    from dramaemo.footage import RAW_PROBABILITIES

    workdir = Path(args.workdir)
    split_name, seed = args.split, args.seed
    index, model, folder, _ = indexed_run(workdir, split_name, seed)
    evaluated = pd.read_csv(folder / "predictions.csv")
    dataset = pd.read_csv(
        workdir / paths.DATASET,
        usecols=["item_id", "episode", "second", "face_index", "description"],
    )
    evaluated = evaluated.merge(dataset, on="item_id")
    both = evaluated.merge(index, on=["episode", "second", "face_index"], how="left", suffixes=("", "_index"))
    found = both["model"].notna()
    same_text = found & (both["text"] == both["description"])
    evaluation_p = both.loc[same_text, [f"prob_{e}" for e in EMOTIONS]].to_numpy(dtype=float)
    index_p = both.loc[same_text, RAW_PROBABILITIES].to_numpy(dtype=float)
    print(f"| model | {model}, {split_name} split, seed {seed} ({folder.relative_to(workdir)}) |")
    print(
        f"| test faces of the evaluation | {len(both):,}; in the index {int(found.sum()):,}; "
        f"with the same description {int(same_text.sum()):,} |"
    )
    print(f"| max abs difference of the 7 probabilities | {np.abs(evaluation_p - index_p).max():.2e} |")
    print(f"| same predicted class | {(evaluation_p.argmax(1) == index_p.argmax(1)).mean():.2%} |")
    truth = both.loc[same_text, "true"]
    raw = np.asarray(EMOTIONS)[index_p.argmax(1)]
    print(
        "| macro-F1 on those faces (as the evaluation computes it): evaluation / index raw / index smoothed "
        f"along tracks | {macro_f1(truth, both.loc[same_text, 'pred']):.3f} / {macro_f1(truth, raw):.3f} / "
        f"{macro_f1(truth, both.loc[same_text, 'pred_index']):.3f} |"
    )


def subtitles(args) -> None:
    """Each episode's annotated descriptions as its subtitles, as if they were dialogue
    cues: a cue per run of consecutive seconds with the same description, spanning those
    seconds (two faces with their own lines give overlapping cues); the videos linked
    beside them, so that index.episodes_dir can point at ``outdir``."""
    import pysubs2

    annotations = pd.read_csv(args.annotations, keep_default_na=False)
    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    for episode, rows in annotations.groupby("episode"):
        cues = pysubs2.SSAFile()
        for description, lines in rows[rows["description"].str.strip() != ""].groupby("description"):
            seconds = np.unique(lines["second"].to_numpy(dtype=int))
            for run in np.split(seconds, np.flatnonzero(np.diff(seconds) > 1) + 1):
                cues.append(
                    pysubs2.SSAEvent(
                        start=int(run[0]) * 1000, end=(int(run[-1]) + 1) * 1000, text=description
                    )
                )
        cues.sort()
        cues.save(str(outdir / f"{episode}.srt"), encoding="utf-8")
        (video,) = Path(args.episodes_dir).glob(f"{episode}.*")
        link = outdir / video.name
        if not link.exists():
            link.symlink_to(video.resolve())
        print(
            f"{episode}: {len(cues)} cues over {rows['second'].nunique()} labelled seconds -> {outdir / episode}.srt"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("latency")
    command.add_argument("--episodes", type=int, default=20)
    command.add_argument("--hours", type=float, default=1.0)
    command.add_argument("--repeats", type=int, default=20)
    command.set_defaults(func=latency)
    command = commands.add_parser("shots")
    command.add_argument("--video", action="append", required=True)
    command.set_defaults(func=shots)
    command = commands.add_parser("throughput")
    command.add_argument("--workdir", required=True)
    command.set_defaults(func=throughput)
    command = commands.add_parser("precision")
    command.add_argument("--workdir", required=True)
    command.add_argument("--top", type=int, default=10)
    command.add_argument("--segments", help="another segments.parquet of the same index (other thresholds)")
    command.set_defaults(func=precision)
    command = commands.add_parser("agreement")
    command.add_argument("--workdir", required=True)
    command.set_defaults(func=agreement)
    command = commands.add_parser("subtitles")
    command.add_argument("--annotations", required=True)
    command.add_argument("--episodes-dir", required=True)
    command.add_argument("--outdir", required=True)
    command.set_defaults(func=subtitles)
    for name in ("precision", "agreement"):
        add_run_arguments(commands.choices[name])
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
