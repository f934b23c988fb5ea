"""The family table of ``contractlab bench``: name -> generator, options and solver.

Every family turns ``(params, seed)`` into an instance object of a registered file kind
(:mod:`contractlab.theory.fileio`) and solves such an object into the row fields of the index
(:data:`VALUE_FIELDS` and ``certificate``). What the columns hold per family (NaN where a column
does not apply; the table is in ``docs/bench.md``):

- ``contract``: OPT, the agent's utility at the optimum, FB, LIN, ``certify(optimal)`` verdict.
- ``binary_tree``, ``random_tree``, ``random_dag``: the SPE values at the initial state, the
  first-best welfare (:func:`first_best_welfare`), NaN, ``certify_spe_state`` at the initial state.
- ``random_discounted``, ``contractual_rl``: the meta-algorithm's profile evaluated exactly at the
  initial state, the first-best welfare, NaN, ``numerically_verified`` (converged with SPE gap at
  most :data:`SPE_GAP_TOL`; otherwise the row fails).
- ``random_bimatrix``: Stackelberg leader and follower values, ``max_ij A_ij + B_ij``, NaN,
  ``certify_stackelberg`` verdict.
- ``random_externality``, ``random_pollution``, ``random_insurance``: principal and agent values
  under the minimal transfers implementing the welfare optimum, ``W*``, NaN, ``none``.
- ``escape_room``: ``W*`` minus / plus the minimal Nash incentives, ``W*``, NaN, ``none``.
- ``coin_game`` (3x3): ``W*/α`` minus the paper's recommendation payments (``α = 0.1``), the
  agents' values with the payments, ``W*``, NaN, ``none``.

``escape_room`` and ``coin_game`` are deterministic given their options: every seed gives the
same instance (the rows then repeat one answer; the seed is still recorded).

Sources: Dütting, Roughgarden and Talgam-Cohen, EC 2019, Sections 2-3 (one-shot contracts);
Ivanov et al., arXiv 2407.18074, Section 3 and Appendix D.1 (PA-MDPs, binary trees) and
Section 5 (Coin Game); Conitzer and Sandholm, EC 2006 (Stackelberg commitment).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..theory.errors import InvalidInstanceError, SolverFailure

#: The float columns of a row, in index order.
VALUE_FIELDS = ("principal_value", "agent_value", "first_best_welfare", "best_linear_utility")
#: Largest SPE gap of a meta-algorithm profile accepted as an equilibrium.
SPE_GAP_TOL = 1e-6
#: Certificate column when certification was switched off (``--no-certify``) or does not exist.
NOT_CERTIFIED, NO_CERTIFICATE = "skipped", "none"
NAN = float("nan")


@dataclass(frozen=True)
class Option:
    """One option of a family: ``--name`` on the command line, ``param`` for the generator."""

    name: str
    type: type
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple | None = None
    help: str = ""

    def check(self, value) -> Any:
        """``value`` converted and checked against the bounds; errors name ``--name``."""
        flag = "--" + self.name.replace("_", "-")
        if self.type is int and (isinstance(value, bool) or not isinstance(value, (int, np.integer))):
            raise InvalidInstanceError(flag, f"must be an integer, got {value!r}")
        if self.type is float:
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise InvalidInstanceError(flag, f"must be a number, got {value!r}")
            value = float(value)
            if not math.isfinite(value):
                raise InvalidInstanceError(flag, f"must be finite, got {value!r}")
        if self.type is int:
            value = int(value)
        if self.choices is not None and value not in self.choices:
            raise InvalidInstanceError(flag, f"must be one of {', '.join(map(str, self.choices))}, got {value!r}")
        if self.low is not None and value < self.low or self.high is not None and value > self.high:
            raise InvalidInstanceError(flag, f"must lie in [{self.low:g}, {self.high:g}], got {value!r}")
        return value


@dataclass(frozen=True)
class Family:
    """A benchmark family.

    ``make(params, seed)`` returns the instance (an object :func:`fileio.save` writes);
    ``solve(instance, params, certify)`` returns the row fields (:data:`VALUE_FIELDS` and
    ``certificate``). ``solve_batch`` (optional) solves a list of instances in one go and returns,
    per instance, the row fields or the exception that made it fail; its floats may depend on
    which instances share the batch (HiGHS on one block-diagonal model), so the sweep always
    batches the same fixed chunks of instance indices.
    """

    name: str
    description: str
    options: tuple[Option, ...]
    make: Callable[[dict, int], Any]
    solve: Callable[[Any, dict, bool], dict]
    solve_batch: Callable[[list, dict, bool], list] | None = None
    seeded: bool = True

    def params(self, given: dict) -> dict:
        """Every option's value (defaults filled in), checked; unknown options refused."""
        names = {o.name for o in self.options}
        for key in given:
            if key not in names:
                takes = ", ".join("--" + n.replace("_", "-") for n in sorted(names)) or "no options"
                raise InvalidInstanceError("--" + key.replace("_", "-"),
                                           f"does not apply to family {self.name!r} (it takes {takes})")
        return {o.name: o.check(given.get(o.name, o.default)) for o in self.options}


