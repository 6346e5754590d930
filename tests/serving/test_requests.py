"""RequestMapper on the HiGR of the app tests (embedded KuaiRand slice): source ids in, the model's dense inputs
out, and every problem a RequestError naming it with its HTTP status."""

import numpy as np
import pytest

from hgrec.serving.requests import Limits, RequestError, RequestMapper, SlateQuery
from tests.serving.test_app import checkpoint  # noqa: F401 — the app tests' model


@pytest.fixture(scope="module")
def mapper(checkpoint):  # noqa: F811
    from hgrec.serving.recommend import Recommender

    return RequestMapper(Recommender.from_checkpoint(checkpoint), Limits())


def _raw_items(mapper, dense):
    return mapper.rec.ds.item_map.to_raw(np.asarray(dense)).tolist()


def test_unknown_user_is_404_naming_it_and_none_when_optional(mapper):
    with pytest.raises(RequestError, match="no-such-user") as e:
        mapper.user("no-such-user", required=True)
    assert e.value.status == 404
    assert mapper.user("no-such-user") is None and mapper.user(None, required=True) is None
    with pytest.raises(RequestError, match="unknown user id") as e:
        mapper.slate_row(SlateQuery(user_id="no-such-user"))
    assert e.value.status == 404
    known = mapper.rec.ds.user_map.to_raw([1]).tolist()[0]
    assert mapper.user(known, required=True) == 1


def test_too_long_history_keeps_its_last_max_len_items_and_says_so(mapper):
    L = mapper.max_len
    dense = np.arange(1, L + 4)
    row = mapper.slate_row(SlateQuery(history=_raw_items(mapper, dense), timestamps=list(range(L + 3)), slate_size=3))
    assert row.truncated and row.used == L and row.history.shape == (L,)
    assert row.history.tolist() == dense[-L:].tolist() and row.ts.tolist() == list(range(3, L + 3))
    short = mapper.slate_row(SlateQuery(history=_raw_items(mapper, dense[:2]), slate_size=3))
    assert not short.truncated and short.used == 2 and short.history[:-2].sum() == 0  # left-padded with 0
    assert row.key == (3, mapper.rec.cfg.data.beam, mapper.rec.cfg.data.mask_history)


def test_unknown_item_ids_in_a_history_are_422_naming_them(mapper):
    known = _raw_items(mapper, [1])
    for call in (lambda h: mapper.slate_row(SlateQuery(history=h)), lambda h: mapper.candidates(h)):
        with pytest.raises(RequestError, match="123456789.*987654321") as e:
            call(known + [123456789, 987654321])
        assert e.value.status == 422


def test_timestamps_of_another_length_are_422(mapper):
    history = _raw_items(mapper, [1, 2, 3])
    with pytest.raises(RequestError, match="timestamps: 2 values for a history of 3 items") as e:
        mapper.slate_row(SlateQuery(history=history, timestamps=[1.0, 2.0]))
    assert e.value.status == 422
    with pytest.raises(RequestError, match="timestamps: must be finite"):
        mapper.slate_row(SlateQuery(history=history, timestamps=[1.0, float("nan"), 2.0]))
