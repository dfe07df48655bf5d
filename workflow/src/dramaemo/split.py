"""Train/test splits shared by every model: ``item_id,scene_id,part``.

- ``random``: seeded shuffle, ``test_fraction`` of the items to test (the paper: 8:2).
  Adjacent seconds of one shot are near-duplicates, so this split leaks.
- ``stratified``: like random, with each emotion's share kept in both parts.
- ``scene``: whole scenes (runs of consecutive seconds with the same description in one
  episode) go to one part, stratified by emotion as far as the scenes allow
  (StratifiedGroupKFold; the test part is the first fold that leaves every class in
  train). Leakage-safe; the default.
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
from dramaemo.config import schema_defaults
from dramaemo.errors import UserError

log = logging.getLogger(__name__)

SPLIT_COLUMNS = ["item_id", "scene_id", "part"]
GROUP_CANDIDATES = 20  # seeded episode splits tried until one keeps every class in train


def _first_keeping_all_classes(candidates, labels: np.ndarray) -> np.ndarray:
    """The test indices of the first candidate split whose train part has every class.

    Group splits cannot always stratify (a rare class may live in one scene); trying the
    seeded candidates in order keeps the split deterministic. When none fits, the first
    is returned and the caller's check names the missing class.
    """
    first = None
    for _, test in candidates:
        first = test if first is None else first
        train = np.ones(len(labels), dtype=bool)
        train[test] = False
        if set(labels[train]) == set(labels):
            return test
    return first


def split_dataset(dataset: pd.DataFrame, strategy: str, test_fraction: float = 0.2,
                  seed: int = 0) -> pd.DataFrame:
    """The split table (dataset order) for one strategy."""
    if strategy not in SPLIT_STRATEGIES:
        raise UserError(f"split strategy '{strategy}': use one of {', '.join(SPLIT_STRATEGIES)}")
    if len(dataset) < 2:
        raise UserError(f"split {strategy}: the dataset has {len(dataset)} item(s); "
                        "at least 2 are needed (results/dataset/join_report.md says why "
                        "annotated faces were not matched)")
    labels = dataset["emotion"].to_numpy()
    indices = np.arange(len(dataset))
    if strategy == "random":
        _, test = train_test_split(indices, test_size=test_fraction, random_state=seed,
                                   shuffle=True)
    elif strategy == "stratified":
        try:
            _, test = train_test_split(indices, test_size=test_fraction, random_state=seed,
                                       shuffle=True, stratify=labels)
        except ValueError as error:
            raise UserError(f"split stratified: {error}; use the random or scene split "
                            "for so few items per class") from None
    elif strategy == "scene":
        groups = dataset["scene_id"].to_numpy()
        folds = max(2, round(1 / test_fraction))
        if len(set(groups)) < folds:
            raise UserError(f"split scene: {len(set(groups))} scenes, fewer than the "
                            f"{folds} groups a test fraction of {test_fraction} needs")
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        test = _first_keeping_all_classes(splitter.split(indices, labels, groups), labels)
    else:  # episode
        groups = dataset["episode"].to_numpy()
        if len(set(groups)) < 2:
            raise UserError("split episode: the dataset has one episode; the episode split "
                            "needs at least two (use the scene split)")
        splitter = GroupShuffleSplit(n_splits=GROUP_CANDIDATES, test_size=test_fraction,
                                     random_state=seed)
        test = _first_keeping_all_classes(splitter.split(indices, labels, groups), labels)
    part = np.full(len(dataset), "train", dtype=object)
    part[test] = "test"
    table = pd.DataFrame({"item_id": dataset["item_id"], "scene_id": dataset["scene_id"],
                          "part": part})
    train_classes = set(labels[part == "train"])
    absent = sorted(set(labels) - train_classes)
    if absent:
        raise UserError(
            f"split {strategy}: class(es) {', '.join(absent)} absent from the train part "
            f"(all their items fell in test); annotate more of them, change split.seed "
            "or use another strategy"
        )
    return table


def plot_split(dataset: pd.DataFrame, table: pd.DataFrame, strategy: str,
               path: str | Path) -> None:
    """Items per emotion in the train and test parts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = pd.crosstab(dataset["emotion"], table["part"]).reindex(
        columns=["train", "test"], fill_value=0)
    figure, axes = plt.subplots(figsize=(7, 3.5))
    counts.plot.bar(ax=axes, color=["tab:blue", "tab:orange"], rot=0)
    axes.set_ylabel("items")
    axes.set_xlabel("")
    groups = table.groupby("part")["scene_id"].nunique().to_dict()
    axes.set_title(f"Split '{strategy}': {counts['train'].sum()} train / "
                   f"{counts['test'].sum()} test items, {groups.get('train', 0)} / "
                   f"{groups.get('test', 0)} scenes")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _run(args) -> None:
    dataset = pd.read_csv(args.dataset, keep_default_na=False)
    table = split_dataset(dataset, args.strategy, args.test_fraction, args.seed)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.output, index=False)
    counts = pd.crosstab(dataset["emotion"], table["part"])
    log.info("split %s: %d train, %d test items; per class:\n%s", args.strategy,
             (table["part"] == "train").sum(), (table["part"] == "test").sum(),
             counts.to_string())
    if args.plot:
        plot_split(dataset, table, args.strategy, args.plot)


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("split", help="train/test split of the dataset")
    parser.add_argument("--dataset", required=True, help="dataset CSV")
    parser.add_argument("--strategy", required=True, choices=SPLIT_STRATEGIES)
    defaults = schema_defaults("split")
    parser.add_argument("--test-fraction", type=float, default=defaults["test_fraction"])
    parser.add_argument("--seed", type=int, default=defaults["seed"])
    parser.add_argument("--output", required=True, help="split CSV")
    parser.add_argument("--plot", help="PNG of the items per class and part")
    parser.set_defaults(func=_run)
