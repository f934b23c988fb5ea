"""Gymnasium environments for the two sides of a principal-agent MDP (Ivanov, Dütting,
Talgam-Cohen, Wang, Parkes, *Principal-Agent Reinforcement Learning*, arXiv 2407.18074, Section 3).

One step is one round of the paper's protocol at state ``s`` (step ``t``): the principal offers a
contract ``b(t, s, ·) >= 0`` and recommends an action, the agent takes ``a``, an outcome
``o ~ O(s, a)`` is drawn, the agent gets ``r(s, a) + b(o)``, the principal ``r_p(s, o) − b(o)``,
and the state moves to ``next_state[s][o]`` or is drawn from ``transitions[s][o]``.

* :class:`AgentEnv` — the principal's contract policy is fixed; the learner is the agent.
  Reward ``r(s, a) + b(o)``. Its discounted return from ``s_0`` has expectation ``V_a(s_0)`` of
  :func:`~contractlab.solvers.pamdp_policy.evaluate` (the agent's value under that policy).
* :class:`PrincipalEnv` — the agent is fixed: an exact best-responder or a given agent policy;
  the learner is the principal. Action: a recommended action and a contract; reward
  ``r_p(s, o) − b(o)``. Under the SPE contract policy the discounted return has expectation the
  SPE principal value.

Conventions shared by both:

* **Rewards are not discounted by the environment.** The paper's values are
  ``Σ_t γ^t reward_t`` with the instance's ``γ`` (``discount``); a learner should use that ``γ``.
* **Observation** (``observation=``): ``"discrete"`` (default) is ``Discrete(S)``, the state; with a
  finite horizon ``H`` it is ``Discrete(H·S)``, the index ``t·S + s`` (a time-indexed policy
  depends on the step, and so does the agent's best response). ``"dict"`` is a ``Dict`` with
  ``"state"`` (``Discrete(S)``), ``"step"`` (``Discrete(H)``, only with a horizon) and, in
  :class:`AgentEnv`, ``"contract"`` (``Box(0, high, (K,), float64)``, the offered contract;
  ``high`` is the largest payment of the policy, at least 1) and ``"recommended"``
  (``Discrete(A)``).
* **End of an episode**: ``terminated`` when the state moves to "end" (``next_state = −1`` or an
  all-zero ``transitions`` row) or after step ``H − 1`` of a finite horizon (the model ends there:
  all values at step ``H`` are 0, and the step is in the observation). The observation returned
  with ``terminated=True`` repeats the last state (and step); it carries no value. A discounted
  instance that can run forever (no horizon, a cycle) is cut after ``max_steps`` steps with
  ``truncated=True``; the default :func:`default_max_steps` is the smallest ``T`` with
  ``γ^T <= 1e-6``, so the discounted tail cut off is at most ``1e-6 · R / (1 − γ)`` with ``R``
  the largest absolute reward. ``max_steps`` may also be set on any instance (truncation).
* **Randomness**: only ``self.np_random``, seeded by ``reset(seed=...)``: the same seed and the
  same actions give the same episode, bit for bit. No global generator is used.
* ``info`` of a step: ``step``, ``state``, ``action`` (the agent's), ``recommended``, ``outcome``,
  ``payment``, ``agent_reward`` (``r(s, a) + b(o)``) and ``principal_reward`` (``r_p(s, o) − b(o)``).

Bad arguments raise :class:`~contractlab.theory.errors.InvalidInstanceError` naming the field.
"""

from __future__ import annotations

import math
import numbers
import os

import numpy as np

try:
    import gymnasium as gym
    from gymnasium import spaces
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError('contractlab.envs.pamdp_gym needs gymnasium: pip install "contractlab[envs]"',
                      name=getattr(exc, "name", None)) from exc

from ..solvers.pamdp_policy import TIE_BREAKS, TIE_TOL, _check_agent_policy, _pick, agent_best_response
from ..theory.contract_policy import ContractPolicy
from ..theory.errors import InvalidInstanceError
from ..theory.pamdp import PrincipalAgentMDP

