"""Train/test splits shared by every model: ``item_id,scene_id,part,draw``.

A *draw* is one seeded split of a strategy (``draw`` = the seed the splitter used). By
default the run trained with seed k tests on draw ``split.seed + k`` (``dramaemo.core.paths.draw_of``), so
the spread over seeds and the bootstrap CIs carry which scenes land in the test part,
not only the training noise: on bench-drama the draw moved macro-F1 by up to 0.09,
training seeds by 0.02 (BENCHMARKS.md). ``split.draw_per_seed: false`` tests every
seed on the one draw ``split.seed`` (the paper's single split).

- ``random``: seeded shuffle, ``test_fraction`` of the items to test (the paper: 8:2).
  Adjacent seconds of one shot are near-duplicates, so this split leaks.
- ``stratified``: like random, with each emotion's share kept in both parts.
- ``scene``: whole scenes (runs of consecutive seconds with the same description in one
  episode) go to one part, stratified by emotion as far as the scenes allow
  (StratifiedGroupKFold; the test part is, among the folds that leave every class in
  train, number ``seed`` modulo their count). Leakage-safe; the default.
- ``episode``: whole episodes go to one part (GroupShuffleSplit; the first of the seeded
  candidates that leaves every class in train).

Every emotion present in the dataset must appear in the train part; otherwise the split
fails with a message saying which class and what to do.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold, train_test_split

from dramaemo import SPLIT_STRATEGIES
from dramaemo.core.config import schema_defaults
from dramaemo.core.errors import UserError
from dramaemo.dataset.tables import read_csv_checked

log = logging.getLogger(__name__)

SPLIT_COLUMNS = ["item_id", "scene_id", "part", "draw"]
GROUP_CANDIDATES = 20  # seeded episode splits tried until one keeps every class in train


def read_split(path: str | Path) -> pd.DataFrame:
    """A split CSV (SPLIT_COLUMNS), checked: parts train|test, one draw."""
    path = Path(path)
    table = read_csv_checked(path, SPLIT_COLUMNS, what="split", fix="rerun the split rule")
    bad = ~table["part"].isin(("train", "test"))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise UserError(f"{path}: row {row + 2}: part {table['part'].iloc[row]!r} is not train or test")
    draws = table["draw"].unique()
    if len(draws) != 1:
        raise UserError(
            f"{path}: the draw column holds {len(draws)} values; a split file is one draw: "
            "rerun the split rule"
        )
    return table


def read_draw(path: str | Path) -> int:
    """The draw a split CSV holds."""
    return int(read_split(path)["draw"].iloc[0])


def _keeping_all_classes(candidates, labels: np.ndarray, pick: int = 0) -> np.ndarray:
    """The test indices of candidate number ``pick`` (modulo their count) among the
    candidate splits whose train part has every class.

    Group splits cannot always stratify (a rare class may live in one scene); choosing
    among the candidates in order keeps the split deterministic. When none fits, the first
    is returned and the caller's check names the missing class.
    """
    candidates = [test for _, test in candidates]
    keeping = []
    for test in candidates:
        train = np.ones(len(labels), dtype=bool)
        train[test] = False
        if set(labels[train]) == set(labels):
            keeping.append(test)
    return keeping[pick % len(keeping)] if keeping else candidates[0]


def split_dataset(
    dataset: pd.DataFrame, strategy: str, test_fraction: float = 0.2, seed: int = 0
) -> pd.DataFrame:
    """The split table (dataset order) for one strategy."""
    if strategy not in SPLIT_STRATEGIES:
        raise UserError(f"split strategy '{strategy}': use one of {', '.join(SPLIT_STRATEGIES)}")
    if len(dataset) < 2:
        raise UserError(
            f"split {strategy}: the dataset has {len(dataset)} item(s); "
            "at least 2 are needed (results/dataset/join_report.md says why "
            "annotated faces were not matched)"
        )
    labels = dataset["emotion"].to_numpy()
    indices = np.arange(len(dataset))
    if strategy == "random":
        _, test = train_test_split(indices, test_size=test_fraction, random_state=seed, shuffle=True)
    elif strategy == "stratified":
        try:
            _, test = train_test_split(
                indices, test_size=test_fraction, random_state=seed, shuffle=True, stratify=labels
            )
        except ValueError as error:
            raise UserError(
                f"split stratified: {error}; use the random or scene split for so few items per class"
            ) from None
    elif strategy == "scene":
        groups = dataset["scene_id"].to_numpy()
        folds = max(2, round(1 / test_fraction))
        if len(set(groups)) < folds:
            raise UserError(
                f"split scene: {len(set(groups))} scenes, fewer than the "
                f"{folds} groups a test fraction of {test_fraction} needs"
            )
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        # Its shuffle only breaks ties between scenes, so seeds often give one partition:
        # draw `seed` takes the fold after draw seed-1's, and successive draws test on
        # other scenes (disjoint folds where the partition repeats).
        test = _keeping_all_classes(splitter.split(indices, labels, groups), labels, pick=seed)
    else:  # episode
        groups = dataset["episode"].to_numpy()
        if len(set(groups)) < 2:
            raise UserError(
                "split episode: the dataset has one episode; the episode split "
                "needs at least two (use the scene split)"
            )
        splitter = GroupShuffleSplit(n_splits=GROUP_CANDIDATES, test_size=test_fraction, random_state=seed)
        test = _keeping_all_classes(splitter.split(indices, labels, groups), labels)
    part = np.full(len(dataset), "train", dtype=object)
    part[test] = "test"
    table = pd.DataFrame(
        {"item_id": dataset["item_id"], "scene_id": dataset["scene_id"], "part": part, "draw": seed}
    )
    train_classes = set(labels[part == "train"])
    absent = sorted(set(labels) - train_classes)
    if absent:
        raise UserError(
            f"split {strategy}: class(es) {', '.join(absent)} absent from the train part "
            f"(all their items fell in test); annotate more of them, change split.seed "
            "or use another strategy"
        )
    return table


def plot_split(dataset: pd.DataFrame, table: pd.DataFrame, strategy: str, path: str | Path) -> None:
    """Items per emotion in the train and test parts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = pd.crosstab(dataset["emotion"], table["part"]).reindex(columns=["train", "test"], fill_value=0)
    figure, axes = plt.subplots(figsize=(7, 3.5))
    counts.plot.bar(ax=axes, color=["tab:blue", "tab:orange"], rot=0)
    axes.set_ylabel("items")
    axes.set_xlabel("")
    groups = table.groupby("part")["scene_id"].nunique().to_dict()
    axes.set_title(
        f"Split '{strategy}', draw {table['draw'].iloc[0]}: {counts['train'].sum()} train / "
        f"{counts['test'].sum()} test items, {groups.get('train', 0)} / "
        f"{groups.get('test', 0)} scenes"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _run(args) -> None:
    dataset = pd.read_csv(args.dataset, keep_default_na=False)
    table = split_dataset(dataset, args.strategy, args.test_fraction, args.seed)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.output, index=False)
    counts = pd.crosstab(dataset["emotion"], table["part"])
    log.info(
        "split %s, draw %d: %d train, %d test items; per class:\n%s",
        args.strategy,
        args.seed,
        (table["part"] == "train").sum(),
        (table["part"] == "test").sum(),
        counts.to_string(),
    )
    if args.plot:
        plot_split(dataset, table, args.strategy, args.plot)


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("split", help="train/test split of the dataset")
    parser.add_argument("--dataset", required=True, help="dataset CSV")
    parser.add_argument("--strategy", required=True, choices=SPLIT_STRATEGIES)
    defaults = schema_defaults("split")
    parser.add_argument("--test-fraction", type=float, default=defaults["test_fraction"])
    parser.add_argument(
        "--seed",
        type=int,
        default=defaults["seed"],
        help="seed of the splitter: the draw (written in the draw column)",
    )
    parser.add_argument("--output", required=True, help="split CSV")
    parser.add_argument("--plot", help="PNG of the items per class and part")
    parser.set_defaults(func=_run)
