"""Subgame-perfect equilibria of principal-agent MDPs: wall time, memory, states per second.

    python benchmarks/spe.py [--repeats 3] [--seed 0] [--reference-depth 6] [--reference-full]
                             [--no-lp] [--json | --markdown] [--profile] [--crossover]
    python benchmarks/spe.py --whole-process [--depths 20,22] [--json | --markdown]

What is measured
----------------
1. The random binary game tree of arXiv 2407.18074, Appendix D.1
   (``contractlab.theory.pamdp_families.binary_game_tree``) at depth 10 (1,023 decision
   states) and depth 20 (1,048,575): ``solve_spe(mdp)`` (backward induction by levels, the
   two-action closed form of MIN-PAY), and separately the construction of the instance
   (``binary_game_tree``, which includes validation and the level decomposition).
2. A random tree with 3 actions and 4 outcomes, each outcome its own child, depth 9 (87,381
   decision states; ``random_tree(9, 3, 4)``): ``solve_spe(mdp)`` (vertex enumeration,
   15 candidate bases per (state, action)) and ``solve_spe(mdp, method="lp")`` (batched
   HiGHS), as decision states per second.
3. The reference: a plain per-state backward-induction loop written here, one
   ``scipy.optimize.linprog(method="highs")`` MIN-PAY per (state, action), on a complete
   subtree of the same depth-9 tree (``--reference-depth`` levels, default 6: 1,365 states,
   rooted at the last state of depth ``9 − 6``), whose states per second are extrapolated to
   the 87,381 states (the per-state work does not depend on the depth; the extrapolation is
   stated in the table). ``--reference-full`` runs it on the whole tree instead (minutes).

Every ``solve_spe`` time and peak memory comes from a fresh subprocess
(``python benchmarks/spe.py --child …``) that imports contractlab, builds the instance
(timed) and solves it (timed); the best time of ``--repeats`` subprocesses is kept, and the
peak resident set size (``VmHWM`` in ``/proc/self/status`` of that subprocess: interpreter,
libraries, instance and solution together; not ``ru_maxrss``, which Linux carries over from
the forked parent) is the largest over them. One more
subprocess per instance runs the same solve under ``tracemalloc`` and reports the peak of the
memory allocated *during* ``solve_spe`` (numpy arrays are traced), and the resident set size
right after the imports (the baseline of every subprocess).

Whole process (``--whole-process``)
-----------------------------------
The commands a user runs, each in a fresh process, in a temporary folder, for every depth of
``--depths`` (default 20 and 22): ``contractlab generate binary_tree --depth D --seed 0 -o
DIR/tD.json``, ``contractlab solve DIR/tD.json -o DIR/spe.json`` and ``contractlab solve
DIR/tD.json --json > DIR/spe_stdout.json`` (stdout redirected to a file). Wall time is from
spawning to reaping; the peak resident set size is the child's ``ru_maxrss`` from
``os.wait4``. The child is the ``contractlab`` executable beside ``sys.executable`` (or
``python -m contractlab`` without one; it runs the installed package, or the one on
``PYTHONPATH``), which execs, so ``ru_maxrss`` is the peak of its own address space, except
that Linux starts it from the high-water mark of the address space that exec replaced: the
*parent's* peak at spawn time. That is why this mode runs before, and instead of, everything
else in this script, and prints the parent's peak: a lower bound of every measurement, far
below them. A command that fails is reported as ``failed (exit N)`` (the rest still run).

Check first: before anything is timed, the reference values must agree with ``solve_spe``'s
on every state of the subtree, and the vertex and LP methods must agree on the depth-9 tree
and on the depth-10 binary tree, within ``--tol`` (1e-9) relative to ``max(1, |v|)``;
otherwise the script stops with exit code 1.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

#: The issue's targets (issue 10): solve_spe alone on the depth-20 binary tree, and decision
#: states per second on the depth-9 random tree.
TARGET_DEPTH20_SECONDS = 0.3
TARGET_DEPTH20_PEAK_MIB = 250.0
TARGET_STATES_PER_SECOND = 50_000.0

#: --whole-process: the commands (``{D}``: depth, ``{dir}``: the temporary folder; a final
#: ``> file`` redirects stdout) and their targets ``(seconds, MiB)`` by (command, depth).
WHOLE_PROCESS_COMMANDS = (
    ("generate", "generate binary_tree --depth {D} --seed 0 -o {dir}/t{D}.json"),
    ("solve -o", "solve {dir}/t{D}.json -o {dir}/spe.json"),
    ("solve --json > file", "solve {dir}/t{D}.json --json > {dir}/spe_stdout.json"),
)
WHOLE_PROCESS_TARGETS = {
    ("generate", 20): (2.5, 600.0),
    ("solve -o", 20): (2.5, 600.0),
    ("solve --json > file", 20): (4.0, 600.0),
    ("solve -o", 22): (10.0, 2.5 * 1024),
}
WHOLE_PROCESS_DEPTHS = (20, 22)

BINARY_DEPTHS = (10, 20)
#: Most fresh subprocesses per instance (``--repeats``).
MAX_REPEATS = 100
TREE = dict(depth=9, n_actions=3, n_outcomes=4)


# --------------------------------------------------------------------------- instances

def build(kind: str, depth: int, seed: int):
    from contractlab.theory.pamdp_families import binary_game_tree, random_tree
    if kind == "binary":
        return binary_game_tree(depth, seed=seed)
    return random_tree(depth, TREE["n_actions"], TREE["n_outcomes"], seed=seed)


def _status_mib(field: str) -> float:
    """``VmRSS`` (current) or ``VmHWM`` (peak) resident set size of this process, from
    ``/proc/self/status`` (Linux).

    ``VmHWM`` belongs to the process's address space, which ``exec`` replaces, so it is the
    subprocess's own peak. ``getrusage(...).ru_maxrss`` is not: Linux carries it over from the
    forked copy of the parent, so it would report the *parent's* size at fork time.
    """
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024          # kB
    raise RuntimeError(f"{field} not in /proc/self/status")


def child(kind: str, depth: int, seed: int, method: str, trace: bool) -> dict:
    """One measurement in this (fresh) process: build, then solve; JSON-able record."""
    from contractlab.solvers.spe import solve_spe
    baseline = _status_mib("VmRSS")
    if trace:
        import tracemalloc
        tracemalloc.start()
        mdp = build(kind, depth, seed)
        _, build_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        res = solve_spe(mdp, method=method)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return {"baseline_rss_mib": baseline, "build_traced_peak_mib": build_peak / 2**20,
                "solve_traced_peak_mib": (peak - before) / 2**20, "states": mdp.n_states,
                "value": res.principal_value_initial}
    gc.collect()
    t0 = time.perf_counter()
    mdp = build(kind, depth, seed)
    t1 = time.perf_counter()
    gc.collect()
    t2 = time.perf_counter()
    res = solve_spe(mdp, method=method)
    t3 = time.perf_counter()
    return {"build_s": t1 - t0, "solve_s": t3 - t2, "states": mdp.n_states, "method": res.method,
            "peak_rss_mib": _status_mib("VmHWM"),
            "value": res.principal_value_initial}


def run_child(kind: str, depth: int, seed: int, method: str = "auto", trace: bool = False) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--child-depth", str(depth),
           "--seed", str(seed), "--child-method", method] + (["--trace"] if trace else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"child {' '.join(cmd[2:])} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- reference

def subtree(mdp, root: int) -> np.ndarray:
    """All states below (and including) ``root``, in increasing index (BFS: children after parents)."""
    ns = mdp.next_state
    frontier, found = np.array([root]), [np.array([root])]
    while frontier.size:
        nxt = ns[frontier].ravel()
        frontier = nxt[nxt >= 0]
        found.append(frontier)
    return np.sort(np.concatenate(found))


def linprog_backward_induction(mdp, states: np.ndarray, tie_tol: float = 1e-9):
    """Per-state SPE backup with one ``scipy.optimize.linprog`` MIN-PAY per (state, action), in
    decreasing state index (a state's children come later in BFS order). Returns ``(Vp, Va)``
    as dicts over ``states``; successors outside ``states`` must not occur."""
    from scipy.optimize import linprog
    O, r, rp, ns, g = mdp.outcome_probs, mdp.agent_rewards, mdp.principal_rewards, mdp.next_state, mdp.discount
    A, K = mdp.n_actions, mdp.n_outcomes
    Vp, Va = {}, {}
    for s in sorted(states.tolist(), reverse=True):
        cont_p = np.array([Vp[int(n)] if n >= 0 else 0.0 for n in ns[s]])
        cont_a = np.array([Va[int(n)] if n >= 0 else 0.0 for n in ns[s]])
        qbar = r[s] + g * O[s] @ cont_a
        gross = O[s] @ (rp[s] + g * cont_p)
        best, best_a, best_pay = -np.inf, -1, 0.0
        for a in range(A):
            others = [k for k in range(A) if k != a]
            res = linprog(O[s, a], A_ub=O[s, others] - O[s, a], b_ub=qbar[a] - qbar[others],
                          bounds=[(0, None)] * K, method="highs")
            if res.status == 2:
                continue
            if res.status != 0:
                raise RuntimeError(f"state {s} action {a}: linprog status {res.status}")
            value = gross[a] - res.fun
            if value > best + tie_tol * max(1.0, abs(best)) or best_a < 0:
                best, best_a, best_pay = value, a, res.fun
        Vp[s], Va[s] = best, qbar[best_a] + best_pay
    return Vp, Va


# --------------------------------------------------------------------------- main

def rel_gap(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b)), initial=0.0))


def machine_info() -> dict:
    sys.path.insert(0, str(HERE))
    try:
        from contracts import machine_info as info          # benchmarks/contracts.py
    finally:
        sys.path.pop(0)
    return info()


def measure(args) -> dict:
    from contractlab.solvers.spe import solve_spe
    info = machine_info()
    check = {"tolerance": args.tol, "items": []}

    def record_check(name, gap):
        check["items"].append({"name": name, "max_rel_gap": gap, "ok": bool(gap <= args.tol)})

    # ---- correctness first
    tree = build("tree", TREE["depth"], args.seed)
    vertex = solve_spe(tree)
    t0 = time.perf_counter()
    lp = solve_spe(tree, method="lp") if not args.no_lp else None
    lp_seconds = time.perf_counter() - t0
    if lp is not None:
        record_check(f"random tree depth {TREE['depth']}: vertex vs lp, principal and agent values",
                     max(rel_gap(vertex.principal_value, lp.principal_value),
                         rel_gap(vertex.agent_value, lp.agent_value)))
    small = build("binary", 10, args.seed)
    sv, sl = solve_spe(small), solve_spe(small, method="lp")
    record_check("binary tree depth 10: vertex vs lp, principal and agent values",
                 max(rel_gap(sv.principal_value, sl.principal_value), rel_gap(sv.agent_value, sl.agent_value)))
    ref_depth = TREE["depth"] if args.reference_full else args.reference_depth
    K = TREE["n_outcomes"]
    top = TREE["depth"] - ref_depth                            # root of the subtree at this depth (0 = root)
    root = (K ** (top + 1) - 1) // (K - 1) - 1                 # last state of depth `top`
    states = subtree(tree, root)
    t0 = time.perf_counter()
    Vp, Va = linprog_backward_induction(tree, states)
    ref_seconds = time.perf_counter() - t0
    record_check(f"linprog loop on the subtree of {len(states)} states vs solve_spe, principal and agent values",
                 max(rel_gap([Vp[s] for s in states.tolist()], vertex.principal_value[states]),
                     rel_gap([Va[s] for s in states.tolist()], vertex.agent_value[states])))
    check["passed"] = all(item["ok"] for item in check["items"])
    rec = {"machine": info, "check": check, "rows": [], "targets": []}
    if not check["passed"]:
        return rec

    # ---- timing and memory in fresh subprocesses
    def fresh(kind, depth, label):
        runs = [run_child(kind, depth, args.seed) for _ in range(args.repeats)]
        traced = run_child(kind, depth, args.seed, trace=True)
        best = min(runs, key=lambda r: r["solve_s"])
        return {"instance": label, "states": best["states"], "method": best["method"],
                "build_s": min(r["build_s"] for r in runs), "solve_s": best["solve_s"],
                "states_per_s": best["states"] / best["solve_s"],
                "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
                "baseline_rss_mib": traced["baseline_rss_mib"],
                "solve_traced_peak_mib": traced["solve_traced_peak_mib"], "runs": len(runs),
                "source": f"{len(runs)} fresh subprocesses (best time, max peak) + 1 traced"}

    rows = [fresh("binary", d, f"binary game tree (App. D.1), depth {d}") for d in BINARY_DEPTHS]
    tree_row = fresh("tree", TREE["depth"], f"random tree 3 actions x 4 outcomes, depth {TREE['depth']}")
    rows.append(tree_row)
    S = tree.n_states
    ref_rate = len(states) / ref_seconds
    if lp is not None:
        rows.append({"instance": f"same depth-{TREE['depth']} tree", "states": S, "method": "lp (batched HiGHS)",
                     "build_s": None, "solve_s": lp_seconds, "states_per_s": S / lp_seconds,
                     "peak_rss_mib": None, "baseline_rss_mib": None, "solve_traced_peak_mib": None, "runs": 1,
                     "source": "1 run in the main process"})
    rows.append({"instance": f"same depth-{TREE['depth']} tree", "states": S,
                 "method": "linprog loop, reference" + (" (extrapolated)" if len(states) < tree.n_states else ""),
                 "build_s": None, "solve_s": S / ref_rate, "states_per_s": ref_rate,
                 "peak_rss_mib": None, "baseline_rss_mib": None, "solve_traced_peak_mib": None, "runs": 1,
                 "source": (f"measured on a subtree of {len(states)} states ({ref_seconds:.2f} s), "
                            f"extrapolated to {S:,} states" if len(states) < S else
                            f"1 run on all {S:,} states")})
    for r in rows:
        r["speedup_vs_linprog"] = r["states_per_s"] / ref_rate
    rec["rows"] = rows
    d20 = rows[1]
    rec["targets"] = [
        {"what": f"binary tree depth 20: solve_spe wall time <= {TARGET_DEPTH20_SECONDS:g} s",
         "measured": f"{d20['solve_s']:.3f} s", "met": d20["solve_s"] <= TARGET_DEPTH20_SECONDS},
        {"what": f"binary tree depth 20: peak memory <= {TARGET_DEPTH20_PEAK_MIB:g} MiB (peak RSS of the whole "
                 "subprocess: interpreter, libraries, instance, solution)",
         "measured": f"{d20['peak_rss_mib']:.0f} MiB", "met": d20["peak_rss_mib"] <= TARGET_DEPTH20_PEAK_MIB},
        {"what": f"random tree depth 9: >= {TARGET_STATES_PER_SECOND:,.0f} decision states/s",
         "measured": f"{tree_row['states_per_s']:,.0f} states/s",
         "met": tree_row["states_per_s"] >= TARGET_STATES_PER_SECOND},
    ]
    return rec


# --------------------------------------------------------------------------- whole process

def contractlab_argv() -> list[str]:
    """The ``contractlab`` executable beside ``sys.executable`` (``python -m contractlab`` without one)."""
    exe = Path(sys.executable).with_name("contractlab")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "contractlab"]


def run_fresh(argv: list[str], stdout_path: Path | None, cwd: Path) -> dict:
    """Run ``argv`` in a fresh process (stdout to ``stdout_path`` or discarded): wall seconds,
    the child's peak RSS (``ru_maxrss`` from ``os.wait4``, KiB on Linux) and its exit code."""
    with tempfile.TemporaryFile(dir=cwd) as err, \
            (open(stdout_path, "wb") if stdout_path else open(os.devnull, "wb")) as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = code = os.waitstatus_to_exitcode(status)      # reaped here, not by Popen
        err.seek(0)
        tail = err.read()[-2000:].decode("utf-8", "replace").strip()
    return {"wall_s": wall, "peak_rss_mib": usage.ru_maxrss / 1024, "exit": code,
            "stderr": tail.splitlines()[-1] if code and tail else ""}


def whole_process(depths) -> dict:
    """Every command of :data:`WHOLE_PROCESS_COMMANDS` at every depth, in a temporary folder."""
    base = contractlab_argv()
    rows = []
    with tempfile.TemporaryDirectory(prefix="contractlab-bench-") as tmp:
        folder = Path(tmp)
        for depth in depths:
            for name, template in WHOLE_PROCESS_COMMANDS:
                words = shlex.split(template.format(D=depth, dir=shlex.quote(str(folder))))
                stdout_path = None
                if len(words) >= 2 and words[-2] == ">":
                    stdout_path, words = Path(words[-1]), words[:-2]
                run = run_fresh(base + words, stdout_path, folder)
                target = WHOLE_PROCESS_TARGETS.get((name, depth))
                ok = run["exit"] == 0
                rows.append({"command": "contractlab " + template.format(D=depth, dir="DIR"), "name": name,
                             "depth": depth, "states": 2 ** depth - 1, **run,
                             "target_s": target[0] if target else None,
                             "target_mib": target[1] if target else None,
                             "met": None if target is None else bool(ok and run["wall_s"] <= target[0]
                                                                     and run["peak_rss_mib"] <= target[1])})
            for f in folder.iterdir():                       # the next depth starts from an empty folder
                f.unlink()
    # the library calls inside those commands, each in its own fresh process, for comparison
    inner = {depth: run_child("binary", depth, 0) for depth in depths}
    for r in rows:
        r["inner"] = inner[r["depth"]]
    return {"executable": Path(base[0]).name if len(base) == 1 else "python -m contractlab",
            "parent_peak_rss_mib": _status_mib("VmHWM"), "rows": rows}


_WP_HEADERS = ["command", "depth", "states", "wall (s)", "peak RSS (MiB)", "inside: the library call alone", "target",
               "met"]


def _wp_cells(r) -> list[str]:
    failed = f"failed (exit {r['exit']})"
    target = "–" if r["target_s"] is None else f"<= {r['target_s']:g} s, <= {r['target_mib']:g} MiB"
    met = "–" if r["met"] is None else ("yes" if r["met"] else "NO")
    inner = r.get("inner") or {}
    library = (f"binary_game_tree {inner['build_s']:.2f} s" if r["name"] == "generate" else
               f"solve_spe {inner['solve_s']:.2f} s") if inner else "–"
    if inner:
        library += f" (process peak {inner['peak_rss_mib']:.0f} MiB)"
    return [r["command"], str(r["depth"]), f"{r['states']:,}", failed if r["exit"] else f"{r['wall_s']:.2f}",
            failed if r["exit"] else f"{r['peak_rss_mib']:.0f}", library, target, met]


def _wp_notes(rec) -> list[str]:
    notes = [f"executable: {rec['executable']} (beside the interpreter); each command in a fresh process; wall "
             f"time from spawn to reap; peak RSS = ru_maxrss of the child (os.wait4)",
             "inside: the library call the command makes (binary_game_tree or solve_spe on the same instance), "
             "timed alone in another fresh process",
             f"peak RSS of this script when it spawned them: {rec['parent_peak_rss_mib']:.0f} MiB (Linux starts a "
             f"child's ru_maxrss there, so no smaller peak could be seen)"]
    notes += [f"{r['command']}: {r['stderr']}" for r in rec["rows"] if r["exit"] and r["stderr"]]
    return notes


def print_whole_process(rec, command: str, as_markdown: bool) -> None:
    if as_markdown:
        out = [f"Command: `{command}`", "", "| " + " | ".join(_WP_HEADERS) + " |",
               "|---|---:|---:|---:|---:|---|---|---|"]
        out += ["| " + " | ".join(_wp_cells(r)) + " |" for r in rec["rows"]]
        out += [""] + [f"- {line}" for line in _wp_notes(rec)]
        print("\n".join(out))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table
    console = Console(width=max(140, Console().width))
    table = Table(title=f"contractlab commands in fresh processes   {command}")
    for h in _WP_HEADERS:
        table.add_column(h, justify="left" if h in ("command", "target", "met") else "right")
    for r in rec["rows"]:
        table.add_row(*(escape(c) for c in _wp_cells(r)))
    console.print(table)
    for line in _wp_notes(rec):
        console.print(escape(line))


#: (actions, outcomes) of the --crossover measurement.
CROSSOVER_SIZES = ((2, 4), (3, 4), (5, 4), (6, 4), (4, 6), (3, 16), (5, 6), (6, 6))


def crossover(args, command: str) -> int:
    """Microseconds per (problem, action) pair: vertex enumeration vs the batched HiGHS LP.

    ``--crossover-problems`` random problems per size (Dirichlet(1) outcome rows, costs
    ``U[0, 1)``, from ``default_rng(seed)``), every action of every problem; best of 3 runs each.
    Values are checked to agree (1e-9 relative) before timing.
    """
    from contractlab.solvers.min_pay_vertex import (MAX_VERTEX_CANDIDATES, choose_method, n_candidates,
                                                    solve_min_pay_lp, solve_min_pay_vertex)
    rng = np.random.default_rng(args.seed)
    P = args.crossover_problems
    print(f"{command}\n{P} problems per size, every action; best of 3 runs; "
          f"MAX_VERTEX_CANDIDATES = {MAX_VERTEX_CANDIDATES}\n")
    print("| actions | outcomes | candidates | auto picks | vertex (µs/pair) | batched HiGHS LP (µs/pair) |")
    print("|---:|---:|---:|---|---:|---:|")
    for n, m in CROSSOVER_SIZES:
        F = rng.dirichlet(np.ones(m), size=(P, n))
        c = rng.uniform(0.0, 1.0, size=(P, n))
        actions, problems = np.tile(np.arange(n), P), np.repeat(np.arange(P), n)
        v = solve_min_pay_vertex(F, c, actions, problems=problems)
        lp = solve_min_pay_lp(F, c, actions, problems=problems)
        ok = lp.implementable
        if not (np.array_equal(v.implementable, ok) and rel_gap(v.expected_payment[ok], lp.expected_payment[ok])
                <= args.tol):
            print(f"({n}, {m}): vertex and LP disagree", file=sys.stderr)
            return 1
        times = []
        for fn in (lambda: solve_min_pay_vertex(F, c, actions, problems=problems),
                   lambda: solve_min_pay_lp(F, c, actions, problems=problems)):
            best = np.inf
            for _ in range(3):
                t0 = time.perf_counter()
                fn()
                best = min(best, time.perf_counter() - t0)
            times.append(best / len(actions) * 1e6)
        print(f"| {n} | {m} | {n_candidates(n, m)} | {choose_method(n, m)} | {times[0]:.2f} | {times[1]:.2f} |")
    return 0


def profile(args, command: str) -> int:
    """cProfile of ``solve_spe`` on the depth-20 binary tree (instance built outside the profile)."""
    import cProfile
    import pstats
    from contractlab.solvers.spe import solve_spe
    mdp = build("binary", 20, args.seed)
    solve_spe(mdp)                                              # warm-up
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    solve_spe(mdp)
    prof.disable()
    print(f"{command}\ncProfile of one solve_spe on the depth-20 binary tree "
          f"({time.perf_counter() - t0:.3f} s with the profiler on), by own time:")
    pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(10)
    return 0


def _fmt(v, spec):
    return "–" if v is None else format(v, spec)


_HEADERS = ["instance", "decision states", "method", "build (s)", "solve_spe (s)", "states/s",
            "peak RSS (MiB)", "traced peak of solve (MiB)", "vs linprog loop"]


def _cells(r) -> list[str]:
    return [r["instance"], f"{r['states']:,}", r["method"], _fmt(r["build_s"], ".3f"), f"{r['solve_s']:.3f}",
            f"{r['states_per_s']:,.0f}", _fmt(r["peak_rss_mib"], ".0f"), _fmt(r["solve_traced_peak_mib"], ".1f"),
            f"{r['speedup_vs_linprog']:,.0f}x"]


def _check_lines(rec) -> list[str]:
    c = rec["check"]
    lines = [f"{i['name']}: max |v - v_ref| / max(1, |v_ref|) = {i['max_rel_gap']:.2e}" for i in c["items"]]
    lines.append(f"check (tolerance {c['tolerance']:g}): {'PASSED' if c['passed'] else 'FAILED - nothing timed'}")
    return lines


def _notes(rec) -> list[str]:
    out = [f"{r['instance']} / {r['method']}: {r['source']}" for r in rec["rows"]]
    if rec["rows"]:
        out.append(f"baseline RSS of a subprocess after importing contractlab: "
                   f"{rec['rows'][0]['baseline_rss_mib']:.0f} MiB (included in every peak RSS)")
    return out


def _target_lines(rec) -> list[str]:
    return [f"target: {t['what']}: {t['measured']}, {'met' if t['met'] else 'NOT met'}" for t in rec["targets"]]


def print_rich(rec, command: str) -> None:
    from rich.console import Console
    from rich.table import Table
    console = Console(width=max(140, Console().width))
    console.print(f"[bold]Subgame-perfect equilibria by backward induction[/bold]   {command}")
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim")
    grid.add_column()
    for k, v in rec["machine"].items():
        grid.add_row(k, str(v))
    console.print(grid)
    for line in _check_lines(rec):
        console.print(line)
    if not rec["rows"]:
        return
    table = Table(title="solve_spe: wall time, memory, decision states per second")
    for h in _HEADERS:
        table.add_column(h, justify="left" if h in ("instance", "method") else "right")
    for r in rec["rows"]:
        table.add_row(*_cells(r))
    console.print(table)
    for line in _notes(rec) + _target_lines(rec):
        console.print(line)


def markdown(rec, command: str) -> str:
    out = [f"Command: `{command}`", ""]
    out += [f"- {k}: {v}" for k, v in rec["machine"].items()] + [""]
    out += [f"- {line}" for line in _check_lines(rec)] + [""]
    if rec["rows"]:
        out.append("| " + " | ".join(_HEADERS) + " |")
        out.append("|" + "|".join(["---", "---:", "---"] + ["---:"] * (len(_HEADERS) - 3)) + "|")
        out += ["| " + " | ".join(_cells(r)) + " |" for r in rec["rows"]]
        out += [""] + [f"- {line}" for line in _notes(rec)] + [""] + [f"- {line}" for line in _target_lines(rec)]
    return "\n".join(out)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3, help="fresh subprocesses per instance, best time kept (default 3)")
    p.add_argument("--seed", type=int, default=0, help="seed of the instance generators (default 0)")
    p.add_argument("--reference-depth", type=int, default=6,
                   help="levels of the subtree the linprog reference runs on (default 6: 1,365 states)")
    p.add_argument("--reference-full", action="store_true", help="run the linprog reference on the whole depth-9 tree")
    p.add_argument("--no-lp", action="store_true", help="skip solve_spe(method='lp') on the depth-9 tree")
    p.add_argument("--tol", type=float, default=1e-9, help="agreement tolerance of the checks (default 1e-9)")
    p.add_argument("--crossover", action="store_true",
                   help="print microseconds per MIN-PAY pair, vertex vs batched LP, for several sizes (the "
                        "measurement behind MAX_VERTEX_CANDIDATES) instead of the table")
    p.add_argument("--crossover-problems", type=int, default=2000,
                   help="problems per size for --crossover (default 2000)")
    p.add_argument("--profile", action="store_true",
                   help="print a cProfile of solve_spe on the depth-20 binary tree instead of the table")
    p.add_argument("--whole-process", action="store_true",
                   help="time the contractlab commands a user runs (generate, solve -o, solve --json > file), "
                        "each in a fresh process, instead of the table")
    p.add_argument("--depths", default=",".join(map(str, WHOLE_PROCESS_DEPTHS)),
                   help="binary-tree depths of --whole-process, comma-separated (default 20,22)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print one JSON record")
    out.add_argument("--markdown", action="store_true", help="print markdown (for docs/performance.md)")
    p.add_argument("--child", choices=["binary", "tree"], help=argparse.SUPPRESS)
    p.add_argument("--child-depth", type=int, help=argparse.SUPPRESS)
    p.add_argument("--child-method", default="auto", help=argparse.SUPPRESS)
    p.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args(argv)

    def fail(flag: str, reason: str):
        # one line, as the contractlab commands print it (contractlab is not imported here: see --whole-process)
        print(f"error: {flag}: {reason}", file=sys.stderr)
        raise SystemExit(2)

    if not 1 <= a.repeats <= MAX_REPEATS:
        fail("--repeats", f"must be in [1, {MAX_REPEATS}], got {a.repeats}")
    if a.seed < 0:
        fail("--seed", f"must be >= 0, got {a.seed}")
    if not 1 <= a.reference_depth <= TREE["depth"]:
        fail("--reference-depth", f"must be in [1, {TREE['depth']}], got {a.reference_depth}")
    if not (np.isfinite(a.tol) and a.tol > 0):
        fail("--tol", f"must be a finite number > 0, got {a.tol}")
    if a.crossover_problems < 1:
        fail("--crossover-problems", f"must be >= 1, got {a.crossover_problems}")
    if a.crossover:
        from contractlab.theory.budget import check_memory
        from contractlab.theory.errors import InvalidInstanceError
        n, m = max(CROSSOVER_SIZES, key=lambda nm: nm[0] * nm[0] * nm[1])
        try:    # the batched LP of the largest size: (P n) LPs of n - 1 rows and m columns, copied a few times
            check_memory("--crossover-problems", 16 * 8.0 * a.crossover_problems * n * n * m,
                         f"{a.crossover_problems} problems of {n} actions and {m} outcomes")
        except InvalidInstanceError as exc:
            fail(exc.field, exc.reason)
    depths = []
    for i, d in enumerate(a.depths.split(",")):
        try:
            depths.append(int(d))
        except ValueError:
            fail(f"--depths[{i}]", f"expected an integer, got {d[:40]!r}")
        if not 1 <= depths[-1] <= 26:
            fail(f"--depths[{i}]", f"must lie in [1, 26], got {depths[-1]}")
    a.depths = tuple(depths)
    return a


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.child_depth, args.seed, args.child_method, args.trace)))
        return 0
    command = "python benchmarks/spe.py " + " ".join(sys.argv[1:] if argv is None else argv)
    if args.whole_process:
        rec = whole_process(args.depths)
        rec["command"] = command.strip()
        if args.json:
            print(json.dumps(rec, indent=2))
        else:
            print_whole_process(rec, rec["command"], args.markdown)
        return 0 if all(r["exit"] == 0 for r in rec["rows"]) else 1
    if args.profile:
        return profile(args, command.strip())
    if args.crossover:
        return crossover(args, command.strip())
    rec = measure(args)
    rec["command"] = command.strip()
    if args.json:
        print(json.dumps(rec, indent=2, default=str))
    elif args.markdown:
        print(markdown(rec, rec["command"]))
    else:
        print_rich(rec, rec["command"])
    ok = rec["check"]["passed"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