OBSERVATIONS = ("discrete", "dict")
#: How :class:`PrincipalEnv` treats a contract outside its action space: ``"clip"`` (default)
#: clips every payment into ``[0, max_payment]``; ``"raise"`` refuses it.
ILLEGAL_CONTRACTS = ("clip", "raise")
#: :func:`default_max_steps` cuts an endless discounted episode once ``γ^T`` is at most this.
TRUNCATION_TAIL = 1e-6


# --------------------------------------------------------------------------- arguments

def load_mdp(mdp) -> PrincipalAgentMDP:
    """A :class:`PrincipalAgentMDP`, or the path of a ``pamdp`` file (read with
    :func:`contractlab.theory.fileio.load`)."""
    if isinstance(mdp, PrincipalAgentMDP):
        return mdp
    if isinstance(mdp, (str, os.PathLike)):
        from ..theory import fileio
        loaded = fileio.load(mdp)
        if not isinstance(loaded, PrincipalAgentMDP):
            raise InvalidInstanceError("mdp", f"{mdp}: expected a pamdp file, got a {type(loaded).__name__}")
        return loaded
    raise InvalidInstanceError("mdp", f"expected a PrincipalAgentMDP or the path of a pamdp file, "
                                      f"got {type(mdp).__name__}")


def reference_profile(mdp: PrincipalAgentMDP, time_limit: float | None = None):
    """The exact reference ``(contract policy, agent values, principal values)``: the SPE by
    backward induction (:func:`~contractlab.solvers.spe.solve_spe`) on trees, DAGs and finite
    horizons; on a discounted cyclic instance the meta-algorithm's profile
    (:func:`~contractlab.solvers.meta_algorithm.meta_algorithm`, Algorithm 1), as
    ``contractlab check`` uses. Values have shape ``(S,)``, or ``(H, S)`` with a horizon."""
    if mdp.horizon is None and not mdp.is_acyclic:
        from ..solvers.meta_algorithm import meta_algorithm
        res = meta_algorithm(mdp) if time_limit is None else meta_algorithm(mdp, time_limit=time_limit)
        return res.policy, np.asarray(res.agent_value), np.asarray(res.principal_value)
    from ..solvers.spe import solve_spe
    res = solve_spe(mdp)
    return res.policy, np.asarray(res.agent_value), np.asarray(res.principal_value)


def load_contract_policy(policy, mdp: PrincipalAgentMDP) -> ContractPolicy:
    """A :class:`ContractPolicy`; the path of a ``contract_policy`` / ``pamdp_solution`` file; or
    ``"spe"``: the reference of :func:`reference_profile`. Its shapes are checked against ``mdp``."""
    if isinstance(policy, str) and policy == "spe":
        policy = reference_profile(mdp)[0]
    elif isinstance(policy, (str, os.PathLike)):
        from ..theory.documents import load_contract_policy as load_file
        policy = load_file(policy)
    if not isinstance(policy, ContractPolicy):
        raise InvalidInstanceError("contract_policy", f"expected a ContractPolicy, the path of a contract_policy "
                                                      f"file or 'spe', got {type(policy).__name__}")
    policy.check_fits(mdp)
    return policy


def default_max_steps(mdp: PrincipalAgentMDP) -> int | None:
    """``None`` when every episode ends by itself (a finite horizon, or an acyclic graph); else
    the smallest ``T`` with ``γ^T <= TRUNCATION_TAIL`` (``γ < 1`` then, as the model requires)."""
    if mdp.horizon is not None or mdp.is_acyclic:
        return None
    if mdp.discount == 0.0:
        return 1
    return max(1, math.ceil(math.log(TRUNCATION_TAIL) / math.log(mdp.discount)))


def _check_choice(name: str, value, choices: tuple) -> str:
    if not isinstance(value, str) or value not in choices:
        raise InvalidInstanceError(name, f"must be one of {choices}, got {value!r}")
    return value


