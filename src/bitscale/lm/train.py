"""The training loop: AdamW, cosine schedule, token budget, divergence, checkpoints, PTQ.

One call of :func:`train` trains one model for one token budget D and writes, into ``out_dir``:

* ``config.json`` — the :class:`TrainConfig`;
* ``metrics.jsonl`` — one JSON object a line: ``{"kind": "train", "step", "tokens", "lr", "loss",
  "grad_norm"}`` after every step, ``{"kind": "eval", "step", "tokens", "val_loss"}`` at every
  evaluation, ``{"kind": "ptq", "spec", "method", "loss", "delta"}`` per post-training target,
  and ``{"kind": "diverged", "step", "reason"}`` last when the run diverged;
* ``ckpt.pt`` — model, optimizer and step, every ``checkpoint_every`` steps and at the end;
* ``result.json`` — the :class:`TrainResult`.

Divergence: a non-finite training loss, a non-finite gradient norm (checked before the optimizer
step, so the weights stay finite) or a training loss above ``blowup_loss`` (default 2·ln V, twice
a uniform guess's loss) ends the run with status ``"diverged"`` and the reason; ``train`` returns
normally, so a sweep over learning rates or precisions records the failure instead of crashing.

Determinism on CPU: the initial weights come from ``torch.manual_seed(seed)`` (in a forked RNG, so
the caller's global generator is left alone), and the batch of step s is drawn from
``numpy.random.default_rng([seed, 0, s])``: it depends on (seed, s) only, so a run resumed from a
checkpoint sees exactly the batches the uninterrupted run saw, and ends with the same weights bit
for bit.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from bitscale.lm.data import Corpus, load_corpus
from bitscale.lm.model import GPT, ModelConfig

__all__ = ["PTQResult", "TrainConfig", "TrainResult", "evaluate", "lr_at", "train"]

_UNQUANTIZED_BITS = 16  # what the laws use for a tensor kept in high precision (the contract's value)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run.

    Parameters
    ----------
    model : ModelConfig
        Transformer size.
    tokens : int
        Token budget D; the run takes ``tokens // (batch_size · seq_len)`` optimizer steps.
    batch_size : int
        Sequences per step.
    lr, min_lr : float
        Peak and final learning rate of the schedule (:func:`lr_at`).
    warmup : int
        Steps of linear warm-up; must be smaller than the number of steps.
    weight_decay : float
        AdamW decoupled weight decay, applied to matrices (parameters with ≥ 2 dimensions) only,
        never to the RMSNorm gains.
    betas : (float, float)
        AdamW β₁, β₂.
    grad_clip : float
        Maximum global L2 norm of the gradient (0 disables clipping).
    seed : int
        Seeds the initial weights and the batches.
    quant : str or None
        Quantization-aware training config, as :meth:`bitscale.nn.QuantConfig.parse` reads it
        (e.g. ``"w4a8kv8"`` or ``"w=int4:channel,a=int8:tensor,est=denoise"``); None trains in
        float32.
    ptq : tuple of str
        Post-training weight formats (e.g. ``("int4:channel", "int3:channel")``) applied to the
        trained model with :func:`bitscale.nn.ptq`; the loss before and after is recorded.
    ptq_method : {"rtn", "gptq"}
        Rounding of the post-training quantization.
    eval_tokens : int
        Size of the fixed validation slice (the first ``eval_tokens`` validation tokens).
    eval_every : int
        Evaluate every this many steps (0: at the end only).
    checkpoint_every : int
        Write ``ckpt.pt`` every this many steps (0: at the end only).
    blowup_loss : float or None
        A training loss above this ends the run as diverged; None means 2·ln(vocab_size), twice
        the loss of a uniform guess.
    data : str or None
        Corpus path for :func:`bitscale.lm.load_corpus` (None: the standard library).
    device : str
        Torch device.
    threads : int or None
        ``torch.set_num_threads`` for the run (restored afterwards); None leaves it.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    tokens: int = 1_000_000
    batch_size: int = 16
    lr: float = 3e-3
    min_lr: float = 3e-4
    warmup: int = 50
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = 1.0
    seed: int = 0
    quant: str | None = None
    ptq: tuple[str, ...] = ()
    ptq_method: str = "rtn"
    eval_tokens: int = 32_768
    eval_every: int = 0
    checkpoint_every: int = 0
    blowup_loss: float | None = None
    data: str | None = None
    device: str = "cpu"
    threads: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.model, ModelConfig):
            raise TypeError(f"TrainConfig.model must be a ModelConfig, got {type(self.model).__name__}.")
        for name in ("tokens", "batch_size", "eval_tokens"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"TrainConfig.{name} must be a positive int, got {value!r}.")
        for name in ("warmup", "eval_every", "checkpoint_every", "seed"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"TrainConfig.{name} must be a non-negative int, got {value!r}.")
        tokens_per_step = self.batch_size * self.model.seq_len
        if self.tokens < tokens_per_step:
            raise ValueError(
                f"TrainConfig.tokens={self.tokens} is less than one step of batch_size × seq_len = "
                f"{tokens_per_step} tokens; raise tokens or lower batch_size."
            )
        if self.warmup >= self.steps:
            raise ValueError(
                f"TrainConfig.warmup={self.warmup} steps is not below the run's {self.steps} steps "
                f"(tokens // (batch_size · seq_len)); lower warmup or raise tokens."
            )
        if not (self.lr > 0 and 0 <= self.min_lr <= self.lr):
            raise ValueError(f"TrainConfig needs lr > 0 and 0 ≤ min_lr ≤ lr, got lr={self.lr}, min_lr={self.min_lr}.")
        if self.weight_decay < 0 or self.grad_clip < 0:
            raise ValueError("TrainConfig.weight_decay and grad_clip must be ≥ 0.")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"TrainConfig.betas must be two numbers in [0, 1), got {self.betas!r}.")
        if self.ptq_method not in ("rtn", "gptq"):
            raise ValueError(f"TrainConfig.ptq_method must be 'rtn' or 'gptq', got {self.ptq_method!r}.")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"TrainConfig.threads must be None or ≥ 1, got {self.threads!r}.")
        # Tuples, not lists, so that the config stays hashable and compares equal after JSON.
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        object.__setattr__(self, "ptq", tuple(self.ptq))
        if self.quant is not None:
            self.quant_config()  # parse once here, so a bad string fails before any work

    @property
    def steps(self) -> int:
        """Optimizer steps: ``tokens // (batch_size · seq_len)``."""
        return self.tokens // (self.batch_size * self.model.seq_len)

    @property
    def tokens_per_step(self) -> int:
        """``batch_size · seq_len``."""
        return self.batch_size * self.model.seq_len

    def quant_config(self):
        """The parsed :class:`bitscale.nn.QuantConfig`, or None for float32 training."""
        if self.quant is None:
            return None
        from bitscale.nn import QuantConfig

        return QuantConfig.parse(self.quant)

    def to_dict(self) -> dict:
        """Plain-JSON form; inverse of :meth:`from_dict`."""
        data = asdict(self)
        data["model"] = self.model.to_dict()
        data["betas"] = list(self.betas)
        data["ptq"] = list(self.ptq)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """Rebuild from :meth:`to_dict` output."""
        data = dict(data)
        data["model"] = ModelConfig.from_dict(data["model"])
        data["betas"] = tuple(data["betas"])
        data["ptq"] = tuple(data["ptq"])
        return cls(**data)


