"""Authoring benchmarks (BENCHMARKS.md "From a story to a rough cut").

    python bench/authoring.py precision --workdir W [--story-size 5] [--top 5]
    python bench/authoring.py story --workdir W --scenes 20 --out S.md   # then time `dramaemo author S.md`

Both read a work folder where `snakemake index` ran on bench-drama and the text-only model
``--text-model`` was trained (BENCHMARKS.md gives the commands). The scenes are the
descriptions of the test part of the indexed run's split draw that never occur in its
training or validation parts; a scene's truth is its faces' annotated emotion. The footage
is the index's segments on tracks whose labelled faces are all in the test part (as
`bench/footage.py precision` counts them) with a labelled face inside the segment, so no
pick was seen in training and every pick has an annotation to be judged by: a pick is
right when the annotated emotion under it (the majority of its track's labelled faces in
its seconds) is the scene's. Stories of ``--story-size`` scenes are cut by the pipeline's
own parse (authoring.story.scene_needs with the trained text model) and choice
(authoring.choose.choose: no shot twice in a story). Beside the story picks, on the same
scenes and footage: the **floor**, footage drawn at random with the scene's face count
(its expected precision: the share of those segments that are right), and the
**ceiling**, the query given the true emotion (the same ranking with the scene's
distribution one-hot on it). Figures are printed as Markdown.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from footage import add_run_arguments, indexed_run  # noqa: E402  (bench/footage.py: the indexed run)

from dramaemo import EMOTIONS  # noqa: E402
from dramaemo.authoring.author import read_footage, text_scorer  # noqa: E402
from dramaemo.authoring.choose import NO_FOOTAGE, choose, scene_scores, segment_faces  # noqa: E402
from dramaemo.authoring.story import Scene, SceneNeeds, scene_needs  # noqa: E402
from dramaemo.core import paths  # noqa: E402
from dramaemo.core.config import schema_defaults  # noqa: E402
from dramaemo.dataset.split import read_split  # noqa: E402


def test_scenes(workdir: Path, split_name: str, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(scenes: one per test description, with its true emotion; the labelled faces with
    their part and index track; counts of what was left out)."""
    dataset = pd.read_csv(workdir / paths.DATASET, keep_default_na=False)
    index, _, _, split_file = indexed_run(workdir, split_name, seed)
    dataset = dataset.merge(read_split(split_file)[["item_id", "part"]], on="item_id")
    labelled = dataset.merge(
        index[["episode", "second", "face_index", "track"]],
        on=["episode", "second", "face_index"],
        how="inner",
    )
    seen = set(dataset.loc[dataset["part"] != "test", "description"])
    test = dataset[(dataset["part"] == "test") & (dataset["description"].str.strip() != "")]
    counts = {"test descriptions": test["description"].nunique()}
    test = test[~test["description"].isin(seen)]
    counts["also in training or validation"] = counts["test descriptions"] - test["description"].nunique()
    rows = []
    for description, faces in test.sort_values(["episode", "second"]).groupby("description", sort=False):
        emotions = faces["emotion"].value_counts()
        if len(emotions) > 1 and emotions.iloc[0] == emotions.iloc[1]:
            counts["faces disagree"] = counts.get("faces disagree", 0) + 1
            continue
        rows.append({"text": description, "emotion": emotions.index[0], "episode": faces["episode"].iloc[0]})
    return pd.DataFrame(rows), labelled, counts


def judged_footage(workdir: Path, labelled: pd.DataFrame) -> pd.DataFrame:
    """The index's segments (authoring.choose.segment_faces) on test tracks with a
    labelled face inside, and their annotated emotion (column ``truth``)."""
    segments, index = read_footage(workdir / paths.INDEX_DIR, names=None)
    candidates = segment_faces(segments, index)
    parts = labelled.groupby(["episode", "track"])["part"].agg(lambda p: set(p) == {"test"})
    by_track = {key: rows for key, rows in labelled.groupby(["episode", "track"])}
    truth = []
    for segment in candidates.itertuples(index=False):
        key = (segment.episode, segment.track)
        rows = by_track.get(key)
        if rows is None or not parts.get(key, False):
            truth.append(None)
            continue
        inside = rows[(rows["second"] >= segment.start) & (rows["second"] < segment.end)]["emotion"]
        truth.append(inside.value_counts().idxmax() if len(inside) else None)
    candidates["truth"] = truth
    return candidates[candidates["truth"].notna()].reset_index(drop=True)


def with_distribution(need: SceneNeeds, emotion: str) -> SceneNeeds:
    one_hot = np.zeros(len(EMOTIONS))
    one_hot[EMOTIONS.index(emotion)] = 1.0
    return SceneNeeds(need.scene, one_hot, "truth", [], need.faces, need.faces_source, need.characters)


