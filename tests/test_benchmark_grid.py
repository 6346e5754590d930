"""`--grid` of benchmarks/sequential_reproduction.py: the same points for every model, `model:` axes for one."""

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "sequential_reproduction", Path(__file__).resolve().parents[1] / "benchmarks" / "sequential_reproduction.py")
seq = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(seq)


def test_grid_is_the_product_of_its_axes():
    pts = seq.grid_points(["trainer.lr=1e-3,2e-3", "model.dropout=0.3,0.5"], "sasrec")
    assert [label for label, _ in pts] == ["lr=1e-3 dropout=0.3", "lr=1e-3 dropout=0.5", "lr=2e-3 dropout=0.3",
                                           "lr=2e-3 dropout=0.5"]
    assert pts[1][1] == ["trainer.lr=1e-3", "model.dropout=0.5"]
    assert seq.grid_points([], "sasrec") == [("", [])]


def test_a_model_axis_applies_to_that_model_only():
    grid = ["trainer.weight_decay=0,0.1", "hstu:model.init=torch,reference"]
    assert [o for _, o in seq.grid_points(grid, "sasrec")] == [["trainer.weight_decay=0"], ["trainer.weight_decay=0.1"]]
    hstu = seq.grid_points(grid, "hstu")
    assert len(hstu) == 4 and hstu[-1] == ("weight_decay=0.1 init=reference",
                                          ["trainer.weight_decay=0.1", "model.init=reference"])
    assert seq.grid_points(["hstu:model.init=torch,reference"], "sasrec") == [("default", [])]


@pytest.mark.parametrize("bad", ["trainer.lr", "=1,2", "trainer.lr=", ":trainer.lr=1,2"])
def test_a_malformed_axis_is_a_clear_error(bad):
    with pytest.raises(SystemExit, match="expected \\[model:\\]key.path=v1,v2"):
        seq.grid_points([bad], "sasrec")


def test_reuse_looks_in_every_run_of_the_same_dataset_model_and_seed(tmp_path):
    for name in ["ds-hstu-s0", "ds-hstu-weight_decay_0.1-s0", "ds-hstu-weight_decay_0.1-s1", "ds-sasrec-wd-s0",
                 "ds-hstu-n_layers_4-s0"]:
        (tmp_path / name).mkdir()
    plain = tmp_path / "ds-hstu-s0"
    dirs = seq.candidate_dirs(tmp_path, "ds", "hstu", 0)
    # (after the point's own folder, which Bench.run looks in first) the plain run, then the others of seed 0 only
    assert dict.fromkeys(dirs) == dict.fromkeys([plain, tmp_path / "ds-hstu-n_layers_4-s0", plain,
                                                 tmp_path / "ds-hstu-weight_decay_0.1-s0"])


def test_paired_rows_hold_the_difference_from_the_reference(tmp_path, monkeypatch):
    import polars as pl

    n = 400
    truth = [[i % 50 + 1] for i in range(n)]
    miss = [100 + j for j in range(10)]
    files = {}
    for name, share in [("ref", 0.1), ("b", 0.3), ("other_seed", 0.0)]:
        ranked = [[t[0]] + miss[1:] if i < share * n else miss for i, t in enumerate(truth)]
        files[name] = tmp_path / f"{name}.parquet"
        pl.DataFrame({"user_id": list(range(n)), "truth": truth, "ranked": ranked}).write_parquet(files[name])
    monkeypatch.setattr(seq, "predictions_of", lambda run_dir, root, out=None: files[run_dir.name])

    def row(model, seed, selected=True):
        return {"dataset": "ds", "model": model, "seed": seed, "metrics": {}, "config": {"selected": selected}}

    ref, unselected, b, lone = row("sasrec", 0), row("sasrec", 0, False), row("hstu", 0), row("hstu", 1)
    run_of = {id(ref): (tmp_path / "ref", tmp_path), id(unselected): (tmp_path / "x", tmp_path),
              id(b): (tmp_path / "b", tmp_path), id(lone): (tmp_path / "other_seed", tmp_path)}
    seq.paired_with([ref, unselected, b, lone], "sasrec", run_of, type("A", (), {"data": tmp_path,
                                                                                 "predictions_dir": None})())
    assert b["metrics"]["diff_recall@5"] == pytest.approx(0.2)
    assert b["metrics"]["diff_low_recall@5"] < 0.2 < b["metrics"]["diff_high_recall@5"]
    assert b["metrics"]["diff_low_recall@5"] > 0
    assert ref["metrics"] == {} and lone["metrics"] == {}  # the reference itself; no reference for seed 1


def test_seed_summary_is_mean_and_std_of_the_selected_rows():
    def row(model, seed, ndcg, selected=True):
        m = {"recall@5": ndcg, "ndcg@5": ndcg, "recall@10": ndcg, "ndcg@10": ndcg, "valid_ndcg@10": ndcg}
        return {"dataset": "ds", "model": model, "seed": seed, "metrics": m, "config": {"selected": selected}}

    text = seq.seed_summary([row("sasrec", 0, 0.05), row("sasrec", 1, 0.07), row("sasrec", 1, 0.5, selected=False),
                             row("hstu", 0, 0.06)])
    assert "| ds | sasrec | 2 | 0.0600 ± 0.0141 |" in text  # the unselected 0.5 is left out
    assert "| ds | hstu | 1 | 0.0600 |" in text


