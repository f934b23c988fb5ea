"""Checking a (learned) contract policy against the exact subgame-perfect equilibrium.

Ivanov, Dütting, Talgam-Cohen, Wang, Parkes, *Principal-Agent Reinforcement Learning*
(arXiv 2407.18074): a learned principal policy is judged by what an exact, best-responding
agent does with it and by how far it is from the SPE. :func:`check_policy` reports

* **values** — the SPE principal value ``V*(s_0)``, the policy's principal value ``V(s_0)``
  against the agent's exact best response (``tie_break``), ``ratio = V / V*`` (``None`` when
  ``V* <= 0``: a ratio is only meaningful against a positive benchmark) and
  ``gap = V* − V`` (positive: the policy is worse; it can be negative, because a committed
  non-SPE policy may beat the subgame-perfect one);
* **agreement** with the SPE's recommended actions. A state *agrees* when the recommended
  action is among the SPE principal's tied-best actions: ``Q*_p(s, a) >= max Q*_p(s, ·) −
  TIE_TOL · max(1, |max Q*_p(s, ·)|)`` with the solver's :data:`~contractlab.solvers.spe.TIE_TOL`
  (the rule the solver itself uses, which then picks the lowest index); ``exact_agreement``
  counts literal equality. Three denominators:

  - ``all``: every state (every ``(step, state)`` pair with a horizon);
  - ``spe_reachable``: the states reached with positive probability from ``s_0`` when both
    play the SPE profile (the agent takes the SPE's recommended actions);
  - ``policy_reachable``: the states reached with positive probability from ``s_0`` when the
    principal plays ``policy`` and the exact best-responding agent answers it (the path the
    policy actually induces, which need not follow the recommendations);

* **follow rate** of the exact best-responding agent: the fraction of states at which its
  action is the recommended one (ties broken by ``tie_break``), over all states and over the
  policy-reachable ones; the **strict** follow rate counts only states where the
  recommendation is the *unique* best response, by a margin ``> tol``;
* **IC violations** under the true truncated ``Q̄`` (the agent's Q under this contract policy
  without this step's payment, from the best-response computation): at each state
  ``max_a' [Q̄(s,a') + O(s,a')·b(s) − Q̄(s,a_rec) − O(s,a_rec)·b(s)]_+``; the maximum and the
  number of states where it exceeds ``tol``;
* with an ``agent_policy`` (e.g. a learned agent): its **regret** against the best response
  (the agent's value loss at ``s_0`` and the largest over states) and the principal's value
  when that agent plays;
* the **SPE gap** of the profile (policy, best response), :func:`spe_checks.spe_gap`.

Stationary and time-indexed (finite-horizon) policies; trees and DAGs (backward induction by
levels), finite horizons (backward over steps), and discounted cyclic instances, where the
reference is the meta-algorithm's profile (:func:`~contractlab.solvers.meta_algorithm.meta_algorithm`;
``reference_converged`` and ``reference_spe_gap`` say how far it is from an exact SPE).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..solvers.meta_algorithm import MetaAlgorithmResult, meta_algorithm
from ..solvers.pamdp_policy import (TIE_BREAKS, _check_agent_policy, _check_time_limit, _check_tol,
                                    agent_best_response, check_profile_inputs, evaluate)
from ..solvers.pamdp_policy import TIE_TOL as AGENT_TIE_TOL
from ..solvers.spe import TIE_TOL as SPE_TIE_TOL
from ..solvers.spe import SPEResult, solve_spe
from ..theory.contract_policy import ContractPolicy
from ..theory.errors import InvalidInstanceError
from ..theory.pamdp import PrincipalAgentMDP
from .spe_checks import _reached, spe_gap

#: Default tolerance of the follow / IC-violation counts (absolute, on agent Q-values): the
#: agent's tie tolerance :data:`contractlab.solvers.pamdp_policy.TIE_TOL` (``1e-9``).
CHECK_POLICY_TOL = AGENT_TIE_TOL

#: ``to_json`` lists at most this many offending states per kind (the arrays hold them all).
JSON_MAX_STATES = 50


@dataclass(frozen=True, eq=False)
class PolicyCheck:
    """The report of :func:`check_policy` (read-only arrays of shape ``(S,)``, or ``(H, S)``).

    Scalars are described in the module docstring; the arrays are the per-state evidence:
    ``agree`` (tie-aware agreement with the SPE), ``follow`` (best response = recommendation),
    ``ic_violation`` (``>= 0``), ``spe_reachable`` and ``policy_reachable`` (masks),
    ``agent_response`` (the exact best response) and ``reference_action`` (the SPE's actions).
    """

    reference: str
    reference_converged: bool
    reference_spe_gap: float
    time_indexed: bool
    tie_break: str
    tol: float
    initial_state: int
    n_states: int
    spe_value: float
    policy_value: float
    value_ratio: float | None
    value_gap: float
    agreement: float
    agreement_spe_reachable: float
    agreement_policy_reachable: float
    exact_agreement: float
    follow_rate: float
    follow_rate_on_path: float
    strict_follow_rate: float
    ic_violation_max: float
    ic_violations: int
    ic_violations_on_path: int
    spe_gap: float
    principal_one_shot_gain: float
    agent_one_shot_gain: float
    agent_regret_initial: float | None = None
    agent_regret_max: float | None = None
    agent_policy_principal_value: float | None = None
    agent_policy_agent_value: float | None = None
    agent_policy_spe_gap: float | None = None
    agree: np.ndarray = field(default=None, repr=False)
    follow: np.ndarray = field(default=None, repr=False)
    ic_violation: np.ndarray = field(default=None, repr=False)
    spe_reachable: np.ndarray = field(default=None, repr=False)
    policy_reachable: np.ndarray = field(default=None, repr=False)
    reference_action: np.ndarray = field(default=None, repr=False)
    agent_response: object = field(default=None, repr=False)

    @property
    def has_agent_policy(self) -> bool:
        return self.agent_regret_initial is not None

    def to_json(self) -> dict:
        """A JSON-ready dict (``kind: "policy_check"``); non-finite numbers become ``None``.

        Offending states are listed as ``s`` (or ``[t, s]`` with a horizon), at most
        :data:`JSON_MAX_STATES` of each kind, in index order.
        """
        def num(x):
            return None if x is None or not math.isfinite(x) else float(x)

        doc = {"kind": "policy_check", "version": 1, "reference": self.reference,
               "reference_converged": self.reference_converged, "reference_spe_gap": num(self.reference_spe_gap),
               "time_indexed": self.time_indexed, "tie_break": self.tie_break, "tol": self.tol,
               "initial_state": self.initial_state, "n_states": self.n_states,
               "n_spe_reachable": int(self.spe_reachable.sum()),
               "n_policy_reachable": int(self.policy_reachable.sum()),
               "spe_value": num(self.spe_value), "policy_value": num(self.policy_value),
               "value_ratio": num(self.value_ratio), "value_gap": num(self.value_gap),
               "agreement": self.agreement, "agreement_spe_reachable": self.agreement_spe_reachable,
               "agreement_policy_reachable": self.agreement_policy_reachable,
               "exact_agreement": self.exact_agreement,
               "follow_rate": self.follow_rate, "follow_rate_on_path": self.follow_rate_on_path,
               "strict_follow_rate": self.strict_follow_rate,
               "ic_violation_max": num(self.ic_violation_max), "ic_violations": self.ic_violations,
               "ic_violations_on_path": self.ic_violations_on_path,
               "spe_gap": num(self.spe_gap), "principal_one_shot_gain": num(self.principal_one_shot_gain),
               "agent_one_shot_gain": num(self.agent_one_shot_gain),
               "disagreeing_states": _listed(~self.agree),
               "ic_violating_states": _listed(self.ic_violation > self.tol),
               "agent_policy": None}
        if self.has_agent_policy:
            doc["agent_policy"] = {"regret_initial": num(self.agent_regret_initial),
                                   "regret_max": num(self.agent_regret_max),
                                   "principal_value": num(self.agent_policy_principal_value),
                                   "agent_value": num(self.agent_policy_agent_value),
                                   "spe_gap": num(self.agent_policy_spe_gap)}
        return doc

    def to_table(self, title: str | None = None):
        """A ``rich.table.Table`` of the report (what ``contractlab check`` prints)."""
        from rich.table import Table

        def pct(x: float) -> str:
            return "—" if math.isnan(x) else f"{100 * x:.2f}%"

        def g(x) -> str:
            return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.6g}"

        n_spe, n_pol = int(self.spe_reachable.sum()), int(self.policy_reachable.sum())
        unit = "(step, state) pairs" if self.time_indexed else "states"
        ref = self.reference if self.reference == "spe" else \
            f"{self.reference} ({'converged' if self.reference_converged else 'NOT converged'}, " \
            f"SPE gap {self.reference_spe_gap:.3g})"
        table = Table(title=title or "contract policy vs subgame-perfect equilibrium")
        table.add_column("quantity", no_wrap=True)
        table.add_column("value", justify="right")
        table.add_column("note")
        rows = [
            ("reference", ref, "backward induction" if self.reference == "spe" else "discounted cyclic instance"),
            ("SPE principal value", g(self.spe_value), f"at the initial state {self.initial_state}"),
            ("policy principal value", g(self.policy_value), f"agent best-responds, ties: {self.tie_break}"),
            ("ratio policy / SPE", g(self.value_ratio), "— when the SPE value is <= 0"),
            ("gap SPE − policy", g(self.value_gap), ""),
            ("agreement (all)", pct(self.agreement), f"{self.n_states} {unit}; SPE ties count as agreeing"),
            ("agreement (SPE path)", pct(self.agreement_spe_reachable), f"{n_spe} reachable under the SPE"),
            ("agreement (policy path)", pct(self.agreement_policy_reachable),
             f"{n_pol} reachable under the policy"),
            ("exact agreement (all)", pct(self.exact_agreement), "same action index"),
            ("follow rate", pct(self.follow_rate), f"ties: {self.tie_break}"),
            ("follow rate (policy path)", pct(self.follow_rate_on_path), ""),
            ("strict follow rate", pct(self.strict_follow_rate), f"unique best response by > {self.tol:g}"),
            ("IC violation (max)", g(self.ic_violation_max), "under the true Q̄"),
            ("IC violations", str(self.ic_violations), f"{unit} with violation > {self.tol:g}"),
            ("IC violations (policy path)", str(self.ic_violations_on_path), ""),
            ("SPE gap", g(self.spe_gap), f"principal {self.principal_one_shot_gain:.3g}, "
                                         f"agent {self.agent_one_shot_gain:.3g}"),
        ]
        if self.has_agent_policy:
            rows += [("agent regret (initial)", g(self.agent_regret_initial), "given agent policy vs best response"),
                     ("agent regret (max)", g(self.agent_regret_max), "largest over states"),
                     ("principal value (given agent)", g(self.agent_policy_principal_value), ""),
                     ("SPE gap (given agent)", g(self.agent_policy_spe_gap), "")]
        for row in rows:
            table.add_row(*row)
        return table


def _listed(mask: np.ndarray) -> list:
    idx = np.argwhere(mask)[:JSON_MAX_STATES]
    return [int(i[0]) for i in idx] if mask.ndim == 1 else [[int(t), int(s)] for t, s in idx]


def _frac(mask: np.ndarray, where: np.ndarray | None = None) -> float:
    if where is not None:
        mask = mask[where]
    return float(mask.mean()) if mask.size else math.nan


# --------------------------------------------------------------------------- reachability

def reachable_states(mdp: PrincipalAgentMDP, actions: np.ndarray) -> np.ndarray:
    """States reached with positive probability from ``mdp.initial_state`` when the agent plays
    ``actions``: a mask ``(S,)``; with a horizon a mask ``(H, S)`` over (step, state) pairs
    (``actions`` may then be ``(S,)`` or ``(H, S)``)."""
    S = mdp.n_states
    if mdp.horizon is None:
        return _reached(mdp, np.asarray(actions))
    H = mdp.horizon
    acts = np.broadcast_to(actions, (H, S))
    out = np.zeros((H, S), dtype=bool)
    out[0, mdp.initial_state] = True
    idx = np.arange(S)
    for t in range(H - 1):
        live = (mdp.outcome_probs[idx, acts[t]] > 0) & out[t][:, None]           # (S, K)
        if mdp.deterministic:
            s, k = np.nonzero(live & (mdp.next_state >= 0))
            out[t + 1, mdp.next_state[s, k]] = True
        else:
            s, k = np.nonzero(live)
            out[t + 1] = (mdp.transitions[s, k] > 0).any(axis=0)
    return out


# --------------------------------------------------------------------------- the reference

@dataclass(frozen=True)
class _Reference:
    name: str
    action: np.ndarray           # (S,) or (H, S)
    agent_action: np.ndarray     # what the agent plays in the reference profile
    principal_q: np.ndarray      # (S, A) or (H, S, A)
    value: float
    converged: bool
    gap: float


def _reference(mdp: PrincipalAgentMDP, spe, remaining=lambda: None) -> _Reference:
    """The reference profile; ``remaining()`` is the time left (``None``: no limit given, so the
    meta-algorithm keeps its own default budget)."""
    lead = (mdp.horizon, mdp.n_states) if mdp.horizon is not None else (mdp.n_states,)
    if spe is None:
        if mdp.horizon is None and not mdp.is_acyclic:
            left = remaining()
            spe = meta_algorithm(mdp) if left is None else meta_algorithm(mdp, time_limit=left)
        else:
            spe = solve_spe(mdp)
    if isinstance(spe, SPEResult):
        ref = _Reference("spe", spe.policy.action, spe.policy.action, spe.principal_q, spe.principal_value_initial,
                         True, 0.0)
    elif isinstance(spe, MetaAlgorithmResult):
        q = spe.iterates[-1].step.principal_q if spe.iterates else None
        if q is None:
            raise InvalidInstanceError("spe", "the meta-algorithm result has no iterates")
        ref = _Reference("meta_algorithm", spe.policy.action, spe.agent_policy, q, spe.principal_value_initial,
                         bool(spe.converged), spe_gap(mdp, spe.policy, spe.agent_policy, time_limit=remaining()).gap)
    else:
        raise InvalidInstanceError("spe", f"expected an SPEResult or a MetaAlgorithmResult, got {type(spe).__name__}")
    if ref.action.shape != lead or ref.principal_q.shape != lead + (mdp.n_actions,):
        raise InvalidInstanceError("spe", f"has actions of shape {ref.action.shape}, expected {lead} for this MDP")
    return ref


def _tied_best(principal_q: np.ndarray, tie_tol: float = SPE_TIE_TOL) -> np.ndarray:
    """Mask of the principal's tied-best actions, by the solver's rule (relative ``tie_tol``)."""
    best = principal_q.max(axis=-1, keepdims=True)
    return principal_q >= best - tie_tol * np.maximum(1.0, np.abs(best))


# --------------------------------------------------------------------------- the check

def check_policy(mdp: PrincipalAgentMDP, policy: ContractPolicy, agent_policy=None, *,
                 tie_break: str = "principal", spe: SPEResult | MetaAlgorithmResult | None = None,
                 tol: float = CHECK_POLICY_TOL, time_limit: float | None = None) -> PolicyCheck:
    """Check ``policy`` against the exact SPE of ``mdp`` (see the module docstring).

    Parameters
    ----------
    mdp, policy:
        The instance and the contract policy to check (stationary ``(S,)`` / ``(S, K)``, or
        time-indexed ``(H, S)`` / ``(H, S, K)`` for an MDP with horizon ``H``).
    agent_policy:
        Optional agent actions ``(S,)`` or ``(H, S)`` (e.g. a learned agent) to report its regret
        against the exact best response and the principal's value when it plays.
    tie_break:
        How the exact agent breaks ties: ``"principal"`` (default) or ``"adversarial"``.
    spe:
        A precomputed :class:`~contractlab.solvers.spe.SPEResult` (or, for a discounted cyclic
        instance, a :class:`~contractlab.solvers.meta_algorithm.MetaAlgorithmResult`); computed
        when ``None``.
    tol:
        Tolerance of the strict-follow and IC-violation counts, :data:`CHECK_POLICY_TOL`; the
        agent's ties use the best-response default and SPE ties the solver's ``TIE_TOL``.
    time_limit:
        Wall-time budget in seconds shared by the iterative parts on a discounted cyclic
        instance (default ``None``: no limit of its own — the meta-algorithm reference then
        keeps its default :data:`~contractlab.solvers.meta_algorithm.TIME_LIMIT`): the reference
        :func:`~contractlab.solvers.meta_algorithm.meta_algorithm`, the agent's best response,
        the evaluations and the SPE gaps each get the time left. A best response cut by it is
        reported in ``agent_response.converged`` / ``agent_response.reason``.

    Raises
    ------
    InvalidInstanceError
        Naming the field when the policy (or agent policy, or ``spe``) does not fit the MDP.
    """
    check_profile_inputs(mdp, policy)
    if tie_break not in TIE_BREAKS:
        raise InvalidInstanceError("tie_break", f"must be one of {TIE_BREAKS}, got {tie_break!r}")
    tol = _check_tol("tol", tol)
    time_limit = _check_time_limit(time_limit)
    deadline = None if time_limit is None else time.monotonic() + time_limit

    def remaining() -> float | None:
        return None if deadline is None else max(0.0, deadline - time.monotonic())

    given = None if agent_policy is None else _check_agent_policy(mdp, agent_policy)
    ref = _reference(mdp, spe, remaining)
    lead = ref.action.shape
    rec = np.broadcast_to(policy.action, lead)

    br = agent_best_response(mdp, policy, tie_break=tie_break, time_limit=remaining())
    # The true truncated Q̄(s, a) = Q_a(s, a) − O(s, a)·b(s) (Q_a: the agent's Q against this contract
    # policy, continuation under its best response), so Q̄(s, a') + O(s, a')·b(s) is Q_a(s, a').
    util = np.asarray(br.q)
    at_rec = np.take_along_axis(util, rec[..., None], axis=-1)[..., 0]
    ic_violation = np.maximum(util.max(axis=-1) - at_rec, 0.0)
    others = util.copy()
    np.put_along_axis(others, rec[..., None], -np.inf, axis=-1)
    strict = at_rec > others.max(axis=-1) + tol                  # A = 1: max of nothing is −inf -> strict

    agree = np.take_along_axis(_tied_best(ref.principal_q), rec[..., None], axis=-1)[..., 0]
    spe_reach = reachable_states(mdp, ref.agent_action)
    pol_reach = reachable_states(mdp, br.policy)
    follow = np.asarray(br.follow)
    gap = spe_gap(mdp, policy, br.policy, time_limit=remaining())

    v_star, v = ref.value, br.principal_start
    extra = {}
    if given is not None:
        ev = evaluate(mdp, policy, given, time_limit=remaining())
        extra = dict(agent_regret_initial=br.agent_start - ev.agent_start,
                     agent_regret_max=float(np.max(br.agent_value - ev.agent_value)),
                     agent_policy_principal_value=ev.principal_start, agent_policy_agent_value=ev.agent_start,
                     agent_policy_spe_gap=spe_gap(mdp, policy, given, time_limit=remaining()).gap)
    for arr in (agree, ic_violation, spe_reach, pol_reach):
        arr.setflags(write=False)
    return PolicyCheck(
        reference=ref.name, reference_converged=ref.converged, reference_spe_gap=ref.gap,
        time_indexed=mdp.horizon is not None, tie_break=tie_break, tol=tol, initial_state=mdp.initial_state,
        n_states=int(np.prod(lead)), spe_value=v_star, policy_value=v,
        value_ratio=v / v_star if v_star > 0 else None, value_gap=v_star - v,
        agreement=_frac(agree), agreement_spe_reachable=_frac(agree, spe_reach),
        agreement_policy_reachable=_frac(agree, pol_reach), exact_agreement=_frac(rec == ref.action),
        follow_rate=_frac(follow), follow_rate_on_path=_frac(follow, pol_reach), strict_follow_rate=_frac(strict),
        ic_violation_max=float(ic_violation.max()), ic_violations=int((ic_violation > tol).sum()),
        ic_violations_on_path=int((ic_violation[pol_reach] > tol).sum()),
        spe_gap=gap.gap, principal_one_shot_gain=float(max(gap.principal_gain.max(), 0.0)),
        agent_one_shot_gain=float(max(gap.agent_gain.max(), 0.0)),
        agree=agree, follow=follow, ic_violation=ic_violation, spe_reachable=spe_reach, policy_reachable=pol_reach,
        reference_action=ref.action, agent_response=br, **extra)


# --------------------------------------------------------------------------- agent-policy files

def load_agent_policy(path) -> np.ndarray:
    """Read an agent policy file: ``{"kind": "agent_policy", "version": 1, "action": [...]}``
    (``(S,)`` or ``(H, S)`` ints; ``action`` may be ``{"npz": key}`` in a sibling ``.npz``), or a
    ``contract_policy`` / ``pamdp_solution`` file, whose recommended actions are then taken as the
    agent's actions. Shapes are checked against the MDP by :func:`check_policy`."""
    from ..theory.documents import load_agent_actions
    return load_agent_actions(path)


__all__ = ["check_policy", "PolicyCheck", "reachable_states", "load_agent_policy", "CHECK_POLICY_TOL",
           "JSON_MAX_STATES"]