@dataclass(frozen=True)
class PTQResult:
    """Loss of the trained model after post-training weight quantization.

    ``delta`` is δ_PTQ = loss − val_loss (nats), the degradation caused by the quantization.
    """

    spec: str
    method: str
    loss: float
    delta: float


@dataclass(frozen=True)
class TrainResult:
    """Outcome of one run.

    Attributes
    ----------
    N : int
        Non-embedding parameters (:meth:`GPT.num_params`).
    D : int
        Tokens trained on (``steps · batch_size · seq_len``).
    P_w, P_a, P_kv : int or float
        Bits of weights, activations and KV cache during training (16 when kept in float;
        log2(3) ≈ 1.585 for ternary), from :attr:`bitscale.nn.QuantConfig.bits`.
    quant : str or None
        The QAT config string (canonical form), None for float32.
    estimator : str
        ``"ste"``, ``"ste-clip"``, ``"denoise"``, or ``"none"`` without QAT.
    status : {"done", "diverged"}
    reason : str or None
        Why a diverged run stopped.
    val_loss : float or None
        Final validation loss in nats per byte; None when diverged.
    ptq : tuple of PTQResult
    tokens_per_s : float
        Training throughput (evaluation excluded).
    wall_s : float
        Wall time of the run, summed over resumptions.
    corpus_sha256 : str
    seed : int
    steps : int
        Optimizer steps taken.
    train_loss : float or None
        Last training loss (None if not finite).
    """

    N: int
    D: int
    P_w: int | float
    P_a: int | float
    P_kv: int | float
    quant: str | None
    estimator: str
    status: str
    reason: str | None
    val_loss: float | None
    ptq: tuple[PTQResult, ...]
    tokens_per_s: float
    wall_s: float
    corpus_sha256: str
    seed: int
    steps: int
    train_loss: float | None

    def to_dict(self) -> dict:
        """Plain-JSON form; inverse of :meth:`from_dict`."""
        data = asdict(self)
        data["ptq"] = [asdict(p) for p in self.ptq]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> TrainResult:
        """Rebuild from :meth:`to_dict` output."""
        data = dict(data)
        data["ptq"] = tuple(PTQResult(**p) for p in data["ptq"])
        return cls(**data)


