"""bitscale.report: the study's figures (:mod:`bitscale.report.plots`) and its self-contained HTML
page (:mod:`bitscale.report.html`, :func:`write_report`, :data:`SECTIONS`).

Build a page from a study folder with :func:`bitscale.sweep.build_report` or ``bitscale report DIR``.
"""

from bitscale.report.html import SECTIONS, render_report, write_report

__all__ = ["SECTIONS", "render_report", "write_report"]
