"""``contractlab solve FILE``: the exact answer for a contract problem, a principal-agent MDP,
a bimatrix game, an MDP with externalities, a game with incentives (normal-form, Escape Room) or
a small Coin Game, as a table on stdout, JSON (``--json``) or a result file (``-o``)."""

from __future__ import annotations

import math

import numpy as np

from ..theory.errors import InvalidInstanceError, SolverFailure
from .common import (DEFAULT_TIME_LIMIT, EXIT_OK, add_budget_options, apply_budget_options, check_output, note,
                     print_json, stdout_console, writing)

#: The kinds ``solve`` handles, and what it computes for each.
KINDS = {
    "contract_problem": "optimal contract, best linear contract, first best, MIN-PAY per action "
                        "(--exact, --certify apply)",
    "pamdp": "subgame-perfect equilibrium (backward induction; the meta-algorithm on discounted cyclic instances)",
    "bimatrix_game": "the leader's optimal commitment (Stackelberg, Conitzer-Sandholm LPs)",
    "externality_mdp": "welfare benchmarks: W*, the selfish welfare, the gap and the minimal transfers "
                       "implementing the welfare optimum (solvers/welfare.py)",
    "normal_form_game": "the welfare optimum and the minimal incentives that make it a Nash / dominant-strategy "
                        "equilibrium (solvers/incentive_optimum.py)",
    "escape_room": "the welfare-optimal joint policy of ER(N, M) by DP over the joint positions and the minimal "
                   "Nash / dominant incentives implementing it (solvers/incentive_optimum.py)",
    "coin_game": "grid <= 4: the welfare optimum W* by DP over the joint states, each agent's best response, the "
                 "selfish SPE (best / worst stage selection) and the exact payments for following the optimum "
                 "(paper's rule, every-action; --lp the least dominant ones) (solvers/coin_game_exact.py)",
}
#: Options that apply to contract problems only.
_CONTRACT_ONLY = ("exact", "certify")
#: Options that apply to Coin Games only.
_COIN_ONLY = ("lp",)
#: Arrays with at least this many entries go to the ``.npz`` sibling of ``-o``.
NPZ_THRESHOLD = 100_000
#: Rows of the policy table printed for a PA-MDP.
SHOWN_STATES = 20


