"""What every adapter provides."""

from __future__ import annotations

from pathlib import Path

from hgrec.data.dataset import Dataset
from hgrec.data.errors import DataError


class Adapter:
    name: str = ""
    version: str = "1"
    options: dict = {}

    def source_files(self, root: Path) -> list[Path]:
        """The raw files `read` parses (their bytes are part of the cache key)."""
        raise NotImplementedError

    def read(self, root: Path) -> Dataset:
        raise NotImplementedError

    def _find(self, root: Path, *patterns: str, required: bool = True) -> list[Path]:
        """Files matching the first pattern that matches anything, in `root` or `root/data`."""
        root = Path(root)
        if not root.is_dir():
            raise DataError(f"dataset root for {self.name} is not a directory", root)
        for pattern in patterns:
            hits = sorted(p for d in (root, root / "data") if d.is_dir() for p in d.glob(pattern))
            if hits:
                return hits
        if required:
            raise DataError(f"no file matching {' or '.join(patterns)} for {self.name}", root)
        return []
