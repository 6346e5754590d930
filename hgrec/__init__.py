"""hgrec: hierarchical generative recommendation (HiGR slates, HPGR CTR) and the baselines they replace.

Layers, lowest first (a layer never imports a higher one; "|" = siblings that never import each other):
config | utils -> data -> nn -> models -> tokenizers | items -> decoding | evaluation | training | alignment
-> pipelines (the glue: tasks, train, align, tokenize, load) -> serving -> cli. The contract is
[tool.importlinter] in pyproject.toml, checked by tests/test_architecture.py (`lint-imports`).
"""

__version__ = "0.1.0"
