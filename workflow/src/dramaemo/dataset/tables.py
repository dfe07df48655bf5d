"""Reading the CSV tables that steps hand to each other, with errors that name the file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dramaemo.core.errors import UserError

# Ids stay text even when they look like numbers (scene "0007" is not scene 7).
ID_COLUMNS = {"item_id": str, "scene_id": str}


def read_csv_checked(
    path: str | Path, required: tuple[str, ...] | list[str], *, dtype=None, what: str = "file", fix: str = ""
) -> pd.DataFrame:
    """A UTF-8 CSV with at least the `required` columns, empty cells kept as "".

    Columns are typed by pandas except the ids (ID_COLUMNS) unless `dtype` says otherwise.
    Every way it can fail is a UserError naming the file: `what` says what was expected
    there (e.g. "manifest") and `fix`, when given, how to make the missing file.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such {what}" + (f"; {fix}" if fix else ""))
    header = ",".join(required)
    try:
        table = pd.read_csv(
            path, dtype=ID_COLUMNS if dtype is None else dtype, keep_default_na=False, encoding="utf-8"
        )
    except pd.errors.EmptyDataError:
        raise UserError(f"{path}: empty file; expected the header {header}") from None
    except UnicodeDecodeError as error:
        raise UserError(f"{path}: not UTF-8 ({error.reason} at byte {error.start})") from None
    except pd.errors.ParserError as error:
        raise UserError(f"{path}: not a readable CSV ({error})") from None
    missing = [column for column in required if column not in table.columns]
    if missing:
        raise UserError(f"{path}: missing column(s) {', '.join(missing)}; expected {header}")
    return table
