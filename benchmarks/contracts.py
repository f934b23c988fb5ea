"""MIN-PAY LPs solved per second, per LP backend, on random contract problems.

    python benchmarks/contracts.py [--problems 200] [--seed 0] [--n 5] [--m 4]
                                   [--cvxpy-problems 20] [--repeats 5] [--min-time 2]
                                   [--json | --markdown] [--profile]

What is measured
----------------
``--problems`` random hidden-action contract problems with ``n`` actions and ``m`` outcomes
are drawn from one seeded ``numpy.random.Generator``: outcome rows ``F[p, i] ~ Dirichlet(1)``,
costs ``c[p, i] ~ U[0, 1)``, rewards ``r[p, j] ~ U[0, 1)`` (drawn in that order; rewards do not
enter MIN-PAY and are drawn only so the instances are complete contract problems). Every
(problem, action) pair is one MIN-PAY LP

    minimise F_i·t   subject to   (F_k - F_i)·t <= c_k - c_i  (k != i),   t >= 0,

so there are ``problems * n`` LPs; an action that cannot be implemented gives an infeasible
LP. The same LPs, in the same order, are solved by

1. ``cvxpy``: ``solve_min_pay_arrays(..., backend="cvxpy")`` (Clarabel, one LP at a time;
   slow, so only the first ``--cvxpy-problems`` problems),
2. ``highs``, one LP at a time: ``solve_min_pay_arrays(..., backend="highs", batched=False)``,
3. ``highs``, batched: ``solve_min_pay_arrays(..., backend="highs", batched=True)``,
4. the reference: a plain ``scipy.optimize.linprog(method="highs")`` loop, written here
   directly from ``F`` and ``c``.

Before anything is timed, every method's answers are compared with the reference: the same
LPs must be infeasible, and optimal values must agree within ``--tol`` (default 1e-8)
relative to ``max(1, |v|)``; otherwise the script stops with exit code 1 (a benchmark of
wrong answers is worthless). Times are wall clock (``time.perf_counter``), best of
at least ``--repeats`` runs (cvxpy: at most 3), fast methods run more often until about
``--min-time`` seconds are spent on each; the runs of all methods are interleaved
round-robin (so a spell of load from other processes does not hit one method only), with the
garbage collector off inside the timed region (as ``timeit`` does). Each time includes
building the LPs from ``F`` and ``c``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import json
import math
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np
from scipy.optimize import linprog

import contractlab
from contractlab.solvers.min_pay import solve_min_pay_arrays
from contractlab.theory.budget import check_memory
from contractlab.theory.errors import InvalidInstanceError

#: Cap on the timed runs of one method.
MAX_RUNS = 200

#: The issue's target: batched HiGHS at least this many times faster than the linprog loop.
TARGET_SPEEDUP = 25.0


# --------------------------------------------------------------------------- instances

def draw_instances(problems: int, n: int, m: int, seed: int):
    """``F`` (P, n, m), costs (P, n), rewards (P, m) from ``numpy.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    F = rng.dirichlet(np.ones(m), size=(problems, n))
    costs = rng.uniform(0.0, 1.0, size=(problems, n))
    rewards = rng.uniform(0.0, 1.0, size=(problems, m))
    return F, costs, rewards


def lp_arrays(F: np.ndarray, costs: np.ndarray):
    """One LP per (problem, action), problem-major: LP ``k`` is problem ``k // n``, action ``k % n``."""
    P, n, _ = F.shape
    return np.repeat(F, n, axis=0), np.repeat(costs, n, axis=0), np.tile(np.arange(n), P)


# --------------------------------------------------------------------------- methods
# Each returns (values, feasible): the optimal value per LP (NaN where not optimal) and a
# boolean "solver says optimal"; anything else than optimal / infeasible raises.

def _from_solution(sol):
    status = np.asarray(sol.status, dtype=object)
    bad = ~np.isin(status, ["optimal", "infeasible"])
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise RuntimeError(f"LP {k}: solver status {status[k]!r}")
    feasible = status == "optimal"
    return np.where(feasible, sol.objective, np.nan), feasible


def run_contractlab(Fb, cb, actions, backend: str, batched: bool = True):
    _, sol = solve_min_pay_arrays(Fb, cb, actions, backend=backend, batched=batched)
    return _from_solution(sol)