def _check_max_steps(mdp: PrincipalAgentMDP, value) -> int | None:
    if value is None:
        return default_max_steps(mdp)
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)) or value < 1:
        raise InvalidInstanceError("max_steps", f"must be an integer >= 1 or None, got {value!r}")
    return int(value)


def _check_render_mode(render_mode) -> None:
    if render_mode is not None:
        raise InvalidInstanceError("render_mode", f"only None is supported, got {render_mode!r}")


# --------------------------------------------------------------------------- the shared core

class _PAMDPEnv(gym.Env):
    """Stepping, observations and episode ends shared by both sides."""

    metadata = {"render_modes": []}

    def __init__(self, mdp, observation: str, max_steps, render_mode):
        _check_render_mode(render_mode)
        self.render_mode = None
        self.mdp = load_mdp(mdp)
        self.observation_mode = _check_choice("observation", observation, OBSERVATIONS)
        self.max_steps = _check_max_steps(self.mdp, max_steps)
        m = self.mdp
        self._cum_outcomes = np.cumsum(m.outcome_probs, axis=-1)
        self._cum_transitions = None if m.deterministic else np.cumsum(m.transitions, axis=-1)
        self._t = 0
        self._s = m.initial_state
        self._done = True

    # --- observations -----------------------------------------------------------------

    def _base_spaces(self) -> dict:
        m = self.mdp
        out = {"state": spaces.Discrete(m.n_states)}
        if m.horizon is not None:
            out["step"] = spaces.Discrete(m.horizon)
        return out

    def _discrete_space(self) -> spaces.Discrete:
        m = self.mdp
        return spaces.Discrete(m.n_states * (m.horizon or 1))

    def _base_observation(self, t: int, s: int) -> dict:
        out = {"state": np.int64(s)}
        if self.mdp.horizon is not None:
            out["step"] = np.int64(t)
        return out

    def observation_index(self, t: int, s: int) -> int:
        """The ``"discrete"`` observation of state ``s`` at step ``t``: ``s``, or ``t·S + s``
        with a horizon."""
        return s if self.mdp.horizon is None else t * self.mdp.n_states + s

    # --- dynamics ---------------------------------------------------------------------

    def _start(self, seed) -> None:
        super().reset(seed=seed)
        self._t, self._s, self._done = 0, self.mdp.initial_state, False

    def _draw(self, cum: np.ndarray) -> int:
        """An index drawn from the distribution whose cumulative sums are ``cum``."""
        u = self.np_random.random() * cum[-1]
        return min(int(np.searchsorted(cum, u, side="right")), len(cum) - 1)

    def _check_agent_action(self, action, field: str = "action") -> int:
        if isinstance(action, (bool, np.bool_)) or not isinstance(action, (numbers.Integral, np.integer)):
            if isinstance(action, np.ndarray) and action.shape == () and action.dtype.kind in "iu":
                action = int(action)
            else:
                raise InvalidInstanceError(field, f"must be an integer in [0, {self.mdp.n_actions}), got {action!r}")
        if not 0 <= action < self.mdp.n_actions:
            raise InvalidInstanceError(field, f"action {int(action)} is out of range [0, {self.mdp.n_actions})")
        return int(action)

    def _advance(self, a: int, contract: np.ndarray, recommended: int):
        """Play action ``a`` under ``contract`` at the current step: draws the outcome and the
        next state; returns ``(info, terminated, truncated)``."""
        if self._done:
            raise InvalidInstanceError("action", "the episode has ended: call reset() first")
        m, t, s = self.mdp, self._t, self._s
        o = self._draw(self._cum_outcomes[s, a])
        pay = float(contract[o])
        info = {"step": t, "state": s, "action": a, "recommended": int(recommended), "outcome": o, "payment": pay,
                "agent_reward": float(m.agent_rewards[s, a]) + pay,
                "principal_reward": float(m.principal_rewards[s, o]) - pay}
        if m.deterministic:
            nxt = int(m.next_state[s, o])
        else:
            row = self._cum_transitions[s, o]
            nxt = -1 if row[-1] == 0.0 else self._draw(row)
        terminated = nxt < 0 or (m.horizon is not None and t + 1 >= m.horizon)
        truncated = not terminated and self.max_steps is not None and t + 1 >= self.max_steps
        if not terminated:
            self._s = nxt
            self._t = t + 1
        self._done = terminated or truncated
        return info, terminated, truncated

    def render(self) -> None:
        """No rendering (``render_mode`` is always ``None``)."""
        return None