def _row(principal=NAN, agent=NAN, first_best=NAN, linear=NAN, certificate=NO_CERTIFICATE) -> dict:
    return {"principal_value": float(principal), "agent_value": float(agent), "first_best_welfare": float(first_best),
            "best_linear_utility": float(linear), "certificate": certificate}


# --------------------------------------------------------------------------- one-shot contract problems

def _make_contract(params: dict, seed: int):
    """:func:`contractlab.proofs_checks.strategies.random_problem` (the same draws in the same order:
    Dirichlet(1) rows, costs ``U[0, 1]``, rewards ``U[0, 3]``), without importing the test strategies."""
    from ..theory.contract_problem import ContractProblem
    rng = np.random.default_rng(seed)
    n, m = params["n"], params["m"]
    F = rng.dirichlet(np.ones(m), size=n)
    return ContractProblem(F, rng.uniform(0, 1.0, n), rng.uniform(0, 3.0, m))


def _linear(problem) -> float:
    from ..solvers.linear import best_linear_contract
    return best_linear_contract(problem).principal_utility if (problem.rewards >= 0).all() else NAN


def _solve_contract(problem, params: dict, certify: bool) -> dict:
    from ..solvers.optimal import first_best, optimal_contract
    opt = optimal_contract(problem)
    verdict = NOT_CERTIFIED
    if certify:
        from ..solvers.certify import certify as certify_answer
        verdict = certify_answer(opt, problem).verdict
    return _row(opt.principal_utility, opt.agent_utility, first_best(problem).welfare, _linear(problem), verdict)


def _min_pay_results(problem, X, pay, status, y_ge, b_ge, backend: str) -> tuple:
    """The :class:`MinPayResult` of every action from one problem's rows of a batched solve (as
    :func:`contractlab.solvers.min_pay.min_pay_all` reports them; non-implementable rows without a
    witness, which the certificate recomputes)."""
    from ..solvers.min_pay import MinPayResult
    n = problem.n_actions
    F, c = problem.outcome_probs, problem.costs
    out = []
    for a in range(n):
        if status[a] != "optimal":
            out.append(MinPayResult(a, False, None, float("inf"), None, None, None, None, None, None,
                                    str(status[a]), backend))
            continue
        t = X[a].copy()
        t.setflags(write=False)
        utilities = F @ t - c
        slacks = utilities[a] - utilities
        duals = np.zeros(n)
        duals[np.arange(n) != a] = y_ge[a, : n - 1]
        out.append(MinPayResult(a, True, t, float(pay[a]), float(pay[a] - c[a]), slacks, duals, None,
                                float(b_ge[a] @ y_ge[a]), None, "optimal", backend))
    return tuple(out)


