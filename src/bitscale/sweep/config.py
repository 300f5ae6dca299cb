"""Sweep configurations: a grid of training runs over (N, D, precision), read from TOML.

A sweep file looks like this (every table but ``[[models]]`` optional)::

    name = "my-sweep"
    seeds = [0]

    [[models]]                      # model shapes: N follows from them
    n_layer = 1
    d_model = 32
    n_head = 2

    [tokens]                        # token budgets D: absolute, or per non-embedding parameter
    absolute = [200_000, 600_000]   # or: per_param = [20, 80]

    [precision]
    train = ["fp32", "w4", "w4a8kv8"]   # QuantConfig strings (bitscale.nn.QuantConfig.parse)
    estimators = ["ste", "denoise"]     # crossed with every quantized training precision

    [ptq]                           # post-training weight quantization of every trained model
    targets = ["int4:channel", "int3:channel"]
    method = "rtn"

    [train]                         # TrainConfig fields shared by every run
    batch_size = 16
    lr = 3e-3
    warmup_fraction = 0.1           # warm-up steps = max(1, fraction · steps)

    [study]                         # what `bitscale study` does after the sweep
    bootstrap = 50
    theory = "quick"                # theory experiment preset ("" for its default)

The grid is the Cartesian product models × tokens × precisions (× estimators for quantized
ones) × seeds. Presets ``quick``, ``default`` and ``full`` ship inside the package
(``bitscale/sweep/presets/*.toml``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["PRESETS", "RunSpec", "SweepConfig", "load_sweep", "preset", "run_label"]

PRESETS = ("quick", "default", "full")

_MODEL_KEYS = {"n_layer", "d_model", "n_head"}
_SHARED_MODEL_KEYS = {"vocab_size", "seq_len"}
# TrainConfig fields a sweep may set for all its runs (the grid axes are set per run).
_TRAIN_KEYS = {
    "batch_size",
    "lr",
    "min_lr",
    "warmup",
    "warmup_fraction",
    "weight_decay",
    "betas",
    "grad_clip",
    "eval_tokens",
    "blowup_loss",
    "data",
    "threads",
}
_STUDY_KEYS = {"bootstrap", "theory", "compute_budgets"}


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: a short human label and the full training configuration.

    ``config`` is a :class:`bitscale.lm.TrainConfig`; ``payload`` its JSON form, which is what the
    store hashes and what a worker receives.
    """

    label: str
    config: Any

    @property
    def payload(self) -> dict:
        return self.config.to_dict()


