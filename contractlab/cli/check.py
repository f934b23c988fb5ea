"""``contractlab check INSTANCE POLICY``: a learned policy against the exact answer.

* a ``pamdp`` instance and a contract policy: against the exact SPE
  (:mod:`contractlab.proofs_checks.policy_check`);
* a ``coin_game`` instance (3x3 or smaller: the exact tables) and a multi-agent principal policy
  ``.npz`` (:class:`~contractlab.learning.coin_principal.CoinPrincipal`): welfare against the
  exact optimum, IC violations of the learned payments under the exact Q, follow rates
  (:mod:`contractlab.proofs_checks.coin_policy_check`).
"""

from __future__ import annotations

from ..theory.errors import InvalidInstanceError
from .common import EXIT_OK, add_budget_options, apply_budget_options, print_json, stdout_console


def add_parser(sub) -> None:
    c = sub.add_parser("check", help="check a learned policy against the exact answer: a contract policy against "
                                     "the SPE of a principal-agent MDP, or a Coin Game principal against the "
                                     "exact 3x3 solution")
    c.add_argument("instance", help="a JSON file of kind pamdp or coin_game")
    c.add_argument("policy", help="pamdp: a contract_policy file (as 'learn -o' writes) or a pamdp_solution "
                                  "(as 'solve -o' writes), large arrays may sit in a sibling .npz; coin_game: a "
                                  "coin principal policy .npz (CoinPrincipal.save)")
    c.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    c.add_argument("--tie-break", choices=("principal", "adversarial"),
                   help="pamdp: how the exact best-responding agent breaks ties (default principal)")
    c.add_argument("--agent-policy", metavar="FILE",
                   help="pamdp: an agent_policy JSON file ({'kind': 'agent_policy', 'version': 1, 'action': [...]}) "
                        "or a contract_policy file whose actions the agent plays: report its regret")
    c.add_argument("--lp", action="store_true",
                   help="coin_game: add the LP-minimal dominant payments for the optimum to the references "
                        "(minutes on 3x3 with 20 steps)")
    c.add_argument("--validate", type=int, default=0, metavar="ITERATIONS",
                   help="coin_game: also train fresh selfish learners for ITERATIONS batches of 1024 episodes "
                        "against the principal (the paper's validation) and report their play")
    c.add_argument("--seed", type=int, default=0, help="coin_game: seed of --validate (default 0)")
    add_budget_options(c, time_limit_help=(
        "discounted cyclic instances: time budget of the iterative reference (meta-algorithm) and best "
        "responses; a reference that did not converge is reported as such"))
    c.set_defaults(run=run)


def run(args) -> int:
    from ..theory import fileio
    from ..theory.coin_game import CoinGame
    from ..theory.pamdp import PrincipalAgentMDP

    apply_budget_options(args)
    instance = fileio.load(args.instance)
    if isinstance(instance, CoinGame):
        return _run_coin(args, instance)
    if not isinstance(instance, PrincipalAgentMDP):
        raise InvalidInstanceError("kind", f"{args.instance}: expected 'pamdp' or 'coin_game', got "
                                           f"{fileio.kind_of(instance)!r}")
    for name in ("lp", "validate"):
        if getattr(args, name):
            raise InvalidInstanceError(f"--{name}", "only applies to a coin_game instance")
    return _run_pamdp(args, instance)


def _run_pamdp(args, mdp) -> int:
    from rich.markup import escape

    from ..proofs_checks.policy_check import check_policy, load_agent_policy
    from ..theory.documents import load_contract_policy

    policy = load_contract_policy(args.policy)
    agent = None if args.agent_policy is None else load_agent_policy(args.agent_policy)
    report = check_policy(mdp, policy, agent, tie_break=args.tie_break or "principal", time_limit=args.time_limit)
    if args.json:
        print_json(report.to_json())
    else:
        stdout_console().print(report.to_table(
            escape(f"contractlab check — {args.policy} on {args.instance} ({mdp.n_states} states)")))
    return EXIT_OK


def _run_coin(args, game) -> int:
    from rich.markup import escape

    from ..learning.coin_principal import CoinPrincipal
    from ..proofs_checks.coin_policy_check import check_coin_principal
    from ..solvers.coin_game_exact import MAX_EXACT_GRID
    from ..theory.coin_game import game_to_dict

    for name in ("tie_break", "agent_policy"):
        if getattr(args, name) is not None:
            raise InvalidInstanceError(f"--{name.replace('_', '-')}", "only applies to a pamdp instance")
    if args.validate < 0:
        raise InvalidInstanceError("--validate", f"must be >= 0, got {args.validate}")
    if game.grid > MAX_EXACT_GRID:
        raise InvalidInstanceError("grid", f"{args.instance}: the exact check needs grid <= {MAX_EXACT_GRID}, "
                                           f"got {game.grid}")
    principal = CoinPrincipal.load(args.policy)
    trained, given = game_to_dict(principal.game), game_to_dict(game)
    differ = [k for k in given if trained[k] != given[k]]
    if differ:
        k = differ[0]
        raise InvalidInstanceError("game", f"{args.policy} was trained with {k} = {trained[k]!r}, but {args.instance} "
                                           f"has {k} = {given[k]!r}")
    report = check_coin_principal(principal, lp=args.lp, validate_iterations=args.validate, seed=args.seed)
    if args.json:
        print_json(report.to_json())
    else:
        stdout_console().print(report.to_table(escape(
            f"contractlab check — {args.policy} on {args.instance} ({game.grid}x{game.grid}, "
            f"{game.horizon} steps, {game.n_states} states)")))
    return EXIT_OK