def _solve_contract_batch(problems: list, params: dict, certify: bool) -> list:
    """Every MIN-PAY LP of every problem in one :func:`solve_lp_batch` call (block-diagonal HiGHS
    model), then each problem's row: the optimal action chosen as
    :func:`~contractlab.solvers.optimal.optimal_contract` chooses it (highest ``R_i − MINPAY(i)``,
    ties within its ``OPTIMALITY_TOL`` to the lowest index); a problem with an LP that ends neither
    optimal nor infeasible becomes a :class:`SolverFailure`."""
    from ..solvers.min_pay import solve_min_pay_arrays
    from ..solvers.optimal import OPTIMALITY_TOL, OptimalContract

    P, n, m = len(problems), params["n"], params["m"]
    F = np.stack([p.outcome_probs for p in problems])                     # (P, n, m)
    c = np.stack([p.costs for p in problems])                             # (P, n)
    R = np.stack([p.expected_rewards for p in problems])                  # (P, n)
    lp, sol = solve_min_pay_arrays(np.repeat(F, n, axis=0), np.repeat(c, n, axis=0), np.tile(np.arange(n), P))
    status = sol.status.reshape(P, n)
    optimal = status == "optimal"
    X = np.where(optimal.reshape(-1, 1), np.clip(np.nan_to_num(sol.x), 0.0, None) + 0.0, 0.0).reshape(P, n, m)
    pay = np.where(optimal, np.einsum("pam,pam->pa", F, X), np.inf)       # F_a · t, the min-pay of action a
    utilities = np.where(optimal, R - np.where(optimal, pay, 0.0), -np.inf)
    best = utilities.max(axis=1)
    action = np.argmax(utilities >= (best - OPTIMALITY_TOL)[:, None], axis=1)
    rows = np.arange(P)
    agent = pay[rows, action] - c[rows, action]
    welfare = (R - c).max(axis=1)
    y_ge, b_ge = sol.y_ge.reshape(P, n, -1), lp.b_ge.reshape(P, n, -1)
    out = []
    for k, problem in enumerate(problems):
        bad = [a for a in range(n) if status[k, a] not in ("optimal", "infeasible")]
        if bad:
            out.append(SolverFailure(f"MIN-PAY of action {bad[0]} has status {status[k, bad[0]]!r}; no action is "
                                     "chosen from an incomplete table"))
            continue
        if not np.isfinite(best[k]):
            out.append(SolverFailure("no action is implementable"))
            continue
        try:
            verdict = NOT_CERTIFIED
            if certify:
                from ..solvers.certify import certify as certify_answer
                table = _min_pay_results(problem, X[k], pay[k], status[k], y_ge[k], b_ge[k], sol.backend)
                a = int(action[k])
                u = utilities[k].copy()
                u.setflags(write=False)
                opt = OptimalContract(a, table[a].contract, float(pay[k, a]), float(utilities[k, a]),
                                      float(agent[k]), table, u, sol.backend)
                verdict = certify_answer(opt, problem).verdict
            out.append(_row(utilities[k, action[k]], agent[k], welfare[k], _linear(problem), verdict))
        except Exception as exc:  # one problem's certificate failing must not lose the others
            out.append(exc)
    return out


# --------------------------------------------------------------------------- principal-agent MDPs

def first_best_welfare(mdp) -> float:
    """The first-best welfare of a PA-MDP at its initial state: the principal chooses the actions
    herself, payments cancel, so ``W(s) = max_a r(s, a) + Σ_o O(s, a, o)(r_p(s, o) + γ E[W(s') | s, o])``.
    Backward over the levels of an acyclic instance; policy iteration (exact linear solves,
    finitely many steps) on a discounted cyclic one."""
    from ..solvers.spe import continuation

    O, r, rp, g = mdp.outcome_probs, mdp.agent_rewards, mdp.principal_rewards, mdp.discount
    S = mdp.n_states
    W = np.zeros(S)
    if mdp.is_acyclic:
        for level in mdp.level_rows():
            rows = np.arange(S)[level]
            q = r[rows] + np.einsum("bak,bk->ba", O[rows], rp[rows] + g * continuation(mdp, rows, W))
            W[rows] = q.max(axis=1)
        return float(W[mdp.initial_state])
    everything = np.arange(S)
    policy = np.zeros(S, dtype=np.int64)
    for _ in range(10_000):
        Fp = O[everything, policy]                                        # (S, K)
        if mdp.deterministic:                                             # P[s, s'] = P(s' | s, policy)
            P = np.zeros((S, S))
            ns = mdp.next_state
            s_idx, o_idx = np.nonzero(ns >= 0)
            np.add.at(P, (s_idx, ns[s_idx, o_idx]), Fp[s_idx, o_idx])
        else:
            P = np.einsum("sk,skt->st", Fp, mdp.transitions)
        rew = r[everything, policy] + np.einsum("sk,sk->s", Fp, rp)
        W = np.linalg.solve(np.eye(S) - g * P, rew)
        q = r + np.einsum("sak,sk->sa", O, rp + g * continuation(mdp, everything, W))
        best = q.max(axis=1)
        keep = q[everything, policy] >= best - 1e-12 * np.maximum(1.0, np.abs(best))
        if keep.all():
            return float(W[mdp.initial_state])
        policy = np.where(keep, policy, q.argmax(axis=1))
    raise SolverFailure("first-best policy iteration did not converge in 10000 steps")


