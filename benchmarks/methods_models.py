"""The models of ``bench_methods.py``: skmhe's estimators and torch's adaptive softmax on the same
backbone (napkinXC's peers are in ``methods_peers.py``)."""

from __future__ import annotations


def adaptive_network(n_features: int, n_classes: int, cfg: dict, sparse: bool, seed: int):
    """``MLPBackbone`` + ``torch.nn.AdaptiveLogSoftmaxWithLoss`` as an ``MHENetwork``."""
    import torch
    from torch import nn

    from skmhe.nn import MHENetwork, MLPBackbone

    class AdaptiveHead(nn.Module):
        """The head interface skmhe's training and this benchmark use."""

        def __init__(self, in_features):
            super().__init__()
            cutoffs = [c for c in cfg["cutoffs"] if c < n_classes]
            self.asm = nn.AdaptiveLogSoftmaxWithLoss(
                in_features, n_classes, cutoffs, div_value=cfg["div_value"]
            )

        def loss(self, features, targets):
            return self.asm(features, targets).loss

        def log_prob(self, features):
            return self.asm.log_prob(features)

    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # AdaptiveLogSoftmaxWithLoss initialises from the global RNG
    backbone = MLPBackbone(n_features, cfg["hidden"], "relu", generator=generator, sparse_grad=sparse)
    return MHENetwork(backbone, AdaptiveHead(backbone.out_features))


def train_adaptive(net, X, y, cfg: dict, sparse: bool, seed: int):
    """Train the adaptive softmax with skmhe's own loop (``skmhe._training.Trainer``); returns the optimizer.

    ``cfg``: ``batch_size``, ``lr``, ``alpha``, ``epochs`` and optionally ``schedule`` (one of
    ``skmhe._schedule.SCHEDULES``, default ``"constant"``).
    """
    import torch

    from skmhe._callbacks import History
    from skmhe._schedule import lr_schedule
    from skmhe._training import Trainer, make_optimizer

    batch_size = min(cfg["batch_size"], X.shape[0])
    optimizer = make_optimizer(net, cfg["lr"], cfg["alpha"], batch_size)
    steps = cfg["epochs"] * -(-X.shape[0] // batch_size)
    trainer = Trainer(
        network=net,
        optimizer=optimizer,
        device=torch.device("cpu"),
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
        sparse_batches=sparse,
        learning_rate=lr_schedule(cfg.get("schedule", "constant"), cfg["lr"], steps),
    )
    trainer.fit(X, y, max_epochs=cfg["epochs"], stopper=None, history=History())
    return optimizer


def evaluate_adaptive(net, X, y, k: int):
    """(top-k labels, log p(y|x)) of the adaptive softmax, in chunks of rows."""
    import numpy as np
    import torch

    from skmhe._batching import iter_slices, rows_to_batch

    net.eval()
    labels = np.empty((X.shape[0], k), dtype=np.int64)
    log_p = np.empty(X.shape[0], dtype=np.float64)
    target = torch.from_numpy(np.asarray(y, dtype=np.int64))
    with torch.no_grad():
        for rows in iter_slices(X.shape[0], 2048):
            log_prob = net.head.log_prob(net.backbone(rows_to_batch(X, rows, torch.device("cpu"))))
            labels[rows] = torch.topk(log_prob, k, dim=1).indices.numpy()
            log_p[rows] = log_prob.gather(1, target[rows].unsqueeze(1)).squeeze(1).double().numpy()
    return labels, log_p


def mhe_classifier(kind: str, cfg: dict, n_classes: int, seed: int):
    from skmhe import MHEClassifier

    return MHEClassifier(
        factors=(n_classes,) if kind == "dense" else tuple(cfg["factors"]),
        method=kind if kind in ("cascade", "sampling") else "product",
        hidden_layer_sizes=tuple(cfg["hidden"]),
        alpha=cfg["alpha"],
        batch_size=cfg["batch_size"],
        learning_rate_init=cfg["lr"],
        max_iter=cfg["epochs"],
        tol=0.0,
        n_iter_no_change=cfg["epochs"],
        learning_rate="constant",  # the configuration these benchmarks measured
        early_stopping=False,
        random_state=seed,
        device="cpu",
        embedding_size=cfg["embedding_size"],
        n_candidate_groups=cfg["n_candidate_groups"],
        n_sampled_groups=cfg["n_sampled_groups"],
        sampling_mode=cfg["sampling_mode"],
    )


def method_name(kind: str, cfg: dict, n_classes: int) -> str:
    if kind in ("plt", "hsm"):
        return f"napkinXC {kind.upper()} (linear nodes on the input, its defaults)"
    factors = "x".join(map(str, cfg["factors"]))
    if kind == "product":
        return f"MHE product {factors}"
    if kind == "cascade":
        return f"MHE cascade {factors}, d={cfg['embedding_size']}, beam {cfg['n_candidate_groups']}"
    if kind == "sampling":
        return f"MHE sampling {factors}, {cfg['n_sampled_groups']} groups ({cfg['sampling_mode']})"
    if kind == "dense":
        return f"dense softmax {n_classes}"
    cutoffs = ",".join(str(c) for c in cfg["cutoffs"] if c < n_classes)
    return f"adaptive softmax [{cutoffs}], div {cfg['div_value']:g}"
