from collections import Counter

import pytest

from tfgenre.core.tracks import Track
from tfgenre.errors import ConfigError, TfgenreError
from tfgenre.splitting.splits import (
    assign_splits,
    check_disjoint,
    limit_per_split,
    parse_fractions,
    require_disjoint,
)


def _tracks(n_labels=4, per_label=25, artists=True):
    out = []
    for li in range(n_labels):
        for i in range(per_label):
            group = f"artist{li}_{i // 3}" if artists else None
            out.append(Track(f"l{li}_{i:03d}", f"/x/{li}/{i}.wav", f"label{li}", group))
    return out


def test_parse_fractions_and_errors():
    assert parse_fractions("train=0.8,validation=0.1,test=0.1") == {
        "train": 0.8,
        "validation": 0.1,
        "test": 0.1,
    }
    assert parse_fractions("train=0.7,validation=0,test=0.3")["validation"] == 0.0
    with pytest.raises(ConfigError, match="must sum to 1"):
        parse_fractions("train=0.8,test=0.1")
    with pytest.raises(ConfigError, match="unknown split 'dev'"):
        parse_fractions("train=0.8,dev=0.2")
    with pytest.raises(ConfigError, match=">= 0"):
        parse_fractions("train=1.2,test=-0.2")


def test_splits_are_stable_stratified_grouped_and_disjoint():
    tracks = _tracks()
    fr = {"train": 0.6, "validation": 0.2, "test": 0.2}
    a = assign_splits(tracks, fr, seed=3)
    b = assign_splits(list(reversed(tracks)), fr, seed=3)
    assert {t.track_id: t.split for t in a} == {t.track_id: t.split for t in b}
    c = assign_splits(tracks, fr, seed=4)
    assert {t.track_id: t.split for t in a} != {t.track_id: t.split for t in c}
    assert check_disjoint(a).ok
    groups = {}
    for t in a:
        groups.setdefault(t.group, set()).add(t.split)
    assert all(len(s) == 1 for s in groups.values())
    per = Counter((t.label, t.split) for t in a)
    for li in range(4):
        # 25 tracks per label in groups of 3: within one group of the target.
        assert abs(per[(f"label{li}", "train")] - 15) <= 3
        assert per[(f"label{li}", "test")] >= 3


def test_zero_fraction_split_gets_nothing():
    a = assign_splits(_tracks(artists=False), {"train": 0.7, "validation": 0.0, "test": 0.3})
    counts = Counter(t.split for t in a)
    assert counts["validation"] == 0
    assert abs(counts["train"] - 70) <= 4 and counts["train"] + counts["test"] == 100


def test_disjointness_check_catches_shared_tracks_and_groups():
    t = [Track("a", "p", "x", "g1", "train"), Track("a", "p", "x", "g1", "test")]
    with pytest.raises(TfgenreError, match="two splits"):
        require_disjoint(t, source_defined=True)
    t = [Track("a", "p", "x", "g1", "train"), Track("b", "q", "x", "g1", "test")]
    with pytest.raises(TfgenreError, match="span two splits"):
        require_disjoint(t, source_defined=False)
    assert require_disjoint(t, source_defined=True).shared_groups == ("g1",)


def test_limit_per_split_balances_labels():
    a = assign_splits(_tracks(artists=False), {"train": 0.8, "test": 0.2})
    kept = limit_per_split(a, 8)
    per = Counter((t.split, t.label) for t in kept)
    assert all(v == 2 for v in per.values()) and len(kept) == 16
