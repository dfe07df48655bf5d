"""``author``: from a story to a rough cut over the footage index.

Reads the story (authoring.story), works out each scene's needs with the project's
trained text-only model (config author.text_model, the run of index.split and
index.seed: the same encoder and model the user trained on their own descriptions),
chooses footage from results/index (authoring.choose) and writes, into ``--outdir``:
``scenes.csv`` (the parse), ``cut.csv`` (the pick per scene and why), ``candidates.csv``,
``rough_cut.mp4``, ``timeline.otio``/``.edl``/``.xml`` and ``storyboard.html``. Everything
is written into a sibling folder first and moved into place at the end, so a failed run
leaves the previous outputs (or none), never half of them.
"""

from __future__ import annotations

import argparse
import logging
import shutil
from pathlib import Path

import pandas as pd

from dramaemo.authoring.choose import choose, segment_faces
from dramaemo.authoring.export import clip_spans, write_rough_cut, write_storyboard, write_timelines
from dramaemo.authoring.story import parse_table, read_story, scene_needs
from dramaemo.core import paths, registry
from dramaemo.core.config import schema_defaults
from dramaemo.core.errors import UserError
from dramaemo.footage import PROBABILITIES
from dramaemo.footage.search import indexed_episodes
from dramaemo.footage.tables import read_index, read_segments

log = logging.getLogger(__name__)

OUTPUTS = ("scenes.csv", "cut.csv", "candidates.csv", "rough_cut.mp4", "storyboard.html")
OUTPUTS += tuple(f"timeline.{suffix}" for suffix in ("otio", "edl", "xml"))
CHARACTER = "character"


def text_scorer(text_model: str, model_path, text_source):
    """texts -> (N, 7) probabilities of the trained text-only model ``text_model``."""
    if text_model not in registry.TEXT_ONLY_MODELS:
        raise UserError(
            f"author.text_model {text_model!r}: the scene text is read by a text-only model, one of "
            f"{', '.join(registry.TEXT_ONLY_MODELS)}"
        )
    state = {}

    def score(texts):
        from dramaemo.footage import predict as inference
        from dramaemo.models.builders import load_model

        if not state:  # loaded on first use: a story that names every emotion needs no model
            state["model"] = load_model(model_path)
            state["encoder"] = inference.load_text_encoder(text_model, text_source)
        inputs = inference.model_inputs_for(
            text_model, None, list(texts), model=state["model"], text_encoder=state["encoder"]
        )
        return inference.predict(state["model"], inputs)

    return score


def read_footage(index_dir) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(segments, index rows of every indexed episode) of ``index_dir``."""
    index_dir = Path(index_dir)
    segments_file = index_dir / Path(paths.SEGMENTS).name
    episodes = sorted(indexed_episodes(index_dir)) if index_dir.is_dir() else []
    if not segments_file.is_file() or not episodes:
        raise UserError(f"{index_dir}: no footage index there; run `snakemake index` (or give --index-dir)")
    segments = read_segments(segments_file)
    index = pd.concat(
        [read_index(index_dir / f"{episode}.parquet") for episode in episodes], ignore_index=True
    )
    keep = ["episode", "second", "track", *PROBABILITIES] + ([CHARACTER] if CHARACTER in index else [])
    return segments, index[keep]


def author(story, *, index_dir, outdir, text_model, model_path, text_source, candidates: int) -> pd.DataFrame:
    """Write the story's outputs into ``outdir`` (OUTPUTS); returns cut.csv's table."""
    if candidates < 1:
        raise UserError(f"--candidates {candidates}: must be 1 or more")
    scenes = read_story(story)
    segments, index = read_footage(index_dir)
    cast = sorted(index[CHARACTER].dropna().astype(str).unique()) if CHARACTER in index else []
    needs = scene_needs(scenes, cast=cast, text_model=text_scorer(text_model, model_path, text_source))
    parse = parse_table(needs)
    cut, options = choose(needs, segment_faces(segments, index), top=candidates)
    outdir = Path(outdir)
    work = outdir.with_name(f".{outdir.name}.partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        parse.to_csv(work / "scenes.csv", index=False)
        options.to_csv(work / "candidates.csv", index=False)
        spans = clip_spans(cut)
        duration = write_rough_cut(cut, spans, work / "rough_cut.mp4", work / "clips")
        cut["cut_start"] = pd.NA
        cut["cut_seconds"] = pd.NA
        position = 0.0
        for row, start, frames, fps in spans:
            cut.loc[row, ["start", "end"]] = [round(start, 6), round(start + frames / fps, 6)]
            cut.loc[row, "seconds"] = round(frames / fps, 6)
            cut.loc[row, "cut_start"] = round(position, 6)
            cut.loc[row, "cut_seconds"] = round(frames / fps, 6)
            position += frames / fps
        cut.to_csv(work / "cut.csv", index=False)
        write_timelines(cut, spans, Path(story).stem, work / "timeline")
        write_storyboard(cut, options, parse, work, Path(story).stem)
        shutil.rmtree(work / "clips")
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    if outdir.exists():
        shutil.rmtree(outdir)
    work.rename(outdir)
    log.info(
        "%s: %d scenes, rough cut %.2f s -> %s (storyboard %s)",
        story,
        len(cut),
        duration,
        outdir / "rough_cut.mp4",
        outdir / "storyboard.html",
    )
    return cut


def format_cut(cut: pd.DataFrame) -> str:
    shown = cut[["scene", "status", "episode", "start", "end", "emotion", "wanted", "fit"]]
    return shown.to_string(index=False, float_format=lambda v: f"{v:.3f}")


def _run(args) -> None:
    cut = author(
        args.story,
        index_dir=args.index_dir,
        outdir=args.outdir,
        text_model=args.text_model,
        model_path=args.model_path,
        text_source=args.text_source,
        candidates=args.candidates,
    )
    print(format_cut(cut))
    print(
        f"rough cut: {Path(args.outdir) / 'rough_cut.mp4'}; storyboard: {Path(args.outdir) / 'storyboard.html'}"
    )


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "author",
        help="a story (text, Markdown, CSV, YAML) to a rough cut, timelines and a storyboard",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    defaults = schema_defaults("author")
    parser.add_argument("story", help="the story file: one scene per paragraph, or a CSV/YAML of scenes")
    parser.add_argument("--index-dir", default=paths.INDEX_DIR, help="folder of the footage index")
    parser.add_argument("--outdir", default=paths.AUTHOR, help="folder for the cut, timelines, storyboard")
    parser.add_argument("--text-model", default=defaults["text_model"], help="trained text-only model")
    parser.add_argument("--model-path", required=True, help="its model.keras")
    parser.add_argument("--text-source", help="what its text encoder reads (the rule passes it)")
    parser.add_argument(
        "--candidates", type=int, default=defaults["candidates"], help="candidates shown per scene"
    )
    parser.set_defaults(func=_run)
