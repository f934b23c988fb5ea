"""The ``contractlab`` command line: ``verify``, ``solve``, ``generate``, ``learn``, ``check``
and ``theorems``.

Exit codes: 0 success, 1 a theorem failed, 2 bad input (the message names the field and
index; no traceback is printed), 3 a solver failure (an LP answer failed its check, or HiGHS
and cvxpy disagree under ``--backend both``; one line names the LP).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Sequence

from ..theory.errors import InvalidInstanceError, SolverFailure

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_SOLVER_FAILURE = 0, 1, 2, 3


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
    s.add_argument("--backend", choices=("highs", "cvxpy", "both"), default="highs",
                   help="LP backend; 'both' solves with HiGHS and cvxpy and fails (exit 3) where they disagree")
    s.add_argument("--exact", action="store_true",
                   help="also give the exact rational optimum (numbers in the file read exactly as written; "
                        "contract problems)")
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
    c = sub.add_parser("check", help="check a contract policy against the exact SPE of a principal-agent MDP")
    c.add_argument("instance", help="a JSON file of kind pamdp")
    c.add_argument("policy", help="a JSON file of kind contract_policy (large arrays may sit in a sibling .npz)")
    c.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    c.add_argument("--tie-break", choices=("principal", "adversarial"), default="principal",
                   help="how the exact best-responding agent breaks ties (default principal)")
    c.add_argument("--agent-policy", metavar="FILE",
                   help="an agent_policy JSON file ({'kind': 'agent_policy', 'version': 1, 'action': [...]}) or a "
                        "contract_policy file whose actions the agent plays: report its regret")
    lp = sub.add_parser("learn", help="train a learned principal and agent on a principal-agent MDP and write "
                                      "the principal's contract policy")
    lp.add_argument("instance", help="a JSON file of kind pamdp")
    lp.add_argument("--learner", choices=("tabular", "deep"), default="tabular",
                    help="tabular (numpy) or deep (torch, the extra [deep]); default tabular")
    lp.add_argument("-o", "--output", required=True, metavar="POLICY", help="the contract_policy JSON file to write")
    lp.add_argument("--iterations", type=int, help="iterations of the run (default: the learner's)")
    lp.add_argument("--margin", type=float, help="nudging margin ξ >= 0 of the contracts (default: the learner's)")
    lp.add_argument("--seed", type=int, default=0)
    lp.add_argument("--eval-every", type=int, default=0, metavar="K",
                    help="evaluate the greedy policy against an exact best-responding agent every K iterations")
    lp.add_argument("--checkpoint", metavar="FILE",
                    help="save the learner here at the end, every --checkpoint-every iterations and on Ctrl-C; "
                         "if FILE exists, resume from it")
    lp.add_argument("--checkpoint-every", type=int, default=0, metavar="K")
    lp.add_argument("--curve", metavar="FILE", help="write the learning curve (JSON) here")
    lp.add_argument("--json", action="store_true", help="print the check of the learned policy as JSON")
    lp.add_argument("--no-progress", action="store_true", help="no progress bar")
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
        if args.command == "check":
            return _check(args)
        if args.command == "learn":
            return _learn(args)
        return _theorems(args)
    except InvalidInstanceError as exc:
        print(f"contractlab: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except SolverFailure as exc:
        print(f"contractlab: solver failure: {exc}", file=sys.stderr)
        return EXIT_SOLVER_FAILURE
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


def _check(args) -> int:
    """``contractlab check INSTANCE POLICY``: the policy against the exact SPE (policy_check.py)."""
    from ..theory import fileio
    from .policy_check import check_policy, load_agent_policy

    mdp = fileio.load(args.instance, expect="pamdp")
    policy = fileio.load(args.policy, expect="contract_policy")
    agent = None if args.agent_policy is None else load_agent_policy(args.agent_policy)
    report = check_policy(mdp, policy, agent, tie_break=args.tie_break)
    if args.json:
        sys.stdout.write(json.dumps(report.to_json(), indent=1, allow_nan=False) + "\n")
    else:
        from rich.console import Console
        console = Console() if Console().is_terminal else Console(width=120)
        console.print(report.to_table(f"contractlab check — {args.policy} on {args.instance} ({mdp.n_states} states)"))
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


def _learn(args) -> int:
    """``contractlab learn INSTANCE -o POLICY``: train, write the policy, check it (policy_check.py)."""
    import os

    from ..learning import exact_value, learning_curve, load_learner, make_learner
    from ..theory import fileio
    from .policy_check import check_policy

    mdp = fileio.load(args.instance, expect="pamdp")
    for name in ("eval_every", "checkpoint_every"):
        if getattr(args, name) < 0:
            raise InvalidInstanceError(f"--{name.replace('_', '-')}", f"must be >= 0, got {getattr(args, name)}")
    overrides = {k: v for k, v in (("iterations", args.iterations), ("margin", args.margin)) if v is not None}
    resumed = args.checkpoint is not None and os.path.exists(args.checkpoint)
    if resumed:
        if overrides:
            raise InvalidInstanceError("--checkpoint", f"{args.checkpoint!r} exists: resuming uses its settings; drop "
                                       f"{', '.join('--' + k for k in overrides)} or remove the file")
        learner = load_learner(args.learner, args.checkpoint, mdp)
    else:
        learner = make_learner(args.learner, mdp, seed=args.seed, **overrides)
    total = learner.config.iterations

    def save_checkpoint() -> None:
        if args.checkpoint is not None:
            learner.save(args.checkpoint)

    def train(callback) -> None:
        try:
            learner.train(callback=callback, eval_every=args.eval_every)
        except KeyboardInterrupt:
            save_checkpoint()
            where = (f"; checkpoint saved to {args.checkpoint}: the same command resumes" if args.checkpoint
                     else " (no --checkpoint: nothing saved)")
            print(f"contractlab: stopped at iteration {learner.iteration}{where}", file=sys.stderr)
            raise

    def every(iteration: int) -> None:
        if args.checkpoint_every and iteration % args.checkpoint_every == 0:
            save_checkpoint()

    if args.no_progress or args.json:
        train(lambda it, tot, metrics: every(it))
    else:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      TextColumn("{task.fields[info]}"), transient=False) as bar:
            task = bar.add_task(f"learn ({args.learner})", total=total, completed=learner.iteration, info="")

            def callback(it, tot, metrics):
                info = f"ε {metrics.get('epsilon', float('nan')):.2f}"
                if "principal_value" in metrics:
                    info += f"  value {metrics['principal_value']:.4f}"
                bar.update(task, completed=it, info=info)
                every(it)
            train(callback)
    save_checkpoint()
    policy = learner.policy()
    fileio.save(policy, args.output, npz_threshold=100_000)
    if args.curve is not None:
        from ..theory.fileio import write_text_atomic
        its, vals = learning_curve(learner)
        write_text_atomic(args.curve, json.dumps({"kind": "learning_curve", "version": 1, "learner": args.learner,
                                                  "seed": learner.seed, "iterations": its.tolist(),
                                                  "principal_value": vals.tolist()}, allow_nan=False))
    report = check_policy(mdp, policy)
    if args.json:
        doc = report.to_json()
        doc.update({"learner": args.learner, "iterations": learner.iteration, "resumed": resumed,
                    "policy_file": args.output, "principal_value_exact_agent": exact_value(learner)})
        sys.stdout.write(json.dumps(doc, indent=1, allow_nan=False) + "\n")
    else:
        from rich.console import Console
        console = Console() if Console().is_terminal else Console(width=120)
        console.print(f"wrote {args.output} after {learner.iteration} iterations"
                      + (f" (resumed from {args.checkpoint})" if resumed else ""))
        console.print(report.to_table(f"the learned policy against the exact SPE ({mdp.n_states} states)"))
    return EXIT_OK


def exact_solution_document(problem, backend: str = "highs") -> dict:
    """The ``"exact"`` part of ``contractlab solve --exact``: fractions as strings ``"p/q"``."""
    from ..solvers.exact import optimal_contract_exact

    ex = optimal_contract_exact(problem, backend=backend)
    return {"action": ex.action, "action_name": problem.action_label(ex.action),
            "contract": [str(x) for x in ex.contract], "expected_payment": str(ex.expected_payment),
            "principal_utility": str(ex.principal_utility), "agent_utility": str(ex.agent_utility),
            "min_pay": [{"action": row.action, "implementable": row.implementable,
                         "expected_payment": None if row.expected_payment is None else str(row.expected_payment),
                         "contract": None if row.contract is None else [str(x) for x in row.contract],
                         "witness": None if row.witness is None else [str(x) for x in row.witness],
                         "principal_utility": None if u is None else str(u)}
                        for row, u in zip(ex.table, ex.principal_utilities)]}


def _solve(args) -> int:
    from ..theory import fileio

    obj = fileio.load(args.file)
    kind = fileio.to_dict(obj)["kind"]
    if kind == "contract_problem":
        doc = solve_document(obj, args.backend, certify=args.certify)
        if args.exact:
            doc["exact"] = exact_solution_document(obj, args.backend)
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
    if "exact" in doc:
        ex = doc["exact"]
        console.print(f"[bold]Exact optimum[/bold] (proved in rational arithmetic): action {ex['action_name']}, "
                      f"t = [{', '.join(ex['contract'])}], expected payment {ex['expected_payment']}, "
                      f"principal utility {ex['principal_utility']}")
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
