"""The ``bitscale`` command line: a thin skin over the library.

Each part registers its own commands from a module of this package (``formats_cmd``,
``theory_cmd``, ...). Commands parse arguments, call the library, and render with Rich; no
computation lives here.
"""

from __future__ import annotations

import typer

from bitscale.cli import formats_cmd, laws_cmd, study_cmd, theory_cmd, train_cmd

app = typer.Typer(
    name="bitscale",
    help="How many bits should I use, and what will it cost me in quality?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

for _module in (formats_cmd, theory_cmd, laws_cmd, train_cmd, study_cmd):
    _module.register(app)


def main() -> None:
    """Entry point of the ``bitscale`` console script."""
    app()
