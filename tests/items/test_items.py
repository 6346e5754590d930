"""Item vectors: the packaged text model works offline and is cached; collaborative vectors on real data."""

import numpy as np

from hgrec.items import encode_texts, item_text_embeddings, item_vectors


def test_text_model_offline_and_semantic():
    import os

    e = encode_texts(["start capacitor relay kit for air conditioners", "hard start capacitor for compressors",
                      "borosilicate glass laboratory beaker"])
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    assert e.shape == (3, 384) and np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    assert e[0] @ e[1] > e[0] @ e[2]


def test_item_text_embeddings_cached(load, tmp_path, monkeypatch):
    ds = load("amazon-scientific")
    small = ds.items.head(40)
    ds_small = type(ds)(ds.interactions, small, ds.users, ds.item_map, ds.user_map, ds.info)
    ds_small.info = ds.info
    emb = item_text_embeddings(ds_small, cache_dir=tmp_path)
    assert emb.shape == (41, 384) and not emb[0].any()
    import hgrec.items.text as text

    monkeypatch.setattr(text, "encode_texts", lambda *a, **k: (_ for _ in ()).throw(AssertionError("not cached")))
    again = item_text_embeddings(ds_small, cache_dir=tmp_path)
    assert np.array_equal(emb, again)
    # real titles: a capacitor kit is closer to another capacitor than to a random item
    titles = small["title"].to_list()
    assert all(isinstance(t, str) and t for t in titles)


def test_item_vectors_concatenates_blocks(load, tmp_path):
    ds = load("sample")
    v = item_vectors(ds, ("collab",), collab_dim=16)
    assert v.shape == (ds.num_items + 1, 16)
    try:
        item_vectors(ds, ("pixels",))
    except ValueError as e:
        assert "unknown item vector source 'pixels'" in str(e)
    else:
        raise AssertionError("expected ValueError")
