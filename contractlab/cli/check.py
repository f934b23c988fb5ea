"""``contractlab check INSTANCE POLICY``: a contract policy against the exact SPE."""

from __future__ import annotations

from .common import EXIT_OK, add_budget_options, apply_budget_options, print_json, stdout_console


def add_parser(sub) -> None:
    c = sub.add_parser("check", help="check a contract policy against the exact SPE of a principal-agent MDP")
    c.add_argument("instance", help="a JSON file of kind pamdp")
    c.add_argument("policy", help="a contract_policy file (as 'learn -o' writes) or a pamdp_solution "
                                  "(as 'solve -o' writes); large arrays may sit in a sibling .npz")
    c.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    c.add_argument("--tie-break", choices=("principal", "adversarial"), default="principal",
                   help="how the exact best-responding agent breaks ties (default principal)")
    c.add_argument("--agent-policy", metavar="FILE",
                   help="an agent_policy JSON file ({'kind': 'agent_policy', 'version': 1, 'action': [...]}) or a "
                        "contract_policy file whose actions the agent plays: report its regret")
    add_budget_options(c, time_limit_help=(
        "discounted cyclic instances: time budget of the iterative reference (meta-algorithm) and best "
        "responses; a reference that did not converge is reported as such"))
    c.set_defaults(run=run)


def run(args) -> int:
    from rich.markup import escape

    from ..proofs_checks.policy_check import check_policy, load_agent_policy
    from ..theory import fileio
    from ..theory.documents import load_contract_policy

    apply_budget_options(args)
    mdp = fileio.load(args.instance, expect="pamdp")
    policy = load_contract_policy(args.policy)
    agent = None if args.agent_policy is None else load_agent_policy(args.agent_policy)
    report = check_policy(mdp, policy, agent, tie_break=args.tie_break, time_limit=args.time_limit)
    if args.json:
        print_json(report.to_json())
    else:
        stdout_console().print(report.to_table(
            escape(f"contractlab check — {args.policy} on {args.instance} ({mdp.n_states} states)")))
    return EXIT_OK
