"""Triton kernels for Multi-Head Encoding (installed as ``skmhe.kernels``).

Pure Triton: no autograd and no import of any other ``skmhe`` module. The
autograd Functions and the backend selection live in :mod:`skmhe.ops`.

Modules (import them through :func:`load`, never at ``skmhe`` import time):

``cross_entropy``
    Fused multi-head softmax cross-entropy: per-head log-sum-exp (online over
    column blocks), per-(row, head) loss and the gradient ``softmax - onehot``
    written once, in one launch.
``topk``
    Exact top-k over the Kronecker product of the heads' softmaxes, one
    program per row.

Triton is imported lazily: importing this package never fails where triton
is absent (macOS, Windows); :func:`triton_available` tells whether it can be
used.

``TRITON_INTERPRET=1`` (Triton's CPU interpreter) must be set before triton
is first imported in the process: each ``@triton.jit`` decorator, those of
``triton.language``'s own library (``tl.max``, ``tl.topk``, ...) included,
picks compiled or interpreted when it runs, at import. :func:`load` checks
that the current setting matches the mode triton and the kernels were built
in, and raises a clear error otherwise.
"""

from __future__ import annotations

import importlib
import os

__all__ = ["KERNEL_MODULES", "interpret_mode", "load", "triton_available", "triton_import_error"]

KERNEL_MODULES = ("cross_entropy", "topk")

_TRITON_STATE: dict[str, object] = {}


def _import_triton():
    if "ok" not in _TRITON_STATE:
        try:
            import triton  # noqa: F401
            import triton.language as tl

            missing = [name for name in ("topk", "gather", "cat") if not hasattr(tl, name)]
            if missing:
                raise ImportError(
                    f"triton {triton.__version__} lacks triton.language.{', '.join(missing)}; "
                    "skmhe's kernels need triton >= 3.3"
                )
        except Exception as exc:  # ImportError, or a broken install raising anything else
            _TRITON_STATE["ok"] = False
            _TRITON_STATE["error"] = f"{type(exc).__name__}: {exc}"
        else:
            _TRITON_STATE["ok"] = True
            _TRITON_STATE["error"] = None
    return _TRITON_STATE["ok"]


def triton_available() -> bool:
    """Whether triton imports here and has what the kernels use."""
    return bool(_import_triton())


def triton_import_error() -> str | None:
    """Why triton is unavailable (``None`` when it is available)."""
    _import_triton()
    return _TRITON_STATE["error"]  # type: ignore[return-value]


def interpret_mode() -> bool:
    """Whether Triton runs kernels through its CPU interpreter (``TRITON_INTERPRET``)."""
    if triton_available():
        try:
            from triton import knobs

            return bool(knobs.runtime.interpret)
        except (ImportError, AttributeError):  # pragma: no cover - triton < 3.4
            pass
    return os.environ.get("TRITON_INTERPRET", "0").strip().lower() in ("1", "true", "on", "yes")


def load(name: str):
    """The kernel module ``name`` (``"cross_entropy"`` or ``"topk"``).

    Raises
    ------
    ImportError
        If triton is unavailable.
    RuntimeError
        If ``TRITON_INTERPRET`` changed after triton was imported, so that the
        kernels cannot run in the mode it now asks for.
    """
    if name not in KERNEL_MODULES:
        raise ValueError(f"unknown kernel module {name!r}; expected one of {KERNEL_MODULES}")
    if not triton_available():
        raise ImportError(f"skmhe.kernels needs triton: {triton_import_error()}")
    module = importlib.import_module(f"{__name__}.{name}")
    want = interpret_mode()
    from triton.language import standard

    library_interpreted = type(standard.max).__name__ == "InterpretedFunction"
    if module.BUILT_FOR_INTERPRETER != want or library_interpreted != want:
        raise RuntimeError(
            f"TRITON_INTERPRET is {'set' if want else 'unset'} now, but triton was imported "
            f"with it {'set' if library_interpreted else 'unset'}: Triton fixes compiled vs "
            "interpreted kernels at import. Set TRITON_INTERPRET=1 (CPU interpreter) or leave it "
            "unset (CUDA) before triton is first imported in the process."
        )
    return module
