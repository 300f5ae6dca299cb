"""Experiments as TOML files: sweeps over (scheme, place, eps, M, N), real formats, overlays.

A config has these tables (see ``experiments/default.toml``)::

    name = "dichotomy"
    [problem]   a, d, b, sigma2, lr, schedule, batch, seed, iterate, test   (a Problem; M from grid)
    [grid]      M = [...], N = [...]                              (the (M, N) grid of the sweep)
    [[settings]] scheme, place, eps = [...] or bits = [...] (+ scale)  (one per scheme/place)
    [fit]       n_eff = "ratio" | "per-n", reference = "tuned" | "same-step"   (effective-size fit)
    [formats]   place, specs = [...], M, N = [...], seeds, schedule, profile_samples   (optional)
    [overlay]   M, N = [...], seeds, cases = ["place:scheme:eps", ...]               (optional)

What a run does and writes into ``out_dir``:

* for every setting and eps: the exact risk on the (M, N) grid and the effective-size fit against
  the full-precision surface (:mod:`bitscale.theory.effective`);
* ``[formats]``: Monte Carlo SGD with each real format (stochastic rounding) at one ``M``, paired
  with a full-precision run on the same data (reported risk: exact full-precision risk plus the
  mean paired difference, with the paired standard error), beside
  the exact curves of the idealised schemes at the format's measured ``eps_mul`` and ``eps_add``
  (:func:`bitscale.formats.noise_profile` on the sketched features);
* ``[overlay]``: exact and Monte Carlo curves of a few cases at small ``M``;
* ``results.csv`` (one row per configuration and N: engine, M, N, scheme, place, eps, format, lr,
  risk, se), ``summary.json`` and the PNG plots ``risk_vs_N.png``, ``risk_vs_M.png``,
  ``effective_sizes.png``, ``overlay.png`` and ``formats.png``.
"""

from __future__ import annotations

import csv
import json
import logging
import time
import tomllib
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Callable

import numpy as np

from bitscale.theory.effective import effective_sizes, quantized_lr
from bitscale.theory.curves import RiskCurve
from bitscale.theory.exact import exact_risk
from bitscale.theory.montecarlo import montecarlo_risk
from bitscale.theory.problem import FULL_PRECISION, PLACES, Noise, Problem, Quantization
from bitscale.theory.sketch import instance

log = logging.getLogger(__name__)

BUNDLED = ("default", "quick")


@dataclass(frozen=True)
class SettingSweep:
    """One ``[[settings]]`` entry: a scheme at a place over a list of eps."""

    scheme: str
    place: str
    eps: tuple[float, ...]

    def __post_init__(self) -> None:
        if self.scheme not in ("multiplicative", "additive"):
            raise ValueError(f"settings.scheme = {self.scheme!r}: the effective-size sweep needs "
                             "the exact engine, so 'multiplicative' or 'additive'.")
        if self.place not in PLACES:
            raise ValueError(f"settings.place = {self.place!r}: expected one of {PLACES}.")
        for e in self.eps:
            Noise(self.scheme, e)  # validates eps >= 0


def _sweep_eps(entry: dict) -> tuple[float, ...]:
    """A ``[[settings]]`` entry's eps list, given as ``eps = [...]`` or ``bits = [...]`` (with an
    optional ``scale`` for additive integer grids, :mod:`bitscale.theory.bits`)."""
    if "bits" in entry:
        if "eps" in entry:
            raise ValueError(f"settings entry {entry}: give eps or bits, not both.")
        return tuple(Noise(entry["scheme"], bits=int(b), scale=float(entry.get("scale", 1.0))).eps
                     for b in entry["bits"])
    return tuple(float(e) for e in entry["eps"])


@dataclass(frozen=True)
class FormatsBlock:
    """``[formats]``: real formats by Monte Carlo at one model size."""

    specs: tuple[str, ...]
    place: str = "data"
    M: int = 64
    N: tuple[int, ...] = (256, 1024, 4096)
    seeds: int = 64
    schedule: str = "constant"
    profile_samples: int = 4096


@dataclass(frozen=True)
class OverlayBlock:
    """``[overlay]``: exact vs Monte Carlo on a few cases."""

    cases: tuple[str, ...]
    M: int = 16
    N: tuple[int, ...] = (64, 256, 1024)
    seeds: int = 400


