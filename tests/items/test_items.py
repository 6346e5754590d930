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


def test_text_words_embeds_only_the_first_words(load, tmp_path):
    ds = load("amazon-scientific")
    small = ds.items.head(20)
    ds_small = type(ds)(ds.interactions, small, ds.users, ds.item_map, ds.user_map, ds.info)
    full = item_text_embeddings(ds_small, cache_dir=tmp_path)
    short = item_text_embeddings(ds_small, cache_dir=tmp_path, words=3)
    first3 = encode_texts([" ".join(t.split()[:3]) for t in small["text"].to_list()])
    assert np.allclose(short[1:], first3, atol=1e-5) and not short[0].any()
    assert not np.allclose(full[1:], short[1:], atol=1e-3)  # real texts are longer than 3 words: a different cache
    assert np.array_equal(item_vectors(ds_small, ("text",), cache_dir=tmp_path, text_words=3), short)


def test_tokenize_config_rejects_negative_text_words():
    import pytest

    from hgrec.pipelines.tokenize import ItemsConfig

    with pytest.raises(ValueError, match="items.text_words must be >= 0"):
        ItemsConfig(text_words=-1)


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
