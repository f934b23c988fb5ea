"""The tabular multi-agent principal of the Coin Game: recommendations, and payments to agents
who follow them (Ivanov, Dütting, Talgam-Cohen, Wang, Parkes, *Principal-Agent Reinforcement
Learning*, arXiv 2407.18074, Section 5 "multi-agent", Algorithm 3, Appendix D.2).

The paper's setting
-------------------
A principal recommends an action ``a_i`` to each agent at every state and pays agent ``i`` the
amount ``b_i(s, a_i)`` **only if it follows**; her reward is ``r_p = Σ_i r_i / α − payments``
(``α = 0.1``: welfare first, payments second). Each agent's strategy is reduced to a bit ``f_i``:
follow (``f_i = 1``) or deviate to its selfish policy (``f_i = 0``). Training (Algorithm 3):
per episode a vector ``f`` is drawn; a following agent plays the principal's ε-greedy
recommendation, a deviating one its ε-greedy selfish action; the principal learns her
recommendation values, and she learns each agent's own-reward Q-function ``Q_i((s, f_{−i}), a)``
with the target ``r_i + γ max_a' Q_i((s', f_{−i}), a')`` (no payments in it: a deviator is
valued at its selfish optimum afterwards). The payment is the least that makes following a best
response when the others follow, ``b*_i(s, a_i) = max_a Q_i((s, 1), a) − Q_i((s, 1), a_i)``.
Validation: fresh selfish learners trained from scratch in the game where the frozen principal
pays an agent iff it follows (:func:`validate`).

This module, tabular and time-indexed
-------------------------------------
The game is finite (``H`` steps, undiscounted, ``γ = 1``), so every table has a row per step:
the agents' ``Q_i(t, s, a_i)`` (``f_{−i} = 1``; ``(2, H, S, n)``) and the principal's
``G(t, s, a)`` over joint actions ``a = a0·n + a1`` (``(H, S, n²)``). The principal's value of
recommending ``a`` is

    ``Q_p(t, s, a) = G(t, s, a) − b_0(t, s, a_0) − b_1(t, s, a_1)``,
    ``b_i(t, s, a_i) = max_a' Q_i(t, s, a') − Q_i(t, s, a_i) + ξ``,

where ``G`` is learned by Q-learning with the target ``(r_0 + r_1)/α + max_a' Q_p(t + 1, s', a')``
from the episodes in which both follow, and the payments are always those of the *current*
agent tables (she computes them herself, so she need not learn them; the paper's target
``r_i − α b*_i + γ max q'`` holds the payment of the sampled moment instead). ``ξ >= 0`` is the
paper's nudging margin (Appendix B.9.2; "nudging is necessary" on 3x3, Appendix D.2): every
payment for following is raised by ``ξ`` so that following is a strict best response against
learning error. The agent tables are learned, as in the paper, with
``r_i + max_a' Q_i(t + 1, s', a')`` from every episode in which the other agent follows.

Deviations from the paper, each deliberate:

* tabular joint ``G`` instead of VDN (``q_0(s, a_0) + q_1(s, a_1)``): a table represents the joint
  value exactly, which is the point of a tabular reference;
* ``f`` is ``(1, 1)`` with probability ``1 − deviation_prob`` and otherwise one agent, chosen
  uniformly, deviates. The paper's ``f = (0, 0)`` episodes train only ``Q_i((s, 0), ·)``, which
  enters neither the payments nor the recommendations, so they are not played;
* updates are batched over ``n_envs`` whole episodes played at once with the batched core
  (:meth:`CoinGame.reset` / :meth:`CoinGame.step`), backwards in time (as in
  :mod:`.coin_agents`), instead of one transition and one minibatch per iteration from a
  prioritised replay;
* the recommendation at ``(t, s)`` is ``argmax_a Q_p(t, s, a)`` (ties to the lowest joint action).

Exact references (:mod:`~contractlab.solvers.coin_game_exact`): the learned ``Q_i`` estimates
:func:`~contractlab.solvers.coin_game_exact.best_response` of ``i`` against the other playing the
recommendation (up to the other's ε-exploration during training), so the learned payments converge to those of
:func:`~contractlab.solvers.coin_game_exact.paper_payments` for the learned recommendation
(:func:`exact_payments_for`); :func:`ic_gap` measures exactly how far following is from a best
response under the learned payments. The "exact minimum payment" reference (the LP minimum of
:mod:`~contractlab.solvers.coin_game_lp`) is chosen in one place, :func:`minimum_payment_reference`.

Validation (:func:`validate`) and the exact metrics (:func:`evaluate_principal`): the agents'
greedy joint policy after training is evaluated exactly (welfare by
:func:`~contractlab.solvers.coin_game_exact.evaluate`, payments and follow rate on the exact
state distribution of that play; :func:`~contractlab.learning.coin_agents.exact_play`).

Measured (``benchmarks/coin_principal.py``, 3x3, ``H = 20``, 5 seeds, defaults: 600 iterations
of 1024 episodes, ``ξ = 0.05``; validation and baselines 600 iterations): with
``simultaneous="random"`` the learned recommendation reaches 0.986 of ``W*`` (exact), its
learned payments 4.69 per episode against 4.58 for the paper's rule on the exact Q (same
recommendation and ``ξ``; 2.58 for ``π*`` without the nudge), and an agent gains at most 0.19
per episode by deviating (IC gap; 0.08 after 1500 iterations, so the payments have not
converged). Fresh selfish learners against the frozen principal reach 0.83 of ``W*`` and follow
72% of the time, paid 43% of welfare; against ``π*`` with exact payments plus ``ξ`` the same
learners reach 0.885 (follow 74%); the matched constant proportion reaches 0.84, cooperative
learners 0.91, selfish ones 0.75 (selfish SPE 0.78). Validation with 1500 instead of 600
iterations moved 0.832 to 0.838: the gap is the learners' dynamics, not their budget.

Checkpoints: :class:`CoinPrincipalLearner` trains in iterations (one batch of whole episodes
each; no episode spans an iteration boundary), ``train(callback=...)`` stops at a boundary when
the callback returns ``True``, and :meth:`CoinPrincipalLearner.save` / ``load`` (``.npz`` + JSON
metadata through :mod:`.checkpoint`, nothing pickled) store the tables, counters, iteration and
both generators' states, so a resumed run ends bit-identical to an uninterrupted one. The final
policy (:class:`CoinPrincipal`) saves and loads the same way.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import numpy as np

from ..solvers import coin_game_exact as X
from ..theory.coin_game import CoinGame, game_from_dict, game_to_dict
from ..theory.errors import InvalidFileError, InvalidInstanceError
from ..theory.validation import check_real
from .boundary import IterationGuard, stop_requested
from .checkpoint import check_entries, check_number, load_checkpoint, save_checkpoint
from .coin_agents import (EPISODE_STEP_BYTES, AgentConfig, AgentRun, PlayMetrics, batched_update, check_batch_memory,
                          check_count, check_game, check_seed, epsilon_greedy, exact_play, play_episodes,
                          train_agents)

#: ``kind`` of a learner checkpoint and of a saved policy.
KIND = "coin_principal_learner"
POLICY_KIND = "coin_principal_policy"
#: The paper's weight of welfare in the principal's reward, ``r_p = welfare / α − payments``.
PAPER_ALPHA = 0.1


@dataclass(frozen=True)
class PrincipalConfig(AgentConfig):
    """Hyper-parameters of :class:`CoinPrincipalLearner`; a bad value raises
    :class:`InvalidInstanceError` naming the field. The batch and schedule fields are those of
    :class:`~contractlab.learning.coin_agents.AgentConfig` (same meaning and defaults: ``n_envs``
    episodes at once per iteration, ``iterations`` of a full run, 600 by default: 12.3 M steps on
    3x3, about 20 s on one core; ε of the recommendation and of a deviator's selfish action; the
    step sizes of both tables, where with ``step_power`` 0.8 the agent tables kept a bias of
    −0.44 from their early targets after 600 iterations on 3x3, with 0.6 −0.11, while the
    payments, which are differences, had the same error, 0.025, in both). In addition:

    Attributes
    ----------
    alpha:
        ``α > 0`` of ``r_p = welfare / α − payments``. Default 0.1 (Section 5).
    nudge:
        ``ξ >= 0`` added to every payment for following (module docstring). Default 0.05: about
        twice the mean absolute error of the learned per-step payments measured on 3x3 with
        the default budget (0.025; the paper's rule ``ξ = 2E``), so that following stays a
        best response against most of the learning error.
    deviation_prob:
        Probability that an episode has one (uniformly chosen) deviating agent. Default 0.5
        (the paper's uniform ``f`` has one deviator in half of the episodes).
    """

    alpha: float = PAPER_ALPHA
    nudge: float = 0.05
    deviation_prob: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        put = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        put("alpha", check_real("alpha", self.alpha, 0.0, low_open=True))
        put("nudge", check_real("nudge", self.nudge, 0.0))
        put("deviation_prob", check_real("deviation_prob", self.deviation_prob, 0.0, 1.0))

    @classmethod
    def from_dict(cls, data: dict) -> "PrincipalConfig":
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise InvalidInstanceError("config", f"unknown fields {unknown}")
        return cls(**data)


# ---- the game in JSON ---------------------------------------------------------------------------

def _same_game(a: CoinGame, b: CoinGame) -> bool:
    return game_to_dict(a) == game_to_dict(b)


# ---- the policy ---------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class CoinPrincipal:
    """A learned principal, frozen.

    ``recommendation`` ``(H, S)`` joint actions ``a0·n + a1``; ``payments`` ``(H, S, 2)`` what
    agent ``i`` is paid at ``(t, s)`` if it plays its recommendation (nothing otherwise);
    ``agent_q`` ``(2, H, S, n)`` the agents' own-reward Q-functions (other following) learned by
    the principal, from which the payments were computed; ``alpha`` and ``nudge`` as trained;
    ``seed`` and ``iteration`` of the run."""

    game: CoinGame
    recommendation: np.ndarray
    payments: np.ndarray
    agent_q: np.ndarray
    alpha: float
    nudge: float
    seed: int
    iteration: int

    def actions(self) -> np.ndarray:
        """``(H, S, 2)`` each agent's recommended action."""
        n = self.game.n_actions
        return np.stack([self.recommendation // n, self.recommendation % n], axis=-1)

    def save(self, path: str | os.PathLike) -> None:
        """``.npz`` + JSON metadata (atomic, no pickle); :meth:`load` gives equal arrays."""
        meta = {"kind": POLICY_KIND, "game": game_to_dict(self.game), "alpha": self.alpha, "nudge": self.nudge,
                "seed": self.seed, "iteration": self.iteration}
        save_checkpoint(path, {"recommendation": self.recommendation, "payments": self.payments,
                               "agent_q": self.agent_q}, meta)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "CoinPrincipal":
        arrays, meta = load_checkpoint(path, kind=POLICY_KIND)
        try:
            game = game_from_dict(meta["game"])
            H, S, n = game.horizon, game.n_states, game.n_actions
            shapes = {"recommendation": (H, S), "payments": (H, S, 2), "agent_q": (2, H, S, n)}
            for name, shape in shapes.items():
                if name not in arrays or arrays[name].shape != shape:
                    raise InvalidFileError(str(path), f"array {name!r} missing or not of shape {shape}")
            # a joint action index; payments go to followers, never charged (b_i >= 0)
            rec = check_entries(path, "recommendation", arrays["recommendation"], 0, n * n - 1, integer=True)
            pay = check_entries(path, "payments", arrays["payments"], low=0.0)
            q = check_entries(path, "agent_q", arrays["agent_q"])
            out = cls(game=game, recommendation=np.array(rec, dtype=np.int64), payments=np.array(pay, dtype=float),
                      agent_q=np.array(q, dtype=float),
                      alpha=check_number(path, "alpha", meta["alpha"], 0.0, strict_low=True),
                      nudge=check_number(path, "nudge", meta["nudge"], 0.0),
                      seed=check_count("seed", meta["seed"], 0),
                      iteration=check_count("iteration", meta["iteration"], 0))
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, InvalidFileError):
                raise
            raise InvalidFileError(str(path), f"bad coin principal policy ({type(exc).__name__}: {exc})") from None
        for a in (out.recommendation, out.payments, out.agent_q):
            a.flags.writeable = False
        return out


# ---- the learner --------------------------------------------------------------------------------

_STATE = ("g", "g_count", "agent_q", "agent_count")


class CoinPrincipalLearner:
    """The tabular principal of the module docstring on ``game``; ``seed`` spawns the
    environments' and the exploration generators (same seed, same tables bit for bit)."""

    def __init__(self, game: CoinGame, config: PrincipalConfig | None = None, seed: int = 0):
        self.game = check_game(game)
        config = PrincipalConfig() if config is None else config
        if not isinstance(config, PrincipalConfig):
            raise InvalidInstanceError("config", f"must be a PrincipalConfig, got {type(config).__name__}")
        check_batch_memory(self.game, config.n_envs, 2 * EPISODE_STEP_BYTES)
        self.config = config
        self.seed = check_seed(seed)
        H, S, n = game.horizon, game.n_states, game.n_actions
        self.env_rng, self.act_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(self.seed).spawn(2))
        self.g = np.zeros((H, S, n * n))
        self.g_count = np.zeros((H, S, n * n), dtype=np.int64)
        self.agent_q = np.zeros((2, H, S, n))
        self.agent_count = np.zeros((2, H, S, n), dtype=np.int64)
        self.iteration = 0
        self._curve_rows: list[np.ndarray] = []   # appended per iteration; np.vstack each time is quadratic
        self._guard = IterationGuard()

    @property
    def curve(self) -> np.ndarray:
        """``(iteration, 3)``: per iteration the row :meth:`_iterate` returned (welfare, payments, epsilon)."""
        return np.array(self._curve_rows, dtype=float).reshape(-1, 3)

    # -- derived tables
    def payment_table(self, t: int | slice = slice(None), idx=slice(None)) -> np.ndarray:
        """``(2, …, n)`` ``b_i(t, s, a_i)`` on the current agent tables (with the nudge)."""
        q = self.agent_q[:, t, idx]
        return q.max(axis=-1, keepdims=True) - q + self.config.nudge

    def principal_q(self, t: int | slice = slice(None), idx=slice(None)) -> np.ndarray:
        """``Q_p = G − b_0(a_0) − b_1(a_1)`` over joint actions (module docstring)."""
        b = self.payment_table(t, idx)
        n = self.game.n_actions
        return self.g[t, idx] - (b[0][..., :, None] + b[1][..., None, :]).reshape(b.shape[1:-1] + (n * n,))

    def policy(self) -> CoinPrincipal:
        """The greedy recommendation and its payments on the current tables."""
        n = self.game.n_actions
        rec = self.principal_q().argmax(axis=-1)
        b = self.payment_table()                                    # (2, H, S, n)
        hs = np.ogrid[: self.game.horizon, : self.game.n_states]
        pay = np.stack([b[0][hs[0], hs[1], rec // n], b[1][hs[0], hs[1], rec % n]], axis=-1)
        out = CoinPrincipal(game=self.game, recommendation=rec, payments=pay, agent_q=self.agent_q.copy(),
                            alpha=self.config.alpha, nudge=self.config.nudge, seed=self.seed,
                            iteration=self.iteration)
        for a in (out.recommendation, out.payments, out.agent_q):
            a.flags.writeable = False
        return out

    # -- one iteration
    def _iterate(self) -> np.ndarray:
        cfg, game = self.config, self.game
        H, S, n, B = game.horizon, game.n_states, game.n_actions, cfg.n_envs
        eps = cfg.epsilon(self.iteration)
        u = self.act_rng.random(B)
        deviator = np.where(u < cfg.deviation_prob, (self.act_rng.random(B) < 0.5).astype(np.int64), -1)
        rows = np.arange(B)

        def act(t, idx):
            rec = epsilon_greedy(self.principal_q(t, idx).argmax(axis=1), eps, n * n, self.act_rng)
            acts = np.stack([rec // n, rec % n], axis=1)
            selfish = epsilon_greedy(self.agent_q[:, t, idx].argmax(axis=2).T, eps, n, self.act_rng)
            dev = deviator >= 0
            acts[dev, deviator[dev]] = selfish[dev, deviator[dev]]
            return acts

        idx, acts, rew = play_episodes(game, B, act, self.env_rng)
        both = deviator < 0
        joint = acts[..., 0] * n + acts[..., 1]
        qf, qc, gf, gc = (a.reshape(-1) for a in (self.agent_q, self.agent_count, self.g, self.g_count))
        v_agent = np.zeros((B, 2))
        v_p = np.zeros(B)
        for t in range(H - 1, -1, -1):
            if t + 1 < H:
                v_agent = self.agent_q[:, t + 1, idx[t + 1]].max(axis=2).T
                v_p = self.principal_q(t + 1, idx[t + 1]).max(axis=1)
            for i in (0, 1):
                use = deviator != 1 - i                               # the other followed
                keys = ((i * H + t) * S + idx[t, use]) * n + acts[t, use, i]
                batched_update(qf, qc, keys, rew[t, use, i] + v_agent[use, i], cfg.step_power, cfg.min_step)
            keys = (t * S + idx[t, both]) * n * n + joint[t, both]
            target = rew[t, both].sum(axis=1) / cfg.alpha + v_p[both]
            batched_update(gf, gc, keys, target, cfg.step_power, cfg.min_step)
        # training-time payments to the agents who followed (on the final tables of the batch)
        b = self.payment_table()
        paid = np.zeros((H, B, 2))
        tt = np.arange(H)[:, None]
        for i in (0, 1):
            follow = (deviator != i)[None, :]
            paid[..., i] = np.where(follow, b[i][tt, idx, acts[..., i]], 0.0)
        return np.array([rew[:, both].sum(axis=(0, 2)).mean() if both.any() else np.nan,
                         paid[:, both].sum(axis=(0, 2)).mean() if both.any() else np.nan, eps])

    def train(self, iterations: int | None = None, callback=None) -> CoinPrincipal:
        """Run up to ``iterations`` more iterations (default: up to ``config.iterations`` in
        total). ``callback(iteration, total, metrics)`` runs after every iteration; ``True``
        stops there (a boundary: save and resume exactly). Returns :meth:`policy`."""
        self._guard.check("trained further")
        total = self.config.iterations if iterations is None else self.iteration + check_count(
            "iterations", iterations, 0)
        while self.iteration < total:
            self._guard.begin(self.iteration + 1)
            row = self._iterate()
            self.iteration += 1
            self._curve_rows.append(row)
            self._guard.end()
            metrics = {"welfare": float(row[0]), "payments": float(row[1]), "epsilon": float(row[2])}
            if callback is not None and stop_requested(callback(self.iteration, total, metrics)):
                break
        return self.policy()

    # -- checkpoints
    def save(self, path: str | os.PathLike) -> None:
        """Checkpoint (``.npz`` + JSON, atomic, no pickle) from which :meth:`load` resumes bit for bit."""
        self._guard.check("saved")
        arrays = {name: getattr(self, name) for name in _STATE}
        arrays["curve"] = self.curve
        meta = {"kind": KIND, "game": game_to_dict(self.game), "config": self.config.to_dict(), "seed": self.seed,
                "iteration": self.iteration, "env_rng": self.env_rng.bit_generator.state,
                "act_rng": self.act_rng.bit_generator.state}
        save_checkpoint(path, arrays, meta)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "CoinPrincipalLearner":
        arrays, meta = load_checkpoint(path, kind=KIND)
        try:
            learner = cls(game_from_dict(meta["game"]), PrincipalConfig.from_dict(meta["config"]), meta["seed"])
            for name in _STATE:
                old = getattr(learner, name)
                if name not in arrays or arrays[name].shape != old.shape:
                    raise InvalidFileError(str(path), f"array {name!r} missing or not of shape {old.shape}")
                low = 0 if name.endswith("_count") else -np.inf
                setattr(learner, name, np.array(check_entries(path, name, arrays[name], low), dtype=old.dtype))
            curve = np.array(check_entries(path, "curve", arrays["curve"]), dtype=float)
            learner._curve_rows = list(curve.reshape(-1, 3))
            learner.iteration = check_count("iteration", meta["iteration"], 0)
            learner.env_rng.bit_generator.state = meta["env_rng"]
            learner.act_rng.bit_generator.state = meta["act_rng"]
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, InvalidFileError):
                raise
            raise InvalidFileError(str(path), f"bad coin principal checkpoint ({type(exc).__name__}: {exc})") from None
        return learner


def train(game: CoinGame, config: PrincipalConfig | None = None, seed: int = 0, callback=None) -> CoinPrincipal:
    """Train the principal from scratch (module docstring) and return the final policy."""
    return CoinPrincipalLearner(game, config, seed).train(callback=callback)


# ---- validation ---------------------------------------------------------------------------------

def follow_payments(principal: CoinPrincipal):
    """The shaping of the validation game: agent ``i`` gets its game reward plus
    ``payments[t, s, i]`` **iff** its action equals its recommendation (Algorithm 3's validation
    phase: paid iff it follows)."""
    rec = principal.actions()
    pay = principal.payments

    def shaping(t, idx, actions, rewards):
        paid = np.where(actions == rec[t, idx], pay[t, idx], 0.0)
        return rewards + paid, paid

    return shaping


@dataclass(frozen=True, eq=False)
class Validation:
    """Fresh selfish learners trained against a frozen principal: ``agents`` the run, ``play``
    the exact outcome of their greedy joint policy (welfare, payments, follow rate)."""

    agents: AgentRun
    play: PlayMetrics


def validate(principal: CoinPrincipal, config: AgentConfig | None = None, seed: int = 0,
             tables: X.CoinTables | None = None) -> Validation:
    """Train two fresh tabular Q-learners from scratch in the game where ``principal`` pays an
    agent its payment iff it plays the recommended action, and evaluate their greedy play
    exactly (module docstring)."""
    if not isinstance(principal, CoinPrincipal):
        raise InvalidInstanceError("principal", f"must be a CoinPrincipal, got {type(principal).__name__}")
    tb = X.tables(principal.game) if tables is None else tables
    rec = principal.actions()
    run = train_agents(principal.game, follow_payments(principal), config, seed, recommendation=rec)
    return Validation(agents=run, play=exact_play(tb, run.policy, rec, principal.payments))


# ---- exact references ---------------------------------------------------------------------------

#: The exact minimum-payment references :func:`minimum_payment_reference` can give.
MINIMUM_REFERENCES = ("lp", "every-action")


def minimum_payment_reference(tables: X.CoinTables, optimum: X.WelfareOptimum,
                              kind: str = "lp") -> tuple[str, float]:
    """``(name, expected total payment)`` of THE exact minimum-payment reference the reports
    compare against: the least expected payments that implement ``π*`` with following weakly
    optimal against every current action of the other (the paper's Eq. (5)).

    ``kind="lp"`` (default): the true minimum, one sparse LP per agent
    (:func:`~contractlab.solvers.coin_game_lp.min_payments_lp`; about 2.5 minutes on 3x3 with
    ``H = 20``). ``kind="every-action"``: the greedy step-by-step payments of
    :func:`~contractlab.solvers.coin_game_exact.every_action_payments`, an upper bound on the
    minimum that costs milliseconds (for smoke runs)."""
    if kind == "lp":
        from ..solvers.coin_game_lp import min_payments_lp
        return "LP minimum", float(min_payments_lp(tables, optimum).payments.total_payment)
    if kind == "every-action":
        return "every-action", X.every_action_payments(tables, optimum).total_payment
    raise InvalidInstanceError("kind", f"must be one of {MINIMUM_REFERENCES}, got {kind!r}")


def exact_payments_for(tables: X.CoinTables, recommendation: np.ndarray, nudge: float = 0.0) -> np.ndarray:
    """``(H, S, 2)`` the paper's payments computed on the *exact* agent Q-functions for a given
    joint recommendation ``(H, S)``: ``max_a Q_i(t, s, a) − Q_i(t, s, rec_i) + ξ`` with ``Q_i`` the
    exact :func:`~contractlab.solvers.coin_game_exact.best_response` of ``i`` against the other
    playing its recommendation — what the learned payments estimate."""
    n, H, S = tables.n, tables.game.horizon, tables.n_states
    rec = np.stack([recommendation // n, recommendation % n], axis=-1)
    hs = np.ogrid[:H, :S]
    out = np.zeros((H, S, 2))
    for i in (0, 1):
        q = X.best_response(tables, i, rec[..., 1 - i]).q
        out[..., i] = q.max(axis=2)[hs[0], hs[1]] - q[hs[0], hs[1], rec[..., i]] + nudge
    return out


def ic_gap(tables: X.CoinTables, principal: CoinPrincipal) -> np.ndarray:
    """``(2,)`` for each agent, its exact best-response value (against the other following, with
    the payments paid iff it plays the recommendation) minus its value of following, from the
    start distribution; ``<= 0`` up to round-off means following is a best response."""
    rec = principal.actions()
    n = tables.n
    follow = exact_play(tables, rec, rec, principal.payments)
    value_follow = follow.returns + follow.payments
    gap = np.zeros(2)
    for i in (0, 1):
        bonus = np.where(np.arange(n)[None, None, :] == rec[..., i:i + 1], principal.payments[..., i:i + 1], 0.0)
        gap[i] = X.best_response(tables, i, rec[..., 1 - i], bonus=bonus).value - value_follow[i]
    return gap


@dataclass(frozen=True, eq=False)
class PrincipalMetrics:
    """The learned principal measured exactly, both agents following: ``play`` (welfare of the
    recommendation, the learned payments, follow rate 1), ``optimum`` ``W*``,
    ``exact_payment`` ``(2,)`` the paper's payments on the exact Q for the same recommendation
    (:func:`exact_payments_for`, same nudge), ``ic_gap`` (:func:`ic_gap`) and ``objective`` the
    principal's ``welfare / α − payments``."""

    play: PlayMetrics
    optimum: float
    exact_payment: np.ndarray
    ic_gap: np.ndarray
    objective: float

    @property
    def welfare_fraction(self) -> float:
        return self.play.welfare / self.optimum


def evaluate_principal(principal: CoinPrincipal, tables: X.CoinTables | None = None,
                       optimum: X.WelfareOptimum | None = None) -> PrincipalMetrics:
    """Exact metrics of a learned principal when both agents follow (:class:`PrincipalMetrics`)."""
    tb = X.tables(principal.game) if tables is None else tables
    opt = X.welfare_optimum(tb) if optimum is None else optimum
    rec = principal.actions()
    play = exact_play(tb, rec, rec, principal.payments)
    exact = exact_play(tb, rec, rec, exact_payments_for(tb, principal.recommendation, principal.nudge))
    return PrincipalMetrics(play=play, optimum=opt.value, exact_payment=exact.payments,
                            ic_gap=ic_gap(tb, principal),
                            objective=play.welfare / principal.alpha - play.total_payment)


__all__ = ["PrincipalConfig", "CoinPrincipal", "CoinPrincipalLearner", "train", "validate", "Validation",
           "follow_payments", "minimum_payment_reference", "MINIMUM_REFERENCES", "exact_payments_for", "ic_gap", "evaluate_principal",
           "PrincipalMetrics", "PAPER_ALPHA", "KIND", "POLICY_KIND"]
