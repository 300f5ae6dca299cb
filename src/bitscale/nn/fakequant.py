"""The training hot path: integer fake quantization in a few elementwise passes.

:func:`bitscale.formats.quantize` is the general, bit-exact reference for every format. Training
calls a quantizer on every weight and activation of every step, so the integer-like grids (INT-k,
UINT-k, binary, ternary) get this small path of their own: one min/max reduction per group, then
multiply, round, clamp, multiply. ``tests/nn/test_fakequant.py`` checks it equals
``formats.quantize`` bit for bit on every grid it accepts.

Conventions (those of :mod:`bitscale.formats`). The tensor is viewed as ``(n_groups, group)`` along
its last axis: ``tensor`` -> one group, ``channel`` -> one group per row, ``group<g>`` -> groups of g.

* symmetric ``int<k>``: ``s = max|x| / (2^(k-1) - 1)``, codes ``clamp(round(x / s), -2^(k-1), 2^(k-1) - 1)``.
* ``uint<k>``: ``s = max|x| / (2^k - 1)``, codes ``clamp(round(x / s), 0, 2^k - 1)``.
* ``:affine`` (integers): ``s = (max - min) / (2^k - 1)``, ``b = min``, codes
  ``clamp(round((x - b) / s), 0, 2^k - 1)``, value ``s·code + b``.
* ``binary``: codes ``sign(x)`` in {-1, +1} (0 -> +1), ``s = mean|x|`` (the L2-optimal scale of a sign
  code, XNOR-Net); ``binary:affine``: codes {0, 1}, ``s = max - min``, ``b = min``.
* ``ternary``: codes ``clamp(round(x / s), -1, 1)``, ``s = mean|x|`` (BitNet b1.58).

Rounding is to nearest, ties to even (``torch.round``). A group of zeros gets ``s = 1``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

_GRID = re.compile(r"^(?P<kind>int|uint)(?P<bits>\d+)$|^(?P<named>binary|ternary)$")


@dataclass(frozen=True)
class Grid:
    """An integer-like quantization grid with its scaling granularity.

    Attributes
    ----------
    kind : {"int", "uint", "binary", "ternary"}
    bits : int
        Element width (binary 1, ternary 2 as stored).
    granularity : {"tensor", "channel", "group"}
    group : int
        Group size when ``granularity == "group"`` (0 otherwise).
    affine : bool
        Min/max scaling with an offset instead of symmetric scaling.
    """

    kind: str
    bits: int
    granularity: str
    group: int = 0
    affine: bool = False

    @property
    def qmin(self) -> int:
        """Smallest code."""
        if self.affine:
            return 0
        return {"int": -(2 ** (self.bits - 1)), "uint": 0, "binary": -1, "ternary": -1}[self.kind]

    @property
    def qmax(self) -> int:
        """Largest code."""
        if self.affine:
            return 1 if self.kind == "binary" else (2 ** self.bits - 1)
        return {"int": 2 ** (self.bits - 1) - 1, "uint": 2 ** self.bits - 1, "binary": 1,
                "ternary": 1}[self.kind]

    def view(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` reshaped to ``(n_groups, group_size)`` along its last axis."""
        if self.granularity == "tensor":
            return x.reshape(1, -1)
        if self.granularity == "channel":
            return x.reshape(-1, x.shape[-1]) if x.dim() else x.reshape(1, 1)
        if x.shape[-1] % self.group:
            raise ValueError(f"group size {self.group} does not divide the last axis "
                             f"({x.shape[-1]}); pick a group that divides it or use ':channel'")
        return x.reshape(-1, self.group)


