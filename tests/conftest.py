import os
from pathlib import Path

import pytest

# Real datasets live in ../shared/data beside the checkout (CI and developers); override with
# HGREC_TEST_DATA. Under CI=true missing data is an error: these tests are the point. A bare clone
# skips them (one summary line says which datasets and how to get them) and still runs the core path
# on the embedded KuaiRand-Pure sample.
DATA = Path(os.environ.get("HGREC_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
DATASETS = ("kuairand-pure", "ml-100k", "amazon-beauty", "amazon-toys", "amazon-scientific")
_skipped_for_data: list[str] = []


def _require_data() -> Path:
    if DATA.is_dir():
        return DATA
    message = f"real test data not found at {DATA}: set HGREC_TEST_DATA to the shared/data folder"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    _skipped_for_data.append(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def data_root() -> Path:
    return _require_data()


def pytest_terminal_summary(terminalreporter):
    """One line for the tests skipped for want of the real data (pytest's own -rs would list each), one per
    other skip reason."""
    reasons = {}
    for rep in terminalreporter.stats.get("skipped", []):
        reason = str(rep.longrepr[2] if isinstance(rep.longrepr, tuple) else rep.longrepr).removeprefix("Skipped: ")
        reasons[reason] = reasons.get(reason, 0) + 1
    missing = sum(n for r, n in reasons.items() if r.startswith("real test data not found"))
    if missing or _skipped_for_data:
        terminalreporter.write_line(
            f"{missing} tests skipped: no real data at {DATA} ({', '.join(DATASETS)}). "
            "Get them with `hgrec data fetch NAME` (docs/data.md) and set HGREC_TEST_DATA to their folder; "
            "CI=true makes missing data an error.")
    for reason, n in reasons.items():
        if not reason.startswith("real test data not found"):
            terminalreporter.write_line(f"{n} tests skipped: {reason}")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    # Every test gets a private cache unless it asks for one explicitly.
    monkeypatch.setenv("HGREC_CACHE", str(tmp_path_factory.mktemp("hgrec-cache")))


_loaded = {}


@pytest.fixture(scope="session")
def load(tmp_path_factory):
    """load(name) -> Dataset read once per test session from the real files ("sample": the embedded slice)."""
    from hgrec.data import load_dataset

    cache = tmp_path_factory.mktemp("shared-cache")

    def _load(name):
        if name not in _loaded:
            root = None if name == "sample" else _require_data() / name
            _loaded[name] = load_dataset(name, root, cache_dir=cache)
        return _loaded[name]

    return _load
