"""The meta-gradient designer's one-step lookahead and its exact gradient in closed form, for
normal-form games (numpy only).

Yang, Wang, Trivedi, Zhao, Zha, *Adaptive Incentive Design with Multi-Agent Meta-Gradient
Reinforcement Learning* (AAMAS 2022, arXiv 2112.10859), Section 4: the designer differentiates the
welfare of the agents *after* one policy-gradient step on their incentivised rewards. For a game
with one state and one step (``S = 1``, ``horizon = 1``; a :class:`~contractlab.theory.markov_game.
TabularMarkovGame`), tabular softmax agents and tabular incentives ``η_i(a_i)`` that lookahead and
its gradient have a closed form; this module computes both without torch, so that ``contractlab
verify`` (``proofs_checks/theorems_metagrad.py``) checks the meta-gradient on a core install, and
the torch designer (:mod:`contractlab.learning.meta_gradient`) is compared with it in the tests.

Derivation
----------
Agent ``j`` plays ``π_j = softmax(θ_j)``; a joint action ``a`` has probability
``p(a) = Π_j π_j(a_j)``. The incentive is ``η_i(a_i) = b·σ(φ_i[a_i])`` (``b = bound``, ``σ`` the
logistic sigmoid: the authors' "sigmoid times 2"). Agent ``i``'s objective is its incentivised
return::

    J_i(θ; r + η) = Σ_a p(a) (r_i(a) + η_i(a_i)) = π_iᵀ Q_i,   Q_i(k) = q_i(k) + η_i(k),

with ``q_i(k) = Σ_{a: a_i = k} Π_{j≠i} π_j(a_j) r_i(a)`` (agent ``i``'s reward marginalised over
the others). Since ``∂π_i/∂θ_i = diag(π_i) − π_i π_iᵀ =: M_i`` (symmetric),

    ∇_{θ_i} J_i = Σ_a p(a) R_i(a) (e_{a_i} − π_i) = M_i Q_i = π_i ⊙ (Q_i − π_iᵀ Q_i),

which is linear in ``η``: ``M_i η_i`` is its incentive part. The lookahead is the simultaneous
step ``θ̂_i = θ_i + α M_i Q_i`` (each agent on its own objective), so

    ∂θ̂_i/∂η_i = α M_i,     ∂θ̂_i/∂η_j = 0  (j ≠ i).

The designer's objective is the welfare of the updated agents minus ``c`` times the expected
incentive they are paid::

    F(η) = W(θ̂) − c Σ_i π̂_iᵀ η_i,    W(θ̂) = Σ_a p̂(a) Σ_l r_l(a),   π̂_i = softmax(θ̂_i).

Write ``w_i(k)`` for the welfare ``Σ_l r_l`` marginalised over the *updated* others (as ``q_i`` but
under ``p̂`` and with the summed reward), and ``u_i = w_i − c η_i``; then
``∂F/∂θ̂_i = M̂_i u_i`` (``M̂_i = diag(π̂_i) − π̂_i π̂_iᵀ``; only ``π̂_i`` carries ``θ̂_i``), and by the
chain rule

    ∂F/∂η_i = −c π̂_i + α M_i M̂_i u_i,     ∂F/∂φ_i = ∂F/∂η_i ⊙ b σ(φ_i)(1 − σ(φ_i)).

Parameters are per agent: ``theta[i]`` and ``phi[i]`` of shape ``(1, K_i)`` (one observation, as
the tabular agents of a ``TabularMarkovGame`` with ``S = 1``) or ``(K_i,)``.
"""

from __future__ import annotations

import numpy as np

from ..theory.errors import InvalidInstanceError
from ..theory.markov_game import TabularMarkovGame

__all__ = ["INCENTIVE_BOUND", "softmax", "incentives", "marginal", "policy_gradient", "lookahead",
           "objective", "objective_gradient"]

