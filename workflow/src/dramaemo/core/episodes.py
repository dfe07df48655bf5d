"""What can name an episode: the video file's name without its suffix.

Spaces, non-ASCII letters, dots and apostrophes are fine (every shell path is quoted);
``check_episode_ids`` refuses the names that cannot work in paths, shells and the
labelling page, all at once, naming each file.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

from dramaemo.core.errors import UserError


def episode_id_problem(episode: str) -> str | None:
    """Why ``episode`` cannot be an episode id, or None when it can.

    Spaces, non-ASCII letters, dots and apostrophes are fine (every shell path is
    quoted); a path separator, a leading dot (hidden files, macOS ``._`` copies),
    control characters (newlines, tabs) and braces (Snakemake wildcards) are not.
    """
    if not episode:
        return "the file name has no id before its suffix"
    if "/" in episode or "\\" in episode:
        return "a path separator (/ or \\) in the name"
    if episode.startswith("."):
        return "the name starts with a dot (a hidden file, e.g. a macOS '._' copy)"
    controls = sorted({repr(c) for c in episode if unicodedata.category(c)[0] == "C"})
    if controls:
        return f"control character(s) {', '.join(controls)} in the name"
    if "{" in episode or "}" in episode:
        return "braces { } in the name (Snakemake reads them as wildcards)"
    return None


def check_episode_ids(files: list[Path]) -> list[str]:
    """The episode ids (file stems) of ``files``; UserError listing every file whose
    name cannot be an id, and ids that two files share (ep01.mp4 and ep01.mkv)."""
    problems, seen = [], {}
    for path in sorted(files):
        episode = path.stem
        problem = episode_id_problem(episode)
        if problem:
            problems.append(f"{path!s}: {problem}")
        elif episode in seen:
            problems.append(f"{path!s}: episode id '{episode}' is also the id of {seen[episode]}")
        else:
            seen[episode] = path
    if problems:
        raise UserError(
            "episode video names that cannot be episode ids (rename the files): " + "; ".join(problems)
        )
    return sorted(seen)