def test_sorted_copy_sorts_each_users_items_and_keeps_the_rest(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "user_sequence.txt").write_text("u1 B02 A01 C03\nu2 Z9 B1\n")
    (src / "item_generative_indexing_phase_0.txt").write_text("A01 red lipstick\n")
    dst = seq.sorted_copy(src, tmp_path / "dst")
    assert (dst / "user_sequence.txt").read_text() == "u1 A01 B02 C03\nu2 B1 Z9\n"
    assert (dst / "item_generative_indexing_phase_0.txt").read_text() == "A01 red lipstick\n"  # linked, not changed
    assert (src / "user_sequence.txt").read_text().startswith("u1 B02")  # the source is untouched
    a = seq.order_agreement(src)  # u1: the latest item is also the last by ASIN; u2: it is not
    assert a["users"] == 2 and a["test_item_changed"] == 0.5 and a["valid_item_changed"] == 1.0
    assert a["median_kendall_tau"] == round((1 / 3 - 1) / 2, 4)


def test_sorted_copy_of_real_toys_is_the_same_interactions_in_asin_order(data_root, tmp_path):
    from hgrec.data import load_dataset

    dst = seq.sorted_copy(data_root / "amazon-toys", tmp_path / "toys")
    a = load_dataset("amazon-toys", data_root / "amazon-toys", cache_dir=tmp_path / "c1")
    b = load_dataset("amazon-toys", dst, cache_dir=tmp_path / "c2")
    assert a.interactions.height == b.interactions.height and a.num_users == b.num_users
    lines = (dst / "user_sequence.txt").read_text().splitlines()
    orig = (data_root / "amazon-toys" / "user_sequence.txt").read_text().splitlines()
    assert all(t[1:] == sorted(t[1:]) for t in (line.split() for line in lines))
    assert [sorted(line.split()) for line in lines] == [sorted(line.split()) for line in orig]
    # the control changes the answer: for about half of the users the latest item is not the last in ASIN order
    changed = sum(o.split()[-1] != s.split()[-1] for o, s in zip(orig, lines)) / len(lines)
    assert 0.3 < changed < 0.7


_gspec = importlib.util.spec_from_file_location(
    "generative_retrieval", Path(__file__).resolve().parents[1] / "benchmarks" / "generative_retrieval.py")


def _generative_retrieval():
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))  # it imports sequential_reproduction
    mod = importlib.util.module_from_spec(_gspec)
    _gspec.loader.exec_module(mod)
    return mod


def test_generative_retrieval_model_entries_carry_their_own_variants():
    gr = _generative_retrieval()
    assert gr.model_variants("tiger", ["default"]) == ("tiger", ["default"])
    assert gr.model_variants("higr:hybrid", ["default"]) == ("higr", ["hybrid"])
    assert gr.model_variants("higr:default,hybrid", ["default"]) == ("higr", ["default", "hybrid"])
    with pytest.raises(SystemExit, match="unknown variant 'wide'"):
        gr.model_variants("higr:wide", ["default"])


def test_generative_retrieval_pairs_against_the_named_reference_variant(tmp_path):
    import polars as pl

    gr = _generative_retrieval()
    n = 300
    truth = [[i % 40 + 1] for i in range(n)]
    files = {}
    for name, share in [("crq", 0.1), ("collab", 0.2), ("higr", 0.5)]:
        miss = list(range(900, 910))
        ranked = [[t[0]] + miss[1:] if i < share * n else miss for i, t in enumerate(truth)]
        files[name] = tmp_path / f"{name}.parquet"
        pl.DataFrame({"user_id": list(range(n)), "truth": truth, "ranked": ranked}).write_parquet(files[name])

    def row(model, variant):
        return {"dataset": "ds", "model": model, "variant": variant, "seed": 1, "metrics": {}}

    rows = [row("tiger", "crq_vae"), row("tiger", "collab"), row("higr", "collab hybrid"),
            row("tiger", "sorted collab"), row("higr", "sorted collab hybrid")]
    pred_of = {id(r): files[k] for r, k in zip(rows, ["crq", "collab", "higr", "crq", "collab"])}
    gr.add_paired(rows, "tiger", pred_of, "collab")
    assert rows[2]["metrics"]["diff_recall@10"] == pytest.approx(0.3)  # against tiger collab, not crq_vae
    assert rows[0]["metrics"]["diff_recall@10"] == pytest.approx(-0.1)
    assert rows[1]["metrics"] == {} and rows[3]["metrics"] == {}  # the references themselves
    assert rows[4]["metrics"]["diff_recall@10"] == pytest.approx(0.1)  # the sorted copy against its own reference
