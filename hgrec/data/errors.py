"""The one exception the data layer raises for bad input: it always names the file (and line)."""

from __future__ import annotations

import os


class DataError(ValueError):
    """Input data is missing, malformed or inconsistent.

    The message starts with the file (and the 1-based line where there is one), so a user can open
    the file at the right place: ``u.data:17: expected 4 tab-separated fields, got 3``.
    """

    def __init__(self, message: str, path: str | os.PathLike | None = None, line: int | None = None):
        self.path = None if path is None else str(path)
        self.line = line
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)