def parse_grid(spec: str) -> Grid | None:
    """The :class:`Grid` of a spec such as ``"int4:group128:affine"``, or None for other formats.

    None means the spec is not an integer-like grid (a float, MX or NVFP4 format): callers then
    use :func:`bitscale.formats.quantize`.
    """
    parts = spec.lower().split(":")
    m = _GRID.fullmatch(parts[0])
    if m is None:
        return None
    if m.group("named"):
        kind, bits = m.group("named"), (1 if m.group("named") == "binary" else 2)
    else:
        kind, bits = m.group("kind"), int(m.group("bits"))
        if not 1 <= bits <= 16 or (kind == "int" and bits == 1 and "affine" not in parts):
            raise ValueError(f"{spec!r}: integer width must be 2..16 (int1 symmetric has no "
                             f"non-zero level; use 'binary' or 'int1:…:affine')")
    granularity, group, affine = "tensor", 0, False
    for p in parts[1:]:
        if p in ("tensor", "channel"):
            granularity = p
        elif p.startswith("group") and p[5:].isdigit() and int(p[5:]) > 0:
            granularity, group = "group", int(p[5:])
        elif p == "affine":
            affine = True
        elif p in ("symmetric", "absmax"):
            affine = False
        else:
            return None  # an option this path does not implement (e.g. MSE clipping): use formats
    if kind == "ternary" and affine:
        raise ValueError(f"{spec!r}: ternary is symmetric by definition; drop ':affine'")
    return Grid(kind, bits, granularity, group, affine)


def _min_max(xv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # Two vectorised reductions: torch.aminmax is ~30x slower on CPU (torch 2.13).
    return xv.amin(dim=-1, keepdim=True), xv.amax(dim=-1, keepdim=True)


def scale_offset(xv: torch.Tensor, grid: Grid, *, values: bool = False
                 ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-group scale ``s`` and offset ``b`` (None when symmetric), each of shape ``(n_groups, 1)``.

    ``xv`` is the grouped view from :meth:`Grid.view`; the result is detached from autograd (the
    scale is a statistic of the grid, not a learned quantity). A zero scale becomes 1 (safe to
    divide by), except for symmetric ``binary`` with ``values=True``: its codes are signs, so an
    all-zero group keeps ``s = 0`` and dequantizes to zeros, as :mod:`bitscale.formats` does.
    """
    with torch.no_grad():
        if grid.affine:
            lo, hi = _min_max(xv)
            s = (hi - lo) / (grid.qmax - grid.qmin)
            s = torch.where(s > 0, s, torch.ones_like(s))
            return s, lo
        if grid.kind in ("binary", "ternary"):
            s = xv.abs().mean(dim=-1, keepdim=True)
            if values and grid.kind == "binary":
                return s, None
        else:
            lo, hi = _min_max(xv)
            s = torch.maximum(-lo, hi) / grid.qmax
        return torch.where(s > 0, s, torch.ones_like(s)), None


def round_codes(f: torch.Tensor, grid: Grid) -> torch.Tensor:
    """Round the normalised values ``f = (x - b) / s`` to the grid's codes (same dtype)."""
    if grid.kind == "binary" and not grid.affine:
        return torch.where(f >= 0, 1.0, -1.0).to(f.dtype)
    return torch.round(f).clamp_(grid.qmin, grid.qmax)


def encode(x: torch.Tensor, grid: Grid) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``(codes, s, b)`` with ``x ≈ s·codes + b`` per group; codes in ``x``'s float dtype, grouped view."""
    xv = grid.view(x)
    s, b = scale_offset(xv, grid, values=True)
    if grid.kind == "binary" and not grid.affine:
        return round_codes(xv, grid), s, b  # sign codes: no division needed
    f = xv - b if b is not None else xv
    return round_codes(f / s, grid), s, b


def fake_quantize(x: torch.Tensor, grid: Grid) -> torch.Tensor:
    """Quantize then dequantize ``x`` on ``grid``: ``s·codes + b``, same shape and dtype as ``x``."""
    codes, s, b = encode(x, grid)
    out = codes.mul_(s)
    if b is not None:
        out = out.add_(b)
    return out.reshape(x.shape)


def quantize(x: torch.Tensor, spec: str) -> torch.Tensor:
    """Fake-quantize ``x`` along its last axis to ``spec``: the fast path when it applies, else formats."""
    grid = parse_grid(spec)
    if grid is not None:
        return fake_quantize(x, grid)
    from bitscale import formats

    return formats.quantize(x, spec, axis=-1)
