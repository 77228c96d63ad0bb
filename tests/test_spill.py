"""Early stopping's best copy spilled to a temporary file: read back exactly, in place."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import skmhe._spill as spill
from skmhe import MHEClassifier
from skmhe._callbacks import History, NoImprovementStopping
from skmhe._spill import SpilledState, spillable, state_bytes

DTYPES = [torch.float32, torch.float64, torch.bfloat16, torch.float16, torch.int64, torch.bool]


class Holder(nn.Module):
    """Parameters and buffers of the drawn dtypes and shapes, some not contiguous."""

    def __init__(self, specs, generator):
        super().__init__()
        for i, (dtype, shape, transposed) in enumerate(specs):
            value = (torch.rand(shape, generator=generator) * 100).to(dtype)
            if transposed and value.dim() == 2:
                value = value.t()  # a strided, non-contiguous tensor
            if dtype.is_floating_point:
                self.register_parameter(f"p{i}", nn.Parameter(value))
            else:
                self.register_buffer(f"b{i}", value)


SPECS = st.lists(
    st.tuples(
        st.sampled_from(DTYPES),
        st.lists(st.integers(0, 5), min_size=0, max_size=3).map(tuple),
        st.booleans(),
    ),
    min_size=1,
    max_size=5,
)


def _scramble(module: nn.Module) -> None:
    with torch.no_grad():
        for value in module.state_dict().values():
            value.copy_(torch.zeros_like(value) if value.dtype == torch.bool else value * 0 + 7)


@settings(max_examples=40, deadline=None)
@given(specs=SPECS, seed=st.integers(0, 2**16))
def test_a_spilled_state_is_read_back_bit_for_bit_into_the_same_tensors(specs, seed):
    module = Holder(specs, torch.Generator().manual_seed(seed))
    expected = {k: v.clone() for k, v in module.state_dict().items()}
    pointers = {k: v.data_ptr() for k, v in module.state_dict().items()}
    held = SpilledState()
    held.write(module.state_dict())
    held.write(module.state_dict())  # written over, not appended
    _scramble(module)
    held.restore(module)
    state = module.state_dict()
    assert {k: v.data_ptr() for k, v in state.items()} == pointers
    for name, value in expected.items():
        assert state[name].dtype == value.dtype and torch.equal(state[name], value), name
    held.close()
    assert not held.written


def test_restore_refuses_another_layout_or_nothing_written():
    held = SpilledState()
    with pytest.raises(RuntimeError, match="does not match"):
        held.restore(nn.Linear(2, 2))
    held.write(nn.Linear(2, 2).state_dict())
    for other in (nn.Linear(3, 2), nn.Linear(2, 2).double(), nn.Linear(2, 2, bias=False)):
        with pytest.raises(RuntimeError, match="does not match"):
            held.restore(other)
    held.close()


def test_spillable_takes_large_dense_cpu_tensors_only():
    state = nn.Linear(4, 4).state_dict()
    assert state_bytes(state) == 4 * (16 + 4)
    assert spillable(state, min_bytes=80) and not spillable(state, min_bytes=81)
    assert not spillable({}, min_bytes=0)
    assert not spillable({**state, "extra": 1}, min_bytes=0)
    assert not spillable({"w": torch.eye(3).to_sparse()}, min_bytes=0)
    assert spill.SPILL_MIN_BYTES >= 2**20  # small models keep their copy in memory


def _epoch(stopper, history, module, score):
    history.record(loss=0.0, val_score=score)
    return stopper.on_epoch_end(history, module)


def test_the_stopper_spills_a_large_copy_and_restores_the_best(monkeypatch):
    monkeypatch.setattr(spill, "SPILL_MIN_BYTES", 0)
    torch.manual_seed(0)
    module = nn.Linear(5, 3)
    stopper, history = NoImprovementStopping("val_score", tol=0.0, patience=5), History()
    _epoch(stopper, history, module, 0.1)
    with torch.no_grad():
        module.weight.add_(1.0)
    best = {k: v.clone() for k, v in module.state_dict().items()}
    _epoch(stopper, history, module, 0.5)
    assert stopper.best_state is None and stopper.spilled.written  # nothing held in memory
    with torch.no_grad():
        module.weight.add_(1.0)
    _epoch(stopper, history, module, 0.2)  # worse: the file keeps the best
    stopper.on_train_end(module)
    assert all(torch.equal(module.state_dict()[k], v) for k, v in best.items())
    assert stopper.spilled is None  # the file is dropped


def test_a_copy_that_cannot_be_written_is_kept_in_memory(monkeypatch):
    def full_disk(self, state):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(spill, "SPILL_MIN_BYTES", 0)
    monkeypatch.setattr(SpilledState, "write", full_disk)
    module = nn.Linear(3, 2)
    stopper, history = NoImprovementStopping("val_score", tol=0.0, patience=5), History()
    _epoch(stopper, history, module, 0.1)
    best = module.weight.detach().clone()
    assert stopper.spilled is None and torch.equal(stopper.best_state["weight"], best)
    with torch.no_grad():
        module.weight.add_(1.0)
    _epoch(stopper, history, module, 0.0)
    stopper.on_train_end(module)
    assert torch.equal(module.weight, best)


def test_a_fit_whose_best_copy_is_spilled_equals_one_held_in_memory(monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int) + 2 * (X[:, 1] > 0)
    params = dict(hidden_layer_sizes=(16,), early_stopping=True, n_iter_no_change=3, max_iter=12,
                  learning_rate_init=0.3, random_state=0, n_jobs=1)
    in_memory = MHEClassifier(**params).fit(X, y)
    monkeypatch.setattr(spill, "SPILL_MIN_BYTES", 0)
    spilled = MHEClassifier(**params).fit(X, y)
    assert np.argmax(in_memory.validation_scores_) < len(in_memory.validation_scores_) - 1, (
        "the rate makes a later epoch worse, so that the best weights are restored"
    )
    for (name, a), b in zip(in_memory.network_.state_dict().items(), spilled.network_.state_dict().values()):
        assert torch.equal(a, b), name