def floor_of(need: SceneNeeds, emotion: str, footage: pd.DataFrame) -> float:
    """Expected precision of a random segment with the scene's face count."""
    pool = footage
    if need.faces:
        pool = footage[(footage["faces_min"] == need.faces) & (footage["faces_max"] == need.faces)]
    return float((pool["truth"] == emotion).mean()) if len(pool) else float("nan")


def precision(args) -> None:
    workdir = Path(args.workdir)
    scenes, labelled, counts = test_scenes(workdir, args.split, args.seed)
    footage = judged_footage(workdir, labelled)
    model_path = workdir / paths.run_dir(args.split, args.text_model, args.seed) / "model.keras"
    text_source = args.text_source or workdir / schema_defaults("text", "minilm")["model_dir"]
    needs = scene_needs(
        [Scene(number, text) for number, text in enumerate(scenes["text"], start=1)],
        cast=[],
        text_model=text_scorer(args.text_model, model_path, text_source),
    )
    rows = []
    for start in range(0, len(needs), args.story_size):
        story = needs[start : start + args.story_size]
        cut, _ = choose(story, footage, top=args.top)
        for position, need in enumerate(story):
            truth = scenes.loc[start + position, "emotion"]
            story_ranked = scene_scores(need, footage).head(args.top)
            ceiling_ranked = scene_scores(with_distribution(need, truth), footage).head(args.top)
            pick = cut.iloc[position]
            picked_right = pick["status"] != NO_FOOTAGE and _truth_of(pick, footage) == truth
            rows.append(
                {
                    "emotion": truth,
                    "source": need.emotion_source,
                    "wanted": EMOTIONS[int(np.argmax(need.distribution))],
                    "story top-1": float(picked_right),
                    f"story top-{args.top}": float((story_ranked["truth"] == truth).mean()),
                    "floor": floor_of(need, truth, footage),
                    "ceiling top-1": float(ceiling_ranked["truth"].iloc[0] == truth),
                    f"ceiling top-{args.top}": float((ceiling_ranked["truth"] == truth).mean()),
                    "no footage": pick["status"] == NO_FOOTAGE,
                }
            )
    table = pd.DataFrame(rows)
    figures = ["story top-1", f"story top-{args.top}", "floor", "ceiling top-1", f"ceiling top-{args.top}"]
    per_emotion = table.groupby("emotion")[figures].mean()
    per_emotion.insert(0, "scenes", table.groupby("emotion").size())
    per_emotion.loc["all scenes"] = [len(table), *table[figures].mean()]
    macro = per_emotion.drop(index="all scenes")[figures].mean()
    per_emotion.loc["mean over emotions"] = [per_emotion["scenes"].iloc[:-1].count(), *macro]
    print(per_emotion.to_markdown(floatfmt=".3f"))
    story, floor, ceiling = (
        table[name].mean() for name in (f"story top-{args.top}", "floor", f"ceiling top-{args.top}")
    )
    print(
        f"\nscenes {len(table)} in {int(np.ceil(len(table) / args.story_size))} stories of {args.story_size}; "
        f"footage: {len(footage)} test segments with a labelled face ({footage['truth'].value_counts().to_dict()}); "
        f"left out: {counts}; emotion from: {table['source'].value_counts().to_dict()}; "
        f"text model read the emotion right on {(table['wanted'] == table['emotion']).mean():.3f} of scenes; "
        f"no footage meeting every constraint: {int(table['no footage'].sum())}"
    )
    print(
        f"top-{args.top}: story {story:.3f}, floor {floor:.3f}, ceiling {ceiling:.3f}: "
        f"{(story - floor) / (ceiling - floor):.2f} of the way from floor to ceiling (halfway: "
        f"{floor + (ceiling - floor) / 2:.3f})"
    )


def _truth_of(pick, footage: pd.DataFrame):
    match = footage[
        (footage["episode"] == pick["episode"])
        & (footage["track"] == pick["track"])
        & (footage["start"] <= pick["start"])
        & (footage["end"] >= pick["end"])
    ]
    return match["truth"].iloc[0] if len(match) else None


