"""Every results path that one rule writes and another reads, named once.

The rules (workflow/rules/*.smk) and the package take their paths from here, so a folder
cannot be spelled two ways. Light: the Snakefile imports it while parsing.
"""

from __future__ import annotations


def draw_of(seed: int, seed_of_first_draw: int, per_seed: bool) -> int:
    """The split draw that the run trained with ``seed`` trains and tests on (config
    split.seed, split.draw_per_seed)."""
    return int(seed_of_first_draw) + int(seed) if per_seed else int(seed_of_first_draw)
