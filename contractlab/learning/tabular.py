"""The tabular learned principal with a Q-learning agent (Ivanov, Dütting, Talgam-Cohen, Wang,
Parkes, *Principal-Agent Reinforcement Learning*, arXiv 2407.18074, Section 5 and Appendix D;
the sample-based counterpart of the meta-algorithm of Section 4).

Both parties learn from the same sampled transitions of ``n_envs`` lockstep episodes
(:class:`~contractlab.learning.simulator.Simulator`); every step is vectorised over the episodes.

The agent
---------
It learns its *truncated* Q-function ``Q̄(s, a) = r(s, a) + γ E_o[V_agent(s')]`` (its value of
``a`` without this step's payment; Section 3) and best-responds to the contract ``b`` it is
offered: it takes ``argmax_a Q̄(s, a) + O(s, a)·b`` (it knows its own outcome distribution ``O``),
ties within ``tie_tol`` going to the recommended action, and is paid ``b(o)`` on the realised
outcome. Its continuation value is its value at ``s'`` when it follows the principal's current
greedy recommendation ``a*(s')`` under the contract ``b*(s')`` offered for it:
``V_agent(s') = Q̄(s', a*) + O(s', a*)·b*(s')`` (0 after the end of an episode).

Two update rules (``TabularConfig.agent_update``):

- ``"outcome"`` (default): ``Q̄(s, a) = r̂(s, a) + γ Σ_o O(s, a, o) W(s, o)``, where ``r̂(s, a)``
  is the reward the agent observed for ``a`` at ``s`` and ``W(s, o)`` its estimate of
  ``E[V_agent(s') | s, o]``, learned by TD(0) from the sampled next state with the target above.
  This is Q-learning with the expectation over the agent's own (known) outcome distribution
  taken in closed form (an expected / Rao-Blackwellised target): every sample at ``s`` updates
  ``Q̄(s, a')`` for *every* action ``a'`` — which is what the min-pay contract needs, since it
  is written on the values of the actions that are NOT recommended — and when the next state
  is a function of ``(s, o)`` (trees, DAGs, ``next_state`` given) the target carries no
  sampling noise, so ``W`` is learned with step 1 and ``Q̄`` is exact (to round-off) once the
  states below have converged.
- ``"sample"``: plain Q-learning of ``Q̄(s, a)`` for the action taken, target ``r + γ V_agent(s')``.

The principal
-------------
She learns ``Q_p(s, a)``, her value of recommending ``a`` at ``s``, from the target
``r_p(s, o) − b(o) + γ max_{a'} Q_p(s', a')`` (the max over the actions implementable at
``s'``). At every state she recommends ``argmax_a Q_p(s, a)`` (ε-greedy during training; the
exploring action is uniform over the implementable ones) and offers its *minimal implementing
contract* on the agent's CURRENT learned ``Q̄`` with IC margin ``ξ``
(:func:`~contractlab.learning.contracts.nudged_min_pay`; the paper's nudging, Section 5 /
Appendix D). The contracts of every action at every state are kept in a table and recomputed,
in one batched ``nudged_min_pay`` call per step, at the states whose ``Q̄`` changed, so the
contract offered is always the min-pay contract on the current ``Q̄``. Update rules
(``TabularConfig.principal_update``):

- ``"outcome"`` (default): ``Q_p(s, a) = Σ_o O(s, a, o) (r̂_p(s, o) − b_a(s, o) + γ U(s, o))``
  with ``b_a`` the current min-pay contract for ``a``, ``r̂_p(s, o)`` the observed principal
  reward and ``U(s, o)`` her estimate of ``E[max_{a'} Q_p(s', a') | s, o]`` learned by TD(0)
  from the sampled next state — the target above with the expectation over the outcome taken
  in closed form (she knows ``O``: she needs it for the min-pay contracts). Every sample at
  ``s`` updates all of ``Q_p(s, ·)``, and payments are always those of the current contracts.
- ``"sample"``: plain Q-learning of ``Q_p(s, a)`` for the recommended action with the sampled
  target ``r_p(s, o) − b(o) + γ max_{a'} Q_p(s', a')``.

With both ``"outcome"`` updates on an MDP whose next state is a function of ``(s, o)``, the
learner is an asynchronous, sample-driven backward induction: along the sampled paths, each
state's tables become exactly those of :func:`~contractlab.solvers.spe.solve_spe` once its
successors have, so it reaches the SPE (value ratio 1 to round-off on the depth-10 trees of
Appendix D.1 after a few hundred iterations). The ``"sample"`` updates are the textbook
Q-learning targets; with ``ξ = 0`` they are fragile, because an exact agent abandons a min-pay
contract computed on a ``Q̄`` that is wrong by any amount in the wrong direction (the IC
constraint binds), so use them with a margin ``ξ > 0`` larger than twice the error of ``Q̄``
(Section 5: then the recommended action is a strict best response of the true agent).
Measured on the depth-10 trees (3 trees × 3 seeds, value against the exact agent / SPE value):
``principal_update="sample"``, 12 000 iterations: ``ξ = 0`` 0.59-1.00, ``ξ = 1e-3`` 0.997-0.999;
``agent_update="sample"``, 3 000 iterations: ``ξ = 0`` 0.20-0.50, ``ξ = 0.01`` 0.983-0.987.

The last ``agent_only_fraction`` of the ``iterations`` only the agent learns (the principal's
estimates are frozen, her contracts still follow ``Q̄``): the agent's best-response step of
the meta-algorithm (Section 4) on the final recommendations, so that ``Q̄`` is consistent with
the policy returned rather than with one that changed a moment ago.

Instances: acyclic MDPs (trees, DAGs, ``γ = 1``), discounted cyclic ones (``γ < 1``) and
finite-horizon ones. With a finite ``horizon`` ``H`` every table is **time-indexed** (a row per
step and state; exposed as ``(H, S, …)``) and :meth:`TabularLearner.policy` returns a
time-indexed :class:`ContractPolicy`, as :func:`~contractlab.solvers.spe.solve_spe` does.

If no action can be implemented at a state with margin ``ξ > 0`` (possible only when outcome
rows coincide), the principal recommends the agent's unpaid best response there (highest
``Q̄``, ties to the lowest index) with the zero contract; with ``ξ = 0`` the unpaid best response
is always implementable.

Updates are batched: the ``m`` samples of one table entry in a step move it by ``β (ȳ − x)``
towards their mean target ``ȳ``, ``β = min(1, m·α(n))``, ``n`` the entry's visit count after the
step and ``α(n) = max(n^(−power), floor)``; ``power = 1, floor = 0`` is the running mean exactly.

Synchronous expected updates
----------------------------
Besides its normal, *asynchronous sampled* mode (:meth:`TabularLearner.train`: every entry moves
only when a sampled transition visits it, towards a sampled target), the principal can be run
in a *synchronous expected-update* mode (:meth:`TabularLearner.expected_sweep`): her update
rule applied at every row at once, with the target's expectation over outcomes and next states
computed from the model instead of sampled, and one step size ``α`` in ``(0, 1]``. The agent is
then held fixed at given continuation values (:meth:`TabularLearner.set_agent_continuation`:
``r̂ = r``, ``W(s, o) = E[V_agent(s') | s, o]``, ``Q̄ = r + γ Σ_o O W``), so her contracts — the
min-pay contracts on that ``Q̄`` — do not move. With margin ``ξ = 0`` a sweep with ``α = 1`` is
exactly the principal's operator ``T`` of the meta-algorithm
(:func:`~contractlab.solvers.meta_algorithm.principal_operator`, Section 3.2 of the paper) applied
to her ``Q_p`` (on the implementable actions), in both update rules: ``"sample"`` moves
``Q_p(s, a)`` to its expected target directly, and ``"outcome"`` moves ``r̂_p`` and ``U``, of which
``Q_p`` is an affine function whose coefficients (``O``, the contracts) sum to one. A sweep with
step ``α`` is therefore ``Q ← (1 − α) Q + α T Q``, so
``||Q_{k+1} − q*||_∞ <= (1 − α + αγ) ||Q_k − q*||_∞`` (``γ`` for ``α = 1``) towards the fixed point
``q*`` of ``T`` (:func:`~contractlab.solvers.meta_algorithm.principal_fixed_point`); the registered
theorems ``tabular.sweep_is_operator``, ``tabular.sweep_contraction`` and
``tabular.relaxed_sweep_contraction`` check this. The sampled mode has no such per-step bound:
one sampled step moves a single entry towards a noisy target and can move the table *away*
from ``q*`` (``tests/test_tabular_contraction.py`` shows an instance), even though with
Robbins–Monro step sizes it converges in the limit. Expected sweeps draw no random numbers and
leave the iteration, the visit counters and the ε schedule alone; a checkpoint saved after them
holds the tables they produced.

Checkpoints (:meth:`TabularLearner.save` / :meth:`TabularLearner.load`, via
:mod:`~contractlab.learning.checkpoint`) store every table and counter, the iteration, the
configuration, both random generators' states (the learner's and the simulator's) and the
simulator's episode states, plus a fingerprint of the MDP; resuming is exact, bit for bit.
Training stops, and checkpoints are written, only at iteration boundaries: the
``train(callback=...)`` callback runs after each completed iteration and stops training by
returning ``True`` (:mod:`~contractlab.learning.boundary`); a run stopped at any boundary, saved,
loaded and trained on ends bit-identical to an uninterrupted one with the same seed — tables,
counters, generator states, iteration, learning curve and policy.
"""