def run_linprog(Fb, cb, actions):
    """The reference: one ``scipy.optimize.linprog(method="highs")`` call per LP."""
    K, n, _ = Fb.shape
    values = np.full(K, np.nan)
    feasible = np.zeros(K, dtype=bool)
    for k in range(K):
        i = actions[k]
        others = np.arange(n) != i
        Fi = Fb[k, i]
        res = linprog(Fi, A_ub=Fb[k, others] - Fi, b_ub=cb[k, others] - cb[k, i],
                      bounds=(0, None), method="highs")
        if res.status == 0:
            values[k], feasible[k] = res.fun, True
        elif res.status != 2:                       # 2 = infeasible
            raise RuntimeError(f"LP {k}: linprog status {res.status} ({res.message})")
    return values, feasible


# --------------------------------------------------------------------------- helpers

def timed(fn) -> float:
    """Wall-clock time of one call, garbage collector off while timing (as ``timeit`` does)."""
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0
    finally:
        gc.enable()


def best_times(fns, runs) -> list[float]:
    """Best time of ``runs[j]`` calls of ``fns[j]``, the calls interleaved round-robin.

    Interleaving spreads every method's runs over the whole measurement, so a spell of load
    from other processes does not fall on one method only.
    """
    best = [float("inf")] * len(fns)
    for r in range(max(runs)):
        for j, fn in enumerate(fns):
            if r < runs[j]:
                best[j] = min(best[j], timed(fn))
    return best


def disagreement(values, feasible, ref_values, ref_feasible) -> tuple[int, float]:
    """(number of LPs whose feasibility differs, max |v - v_ref| / max(1, |v_ref|) on the rest)."""
    flips = int(np.sum(feasible != ref_feasible))
    both = feasible & ref_feasible
    if not both.any():
        return flips, 0.0
    d = np.abs(values[both] - ref_values[both]) / np.maximum(1.0, np.abs(ref_values[both]))
    return flips, float(d.max())


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> dict:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    try:
        root = Path(__file__).resolve().parent.parent
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    import highspy
    try:
        from contractlab.solvers.silence import c_output_silenced
        with c_output_silenced():                    # highspy >= 1.16 prints a banner when built
            highs = highspy.Highs().version()
    except Exception:                                # version() is missing in old highspy
        highs = None
    return {
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu or "unknown",
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "load_average_1_5_15min": load,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "scipy": _version("scipy"),
        "highspy": _version("highspy"),
        "HiGHS": highs,
        "cvxpy": _version("cvxpy"),
        "clarabel": _version("clarabel"),
        "contractlab": _version("contractlab"),
        "contractlab_from": _where(contractlab),
        "git_commit": commit,
    }


def _where(module) -> str:
    """Where a module was imported from, without machine-specific paths: relative to the
    repository if it lies inside it, else ``site-packages`` (an installed copy)."""
    path = Path(module.__file__).resolve().parent
    root = Path(__file__).resolve().parent.parent
    try:
        return str(path.relative_to(root))
    except ValueError:
        return "site-packages" if "site-packages" in path.parts else path.name


# --------------------------------------------------------------------------- main

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--problems", type=int, default=200, help="random contract problems (default 200)")
    p.add_argument("--seed", type=int, default=0, help="seed of numpy.random.default_rng (default 0)")
    p.add_argument("--n", type=int, default=5, help="actions per problem (default 5)")
    p.add_argument("--m", type=int, default=4, help="outcomes per problem (default 4)")
    p.add_argument("--cvxpy-problems", type=int, default=20,
                   help="problems given to the slow cvxpy backend: the first ones (default 20)")
    p.add_argument("--repeats", type=int, default=5,
                   help="timed runs per method at least, best kept (default 5; cvxpy: at most 3)")
    p.add_argument("--min-time", type=float, default=2.0,
                   help="fast methods are run more often, until about this many seconds each (default 2)")
    p.add_argument("--tol", type=float, default=1e-8,
                   help="agreement tolerance on optimal values, relative to max(1,|v|) (default 1e-8)")
    p.add_argument("--profile", action="store_true",
                   help="after the check, profile the batched highs path with cProfile (--repeats calls) "
                        "and print the top functions instead of timing")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print one JSON record instead of a table")
    out.add_argument("--markdown", action="store_true", help="print markdown (for docs/performance.md)")
    a = p.parse_args(argv)
    try:
        for name, low in [("problems", 1), ("n", 2), ("m", 1), ("cvxpy_problems", 0), ("repeats", 1), ("seed", 0)]:
            if getattr(a, name) < low:
                raise InvalidInstanceError(f"--{name.replace('_', '-')}", f"must be >= {low}, got {getattr(a, name)}")
        if a.repeats > MAX_RUNS:
            raise InvalidInstanceError("--repeats", f"must be <= {MAX_RUNS}, got {a.repeats}")
        if not (math.isfinite(a.min_time) and a.min_time >= 0):
            raise InvalidInstanceError("--min-time", f"must be a finite number >= 0, got {a.min_time}")
        if not (math.isfinite(a.tol) and a.tol > 0):
            raise InvalidInstanceError("--tol", f"must be a finite number > 0, got {a.tol}")
        # the LP arrays repeat every problem n times, (P n, n, m) floats, and the solvers copy them a few times:
        # the first flag that alone would exceed the budget is named
        for flag, (P, m), what in (("--n", (1, 1), f"one problem of {a.n} actions"),
                                   ("--m", (1, a.m), f"one problem of {a.n} actions and {a.m} outcomes"),
                                   ("--problems", (a.problems, a.m), f"{a.problems} problems of {a.n} x {a.m}")):
            check_memory(flag, 10 * 8.0 * P * a.n * (a.n * m + a.n + m), what)
    except InvalidInstanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    return a


