"""The README's Python example runs as written (against the real KuaiRand-Pure files)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example(data_root, monkeypatch):
    block = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    block = block.replace('"../shared/data/kuairand-pure"', repr(str(data_root / "kuairand-pure")))
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)
    assert scope["s"].height > 0 and scope["rows"].height == 228_329
    assert list(scope["ds"].item_map.to_raw([1, 2])) == [0, 1]
