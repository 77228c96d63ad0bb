"""GPU check, part 3: end-to-end fits on CUDA beside the CPU (see :mod:`benchmarks.gpu_check`).

* ``MHEClassifier`` with ``product``, ``cascade`` and ``sampling`` on PTB-shaped
  data (``../shared/data/ptb`` when present, else a generated token stream of
  the same shape: 10,000 words, the 3 previous words one-hot as sparse
  features), with ``bench_methods``' PTB settings, one epoch;
* ``MHEMultiLabelClassifier`` on Delicious-shaped data (the Mulan set when
  present, else generated: 500 features, 983 labels, ~19 labels a row);

each fit timed on CUDA and on the CPU in the same run (fewer rows there; each
after an untimed warm-up fit, which compiles the kernels on CUDA), as samples/s.
Then a CUDA-trained product model is pickled and loaded in a process where
CUDA is hidden (``CUDA_VISIBLE_DEVICES=""``), which must predict the same, and
a 2-process NCCL data-parallel fit runs where two GPUs are visible.

Usage: ``python -m benchmarks.gpu_parts_e2e --out FILE --work DIR [--limit-s S] [--quick]``
(``--predict-pickle DIR`` and ``--ddp-worker DIR`` are its own child modes).
"""

from __future__ import annotations

import os
import pickle
import sys
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from benchmarks._common import free_port, run_with_timeout
from benchmarks.gpu_report import Deadline, PartRecord, part_parser

ROOT = Path(__file__).resolve().parents[1]
V = 10_000  # PTB's vocabulary
#: rows per fit: (CUDA, CPU), full and --quick
ROWS = {"ptb": {False: (200_000, 20_000), True: (20_000, 1_000)},
        "delicious": {False: (12_920, 3_000), True: (2_000, 200)}}
#: rows of the untimed warm-up fit before each timed one (CUDA context, kernel compilation, first calls)
WARMUP_ROWS = {"cuda": 2048, "cpu": 256}


def ptb_shaped(n_rows: int, rng: np.random.Generator) -> tuple[sp.csr_matrix, np.ndarray, str]:
    """``(X, y, source)``: PTB's first ``n_rows`` training tokens, or a generated stream of that shape.

    Generated: Zipf-like word frequencies and a next word that depends on the
    previous one (a random successor table), so there is something to learn.
    """
    from skmhe.datasets import find_shared_data, load_ptb
    from skmhe.datasets._context_features import context_features

    if find_shared_data("ptb") is not None:
        bunch = load_ptb(context=3, subset="train", max_samples=n_rows)
        return bunch.X_train, bunch.y_train, "PTB (../shared/data/ptb)"
    freq = 1.0 / np.arange(1, V + 1)
    successors = rng.choice(V, size=(V, 8), p=freq / freq.sum())
    ids = np.empty(n_rows, dtype=np.int64)
    ids[0] = 0
    picks, fresh = rng.integers(0, 8, size=n_rows), rng.random(n_rows) < 0.3
    unigram = rng.choice(V, size=n_rows, p=freq / freq.sum())
    for i in range(1, n_rows):
        ids[i] = unigram[i] if fresh[i] else successors[ids[i - 1], picks[i]]
    return context_features(ids, 3, V, pad_id=1), ids, "generated, PTB-shaped (no ../shared/data/ptb)"


def delicious_shaped(n_rows: int, rng: np.random.Generator):
    """``(X, Y, source)``: Delicious' training rows, or generated data of its shape."""
    from skmhe.datasets import find_shared_data, load_mulan

    if find_shared_data("delicious") is not None:
        bunch = load_mulan("delicious", subset="train")
        return bunch.X_train[:n_rows], bunch.Y_train[:n_rows], "Delicious (../shared/data/delicious)"
    return (*topic_multilabel(n_rows, 500, 983, 19, rng), "generated, Delicious-shaped (no ../shared/data/delicious)")


def topic_multilabel(n_rows: int, n_features: int, n_labels: int, per_row: int, rng: np.random.Generator,
                     n_topics: int = 64):
    """Sparse ``(X, Y)``: each row draws a topic, then ``per_row`` labels and ``2 * per_row`` words
    from that topic's own 40 labels and 40 words (with repeats, so label sets vary in size)."""
    topic = rng.integers(0, n_topics, size=n_rows)
    topic_labels = rng.integers(0, n_labels, size=(n_topics, 40))
    topic_words = rng.integers(0, n_features, size=(n_topics, 40))
    rows = np.arange(n_rows)
    lab = topic_labels[topic[:, None], rng.integers(0, 40, size=(n_rows, per_row))]
    words = topic_words[topic[:, None], rng.integers(0, 40, size=(n_rows, 2 * per_row))]
    Y = sp.csr_matrix((np.ones(lab.size, bool), (np.repeat(rows, per_row), lab.ravel())), shape=(n_rows, n_labels))
    Y.sum_duplicates()
    X = sp.csr_matrix((np.ones(words.size, np.float32), (np.repeat(rows, 2 * per_row), words.ravel())),
                      shape=(n_rows, n_features))
    X.sum_duplicates()
    return X, Y