@dataclass(frozen=True)
class ExperimentConfig:
    """A parsed experiment (see the module docstring for the TOML layout)."""

    name: str
    problem: Problem
    M: tuple[int, ...]
    N: tuple[int, ...]
    settings: tuple[SettingSweep, ...]
    n_eff: str = "ratio"
    reference: str = "tuned"
    formats: FormatsBlock | None = None
    overlay: OverlayBlock | None = None

    @classmethod
    def from_dict(cls, data: dict) -> "ExperimentConfig":
        """Build and validate from the TOML's dict."""
        try:
            grid = data["grid"]
            M = tuple(int(m) for m in grid["M"])
            N = tuple(int(n) for n in grid["N"])
            problem = Problem(**{**data.get("problem", {}), "M": max(M)})
            settings = tuple(SettingSweep(s["scheme"], s["place"], _sweep_eps(s))
                             for s in data.get("settings", []))
        except KeyError as exc:
            raise ValueError(f"experiment config: missing key {exc}; expected [grid] M and N "
                             "and [[settings]] with scheme, place, eps (see "
                             "bitscale/theory/experiments/default.toml).") from None
        if not settings:
            raise ValueError("experiment config: no [[settings]]; add at least one, e.g. "
                             "scheme = 'additive', place = 'data', eps = [0.01].")
        if list(M) != sorted(set(M)) or list(N) != sorted(set(N)):
            raise ValueError(f"grid M = {list(M)}, N = {list(N)}: expected increasing lists.")
        fmt = data.get("formats")
        ov = data.get("overlay")
        fit = data.get("fit", {})
        return cls(
            name=str(data.get("name", "experiment")), problem=problem, M=M, N=N,
            settings=settings, n_eff=str(fit.get("n_eff", "ratio")),
            reference=str(fit.get("reference", "tuned")),
            formats=None if fmt is None else FormatsBlock(
                specs=tuple(fmt["specs"]), place=fmt.get("place", "data"), M=int(fmt.get("M", 64)),
                N=tuple(int(n) for n in fmt.get("N", (256, 1024, 4096))),
                seeds=int(fmt.get("seeds", 64)), schedule=fmt.get("schedule", "constant"),
                profile_samples=int(fmt.get("profile_samples", 4096))),
            overlay=None if ov is None else OverlayBlock(
                cases=tuple(ov["cases"]), M=int(ov.get("M", 16)),
                N=tuple(int(n) for n in ov.get("N", (64, 256, 1024))),
                seeds=int(ov.get("seeds", 400))),
        )

    @classmethod
    def load(cls, config: "str | Path | ExperimentConfig | None") -> "ExperimentConfig":
        """``None`` or ``"default"``: the bundled default; ``"quick"``: the bundled quick config;
        a path: a TOML file; an :class:`ExperimentConfig`: itself."""
        if isinstance(config, ExperimentConfig):
            return config
        if config is None or str(config) in BUNDLED:
            name = "default" if config is None else str(config)
            text = resources.files("bitscale.theory").joinpath(
                f"experiments/{name}.toml").read_text()
            return cls.from_dict(tomllib.loads(text))
        path = Path(config)
        if not path.is_file():
            raise FileNotFoundError(f"experiment config {str(path)!r} not found; pass a TOML "
                                    f"file or one of the bundled names {BUNDLED}.")
        return cls.from_dict(tomllib.loads(path.read_text()))


@dataclass(frozen=True)
class EffectiveRow:
    """One row of the effective-size table."""

    scheme: str
    place: str
    eps: float
    M: int
    M_eff: float
    M_eff_over_M: float
    N_eff_over_N: float
    E_add: float
    rms_log: float
    max_log: float
    lr: float
    E_add_se: float
    M_kept: int
    E_shrink: float
    E_lost: float


@dataclass(frozen=True)
class FormatRow:
    """A real format's measured noise profile and its Monte Carlo risk at the largest N."""

    spec: str
    eps_mul: float
    eps_add: float
    dominant: str
    r2: float
    risk: float
    se: float
    risk_mul: float
    risk_add: float
    risk_fp: float


@dataclass(frozen=True)
class ExperimentSummary:
    """What :func:`run_experiment` returns.

    Attributes
    ----------
    name : str
    table : tuple of EffectiveRow
        (scheme, place, eps, M) -> M_eff, M_eff/M, N_eff/N, E_add, fit quality.
    formats : tuple of FormatRow
    overlay_max_z : dict
        Case -> ``max_N |exact - MC| / SE`` of the overlay.
    plots : dict
        Plot name -> path of the PNG written.
    results_csv, summary_json : Path
    elapsed_s : float
    """

    name: str
    table: tuple[EffectiveRow, ...]
    formats: tuple[FormatRow, ...]
    overlay_max_z: dict
    plots: dict
    results_csv: Path
    summary_json: Path
    elapsed_s: float


_CSV_FIELDS = ("engine", "M", "N", "scheme", "place", "eps", "format", "lr", "risk", "se")


def _rows(curve, *, M, scheme, place, eps, fmt=""):
    return [{"engine": curve.engine, "M": M, "N": int(n), "scheme": scheme, "place": place,
             "eps": eps, "format": fmt, "lr": curve.lr, "risk": float(r), "se": float(s)}
            for n, r, s in zip(curve.n, curve.risk, curve.se)]