# --------------------------------------------------------------------------- the agent side

class AgentEnv(_PAMDPEnv):
    """The agent's side: the principal plays the fixed ``contract_policy``.

    Parameters
    ----------
    mdp:
        A :class:`PrincipalAgentMDP` or the path of a ``pamdp`` file.
    contract_policy:
        A :class:`ContractPolicy` (stationary or, with a horizon, time-indexed), the path of a
        ``contract_policy`` / ``pamdp_solution`` file, or ``"spe"`` (the exact reference of
        :func:`reference_profile`).
    observation:
        ``"discrete"`` (default) or ``"dict"`` (module docstring).
    max_steps:
        Truncate episodes after this many steps (default :func:`default_max_steps`).

    Action: ``Discrete(A)``, the agent's action. Reward: ``r(s, a) + b(t, s, o)``.
    """

    metadata = {"render_modes": [], "name": "contractlab/PAMDPAgent-v0"}

    def __init__(self, mdp, contract_policy="spe", observation: str = "discrete", max_steps: int | None = None,
                 render_mode: str | None = None):
        super().__init__(mdp, observation, max_steps, render_mode)
        m = self.mdp
        self.contract_policy = load_contract_policy(contract_policy, m)
        self.action_space = spaces.Discrete(m.n_actions)
        if self.observation_mode == "discrete":
            self.observation_space = self._discrete_space()
        else:
            high = max(1.0, float(self.contract_policy.contract.max()))
            parts = self._base_spaces()
            parts["contract"] = spaces.Box(0.0, high, (m.n_outcomes,), np.float64)
            parts["recommended"] = spaces.Discrete(m.n_actions)
            self.observation_space = spaces.Dict(parts)

    def _offer(self) -> tuple[int, np.ndarray]:
        action, contract = self.contract_policy.at_step(self._t)
        return int(action[self._s]), contract[self._s]

    def _observe(self):
        if self.observation_mode == "discrete":
            return np.int64(self.observation_index(self._t, self._s))
        rec, contract = self._offer()
        obs = self._base_observation(self._t, self._s)
        obs["contract"] = np.array(contract, dtype=np.float64)
        obs["recommended"] = np.int64(rec)
        return obs

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start at ``initial_state`` (step 0); ``seed`` reseeds ``self.np_random``."""
        self._start(seed)
        rec, _ = self._offer()
        return self._observe(), {"step": 0, "state": self._s, "recommended": rec}

    def step(self, action):
        a = self._check_agent_action(action)
        rec, contract = self._offer()
        info, terminated, truncated = self._advance(a, contract, rec)
        return self._observe(), info["agent_reward"], terminated, truncated, info


# --------------------------------------------------------------------------- the principal side

class PrincipalEnv(_PAMDPEnv):
    """The principal's side: the agent is fixed.

    Parameters
    ----------
    mdp:
        A :class:`PrincipalAgentMDP` or the path of a ``pamdp`` file.
    agent:
        ``"best_response"`` (default): at state ``s`` and step ``t`` the agent sees the offered
        contract ``b`` and takes ``argmax_a Q̄(s, a) + O(s, a)·b`` — the paper's truncated
        ``Q̄(s, a) = r(s, a) + γ Σ_o O(s, a, o) E[V_a(s') | s, o]`` with the agent's continuation
        values ``V_a`` of ``continuation`` (Section 3; with the SPE continuation this is the
        agent's move in the subgame-perfect equilibrium). Ties within ``tol`` are broken as in
        :func:`~contractlab.solvers.pamdp_policy.agent_best_response`: ``tie_break="principal"``
        takes the tied action best for the principal (``Σ_o O(s, a, o)(r_p − b + γ E[V_p(s')])``),
        ``"adversarial"`` the worst, then the lowest index. Or a given agent policy: actions of
        shape ``(S,)`` / ``(H, S)`` (array, :class:`~contractlab.theory.documents.AgentPolicy`,
        or the path of an ``agent_policy`` file), played whatever the contract; or a callable
        ``agent(observation) -> action`` that receives the dict ``{"state", "step", "contract",
        "recommended"}`` (e.g. a learner trained on :class:`AgentEnv` with ``observation="dict"``).
    continuation:
        What the best-responding agent expects from the next step on: ``"spe"`` (default, the
        reference of :func:`reference_profile`) or a contract policy (object or file): its values
        are then those of the agent's exact best response to it.
    max_payment:
        The upper bound of each payment in the action space (default: twice the largest payment
        of the reference contract policy, at least 1).
    illegal_contract:
        ``"clip"`` (default): a contract outside ``[0, max_payment]^K`` (e.g. negative payments,
        which limited liability forbids) is clipped into it, and ``info["clipped"]`` says so;
        ``"raise"``: it is refused with :class:`InvalidInstanceError` (field ``"contract"``, with
        the outcome index). A NaN or infinite payment is always refused.

    Action: ``Dict({"action": Discrete(A), "contract": Box(0, max_payment, (K,), float64)})`` —
    the recommended action and the contract. Reward: ``r_p(s, o) − b(o)``.
    """

    metadata = {"render_modes": [], "name": "contractlab/PAMDPPrincipal-v0"}

    def __init__(self, mdp, agent="best_response", tie_break: str = "principal", continuation="spe",
                 max_payment: float | None = None, illegal_contract: str = "clip", tol: float = TIE_TOL,
                 observation: str = "discrete", max_steps: int | None = None, render_mode: str | None = None):
        super().__init__(mdp, observation, max_steps, render_mode)
        m = self.mdp
        self.tie_break = _check_choice("tie_break", tie_break, TIE_BREAKS)
        self.illegal_contract = _check_choice("illegal_contract", illegal_contract, ILLEGAL_CONTRACTS)
        if isinstance(tol, bool) or not isinstance(tol, (numbers.Real, np.floating)) or not 0 <= tol < math.inf:
            raise InvalidInstanceError("tol", f"must be a finite number >= 0, got {tol!r}")
        self.tol = float(tol)
        self._agent_fn, self._agent_actions = None, None
        needs_reference = (isinstance(agent, str) and agent == "best_response") or max_payment is None
        if isinstance(continuation, str) and continuation == "spe":
            ref_policy, va, vp = reference_profile(m) if needs_reference else (None, None, None)
        else:
            ref_policy = load_contract_policy(continuation, m)
            br = agent_best_response(m, ref_policy, tie_break=self.tie_break, tol=self.tol)
            va, vp = np.asarray(br.agent_value), np.asarray(br.principal_value)
        self.reference_policy = ref_policy
        self._values = None if va is None else np.stack([vp, va], axis=-1)      # (S, 2) or (H, S, 2)
        if isinstance(agent, os.PathLike) or (isinstance(agent, str) and agent != "best_response"):
            agent = _load_agent_file(agent)
        if callable(agent):
            self._agent_fn = agent
        if self._agent_fn is None and not (isinstance(agent, str) and agent == "best_response"):
            from ..theory.documents import AgentPolicy
            actions = agent.action if isinstance(agent, AgentPolicy) else agent
            self._agent_actions = _check_agent_policy(m, actions)
        if max_payment is None:
            max_payment = max(1.0, 2.0 * float(ref_policy.contract.max()))
        if isinstance(max_payment, bool) or not isinstance(max_payment, (numbers.Real, np.floating)) \
                or not 0 < max_payment < math.inf:
            raise InvalidInstanceError("max_payment", f"must be a finite number > 0, got {max_payment!r}")
        self.max_payment = float(max_payment)
        self.action_space = spaces.Dict({"action": spaces.Discrete(m.n_actions),
                                         "contract": spaces.Box(0.0, self.max_payment, (m.n_outcomes,), np.float64)})
        self.observation_space = (self._discrete_space() if self.observation_mode == "discrete"
                                  else spaces.Dict(self._base_spaces()))

    def _observe(self):
        if self.observation_mode == "discrete":
            return np.int64(self.observation_index(self._t, self._s))
        return self._base_observation(self._t, self._s)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start at ``initial_state`` (step 0); ``seed`` reseeds ``self.np_random``."""
        self._start(seed)
        return self._observe(), {"step": 0, "state": self._s}

    def _contract(self, value) -> tuple[np.ndarray, bool]:
        K = self.mdp.n_outcomes
        try:
            b = np.array(value, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise InvalidInstanceError("contract", f"must be {K} numbers, got {value!r}") from None
        if b.shape != (K,):
            raise InvalidInstanceError("contract", f"has {b.size} payments, the MDP has {K} outcomes")
        bad = np.flatnonzero(~np.isfinite(b))
        if bad.size:
            raise InvalidInstanceError("contract", f"payment {b[bad[0]]!r} is not finite", int(bad[0]))
        out = (b < 0) | (b > self.max_payment)
        if not out.any():
            return b, False
        if self.illegal_contract == "raise":
            k = int(np.flatnonzero(out)[0])
            why = "negative (limited liability)" if b[k] < 0 else f"above max_payment {self.max_payment:g}"
            raise InvalidInstanceError("contract", f"payment {float(b[k])!r} is {why}", k)
        return np.clip(b, 0.0, self.max_payment), True

    def _agent_action(self, rec: int, b: np.ndarray) -> int:
        m, t, s = self.mdp, self._t, self._s
        if self._agent_actions is not None:
            pol = self._agent_actions
            return int(pol[t, s] if pol.ndim == 2 else pol[s])
        if self._agent_fn is not None:
            obs = {"state": s, "step": t, "contract": b.copy(), "recommended": rec}
            return self._check_agent_action(self._agent_fn(obs), "agent")
        V = self._values
        if m.horizon is not None:
            V_next = V[t + 1] if t + 1 < m.horizon else np.zeros_like(V[0])
        else:
            V_next = V
        if m.deterministic:
            nxt = m.next_state[s]
            cont = np.where((nxt >= 0)[:, None], V_next[np.maximum(nxt, 0)], 0.0)      # (K, 2)
        else:
            cont = m.transitions[s] @ V_next
        O, g = m.outcome_probs[s], m.discount
        qa = m.agent_rewards[s] + O @ (b + g * cont[:, 1])
        qp = O @ (m.principal_rewards[s] - b + g * cont[:, 0])
        return int(_pick(qa[None], qp[None], self.tie_break, self.tol)[0])

    def step(self, action):
        if not isinstance(action, dict) or "action" not in action or "contract" not in action:
            raise InvalidInstanceError("action", "must be a dict {'action': int, 'contract': K payments}")
        rec = self._check_agent_action(action["action"])
        b, clipped = self._contract(action["contract"])
        if self._done:
            raise InvalidInstanceError("action", "the episode has ended: call reset() first")
        a = self._agent_action(rec, b)
        info, terminated, truncated = self._advance(a, b, rec)
        info["clipped"] = clipped
        info["followed"] = a == rec
        return self._observe(), info["principal_reward"], terminated, truncated, info


def _load_agent_file(path) -> np.ndarray:
    from ..theory.documents import load_agent_actions
    return load_agent_actions(path)


__all__ = ["AgentEnv", "PrincipalEnv", "load_mdp", "load_contract_policy", "reference_profile",
           "default_max_steps", "OBSERVATIONS", "ILLEGAL_CONTRACTS", "TRUNCATION_TAIL"]