from __future__ import annotations

import dataclasses
import numbers
import os
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..solvers.lp import BACKENDS
from ..solvers.min_pay_vertex import METHODS
from ..solvers.pamdp_policy import agent_best_response
from ..solvers.spe import continuation
from ..theory.contract_policy import ContractPolicy
from ..theory.errors import InvalidFileError, InvalidInstanceError
from ..theory.pamdp import PrincipalAgentMDP
from ..theory.validation import check_real
from .boundary import IterationGuard, stop_requested
from .checkpoint import load_checkpoint, mdp_fingerprint, save_checkpoint
from .contracts import nudged_min_pay
from .simulator import Simulator

#: ``kind`` of the checkpoint files written by :meth:`TabularLearner.save`.
KIND = "tabular_learner"
#: Version of the learner's checkpoint layout (inside the checkpoint format's own version).
CHECKPOINT_LAYOUT = 1
UPDATES = ("outcome", "sample")

Callback = Callable[[int, int, dict], "bool | None"]


# --------------------------------------------------------------------------- configuration

_check_real = check_real


def _check_count(name: str, value, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)) or value < low:
        raise InvalidInstanceError(name, f"must be an integer >= {low}, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class TabularConfig:
    """Hyper-parameters of :class:`TabularLearner` (validated on construction: a bad value raises
    :class:`InvalidInstanceError` naming the field).

    On the depth-10 random binary game trees of Appendix D.1 (1023 states) the defaults pass
    0.99 of the SPE value after 150-250 iterations (about 0.1 M transitions) and end on the SPE
    policy itself (contracts equal to ~4e-15) after the 3 000 iterations (1.5 M transitions, about
    3 CPU seconds); ``tests/test_learning_tabular.py`` checks smaller trees, DAGs, a finite
    horizon and discounted cyclic instances.

    Attributes
    ----------
    n_envs:
        Episodes stepped in lockstep; one training iteration steps all of them. Default 512.
    iterations:
        Iterations of a full run: ``train()`` without an argument runs up to this many, and the
        ε schedule and the agent-only phase are laid out over it. Default 3 000.
    epsilon_start, epsilon_end, epsilon_decay:
        ε-greedy exploration of the principal's recommendation: ε decays linearly from
        ``epsilon_start`` to ``epsilon_end`` over the first ``epsilon_decay × iterations``
        iterations, then stays at ``epsilon_end``. Defaults 1.0, 0.02, 0.6.
    margin:
        The IC margin ``ξ >= 0`` of the offered contracts (nudging). Default 0.
    agent_only_fraction:
        In the last ``agent_only_fraction × iterations`` iterations (and any beyond
        ``iterations``) only the agent learns. Default 0.1.
    agent_update, principal_update:
        ``"outcome"`` (default) or ``"sample"`` (see the module docstring).
    agent_step_power, agent_min_step, principal_step_power, principal_min_step:
        Step sizes ``α(n) = max(n^(−power), min_step)`` after ``n`` visits of a table entry,
        power in ``(0.5, 1]``. ``min_step=None`` (default) means 1.0 — a constant step of 1 —
        for an ``"outcome"`` update on an MDP whose next state is a function of ``(s, o)`` (its
        targets carry no sampling noise), else 0.0. Default powers 0.7 (1 is the running mean,
        which forgets its early, biased targets too slowly when ``γ`` is close to 1).
    tie_tol:
        The learned agent takes the recommended action when its value is within
        ``tie_tol × max(1, |best|)`` of its best. Default 1e-9.
    method, backend:
        How the min-pay contracts are computed
        (:func:`~contractlab.solvers.min_pay_vertex.min_pay_batch`). Defaults ``"auto"``, ``"highs"``.
    """

    n_envs: int = 512
    iterations: int = 3_000
    epsilon_start: float = 1.0
    epsilon_end: float = 0.02
    epsilon_decay: float = 0.6
    margin: float = 0.0
    agent_only_fraction: float = 0.1
    agent_update: str = "outcome"
    agent_step_power: float = 0.7
    agent_min_step: float | None = None
    principal_update: str = "outcome"
    principal_step_power: float = 0.7
    principal_min_step: float | None = None
    tie_tol: float = 1e-9
    method: str = "auto"
    backend: str = "highs"

    def __post_init__(self) -> None:
        # validated values are stored as plain ``int`` / ``float`` (numpy scalars too), so the
        # config survives the JSON of a checkpoint unchanged and compares equal after a resume
        def put(name: str, value) -> None:
            object.__setattr__(self, name, value)

        put("n_envs", _check_count("n_envs", self.n_envs))
        put("iterations", _check_count("iterations", self.iterations))
        put("epsilon_start", _check_real("epsilon_start", self.epsilon_start, 0.0, 1.0))
        put("epsilon_end", _check_real("epsilon_end", self.epsilon_end, 0.0, 1.0))
        put("epsilon_decay", _check_real("epsilon_decay", self.epsilon_decay, 0.0, 1.0))
        put("margin", _check_real("margin", self.margin, 0.0))
        put("agent_only_fraction", _check_real("agent_only_fraction", self.agent_only_fraction, 0.0, 1.0))
        for name in ("agent_update", "principal_update"):
            if getattr(self, name) not in UPDATES:
                raise InvalidInstanceError(name, f"must be one of {UPDATES}, got {getattr(self, name)!r}")
        for name in ("agent_step_power", "principal_step_power"):
            put(name, _check_real(name, getattr(self, name), 0.5, 1.0, low_open=True))
        put("agent_min_step", _check_real("agent_min_step", self.agent_min_step, 0.0, 1.0, allow_none=True))
        put("principal_min_step", _check_real("principal_min_step", self.principal_min_step, 0.0, 1.0,
                                              allow_none=True))
        put("tie_tol", _check_real("tie_tol", self.tie_tol, 0.0))
        if self.method not in METHODS:
            raise InvalidInstanceError("method", f"must be one of {METHODS}, got {self.method!r}")
        if self.backend not in BACKENDS:
            raise InvalidInstanceError("backend", f"must be one of {tuple(BACKENDS)}, got {self.backend!r}")

    def epsilon(self, iteration: int) -> float:
        """ε used at (0-based) training iteration ``iteration``."""
        span = self.epsilon_decay * self.iterations
        if span <= 0 or iteration >= span:
            return float(self.epsilon_end)
        return float(self.epsilon_start + (self.epsilon_end - self.epsilon_start) * (iteration / span))

    def principal_learns(self, iteration: int) -> bool:
        """Whether the principal's ``Q_p`` is updated at (0-based) iteration ``iteration``."""
        return iteration < (1.0 - self.agent_only_fraction) * self.iterations

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TabularConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InvalidInstanceError("config", f"unknown fields {unknown}")
        return cls(**data)


def _floor(value, update: str, mdp: PrincipalAgentMDP) -> float:
    """The step-size floor: ``value``, or (``None``) 1.0 for an ``"outcome"`` update on an MDP whose
    next state is a function of ``(s, o)`` (its targets carry no sampling noise), else 0.0."""
    if value is not None:
        return float(value)
    return 1.0 if (update == "outcome" and mdp.deterministic) else 0.0


# --------------------------------------------------------------------------- results

@dataclass(frozen=True, eq=False)
class TrainResult:
    """What one call of :meth:`TabularLearner.train` did.

    Attributes
    ----------
    iterations:
        ``(E,)`` the global iteration counts at which the policy was evaluated.
    principal_values:
        ``(E,)`` the principal's exact value at the initial state of the greedy policy at those
        points, against an exactly best-responding agent
        (:func:`~contractlab.solvers.pamdp_policy.agent_best_response`, ties in her favour).
    iteration:
        The learner's global iteration count after the call.
    stopped_early:
        ``True`` when the callback asked to stop before the call's last iteration.
    wall_time:
        Seconds spent in the call.
    """

    iterations: np.ndarray
    principal_values: np.ndarray
    iteration: int
    stopped_early: bool
    wall_time: float


# --------------------------------------------------------------------------- the learner

# Tables saved in a checkpoint (all float64 / int64 / bool arrays of the learner).
_STATE_ARRAYS = ("agent_reward_est", "agent_outcome_value", "agent_q_table", "agent_count", "agent_outcome_count",
                 "principal_q_table", "principal_count", "principal_reward_est", "principal_outcome_value",
                 "principal_outcome_count", "contracts", "implementable", "allowed", "greedy",
                 "agent_value", "principal_value", "curve_iterations", "curve_values")


class TabularLearner:
    """The tabular learned principal and Q-learning agent of arXiv 2407.18074 (Section 5 /
    Appendix D) on a principal-agent MDP; see the module docstring for the algorithm.

    Parameters
    ----------
    mdp:
        The instance (acyclic, discounted cyclic, or with a finite horizon: time-indexed tables).
    config:
        :class:`TabularConfig` (default: ``TabularConfig()``).
    seed:
        Seeds the learner's exploration generator and the simulator's generator (two
        independent streams spawned from ``numpy.random.SeedSequence(seed)``).

    The tables have one row per state (per step and state with a horizon: row ``t·S + s``):
    ``agent_reward_est`` ``r̂``, ``agent_outcome_value`` ``W``, ``agent_q_table`` ``Q̄``,
    ``principal_reward_est`` ``r̂_p``, ``principal_outcome_value`` ``U``, ``principal_q_table``
    ``Q_p``, visit counters, and the derived ``contracts`` (min-pay contract of every action),
    ``implementable``, ``allowed``, ``greedy``, ``agent_value`` ``V_agent`` and
    ``principal_value`` ``V_p``. Read them through :attr:`agent_q`, :attr:`principal_q` and
    :meth:`policy`.
    """

    def __init__(self, mdp: PrincipalAgentMDP, config: TabularConfig | None = None, seed=0):
        if not isinstance(mdp, PrincipalAgentMDP):
            raise InvalidInstanceError("mdp", f"expected a PrincipalAgentMDP, got {type(mdp).__name__}")
        if config is None:
            config = TabularConfig()
        if not isinstance(config, TabularConfig):
            raise InvalidInstanceError("config", f"expected a TabularConfig, got {type(config).__name__}")
        if isinstance(seed, bool) or not isinstance(seed, (numbers.Integral, np.integer)) or seed < 0:
            raise InvalidInstanceError("seed", f"must be an integer >= 0, got {seed!r}")
        self.mdp = mdp
        self.config = config
        self.seed = int(seed)
        S, A, K = mdp.n_states, mdp.n_actions, mdp.n_outcomes
        self._H = mdp.horizon                       # None: stationary tables
        self._rows = S * (self._H or 1)            # table rows ("nodes"): t·S + s with a horizon
        self._state_of_row = np.arange(self._rows) % S
        self._O_rows = mdp.outcome_probs[self._state_of_row]          # (rows, A, K)
        self._agent_floor = _floor(config.agent_min_step, config.agent_update, mdp)
        self._principal_floor = _floor(config.principal_min_step, config.principal_update, mdp)
        ss = np.random.SeedSequence(self.seed)
        learner_ss, sim_ss = ss.spawn(2)
        self.rng = np.random.default_rng(learner_ss)
        self.sim = Simulator(mdp, config.n_envs, seed=sim_ss)
        self.iteration = 0
        self._guard = IterationGuard()
        n = self._rows
        self.agent_reward_est = np.zeros((n, A))
        self.agent_outcome_value = np.zeros((n, K))
        self.agent_q_table = np.zeros((n, A))
        self.agent_count = np.zeros((n, A), dtype=np.int64)
        self.agent_outcome_count = np.zeros((n, K), dtype=np.int64)
        self.principal_q_table = np.zeros((n, A))
        self.principal_count = np.zeros((n, A), dtype=np.int64)
        self.principal_reward_est = np.zeros((n, K))
        self.principal_outcome_value = np.zeros((n, K))
        self.principal_outcome_count = np.zeros((n, K), dtype=np.int64)
        self.contracts = np.zeros((n, A, K))
        self.implementable = np.zeros((n, A), dtype=bool)
        self.allowed = np.zeros((n, A), dtype=bool)
        self.greedy = np.zeros(n, dtype=np.int64)
        self.agent_value = np.zeros(n)
        self.principal_value = np.zeros(n)
        self.curve_iterations = np.zeros(0, dtype=np.int64)
        self.curve_values = np.zeros(0)
        self._refresh(np.arange(n))

    # ----------------------------------------------------------------- public views

    def _shape(self, arr: np.ndarray) -> np.ndarray:
        out = arr.reshape((self._H, self.mdp.n_states) + arr.shape[1:]) if self._H is not None else arr
        out = out.view()
        out.setflags(write=False)
        return out

    @property
    def agent_q(self) -> np.ndarray:
        """The agent's learned truncated ``Q̄``: ``(S, A)``, or ``(H, S, A)`` with a horizon (read-only)."""
        return self._shape(self.agent_q_table)

    @property
    def principal_q(self) -> np.ndarray:
        """The principal's learned ``Q_p``: ``(S, A)``, or ``(H, S, A)`` with a horizon (read-only)."""
        return self._shape(self.principal_q_table)

    @property
    def visits(self) -> np.ndarray:
        """Samples of each (state, action) the agent took: ``(S, A)`` or ``(H, S, A)`` (read-only)."""
        return self._shape(self.agent_count)

    @property
    def curve(self) -> tuple[np.ndarray, np.ndarray]:
        """All evaluation points so far (across resumes): ``(iterations, principal_values)``."""
        return self.curve_iterations.copy(), self.curve_values.copy()

    def policy(self) -> ContractPolicy:
        """The greedy contract policy: at every state (and step) the recommended action
        ``argmax_a Q_p`` over the implementable actions and its min-pay contract with margin ``ξ``
        on the learned ``Q̄`` (time-indexed with a horizon)."""
        rows = np.arange(self._rows)
        action = self.greedy.copy()
        contract = self.contracts[rows, action]
        if self._H is not None:
            S = self.mdp.n_states
            return ContractPolicy(action.reshape(self._H, S), contract.reshape(self._H, S, -1))
        return ContractPolicy(action, contract)

    def evaluate(self) -> float:
        """The principal's exact value at the initial state of :meth:`policy` when an exact agent
        best-responds (ties in her favour): ``agent_best_response(mdp, policy).principal_start``."""
        return agent_best_response(self.mdp, self.policy()).principal_start

    # ----------------------------------------------------------------- synchronous expected updates

    def set_agent_continuation(self, agent_value) -> None:
        """Hold the agent at the continuation values ``agent_value``: set its tables to their
        expected values given them and refresh every derived table.

        ``agent_value`` is the agent's value at every state, ``(S,)``, or at every step and state,
        ``(H, S)``, with a horizon ``H`` (as
        :func:`~contractlab.solvers.meta_algorithm.principal_step` takes it). The agent's tables
        become ``r̂(s, a) = r(s, a)``, ``W(s, o) = E[agent_value(s') | s, o]`` (0 where the episode
        ends) and ``Q̄(s, a) = r̂(s, a) + γ Σ_o O(s, a, o) W(s, o)`` — the truncated ``Q̄`` from which
        :func:`~contractlab.solvers.spe.spe_backup` computes MIN-PAY — and then the min-pay
        contracts, the implementable actions, the principal's ``Q_p`` (``"outcome"`` update: rebuilt
        from ``r̂_p``, ``U`` and the new contracts), her greedy choice and both values are
        recomputed at every row. The principal's own estimates are not changed, so tables written
        into them beforehand become the starting point of :meth:`expected_sweep`. Draws no random
        numbers; visit counters and the iteration are unchanged. The agent's next sampled update
        (:meth:`train`) moves its tables again.
        """
        self._guard.check("given fixed agent values")
        S = self.mdp.n_states
        shape = (S,) if self._H is None else (self._H, S)
        va = np.asarray(agent_value, dtype=np.float64)
        if va.shape != shape:
            raise InvalidInstanceError("agent_value", f"has shape {va.shape}, expected {shape}")
        bad = np.argwhere(~np.isfinite(va))
        if bad.size:
            raise InvalidInstanceError("agent_value", "value is not finite", tuple(int(i) for i in bad[0]))
        rows = np.arange(self._rows)
        self.agent_reward_est[:] = self.mdp.agent_rewards[self._state_of_row]
        self.agent_outcome_value[:] = self._expected_next(va.reshape(-1))
        # the same expression as the "outcome" update of _iterate
        self.agent_q_table[:] = self.agent_reward_est + self.mdp.discount * np.einsum(
            "bak,bk->ba", self._O_rows, self.agent_outcome_value)
        self._refresh(rows)

    def expected_sweep(self, step: float = 1.0) -> None:
        """One synchronous expected update of the principal: her update rule at every row (state,
        or step and state) at once, with the expected target and step size ``step`` = ``α`` in
        ``(0, 1]``; the agent's tables (hence the contracts) are not changed.

        With ``V_p(s') = max`` of ``Q_p(s', ·)`` over the allowed actions and ``E[V_p(s') | s, o]``
        computed from the model (0 where the episode ends):

        - ``"outcome"`` update: ``r̂_p(s, o) += α (r_p(s, o) − r̂_p(s, o))`` and
          ``U(s, o) += α (E[V_p(s') | s, o] − U(s, o))`` for every ``(s, o)``, then
          ``Q_p(s, a) = Σ_o O(s, a, o)(r̂_p(s, o) − b_a(s, o) + γ U(s, o))`` as always;
        - ``"sample"`` update: ``Q_p(s, a) += α (Σ_o O(s, a, o)(r_p(s, o) − b_a(s, o)
          + γ E[V_p(s') | s, o]) − Q_p(s, a))`` for every ``(s, a)``.

        Either way ``Q_p ← (1 − α) Q_p + α T Q_p`` on the implementable actions, ``T`` the principal's
        operator for the agent's current ``Q̄`` (with ``ξ = 0``:
        :func:`~contractlab.solvers.meta_algorithm.principal_operator` with the values given to
        :meth:`set_agent_continuation`), a ``γ``-contraction; entries of actions that are not
        allowed are updated too but never read. arXiv 2407.18074, Section 3.2 (the principal's
        step of the meta-algorithm as the fixed point of a contraction).

        Draws no random numbers and leaves the iteration, the visit counters and the ε schedule
        unchanged.
        """
        self._guard.check("swept")
        alpha = _check_real("step", step, 0.0, 1.0, low_open=True)
        mdp = self.mdp
        rows = np.arange(self._rows)
        reward = mdp.principal_rewards[self._state_of_row]                     # (rows, K)
        nxt = self._expected_next(self.principal_value)                       # (rows, K)
        if self.config.principal_update == "outcome":
            # x += α (y − x), the form of _apply (α = 1: y, up to round-off)
            self.principal_reward_est += alpha * (reward - self.principal_reward_est)
            self.principal_outcome_value += alpha * (nxt - self.principal_outcome_value)
        else:
            target = (np.einsum("bak,bk->ba", self._O_rows, reward + mdp.discount * nxt)
                      - np.einsum("bak,bak->ba", self._O_rows, self.contracts))
            self.principal_q_table += alpha * (target - self.principal_q_table)
        self._refresh_choice(rows)

    def _expected_next(self, values: np.ndarray) -> np.ndarray:
        """``E[values(next row) | row, o]`` for every row and outcome, ``(rows, K)``: ``values`` has
        one entry per row; the next row of row ``t·S + s`` is ``(t + 1)·S + s'`` with a horizon
        (0 after the last step), and 0 where the episode ends."""
        S = self.mdp.n_states
        states = np.arange(S)
        if self._H is None:
            return continuation(self.mdp, states, values)
        v = values.reshape(self._H, S)
        out = np.zeros((self._H, S, self.mdp.n_outcomes))
        for t in range(self._H - 1):
            out[t] = continuation(self.mdp, states, v[t + 1])
        return out.reshape(self._rows, -1)

    # ----------------------------------------------------------------- internals

    def _refresh(self, rows: np.ndarray, changed: np.ndarray | None = None) -> None:
        """Bring the derived tables up to date at ``rows`` after an update there: the min-pay
        contracts of every action on the current ``Q̄`` at ``changed`` (the rows whose ``Q̄``
        changed; default all of ``rows``; one batched call), then the principal's choice and both
        parties' values at ``rows``."""
        changed = rows if changed is None else changed
        if changed.size:
            self._refresh_contracts(changed)
        if rows.size:
            self._refresh_choice(rows)

    def _refresh_contracts(self, rows: np.ndarray) -> None:
        """The min-pay contracts with margin ``ξ`` of every action at ``rows`` on the current ``Q̄``,
        and which actions are implementable / allowed there."""
        cfg = self.config
        A, K = self.mdp.n_actions, self.mdp.n_outcomes
        q = self.agent_q_table[rows]                                   # (B, A)
        res = nudged_min_pay(np.repeat(self._O_rows[rows], A, axis=0), np.repeat(q, A, axis=0),
                             np.tile(np.arange(A), rows.size), cfg.margin, method=cfg.method, backend=cfg.backend)
        impl = np.asarray(res.implementable, dtype=bool).reshape(rows.size, A)
        contract = np.where(impl[..., None], np.nan_to_num(np.asarray(res.contract).reshape(rows.size, A, K),
                                                           nan=0.0), 0.0)
        np.maximum(contract, 0.0, out=contract)                        # −0.0 / round-off below zero
        allowed = impl.copy()
        none = ~allowed.any(axis=1)
        if none.any():                                                 # only with margin > 0
            idx = np.flatnonzero(none)
            allowed[idx, np.argmax(q[idx], axis=1)] = True
            contract[idx] = 0.0
        self.contracts[rows] = contract
        self.implementable[rows] = impl
        self.allowed[rows] = allowed

    def _refresh_choice(self, rows: np.ndarray) -> None:
        """The principal's ``Q_p`` at ``rows`` (``"outcome"`` update: rebuilt from ``r̂_p``, ``U`` and the
        current contracts), her greedy recommendation and the values ``V_p``, ``V_agent``."""
        if self.config.principal_update == "outcome":
            O = self._O_rows[rows]
            cont = self.principal_reward_est[rows] + self.mdp.discount * self.principal_outcome_value[rows]
            self.principal_q_table[rows] = (np.einsum("bak,bk->ba", O, cont)
                                            - np.einsum("bak,bak->ba", O, self.contracts[rows]))
        qp = np.where(self.allowed[rows], self.principal_q_table[rows], -np.inf)
        g = np.argmax(qp, axis=1)
        idx = np.arange(rows.size)
        self.greedy[rows] = g
        self.principal_value[rows] = qp[idx, g]
        self.agent_value[rows] = (self.agent_q_table[rows, g]
                                  + np.einsum("bk,bk->b", self._O_rows[rows, g], self.contracts[rows, g]))

    @staticmethod
    def _group(flat_key: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(keys, inverse, counts)`` of ``flat_key`` (values in ``[0, size)``), keys ascending —
        what ``np.unique(..., return_inverse=True, return_counts=True)`` returns, by counting
        when the table is small (no sort)."""
        if size > max(1 << 16, 8 * flat_key.size):
            return np.unique(flat_key, return_inverse=True, return_counts=True)
        full = np.bincount(flat_key, minlength=size)
        keys = np.flatnonzero(full)
        pos = np.zeros(size, dtype=np.int64)
        pos[keys] = np.arange(keys.size)
        return keys, pos[flat_key], full[keys]

    def _apply(self, pairs, count: np.ndarray, flat_key: np.ndarray, power: float, floor: float) -> None:
        """Batched update at the entries ``flat_key`` (of tables viewed flat) sharing the visit
        counter ``count``: every ``(table, target)`` in ``pairs`` moves by ``β (ȳ − x)`` towards the
        mean target ``ȳ`` of each entry's ``m`` samples, ``β = min(1, m·α(n))``, ``n`` the count
        after the batch, ``α(n) = max(n^(−power), floor)`` (``m/n`` for ``power = 1``, ``floor = 0``:
        the running mean)."""
        keys, inv, m = self._group(flat_key, count.size)
        cf = count.reshape(-1)
        cf[keys] += m
        alpha = np.maximum(cf[keys].astype(np.float64) ** (-power), floor)
        beta = np.minimum(1.0, m * alpha)
        for table, target in pairs:
            mean = np.bincount(inv, weights=target, minlength=keys.size) / m
            tf = table.reshape(-1)
            tf[keys] += beta * (mean - tf[keys])

    def _row_index(self, state: np.ndarray, step: np.ndarray) -> np.ndarray:
        return state if self._H is None else step * self.mdp.n_states + state

    def _iterate(self) -> dict:
        """One training iteration: recommend, offer, let the agent respond, step every episode,
        update both parties' tables and refresh the contracts at the states updated."""
        cfg, mdp, sim = self.config, self.mdp, self.sim
        N, A = cfg.n_envs, mdp.n_actions
        eps = cfg.epsilon(self.iteration)
        rows = self._row_index(sim.state, sim.step_count)
        allowed = self.allowed[rows]
        # ε-greedy recommendation (uniform over the allowed actions when exploring)
        u_explore = self.rng.random(N)
        u_pick = self.rng.random(N)
        n_allowed = allowed.sum(axis=1)
        kth = np.minimum((u_pick * n_allowed).astype(np.int64), n_allowed - 1)
        random_action = np.argmax(np.cumsum(allowed, axis=1) > kth[:, None], axis=1)
        rec = np.where(u_explore < eps, random_action, self.greedy[rows])
        contract = self.contracts[rows, rec]                                      # (N, K)
        # the learned agent's best response (ties to the recommendation)
        O_s = self._O_rows[rows]                                                   # (N, A, K)
        values = self.agent_q_table[rows] + np.einsum("nak,nk->na", O_s, contract)
        best = values.max(axis=1)
        idx = np.arange(N)
        follows = values[idx, rec] >= best - cfg.tie_tol * np.maximum(1.0, np.abs(best))
        taken = np.where(follows, rec, np.argmax(values, axis=1))
        tr = sim.step(taken, contract)
        # continuation values under the principal's current greedy policy
        live = ~tr.done
        nxt = np.where(live, self._row_index(np.maximum(tr.next_state, 0), tr.step + 1), 0)
        gamma = mdp.discount
        v_agent = np.where(live, self.agent_value[nxt], 0.0)
        v_principal = np.where(live, self.principal_value[nxt], 0.0)
        # agent
        K = mdp.n_outcomes
        touched = self._group(rows, self._rows)[0]
        q_before = self.agent_q_table[touched]
        if cfg.agent_update == "outcome":
            self._apply([(self.agent_reward_est, tr.agent_reward)], self.agent_count, rows * A + taken,
                        cfg.agent_step_power, self._agent_floor)
            self._apply([(self.agent_outcome_value, v_agent)], self.agent_outcome_count, rows * K + tr.outcome,
                        cfg.agent_step_power, self._agent_floor)
            self.agent_q_table[touched] = self.agent_reward_est[touched] + gamma * np.einsum(
                "bak,bk->ba", self._O_rows[touched], self.agent_outcome_value[touched])
        else:
            self._apply([(self.agent_reward_est, tr.agent_reward),
                         (self.agent_q_table, tr.agent_reward + gamma * v_agent)], self.agent_count,
                        rows * A + taken, cfg.agent_step_power, self._agent_floor)
        # principal
        if cfg.principal_learns(self.iteration):
            if cfg.principal_update == "outcome":
                # Q_p(s, ·) itself is rebuilt from r̂_p, U and the current contracts in _refresh
                np.add.at(self.principal_count.reshape(-1), rows * A + rec, 1)
                self._apply([(self.principal_reward_est, tr.principal_reward),
                             (self.principal_outcome_value, v_principal)], self.principal_outcome_count,
                            rows * K + tr.outcome, cfg.principal_step_power, self._principal_floor)
            else:
                self._apply([(self.principal_q_table, tr.principal_reward - tr.payment + gamma * v_principal)],
                            self.principal_count, rows * A + rec, cfg.principal_step_power, self._principal_floor)
        self._refresh(touched, touched[(self.agent_q_table[touched] != q_before).any(axis=1)])
        self.iteration += 1
        return {"epsilon": eps, "follow_rate": float(follows.mean()),
                "principal_return": float(np.mean(tr.principal_reward - tr.payment)),
                "mean_payment": float(tr.payment.mean())}

    # ----------------------------------------------------------------- training

    def train(self, iterations: int | None = None, callback: Callback | None = None,
              eval_every: int = 0) -> TrainResult:
        """Run ``iterations`` more training iterations (default: up to ``config.iterations`` in
        total; 0 if already there).

        ``callback(iteration, total, metrics)`` is called after every *completed* iteration (an
        iteration boundary) with the global iteration count, the count at which this call will
        stop, and ``metrics``: ``epsilon``, ``follow_rate`` (share of episodes in which the
        learned agent took the recommendation), ``principal_return`` (mean principal reward minus
        payment of the step), ``mean_payment`` and, at evaluation points, ``principal_value``
        (:meth:`evaluate`). Returning ``True`` (``bool`` or ``numpy.bool_``; any other value
        continues) stops training there: :attr:`iteration` is then the number of completed
        iterations, and the learner can be saved (:meth:`save`), trained further or evaluated —
        a run stopped at any boundary, saved, loaded and trained on ends bit-identical to an
        uninterrupted one. The callback may itself call :meth:`save`.

        With ``eval_every = k > 0`` the policy is evaluated whenever the global iteration count
        is a multiple of ``k`` and at the end of the run (``config.iterations``), wherever the
        run was split into calls, so a resumed run records the same learning curve; each
        evaluation is added to :attr:`curve` at once (a checkpoint written by the callback
        holds it). Evaluation draws no random numbers, so it does not change the run.

        An exception raised inside an iteration (e.g. ``KeyboardInterrupt``) leaves that
        iteration unfinished; the learner then refuses :meth:`save` and further training
        (:class:`~contractlab.learning.boundary.IterationGuard`).
        """
        self._guard.check("trained further")
        if iterations is None:
            iterations = max(0, self.config.iterations - self.iteration)
        iterations = _check_count("iterations", iterations, 0)
        eval_every = _check_count("eval_every", eval_every, 0)
        if callback is not None and not callable(callback):
            raise InvalidInstanceError("callback", "must be callable")
        start = time.perf_counter()
        total = self.iteration + iterations
        its, vals = [], []
        stopped = False
        while self.iteration < total:
            self._guard.begin(self.iteration + 1)
            metrics = self._iterate()
            if eval_every and (self.iteration % eval_every == 0 or self.iteration == self.config.iterations):
                value = self.evaluate()
                metrics["principal_value"] = value
                its.append(self.iteration)
                vals.append(value)
                self.curve_iterations = np.append(self.curve_iterations, np.int64(self.iteration))
                self.curve_values = np.append(self.curve_values, np.float64(value))
            self._guard.end()
            if callback is not None and stop_requested(callback(self.iteration, total, metrics)):
                stopped = self.iteration < total
                break
        return TrainResult(np.asarray(its, dtype=np.int64), np.asarray(vals, dtype=np.float64), self.iteration,
                           stopped, time.perf_counter() - start)

    # ----------------------------------------------------------------- checkpoints

    def save(self, path: str | os.PathLike) -> None:
        """Write a checkpoint (``.npz`` + JSON metadata, atomic, no pickle) from which
        :meth:`load` resumes exactly. Only at an iteration boundary: a learner whose iteration
        was interrupted by an exception is refused (:class:`InvalidInstanceError`, field
        ``"learner"``)."""
        self._guard.check("saved")
        arrays = {name: getattr(self, name) for name in _STATE_ARRAYS}
        arrays["sim_state"] = self.sim.state
        arrays["sim_step_count"] = self.sim.step_count
        meta = {"kind": KIND, "layout": CHECKPOINT_LAYOUT, "config": self.config.to_dict(),
                "seed": self.seed, "iteration": self.iteration, "mdp_fingerprint": mdp_fingerprint(self.mdp),
                "mdp_shape": [self.mdp.n_states, self.mdp.n_actions, self.mdp.n_outcomes],
                "rng_state": self.rng.bit_generator.state, "sim_rng_state": self.sim.rng.bit_generator.state}
        save_checkpoint(path, arrays, meta)

    @classmethod
    def load(cls, path: str | os.PathLike, mdp: PrincipalAgentMDP) -> "TabularLearner":
        """Resume from a checkpoint written by :meth:`save` for the same ``mdp``.

        Raises :class:`InvalidInstanceError` (field ``"mdp"``) when the checkpoint was written for
        a different MDP, and :class:`InvalidFileError` when the file is not such a checkpoint.
        """
        arrays, meta = load_checkpoint(path, kind=KIND)
        if meta.get("layout") != CHECKPOINT_LAYOUT:
            raise InvalidFileError(str(path), f"tabular checkpoint layout {meta.get('layout')!r} is not supported")
        if not isinstance(mdp, PrincipalAgentMDP):
            raise InvalidInstanceError("mdp", f"expected a PrincipalAgentMDP, got {type(mdp).__name__}")
        if meta.get("mdp_fingerprint") != mdp_fingerprint(mdp):
            raise InvalidInstanceError("mdp", f"the checkpoint {os.fspath(path)!r} was written for a different MDP "
                                       f"(shape (S, A, K) = {tuple(meta.get('mdp_shape') or ())}, fingerprint "
                                       f"{str(meta.get('mdp_fingerprint'))[:12]}…); this one has shape "
                                       f"{(mdp.n_states, mdp.n_actions, mdp.n_outcomes)}, fingerprint "
                                       f"{mdp_fingerprint(mdp)[:12]}…")
        try:
            config = TabularConfig.from_dict(meta["config"])
            learner = cls(mdp, config, seed=meta["seed"])
            for name in _STATE_ARRAYS + ("sim_state", "sim_step_count"):
                if name not in arrays:
                    raise InvalidFileError(str(path), f"checkpoint has no array {name!r}")
            for name in _STATE_ARRAYS:
                old, new = getattr(learner, name), arrays[name]
                if name.startswith("curve"):
                    setattr(learner, name, new.astype(old.dtype))
                    continue
                if new.shape != old.shape:
                    raise InvalidFileError(str(path), f"array {name!r} has shape {new.shape}, expected {old.shape}")
                setattr(learner, name, np.array(new, dtype=old.dtype))
            for name, attr in (("sim_state", "state"), ("sim_step_count", "step_count")):
                if arrays[name].shape != (config.n_envs,):
                    raise InvalidFileError(str(path), f"array {name!r} has shape {arrays[name].shape}")
                setattr(learner.sim, attr, np.array(arrays[name], dtype=np.int64))
            learner.iteration = _check_count("iteration", meta["iteration"], 0)
            learner.rng.bit_generator.state = meta["rng_state"]
            learner.sim.rng.bit_generator.state = meta["sim_rng_state"]
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, InvalidFileError):
                raise
            raise InvalidFileError(str(path), f"bad tabular checkpoint ({type(exc).__name__}: {exc})") from None
        return learner


__all__ = ["TabularConfig", "TabularLearner", "TrainResult", "mdp_fingerprint", "UPDATES", "KIND"]