class _Progress:
    """Adapts ``progress`` (bool or callable(description, done, total)) to ticks."""

    def __init__(self, progress, total: int):
        self.total, self.done, self._bar, self._task = total, 0, None, None
        self._fn = progress if callable(progress) else None
        if progress is True:
            from rich.progress import Progress

            self._bar = Progress(transient=False)
            self._bar.start()
            self._task = self._bar.add_task("theory", total=total)

    def tick(self, what: str) -> None:
        self.done += 1
        if self._bar is not None:
            self._bar.update(self._task, advance=1, description=what)
        if self._fn is not None:
            self._fn(what, self.done, self.total)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def run_experiment(config: "str | Path | ExperimentConfig | None", out_dir: "str | Path",
                   progress: "bool | Callable[[str, int, int], None]" = True
                   ) -> ExperimentSummary:
    """Run an experiment and write ``results.csv``, ``summary.json`` and the plots.

    Parameters
    ----------
    config : str, Path, ExperimentConfig or None
        ``None``: the bundled default (the dichotomy, both schemes, real formats); ``"quick"``:
        the bundled quick config (seconds); a TOML path; or a parsed config.
    out_dir : str or Path
        Created if needed.
    progress : bool or callable
        ``True``: a Rich progress bar; ``False``: silent; a callable gets
        ``(description, done, total)`` after each unit of work.

    Returns
    -------
    ExperimentSummary
    """
    cfg = ExperimentConfig.load(config)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    n_settings = sum(len(s.eps) for s in cfg.settings)
    total = (n_settings + 1 + (len(cfg.formats.specs) if cfg.formats else 0)
             + (len(cfg.overlay.cases) if cfg.overlay else 0))
    bar = _Progress(progress, total)
    rows: list[dict] = []
    table: list[EffectiveRow] = []
    fits = []
    try:
        p = cfg.problem
        for m in cfg.M:
            rows += _rows(exact_risk(p.with_(M=m), FULL_PRECISION, cfg.N), M=m, scheme="none",
                          place="", eps=0.0)
        bar.tick("full precision")
        for sweep in cfg.settings:
            for eps in sweep.eps:
                quant = Quantization.single(sweep.place, sweep.scheme, eps)
                fit = effective_sizes(p, quant, cfg.M, cfg.N, n_eff=cfg.n_eff,
                                      reference=cfg.reference)
                fits.append((sweep, eps, fit))
                for i, m in enumerate(fit.M):
                    rows += [{"engine": "exact", "M": int(m), "N": int(n), "scheme": sweep.scheme,
                              "place": sweep.place, "eps": eps, "format": "",
                              "lr": float(fit.lr[i]), "risk": float(r), "se": 0.0}
                             for n, r in zip(fit.N, fit.risk_q[i])]
                    r = fit.rows()[i]
                    table.append(EffectiveRow(
                        scheme=sweep.scheme, place=sweep.place, eps=eps, M=int(m),
                        M_eff=r["M_eff"], M_eff_over_M=r["M_eff/M"], N_eff_over_N=r["N_eff/N"],
                        E_add=r["E_add"], rms_log=r["rms_log"], max_log=r["max_log"],
                        lr=float(fit.lr[i]), E_add_se=r["E_add_se"], M_kept=r["M_kept"],
                        E_shrink=r["E_shrink"], E_lost=r["E_lost"]))
                bar.tick(f"{sweep.place}:{sweep.scheme} eps={eps:g}")
        fmt_rows, fmt_curves = _run_formats(cfg, rows, bar) if cfg.formats else ((), {})
        overlay = _run_overlay(cfg, rows, bar) if cfg.overlay else {}
    finally:
        bar.close()
    csv_path = out / "results.csv"
    with csv_path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=_CSV_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    from bitscale.theory import plots

    plot_paths = plots.write_all(out, cfg, rows, fits, fmt_curves, overlay)
    elapsed = time.perf_counter() - t0
    summary = ExperimentSummary(
        name=cfg.name, table=tuple(table), formats=tuple(fmt_rows),
        overlay_max_z={k: v["max_z"] for k, v in overlay.items()}, plots=plot_paths,
        results_csv=csv_path, summary_json=out / "summary.json", elapsed_s=elapsed)
    summary.summary_json.write_text(json.dumps(_jsonable(cfg, summary), indent=2))
    return summary


def _jsonable(cfg: ExperimentConfig, s: ExperimentSummary) -> dict:
    return {
        "name": s.name, "elapsed_s": s.elapsed_s, "problem": asdict(cfg.problem),
        "grid": {"M": list(cfg.M), "N": list(cfg.N)}, "n_eff_mode": cfg.n_eff,
        "reference": cfg.reference,
        "sketch": "one sketch per seed (problem.seed), sizes nested; risk averaged over w*",
        "effective_sizes": [asdict(r) for r in s.table],
        "formats": [asdict(r) for r in s.formats],
        "overlay_max_z": s.overlay_max_z,
        "plots": {k: str(v) for k, v in s.plots.items()},
        "results_csv": str(s.results_csv),
    }