def lr_at(step: int, config: TrainConfig) -> float:
    """Learning rate of 0-based step ``step``: linear warm-up, then cosine decay.

    lr(s) = lr · (s + 1) / W for s < W, else
    lr(s) = min_lr + ½ (lr − min_lr) (1 + cos(π (s − W) / (S − W))), with W = warmup and
    S = steps (Loshchilov & Hutter, 2017, eq. 5, one cycle).
    """
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return config.min_lr + 0.5 * (config.lr - config.min_lr) * (1.0 + math.cos(math.pi * progress))


def _batch(tokens: np.ndarray, starts: np.ndarray, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    windows = np.asarray(tokens[starts[:, None] + np.arange(seq_len + 1)], dtype=np.int64)  # (B, T+1)
    data = torch.from_numpy(windows)
    return data[:, :-1], data[:, 1:]  # inputs (B, T), targets (B, T)


def train_batch(corpus: Corpus, config: TrainConfig, step: int, stream: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch of step ``step``: ``batch_size`` random windows of the training split.

    Depends only on (seed, stream, step); stream 0 is training, stream 1 PTQ calibration.
    """
    T = config.model.seq_len
    rng = np.random.default_rng([config.seed, stream, step])
    starts = rng.integers(0, corpus.train.size - T - 1, size=config.batch_size)
    return _batch(corpus.train, starts, T)


def _val_batches(corpus: Corpus, config: TrainConfig) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The fixed validation slice, cut into consecutive non-overlapping windows of seq_len."""
    T = config.model.seq_len
    n = min(config.eval_tokens, corpus.val.size - 1)
    n_windows = max(1, n // T)
    if corpus.val.size < T + 1:
        raise ValueError(
            f"validation split holds {corpus.val.size} tokens, fewer than seq_len + 1 = {T + 1}; "
            f"use a larger corpus or a shorter seq_len."
        )
    starts = np.arange(n_windows) * T
    for i in range(0, n_windows, config.batch_size):
        yield _batch(corpus.val, starts[i : i + config.batch_size], T)


@torch.no_grad()
def evaluate(model: torch.nn.Module, corpus: Corpus, config: TrainConfig) -> float:
    """Mean next-token cross-entropy (nats per byte) on the fixed validation slice."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    device = torch.device(config.device)
    for x, y in _val_batches(corpus, config):
        loss = model.loss(x.to(device), y.to(device))
        total += float(loss) * y.numel()
        count += y.numel()
    model.train(was_training)
    return total / count


def _optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    # foreach=False: the single-tensor path, same numbers on every CPU run.
    return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas, foreach=False)


def build_model(config: TrainConfig) -> GPT:
    """The seeded, optionally quantization-aware model of a run (on ``config.device``)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = GPT(config.model)
    qcfg = config.quant_config()
    if qcfg is not None:
        from bitscale.nn import quantize_

        quantize_(model, qcfg)
    return model.to(config.device)


def _as_bits(value: float) -> int | float:
    # Integral widths stay ints in result.json; ternary keeps its log2(3) ≈ 1.585 bits.
    return int(value) if float(value).is_integer() else float(value)


def _precisions(config: TrainConfig) -> tuple[int | float, int | float, int | float, str | None, str]:
    qcfg = config.quant_config()
    if qcfg is None:
        return _UNQUANTIZED_BITS, _UNQUANTIZED_BITS, _UNQUANTIZED_BITS, None, "none"
    bits = qcfg.bits
    return _as_bits(bits["w"]), _as_bits(bits["a"]), _as_bits(bits["kv"]), str(qcfg), str(qcfg.estimator)


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
    os.replace(tmp, path)


def _finite_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


class _Metrics:
    """Appends JSON lines to ``metrics.jsonl`` (or nowhere without an output folder)."""

    def __init__(self, path: Path | None, keep_until_step: int | None) -> None:
        self.fh = None
        if path is None:
            return
        kept: list[str] = []
        if keep_until_step is not None and path.exists():
            # Resuming: keep what the checkpointed steps logged, drop what came after them.
            for line in path.read_text().splitlines():
                rec = json.loads(line)
                if rec.get("kind") in ("train", "eval") and rec["step"] <= keep_until_step:
                    kept.append(line)
        self.fh = open(path, "w")
        for line in kept:
            self.fh.write(line + "\n")

    def log(self, **record) -> None:
        if self.fh is not None:
            self.fh.write(json.dumps(record, allow_nan=True) + "\n")

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()


def _progress_bar(total_tokens: int, done_tokens: int):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(
        TextColumn("[bold]train"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("tokens"),
        TextColumn("{task.fields[tps]:>8,.0f} tok/s"),
        TextColumn("loss {task.fields[loss]:.3f}"),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    task = progress.add_task("train", total=total_tokens, completed=done_tokens, tps=0.0, loss=float("nan"))
    return progress, task


def train(
    config: TrainConfig,
    out_dir: str | os.PathLike | None = None,
    progress: bool = True,
    resume: bool = True,
    *,
    on_step: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Train one model on one token budget; return (and write) its result.

    Each step s minimises the mean next-token cross-entropy of :func:`train_batch` with AdamW
    (Loshchilov & Hutter, 2019) at learning rate :func:`lr_at`, after clipping the gradient's
    global norm to ``grad_clip``. A non-finite loss or gradient norm, or a loss above
    ``blowup_loss``, ends the run with status ``"diverged"`` and the reason; it never raises.

    Parameters
    ----------
    config : TrainConfig
    out_dir : path or None
        Folder for ``config.json``, ``metrics.jsonl``, ``ckpt.pt`` and ``result.json``; None
        writes nothing.
    progress : bool
        Show a Rich progress bar (tokens, tokens/s, loss, ETA).
    resume : bool
        If ``out_dir`` holds a finished run of the same config, return its result; if it holds a
        checkpoint of the same config, continue from it. False starts afresh, overwriting.
    on_step : callable(step, loss) or None
        Called after every completed step (1-based count of steps done, training loss).

    Returns
    -------
    TrainResult
    """
    t_start = time.perf_counter()
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        prior = _read_prior(out, config) if resume else None
        if isinstance(prior, TrainResult):
            return prior
        if prior is None:
            # A fresh start: what an earlier run (perhaps of another config) left must not be
            # resumed from later.
            for stale in ("ckpt.pt", "result.json"):
                (out / stale).unlink(missing_ok=True)
        _write_json(out / "config.json", config.to_dict())
    else:
        prior = None

    old_threads = torch.get_num_threads()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    try:
        return _run(config, out, progress, prior, on_step, t_start)
    finally:
        torch.set_num_threads(old_threads)


def _read_prior(out: Path, config: TrainConfig) -> TrainResult | dict | None:
    """A finished result, a checkpoint (dict) of the same config, or None."""
    config_path = out / "config.json"
    if not config_path.exists():
        return None
    stored = TrainConfig.from_dict(json.loads(config_path.read_text()))
    if stored != config:
        raise ValueError(
            f"train: {str(out)!r} holds a run of a different config; pass another out_dir, or "
            f"resume=False to overwrite it."
        )
    if (out / "result.json").exists():
        return TrainResult.from_dict(json.loads((out / "result.json").read_text()))
    if (out / "ckpt.pt").exists():
        return torch.load(out / "ckpt.pt", map_location="cpu", weights_only=False)
    return None


def _save_checkpoint(out: Path | None, model, optimizer, step: int, train_s: float, wall_s: float) -> None:
    if out is None:
        return
    state = {
        "step": step,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "train_s": train_s,
        "wall_s": wall_s,
    }
    tmp = out / "ckpt.pt.tmp"
    torch.save(state, tmp)
    os.replace(tmp, out / "ckpt.pt")


def _run(
    config: TrainConfig,
    out: Path | None,
    show_progress: bool,
    prior: dict | None,
    on_step: Callable[[int, float], None] | None,
    t_start: float,
) -> TrainResult:
    corpus = load_corpus(config.data)
    if corpus.train.size < config.model.seq_len + 2:
        raise ValueError(
            f"train: the training split holds {corpus.train.size} tokens, fewer than seq_len + 2 = "
            f"{config.model.seq_len + 2}; use a larger corpus or a shorter seq_len."
        )
    model = build_model(config)
    optimizer = _optimizer(model, config)
    start_step, train_s, wall_before = 0, 0.0, 0.0
    if prior is not None:
        model.load_state_dict(prior["model"])
        optimizer.load_state_dict(prior["optimizer"])
        start_step, train_s, wall_before = prior["step"], prior["train_s"], prior["wall_s"]
    metrics = _Metrics(out / "metrics.jsonl" if out is not None else None, start_step if prior else None)
    blowup = config.blowup_loss if config.blowup_loss is not None else 2.0 * math.log(config.model.vocab_size)
    device = torch.device(config.device)

    status, reason, loss_value = "done", None, float("nan")
    train_s_before = train_s
    bar = task = None
    if show_progress:
        bar, task = _progress_bar(config.steps * config.tokens_per_step, start_step * config.tokens_per_step)
        bar.start()
    try:
        model.train()
        step = start_step
        while step < config.steps:
            t0 = time.perf_counter()
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, config)
            x, y = train_batch(corpus, config, step)
            loss = model.loss(x.to(device), y.to(device))
            loss_value = float(loss.detach())
            if not math.isfinite(loss_value):
                status, reason = "diverged", f"non-finite training loss ({loss_value}) at step {step}"
                break
            if loss_value > blowup:
                status, reason = "diverged", (
                    f"loss blow-up: training loss {loss_value:.3f} above {blowup:.3f} at step {step}"
                )
                break
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            max_norm = config.grad_clip if config.grad_clip > 0 else float("inf")
            grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm))
            if not math.isfinite(grad_norm):
                status, reason = "diverged", f"non-finite gradient norm ({grad_norm}) at step {step}"
                break
            optimizer.step()
            train_s += time.perf_counter() - t0
            step += 1
            metrics.log(kind="train", step=step, tokens=step * config.tokens_per_step,
                        lr=optimizer.param_groups[0]["lr"], loss=loss_value, grad_norm=grad_norm)
            if bar is not None:
                bar.update(task, advance=config.tokens_per_step,
                           tps=(step - start_step) * config.tokens_per_step / max(train_s - train_s_before, 1e-9),
                           loss=loss_value)
            if config.eval_every and step % config.eval_every == 0 and step < config.steps:
                metrics.log(kind="eval", step=step, tokens=step * config.tokens_per_step,
                            val_loss=evaluate(model, corpus, config))
            if config.checkpoint_every and step % config.checkpoint_every == 0 and step < config.steps:
                _save_checkpoint(out, model, optimizer, step, train_s, wall_before + time.perf_counter() - t_start)
            if on_step is not None:
                on_step(step, loss_value)
    except BaseException:
        metrics.close()
        raise
    finally:
        if bar is not None:
            bar.stop()
    if status == "diverged":
        metrics.log(kind="diverged", step=step, reason=reason)

    val_loss: float | None = None
    ptq_results: list[PTQResult] = []
    if status == "done":
        val_loss = evaluate(model, corpus, config)
        if not math.isfinite(val_loss):
            status, reason, val_loss = "diverged", f"non-finite validation loss ({val_loss})", None
    if status == "done":
        metrics.log(kind="eval", step=step, tokens=step * config.tokens_per_step, val_loss=val_loss)
        _save_checkpoint(out, model, optimizer, step, train_s, wall_before + time.perf_counter() - t_start)
        ptq_results = _post_training(model, corpus, config, val_loss)
        for p in ptq_results:
            metrics.log(kind="ptq", **asdict(p))
    metrics.close()

    P_w, P_a, P_kv, quant, estimator = _precisions(config)
    result = TrainResult(
        N=model.num_params(non_embedding=True),
        D=step * config.tokens_per_step,
        P_w=P_w,
        P_a=P_a,
        P_kv=P_kv,
        quant=quant,
        estimator=estimator,
        status=status,
        reason=reason,
        val_loss=val_loss,
        ptq=tuple(ptq_results),
        tokens_per_s=(step * config.tokens_per_step / train_s) if train_s > 0 else 0.0,
        wall_s=wall_before + time.perf_counter() - t_start,
        corpus_sha256=corpus.sha256,
        seed=config.seed,
        steps=step,
        train_loss=_finite_or_none(loss_value),
    )
    if out is not None:
        _write_json(out / "result.json", result.to_dict())
    return result


def _post_training(model: GPT, corpus: Corpus, config: TrainConfig, val_loss: float) -> list[PTQResult]:
    """δ_PTQ of each post-training target: loss of ``bitscale.nn.ptq(model, spec)`` − val_loss."""
    if not config.ptq:
        return []
    from bitscale.nn import ptq

    calibration = [train_batch(corpus, config, i, stream=1)[0] for i in range(8)]
    results = []
    for spec in config.ptq:
        quantized = ptq(model, spec, method=config.ptq_method, calibration=calibration)
        loss = evaluate(quantized, corpus, config)
        results.append(PTQResult(spec=spec, method=config.ptq_method, loss=loss, delta=loss - val_loss))
    return results

