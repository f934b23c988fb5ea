"""The figures of ``contractlab report`` as inline SVG strings (matplotlib, the ``[plots]`` extra).

Every figure is drawn on a fresh :class:`matplotlib.figure.Figure` (no pyplot state) and
written with the SVG backend (:func:`to_svg`): glyphs as paths (``svg.fonttype = "path"``, so the
page needs no font), no metadata and no namespace URLs, and every element id prefixed per figure
so that several SVGs inline in one page never share one. Text that comes from an input (a
designer's name, a theorem id) goes through :func:`_plain`, which escapes every ``$`` so that
matplotlib never reads it as mathtext; matplotlib itself escapes the text it copies into SVG
comments.
"""

from __future__ import annotations

import functools
import io
import math
import re
import warnings

import numpy as np

from ..theory.errors import InvalidInstanceError

_counter = [0]


def require_matplotlib() -> None:
    """Fail with one line naming the extra when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise InvalidInstanceError("report", "needs matplotlib, which is not installed: "
                                             "pip install 'contractlab[plots]'") from None


def _figure(width: float = 6.4, height: float = 4.0):
    require_matplotlib()
    from matplotlib.figure import Figure
    return Figure(figsize=(width, height), dpi=100)


def _plain(text) -> str:
    """Input text as a label: one line, at most 80 characters, every ``$`` escaped (matplotlib
    then draws it literally, and reads no mathtext)."""
    s = " ".join(str(text).split())
    s = s if len(s) <= 80 else s[:79] + "…"
    if s.startswith("_"):  # matplotlib leaves labels starting with "_" out of legends
        s = " " + s
    return s.replace("$", r"\$")


def _drawn(draw):
    """Run a figure-drawing function with glyphs drawn as paths (the page needs no font)."""
    @functools.wraps(draw)
    def wrapper(*args, **kwargs):
        require_matplotlib()
        import matplotlib
        with matplotlib.rc_context({"svg.fonttype": "path"}), warnings.catch_warnings():
            # extreme but valid numbers (1e300 on a log axis) make numpy warn while matplotlib
            # places ticks; the figure is still drawn, and the warning says nothing to the reader
            warnings.simplefilter("ignore", RuntimeWarning)
            return draw(*args, **kwargs)
    return wrapper


def to_svg(fig) -> str:
    """The figure as an ``<svg>`` element (no XML declaration or doctype), ids unique in the page."""
    import matplotlib
    _counter[0] += 1
    salt = f"contractlab-report-{_counter[0]}"
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": salt, "svg.id": None}):
        fig.tight_layout()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    svg = buf.getvalue()
    svg = svg[svg.find("<svg"):]
    # Inline in HTML the namespaces are implied, and the RDF metadata says nothing to a reader:
    # dropping both leaves no URL of any kind in the page.
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, count=1, flags=re.S)
    svg = re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", svg[:svg.find(">") + 1], count=2) + svg[svg.find(">") + 1:]
    # matplotlib numbers ids per figure (figure_1, glyph DejaVuSans-30, ...): prefix them so that
    # no two figures of the page share one (a reference would resolve to the first figure's).
    prefix = f"f{_counter[0]}-"
    svg = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}{m.group(1)}"', svg)
    svg = re.sub(r'(href="#|url\(#)([^")]+)', lambda m: f"{m.group(1)}{prefix}{m.group(2)}", svg)
    return svg.replace("<svg ", f'<svg role="img" class="figure" data-figure="{_counter[0]}" ', 1)


def _loglog(ax, low: float) -> None:
    ax.set_xscale("log")
    if low > 0:
        ax.set_yscale("log")
    else:  # a non-positive value cannot sit on a log axis
        ax.set_yscale("symlog", linthresh=1.0)
    ax.grid(True, which="both", alpha=0.3)


# --------------------------------------------------------------------------- verify runs

@_drawn
def verify_figure(theorems: list[dict]) -> str:
    """Instances tried per theorem: those that tested the claim (green: passed, red: the theorem
    failed) and the vacuous ones (grey: the hypothesis of the theorem did not apply)."""
    n = len(theorems)
    fig = _figure(7.0, 0.9 + 0.2 * max(n, 3))
    ax = fig.add_subplot()
    y = np.arange(n)
    vac = np.array([t["vacuous"] for t in theorems], dtype=float)
    real = np.array([t["instances"] for t in theorems], dtype=float) - vac
    colour = ["#2da44e" if t["passed"] else "#cf222e" for t in theorems]
    ax.barh(y, real, color=colour)
    ax.barh(y, vac, left=real, color="#b0b8c1")
    ax.set_yticks(y, [_plain(t["id"]) for t in theorems], fontsize=7)
    ax.set_ylim(n - 0.5, -0.5)          # first theorem on top, no empty band above or below
    ax.set_xlabel("instances tried (green: passed, red: failed, grey: vacuous)", fontsize=8)
    ax.set_title(f"{sum(t['passed'] for t in theorems)} of {n} theorems passed", fontsize=9)
    ax.grid(True, axis="x", alpha=0.3)
    return to_svg(fig)


# --------------------------------------------------------------------------- regret runs

@_drawn
def regret_figure(result) -> str:
    """Mean regret (with its CI band) against ``T`` on log-log axes, the bound dashed, and the
    fitted power law of the sublinearity test dotted when there is a slope."""
    fig = _figure()
    ax = fig.add_subplot()
    T = np.asarray(result.horizons, dtype=float)
    mean = np.asarray(result.mean_regret, dtype=float)
    label = "mean pseudo-regret" if result.quantity == "pseudo_regret" else "mean regret"
    low = float(mean.min())
    if result.ci is not None:
        ax.fill_between(T, result.ci[:, 0], result.ci[:, 1], alpha=0.25, label=f"{result.level:.0%} CI")
        low = min(low, float(np.min(result.ci[:, 0])))
    ax.plot(T, mean, "o-", label=label)
    if result.bound is not None:
        ax.plot(T, result.bound["values"], "k--",
                label=_plain(f"bound: {result.bound['name']} ({result.bound['holds']})"))
    ax.plot(T, T, color="grey", lw=0.8, ls=":", label="linear reference T")
    _loglog(ax, low)
    ax.set_xlabel("T (rounds)")
    ax.set_ylabel("regret")
    ax.set_title(_plain(f"{result.learner['name']} vs {result.adversary['name']}: {result.verdict}"), fontsize=9)
    ax.legend(fontsize=8)
    return to_svg(fig)


# --------------------------------------------------------------------------- convergence

@_drawn
def design_figure(doc: dict) -> str:
    """Each designer's mean exact welfare and net welfare per iteration (band: 10–90th percentile
    over seeds) with ``W*`` and the net welfare of the LP-minimal incentives as lines."""
    fig = _figure(10, 4)
    axes = fig.subplots(1, 2, sharex=True)
    for name, curves in doc["_curves"].items():
        for ax, curve in zip(axes, curves):
            x = np.arange(1, curve.shape[1] + 1)
            with np.errstate(all="ignore"):
                finite = np.isfinite(curve).any(axis=0)
                m = np.full(curve.shape[1], np.nan)
                m[finite] = np.nanmean(curve[:, finite], axis=0)
            line, = ax.plot(x, m, label=_plain(name))
            if curve.shape[0] > 1 and finite.any():
                lo = np.full_like(m, np.nan)
                hi = np.full_like(m, np.nan)
                lo[finite], hi[finite] = np.nanpercentile(curve[:, finite], [10, 90], axis=0)
                ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.15)
    ex = doc["exact"]
    for ax, title in zip(axes, ("exact welfare", "net welfare (welfare − incentives paid)")):
        ax.axhline(ex["optimal_welfare"], color="k", ls="--", lw=1, label="W* (exact)")
        ax.axhline(ex["net_welfare_of_min_incentives"], color="grey", ls=":", lw=1,
                   label="W* − LP-minimal incentives")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("designer iteration")
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8)
    return to_svg(fig)


@_drawn
def learning_curve_figure(doc: dict) -> str:
    """The exact principal value of the greedy policy against training iterations."""
    fig = _figure()
    ax = fig.add_subplot()
    ax.plot(doc["_iterations"], doc["_value"], "o-", ms=3)
    ax.set_xlabel("iteration")
    ax.set_ylabel("exact principal value of the greedy policy")
    ax.set_title(_plain(f"{doc['learner']} learner, seed {doc.get('seed', '—')}"), fontsize=9)
    ax.grid(True, alpha=0.3)
    return to_svg(fig)


@_drawn
def meta_trace_figure(trace: dict) -> str:
    """Convergence of the meta-algorithm: per outer iteration, the principal's and the agent's
    values at the initial state (left axis) and the states whose action or contract changed
    (right axis; 0 at the fixed point)."""
    it = np.arange(1, len(trace["changed"]) + 1)
    fig = _figure(6.4, 3.6)
    ax = fig.add_subplot()
    for key, label, style in (("principal_value", "principal value", "o-"), ("agent_value", "agent value", "s--")):
        v = np.array([np.nan if x is None else x for x in trace[key]], dtype=float)
        ax.plot(it, v, style, ms=3, label=label)
    ax.set_xlabel("outer iteration")
    ax.set_ylabel("value at the initial state")
    ax.grid(True, alpha=0.3)
    right = ax.twinx()
    right.bar(it, trace["changed"], color="#999999", alpha=0.35, width=0.6, label="states changed")
    right.set_ylabel("states whose action or contract changed")
    lines = ax.get_legend_handles_labels()
    bars = right.get_legend_handles_labels()
    ax.legend(lines[0] + bars[0], lines[1] + bars[1], fontsize=8, loc="best")
    ax.set_zorder(right.get_zorder() + 1)      # the value lines over the bars
    ax.patch.set_visible(False)
    ax.set_title("meta-algorithm: convergence", fontsize=9)
    return to_svg(fig)


@_drawn
def payment_figure(expected_payment: np.ndarray, action: np.ndarray) -> str:
    """The expected payment of the policy at each state (bars coloured by the recommended action),
    or at each (step, state) as a heat map; more than :data:`MAX_BARS` states: their histogram."""
    pay = np.asarray(expected_payment, dtype=float)
    fig = _figure(6.4, 3.4)
    ax = fig.add_subplot()
    if pay.ndim == 2 and pay.size <= MAX_BARS * 20:
        im = ax.imshow(pay, aspect="auto", interpolation="nearest", cmap="viridis")
        fig.colorbar(im, ax=ax, label="expected payment")
        ax.set_xlabel("state")
        ax.set_ylabel("step")
    elif pay.ndim == 1 and pay.size <= MAX_BARS:
        act = np.asarray(action)
        cmap = __import__("matplotlib").colormaps["tab10"]
        ax.bar(np.arange(pay.size), pay, color=[cmap(int(a) % 10) for a in act])
        ax.set_xlabel("state (colour: recommended action)")
        ax.set_ylabel("expected payment")
    else:
        finite = pay[np.isfinite(pay)]
        ax.hist(finite, bins=30, color="#4878a8")
        ax.set_xlabel("expected payment")
        ax.set_ylabel("states" if pay.ndim == 1 else "(step, state) pairs")
    ax.set_title("expected payment of the contract policy", fontsize=9)
    return to_svg(fig)


#: States up to which :func:`payment_figure` draws one bar each.
MAX_BARS = 60


# --------------------------------------------------------------------------- ratios

@_drawn
def ratio_bars(labels: list[str], values: list[float], title: str, reference: float | None = 1.0) -> str:
    """Horizontal bars of ratios (NaN drawn as an empty bar marked "n/a"), a line at ``reference``."""
    fig = _figure(6.4, 0.6 + 0.45 * max(len(labels), 2))
    ax = fig.add_subplot()
    y = np.arange(len(labels))
    v = np.asarray(values, dtype=float)
    ax.barh(y, np.where(np.isfinite(v), v, 0.0), color="#4878a8")
    for yi, vi in zip(y, v):
        ax.text(vi if math.isfinite(vi) else 0.0, yi, f" {vi:.4g}" if math.isfinite(vi) else " n/a",
                va="center", fontsize=8)
    if reference is not None:
        ax.axvline(reference, color="k", ls="--", lw=1)
    ax.set_yticks(y, [_plain(s) for s in labels], fontsize=8)
    ax.invert_yaxis()
    ax.set_title(_plain(title), fontsize=9)
    ax.grid(True, axis="x", alpha=0.3)
    finite = v[np.isfinite(v)]
    ax.set_xlim(min(0.0, float(finite.min()) if finite.size else 0.0),
                max(1.15, 1.15 * float(finite.max()) if finite.size else 1.15))
    return to_svg(fig)


# --------------------------------------------------------------------------- datasets

@_drawn
def histogram(values: np.ndarray, title: str, xlabel: str, log_x: bool = False) -> str | None:
    """A histogram of the finite entries of ``values`` (``None`` when there are none); with
    ``log_x`` the bins are log-spaced over the positive entries."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if log_x:
        v = v[v > 0]
    if v.size == 0:
        return None
    fig = _figure(5.0, 3.4)
    ax = fig.add_subplot()
    if log_x and v.max() > v.min():
        bins = np.geomspace(v.min(), v.max(), 31)
        ax.set_xscale("log")
    else:
        bins = min(30, max(1, int(np.unique(v).size)))
    ax.hist(v, bins=bins, color="#4878a8", edgecolor="white", linewidth=0.5)
    ax.set_title(_plain(f"{title} (n = {v.size})"), fontsize=9)
    ax.set_xlabel(_plain(xlabel), fontsize=8)
    ax.set_ylabel("instances", fontsize=8)
    ax.grid(True, alpha=0.3)
    return to_svg(fig)


@_drawn
def count_bars(counts: dict[str, int], title: str) -> str:
    """Vertical bars of category counts (e.g. status, certificate verdict)."""
    fig = _figure(5.0, 3.4)
    ax = fig.add_subplot()
    names = [_plain(k) for k in counts]
    x = np.arange(len(names))
    ax.bar(x, list(counts.values()), color="#6a9f58")
    for xi, c in zip(x, counts.values()):
        ax.text(xi, c, str(c), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, names, fontsize=8, rotation=20 if len(names) > 4 else 0)
    ax.set_title(_plain(title), fontsize=9)
    ax.set_ylabel("instances", fontsize=8)
    ax.margins(y=0.15)
    return to_svg(fig)
