"""Early stopping's best-parameter copy: one copy held at a time, restored exactly."""

import torch
from torch import nn

from skmhe._callbacks import History, NoImprovementStopping, copy_into, fits_into


def _epoch(stopper: NoImprovementStopping, history: History, module: nn.Module, score: float) -> bool:
    history.record(loss=0.0, val_score=score)
    return stopper.on_epoch_end(history, module)


def test_best_parameters_are_copied_into_the_same_tensors_and_restored():
    torch.manual_seed(0)
    module = nn.Linear(5, 3)
    stopper, history = NoImprovementStopping("val_score", tol=0.0, patience=5), History()
    _epoch(stopper, history, module, 0.1)
    pointers = {k: v.data_ptr() for k, v in stopper.best_state.items()}
    with torch.no_grad():
        module.weight.add_(1.0)
    best_weight = module.weight.detach().clone()
    _epoch(stopper, history, module, 0.5)  # an improvement: copied in place
    assert {k: v.data_ptr() for k, v in stopper.best_state.items()} == pointers
    assert torch.equal(stopper.best_state["weight"], best_weight)
    assert stopper.best_state["weight"].data_ptr() != module.weight.data_ptr()
    with torch.no_grad():
        module.weight.add_(1.0)
    _epoch(stopper, history, module, 0.2)  # worse: the copy stays
    assert torch.equal(stopper.best_state["weight"], best_weight)
    stopper.on_train_end(module)
    assert torch.equal(module.weight, best_weight)


def test_a_state_of_another_layout_is_copied_afresh():
    small, large = nn.Linear(2, 2).state_dict(), nn.Linear(3, 2).state_dict()
    assert fits_into(small, nn.Linear(2, 2).state_dict())
    assert not fits_into(small, large)
    assert not fits_into(small, {k: v.double() for k, v in small.items()})
    assert not fits_into(small, {"weight": small["weight"]})
    stopper, history = NoImprovementStopping("val_score", tol=0.0, patience=5), History()
    module = nn.Linear(2, 2)
    _epoch(stopper, history, module, 0.1)
    stopper._keep(large)
    assert stopper.best_state["weight"].shape == (2, 3)
    assert stopper.best_state["weight"].data_ptr() != large["weight"].data_ptr()


def test_copy_into_writes_values_and_keeps_the_tensors():
    held = {"w": torch.zeros(3), "n": 1}
    out = copy_into(held, {"w": torch.arange(3.0), "n": 2})
    assert out is held and torch.equal(held["w"], torch.arange(3.0)) and held["n"] == 2
