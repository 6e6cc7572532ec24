"""The lab split-brain watcher's judgement: when do two sample series overlap?"""

from __future__ import annotations

from lab.split_brain import overlaps, writable_stretches


def test_a_writable_stretch_widens_to_the_samples_that_prove_otherwise():
    samples = [(1.0, "standby"), (2.0, "writable"), (3.0, "writable"), (4.0, "down")]
    assert writable_stretches(samples, end=9.0) == [(1.0, 4.0)]


def test_an_unknown_sample_proves_nothing_so_the_stretch_goes_on():
    samples = [(1.0, "writable"), (2.0, "unknown"), (3.0, "unknown"), (5.0, "down")]
    assert writable_stretches(samples, end=9.0) == [(1.0, 5.0)]


def test_a_host_still_writable_at_the_end_counts_until_the_end():
    assert writable_stretches([(1.0, "standby"), (2.0, "writable")], end=7.0) == [(1.0, 7.0)]


def test_a_clean_handover_is_no_overlap_and_a_promotion_too_early_is_one():
    old = writable_stretches([(0.0, "writable"), (1.0, "writable"), (1.5, "down")], end=9.0)
    clean = writable_stretches([(1.0, "standby"), (2.0, "standby"), (2.5, "writable")], end=9.0)
    early = writable_stretches([(1.0, "standby"), (1.2, "writable")], end=9.0)
    assert overlaps(old, clean) == []
    assert overlaps(old, early) == [(1.0, 1.5)]
