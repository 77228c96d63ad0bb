import os
import sys

import pytest
import torch

# Without CUDA the Triton kernels run in the interpreter. Triton fixes compiled vs
# interpreted for its own library when it is first imported in the process, so the
# choice is made here, before any test module can import it, whatever the order.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

# The loaders read data sets from the data home (skmhe.datasets.get_data_home): the tests
# point it at the shared, read-only data next to the checkout unless SKMHE_DATA says
# otherwise; the tests needing real data skip, naming the folder, where it is absent.
SHARED_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")
if not os.environ.get("SKMHE_DATA", "").strip() and os.path.isdir(SHARED_DATA):
    os.environ["SKMHE_DATA"] = os.path.normpath(SHARED_DATA)

sys.path.insert(0, os.path.dirname(__file__))

# the shared test helpers' asserts get pytest's detailed failure messages too
pytest.register_assert_rewrite("_baseline", "_kernel_support", "_strategies")


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread for a module of tiny tensors, where more threads only
    add overhead (to the Triton interpreter too) and oversubscribe a loaded
    machine. Restored after the module. Use it with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


#: device of ``test_ops``'s tensors: ``cpu`` (default) or ``cuda`` (the ops' property tests on
#: the GPU, where ``backend="auto"`` runs the Triton kernels; ``benchmarks.gpu_check`` sets it)
OPS_DEVICE_ENV = "SKMHE_OPS_TEST_DEVICE"


@pytest.fixture(scope="module")
def ops_device():
    """Make ``$SKMHE_OPS_TEST_DEVICE`` (default ``cpu``) torch's default device for a module.

    Skips the module when it asks for CUDA and there is none. Restored after the module.
    A default device also reaches factory calls inside skmhe that lack ``device=``, so it
    would hide such a bug; the GPU check's property loop and CUDA fits run without it.
    """
    name = os.environ.get(OPS_DEVICE_ENV, "cpu").strip() or "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        pytest.skip(f"{OPS_DEVICE_ENV}={name} but CUDA is unavailable")
    before = torch.get_default_device()
    torch.set_default_device(name)
    yield torch.device(name)
    torch.set_default_device(before)
