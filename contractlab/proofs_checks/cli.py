"""The ``contractlab`` command line: ``verify``, ``solve`` and ``theorems``.

Exit codes: 0 success, 1 a theorem failed, 2 bad input (the message names the field and
index; no traceback is printed).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Sequence

from ..theory.errors import InvalidInstanceError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's default is exit code 2 with usage; keep 2, one line
        self.exit(EXIT_BAD_INPUT, f"contractlab: error: {message}\n")


#: Defaults of ``verify`` (kept here so that ``solve`` does not import hypothesis).
DEFAULT_COUNT, DEFAULT_SEED = 50, 0


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="contractlab", description="Exact contracts and numerically verified incentive theorems.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    v = sub.add_parser("verify", help="check the registered theorems on drawn instances")
    v.add_argument("--count", type=int, default=DEFAULT_COUNT, help=f"instances per theorem (default {DEFAULT_COUNT})")
    v.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"seed of the instance draws (default {DEFAULT_SEED})")
    v.add_argument("--theorem", action="append", metavar="ID",
                   help="only this theorem (repeatable; 'prefix.' selects a family)")
    v.add_argument("--out", metavar="FILE", help="write machine-readable results (JSON) here")
    v.add_argument("--no-progress", action="store_true", help="no progress bar")
    s = sub.add_parser("solve", help="solve a contract problem file (or a bimatrix game) exactly")
    s.add_argument("file", help="a JSON file of kind contract_problem or bimatrix_game")
    s.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    s.add_argument("--backend", choices=("highs", "cvxpy"), default="highs")
    s.add_argument("--certify", action="store_true",
                   help="check the answers exactly in rational arithmetic (contract problems; see docs/certificates.md)")
    g = sub.add_parser("generate", help="write a random instance of a family to a file")
    g.add_argument("family", help="binary_tree | random_tree | random_dag | random_discounted | contractual_rl")
    g.add_argument("--depth", type=int, help="tree depth (binary_tree, random_tree)")
    g.add_argument("--states", type=int, help="number of states (random_dag, random_discounted, contractual_rl)")
    g.add_argument("--actions", type=int, help="number of agent actions")
    g.add_argument("--outcomes", type=int, help="number of outcomes")
    g.add_argument("--discount", type=float, help="discount factor (random_discounted, contractual_rl)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--npz-threshold", type=int, default=100_000,
                   help="arrays with at least this many entries go to a sibling .npz (default 100000)")
    g.add_argument("-o", "--output", required=True, metavar="FILE", help="the JSON file to write")
    t = sub.add_parser("theorems", help="list the registered theorems")
    t.add_argument("--json", action="store_true", help="as JSON on stdout")
    t.add_argument("--markdown", action="store_true", help="as the Markdown page docs/theorems.md")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "verify":
            return _verify(args)
        if args.command == "solve":
            return _solve(args)
        if args.command == "generate":
            return _generate(args)
        return _theorems(args)
    except InvalidInstanceError as exc:
        print(f"contractlab: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:  # e.g. --out in a folder that does not exist
        print(f"contractlab: error: {exc.filename or 'file'}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("contractlab: interrupted", file=sys.stderr)
        return 130


def _verify(args) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from ..theory.fileio import write_text_atomic
    from .runner import run_theorem, select

    if args.count < 1:
        raise InvalidInstanceError("--count", f"must be >= 1, got {args.count}")
    if args.out:
        from pathlib import Path
        folder = Path(args.out).resolve().parent
        if not folder.is_dir():
            raise InvalidInstanceError("--out", f"folder {str(folder)!r} does not exist")
    try:
        theorems = select(args.theorem)
    except KeyError as exc:
        raise InvalidInstanceError("--theorem", f"unknown theorem id {exc.args[0]!r} (see 'contractlab theorems')")
    console = Console()
    if not console.is_terminal:  # a log or a pipe: wide enough that ids and margins are never cut
        console = Console(width=120)
    reports = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, disable=args.no_progress, transient=True) as progress:
        task = progress.add_task("verifying", total=args.count * len(theorems))
        for th in theorems:
            progress.update(task, description=th.id)
            done_before = progress.tasks[0].completed
            reports.append(run_theorem(th, args.count, args.seed, on_example=lambda: progress.advance(task)))
            progress.update(task, completed=done_before + args.count)
    table = Table(title=f"contractlab verify — {len(theorems)} theorems, seed {args.seed}")
    for col, kw in (("theorem", {"no_wrap": True, "min_width": max(len(t.id) for t in theorems)}), ("instances", {"justify": "right"}), ("vacuous", {"justify": "right"}),
                    ("worst margin", {"justify": "right"}), ("LP answers certified", {"justify": "right"}),
                    ("verdict", {})):
        table.add_column(col, **kw)
    for r in reports:
        margin = "—" if not math.isfinite(r.worst_margin) else f"{r.worst_margin:.3g}"
        verdict = "[green]pass[/green]" if r.passed else "[bold red]FAIL[/bold red]"
        certified = f"{r.certified}/{r.lp_answers}" if r.lp_answers else "—"
        table.add_row(r.id, str(r.instances), str(r.vacuous), margin, certified, verdict)
    console.print(table)
    failed = [r for r in reports if not r.passed]
    for r in failed:
        console.print(f"[bold red]{r.id}[/bold red] failed: {r.failure}", markup=True, highlight=False)
    console.print(f"{len(reports) - len(failed)} passed, {len(failed)} failed")
    if args.out:
        from .. import __version__
        doc = {"kind": "verify_results", "version": 1, "contractlab": __version__, "seed": args.seed,
               "count": args.count, "passed": not failed, "theorems": [r.to_json() for r in reports]}
        write_text_atomic(args.out, json.dumps(doc, indent=1, allow_nan=False) + "\n")
    return EXIT_FAILED if failed else EXIT_OK


_FAMILY_ARGS = {"binary_tree": ("depth",), "random_tree": ("depth", "actions", "outcomes"),
                "random_dag": ("states", "actions", "outcomes"),
                "random_discounted": ("states", "actions", "outcomes", "discount"),
                "contractual_rl": ("states", "actions", "discount")}
_PARAM = {"depth": "depth", "states": "n_states", "actions": "n_actions", "outcomes": "n_outcomes",
          "discount": "discount"}


def _generate(args) -> int:
    from pathlib import Path

    from ..theory import fileio
    from ..theory.pamdp_families import FAMILIES

    if args.npz_threshold < 1:
        raise InvalidInstanceError("--npz-threshold", f"must be >= 1, got {args.npz_threshold}")
    if args.family not in FAMILIES:
        raise InvalidInstanceError("family", f"unknown family {args.family!r} (known: {', '.join(FAMILIES)})")
    allowed = _FAMILY_ARGS[args.family]
    kwargs = {}
    for name in _PARAM:
        value = getattr(args, name)
        if value is None:
            continue
        if name not in allowed:
            raise InvalidInstanceError(f"--{name}", f"does not apply to family {args.family!r} "
                                                    f"(it takes {', '.join('--' + a for a in allowed)})")
        kwargs[_PARAM[name]] = value
    if "depth" in allowed and "depth" not in kwargs:
        raise InvalidInstanceError("--depth", f"is required for family {args.family!r}")
    if "states" in allowed and "n_states" not in kwargs:
        raise InvalidInstanceError("--states", f"is required for family {args.family!r}")
    folder = Path(args.output).resolve().parent
    if not folder.is_dir():
        raise InvalidInstanceError("--output", f"folder {str(folder)!r} does not exist")
    mdp = FAMILIES[args.family](seed=args.seed, **kwargs)
    fileio.save(mdp, args.output, npz_threshold=args.npz_threshold)
    print(f"wrote {args.output}: {args.family}, {mdp.n_states} states, {mdp.n_actions} actions, "
          f"{mdp.n_outcomes} outcomes, discount {mdp.discount:g}", file=sys.stderr)
    return EXIT_OK


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _certificate_json(cert) -> dict:
    value = cert.exact_value
    return {"verdict": cert.verdict, "exact_value": None if value is None else str(value), "reason": cert.reason}


def solve_document(problem, backend: str = "highs", certify: bool = False) -> dict:
    """The JSON-ready answer of ``contractlab solve`` for a contract problem (with exact
    certificates of every answer when ``certify``)."""
    from ..solvers.linear import best_linear_contract
    from ..solvers.optimal import first_best, optimal_contract

    opt = optimal_contract(problem, backend=backend)
    fb = first_best(problem)
    doc: dict = {
        "kind": "contract_solution", "version": 1, "backend": backend,
        "optimal": {"action": opt.action, "action_name": problem.action_label(opt.action),
                    "contract": opt.contract.tolist(), "expected_payment": opt.expected_payment,
                    "principal_utility": opt.principal_utility, "agent_utility": opt.agent_utility},
        "first_best": {"action": fb.action, "action_name": problem.action_label(fb.action), "welfare": fb.welfare},
        "min_pay": [{"action": r.action, "action_name": problem.action_label(r.action),
                     "implementable": r.implementable, "expected_payment": _finite(r.expected_payment),
                     "contract": None if r.contract is None else r.contract.tolist(),
                     "principal_utility": _finite(float(u)),
                     "witness": None if r.witness is None else r.witness.tolist()}
                    for r, u in zip(opt.table, opt.principal_utilities)],
    }
    if (problem.rewards >= 0).all():
        lin = best_linear_contract(problem)
        doc["linear"] = {"alpha": lin.alpha, "action": lin.action, "action_name": problem.action_label(lin.action),
                         "principal_utility": lin.principal_utility, "agent_utility": lin.agent_utility,
                         "critical_values": lin.critical_values.tolist(),
                         "induced_actions": lin.induced_actions.tolist()}
    else:
        doc["linear"] = None
        doc["linear_note"] = "linear contracts need non-negative rewards (limited liability)"
    if certify:
        from ..solvers.certify import certify as certify_result
        cert = certify_result(opt, problem)
        doc["optimal"]["certificate"] = _certificate_json(cert)
        for row, part in zip(doc["min_pay"], cert.parts):
            row["certificate"] = _certificate_json(part)
        if doc["linear"] is not None:
            doc["linear"]["certificate"] = _certificate_json(certify_result(lin, problem))
    return doc


def _solve(args) -> int:
    from ..theory import fileio

    obj = fileio.load(args.file)
    kind = fileio.to_dict(obj)["kind"]
    if kind == "contract_problem":
        doc = solve_document(obj, args.backend, certify=args.certify)
        if args.json:
            sys.stdout.write(json.dumps(doc, indent=1, allow_nan=False) + "\n")
        else:
            _print_contract_solution(obj, doc)
        return EXIT_OK
    if kind == "pamdp":
        doc = pamdp_solution_document(obj, args.backend)
        if args.json:
            sys.stdout.write(json.dumps(doc, allow_nan=False) + "\n")
        else:
            _print_pamdp_solution(obj, doc)
        return EXIT_OK
    if kind == "bimatrix_game":
        from ..solvers.stackelberg import stackelberg
        res = stackelberg(obj, backend=args.backend)
        doc = {"kind": "stackelberg_solution", "version": 1, "backend": args.backend,
               "leader_strategy": res.leader_strategy.tolist(), "follower_action": res.follower_action,
               "leader_value": res.leader_value, "follower_value": res.follower_value}
        if args.json:
            sys.stdout.write(json.dumps(doc, indent=1, allow_nan=False) + "\n")
        else:
            from rich.console import Console
            Console().print(doc)
        return EXIT_OK
    raise InvalidInstanceError("kind", f"'contractlab solve' does not handle kind {kind!r}")


def pamdp_solution_document(mdp, backend: str = "highs") -> dict:
    """The JSON-ready answer of ``contractlab solve`` for a principal-agent MDP (its SPE)."""
    from ..solvers.spe import solve_spe

    def rows(action, contract, payment):
        return [{"action": int(a), "contract": b.tolist(), "expected_payment": float(p)}
                for a, b, p in zip(action, contract, payment)]

    if mdp.horizon is None and not mdp.is_acyclic:
        return _discounted_solution_document(mdp, backend, rows)
    res = solve_spe(mdp, backend=backend)
    pol = res.policy
    if pol.time_indexed:
        policy = [rows(pol.action[t], pol.contract[t], res.expected_payment[t]) for t in range(pol.action.shape[0])]
    else:
        policy = rows(pol.action, pol.contract, res.expected_payment)
    return {"kind": "pamdp_solution", "version": 1, "solution_concept": "subgame-perfect equilibrium",
            "backend": backend, "method": res.method, "initial_state": mdp.initial_state,
            "principal_value": res.principal_value_initial, "agent_value": res.agent_value_initial,
            "time_indexed": pol.time_indexed, "policy": policy}


def _discounted_solution_document(mdp, backend: str, rows) -> dict:
    """A discounted cyclic instance: the meta-algorithm, certified by the SPE gap of its profile."""
    import numpy as np

    from ..solvers.meta_algorithm import meta_algorithm
    from ..solvers.pamdp_policy import evaluate
    from .spe_checks import spe_gap

    res = meta_algorithm(mdp, backend=backend)
    ev = evaluate(mdp, res.policy, res.agent_policy)
    payment = np.einsum("sk,sk->s", mdp.outcome_probs[np.arange(mdp.n_states), res.policy.action],
                        res.policy.contract)
    s0 = mdp.initial_state
    return {"kind": "pamdp_solution", "version": 1, "solution_concept": "subgame-perfect equilibrium",
            "backend": backend, "method": "meta_algorithm", "initial_state": s0,
            "principal_value": float(ev.principal_value[s0]), "agent_value": float(ev.agent_value[s0]),
            "converged": res.converged, "iterations": res.iterations,
            "spe_gap": spe_gap(mdp, res.policy, res.agent_policy).gap,
            "time_indexed": False, "policy": rows(res.policy.action, res.policy.contract, payment)}


def _print_pamdp_solution(mdp, doc: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]Subgame-perfect equilibrium[/bold] of a principal-agent MDP with {mdp.n_states} states, "
                  f"{mdp.n_actions} actions, {mdp.n_outcomes} outcomes (method {doc['method']})")
    console.print(f"  at the initial state {doc['initial_state']}: principal value {doc['principal_value']:.6g}, "
                  f"agent value {doc['agent_value']:.6g}")
    if "converged" in doc:
        console.print(f"  meta-algorithm: {'converged' if doc['converged'] else '[bold red]NOT converged[/bold red]'}"
                      f" after {doc['iterations']} iterations; SPE gap of the profile {doc['spe_gap']:.3g}")
    rows = doc["policy"][0] if doc["time_indexed"] else doc["policy"]
    shown = 20
    table = Table(title="policy" + (" at step 0" if doc["time_indexed"] else "")
                  + (f" (first {shown} of {len(rows)} states; --json for all)" if len(rows) > shown else ""))
    for col in ("state", "recommended action", "contract", "expected payment"):
        table.add_column(col)
    for s, row in enumerate(rows[:shown]):
        table.add_row(str(s), str(row["action"]), _fmt(row["contract"]), f"{row['expected_payment']:.6g}")
    console.print(table)


def _fmt(values) -> str:
    return "[" + ", ".join(f"{v:.6g}" for v in values) + "]"


def _print_contract_solution(problem, doc: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    o, fb, lin = doc["optimal"], doc["first_best"], doc["linear"]
    console.print(f"[bold]Optimal contract[/bold]: implement action {o['action_name']} with t = {_fmt(o['contract'])}")
    console.print(f"  expected payment {o['expected_payment']:.6g}, principal utility (OPT) "
                  f"{o['principal_utility']:.6g}, agent utility {o['agent_utility']:.6g}")
    if lin is not None:
        console.print(f"[bold]Best linear contract[/bold]: α = {lin['alpha']:.6g}, induces action {lin['action_name']},"
                      f" principal utility (LIN) {lin['principal_utility']:.6g}")
    else:
        console.print(f"[bold]Best linear contract[/bold]: none ({doc['linear_note']})")
    console.print(f"[bold]First best[/bold]: action {fb['action_name']}, welfare (FB) {fb['welfare']:.6g}")
    if "certificate" in o:
        c = o["certificate"]
        console.print(f"[bold]Certificate[/bold] of the optimal contract: {c['verdict']}"
                      + (f", OPT = {c['exact_value']} exactly" if c["exact_value"] else "") + f" — {c['reason']}")
        if lin is not None:
            console.print(f"[bold]Certificate[/bold] of the best linear contract: {lin['certificate']['verdict']}"
                          f" — {lin['certificate']['reason']}")
    table = Table(title="MIN-PAY per action")
    certified = "certificate" in doc["min_pay"][0]
    for col in ("action", "implementable", "min expected payment", "principal utility", "contract") + \
            (("certificate",) if certified else ()):
        table.add_column(col)
    for row in doc["min_pay"]:
        imp = row["implementable"]
        table.add_row(row["action_name"], "yes" if imp else "no",
                      f"{row['expected_payment']:.6g}" if imp else "—",
                      f"{row['principal_utility']:.6g}" if imp else "—",
                      _fmt(row["contract"]) if imp else f"witness {_fmt(row['witness'])}" if row["witness"] else "—",
                      *((row["certificate"]["verdict"],) if certified else ()))
    console.print(table)


def theorems_markdown(theorems: dict) -> str:
    """The registry as the Markdown page ``docs/theorems.md``."""
    lines = ["# Registered theorems", "",
             "Generated by `contractlab theorems --markdown > docs/theorems.md`; checked by",
             "`contractlab verify` and by `tests/test_theorems.py` on instances drawn by each theorem's",
             "hypothesis strategy.", ""]
    for t in theorems.values():
        lines += [f"## `{t.id}`", "", t.statement, "", f"*Source:* {t.source}", ""]
        if t.expression is not None:
            lines += [f"*Expression:* `{t.expression}`", ""]
    return "\n".join(lines)


def _theorems(args) -> int:
    from .registry import all_theorems

    theorems = all_theorems()
    if args.json:
        sys.stdout.write(json.dumps([{"id": t.id, "statement": t.statement, "source": t.source,
                                      "expression": None if t.expression is None else str(t.expression)}
                                     for t in theorems.values()], indent=1) + "\n")
        return EXIT_OK
    if args.markdown:
        sys.stdout.write(theorems_markdown(theorems))
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table
    table = Table(title=f"{len(theorems)} registered theorems", show_lines=True)
    table.add_column("id", no_wrap=True)
    table.add_column("statement")
    table.add_column("source")
    for t in theorems.values():
        table.add_row(t.id, t.statement, t.source)
    Console().print(table)
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
