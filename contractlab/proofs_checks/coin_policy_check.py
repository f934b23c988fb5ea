"""Checking a learned multi-agent principal of the Coin Game against the exact 3x3 solution.

Ivanov, Dütting, Talgam-Cohen, Wang, Parkes, *Principal-Agent Reinforcement Learning* (arXiv
2407.18074, Section 5): the principal recommends a joint action at every ``(t, s)`` and pays agent
``i`` the amount ``b_i(t, s)`` iff it plays its recommendation. A learned principal
(:class:`~contractlab.learning.coin_principal.CoinPrincipal`) is judged here by exact dynamic
programming on the game's tables (:mod:`~contractlab.solvers.coin_game_exact`), never by
sampling. :func:`check_coin_principal` reports

* **welfare** of the recommendation when both agents follow, against the welfare optimum ``W*``
  (:func:`~contractlab.solvers.coin_game_exact.welfare_optimum`), and the principal's objective
  ``welfare / α − payments``;
* **payments**: each agent's expected total payment when both follow, as a share of welfare;
  beside it the paper's rule ``max_a Q_i − Q_i(rec_i) + ξ`` evaluated on the *exact* ``Q_i`` for the
  same recommendation (what the learned payments estimate; the largest difference on the follow
  path), and the exact references for ``π*``: the paper's payments, the greedy every-action
  payments and (``lp=True``) the LP minimum of :func:`~contractlab.solvers.coin_game_lp.min_payments_lp`;
* **IC violations of the learned payments under the exact Q**, in two senses:

  - *against a follower* (the paper's training condition): agent ``i``'s exact best response
    ``Q_i`` when the other follows and the payments are paid iff ``i`` follows; at ``(t, s)`` the
    violation is ``max_a Q_i(t, s, a) − Q_i(t, s, rec_i)``, and the value gain of the best
    response from the start distribution (``ic_gap``);
  - *against every current action of the other* (the paper's Eq. (5), dominant-strategy IC,
    both following afterwards): the least slack of
    :func:`~contractlab.solvers.coin_game_lp.dominance_slack` over the other's actions;

  each as its maximum and the number of ``(t, s)`` above ``tol``, over all pairs and over the
  follow path (pairs reached with positive probability when both follow);
* **follow rates**: the fraction of its ``H`` steps at which an exact best-responding agent
  (against the other following; ties go to following) plays its recommendation on its own
  path; and, with ``validate_iterations > 0``, fresh selfish tabular learners trained from
  scratch against the frozen principal (the paper's validation,
  :func:`~contractlab.learning.coin_principal.validate`): their exact welfare, payments and
  follow rates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..solvers import coin_game_exact as X
from ..solvers.coin_game_lp import dominance_slack, min_payments_lp
from ..theory.coin_game import game_to_dict
from ..theory.errors import InvalidInstanceError
from ..theory.validation import check_real

#: Default tolerance of the violation counts and of "ties go to following" (absolute, in reward units).
COIN_CHECK_TOL = 1e-9


@dataclass(frozen=True, eq=False)
class CoinPolicyCheck:
    """The report of :func:`check_coin_principal` (module docstring). Per-agent quantities are
    ``(2,)`` arrays; ``follow_violation`` and ``dominance_violation`` are the ``(2, H, S)``
    per-pair evidence (``>= 0``), ``on_path`` the ``(H, S)`` follow-path mask."""

    game: dict
    alpha: float
    nudge: float
    tol: float
    optimum: float
    welfare: float
    returns: np.ndarray
    payments: np.ndarray
    objective: float
    exact_payments: np.ndarray
    payment_error_on_path: float
    references: dict
    ic_gap: np.ndarray
    follow_violation_max: np.ndarray
    follow_violations: np.ndarray
    follow_violations_on_path: np.ndarray
    dominance_violation_max: np.ndarray
    dominance_violations: np.ndarray
    dominance_violations_on_path: np.ndarray
    best_response_follow_rate: np.ndarray
    validation: dict | None = None
    follow_violation: np.ndarray = field(default=None, repr=False)
    dominance_violation: np.ndarray = field(default=None, repr=False)
    on_path: np.ndarray = field(default=None, repr=False)

    @property
    def welfare_fraction(self) -> float:
        return self.welfare / self.optimum if self.optimum != 0 else float("nan")

    @property
    def payment_share(self) -> float:
        return float(self.payments.sum()) / self.welfare if self.welfare != 0 else float("nan")

    @property
    def optimum_objective(self) -> float:
        """``W* / α`` minus the paper's exact payments for ``π*`` (the least that make following
        a best response against a follower at every ``(t, s)``, the sense the learned payments
        are trained in)."""
        return self.optimum / self.alpha - self.references["paper"]

    def to_json(self) -> dict:
        """A JSON-ready dict (``kind: "coin_policy_check"``); non-finite numbers become ``None``."""
        def num(x):
            x = float(x)
            return None if not math.isfinite(x) else x

        def vec(a):
            return [num(x) for x in np.asarray(a, dtype=float)]

        return {"kind": "coin_policy_check", "version": 1, "game": self.game, "alpha": self.alpha,
                "nudge": self.nudge, "tol": self.tol, "optimum_welfare": num(self.optimum),
                "welfare": num(self.welfare), "welfare_fraction": num(self.welfare_fraction),
                "returns": vec(self.returns), "payments": vec(self.payments),
                "payment_share": num(self.payment_share), "objective": num(self.objective),
                "optimum_objective": num(self.optimum_objective),
                "exact_payments_same_recommendation": vec(self.exact_payments),
                "payment_error_on_path": num(self.payment_error_on_path),
                "reference_payments": {k: num(v) for k, v in self.references.items()},
                "ic_gap": vec(self.ic_gap),
                "follow_violation_max": vec(self.follow_violation_max),
                "follow_violations": [int(x) for x in self.follow_violations],
                "follow_violations_on_path": [int(x) for x in self.follow_violations_on_path],
                "dominance_violation_max": vec(self.dominance_violation_max),
                "dominance_violations": [int(x) for x in self.dominance_violations],
                "dominance_violations_on_path": [int(x) for x in self.dominance_violations_on_path],
                "n_pairs": int(self.on_path.size), "n_pairs_on_path": int(self.on_path.sum()),
                "best_response_follow_rate": vec(self.best_response_follow_rate),
                "validation": self.validation}

    def to_table(self, title: str | None = None):
        """A ``rich.table.Table`` of the report (what ``contractlab check`` prints)."""
        from rich.table import Table

        def g(x) -> str:
            return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.6g}"

        def pair(a, fmt="{:.6g}") -> str:
            return " / ".join(fmt.format(x) for x in a)

        def pct(a) -> str:
            return pair(100 * np.asarray(a, dtype=float), "{:.2f}%")

        n_path = int(self.on_path.sum())
        table = Table(title=title or "multi-agent principal vs the exact Coin Game solution")
        table.add_column("quantity", no_wrap=True)
        table.add_column("value", justify="right")
        table.add_column("note")
        names = {"paper": "exact payments for π*, paper", "every_action": "exact payments for π*, every action",
                 "lp_minimum": "exact payments for π*, LP min."}
        notes = {"paper": "least with following a best response to a follower",
                 "every_action": "greedy, dominant (Eq. 5), step by step",
                 "lp_minimum": "least dominant (Eq. 5) payments, by LP"}
        rows = [
            ("optimum welfare W*", g(self.optimum), "exact DP over the joint state space"),
            ("welfare, both follow", g(self.welfare), f"{100 * self.welfare_fraction:.2f}% of W*"),
            ("returns (agent 0 / 1)", pair(self.returns), "game rewards, no payments"),
            ("payments (agent 0 / 1)", pair(self.payments), f"{100 * self.payment_share:.2f}% of welfare"),
            ("exact payments, same rec.", pair(self.exact_payments),
             f"paper's rule on the exact Q, ξ = {self.nudge:g}"),
            ("payment error (follow path)", g(self.payment_error_on_path), "max |learned − exact| per (t, s)"),
            *[(names[k], g(v), notes[k]) for k, v in self.references.items()],
            ("principal objective", g(self.objective), f"welfare / α − payments, α = {self.alpha:g}"),
            ("optimum objective", g(self.optimum_objective), "W* / α − paper's exact payments for π*"),
            ("IC gap (agent 0 / 1)", pair(self.ic_gap), "best-response value − following value, other follows"),
            ("IC violation vs follower (max)", pair(self.follow_violation_max), "max_a Q_i − Q_i(rec), exact Q"),
            ("IC violations vs follower", pair(self.follow_violations, "{:d}"),
             f"of {self.on_path.size} (t, s) pairs, > {self.tol:g}"),
            ("  on the follow path", pair(self.follow_violations_on_path, "{:d}"), f"of {n_path} pairs"),
            ("dominance violation (max)", pair(self.dominance_violation_max),
             "against every current action of the other (Eq. 5)"),
            ("dominance violations", pair(self.dominance_violations, "{:d}"), f"> {self.tol:g}"),
            ("  on the follow path", pair(self.dominance_violations_on_path, "{:d}"), ""),
            ("follow rate, exact best response", pct(self.best_response_follow_rate),
             "other follows; ties go to following"),
        ]
        if self.validation is not None:
            v = self.validation
            rows += [("validation welfare", g(v["welfare"]), f"{100 * v['welfare_fraction']:.2f}% of W*, "
                                                              f"{v['iterations']} iterations, seed {v['seed']}"),
                     ("validation follow rate", pct(v["follow_rate"]), "fresh selfish learners"),
                     ("validation payments", pair(v["payments"]), "")]
        for r in rows:
            table.add_row(*r)
        return table


def _follow_check(tb: X.CoinTables, rec: np.ndarray, pay: np.ndarray, tol: float):
    """Per agent: the exact best response against the other following, with ``pay`` paid iff
    the agent follows. Returns the ``(2, H, S)`` violations ``max_a Q_i − Q_i(rec_i)``, the value
    gains from the start distribution and each agent's policy (ties within ``tol`` to following)."""
    from ..learning.coin_agents import exact_play

    H, S, n = tb.game.horizon, tb.n_states, tb.n
    h, s = np.ogrid[:H, :S]
    violation = np.zeros((2, H, S))
    gain = np.zeros(2)
    policies = []
    follow_value = exact_play(tb, rec, rec, pay)
    value = follow_value.returns + follow_value.payments
    for i in (0, 1):
        bonus = np.where(np.arange(n)[None, None, :] == rec[..., i:i + 1], pay[..., i:i + 1], 0.0)
        br = X.best_response(tb, i, rec[..., 1 - i], bonus=bonus)
        best = br.q.max(axis=2)
        at_rec = br.q[h, s, rec[..., i]]
        violation[i] = best - at_rec
        gain[i] = br.value - value[i]
        pol = rec.copy()
        pol[..., i] = np.where(at_rec >= best - tol, rec[..., i], br.q.argmax(axis=2))
        policies.append(pol)
    return violation, gain, policies


