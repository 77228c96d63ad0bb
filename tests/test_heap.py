"""Freed memory kept in glibc's heap during an estimator call (``skmhe._heap``)."""

from __future__ import annotations

import resource

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from skmhe import MHEClassifier, MHEMultiLabelClassifier, _heap

glibc_only = pytest.mark.skipif(
    _heap._LIBC is None, reason="not glibc, or malloc tuned by the environment: kept_heap is a no-op"
)


def _faults_of_refill(n_bytes: int, rounds: int = 8) -> int:
    """Fewest minor page faults of filling a fresh tensor of ``n_bytes`` over the last three of
    ``rounds`` (each freed before the next is made: glibc's heap may cycle through a few places
    before it settles)."""
    faults = []
    for _ in range(rounds):
        block = torch.empty(n_bytes // 4, dtype=torch.float32)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        block.fill_(1.0)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
        del block
    return min(faults[-3:])


def _resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


@glibc_only
def test_a_freed_large_block_is_reused_without_page_faults_inside_the_scope_and_given_back_after():
    # over glibc's largest mmap threshold (32 MiB), and larger than the blocks the other tests free
    size = 192 * 2**20
    pages = size // 4096
    outside = _faults_of_refill(size)
    with _heap.kept_heap():
        inside = _faults_of_refill(size)
        kept = _resident_bytes()
    given_back = kept - _resident_bytes()
    assert outside > pages // 2, "the default malloc maps a large block afresh: a fault a page"
    assert inside < pages // 20, f"{inside} faults for {pages} pages inside kept_heap, {outside} outside"
    assert given_back > size // 2, f"only {given_back} bytes went back to the kernel after the scope"


@glibc_only
def test_scopes_nest_and_restore_also_on_error():
    assert not _heap.heap_is_kept()
    with pytest.raises(RuntimeError, match="boom"):
        with _heap.kept_heap():
            with _heap.kept_heap():
                assert _heap.heap_is_kept()
            assert _heap.heap_is_kept(), "the inner scope must not end the outer one"
            raise RuntimeError("boom")
    assert not _heap.heap_is_kept()


@pytest.mark.parametrize(
    "env", [{"SKMHE_KEPT_HEAP": "0"}, {"MALLOC_MMAP_MAX_": "0"}, {"MALLOC_TRIM_THRESHOLD_": "1"}]
)
def test_opting_out_or_a_tuned_malloc_leaves_malloc_alone(monkeypatch, env):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert _heap._glibc() is None


@pytest.mark.parametrize("estimator", [MHEClassifier, MHEMultiLabelClassifier])
def test_estimator_calls_run_inside_the_scope(monkeypatch, estimator):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5))
    y = rng.integers(0, 4, size=40)
    target = sp.csr_matrix(np.eye(4, dtype=np.int64)[y]) if estimator is MHEMultiLabelClassifier else y
    seen = []
    train = estimator._train

    def spy(self, *args, **kwargs):
        seen.append(_heap.heap_is_kept())
        return train(self, *args, **kwargs)

    monkeypatch.setattr(estimator, "_train", spy)
    estimator(max_iter=2, random_state=0).fit(X, target)
    assert seen == [_heap._LIBC is not None]
    assert not _heap.heap_is_kept()
