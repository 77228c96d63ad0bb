"""A module's state written to a temporary file and read back into its own tensors.

Early stopping keeps a copy of the best parameters seen, read once at the end of ``fit``. At
1e6 labels that copy is over a gigabyte of resident memory held through every later epoch
(``benchmarks/RESULTS.md``, "Scale"); a large one goes to an unnamed temporary file instead
(:class:`SpilledState`), written over in place at each improvement and read straight into the
parameters at the end, without a second copy in memory at any time.
"""

from __future__ import annotations

import tempfile

import torch

#: a best copy of at least this many bytes is spilled to a temporary file instead of memory
SPILL_MIN_BYTES = 256 * 2**20


def state_bytes(state: dict) -> int:
    """Bytes of the tensors of a ``state_dict``."""
    return sum(v.numel() * v.element_size() for v in state.values() if isinstance(v, torch.Tensor))


def spillable(state: dict, min_bytes: int | None = None) -> bool:
    """Whether ``state`` is worth spilling and can be: only dense CPU tensors, ``min_bytes`` in all.

    ``min_bytes`` defaults to :data:`SPILL_MIN_BYTES` (read at call time).
    """
    tensors = all(
        isinstance(v, torch.Tensor) and v.device.type == "cpu" and v.layout == torch.strided
        for v in state.values()
    )
    limit = SPILL_MIN_BYTES if min_bytes is None else min_bytes
    return bool(state) and tensors and state_bytes(state) >= limit


def _as_bytes(tensor: torch.Tensor):
    """The bytes of a contiguous tensor as a writable uint8 array sharing its memory."""
    return tensor.detach().reshape(-1).view(torch.uint8).numpy()


class SpilledState:
    """A ``state_dict`` of dense CPU tensors held in an unnamed temporary file.

    The file (:func:`tempfile.TemporaryFile`: no name on POSIX, gone when closed or when the
    process ends) is written over at each :meth:`write`; :meth:`restore` reads it back into the
    module's own parameters and buffers.
    """

    def __init__(self) -> None:
        self._file = None
        self._layout: list[tuple[str, tuple[int, ...], torch.dtype]] | None = None

    def write(self, state: dict) -> None:
        """Write ``state`` (see :func:`spillable`) over the last one written."""
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="skmhe_best_")
        self._layout = None  # a write that fails leaves nothing to restore
        self._file.seek(0)
        self._file.truncate()
        for value in state.values():
            self._file.write(memoryview(_as_bytes(value.contiguous())))
        self._file.flush()
        self._layout = [(name, tuple(v.shape), v.dtype) for name, v in state.items()]

    @property
    def written(self) -> bool:
        """Whether a state is held."""
        return self._layout is not None

    def restore(self, module: torch.nn.Module) -> None:
        """Read the state written last into ``module``'s own tensors, in place.

        Raises
        ------
        RuntimeError
            When nothing was written, or the module's state has another layout.
        """
        target = module.state_dict()
        tensors = all(isinstance(v, torch.Tensor) for v in target.values())
        layout = [(name, tuple(v.shape), v.dtype) for name, v in target.items()] if tensors else None
        if self._layout is None or layout != self._layout:
            raise RuntimeError("the spilled state does not match the module's parameters")
        self._file.seek(0)
        with torch.no_grad():
            for value in target.values():
                buffer = value if value.is_contiguous() else torch.empty(value.shape, dtype=value.dtype)
                self._read_into(_as_bytes(buffer))
                if buffer is not value:
                    value.copy_(buffer)

    def _read_into(self, array) -> None:
        view, done = memoryview(array), 0
        while done < len(view):
            got = self._file.readinto(view[done:])
            if not got:
                raise RuntimeError("the spilled state's file ended early")
            done += got

    def close(self) -> None:
        """Drop the file (and what it held)."""
        if self._file is not None:
            self._file.close()
        self._file, self._layout = None, None