def _solve_pamdp(mdp, params: dict, certify: bool) -> dict:
    fb = first_best_welfare(mdp)
    if mdp.horizon is None and not mdp.is_acyclic:
        from ..proofs_checks.spe_checks import spe_gap
        from ..solvers.meta_algorithm import meta_algorithm
        from ..solvers.pamdp_policy import evaluate

        res = meta_algorithm(mdp, time_limit=params.get("time_limit", 60.0))
        if not res.converged:
            raise SolverFailure(f"meta-algorithm not converged after {res.iterations} iterations "
                                f"({res.reason or 'budget'})")
        gap = float(spe_gap(mdp, res.policy, res.agent_policy).gap)
        if not gap <= SPE_GAP_TOL:
            raise SolverFailure(f"meta-algorithm profile has SPE gap {gap:.3g} > {SPE_GAP_TOL:g}")
        ev = evaluate(mdp, res.policy, res.agent_policy)
        s0 = mdp.initial_state
        return _row(ev.principal_value[s0], ev.agent_value[s0], fb,
                    certificate="numerically_verified" if certify else NOT_CERTIFIED)
    from ..solvers.spe import solve_spe
    res = solve_spe(mdp)
    verdict = NOT_CERTIFIED
    if certify:
        from ..solvers.certify import certify_spe_state
        verdict = certify_spe_state(res, mdp, mdp.initial_state).verdict
    return _row(res.principal_value_initial, res.agent_value_initial, fb, certificate=verdict)


def _pamdp_maker(name: str, mapping: dict):
    def make(params: dict, seed: int):
        from ..theory.pamdp_families import FAMILIES
        return FAMILIES[name](**{param: params[opt] for opt, param in mapping.items()}, seed=seed)
    return make


# --------------------------------------------------------------------------- games and externalities

def _make_bimatrix(params: dict, seed: int):
    from ..theory.game_families import random_bimatrix
    return random_bimatrix(seed, params["rows"], params["columns"])


def _solve_bimatrix(game, params: dict, certify: bool) -> dict:
    from ..solvers.stackelberg import stackelberg
    res = stackelberg(game)
    verdict = NOT_CERTIFIED
    if certify:
        from ..solvers.certify import certify_stackelberg
        verdict = certify_stackelberg(res, game).verdict
    A, B = np.asarray(game.leader_payoffs), np.asarray(game.follower_payoffs)
    return _row(res.leader_value, res.follower_value, float((A + B).max()), certificate=verdict)


def _externality_maker(name: str, mapping: dict):
    def make(params: dict, seed: int):
        from ..theory.externality_families import FAMILIES
        return FAMILIES[name](seed=seed, **{param: params[opt] for opt, param in mapping.items()})
    return make


def _solve_externality(model, params: dict, certify: bool) -> dict:
    from ..solvers.welfare import welfare_benchmarks
    b = welfare_benchmarks(model)
    return _row(b.implementation.principal_start, b.implementation.agent_start, b.optimal_welfare)


def _make_escape_room(params: dict, seed: int):
    from ..theory.escape_room import EscapeRoom
    return EscapeRoom(params["agents"], params["lever"], params["max_steps"])


def _solve_escape_room(room, params: dict, certify: bool) -> dict:
    from ..solvers.incentive_optimum import min_incentives, welfare_optimum
    from ..theory.escape_room import escape_room_game
    game = escape_room_game(room.n_agents, room.min_at_lever, room.max_steps)
    opt = welfare_optimum(game)
    inc = min_incentives(game, opt.policy, "nash")
    if not inc.feasible:
        raise SolverFailure("the minimal Nash incentives LP is infeasible")
    return _row(opt.value - inc.expected_cost, opt.value + inc.expected_cost, opt.value)


def _make_coin_game(params: dict, seed: int):
    from ..theory.coin_game import CoinGame
    return CoinGame(grid=3, horizon=params["horizon"], payoff=params["payoff"])


def _solve_coin_game(game, params: dict, certify: bool) -> dict:
    from ..solvers.coin_game_exact import paper_payments, welfare_optimum
    opt = welfare_optimum(game)
    pay = paper_payments(game, opt)
    return _row(pay.principal_objective(), float(opt.agent_value.sum()) + pay.total_payment, opt.value)


# --------------------------------------------------------------------------- the table