@dataclass(frozen=True)
class SweepConfig:
    """A grid of training runs and what the study does with it.

    Attributes
    ----------
    name : str
    models : tuple of (n_layer, d_model, n_head)
        Model shapes; N is each shape's non-embedding parameter count.
    vocab_size, seq_len : int
        Shared by every model (byte-level: 256).
    tokens : tuple of int
        Absolute token budgets D (exclusive with ``tokens_per_param``).
    tokens_per_param : tuple of float
        Token budgets as D/N; D = round(ratio · N) down to whole optimizer steps.
    precisions : tuple of str
        Training precisions, as :meth:`bitscale.nn.QuantConfig.parse` reads them ("fp32" = none).
    estimators : tuple of str
        Gradient estimators crossed with every quantized precision.
    seeds : tuple of int
    ptq : tuple of str
        Post-training weight formats applied to every trained model (may be empty).
    ptq_method : {"rtn", "gptq"}
    train : dict
        Shared :class:`bitscale.lm.TrainConfig` fields, plus ``warmup_fraction``.
    bootstrap : int
        Bootstrap resamples of the study's fits.
    theory : str or None
        Preset of the theory experiment (None: its default).
    compute_budgets : tuple of float
        Training compute C = 6·N·D (FLOPs) at which the study reports the planner's P*.
    """

    name: str
    models: tuple[tuple[int, int, int], ...]
    precisions: tuple[str, ...]
    tokens: tuple[int, ...] = ()
    tokens_per_param: tuple[float, ...] = ()
    vocab_size: int = 256
    seq_len: int = 64
    estimators: tuple[str, ...] = ("ste",)
    seeds: tuple[int, ...] = (0,)
    ptq: tuple[str, ...] = ()
    ptq_method: str = "rtn"
    train: dict = field(default_factory=dict)
    bootstrap: int = 50
    theory: str | None = None
    compute_budgets: tuple[float, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        if not self.models:
            raise ValueError(f"sweep {self.name!r}: no [[models]]; add at least one model shape")
        if bool(self.tokens) == bool(self.tokens_per_param):
            raise ValueError(
                f"sweep {self.name!r}: give exactly one of tokens.absolute ({list(self.tokens)}) "
                f"and tokens.per_param ({list(self.tokens_per_param)})"
            )
        if any(d < 1 for d in self.tokens) or any(r <= 0 for r in self.tokens_per_param):
            raise ValueError(f"sweep {self.name!r}: token budgets must be positive")
        if not self.precisions:
            raise ValueError(f"sweep {self.name!r}: precision.train is empty; add e.g. \"fp32\"")
        if not self.seeds:
            raise ValueError(f"sweep {self.name!r}: seeds is empty; add e.g. [0]")
        unknown = set(self.train) - _TRAIN_KEYS
        if unknown:
            raise ValueError(
                f"sweep {self.name!r}: unknown [train] keys {sorted(unknown)}; "
                f"expected some of {sorted(_TRAIN_KEYS)}"
            )
        if "warmup" in self.train and "warmup_fraction" in self.train:
            raise ValueError(f"sweep {self.name!r}: set train.warmup or train.warmup_fraction, not both")
        if self.ptq_method not in ("rtn", "gptq"):
            raise ValueError(f"sweep {self.name!r}: ptq.method {self.ptq_method!r}; expected 'rtn' or 'gptq'")
        if self.bootstrap < 0:
            raise ValueError(f"sweep {self.name!r}: study.bootstrap must be >= 0, got {self.bootstrap}")

    # -- reading -----------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict, *, name: str | None = None) -> "SweepConfig":
        """Build from the parsed TOML (see the module docstring for the layout)."""
        data = dict(data)
        known = {"name", "description", "seeds", "models", "model", "tokens", "precision", "ptq", "train", "study"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"sweep file: unknown top-level keys {sorted(unknown)}; expected some of {sorted(known)}")
        models = []
        for i, m in enumerate(data.get("models", [])):
            if set(m) != _MODEL_KEYS:
                raise ValueError(
                    f"sweep file: models[{i}] has keys {sorted(m)}; expected exactly {sorted(_MODEL_KEYS)}"
                )
            models.append((int(m["n_layer"]), int(m["d_model"]), int(m["n_head"])))
        shared = data.get("model", {})
        if set(shared) - _SHARED_MODEL_KEYS:
            raise ValueError(f"sweep file: [model] may set only {sorted(_SHARED_MODEL_KEYS)}, got {sorted(shared)}")
        tokens = data.get("tokens", {})
        if set(tokens) - {"absolute", "per_param"}:
            raise ValueError(f"sweep file: [tokens] takes 'absolute' or 'per_param', got {sorted(tokens)}")
        precision = data.get("precision", {})
        ptq = data.get("ptq", {})
        study = data.get("study", {})
        if set(study) - _STUDY_KEYS:
            raise ValueError(f"sweep file: [study] may set only {sorted(_STUDY_KEYS)}, got {sorted(study)}")
        theory = study.get("theory")
        return cls(
            name=str(data.get("name", name or "sweep")),
            description=str(data.get("description", "")),
            models=tuple(models),
            vocab_size=int(shared.get("vocab_size", 256)),
            seq_len=int(shared.get("seq_len", 64)),
            tokens=tuple(int(x) for x in tokens.get("absolute", ())),
            tokens_per_param=tuple(float(x) for x in tokens.get("per_param", ())),
            precisions=tuple(str(p) for p in precision.get("train", ("fp32",))),
            estimators=tuple(str(e) for e in precision.get("estimators", ("ste",))),
            seeds=tuple(int(s) for s in data.get("seeds", (0,))),
            ptq=tuple(str(t) for t in ptq.get("targets", ())),
            ptq_method=str(ptq.get("method", "rtn")),
            train=dict(data.get("train", {})),
            bootstrap=int(study.get("bootstrap", 50)),
            theory=theory if theory else None,
            compute_budgets=tuple(float(c) for c in study.get("compute_budgets", ())),
        )

    def to_dict(self) -> dict:
        """The TOML layout of :meth:`from_dict` (round-trips)."""
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "seeds": list(self.seeds),
            "model": {"vocab_size": self.vocab_size, "seq_len": self.seq_len},
            "models": [{"n_layer": a, "d_model": b, "n_head": c} for a, b, c in self.models],
            "tokens": {"absolute": list(self.tokens)} if self.tokens else {"per_param": list(self.tokens_per_param)},
            "precision": {"train": list(self.precisions), "estimators": list(self.estimators)},
            "ptq": {"targets": list(self.ptq), "method": self.ptq_method},
            "train": dict(self.train),
            "study": {
                "bootstrap": self.bootstrap,
                "theory": self.theory or "",
                "compute_budgets": list(self.compute_budgets),
            },
        }
        return out

    # -- the grid ----------------------------------------------------------------------------
    def runs(self) -> list[RunSpec]:
        """Expand the grid into one :class:`RunSpec` per run (validated TrainConfigs).

        Quantized precisions are crossed with :attr:`estimators` (a pair the estimator cannot
        handle, e.g. denoise with a float format, is left out; a precision naming its own
        ``est=`` is not crossed); unquantized ones ("fp32") run once per (model, tokens, seed).
        Duplicates (two spellings of one run) are dropped.
        """
        from bitscale.lm import GPT, ModelConfig, TrainConfig
        from bitscale.nn import QuantConfig

        from bitscale.sweep.store import config_key

        quants: list[str | None] = []
        for text in self.precisions:
            try:
                qc = QuantConfig.parse(text)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"sweep {self.name!r}: precision {text!r} does not parse: {exc}") from exc
            if all(v is None for v in (qc.weights, qc.activations, qc.kv_cache)):
                quants.append(None)
                continue
            if "est=" in text:
                # The precision names its own estimator: not crossed with the estimator list.
                quants.append(str(qc))
            else:
                for est in self.estimators:
                    try:
                        quants.append(str(replace(qc, estimator=est)))
                    except ValueError:
                        # e.g. denoise × a float format: the estimator needs an integer grid.
                        # The cross product simply has no such run.
                        continue
        quants = list(dict.fromkeys(quants))

        shared = {k: v for k, v in self.train.items() if k != "warmup_fraction"}
        if "betas" in shared:
            shared["betas"] = tuple(shared["betas"])
        warmup_fraction = float(self.train.get("warmup_fraction", 0.1))
        specs: list[RunSpec] = []
        seen: set[str] = set()
        for n_layer, d_model, n_head in self.models:
            model = ModelConfig(n_layer=n_layer, d_model=d_model, n_head=n_head,
                                vocab_size=self.vocab_size, seq_len=self.seq_len)
            n_params = GPT(model).num_params(non_embedding=True)
            budgets = self.tokens or tuple(r * n_params for r in self.tokens_per_param)
            probe = TrainConfig(model=model, **{k: v for k, v in shared.items() if k != "warmup"})
            step_tokens = probe.tokens_per_step
            for budget in budgets:
                steps = max(2, int(round(budget / step_tokens)))
                tokens = steps * step_tokens
                warmup = shared.get("warmup", max(1, int(warmup_fraction * steps)))
                for quant in quants:
                    for seed in self.seeds:
                        cfg = TrainConfig(
                            model=model,
                            tokens=tokens,
                            seed=seed,
                            quant=quant,
                            ptq=self.ptq,
                            ptq_method=self.ptq_method,
                            **{**shared, "warmup": min(warmup, steps - 1)},
                        )
                        key = config_key(cfg.to_dict())
                        if key not in seen:
                            seen.add(key)
                            specs.append(RunSpec(run_label(cfg, n_params), cfg))
        return specs