def main(argv=None) -> int:
    args = parse_args(argv)
    command = "python benchmarks/contracts.py " + " ".join(sys.argv[1:] if argv is None else argv)
    info = machine_info()
    F, costs, _ = draw_instances(args.problems, args.n, args.m, args.seed)
    Fb, cb, actions = lp_arrays(F, costs)
    K = len(actions)
    Pc = min(args.cvxpy_problems, args.problems)
    Kc = Pc * args.n
    cvx_label = "cvxpy (Clarabel)" + (f", first {Pc} of {args.problems} problems" if Pc < args.problems else "")

    # name, label, callable, number of LPs, repeats
    methods = [
        ("linprog", "linprog(highs) loop, reference", lambda: run_linprog(Fb, cb, actions), K, args.repeats),
        ("cvxpy", cvx_label, lambda: run_contractlab(Fb[:Kc], cb[:Kc], actions[:Kc], "cvxpy"), Kc,
         min(args.repeats, 3)),
        ("highs_one_at_a_time", "highs, one at a time",
         lambda: run_contractlab(Fb, cb, actions, "highs", batched=False), K, args.repeats),
        ("highs_batched", "highs, batched",
         lambda: run_contractlab(Fb, cb, actions, "highs", batched=True), K, args.repeats),
    ]
    if Kc == 0:
        methods = [m for m in methods if m[0] != "cvxpy"]

    # ---- correctness first (these runs also warm up every code path and estimate run times)
    t0 = time.perf_counter()
    ref_values, ref_feasible = methods[0][2]()
    estimate = {methods[0][0]: time.perf_counter() - t0}
    check = {"tolerance": args.tol, "infeasible_lps": int(np.sum(~ref_feasible)), "methods": {}}
    ok = True
    for name, _, fn, k, _ in methods[1:]:
        t0 = time.perf_counter()
        try:
            values, feasible = fn()
        except RuntimeError as exc:                  # a status other than optimal / infeasible
            print(f"{name}: {exc}", file=sys.stderr)
            values, feasible = np.full(k, np.nan), ~ref_feasible[:k]
        estimate[name] = time.perf_counter() - t0
        flips, dmax = disagreement(values, feasible, ref_values[:k], ref_feasible[:k])
        check["methods"][name] = {"lps": k, "feasibility_mismatches": flips, "max_rel_disagreement": dmax}
        ok &= flips == 0 and dmax <= args.tol
    check["passed"] = bool(ok)

    if args.profile:
        if not ok:
            print("\n".join(_check_lines({"check": check, "config": {"lps": K}})))
            return 1
        return _profile(lambda: run_contractlab(Fb, cb, actions, "highs", batched=True), args.repeats, command)

    rows = []
    if ok:
        # at least --repeats runs, more for fast methods until about --min-time is spent on them
        runs = [reps if name == "cvxpy" else
                int(min(MAX_RUNS, max(reps, np.ceil(args.min_time / max(estimate[name], 1e-9)))))
                for name, _, _, _, reps in methods]
        secs = best_times([m[2] for m in methods], runs)
        for (name, label, _, k, _), n_runs, t in zip(methods, runs, secs):
            rows.append({"method": name, "label": label, "lps": k, "runs": n_runs,
                         "seconds": t, "lps_per_second": k / t})
        ref_rate = rows[0]["lps_per_second"]
        for r in rows:
            r["speedup_vs_linprog"] = r["lps_per_second"] / ref_rate
    batched = next((r for r in rows if r["method"] == "highs_batched"), None)
    target = {"speedup_required": TARGET_SPEEDUP,
              "speedup": None if batched is None else batched["speedup_vs_linprog"],
              "met": None if batched is None else batched["speedup_vs_linprog"] >= TARGET_SPEEDUP}
    record = {"command": command, "config": {"problems": args.problems, "seed": args.seed, "n": args.n,
                                             "m": args.m, "lps": K, "cvxpy_problems": Pc,
                                             "repeats": args.repeats, "min_time": args.min_time},
              "machine": info, "check": check, "results": rows, "target": target}

    if args.json:
        print(json.dumps(record, indent=2))
    elif args.markdown:
        print(_markdown(record))
    else:
        _rich(record)
    return 0 if ok else 1


