"""Data-parallel training with torch.distributed: a 2-process gloo job on 127.0.0.1 started by torchrun."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data.distributed import DistributedSampler

import _ddp_script as script

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._common import free_port, run_with_timeout  # noqa: E402
from skmhe._distributed import data_parallel, process_group, shard_order  # noqa: E402

#: wall-clock bound of the whole torchrun job (it takes about 15 s on 2 cores)
TIMEOUT_S = 240
WORLD_SIZE = 2
#: heads with no sampling: the 2-rank fit is the single-process one up to float rounding
DETERMINISTIC = ("product", "cascade", "cascade_sparse_linear", "multilabel")
#: cases with a fixed random_state
SEEDED = [case for case in script.CASES if case != "unseeded"]

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("n", [1, 7, 10, 64])
@pytest.mark.parametrize("world_size", [2, 3])
def test_shard_order_is_distributed_sampler(n, world_size):
    order = np.random.default_rng(n).permutation(n)
    for rank in range(world_size):
        sampler = DistributedSampler(range(n), num_replicas=world_size, rank=rank, shuffle=False)
        np.testing.assert_array_equal(shard_order(order, rank, world_size), order[list(sampler)])


def test_single_process_is_not_distributed():
    assert process_group() is None
    assert data_parallel(torch.nn.Linear(2, 2), {}, n_rows=10) is None


def _torchrun(out: Path, cases: list[str]) -> None:
    """Run the script on 2 local processes; kill the whole job past ``TIMEOUT_S``."""
    command = [
        sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={WORLD_SIZE}",
        "--master_addr=127.0.0.1", f"--master_port={free_port()}",
        str(ROOT / "tests" / "_ddp_script.py"), str(out), *cases,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    returncode, output = run_with_timeout(command, TIMEOUT_S, env=env, cwd=ROOT)
    assert returncode is not None, f"torchrun job did not finish in {TIMEOUT_S} s"
    assert returncode == 0, f"torchrun job failed:\n{output[-5000:]}"


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> dict[str, list[dict]]:
    """Every case's per-rank results from one torchrun job."""
    out = tmp_path_factory.mktemp("ddp")
    cases = [*script.CASES, "mismatch"]
    _torchrun(out, cases)
    return {c: [torch.load(out / f"{c}.rank{r}.pt") for r in range(WORLD_SIZE)] for c in cases}


@pytest.fixture(scope="module")
def single() -> dict[str, dict]:
    """Every case fit in this process, without a process group."""
    return {case: script.fit_case(case) for case in SEEDED}


@pytest.mark.parametrize("case", list(script.CASES))
def test_ranks_end_bit_identical(ranks, case):
    first, second = ranks[case]
    assert first["state"].keys() == second["state"].keys()
    for name, value in first["state"].items():
        assert torch.equal(value, second["state"][name]), name
    for key in ("n_iter", "loss_curve", "validation_scores", "accuracy", "seed"):
        assert first[key] == second[key], key


@pytest.mark.parametrize("case", SEEDED)
def test_accuracy_within_one_point_of_single_process(ranks, single, case):
    assert single[case]["accuracy"] > 0.5  # the task is learnt: the comparison means something
    assert abs(ranks[case][0]["accuracy"] - single[case]["accuracy"]) <= 0.01


@pytest.mark.parametrize("case", DETERMINISTIC)
def test_global_minibatch_matches_single_process(ranks, single, case):
    # rank r's strided share of each global minibatch: together the ranks take
    # exactly the rows the single process takes, so the fits agree up to rounding
    np.testing.assert_allclose(ranks[case][0]["loss_curve"], single[case]["loss_curve"], rtol=1e-4)


def test_early_stopping_is_agreed(ranks, single):
    first, second = ranks["sampling_sparse_early"]
    max_iter = script.COMMON["max_iter"]
    assert first["n_iter"] == second["n_iter"] < max_iter
    assert len(first["validation_scores"]) == first["n_iter"]
    assert first["validation_scores"] == pytest.approx(
        single["sampling_sparse_early"]["validation_scores"][: first["n_iter"]], abs=0.05
    )


def test_different_data_on_ranks_raises_on_every_rank(ranks):
    for rank, result in enumerate(ranks["mismatch"]):
        assert result["error"] is not None, rank
        assert "same (X, y) on every rank" in result["error"]
