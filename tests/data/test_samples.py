"""Next-item samples: windows cover every training transition once; eval histories end right before the target."""

import numpy as np

from hgrec.data.samples import next_item_data
from hgrec.data.views import positive_history


def test_windows_and_eval_sets_on_beauty(load):
    ds = load("amazon-beauty")
    d = next_item_data(ds, max_len=50)
    seq = positive_history(ds)
    # every user: test target = last item, valid = second to last (the TIGER split)
    assert len(d.test) == len(d.valid) == ds.num_users
    last = np.array([seq.user(u)[-1] for u in d.test.users[:500]])
    assert np.array_equal(d.test.truth[:500, 0], last)
    second = np.array([seq.user(u)[-2] for u in d.valid.users[:500]])
    assert np.array_equal(d.valid.truth[:500, 0], second)
    # test history ends with the valid item; valid history never contains the valid or test item
    assert np.array_equal(d.test.history[:500, -1], second)
    for u, h, t in zip(d.valid.users[:500], d.valid.history[:500], d.valid.truth[:500, 0]):
        full = seq.user(u)
        assert list(h[h > 0]) == list(full[:-2][-50:])
    # training windows: number of (input, target) pairs = sum over users of (n_train - 1)
    n_train = seq.lengths - 2
    pairs = ((d.train_items[:, :-1] > 0) & (d.train_items[:, 1:] > 0)).sum()
    assert pairs == (n_train - 1).sum()
    # no window contains a valid or test target of its user at a target position
    assert d.train_items.shape[1] == 51


def test_long_users_get_several_windows(load):
    ds = load("ml-100k")
    d = next_item_data(ds, max_len=200)
    seq = positive_history(ds)
    n_train = np.clip(seq.lengths - 2, 0, None)
    expect = np.where(n_train >= 2, np.ceil((n_train - 1) / 200), 0).sum()
    assert len(d.train_items) == expect
    pairs = ((d.train_items[:, :-1] > 0) & (d.train_items[:, 1:] > 0)).sum()
    assert pairs == np.clip(n_train - 1, 0, None).sum()
    # seen items for masking = every positive before the target
    i = 0
    u = d.test.users[i]
    assert list(d.test.seen_items[d.test.seen_offsets[i]:d.test.seen_offsets[i + 1]]) == list(seq.user(u)[:-1])
    assert d.has_timestamps and d.test.history_ts.max() < 2**31  # seconds, not ms


def test_subset_keeps_csr_consistent(load):
    d = next_item_data(load("sample"), 20)
    idx = np.array([5, 0, 3])
    s = d.test.subset(idx)
    for j, i in enumerate(idx):
        a = d.test.seen_items[d.test.seen_offsets[i]:d.test.seen_offsets[i + 1]]
        b = s.seen_items[s.seen_offsets[j]:s.seen_offsets[j + 1]]
        assert list(a) == list(b)


def test_next_k_samples_are_every_training_prefix_with_the_next_k_items(load):
    """Generative retrieval's samples (Beauty): one per training position with an item before it; history = the
    items before it (last max_len), target = it and the next <= k items, all inside the training part."""
    from hgrec.data.samples import next_k_samples

    ds = load("amazon-beauty")
    seq = positive_history(ds)
    s = next_k_samples(ds, max_len=3, k=2)
    n_train = seq.lengths - 2  # leave-one-out: the last two of every user are held out
    assert len(s) == np.clip(n_train - 1, 0, None).sum()
    rows = np.flatnonzero(s.users == s.users[0])
    full = seq.user(s.users[0])[: n_train[s.users[0]]]
    for j, r in enumerate(rows):  # position p = j + 1 of the user's training part
        p = j + 1
        h, t = s.history[r], s.target[r]
        assert list(h[h > 0]) == list(full[max(0, p - 3):p])
        assert list(t[t > 0]) == list(full[p:p + 2])
    assert s.history.shape[1] == 3 and s.target.shape[1] == 2 and bool((s.history[:, -1] > 0).all())
