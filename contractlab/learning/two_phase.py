"""The two-phase steering mechanism: estimate implementing transfers by probing a learning agent,
then steer it to the welfare-optimal policy (Helou, *Microeconomic Foundations of Multi-Agent
Learning*, arXiv 2601.03451).

Only the paper's abstract is known: Phase 1 estimates the minimal transfers that implement the
targeted actions by measuring how incentives shift the agent's effective preferences; Phase 2 uses
the estimates to steer long-run play to the welfare-optimal behaviour; social-welfare regret is
sublinear when the agent's regret is sublinear and exploration/coverage suffices. The design below
is ours; every choice is listed.

Setting
-------
``T`` episodes of an :class:`~contractlab.theory.externality.ExternalityMDP` (horizon ``H``) are
played in a row by the same learning agent (:mod:`contractlab.learning.externality_agents`). The
principal knows the outcome distributions ``O`` and the externality ``e`` (the physics and the
damages), and an interval ``[r_lo, r_hi]`` containing the agent's private rewards, but NOT the
rewards themselves; she sees outcomes, never actions (unless ``observe="actions"``). Her target
is the welfare-optimal policy ``π*`` (:func:`~contractlab.solvers.welfare.welfare_optimum`).

What must be learned
--------------------
At step ``t`` and stock ``s``, with the transfers of the later steps fixed, a contract ``b``
implements ``a* = π*(t, s)`` iff ``(O(s, a*) − O(s, a)) · b >= c_a`` for every ``a != a*``, where
``c_a = Q̄_t(s, a) − Q̄_t(s, a*)`` is the agent's (unknown) advantage of ``a`` over ``a*`` before
the step's transfer (``Q̄`` includes the continuation with later transfers). MIN-PAY with these
constants is the exact minimal transfer (Ivanov et al., arXiv 2407.18074, Section 3; the LP of
:mod:`contractlab.solvers.min_pay_vertex` with ``c = −Q̄``).

Phase 1: bracketing the agent's preferences
-------------------------------------------
Steps are estimated backwards, ``t = H − 1, …, 0`` (the constants at ``t`` depend on the later
transfers, which are by then fixed at their Phase-2 values). For each step, ``probes`` blocks of
``L(T) = max(min_block, ceil(block_scale · T^block_exponent))`` episodes each; in a block every
stock ``s`` at step ``t`` is probed at once (the decision at ``(t, s)`` only affects later steps,
whose transfers are fixed), the earlier steps pay nothing (the agent's own play and exploration
provide the coverage), and the probe is announced (the agent restarts its learning).

For every ``(t, s)`` and competitor ``a`` the principal keeps a bracket ``lo_a < c_a <= hi_a``,
initially ``±C_t`` with ``C_t = Σ_{k<H−t} γ^k (r_hi − r_lo) + Σ_{1<=k<H−t} γ^k b̄`` (``b̄`` the
largest later transfer): a sure bound on ``|c_a|``. Each probe posts the MIN-PAY contract ``b``
for the midpoints ``m = (lo + hi)/2`` (if ``a*`` is not implementable at ``m``: the one for
``lo``, else nothing) and reads the agent's response in the block's second half:

* the agent plays ``a*``: then ``c_a <= (O(a*) − O(a))·b`` for every ``a`` — each ``hi_a`` drops to it;
* it plays ``a' != a*``: then ``c_{a'} > (O(a*) − O(a'))·b`` — ``lo_{a'}`` rises to it.

Every probe halves at least one bracket (the contract for ``m`` meets some midpoint with
equality). The response is read from the outcome counts at ``(t, s)`` in the block's second half: the pure
action of largest likelihood, accepted when it beats every other pure action by ``confidence``
nats (a likelihood-ratio test), when it fits the counts (a G-test at level ``fit_level``: a mixed
response — a learner still undecided — that resembles no pure action is not read as one) and
when at least ``min_visits`` visits were seen; otherwise the probe tells nothing. With
``observe="actions"`` the principal audits the actions instead (a strict majority).

Phase 2: steering
-----------------
The estimate at ``(t, s)`` is MIN-PAY for the constants ``hi + margin``: it implements ``a*``
with slack ``margin`` whenever the brackets are right (``hi_a >= c_a``), so its expected
payment is at least the exact minimum and exceeds it by what the bracket width and the margin
cost. It is posted only where some probe saw the agent play ``a*`` (only then is ``hi`` below
the prior bound for every competitor: a contract that implements ``a*`` was observed); elsewhere,
and where ``a*`` is not implementable at those constants, nothing is paid (the target is given up
there, and the agent plays as it likes). Paying the prior bound instead would be safe but
enormous, and it would compound backwards through ``b̄``. Phase 2 posts the estimates for the rest of the ``T`` episodes. Transfers are
welfare-neutral on every trajectory (the agent's gain is the principal's cost), so the welfare
regret comes only from what the agent plays: the Phase-1 episodes and the agent's own regret in
Phase 2.

Phase lengths: ``T_1 = H · probes · L(T)`` (``O(T^block_exponent)``, so ``T_1/T → 0``), Phase 2
the rest. Assumptions under which the welfare regret is sublinear (the checks of
:mod:`contractlab.proofs_checks.theorems_two_phase` and the tests): the agent's regret on each
block is sublinear in the block's length, so that its play at the end of a block is its best
response (up to a vanishing indifference band) and Phase 2 converges to ``π*``; every ``(t, s)``
that ``π*`` visits is visited often enough in Phase 1 (coverage); and ``a*`` is implementable.
Breaking them (a linear-regret agent, blocks too short to respond) breaks the claim; the docs
show both.

``mechanism="none"`` posts nothing for all ``T`` episodes: the agent learns its selfish policy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import chi2

from ..solvers.min_pay_vertex import min_pay_batch
from ..solvers.welfare import selfish_play, welfare_optimum
from ..theory.errors import InvalidInstanceError
from ..theory.externality import ExternalityMDP
from ..theory.externality_sim import (PaddedModel, draw_episode_uniforms, pad, play_episode,
                                      policy_values)
from ..theory.validation import check_real
from .no_regret.base import check_count

MECHANISMS = ("two-phase", "none")
OBSERVE = ("outcomes", "actions")

#: Episodes whose uniforms are drawn at once per run (memory ``CHUNK · H · 3`` floats per run).
CHUNK = 512


@dataclass(frozen=True)
class TwoPhase:
    """Parameters of the mechanism (module docstring). Defaults: 8 probes per step, blocks of
    ``max(10, ceil(4 T^(1/3)))`` episodes, margin 0.1 (in the agent's reward units), the
    response read from audited actions (a strict majority of at least 10 visits); with
    ``observe="outcomes"`` it must win a 3-nat likelihood-ratio test and pass a G-test at level
    0.01."""

    probes: int = 8
    block_scale: float = 4.0
    block_exponent: float = 1.0 / 3.0
    min_block: int = 10
    margin: float = 0.1
    observe: str = "actions"
    confidence: float = 3.0
    fit_level: float = 0.01
    min_visits: int = 10
    reward_bounds: tuple[float, float] | None = None

    def __post_init__(self):
        check_count("probes", self.probes)
        check_real("block_scale", self.block_scale, 0.0, low_open=True)
        check_real("block_exponent", self.block_exponent, 0.0, 1.0)
        check_count("min_block", self.min_block, 2)
        check_real("margin", self.margin, 0.0)
        check_real("confidence", self.confidence, 0.0)
        check_real("fit_level", self.fit_level, 0.0, 1.0, low_open=True)
        check_count("min_visits", self.min_visits)
        if self.observe not in OBSERVE:
            raise InvalidInstanceError("observe", f"must be one of {', '.join(OBSERVE)}, got {self.observe!r}")
        if self.reward_bounds is not None:
            lo, hi = (check_real("reward_bounds", v, -math.inf) for v in self.reward_bounds)
            if not lo <= hi:
                raise InvalidInstanceError("reward_bounds", f"must be (low, high) with low <= high, got {self.reward_bounds}")

    def block_length(self, T: int) -> int:
        """``L(T) = max(min_block, ceil(block_scale · T^block_exponent))``."""
        return max(self.min_block, math.ceil(self.block_scale * T ** self.block_exponent))

    def phase_one_length(self, T: int, H: int) -> int:
        """``T_1 = H · probes · L(T)`` (Phase 1 is cut at ``T`` if longer)."""
        return min(T, H * self.probes * self.block_length(T))


@dataclass(frozen=True, eq=False)
class SteeringRun:
    """``T`` episodes of a mechanism against a learning agent, for every seed (``R`` runs).

    Per-episode arrays are ``(R, T)``: ``expected_welfare`` (the exact expected welfare of the
    agent's policy in that episode), ``welfare``, ``transfer``, ``agent_utility`` and
    ``principal_utility`` (realised, discounted sums over the episode's steps, each accumulated
    on its own). The Phase-1 estimates (``two-phase`` only; zeros otherwise) are per run:
    ``contract`` ``(R, H, S, K)`` the Phase-2 transfers, ``low``/``high`` ``(R, H, S, A)`` the
    brackets on the agent's advantages ``c_a`` (``nan`` at the target action), ``informed``
    ``(R, H, S)`` the number of probes whose response was identified, ``implemented`` ``(R, H, S)``
    whether the Phase-2 contract exists (else nothing is paid there).
    """

    seeds: tuple[int, ...]
    horizon: int
    mechanism: str
    agent: str
    config: TwoPhase
    optimal_welfare: float
    selfish_welfare: float
    target: np.ndarray
    block_length: int
    phase_one_length: int
    expected_welfare: np.ndarray
    welfare: np.ndarray
    transfer: np.ndarray
    agent_utility: np.ndarray
    principal_utility: np.ndarray
    contract: np.ndarray
    low: np.ndarray
    high: np.ndarray
    informed: np.ndarray
    implemented: np.ndarray

    def welfare_regret(self) -> np.ndarray:
        """``(R, T)``: ``Σ_{n<=t} (W* − E[W_n])``, the cumulative (pseudo-)regret in welfare."""
        return np.cumsum(self.optimal_welfare - self.expected_welfare, axis=1)

    def neutrality_error(self) -> float:
        """``max |agent + principal − welfare|`` over every episode of every run (0 up to float
        rounding: transfers cancel on every trajectory)."""
        return float(np.abs(self.agent_utility + self.principal_utility - self.welfare).max(initial=0.0))

    def phase_two_transfer(self) -> np.ndarray:
        """``(R,)``: the mean realised transfer per Phase-2 episode (``nan`` without Phase 2)."""
        tail = self.transfer[:, self.phase_one_length:]
        return tail.mean(axis=1) if tail.shape[1] else np.full(tail.shape[0], np.nan)

    def summary(self) -> dict:
        """JSON-ready scalars (means over the runs)."""
        regret = self.welfare_regret()[:, -1]
        return {"mechanism": self.mechanism, "agent": self.agent, "episodes": self.horizon,
                "seeds": len(self.seeds), "optimal_welfare": self.optimal_welfare,
                "selfish_welfare": self.selfish_welfare, "block_length": self.block_length,
                "phase_one_length": self.phase_one_length, "welfare_regret_mean": float(regret.mean()),
                "welfare_regret_per_episode": float(regret.mean() / self.horizon),
                "transfer_total_mean": float(self.transfer.sum(axis=1).mean()),
                "phase_two_transfer_mean": float(np.nanmean(self.phase_two_transfer()))
                if self.horizon > self.phase_one_length else None,
                "neutrality_error": self.neutrality_error()}


# --------------------------------------------------------------------------- helpers


def _rngs(seeds) -> list[np.random.Generator]:
    return [np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(s)))) for s in seeds]


def _bracket_bound(m: PaddedModel, t: int, rlo: float, rhi: float, later_max: np.ndarray) -> np.ndarray:
    """``C_t`` of the module docstring, per run (``later_max`` ``(R,)``: each run's largest later transfer)."""
    H, g = m.horizon, m.discount
    span = sum(g ** k for k in range(H - t)) * (rhi - rlo)
    later = sum(g ** k for k in range(1, H - t)) * np.maximum(0.0, later_max)
    return span + later + 1e-9


def _min_pay(m: PaddedModel, target: np.ndarray, advantage: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MIN-PAY at every (run, stock) of one step for the constants ``advantage`` ``(R, S, A)``
    (``c_a``; the entry of ``a*`` is ignored): ``(contract (R, S, K), implementable (R, S))``."""
    R, S, A = advantage.shape
    F = np.broadcast_to(m.O[:S][None], (R, S, A, m.n_outcomes)).reshape(R * S, A, m.n_outcomes)
    q = np.nan_to_num(advantage, nan=0.0).copy()
    acts = np.broadcast_to(target[None], (R, S)).reshape(-1)
    q.reshape(R * S, A)[np.arange(R * S), acts] = 0.0
    res = min_pay_batch(F, -q.reshape(R * S, A), acts, method="vertex")
    contract = np.nan_to_num(np.asarray(res.contract), nan=0.0).reshape(R, S, m.n_outcomes)
    return contract, np.asarray(res.implementable).reshape(R, S)


def _identify(m: PaddedModel, counts_o: np.ndarray, counts_a: np.ndarray, cfg: TwoPhase) -> np.ndarray:
    """``(R, S)`` the identified response, ``-1`` where nothing can be said (module docstring).

    From outcomes (``n_o`` counts, ``f`` frequencies): the pure action ``x`` of largest likelihood
    ``Σ_o n_o ln O(s, x, o)`` is the response when (i) its log-likelihood exceeds every other pure
    action's by ``confidence`` nats, and (ii) it fits: the G-statistic ``2 Σ_o n_o ln(f_o / O(s, x, o))``
    is at most the ``1 − fit_level`` quantile of χ² with ``K − 1`` degrees of freedom (a mixed
    response — a learner still undecided — that resembles no pure action is rejected); and at
    least ``min_visits`` visits were seen. From audited actions: a strict majority action."""
    S, K = counts_o.shape[1], counts_o.shape[2]
    n = counts_o.sum(axis=2)
    enough = n >= cfg.min_visits
    if cfg.observe == "actions":
        best = counts_a.argmax(axis=2)
        share = np.take_along_axis(counts_a, best[..., None], axis=2)[..., 0] / np.maximum(n, 1.0)
        return np.where(enough & (share > 0.5), best, -1)
    with np.errstate(divide="ignore"):
        logO = np.log(m.O[:S])                                                  # (S, A, K), -inf at 0
    seen = counts_o > 0
    ll = np.einsum("rsk,sak->rsa", counts_o, np.where(np.isfinite(logO), logO, 0.0))
    impossible = np.einsum("rsk,sak->rsa", seen.astype(float), (~np.isfinite(logO)).astype(float)) > 0
    ll = np.where(impossible, -np.inf, ll)
    best = ll.argmax(axis=2)
    top = np.take_along_axis(ll, best[..., None], axis=2)[..., 0]
    second = np.sort(ll, axis=2)[..., -2] if ll.shape[2] > 1 else np.full(top.shape, -np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = counts_o / np.maximum(n, 1.0)[..., None]
        log_f = np.where(seen, np.log(np.where(seen, f, 1.0)), 0.0)
    g_stat = 2.0 * ((counts_o * log_f).sum(axis=2) - top)                      # 2 Σ n_o ln(f_o / O_x,o)
    limit = chi2.ppf(1.0 - cfg.fit_level, max(K - 1, 1))
    ok = enough & np.isfinite(top) & (top - second >= cfg.confidence) & (g_stat <= limit)
    return np.where(ok, best, -1)


# --------------------------------------------------------------------------- the run


def steer(model: ExternalityMDP, agent, horizon: int, seeds=(0,), mechanism: str = "two-phase",
          config: TwoPhase | None = None, progress=None) -> SteeringRun:
    """Play ``horizon`` episodes of ``mechanism`` against ``agent`` for every seed (module docstring).

    Parameters
    ----------
    model:
        The :class:`ExternalityMDP`.
    agent:
        A :class:`~contractlab.learning.externality_agents.QLearningAgent` or
        :class:`~contractlab.learning.externality_agents.NoRegretAgent`.
    horizon:
        ``T``, the number of episodes.
    seeds:
        One run per seed; a run's randomness (its actions, outcomes and successors) comes from
        ``numpy.random.SeedSequence(seed)`` only, so it is the same alone or in any batch.
    mechanism:
        ``"two-phase"`` or ``"none"``.
    config:
        :class:`TwoPhase` (defaults if ``None``).
    progress:
        Optional callable ``progress(episodes_done)``.
    """
    if not isinstance(model, ExternalityMDP):
        raise InvalidInstanceError("model", f"expected an ExternalityMDP, got {type(model).__name__}")
    T = check_count("horizon", horizon)
    if mechanism not in MECHANISMS:
        raise InvalidInstanceError("mechanism", f"must be one of {', '.join(MECHANISMS)}, got {mechanism!r}")
    cfg = config if config is not None else TwoPhase()
    seeds = tuple(int(s) for s in np.atleast_1d(np.asarray(seeds, dtype=np.int64)))
    if not seeds:
        raise InvalidInstanceError("seeds", "at least one seed is needed")
    m = pad(model)
    R, H, S, A, K = len(seeds), m.horizon, m.n_states, m.n_actions, m.n_outcomes
    optimum = welfare_optimum(model)
    target = np.asarray(optimum.policy)
    rlo, rhi = cfg.reward_bounds if cfg.reward_bounds is not None else (float(model.private_rewards.min()),
                                                                          float(model.private_rewards.max()))
    rngs = _rngs(seeds)
    L = cfg.block_length(T)
    T1 = cfg.phase_one_length(T, H) if mechanism == "two-phase" else 0

    out = {k: np.zeros((R, T)) for k in ("expected_welfare", "welfare", "transfer", "agent", "principal")}
    B = np.zeros((R, H, S + 1, K))                 # the transfers posted now
    final = np.zeros((R, H, S + 1, K))             # the Phase-2 transfers, filled backwards
    low = np.full((R, H, S, A), np.nan)
    high = np.full((R, H, S, A), np.nan)
    informed = np.zeros((R, H, S), dtype=np.int64)
    implemented = np.zeros((R, H, S), dtype=bool)
    state = agent.start(m, R)
    discounts = m.discounts
    done = 0
    uniforms = np.empty((0, R, H, 3))
    cursor = 0

    def play(n_episodes: int, step: int | None = None, watch_from: int = 0):
        """Play ``n_episodes`` with the posted ``B``; count outcomes/actions at ``step`` from
        episode ``watch_from`` of the block on."""
        nonlocal done, uniforms, cursor
        counts_o = np.zeros((R, S, K))
        counts_a = np.zeros((R, S, A))
        runs = np.arange(R)
        for j in range(n_episodes):
            if cursor == len(uniforms):
                uniforms, cursor = draw_episode_uniforms(rngs, min(CHUNK, T - done), H), 0
            policy = agent.policy(state)
            values = policy_values(m, policy, B if agent.needs_agent_q else None)
            out["expected_welfare"][:, done] = values["welfare"][:, 0, m.initial_state]
            ep = play_episode(m, policy, B, uniforms[cursor])
            cursor += 1
            ret = ep.returns(discounts)
            out["welfare"][:, done], out["agent"][:, done], out["principal"][:, done] = \
                ret["welfare"], ret["agent"], ret["principal"]
            out["transfer"][:, done] = (ep.transfer * discounts[None]).sum(axis=1)
            if step is not None and j >= watch_from:
                live = ep.alive[:, step]
                s = ep.state[live, step]
                np.add.at(counts_o, (runs[live], s, ep.outcome[live, step]), 1.0)
                np.add.at(counts_a, (runs[live], s, ep.action[live, step]), 1.0)
            agent.update(state, m, ep, B, values)
            done += 1
            if progress is not None:
                progress(done)
        return counts_o, counts_a

    if mechanism == "two-phase":
        for t in range(H - 1, -1, -1):
            if done >= T:
                break
            a_star = target[t]                                                   # (S,)
            gdiff = m.O[np.arange(S), a_star][:, None, :] - m.O[:S]            # (S, A, K): O(a*) − O(a)
            C = _bracket_bound(m, t, rlo, rhi, final[:, t + 1:].reshape(R, -1).max(axis=1, initial=0.0))
            lo = np.broadcast_to(-C[:, None, None], (R, S, A)).copy()
            hi = np.broadcast_to(C[:, None, None], (R, S, A)).copy()
            seen_star = np.zeros((R, S), dtype=bool)
            for _ in range(cfg.probes):
                if done >= T:
                    break
                b, ok = _min_pay(m, a_star, (lo + hi) / 2)
                if not ok.all():
                    b_lo, ok_lo = _min_pay(m, a_star, lo)
                    b = np.where(ok[..., None], b, np.where(ok_lo[..., None], b_lo, 0.0))
                B[:] = 0.0
                B[:, t + 1:] = final[:, t + 1:]
                B[:, t, :S] = b
                n = min(L, T - done)
                agent.restart(state, m, B, n)
                co, ca = play(n, step=t, watch_from=n // 2)
                resp = _identify(m, co, ca, cfg)                                  # (R, S)
                gb = np.einsum("sak,rsk->rsa", gdiff, b)                          # (O(a*) − O(a))·b
                is_star = resp == a_star[None]
                seen_star |= is_star
                hi = np.where(is_star[..., None], np.minimum(hi, gb), hi)
                other = (resp >= 0) & ~is_star
                pick = np.zeros((R, S, A), dtype=bool)
                rr, ss = np.nonzero(other)
                pick[rr, ss, resp[rr, ss]] = True
                lo = np.where(pick, np.maximum(lo, gb), lo)
                hi = np.maximum(hi, lo)                                           # inconsistent reads: widen
                informed[:, t] += resp >= 0
            contract, ok = _min_pay(m, a_star, hi + cfg.margin)
            ok = ok & seen_star
            final[:, t, :S] = np.where(ok[..., None], contract, 0.0)
            implemented[:, t] = ok
            star = np.zeros((S, A), dtype=bool)
            star[np.arange(S), a_star] = True
            low[:, t] = np.where(star[None], np.nan, lo)
            high[:, t] = np.where(star[None], np.nan, hi)
        B[:] = final
    if done < T:
        agent.restart(state, m, B, T - done)
        play(T - done)

    return SteeringRun(seeds=seeds, horizon=T, mechanism=mechanism, agent=getattr(agent, "name", type(agent).__name__),
                       config=cfg, optimal_welfare=optimum.welfare, selfish_welfare=selfish_play(model).welfare,
                       target=target, block_length=L, phase_one_length=T1,
                       expected_welfare=out["expected_welfare"], welfare=out["welfare"], transfer=out["transfer"],
                       agent_utility=out["agent"], principal_utility=out["principal"],
                       contract=final[:, :, :S].copy(), low=low, high=high, informed=informed,
                       implemented=implemented)


__all__ = ["TwoPhase", "SteeringRun", "MECHANISMS", "OBSERVE", "steer"]