def _profile(fn, repeats: int, command: str) -> int:
    import cProfile
    import pstats
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(repeats):
        fn()
    prof.disable()
    print(f"{command}\ncontractlab from {_where(contractlab)}\n"
          f"cProfile of {repeats} call(s) of the batched highs path, by own time:")
    pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(12)
    return 0


def _check_lines(rec) -> list[str]:
    c = rec["check"]
    lines = [f"{c['infeasible_lps']} of {rec['config']['lps']} LPs are infeasible (non-implementable actions)."]
    for name, m in c["methods"].items():
        lines.append(f"{name} vs linprog on {m['lps']} LPs: feasibility mismatches {m['feasibility_mismatches']}, "
                     f"max |v - v_ref| / max(1, |v_ref|) = {m['max_rel_disagreement']:.2e}")
    lines.append(f"check (tolerance {c['tolerance']:g}): {'PASSED' if c['passed'] else 'FAILED - nothing timed'}")
    return lines


def _target_line(rec) -> str:
    t = rec["target"]
    if t["speedup"] is None:
        return "target: not measured"
    return (f"target: batched highs >= {t['speedup_required']:g}x the linprog loop: "
            f"{t['speedup']:.1f}x, {'met' if t['met'] else 'NOT met'}")


def _fmt_row(r) -> list[str]:
    return [r["label"], f"{r['lps']}", f"{r['runs']}", f"{r['seconds']:.4f}", f"{r['lps_per_second']:,.0f}",
            f"{r['speedup_vs_linprog']:.2f}x"]


_HEADERS = ["method", "LPs", "runs", "seconds (best)", "LPs/s", "speed-up vs linprog"]


def _rich(rec) -> None:
    from rich.console import Console
    from rich.table import Table
    console = Console(width=max(100, Console().width))
    cfg = rec["config"]
    console.print(f"[bold]MIN-PAY LPs solved per second[/bold]   {rec['command']}")
    info = Table.grid(padding=(0, 2))
    info.add_column(style="dim")
    info.add_column()
    for k, v in rec["machine"].items():
        info.add_row(k, str(v))
    console.print(info)
    console.print(f"{cfg['problems']} problems x {cfg['n']} actions = {cfg['lps']} LPs "
                  f"(m = {cfg['m']} outcomes, seed {cfg['seed']})")
    for line in _check_lines(rec):
        console.print(line)
    if not rec["results"]:
        return
    table = Table(title="MIN-PAY LPs solved per second",
                  caption="seconds: best wall-clock time of `runs` interleaved runs, LP construction included")
    for h in _HEADERS:
        table.add_column(h, justify="left" if h == "method" else "right")
    for r in rec["results"]:
        table.add_row(*_fmt_row(r))
    console.print(table)
    console.print(_target_line(rec))


def _markdown(rec) -> str:
    m, cfg = rec["machine"], rec["config"]
    out = [f"Command: `{rec['command']}`", ""]
    out += [f"- {k}: {v}" for k, v in m.items()]
    out += [f"- instances: {cfg['problems']} problems x {cfg['n']} actions = {cfg['lps']} LPs "
            f"(m = {cfg['m']} outcomes, seed {cfg['seed']})",
            "- seconds: best wall-clock time of `runs` runs, interleaved round-robin across methods, "
            "LP construction included", ""]
    out += [f"- {line}" for line in _check_lines(rec)] + [""]
    if rec["results"]:
        out.append("| " + " | ".join(_HEADERS) + " |")
        out.append("|" + "|".join(["---"] + ["---:"] * (len(_HEADERS) - 1)) + "|")
        out += ["| " + " | ".join(_fmt_row(r)) + " |" for r in rec["results"]]
        out += ["", _target_line(rec)]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