def _int(name, default, low, high, help=""):
    return Option(name, int, default, low, high, help=help)


_TREE = {"depth": "depth", "actions": "n_actions", "outcomes": "n_outcomes"}
_GRAPH = {"states": "n_states", "actions": "n_actions", "outcomes": "n_outcomes"}
_TIME = Option("time_limit", float, 60.0, 0.001, 1e6, help="meta-algorithm budget per instance, seconds")

FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("contract", "one-shot hidden-action problem: Dirichlet rows, costs U[0,1], rewards U[0,3]",
           (_int("n", 5, 1, 200, "actions"), _int("m", 4, 1, 200, "outcomes")),
           _make_contract, _solve_contract, _solve_contract_batch),
    Family("binary_tree", "the binary game tree of arXiv 2407.18074, Appendix D.1",
           (_int("depth", 10, 1, 22),), _pamdp_maker("binary_tree", {"depth": "depth"}), _solve_pamdp),
    Family("random_tree", "a complete random tree, one child per outcome",
           (_int("depth", 3, 1, 30), _int("actions", 3, 1, 64), _int("outcomes", 4, 1, 64)),
           _pamdp_maker("random_tree", _TREE), _solve_pamdp),
    Family("random_dag", "a random DAG (successors later in the order)",
           (_int("states", 50, 1, 1_000_000), _int("actions", 2, 1, 64), _int("outcomes", 2, 1, 64)),
           _pamdp_maker("random_dag", _GRAPH), _solve_pamdp),
    Family("random_discounted", "a random discounted cyclic PA-MDP (meta-algorithm)",
           (_int("states", 10, 1, 2000), _int("actions", 2, 1, 64), _int("outcomes", 2, 1, 64),
            Option("discount", float, 0.9, 0.0, 0.999999), _TIME),
           _pamdp_maker("random_discounted", {**_GRAPH, "discount": "discount"}), _solve_pamdp),
    Family("contractual_rl", "outcome = next state, discounted (meta-algorithm)",
           (_int("states", 10, 1, 2000), _int("actions", 2, 1, 64), Option("discount", float, 0.9, 0.0, 0.999999),
            _TIME),
           _pamdp_maker("contractual_rl", {"states": "n_states", "actions": "n_actions", "discount": "discount"}),
           _solve_pamdp),
    Family("random_bimatrix", "a random bimatrix game, U[0,1) payoffs (Stackelberg commitment)",
           (_int("rows", 3, 1, 1000), _int("columns", 3, 1, 1000)), _make_bimatrix, _solve_bimatrix),
    Family("random_externality", "an unstructured MDP with externalities (welfare benchmarks)",
           (_int("states", 3, 1, 2000), _int("actions", 2, 1, 64), _int("outcomes", 2, 1, 64),
            _int("horizon", 3, 1, 10_000)),
           _externality_maker("random_externality", {**_GRAPH, "horizon": "horizon"}), _solve_externality),
    Family("random_pollution", "pollution control with drawn parameters (welfare benchmarks)",
           (_int("levels", 5, 2, 2000), _int("horizon", 6, 1, 10_000)),
           _externality_maker("random_pollution", {"levels": "n_levels", "horizon": "horizon"}), _solve_externality),
    Family("random_insurance", "insurance with drawn parameters (welfare benchmarks)",
           (_int("levels", 4, 2, 2000), _int("horizon", 6, 1, 10_000)),
           _externality_maker("random_insurance", {"levels": "n_levels", "horizon": "horizon"}), _solve_externality),
    Family("escape_room", "ER(N, M) (deterministic: every seed gives the same instance)",
           (_int("agents", 2, 1, 6), _int("lever", 1, 1, 6), _int("max_steps", 5, 1, 50)),
           _make_escape_room, _solve_escape_room, seeded=False),
    Family("coin_game", "the 3x3 Coin Game (deterministic: every seed gives the same instance)",
           (_int("horizon", 20, 1, 200), Option("payoff", str, "paper", choices=("paper", "classic", "jaxmarl"))),
           _make_coin_game, _solve_coin_game, seeded=False),
)}


def family(name: str) -> Family:
    """The family called ``name`` (unknown names refused, naming the known ones)."""
    if name not in FAMILIES:
        raise InvalidInstanceError("family", f"unknown family {str(name)[:60]!r} (known: {', '.join(FAMILIES)})")
    return FAMILIES[name]