def check_coin_principal(principal, tables: X.CoinTables | None = None, optimum: X.WelfareOptimum | None = None,
                         lp: bool = False, validate_iterations: int = 0, seed: int = 0,
                         tol: float = COIN_CHECK_TOL) -> CoinPolicyCheck:
    """The report of the module docstring for a
    :class:`~contractlab.learning.coin_principal.CoinPrincipal` (any grid with exact tables,
    ``grid <= MAX_EXACT_GRID``). ``lp`` adds the LP-minimal payments for ``π*`` to the references
    (minutes on 3x3 with ``H = 20``); ``validate_iterations > 0`` trains fresh selfish learners
    for that many iterations (seed ``seed``) against the principal."""
    from ..learning.coin_agents import AgentConfig, exact_play, state_distributions
    from ..learning.coin_principal import CoinPrincipal, exact_payments_for, validate

    if not isinstance(principal, CoinPrincipal):
        raise InvalidInstanceError("principal", f"must be a CoinPrincipal, got {type(principal).__name__}")
    tol = check_real("tol", tol, 0.0)
    if not isinstance(lp, (bool, np.bool_)):
        raise InvalidInstanceError("lp", f"must be True or False, got {lp!r}")
    if isinstance(validate_iterations, bool) or not isinstance(validate_iterations, (int, np.integer)) \
            or validate_iterations < 0:
        raise InvalidInstanceError("validate_iterations", f"must be an integer >= 0, got {validate_iterations!r}")
    tb = X.tables(principal.game) if tables is None else tables
    if tb.game is not principal.game and game_to_dict(tb.game) != game_to_dict(principal.game):
        raise InvalidInstanceError("tables", "are those of another game than the principal's")
    opt = X.welfare_optimum(tb) if optimum is None else optimum
    rec = principal.actions()
    pay = np.asarray(principal.payments, dtype=float)
    play = exact_play(tb, rec, rec, pay)
    on_path = state_distributions(tb, principal.recommendation) > 0

    exact = exact_payments_for(tb, principal.recommendation, principal.nudge)
    exact_play_same = exact_play(tb, rec, rec, exact)
    err = np.abs(pay - exact).max(axis=2)
    payment_error = float(err[on_path].max(initial=0.0))

    refs = {"paper": X.paper_payments(tb, opt).total_payment,
            "every_action": X.every_action_payments(tb, opt).total_payment}
    if lp:
        refs["lp_minimum"] = float(min_payments_lp(tb, opt, alpha=principal.alpha).payments.total_payment)

    follow_violation, gain, br_policies = _follow_check(tb, rec, pay, tol)
    slack, _, _ = dominance_slack(tb, principal.recommendation, np.moveaxis(pay, -1, 0))
    dominance_violation = np.maximum(0.0, -slack.min(axis=3))          # (2, H, S)

    br_follow = np.array([exact_play(tb, br_policies[i], rec, pay).follow_rate[i] for i in (0, 1)])

    validation = None
    if validate_iterations:
        v = validate(principal, AgentConfig(iterations=int(validate_iterations)), seed=seed, tables=tb)
        validation = {"iterations": int(validate_iterations), "seed": int(seed), "welfare": v.play.welfare,
                      "welfare_fraction": v.play.welfare / opt.value if opt.value else float("nan"),
                      "follow_rate": [float(x) for x in v.play.follow_rate],
                      "payments": [float(x) for x in v.play.payments]}

    def count(v, mask=None):
        above = v > tol
        return (above if mask is None else above & mask[None]).sum(axis=(1, 2))

    for a in (follow_violation, dominance_violation, on_path):
        a.flags.writeable = False
    return CoinPolicyCheck(
        game=game_to_dict(principal.game), alpha=principal.alpha, nudge=principal.nudge, tol=tol,
        optimum=opt.value, welfare=play.welfare, returns=play.returns, payments=play.payments,
        objective=play.welfare / principal.alpha - play.total_payment, exact_payments=exact_play_same.payments,
        payment_error_on_path=payment_error, references=refs, ic_gap=gain,
        follow_violation_max=follow_violation.max(axis=(1, 2)), follow_violations=count(follow_violation),
        follow_violations_on_path=count(follow_violation, on_path),
        dominance_violation_max=dominance_violation.max(axis=(1, 2)),
        dominance_violations=count(dominance_violation),
        dominance_violations_on_path=count(dominance_violation, on_path),
        best_response_follow_rate=br_follow, validation=validation,
        follow_violation=follow_violation, dominance_violation=dominance_violation, on_path=on_path)


__all__ = ["CoinPolicyCheck", "check_coin_principal", "COIN_CHECK_TOL"]
