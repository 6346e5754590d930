"""hgrec: hierarchical generative recommendation (HiGR slates, HPGR CTR) and the baselines they replace.

Layers, lowest first (a layer never imports a higher one):
utils -> data -> items -> tokenizers -> nn -> models -> decoding -> alignment -> training -> evaluation
-> serving -> cli. See docs/architecture.md.
"""

__version__ = "0.1.0"