def add_parser(sub) -> None:
    import argparse
    kinds = "\n".join(f"  {k}: {v}" for k, v in KINDS.items())
    s = sub.add_parser("solve", help="solve a contract problem, a principal-agent MDP, a bimatrix game or an MDP "
                                     "with externalities exactly",
                       description=f"Solve an instance file exactly. Kinds handled:\n{kinds}",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("file", help="a JSON file of kind " + ", ".join(KINDS))
    s.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    s.add_argument("-o", "--output", metavar="FILE",
                   help="write the result document here (large arrays in a sibling .npz); a pamdp_solution is "
                        "read by 'contractlab check'")
    s.add_argument("--backend", choices=("highs", "cvxpy", "both"), default="highs",
                   help="LP backend; 'both' solves with HiGHS and cvxpy and fails (exit 3) where they disagree")
    s.add_argument("--exact", action="store_true",
                   help="contract problems: also the exact rational optimum (numbers read exactly as written)")
    s.add_argument("--certify", action="store_true",
                   help="contract problems: check the answers exactly in rational arithmetic (docs/certificates.md)")
    s.add_argument("--lp", action="store_true",
                   help="coin games: also the least payments making following the optimum dominant (one LP per "
                        "agent; minutes on 3x3)")
    add_budget_options(s, time_limit_help=(
        f"discounted cyclic PA-MDPs: stop the meta-algorithm after this many seconds and report "
        f"'not converged' (exit 3) with the error bound reached (default {DEFAULT_TIME_LIMIT:g}); coin games with "
        f"--lp: seconds per payment LP (default none)"), time_limit_default=None)
    s.set_defaults(run=run)


def run(args) -> int:
    from ..theory import fileio

    apply_budget_options(args)
    check_output("--output", args.output, sibling_npz=True)
    obj = fileio.load(args.file)
    kind = fileio.kind_of(obj)
    if kind not in KINDS:
        raise InvalidInstanceError("kind", f"'contractlab solve' does not handle kind {kind!r} "
                                           f"(it handles {', '.join(KINDS)})")
    for opts, owner in ((_CONTRACT_ONLY, "contract_problem"), (_COIN_ONLY, "coin_game")):
        for opt in opts:
            if kind != owner and getattr(args, opt):
                raise InvalidInstanceError(f"--{opt}", f"applies to kind {owner!r} only, not to kind {kind!r}")
    if kind == "contract_problem":
        doc = _contract_problem(obj, args)
        show = _print_contract_solution
    elif kind == "pamdp":
        doc = _pamdp(obj, args.backend, DEFAULT_TIME_LIMIT if args.time_limit is None else args.time_limit)
        show = _print_pamdp_solution
    elif kind == "externality_mdp":
        doc = _externality(obj, args.backend)
        show = _print_welfare
    elif kind in ("normal_form_game", "escape_room"):
        doc = _incentive_game(obj, kind, args.backend)
        show = _print_incentive_optimum
    elif kind == "coin_game":
        doc = _coin_game(obj, args.lp, args.time_limit)
        show = _print_coin_solution
    else:
        doc = _bimatrix(obj, args.backend)
        show = _print_stackelberg
    if args.output:
        writing("--output", args.output, lambda: fileio.save(doc, args.output, npz_threshold=NPZ_THRESHOLD))
        note(f"wrote {args.output}")
    if args.json:
        print_json(doc, indent=kind not in ("pamdp", "externality_mdp", "escape_room", "coin_game"))
    elif not args.output:
        show(obj, doc)
    if doc.get("converged") is False:
        raise SolverFailure(f"not converged: the meta-algorithm stopped ({doc.get('reason') or 'budget'}) after "
                            f"{doc.get('iterations')} iterations with SPE gap {doc.get('spe_gap')}"
                            + ("" if doc.get("bound") is None else f", error bound {doc['bound']:.3g}")
                            + ("; the result was written" if args.output or args.json else ""))
    return EXIT_OK


# --------------------------------------------------------------------------- contract problems

def _contract_problem(problem, args) -> dict:
    from ..solvers.linear import best_linear_contract
    from ..solvers.optimal import first_best, optimal_contract
    from ..theory.documents import contract_solution_document, exact_solution_document

    opt = optimal_contract(problem, backend=args.backend)
    fb = first_best(problem)
    lin = best_linear_contract(problem) if (problem.rewards >= 0).all() else None
    certificates = None
    if args.certify:
        from ..solvers.certify import certify
        certificates = (certify(opt, problem), None if lin is None else certify(lin, problem))
    doc = contract_solution_document(problem, opt, fb, lin, args.backend, certificates)
    if args.exact:
        from ..solvers.exact import optimal_contract_exact
        doc["exact"] = exact_solution_document(problem, optimal_contract_exact(problem, backend=args.backend))
    return doc


def _fmt(values) -> str:
    return "[" + ", ".join(f"{v:.6g}" for v in values) + "]"


def _print_contract_solution(problem, doc: dict) -> None:
    from rich.markup import escape
    from rich.table import Table

    console = stdout_console()
    o, fb, lin = doc["optimal"], doc["first_best"], doc["linear"]
    console.print(f"[bold]Optimal contract[/bold]: implement action {escape(o['action_name'])} with "
                  f"t = {_fmt(o['contract'])}")
    console.print(f"  expected payment {o['expected_payment']:.6g}, principal utility (OPT) "
                  f"{o['principal_utility']:.6g}, agent utility {o['agent_utility']:.6g}")
    if lin is not None:
        console.print(f"[bold]Best linear contract[/bold]: α = {lin['alpha']:.6g}, induces action "
                      f"{escape(lin['action_name'])}, principal utility (LIN) {lin['principal_utility']:.6g}")
    else:
        console.print(f"[bold]Best linear contract[/bold]: none ({doc['linear_note']})")
    console.print(f"[bold]First best[/bold]: action {escape(fb['action_name'])}, welfare (FB) {fb['welfare']:.6g}")
    if "exact" in doc:
        ex = doc["exact"]
        console.print(f"[bold]Exact optimum[/bold] (proved in rational arithmetic): action {escape(ex['action_name'])}"
                      f", t = [{', '.join(ex['contract'])}], expected payment {ex['expected_payment']}, "
                      f"principal utility {ex['principal_utility']}")
    if "certificate" in o:
        c = o["certificate"]
        console.print(f"[bold]Certificate[/bold] of the optimal contract: {c['verdict']}"
                      + (f", OPT = {c['exact_value']} exactly" if c["exact_value"] else "")
                      + f" — {escape(c['reason'])}")
        if lin is not None and "certificate" in lin:
            console.print(f"[bold]Certificate[/bold] of the best linear contract: {lin['certificate']['verdict']}"
                          f" — {escape(lin['certificate']['reason'])}")
    table = Table(title="MIN-PAY per action")
    certified = "certificate" in doc["min_pay"][0]
    for col in ("action", "implementable", "min expected payment", "principal utility", "contract") + \
            (("certificate",) if certified else ()):
        table.add_column(col)
    for row in doc["min_pay"]:
        imp = row["implementable"]
        witness = row["witness"]
        table.add_row(escape(row["action_name"]), "yes" if imp else "no",
                      f"{row['expected_payment']:.6g}" if imp else "—",
                      f"{row['principal_utility']:.6g}" if imp else "—",
                      _fmt(row["contract"]) if imp else f"witness {_fmt(witness)}" if witness is not None else "—",
                      *((row["certificate"]["verdict"],) if certified else ()))
    console.print(table)


# --------------------------------------------------------------------------- principal-agent MDPs

def _pamdp(mdp, backend: str, time_limit: float | None = None) -> dict:
    """The SPE by backward induction, or the meta-algorithm on a discounted cyclic instance
    (certified by the SPE gap of its profile)."""
    from ..theory.documents import pamdp_solution_document

    if mdp.horizon is None and not mdp.is_acyclic:
        from ..proofs_checks.spe_checks import spe_gap
        from ..solvers.meta_algorithm import meta_algorithm
        from ..solvers.pamdp_policy import evaluate
        from ..theory.documents import meta_trace

        res = meta_algorithm(mdp, backend=backend, time_limit=time_limit)
        ev = evaluate(mdp, res.policy, res.agent_policy)
        probs = mdp.outcome_probs[np.arange(mdp.n_states), res.policy.action]
        payment = np.einsum("sk,sk->s", probs, res.policy.contract)
        s0 = mdp.initial_state
        extra = {"converged": bool(res.converged), "iterations": int(res.iterations),
                 "spe_gap": float(spe_gap(mdp, res.policy, res.agent_policy).gap),
                 "trace": meta_trace(res.iterates, mdp.initial_state)}
        for name in ("bound", "reason", "stage"):
            value = getattr(res, name, None)
            if value is not None:
                extra[name] = value if isinstance(value, str) or math.isfinite(value) else None
        return pamdp_solution_document(mdp, res.policy, payment, ev.principal_value[s0], ev.agent_value[s0],
                                       "meta_algorithm", backend, **extra)
    from ..solvers.spe import solve_spe
    res = solve_spe(mdp, backend=backend)
    return pamdp_solution_document(mdp, res.policy, res.expected_payment, res.principal_value_initial,
                                   res.agent_value_initial, res.method, backend)


def _print_pamdp_solution(mdp, doc: dict) -> None:
    """The values and the first :data:`SHOWN_STATES` states of the policy (never all of them)."""
    from rich.table import Table

    console = stdout_console()
    console.print(f"[bold]Subgame-perfect equilibrium[/bold] of a principal-agent MDP with {mdp.n_states} states, "
                  f"{mdp.n_actions} actions, {mdp.n_outcomes} outcomes (method {doc['method']})")
    pv, av = doc["principal_value"], doc["agent_value"]
    console.print(f"  at the initial state {doc['initial_state']}: principal value "
                  f"{'—' if pv is None else f'{pv:.6g}'}, agent value {'—' if av is None else f'{av:.6g}'}")
    if "converged" in doc:
        console.print(f"  meta-algorithm: {'converged' if doc['converged'] else '[bold red]NOT converged[/bold red]'}"
                      f" after {doc['iterations']} iterations; SPE gap of the profile {doc['spe_gap']:.3g}")
    action, contract, payment = doc["action"], doc["contract"], doc["expected_payment"]
    if doc["time_indexed"]:
        action, contract, payment = action[0], contract[0], payment[0]
    n = len(action)
    table = Table(title="policy" + (" at step 0" if doc["time_indexed"] else "")
                  + (f" (first {SHOWN_STATES} of {n} states; --json or -o for all)" if n > SHOWN_STATES else ""))
    for col in ("state", "recommended action", "contract", "expected payment"):
        table.add_column(col)
    for s in range(min(n, SHOWN_STATES)):
        table.add_row(str(s), str(int(action[s])), _fmt(contract[s]), f"{payment[s]:.6g}")
    console.print(table)


# --------------------------------------------------------------------------- bimatrix games

def _bimatrix(game, backend: str) -> dict:
    from ..solvers.stackelberg import stackelberg
    from ..theory.documents import stackelberg_solution_document
    return stackelberg_solution_document(stackelberg(game, backend=backend), backend)


def _print_stackelberg(game, doc: dict) -> None:
    from rich.table import Table

    console = stdout_console()
    console.print(f"[bold]Stackelberg equilibrium[/bold] (the leader commits to a mixed strategy; backend "
                  f"{doc['backend']})")
    console.print(f"  leader value {doc['leader_value']:.6g}, follower value {doc['follower_value']:.6g}, "
                  f"follower action {doc['follower_action']}")
    from rich.markup import escape
    names = game.leader_action_names or ()
    follower = game.follower_action_names
    if follower:
        console.print(f"  the follower plays {escape(follower[doc['follower_action']])}")
    table = Table(title="leader's commitment")
    table.add_column("leader action", justify="right")
    table.add_column("probability", justify="right")
    for i, p in enumerate(doc["leader_strategy"]):
        table.add_row(escape(names[i]) if i < len(names) else str(i), f"{p:.6g}")
    console.print(table)


# --------------------------------------------------------------------------- MDPs with externalities

def _externality(model, backend: str) -> dict:
    """The exact welfare benchmarks (:func:`~contractlab.solvers.welfare.welfare_benchmarks`) as a
    ``welfare_benchmarks`` document (:func:`~contractlab.theory.documents.welfare_benchmarks_document`)."""
    from ..solvers.welfare import welfare_benchmarks
    from ..theory.documents import welfare_benchmarks_document

    return welfare_benchmarks_document(model, welfare_benchmarks(model, backend=backend), backend)


def _print_welfare(model, doc: dict) -> None:
    """The benchmarks, then step 0 of the policies and transfers for the first :data:`SHOWN_STATES` states."""
    from rich.markup import escape
    from rich.table import Table

    console = stdout_console()
    env = f"{escape(doc['environment'])}; " if doc["environment"] else ""
    console.print(f"[bold]Welfare benchmarks[/bold] ({env}{model.n_states} states, {model.n_actions} actions, "
                  f"{model.n_outcomes} outcomes; horizon {doc['horizon']}, discount {doc['discount']:.6g}; "
                  f"from state {doc['initial_state']})")
    table = Table(title="benchmarks from the initial state")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    rows = [("optimal welfare W*", doc["optimal_welfare"])]
    if not doc["first_best_implementable"]:
        rows.append(("welfare of the implemented benchmark", doc["benchmark_welfare"]))
    rows += [("selfish welfare (no transfers)", doc["selfish_welfare"]), ("gap", doc["gap"]),
             ("total minimal transfer", doc["total_transfer"]),
             ("agent value (with transfers)", doc["agent_value"]),
             ("principal value (externality − transfers)", doc["principal_value"])]
    for name, value in rows:
        table.add_row(name, f"{value:.6g}")
    table.add_row("first best implementable", "yes" if doc["first_best_implementable"] else "no")
    console.print(table)
    n = model.n_states
    policy = Table(title="step 0" + (f" (first {SHOWN_STATES} of {n} states; --json or -o for all)"
                                     if n > SHOWN_STATES else ""))
    for col in ("state", "implemented action" if not doc["first_best_implementable"] else "optimal action",
                "selfish action", "transfers", "expected payment"):
        policy.add_column(col)
    for s in range(min(n, SHOWN_STATES)):
        policy.add_row(str(s), escape(model.label(int(doc["implemented_policy"][0, s]))),
                       escape(model.label(int(doc["selfish_policy"][0, s]))), _fmt(doc["transfers"][0, s]),
                       f"{doc['expected_payment'][0, s]:.6g}")
    console.print(policy)


# --------------------------------------------------------------------------- games with incentives

def _incentive_game(obj, kind: str, backend: str) -> dict:
    """The welfare optimum (DP) and the minimal Nash and dominant incentives implementing it (LPs) as an
    ``incentive_optimum`` document (:func:`~contractlab.theory.documents.incentive_optimum_document`)."""
    from ..solvers.incentive_optimum import min_incentives, welfare_optimum
    from ..theory.documents import incentive_optimum_document
    if kind == "escape_room":
        name, game = f"ER({obj.n_agents}, {obj.min_at_lever}), {obj.max_steps} steps", obj.as_markov_game()
    else:
        game = obj.as_markov_game()
        name = f"{game.n_agents}-player normal-form game"
    opt = welfare_optimum(game)
    nash = min_incentives(game, opt.policy, kind="nash", backend=backend)
    dominant = min_incentives(game, opt.policy, kind="dominant", backend=backend)
    return incentive_optimum_document(name, game, opt, nash, dominant)


def _print_incentive_optimum(obj, doc: dict) -> None:
    """W*, the optimal trajectory with each step's joint action, and the minimal incentives per agent."""
    from rich.markup import escape
    from rich.table import Table

    console = stdout_console()
    console.print(f"[bold]Welfare optimum[/bold] ({escape(doc['game'])}): W* = {doc['optimal_welfare']:.6g}; "
                  f"agents' returns {_fmt(doc['returns'])}")
    names = getattr(obj, "action_names", None)
    path = Table(title="the optimal trajectory and the minimal incentives paid on it (Nash = dominant cost)"
                 if abs(doc["nash"]["expected_cost"] - doc["dominant"]["expected_cost"]) < 1e-9 else
                 "the optimal trajectory and the minimal incentives paid on it")
    for col in ("step", "state", "joint action", "Nash incentives", "dominant incentives"):
        path.add_column(col)
    for t, (s, acts) in enumerate(zip(doc["path"], doc["path_actions"])):
        if s < 0:
            break
        shown = [names[i][a] for i, a in enumerate(acts)] if names else acts
        path.add_row(str(t), str(s), escape(str(shown)), _fmt(doc["nash"]["paid_on_path"][t]),
                     _fmt(doc["dominant"]["paid_on_path"][t]))
    console.print(path)
    table = Table(title="minimal incentives implementing the optimum")
    for col in ("equilibrium", "total expected cost", "per agent", "net welfare W* − cost"):
        table.add_column(col, justify="right")
    for kind in ("nash", "dominant"):
        d = doc[kind]
        cost = d["expected_cost"]
        table.add_row(kind, "infeasible" if cost is None else f"{cost:.6g}", _fmt(d["cost_per_agent"]),
                      "—" if cost is None else f"{doc['optimal_welfare'] - cost:.6g}")
    console.print(table)


# --------------------------------------------------------------------------- the Coin Game

def _coin_game(game, lp: bool, time_limit: float | None) -> dict:
    """The exact solution of a small Coin Game as a ``coin_game_solution`` document
    (:func:`~contractlab.theory.documents.coin_game_solution_document`)."""
    from ..solvers import coin_game_exact as X
    from ..theory.coin_game import game_to_dict
    from ..theory.documents import coin_game_solution_document
    if game.grid > X.MAX_EXACT_GRID:
        raise InvalidInstanceError("grid", f"the exact solution needs grid <= {X.MAX_EXACT_GRID}, got {game.grid}")
    tb = X.tables(game)
    opt = X.welfare_optimum(tb)
    acts = opt.actions()
    brs = [X.best_response(tb, i, acts[..., 1 - i]) for i in (0, 1)]
    selfish = {sel: X.selfish_equilibrium(tb, sel) for sel in ("best", "worst")}
    payments = {k: (rule(tb, opt).expected_payment, {}) for k, rule in
                (("paper", X.paper_payments), ("every_action", X.every_action_payments))}
    if lp:
        from ..solvers.coin_game_lp import min_payments_lp
        res = min_payments_lp(tb, opt, alpha=ALPHA, time_limit=time_limit)
        payments["lp"] = (res.expected_payment, {"max_violation": float(res.max_violation),
                                                 "dual_gap": [float(g) for g in res.dual_gap]})
    return coin_game_solution_document(game_to_dict(game), opt, brs, selfish, payments, ALPHA)


#: The principal's welfare scale of the paper's Section 5 (``r_p = Σ_i r_i / α − payments``).
ALPHA = 0.1


def _print_coin_solution(game, doc: dict) -> None:
    """W*, the best responses, the selfish SPE and the exact payment rules, as three tables."""
    from rich.table import Table

    console = stdout_console()
    W = doc["optimal_welfare"]
    console.print(f"[bold]Coin Game[/bold] {game.grid}x{game.grid}, {game.horizon} steps, {doc['n_states']} "
                  f"states, payoff {game.payoff!r}, simultaneous {game.simultaneous!r}: W* = {W:.6g}; "
                  f"agents' returns {_fmt(doc['returns'])}")
    table = Table(title="without a principal")
    for col in ("play", "welfare", "fraction of W*", "agents' values", "note"):
        table.add_column(col, justify="left" if col in ("play", "note") else "right")
    for b in doc["best_responses"]:
        table.add_row(f"agent {b['agent']}: best response to a follower", "—", "—", f"{b['value']:.6g}",
                      f"+{b['gain_over_following']:.6g} over following π*")
    for sel, e in doc["selfish"].items():
        note_ = (f"{e['stage_games_with_several_equilibria']} stage games with several NE"
                 + (f", {e['stage_games_mixed']} mixed" if e["stage_games_mixed"] else ""))
        table.add_row(f"selfish SPE, {sel} selection", f"{e['welfare']:.6g}",
                      f"{e['fraction_of_optimum']:.4f}", _fmt(e["values"]), note_)
    console.print(table)
    names = {"paper": ("paper's rule", "BR to a follower"), "every_action": ("every-action", "dominant, greedy"),
             "lp": ("LP minimum", "dominant, least")}
    pay = Table(title=f"exact payments for following π* (α = {doc['alpha']:g})")
    for col in ("rule", "sense", "per agent", "total", "share of W*", "objective W*/α − P"):
        pay.add_column(col, justify="left" if col in ("rule", "sense") else "right")
    for k, d in doc["payments"].items():
        pay.add_row(*names[k], _fmt(d["per_agent"]), f"{d['total']:.6g}", f"{d['share_of_welfare']:.4f}",
                    f"{d['principal_objective']:.6g}")
    console.print(pay)