def estimator(model: str, device: str):
    """The estimator of ``model`` on ``device``: ``bench_methods``' PTB settings, ``bench_xmlc``'s for Delicious."""
    if model == "multilabel":
        from benchmarks.bench_xmlc import SKMHE_PARAMS
        from skmhe import MHEMultiLabelClassifier

        return MHEMultiLabelClassifier(**{**SKMHE_PARAMS, "max_iter": 1, "device": device})
    from benchmarks.bench_methods import DEFAULTS, MODEL_DEFAULTS
    from benchmarks.methods_models import mhe_classifier

    cfg = {**DEFAULTS["ptb"], **MODEL_DEFAULTS["ptb"].get(model, {}), "epochs": 1}
    return mhe_classifier(model, cfg, V, seed=0).set_params(device=device)


def timed_fit(model: str, device: str, X, y) -> dict:
    """Fit ``model`` on ``device``; rows, epochs, seconds, samples/s, the estimator."""
    est = estimator(model, device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        est.fit(X, y)
        if device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
    epochs = int(est.n_iter_)
    return {"n_rows": X.shape[0], "epochs": epochs, "fit_s": seconds,
            "samples_per_s": X.shape[0] * epochs / seconds, "final_loss": float(est.loss_curve_[-1]),
            "estimator": est}


def fits(rec: PartRecord, deadline: Deadline, quick: bool, cuda: bool, work: Path) -> None:
    """Every model on CUDA (when there is one) and on the CPU, recorded as ``fits`` rows."""
    rng = np.random.default_rng(0)
    rows = []
    for model in ("product", "cascade", "sampling", "multilabel"):
        data = "delicious" if model == "multilabel" else "ptb"
        n_cuda, n_cpu = ROWS[data][quick]
        n = n_cuda if cuda else n_cpu
        X, y, source = (delicious_shaped if data == "delicious" else ptb_shaped)(n, rng)
        rec.note(f"{model}: {source}")
        for device in ("cuda", "cpu") if cuda else ("cpu",):
            row = {"model": model, "data": data, "device": device}
            if deadline.left() < (15 if cuda else 5):
                rec.check(f"fit {model} {device}", "skipped", "no time left")
                continue
            rows_here = n if device == "cuda" else min(n, n_cpu)
            t0 = time.perf_counter()
            try:
                if cuda:  # untimed warm-up on each device, for a fair CUDA / CPU ratio
                    timed_fit(model, device, X[: WARMUP_ROWS[device]], y[: WARMUP_ROWS[device]])
                res = timed_fit(model, device, X[:rows_here], y[:rows_here])
                est = res.pop("estimator")
                row.update(res)
                ok = np.isfinite(res["final_loss"])
                rec.check(f"fit {model} {device}", "ok" if ok else "failed",
                          f"{res['samples_per_s']:,.0f} samples/s, final loss {res['final_loss']:.3f}",
                          time.perf_counter() - t0)
                if model == "product" and device == ("cuda" if cuda else "cpu"):
                    test = slice(rows_here, rows_here + 2000) if n > rows_here else slice(0, 2000)
                    save_for_pickle(est, X[test], work)
            except Exception:  # noqa: BLE001 - record and go on
                row["error"] = traceback.format_exc().strip().splitlines()[-1][:300]
                rec.check(f"fit {model} {device}", "failed", traceback.format_exc()[-1500:], time.perf_counter() - t0)
            rows.append(row)
            rec.figure("fits", rows)


def save_for_pickle(est, X, work: Path) -> None:
    """Pickle ``est``, the rows ``X`` and its predictions on them for :func:`pickle_round_trip`."""
    with open(work / "model.pkl", "wb") as f:
        pickle.dump(est, f)
    sp.save_npz(work / "X.npz", sp.csr_matrix(X))
    np.save(work / "pred_trained.npy", est.predict(X))


def predict_pickle(work: Path) -> None:
    """Child mode: load the pickled model (CUDA hidden) and save its predictions."""
    with open(work / "model.pkl", "rb") as f:
        est = pickle.load(f)
    device = next(est.network_.parameters()).device
    np.save(work / "pred_loaded.npy", est.predict(sp.load_npz(work / "X.npz")))
    print(f"loaded on {device}; CUDA available: {torch.cuda.is_available()}")


def pickle_round_trip(rec: PartRecord, work: Path, trained_on: str) -> None:
    """Load the saved model where CUDA is hidden; it must predict the same."""
    name = f"pickle ({trained_on}-trained, loaded with CUDA hidden)"
    if not (work / "model.pkl").exists():
        rec.check(name, "skipped", "no product model was trained")
        return
    t0 = time.perf_counter()
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", PYTHONPATH=str(ROOT))
    code, output = run_with_timeout([sys.executable, "-m", "benchmarks.gpu_parts_e2e", "--predict-pickle",
                                     str(work)], timeout=120, env=env, cwd=ROOT)
    if code != 0:
        rec.check(name, "failed", f"exit code {code}\n{output[-1500:]}", time.perf_counter() - t0)
        return
    a, b = np.load(work / "pred_trained.npy"), np.load(work / "pred_loaded.npy")
    agree = float(np.mean(a == b))
    rec.figure("pickle agreement", agree)
    rec.check(name, "ok" if agree == 1.0 else "failed",
              f"{agree:.4%} of {len(a)} predictions equal; {output.strip()[-200:]}", time.perf_counter() - t0)


#: backend of the data-parallel fit; ``gloo`` (on the CPU) only to try the code path without GPUs
DDP_BACKEND_ENV = "SKMHE_GPU_CHECK_DDP_BACKEND"


def ddp_worker(work: Path, n_rows: int = 20_000) -> None:
    """Child mode (under torchrun): a data-parallel product fit over NCCL; saves a parameter checksum."""
    import torch.distributed as dist

    backend = os.environ.get(DDP_BACKEND_ENV, "nccl")
    dist.init_process_group(backend)
    rank = dist.get_rank()
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", rank)))
    X, y, _ = ptb_shaped(n_rows, np.random.default_rng(0))
    t0 = time.perf_counter()
    est = estimator("product", "cuda" if backend == "nccl" else "cpu").fit(X, y)
    seconds = time.perf_counter() - t0
    checksum = sum(float(p.detach().double().sum()) for p in est.network_.parameters())
    np.save(work / f"ddp.rank{rank}.npy", np.array([checksum, seconds, est.n_iter_]))
    dist.destroy_process_group()


def ddp(rec: PartRecord, deadline: Deadline, work: Path) -> None:
    """A 2-process NCCL fit when two GPUs are visible; the ranks must end with the same parameters."""
    n_gpu = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if n_gpu < 2:
        rec.check("DDP NCCL 2 processes", "skipped", f"{n_gpu} CUDA device(s) visible: needs 2")
        return
    if deadline.left() < 40:
        rec.check("DDP NCCL 2 processes", "skipped", "no time left")
        return
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
           f"--master_port={free_port()}", "-m", "benchmarks.gpu_parts_e2e", "--ddp-worker", str(work)]
    code, output = run_with_timeout(cmd, timeout=deadline.left() - 5, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                                    cwd=ROOT)
    try:
        r0, r1 = (np.load(work / f"ddp.rank{r}.npy") for r in (0, 1))
    except OSError:
        rec.check("DDP NCCL 2 processes", "failed", f"exit code {code}\n{output[-1500:]}", time.perf_counter() - t0)
        return
    same = abs(r0[0] - r1[0]) <= 1e-6 * max(1.0, abs(r0[0]))
    rec.figure("ddp", {"checksum_rank0": r0[0], "checksum_rank1": r1[0], "fit_s": max(r0[1], r1[1]),
                       "samples_per_s": 20_000 * r0[2] / max(r0[1], r1[1])})
    rec.check("DDP NCCL 2 processes", "ok" if same and code == 0 else "failed",
              f"rank checksums {r0[0]:.6g} / {r1[0]:.6g}", time.perf_counter() - t0)


def main(argv=None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["--predict-pickle"]:
        predict_pickle(Path(argv[1]))
        return 0
    if argv[:1] == ["--ddp-worker"]:
        ddp_worker(Path(argv[1]), *map(int, argv[2:3]))
        return 0
    args = part_parser(__doc__).parse_args(argv)
    rec, deadline = PartRecord(args.out, "end_to_end"), Deadline(args.limit_s)
    cuda = torch.cuda.is_available()
    work = Path(args.work)
    if not cuda:
        rec.note("no CUDA device: CPU fits only (tiny with --quick); the pickle round trip uses a CPU-trained model")
    fits(rec, deadline, args.quick, cuda, work)
    pickle_round_trip(rec, work, "CUDA" if cuda else "CPU")
    ddp(rec, deadline, work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
