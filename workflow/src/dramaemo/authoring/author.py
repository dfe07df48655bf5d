"""``author``: from a story to a rough cut over the footage index.

Reads the story (authoring.story), works out each scene's needs with the project's
trained text-only model (config author.text_model, the run of index.split and
index.seed: the same encoder and model the user trained on their own descriptions),
chooses footage from results/index (authoring.choose) and writes, into ``--outdir``:
``scenes.csv`` (the parse), ``cut.csv`` (the pick per scene and why), ``candidates.csv``,
``rough_cut.mp4``, ``timeline.otio``/``.edl``/``.xml`` and ``storyboard.html``. Everything
is written into a sibling folder first and moved into place at the end, so a failed run
leaves the previous outputs (or none), never half of them. The user's own picks
(``--choices``, made on the page of ``--serve``: authoring.serve) are kept over reruns.
"""

from __future__ import annotations

import argparse
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from dramaemo.authoring.choices import read_choices
from dramaemo.authoring.choose import CHARACTER, choose, segment_faces
from dramaemo.authoring.export import clip_spans, write_rough_cut, write_storyboard, write_timelines
from dramaemo.authoring.story import parse_table, read_story, scene_needs
from dramaemo.core import paths, registry
from dramaemo.core.config import schema_defaults
from dramaemo.core.errors import UserError
from dramaemo.footage import PROBABILITIES
from dramaemo.footage.search import indexed_episodes, named_tracks
from dramaemo.footage.tables import read_index, read_segments

log = logging.getLogger(__name__)

OUTPUTS = ("scenes.csv", "cut.csv", "candidates.csv", "rough_cut.mp4", "storyboard.html")
OUTPUTS += tuple(f"timeline.{suffix}" for suffix in ("otio", "edl", "xml"))


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


def read_footage(index_dir, names) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(segments, index rows of every indexed episode) of ``index_dir``; where the index
    has a cast (footage.cast), each face's CHARACTER: its name in the ``names`` file, else
    its id."""
    index_dir = Path(index_dir)
    segments_file = index_dir / Path(paths.SEGMENTS).name
    episodes = sorted(indexed_episodes(index_dir)) if index_dir.is_dir() else []
    if not segments_file.is_file() or not episodes:
        raise UserError(f"{index_dir}: no footage index there; run `snakemake index` (or give --index-dir)")
    segments = read_segments(segments_file)
    index = pd.concat(
        [read_index(index_dir / f"{episode}.parquet") for episode in episodes], ignore_index=True
    )
    who = named_tracks(index_dir, names)
    if who is not None:
        index[CHARACTER] = [who.get(key) for key in zip(index["episode"], index["track"])]
    keep = ["episode", "second", "track", "w", "h", *PROBABILITIES] + (
        [CHARACTER] if CHARACTER in index else []
    )
    return segments, index[keep]


@dataclass
class Plan:
    """A story's parse and cut over the index: what ``export`` writes, and what the
    storyboard page re-chooses from."""

    story: Path
    needs: list
    parse: pd.DataFrame
    candidates: pd.DataFrame  # authoring.choose.segment_faces of the index
    top: int
    cut: pd.DataFrame | None = None
    options: pd.DataFrame | None = None

    def rechoose(self, chosen: dict) -> Plan:
        self.cut, self.options = choose(self.needs, self.candidates, top=self.top, chosen=chosen)
        return self


def plan_story(
    story, *, index_dir, text_model, model_path, text_source, candidates: int, chosen, names
) -> Plan:
    """The story's scenes, their needs and their cut over the index in ``index_dir``."""
    if candidates < 1:
        raise UserError(f"--candidates {candidates}: must be 1 or more")
    scenes = read_story(story)
    segments, index = read_footage(index_dir, names)
    cast = sorted(index[CHARACTER].dropna().astype(str).unique()) if CHARACTER in index else []
    needs = scene_needs(scenes, cast=cast, text_model=text_scorer(text_model, model_path, text_source))
    plan = Plan(Path(story), needs, parse_table(needs), segment_faces(segments, index), candidates)
    return plan.rechoose(chosen)


