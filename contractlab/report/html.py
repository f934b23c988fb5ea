"""The page of ``contractlab report``: one self-contained HTML file (issue 15).

Inline CSS, figures as inline SVG (:mod:`.figures`), no script, and no external URL anywhere;
a Content-Security-Policy forbids every fetch but inline styles and ``data:`` images, so even a
viewer that tried would load nothing from the network. Every piece of text that comes from an
input (theorem ids, evidence, counterexamples, names, file paths) goes through
:func:`html.escape`. One section per input, in the order given.
"""

from __future__ import annotations

import html
import math

import numpy as np

from . import figures
from .load import ReportInput

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0 auto;
max-width:1200px;padding:1rem 1.5rem;color:#1d1d1f;background:#fff;line-height:1.4}
h1{font-size:1.5rem;margin:.2rem 0 .3rem} h2{font-size:1.2rem;margin:0 0 .4rem} h3{font-size:1rem;margin:1rem 0 .3rem}
section{border-top:2px solid #d0d7de;padding:1rem 0}
.meta{color:#57606a;font-size:.85rem} .file{font-family:ui-monospace,monospace;font-size:.85rem;color:#57606a}
table{border-collapse:collapse;font-size:.85rem;margin:.4rem 0}
th,td{border:1px solid #d0d7de;padding:.25rem .5rem;vertical-align:top;text-align:left}
th{background:#f6f8fa} td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.pass{color:#1a7f37;font-weight:600} .fail{color:#cf222e;font-weight:700}
.stmt{color:#57606a;font-size:.8rem;max-width:34rem} .src{color:#8c959f;font-size:.75rem;font-style:italic}
pre{white-space:pre-wrap;word-break:break-word;background:#fff8f8;border:1px solid #f5c2c7;padding:.3rem;
margin:0;font-size:.75rem;max-width:36rem;max-height:18rem;overflow:auto}
code{font-family:ui-monospace,monospace;font-size:.85em}
figure{margin:.6rem 1rem .6rem 0;display:inline-table;vertical-align:top} figure svg{max-width:100%;height:auto}
figcaption{display:table-caption;caption-side:bottom;font-size:.8rem;color:#57606a}
.summary{font-size:.95rem;margin:.3rem 0 .6rem} nav ul{margin:.2rem 0;padding-left:1.2rem;font-size:.9rem}
"""

KIND_TITLES = {"verify_results": "Theorem verification", "regret_run": "No-regret run",
               "design_run": "Incentive designer comparison", "policy_check": "Learner check",
               "coin_policy_check": "Coin Game principal check",
               "learning_curve": "Learning curve", "pamdp_solution": "Principal-agent MDP solution",
               "dataset": "Benchmark dataset"}


def esc(text) -> str:
    return html.escape(str(text), quote=True)


def num(x, digits: int = 4) -> str:
    """A number for a table cell; ``—`` for null, NaN or anything that is not a number (fields the
    loader does not validate are shown this way rather than trusted)."""
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
        return "—"
    x = float(x)
    return "—" if math.isnan(x) else f"{x:.{digits}g}"


def _table(header: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    """A table whose cells are already HTML (callers escape)."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(svg: str | None, caption: str) -> str:
    if svg is None:
        return f'<p class="meta">{esc(caption)}: no finite values to plot.</p>'
    return f"<figure>{svg}<figcaption>{esc(caption)}</figcaption></figure>"


# --------------------------------------------------------------------------- verify

def verify_section(doc: dict, anchor: str = "th") -> str:
    """The theorem table (name, verdict, instances tried, evidence, counterexample) and a summary;
    each theorem's row is the element ``{anchor}-{id}`` (failed theorems link to it)."""
    ths = doc["theorems"]
    failed = [t for t in ths if not t["passed"]]
    n_inst = sum(t["instances"] for t in ths)
    lp = sum(t.get("lp_answers", 0) for t in ths)
    cert = sum(t.get("certified", 0) for t in ths)
    verdict = ('<span class="pass">all passed</span>' if not failed
               else f'<span class="fail">{len(failed)} failed</span>')
    out = [f'<p class="summary">{len(ths)} theorems: {len(ths) - len(failed)} passed, {verdict}. '
           f"{n_inst} instances tried in all (up to {esc(doc['count'])} per theorem, seed {esc(doc['seed'])}); "
           f"{sum(t['vacuous'] for t in ths)} vacuous; LP answers certified exactly: {cert}/{lp}. "
           f"contractlab {esc(doc.get('contractlab', '?'))}.</p>"]
    if failed:
        out.append("<p>Failed: " + ", ".join(f'<a href="#{anchor}-{esc(t["id"])}"><code>{esc(t["id"])}</code></a>'
                                              for t in failed) + "</p>")
    rows = []
    for t in ths:
        name = (f'<strong id="{anchor}-{esc(t["id"])}"><code>{esc(t["id"])}</code></strong>'
                f'<div class="stmt">{esc(t["statement"])}</div><div class="src">{esc(t["source"])}</div>')
        badge = '<span class="pass">pass</span>' if t["passed"] else '<span class="fail">FAIL</span>'
        tried = f"{t['instances']}" + (f"<br><span class='meta'>{t['vacuous']} vacuous</span>" if t["vacuous"] else "")
        lp_t = t.get("lp_answers", 0)
        evidence = [f"worst margin {num(t['worst_margin'], 3)}"]
        if t["worst_detail"]:
            evidence.append(f"at: {esc(t['worst_detail'])}")
        if lp_t:
            evidence.append(f"LP answers certified {t.get('certified', 0)}/{lp_t}")
        evidence.append(f"{t['seconds']:.2f} s")
        counter = f"<pre>{esc(t['failure'])}</pre>" if t["failure"] else "—"
        rows.append([name, badge, tried, "<br>".join(evidence), counter])
    out.append(_figure(figures.verify_figure(ths), "Instances tried per theorem"))
    out.append('<p class="meta">Worst margin: the smallest slack of the checked inequality over the instances '
               "(negative values within the theorem's tolerance still pass); a counterexample is the first failing "
               "instance after hypothesis shrank it.</p>")
    out.append(_table(["theorem", "verdict", "instances tried", "evidence", "counterexample"], rows, {2}))
    return "".join(out)


# --------------------------------------------------------------------------- regret

def regret_section(r) -> str:
    """Mean regret against the horizon on log-log axes with the bound that applies, the table of
    both, and the sublinearity verdict."""
    what = "pseudo-regret" if r.quantity == "pseudo_regret" else "regret"
    sub = r.sublinearity
    slope = num(sub.get("slope"), 3)
    ci = sub.get("slope_ci")
    if isinstance(ci, list) and len(ci) == 2:
        slope += f" ({r.level:.0%} CI [{num(ci[0], 3)}, {num(ci[1], 3)}])"
    cls = {"sublinear": "pass", "linear": "fail"}.get(r.verdict, "")
    out = [f'<p class="summary">{esc(r.learner["name"])} against {esc(r.adversary["name"])} '
           f"({esc(r.adversary.get('n_actions', '?'))} actions, {r.seeds.size} seeds, runs: {esc(r.runs)}). "
           f'Verdict: <span class="{cls}">{esc(r.verdict)}</span>, log-log slope {esc(slope)}. '
           f"{esc(sub.get('reason', ''))}</p>"]
    if r.bound is not None:
        out.append(f"<p>Bound: <code>{esc(r.bound['name'])} = {esc(r.bound['expression'])}</code>, holds "
                   f"{esc(r.bound['holds'])} <span class='src'>[{esc(r.bound['source'])}]</span></p>")
    else:
        out.append(f"<p>Bound: none applies ({esc(r.bound_note or '')}).</p>")
    out.append(_figure(figures.regret_figure(r), f"Mean {what} against the horizon T on log-log axes"
                                                  + (f" with its {r.level:.0%} CI" if r.ci is not None else "")
                                                  + (", the bound dashed" if r.bound is not None else "")
                                                  + "; the dotted grey line is T itself."))
    rows = []
    for j, T in enumerate(r.horizons):
        ci = "—" if r.ci is None else f"[{num(r.ci[j, 0])}, {num(r.ci[j, 1])}]"
        bound = "—" if r.bound is None else num(r.bound["values"][j])
        ratio = "—" if r.ratio is None else num(r.ratio[j], 3)
        rows.append([str(int(T)), num(r.mean_regret[j]), ci, bound, ratio])
    out.append(_table(["T", f"mean {what}", "CI", "bound", "ratio to bound"], rows, {0, 1, 2, 3, 4}))
    return "".join(out)


# --------------------------------------------------------------------------- designers, learners

def _mean(summary: dict, key: str) -> str:
    """The ``mean`` of a ``{"mean", "ci"}`` part of a designer's summary, formatted."""
    part = summary.get(key)
    mean = part.get("mean") if isinstance(part, dict) else None
    return num(mean) if isinstance(mean, (int, float)) and not isinstance(mean, bool) else "—"


def design_section(doc: dict) -> str:
    """The convergence of each designer against the exact references, its ratios to them, and the
    paired differences."""
    ex = doc["exact"]
    out = [f'<p class="summary">{esc(doc["game"])}: {len(doc["designers"])} designer(s), {len(doc["seeds"])} seeds, '
           f"{esc(doc['iterations'])} iterations. Exact references: W* = {num(ex['optimal_welfare'])}, minimal Nash "
           f"incentives {num(ex['min_incentives_nash'])}, net welfare of the LP-minimal design "
           f"{num(ex['net_welfare_of_min_incentives'])}.</p>",
           _figure(figures.design_figure(doc), "Convergence: mean exact welfare and net welfare of the agents after "
                                               "each designer iteration (band: 10–90th percentile over seeds)")]
    rows, labels, values = [], [], []
    for name, run in doc["designers"].items():
        s = run["summary"]
        rows.append([f"<code>{esc(name)}</code>", _mean(s, "welfare"), _mean(s, "incentives"),
                     _mean(s, "net_welfare"), num(s.get("welfare_ratio"), 3), num(s.get("incentive_ratio"), 3),
                     num(s.get("net_welfare_ratio"), 3)])
        for key, what in (("welfare_ratio", "welfare / W*"), ("net_welfare_ratio", "net welfare / W*")):
            labels.append(f"{name}: {what}")
            v = s.get(key)
            values.append(math.nan if v is None else float(v))
    out.append(_table(["designer", "welfare", "incentives", "net welfare", "welfare / W*",
                       "incentives / LP minimum", "net welfare / W*"], rows, {1, 2, 3, 4, 5, 6}))
    out.append(_figure(figures.ratio_bars(labels, values, "learned designs against the exact optimum"),
                       "Ratios of the learned designs to the exact references (1 = the exact optimum)"))
    diffs = doc.get("differences") or {}
    if isinstance(diffs, dict) and diffs:
        first = next(iter(doc["designers"]))
        drows = [[f"<code>{esc(first)}</code> − <code>{esc(k)}</code>",
                  num(d.get("mean")) if isinstance(d, dict) else "—",
                  esc(d.get("verdict", "")) if isinstance(d, dict) else ""] for k, d in diffs.items()]
        out.append("<h3>Paired differences in net welfare</h3>" + _table(["pair", "mean", "verdict"], drows, {1}))
    return "".join(out)


POLICY_ROWS = (("spe_value", "exact SPE principal value"), ("policy_value", "learned policy's principal value"),
               ("value_ratio", "ratio learned / exact"), ("value_gap", "gap exact − learned"),
               ("agreement", "agreement with the SPE"), ("exact_agreement", "exact agreement"),
               ("follow_rate", "agent follows the recommendation"), ("follow_rate_on_path", "… on the path"),
               ("ic_violation_max", "largest IC violation"), ("spe_gap", "SPE gap of the profile"))


def policy_check_section(doc: dict) -> str:
    """A learned policy against the exact SPE: the table of values and rates, and their bars."""
    ref = doc["reference"] if doc["reference"] == "spe" else (
        f"{doc['reference']} ({'converged' if doc.get('reference_converged') else 'NOT converged'})")
    out = [f'<p class="summary">A learned contract policy against the exact reference ({esc(ref)}), '
           f"{esc(doc['n_states'])} states, ties broken by {esc(doc.get('tie_break', '?'))}.</p>",
           _table(["quantity", "value"], [[esc(label), num(doc[key], 6)] for key, label in POLICY_ROWS], {1})]
    bars = [("value_ratio", "value: learned / exact"), ("agreement", "agreement"),
            ("exact_agreement", "exact agreement"), ("follow_rate", "follow rate"),
            ("follow_rate_on_path", "follow rate on path")]
    out.append(_figure(figures.ratio_bars([b for _, b in bars], [doc[k] if doc[k] is not None else math.nan
                                                                  for k, _ in bars], "learned vs exact"),
                       "Learned-vs-exact ratios and rates (1 = the exact SPE)"))
    return "".join(out)


def coin_policy_check_section(doc: dict) -> str:
    """A learned multi-agent Coin Game principal against the exact solution: the per-agent table
    and the learned-vs-exact bars."""
    g = doc["game"]
    pairs = [("returns", "game return"), ("payments", "learned payments"),
             ("exact_payments_same_recommendation", "exact payments, same recommendation"),
             ("ic_gap", "IC gap (best response − following)"),
             ("follow_violation_max", "largest IC violation vs a follower"),
             ("follow_violations_on_path", "IC violations vs a follower, follow path"),
             ("dominance_violation_max", "largest dominance violation (every action of the other)"),
             ("dominance_violations_on_path", "dominance violations, follow path"),
             ("best_response_follow_rate", "follow rate of an exact best response")]
    rows = [[esc(label), num(doc[key][0], 6), num(doc[key][1], 6)] for key, label in pairs]
    head = [["optimum welfare W*", num(doc["optimum_welfare"], 6)], ["welfare, both follow", num(doc["welfare"], 6)],
            ["welfare / W*", num(doc["welfare_fraction"], 6)], ["payments / welfare", num(doc["payment_share"], 6)],
            ["principal objective (welfare / α − payments)", num(doc["objective"], 6)],
            ["optimum objective", num(doc["optimum_objective"], 6)],
            *[[esc(f"exact payments for π*: {k}"), num(v, 6)] for k, v in doc["reference_payments"].items()]]
    out = [f'<p class="summary">A learned principal of the Coin Game ({esc(g.get("grid"))}x{esc(g.get("grid"))}, '
           f'{esc(g.get("horizon"))} steps, ties: {esc(g.get("simultaneous"))}) against the exact solution; '
           f'{esc(doc["n_pairs_on_path"])} of {esc(doc["n_pairs"])} (t, s) pairs on the follow path.</p>',
           _table(["quantity", "value"], head, {1}), _table(["per agent", "agent 0", "agent 1"], rows, {1, 2})]
    bars = [("welfare / W*", doc["welfare_fraction"]), ("payments / welfare", doc["payment_share"]),
            ("follow rate, agent 0", doc["best_response_follow_rate"][0]),
            ("follow rate, agent 1", doc["best_response_follow_rate"][1])]
    out.append(_figure(figures.ratio_bars([b for b, _ in bars], [math.nan if v is None else v for _, v in bars],
                                          "learned vs exact"),
                       "Welfare against the exact optimum, payments as a share of welfare, follow rates"))
    return "".join(out)


def learning_curve_section(doc: dict) -> str:
    """The exact value of the greedy policy during training (convergence of the learner)."""
    out = [f'<p class="summary">{esc(doc["learner"])} learner, seed {esc(doc.get("seed", "—"))}: '
           f"{doc['_iterations'].size} evaluations of the greedy policy.</p>"]
    if doc["_iterations"].size:
        out.append(_figure(figures.learning_curve_figure(doc), "Convergence: exact principal value of the greedy "
                                                               "policy during training"))
    else:
        out.append('<p class="meta">No evaluation was recorded (run learn with --eval-every).</p>')
    return "".join(out)


def pamdp_solution_section(sol) -> str:
    """The values of a ``pamdp_solution`` and, for the meta-algorithm, how it stopped (iterations,
    SPE gap, error bound) and, when the file holds its ``trace``, its convergence per iteration."""
    x = sol.extra
    method = x.get("method", "?")
    rows = [["principal value at the initial state", num(sol.principal_value, 6)],
            ["agent value at the initial state", num(sol.agent_value, 6)]]
    if method == "meta_algorithm":
        conv = x.get("converged")
        verdict = '<span class="pass">converged</span>' if conv else '<span class="fail">NOT converged</span>'
        head = (f"The meta-algorithm's profile (discounted cyclic instance): {verdict} after "
                f"{esc(x.get('iterations', '?'))} iterations ({esc(x.get('reason') or '')}).")
        for key, label in (("iterations", "outer iterations"), ("spe_gap", "SPE gap of the profile"),
                           ("bound", "a-posteriori error bound"), ("stage", "loop cut by the budget")):
            if key in x:
                v = x[key]
                rows.append([label, num(v, 4) if isinstance(v, (int, float)) and not isinstance(v, bool)
                             else esc(v if v is not None else "—")])
    else:
        head = f"{esc(x.get('solution_concept', 'solution'))} by {esc(method)} (exact)."
    pay = np.asarray(sol.expected_payment, dtype=float)
    rows.append(["states" + (" x steps" if pay.ndim == 2 else ""), esc(" x ".join(map(str, pay.shape[::-1])))])
    rows.append(["mean expected payment", num(np.nanmean(pay) if np.isfinite(pay).any() else math.nan)])
    trace = x.get("trace")
    convergence = "" if not trace or not trace["changed"] else _figure(
        figures.meta_trace_figure(trace), "Convergence of the meta-algorithm: values at the initial state and "
                                          "states changed per outer iteration")
    return (f'<p class="summary">{head} Backend: {esc(x.get("backend", "?"))}.</p>'
            + _table(["quantity", "value"], rows, {1}) + convergence
            + _figure(figures.payment_figure(pay, sol.action), "Expected payment of the contract policy per state"))


# --------------------------------------------------------------------------- datasets

def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a / b`` where ``b > 0`` and both are finite, NaN elsewhere."""
    out = np.full(a.shape, np.nan)
    ok = np.isfinite(a) & np.isfinite(b) & (b > 0)
    out[ok] = a[ok] / b[ok]
    return out


def _counts(values: np.ndarray) -> dict[str, int]:
    """How often each string occurs (null counted as ``"none"``, the empty string as ``"(empty)"``)."""
    names = np.where(values == None, "none", values).astype(str)  # noqa: E711 (elementwise)
    names[names == ""] = "(empty)"
    keys, counts = np.unique(names, return_counts=True)
    return {str(k): int(c) for k, c in zip(keys, counts)}


def dataset_section(cols: dict) -> str:
    """Counts of status, certificate and family, histograms of the values and their ratios over
    the solved instances, and the failed instances with their errors."""
    n = cols["id"].size
    status = _counts(cols["status"])
    cert = _counts(cols["certificate"])
    fam = _counts(cols["family"])
    ok = cols["status"] == "ok"
    out = [f'<p class="summary">{n} instances: {status.get("ok", 0)} solved, '
           f'<span class="{"fail" if status.get("failed") else ""}">{status.get("failed", 0)} failed</span>; '
           f"{len(fam)} families.</p>",
           _table(["family", "instances", "solved"],
                  [[f"<code>{esc(f)}</code>", str(c), str(int(np.sum(ok & (cols["family"] == f))))]
                   for f, c in sorted(fam.items())], {1, 2}),
           _figure(figures.count_bars(dict(sorted(status.items())), "status"), "Instances by status"),
           _figure(figures.count_bars(dict(sorted(cert.items())), "certificate"), "Instances by certificate verdict")]
    pv, fb, lin = cols["principal_value"][ok], cols["first_best_welfare"][ok], cols["best_linear_utility"][ok]
    hists = [(pv, "principal value", "principal_value", False),
             (cols["agent_value"][ok], "agent value", "agent_value", False),
             (fb, "first-best welfare", "first_best_welfare", False),
             (_ratio(pv, fb), "principal value / first-best welfare", "ratio (where first best > 0)", False),
             (_ratio(lin, pv), "best linear utility / principal value", "ratio (where both apply, principal > 0)",
              False),
             (cols["solve_seconds"][ok], "solve time", "seconds (log scale)", True)]
    for values, title, xlabel, log_x in hists:
        out.append(_figure(figures.histogram(values, title, xlabel, log_x), f"Distribution of the {title} over the "
                                                                              "solved instances"))
    failed = np.nonzero(~ok)[0]
    if failed.size:
        rows = [[f"<code>{esc(cols['id'][i])}</code>", esc(cols["family"][i]), esc(cols["error"][i] or "")]
                for i in failed[:20]]
        more = f" (first 20 of {failed.size})" if failed.size > 20 else ""
        out.append(f"<h3>Failed instances{more}</h3>" + _table(["id", "family", "error"], rows))
    return "".join(out)


# --------------------------------------------------------------------------- the page

SECTIONS = {"verify_results": verify_section, "regret_run": regret_section, "design_run": design_section,
            "policy_check": policy_check_section, "coin_policy_check": coin_policy_check_section,
            "learning_curve": learning_curve_section,
            "pamdp_solution": pamdp_solution_section, "dataset": dataset_section}


def render(inputs: list[ReportInput], title: str = "contractlab report") -> str:
    """The whole page for ``inputs`` (validated by :func:`.load.load_input`)."""
    from .. import __version__
    sections, toc = [], []
    for k, item in enumerate(inputs, 1):
        heading = f"{k}. {KIND_TITLES[item.kind]}"
        body = (verify_section(item.data, f"s{k}") if item.kind == "verify_results"  # anchors unique per page
                else SECTIONS[item.kind](item.data))
        toc.append(f'<li><a href="#input-{k}">{esc(heading)}</a> <span class="file">{esc(item.path)}</span></li>')
        sections.append(f'<section id="input-{k}" class="{item.kind}"><h2>{esc(heading)}</h2>'
                        f'<div class="file">{esc(item.path)}</div>{body}</section>')
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{esc(title)}</h1><p class=\"meta\">Made by contractlab {esc(__version__)} "
            f"from {len(inputs)} input(s); a single file that needs no network.</p>"
            f"<nav><ul>{''.join(toc)}</ul></nav>{''.join(sections)}</body></html>\n")