#: ``b``: incentives lie in ``[0, b]`` (``b·σ(φ)``; the authors' ``r_multiplier = 2``).
INCENTIVE_BOUND = 2.0


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis (max-shifted)."""
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _rows(game: TabularMarkovGame, name: str, values) -> list[np.ndarray]:
    if game.n_states != 1 or game.horizon != 1:
        raise InvalidInstanceError("game", f"the closed form needs S = 1 and horizon = 1, got S = {game.n_states}, "
                                   f"horizon = {game.horizon}")
    if len(values) != game.n_agents:
        raise InvalidInstanceError(name, f"needs one entry per agent ({game.n_agents}), got {len(values)}")
    out = []
    for i, v in enumerate(values):
        v = np.asarray(v, dtype=float).reshape(-1)
        if v.shape != (game.n_actions[i],) or not np.isfinite(v).all():
            raise InvalidInstanceError(f"{name}[{i}]", f"must hold {game.n_actions[i]} finite numbers")
        out.append(v)
    return out


def incentives(phi, bound: float = INCENTIVE_BOUND) -> list[np.ndarray]:
    """``η_i = b·σ(φ_i)`` per agent."""
    return [bound * _sigmoid(np.asarray(p, dtype=float)) for p in phi]


def marginal(table: np.ndarray, probs: list[np.ndarray], i: int) -> np.ndarray:
    """``(K_i,)``: ``table`` (shape ``(K_0, ..., K_{n-1})``) averaged over every agent but ``i``
    under the independent ``probs``."""
    t = np.moveaxis(table, i, 0)
    others = [p for j, p in enumerate(probs) if j != i]
    for p in reversed(others):      # contract the last axis each time
        t = t @ p
    return t


def _tables(game: TabularMarkovGame) -> np.ndarray:
    """``(n, K_0, ..., K_{n-1})``: each agent's reward as a tensor over the joint action."""
    return np.moveaxis(game.rewards[0], -1, 0).reshape((game.n_agents,) + game.n_actions)


def policy_gradient(theta, phi, game: TabularMarkovGame, bound: float = INCENTIVE_BOUND) -> list[np.ndarray]:
    """``∇_{θ_i} J_i(θ; r + η) = π_i ⊙ (Q_i − π_iᵀ Q_i)`` for every agent ``i``."""
    th, ph = _rows(game, "theta", theta), _rows(game, "phi", phi)
    pis, etas, r = [softmax(t) for t in th], incentives(ph, bound), _tables(game)
    out = []
    for i in range(game.n_agents):
        Q = marginal(r[i], pis, i) + etas[i]
        out.append(pis[i] * (Q - pis[i] @ Q))
    return out


def lookahead(theta, phi, game: TabularMarkovGame, alpha: float, bound: float = INCENTIVE_BOUND) -> list[np.ndarray]:
    """``θ̂_i = θ_i + α ∇_{θ_i} J_i(θ; r + η_φ)`` per agent (shape ``(K_i,)``)."""
    th = _rows(game, "theta", theta)
    return [t + alpha * g for t, g in zip(th, policy_gradient(theta, phi, game, bound))]


def objective(theta, phi, game: TabularMarkovGame, alpha: float, cost_weight: float,
              bound: float = INCENTIVE_BOUND) -> float:
    """``F(φ) = W(θ̂) − c Σ_i π̂_iᵀ η_i`` (module docstring)."""
    pis_hat = [softmax(t) for t in lookahead(theta, phi, game, alpha, bound)]
    etas = incentives(_rows(game, "phi", phi), bound)
    welfare = _tables(game).sum(axis=0)
    W = float(pis_hat[0] @ marginal(welfare, pis_hat, 0))
    return W - cost_weight * float(sum(p @ e for p, e in zip(pis_hat, etas)))


def objective_gradient(theta, phi, game: TabularMarkovGame, alpha: float, cost_weight: float,
                       bound: float = INCENTIVE_BOUND) -> list[np.ndarray]:
    """``∂F/∂φ_i = (−c π̂_i + α M_i M̂_i (w_i − c η_i)) ⊙ b σ(φ_i)(1 − σ(φ_i))`` per agent."""
    ph = _rows(game, "phi", phi)
    pis = [softmax(t) for t in _rows(game, "theta", theta)]
    pis_hat = [softmax(t) for t in lookahead(theta, phi, game, alpha, bound)]
    sig = [_sigmoid(p) for p in ph]
    etas = [bound * s for s in sig]
    welfare = _tables(game).sum(axis=0)
    out = []
    for i in range(game.n_agents):
        u = marginal(welfare, pis_hat, i) - cost_weight * etas[i]
        p, q = pis[i], pis_hat[i]
        dtheta_hat = q * (u - q @ u)                      # M̂_i u
        d_eta = -cost_weight * q + alpha * p * (dtheta_hat - p @ dtheta_hat)   # + α M_i (M̂_i u)
        out.append(d_eta * bound * sig[i] * (1.0 - sig[i]))
    return out