def _run_formats(cfg: ExperimentConfig, rows: list, bar: _Progress):
    import torch

    from bitscale import formats

    f = cfg.formats
    p = cfg.problem.with_(M=f.M, schedule=f.schedule)
    inst = instance(p.a, p.M, p.d, p.b, p.seed)
    # The noise profile is measured on the sketched features themselves (rows of M features).
    gen = torch.Generator().manual_seed(p.seed)
    rng = np.random.default_rng(p.seed)
    z = rng.standard_normal((f.profile_samples, p.M)) @ (inst.U * np.sqrt(inst.mu)).T
    fp = exact_risk(p, FULL_PRECISION, f.N, inst=inst)
    mc_fp = montecarlo_risk(p, FULL_PRECISION, f.N, seeds=f.seeds, rng_seed=p.seed, inst=inst)
    rows += _rows(fp, M=p.M, scheme="none", place="", eps=0.0)
    out_rows, curves = [], {"fp": fp}
    for spec in f.specs:
        prof = formats.noise_profile(spec, torch.from_numpy(z), rounding="stochastic",
                                     generator=gen)
        quant = Quantization.single(f.place, "format", spec=spec)
        mc = montecarlo_risk(p, quant, f.N, seeds=f.seeds, rng_seed=p.seed, inst=inst)
        # Control variate: the full-precision run on the same data stream (common random
        # numbers); risk = exact_fp + mean(format - fp), far less noisy than the raw MC mean
        # (SGD risks are heavy-tailed over seeds).
        diff = mc.samples - mc_fp.samples
        mc = RiskCurve(engine="montecarlo-paired", n=mc.n, risk=fp.risk + diff.mean(axis=1),
                       se=diff.std(axis=1, ddof=1) / np.sqrt(f.seeds), seeds=f.seeds, lr=mc.lr)
        rows += _rows(mc, M=p.M, scheme="format", place=f.place, eps=0.0, fmt=spec)
        ideal = {}
        for scheme, eps in (("multiplicative", prof.eps_mul), ("additive", prof.eps_add)):
            q = Quantization.single(f.place, scheme, eps)
            ideal[scheme] = exact_risk(p, q, f.N, lr=min(p.lr, quantized_lr(p, q, inst)),
                                       inst=inst)
            rows += _rows(ideal[scheme], M=p.M, scheme=scheme, place=f.place, eps=eps,
                          fmt=f"profile:{spec}")
        curves[spec] = {"mc": mc, **ideal, "profile": prof}
        out_rows.append(FormatRow(spec, prof.eps_mul, prof.eps_add, prof.dominant, prof.r2,
                                  float(mc.risk[-1]), float(mc.se[-1]),
                                  float(ideal["multiplicative"].risk[-1]),
                                  float(ideal["additive"].risk[-1]), float(fp.risk[-1])))
        bar.tick(f"format {spec}")
    return out_rows, curves


def _run_overlay(cfg: ExperimentConfig, rows: list, bar: _Progress) -> dict:
    ov = cfg.overlay
    p = cfg.problem.with_(M=ov.M, d=min(cfg.problem.d, max(10 * ov.M, ov.M)))
    out = {}
    for case in ov.cases:
        place, _, rest = case.partition(":")
        quant = (FULL_PRECISION if place == "none"
                 else Quantization(**{place: Noise.parse(rest)}))
        ex = exact_risk(p, quant, ov.N)
        mc = montecarlo_risk(p, quant, ov.N, seeds=ov.seeds, rng_seed=p.seed)
        noise = getattr(quant, place) if place != "none" else None
        scheme = noise.model if noise else "none"
        eps = noise.eps if noise else 0.0
        rows += _rows(ex, M=p.M, scheme=scheme, place=place, eps=eps, fmt="overlay")
        rows += _rows(mc, M=p.M, scheme=scheme, place=place, eps=eps, fmt="overlay")
        z = np.abs(ex.risk - mc.risk) / mc.se
        out[case] = {"exact": ex, "mc": mc, "max_z": float(z.max())}
        bar.tick(f"overlay {case}")
    return out


def default_config_path(name: str = "default") -> Path:
    """Path of a bundled config (``default`` or ``quick``)."""
    return Path(str(resources.files("bitscale.theory").joinpath(f"experiments/{name}.toml")))


__all__ = ["ExperimentConfig", "ExperimentSummary", "EffectiveRow", "FormatRow",
           "run_experiment", "default_config_path"]
