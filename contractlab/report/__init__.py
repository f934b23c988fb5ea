"""``contractlab report``: one self-contained HTML page from result files (issue 15).

:mod:`.load` recognises and validates each input (a ``verify_results``, ``regret_run``,
``design_run``, ``policy_check``, ``learning_curve`` or ``pamdp_solution`` JSON file, or a
benchmark dataset folder with ``index.parquet``); :mod:`.figures` draws the figures as inline SVG (matplotlib, the
``[plots]`` extra); :mod:`.html` builds the page (inline CSS, escaped text, no external URL).
"""

from __future__ import annotations

from .load import ReportInput, load_input

__all__ = ["ReportInput", "load_input", "build_report"]


def build_report(paths, title: str = "contractlab report") -> str:
    """The HTML page for the result files and dataset folders ``paths`` (in that order)."""
    from . import figures, html
    figures.require_matplotlib()
    inputs = [load_input(p) for p in paths]
    return html.render(inputs, title)
