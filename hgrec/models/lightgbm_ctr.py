"""LightGBM click model: the gradient-boosted tree a practitioner fits first, on the same split, test rows
and features as the neural CTR models (hgrec/data/ctr_features.py: profiles, item side features, request
context, causal counters and, with `cross`, the user x author / genre counters).

Not a torch model and not in the registry: it reads `CTRData.features.frame(rows)` (counts and rates as
numbers, categories as LightGBM categoricals) and never the history sequence itself, which the counters
summarise. Early stopping on validation AUC decides the number of trees; `best_iteration` and the number
of trees grown are reported like a neural run's best_epoch and epochs.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from hgrec.data.ctr_samples import CTRData


@dataclasses.dataclass
class LightGBMConfig:
    num_leaves: int = 63
    learning_rate: float = 0.05
    max_rounds: int = 3000  # a cap that does not bind: early stopping ends every run on our data
    early_stopping_rounds: int = 100
    min_data_in_leaf: int = 100
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    lambda_l2: float = 1.0
    num_threads: int = 0  # 0 = LightGBM's default (one per core)


class LightGBMCTR:
    def __init__(self, config: LightGBMConfig | None = None, seed: int = 0):
        self.config = config or LightGBMConfig()
        self.seed = seed
        self.booster = None
        self.best_iteration = self.rounds = 0
        self.train_seconds = 0.0

    def fit(self, data: CTRData) -> "LightGBMCTR":
        import lightgbm as lgb

        f = data.features
        if f is None or not len(f):
            raise ValueError("LightGBM needs side features or counters: build the CTR data with features=(...)")
        c = self.config
        categorical = [j for j, field in enumerate(f.fields) if not field.numeric]
        names = [field.name.replace(".", "__") for field in f.fields]
        params = {"objective": "binary", "metric": "auc", "num_leaves": c.num_leaves, "learning_rate": c.learning_rate,
                  "min_data_in_leaf": c.min_data_in_leaf, "feature_fraction": c.feature_fraction,
                  "bagging_fraction": c.bagging_fraction, "bagging_freq": 1, "lambda_l2": c.lambda_l2,
                  "seed": self.seed, "deterministic": True, "verbosity": -1, "num_threads": c.num_threads,
                  "max_cat_to_onehot": 8, "cat_smooth": 10.0}
        tr, va = data.train, data.valid
        dtrain = lgb.Dataset(f.frame(tr.rows), tr.labels, feature_name=names, categorical_feature=categorical,
                             free_raw_data=True)
        dvalid = lgb.Dataset(f.frame(va.rows), va.labels, reference=dtrain)
        t0 = time.perf_counter()
        history: dict = {}
        self.booster = lgb.train(params, dtrain, num_boost_round=c.max_rounds, valid_sets=[dvalid],
                                 callbacks=[lgb.early_stopping(c.early_stopping_rounds, verbose=False),
                                            lgb.record_evaluation(history)])
        self.train_seconds = time.perf_counter() - t0
        self.best_iteration = int(self.booster.best_iteration)
        self.rounds = len(history["valid_0"]["auc"])  # trees grown before early stopping ended the run
        self.train_samples = len(tr.rows)
        return self

    def predict(self, data: CTRData, rows: np.ndarray) -> np.ndarray:
        """Click probabilities of the exposures `rows` (flat indices), in their order."""
        if self.booster is None:
            raise RuntimeError("fit the model first")
        return self.booster.predict(data.features.frame(rows), num_iteration=self.best_iteration).astype(np.float32)

    def importance(self) -> dict[str, float]:
        """Total gain per feature, largest first (what the tree leans on)."""
        gain = self.booster.feature_importance("gain")
        names = self.booster.feature_name()
        order = np.argsort(-gain)
        return {names[i].replace("__", "."): round(float(gain[i]), 1) for i in order}