def characters(args) -> None:
    """bench-cast: is the character a scene names on screen in its top-1 pick? The cast is
    named as a user would on the cast page: each character takes the true name of most of
    its faces (the largest one when two would share a name); scenes name their people
    ("Seok-yul to Min-ah: ..."), and the pipeline's parse finds them among those names."""
    from characters import EXTRA, matched_faces  # bench/characters.py: faces to cast.csv rows

    from dramaemo.footage.tables import read_cast, read_index

    workdir, data = Path(args.workdir), Path(args.data)
    scenes, labelled, counts = test_scenes(workdir, args.split, args.seed)
    episodes = sorted(p.stem for p in (data / "episodes").glob("*.mp4"))
    index = pd.concat(
        [read_index(workdir / paths.INDEX.format(episode=e)) for e in episodes], ignore_index=True
    )
    faces = matched_faces(data, index)
    cast = read_cast(workdir / paths.CAST)
    faces = faces.merge(
        cast[["episode", "track", "character"]], on=["episode", "track"], suffixes=("_true", "")
    )
    faces = faces[(faces["character"] != "") & (faces["character_true"] != EXTRA)]
    majority = faces.groupby("character")["character_true"].agg(lambda c: c.value_counts().idxmax())
    sizes = faces.groupby("character").size()
    names = {}
    for character in sizes.sort_values(ascending=False).index:
        if majority[character] not in names.values():
            names[character] = majority[character]
    names_file = workdir / "bench-names.csv"
    names_file.write_text("character,name\n" + "".join(f"{c},{n}\n" for c, n in sorted(names.items())))
    segments, footage_index = read_footage(workdir / paths.INDEX_DIR, names=names_file)
    footage = segment_faces(segments, footage_index)
    model_path = workdir / paths.run_dir(args.split, args.text_model, args.seed) / "model.keras"
    text_source = args.text_source or workdir / schema_defaults("text", "minilm")["model_dir"]
    needs = scene_needs(
        [Scene(number, text) for number, text in enumerate(scenes["text"], start=1)],
        cast=sorted(names.values()),
        text_model=text_scorer(args.text_model, model_path, text_source),
    )
    truth = pd.read_csv(data / "cast.csv")
    on_screen = truth.groupby(["episode", "second"])["character"].agg(set).to_dict()
    print(f"names given: {len(names)} characters ({names})")
    test_footage = footage.merge(
        judged_footage(workdir, labelled)[["episode", "track", "start", "end"]],
        on=["episode", "track", "start", "end"],
    )
    pools = {"all segments": footage, "segments on test tracks (as `precision` counts them)": test_footage}
    for pool, candidates in pools.items():
        rows = []
        for start in range(0, len(needs), args.story_size):
            story_needs = needs[start : start + args.story_size]
            cut, _ = choose(story_needs, candidates, top=1)
            for need, pick in zip(story_needs, cut.to_dict("records")):
                if not need.characters:
                    continue
                found = pick["status"] != NO_FOOTAGE
                seconds = range(int(pick["start"]), int(pick["end"])) if pick["episode"] else []
                present = [
                    set(need.characters) <= on_screen.get((pick["episode"], s), set()) for s in seconds
                ]
                rows.append(
                    {
                        "named": len(need.characters),
                        "pick": (pick["episode"], pick["track"], pick["start"]),
                        "no footage": not found,
                        "any second": bool(present) and any(present),
                        "half the seconds": bool(present) and np.mean(present) >= 0.5,
                        "every second": bool(present) and all(present),
                    }
                )
        table = pd.DataFrame(rows)
        print(
            f"\n{pool}: {len(candidates)} candidates; scenes {len(needs)} ({counts}), naming a cast member "
            f"{len(table)}: {table['named'].value_counts().sort_index().to_dict()} by number named; "
            f"{table['pick'].nunique()} distinct picks"
        )
        for column in ("any second", "half the seconds", "every second"):
            by_named = table.groupby("named")[column].mean().round(3).to_dict()
            print(
                f"top-1 pick shows everyone the scene names, {column}: **{table[column].mean():.3f}** "
                f"(by number named: {by_named})"
            )
        print(f"no footage meeting every constraint (nearest relaxed pick): {int(table['no footage'].sum())}")


def story(args) -> None:
    """A Markdown story of the first ``--scenes`` test descriptions (one per paragraph)."""
    scenes, _, _ = test_scenes(Path(args.workdir), args.split, args.seed)
    chosen = scenes.head(args.scenes)
    Path(args.out).write_text("".join(f"{text}\n\n" for text in chosen["text"]), encoding="utf-8")
    print(f"{args.out}: {len(chosen)} scenes ({chosen['emotion'].value_counts().to_dict()})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("precision")
    command.add_argument("--story-size", type=int, default=5, help="scenes per story (no shot twice in one)")
    command.add_argument("--top", type=int, default=5)
    command.add_argument("--text-model", default=schema_defaults("author")["text_model"])
    command.add_argument("--text-source", help="its text encoder's source (default: W/resources/minilm)")
    command.set_defaults(func=precision)
    command = commands.add_parser("characters")
    command.add_argument("--data", required=True, help="the bench-cast folder")
    command.add_argument("--story-size", type=int, default=5, help="scenes per story (no shot twice in one)")
    command.add_argument("--text-model", default=schema_defaults("author")["text_model"])
    command.add_argument("--text-source", help="its text encoder's source (default: W/resources/minilm)")
    command.set_defaults(func=characters)
    command = commands.add_parser("story")
    command.add_argument("--scenes", type=int, default=20)
    command.add_argument("--out", required=True)
    command.set_defaults(func=story)
    for command in commands.choices.values():
        command.add_argument("--workdir", required=True)
        add_run_arguments(command)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
