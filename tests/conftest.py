import os
from pathlib import Path

import pytest

# Real datasets live in ../shared/data beside the checkout (CI and developers); override with
# HGREC_TEST_DATA. Missing data is an error, not a skip: these tests are the point.
DATA = Path(os.environ.get("HGREC_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(scope="session")
def data_root() -> Path:
    if not DATA.is_dir():
        pytest.fail(f"real test data not found at {DATA}: set HGREC_TEST_DATA to the shared/data folder")
    return DATA


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    # Every test gets a private cache unless it asks for one explicitly.
    monkeypatch.setenv("HGREC_CACHE", str(tmp_path_factory.mktemp("hgrec-cache")))


_loaded = {}


@pytest.fixture(scope="session")
def load(data_root, tmp_path_factory):
    """load(name) -> Dataset read once per test session from the real files."""
    from hgrec.data import load_dataset

    cache = tmp_path_factory.mktemp("shared-cache")

    def _load(name):
        if name not in _loaded:
            root = None if name == "sample" else data_root / name
            _loaded[name] = load_dataset(name, root, cache_dir=cache)
        return _loaded[name]

    return _load