def run_label(config: Any, n_params: int) -> str:
    """A short human name of a run: ``N=13k D=400k w4a8 ste s0``."""
    def short(x: float) -> str:
        for unit, div in (("M", 1e6), ("k", 1e3)):
            if x >= div:
                return f"{x / div:.3g}{unit}"
        return f"{x:g}"

    quant = config.quant or "fp32"
    return f"N={short(n_params)} D={short(config.tokens)} {quant} s{config.seed}"


def load_sweep(source: str | Path) -> SweepConfig:
    """Read a sweep from a TOML file path, or a preset name (``quick``, ``default``, ``full``)."""
    text = str(source)
    if text in PRESETS:
        return preset(text)
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(
            f"sweep config {text!r} is neither a file nor a preset; expected a .toml path or one of {PRESETS}"
        )
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    return SweepConfig.from_dict(data, name=path.stem)


def preset(name: str) -> SweepConfig:
    """A sweep bundled with the package: ``quick`` (CI), ``default`` (the main job) or ``full``."""
    if name not in PRESETS:
        raise ValueError(f"unknown sweep preset {name!r}; expected one of {PRESETS}")
    text = resources.files("bitscale.sweep").joinpath("presets", f"{name}.toml").read_text()
    return SweepConfig.from_dict(tomllib.loads(text), name=name)