def export(plan: Plan, outdir, *, posters_from=None) -> float:
    """Write ``plan``'s OUTPUTS into ``outdir``, all or nothing (a sibling folder first,
    swapped in at the end); the rough cut's seconds. ``posters_from``: a folder whose
    posters are reused (a re-export after a pick changes the cut, not the candidates)."""
    outdir = Path(outdir)
    work = outdir.with_name(f".{outdir.name}.partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    cut = plan.cut.copy()
    try:
        plan.parse.to_csv(work / "scenes.csv", index=False)
        plan.options.to_csv(work / "candidates.csv", index=False)
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
        write_timelines(cut, spans, plan.story.stem, work / "timeline")
        if posters_from is not None and Path(posters_from).is_dir():
            shutil.copytree(posters_from, work / "posters")
        write_storyboard(cut, plan.options, plan.parse, work, plan.story.stem)
        shutil.rmtree(work / "clips")
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    old = outdir.with_name(f".{outdir.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if outdir.exists():
        outdir.rename(old)
    work.rename(outdir)
    shutil.rmtree(old, ignore_errors=True)
    plan.cut = cut
    log.info(
        "%s: %d scenes, rough cut %.2f s -> %s (storyboard %s)",
        plan.story,
        len(cut),
        duration,
        outdir / "rough_cut.mp4",
        outdir / "storyboard.html",
    )
    return duration


def author(
    story,
    *,
    index_dir,
    outdir,
    text_model,
    model_path,
    text_source,
    candidates: int,
    choices=None,
    names,
) -> pd.DataFrame:
    """Write the story's outputs into ``outdir`` (OUTPUTS), with the user's picks of the
    ``choices`` file (authoring.choices) where it has them; returns cut.csv's table."""
    plan = plan_story(
        story,
        index_dir=index_dir,
        text_model=text_model,
        model_path=model_path,
        text_source=text_source,
        candidates=candidates,
        chosen=read_choices(choices) if choices else {},
        names=names,
    )
    export(plan, outdir)
    return plan.cut


def format_cut(cut: pd.DataFrame) -> str:
    shown = cut[["scene", "status", "episode", "start", "end", "emotion", "wanted", "fit"]]
    return shown.to_string(index=False, float_format=lambda v: f"{v:.3f}")


def _run(args) -> None:
    settings = dict(
        index_dir=args.index_dir,
        text_model=args.text_model,
        model_path=args.model_path,
        text_source=args.text_source,
        candidates=args.candidates,
        names=args.names,
    )
    if not args.serve:
        cut = author(args.story, outdir=args.outdir, choices=args.choices, **settings)
        print(format_cut(cut))
        print(
            f"rough cut: {Path(args.outdir) / 'rough_cut.mp4'}; storyboard: {Path(args.outdir) / 'storyboard.html'}"
        )
        return
    from dramaemo.authoring.serve import create_app
    from dramaemo.labelling.page import LOOPBACK_HOSTS, serve

    plan = plan_story(args.story, chosen=read_choices(args.choices), **settings)
    export(plan, args.outdir)
    posters = Path(args.outdir) / "posters"
    loopback = args.host in LOOPBACK_HOSTS
    if not loopback:
        log.warning(
            "--host %s: the storyboard can be reached (and its picks changed) from other machines", args.host
        )
    app = create_app(
        plan,
        args.outdir,
        args.choices,
        export=lambda plan: export(plan, args.outdir, posters_from=posters),
        trusted_hosts=LOOPBACK_HOSTS if loopback else None,
    )
    serve(app, args.host, args.port, "storyboard", f"every pick is already in {args.choices}")


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
    parser.add_argument(
        "--choices",
        default=paths.AUTHOR_CHOICES,
        help="the storyboard page's picks, kept over reruns (read when it exists)",
    )
    parser.add_argument("--names", help="names file (CSV character,name) of the index's cast")
    parser.add_argument("--serve", action="store_true", help="serve the storyboard to swap picks on")
    parser.add_argument(
        "--host", default=defaults["host"], help="address to bind (127.0.0.1: this machine only)"
    )
    parser.add_argument("--port", type=int, default=defaults["port"], help="port (0 picks a free one)")
    parser.set_defaults(func=_run)
