"""The regret bounds of ``theory/regret_bounds.py``: hand-computed values, the tuned learning
rates (sympy), the registry's contract, and the bounds holding on small numpy learners.

The learners here (Hedge, regret matching, RM+) are small independent numpy implementations,
written for these tests only.
"""

import math

import numpy as np
import pytest
import sympy

from contractlab.theory import regret_bounds as rb
from contractlab.theory.errors import InvalidInstanceError

REL = 1e-12


# --------------------------------------------------------------------------------------
# Hand-computed values
# --------------------------------------------------------------------------------------

HAND = [
    # name, values, the value computed by hand from the source's formula
    ("hedge", dict(T=100, K=2, eta=0.5), math.log(2) / 0.5 + 0.5 * 100 / 8),          # 7.6363
    ("hedge_tuned", dict(T=100, K=2), math.sqrt(100 * math.log(2) / 2)),                # 5.8871
    ("regret_matching", dict(T=100, K=4, Delta=2), 2 * math.sqrt(4 * 100)),            # 40
    ("regret_matching_plus", dict(T=100, K=4, Delta=2), 40.0),
    ("exp3", dict(T=100, K=4, eta=0.1), math.log(4) / 0.1 + 0.1 * 100 * 4 / 2),       # 33.863
    ("exp3_tuned", dict(T=100, K=4), math.sqrt(2 * 100 * 4 * math.log(4))),           # 33.302
    ("ucb1", dict(T=1000, Delta=[0.1, 0.2, 0.5]),
     8 * math.log(1000) * (10 + 5 + 2) + (1 + math.pi ** 2 / 3) * 0.8),                # 942.89
    ("cce_from_regret", dict(T=10, R_1=-3, R_2=2), 0.2),
    ("zero_sum_duality_gap", dict(T=10, R_1=3, R_2=2), 0.5),
]


@pytest.mark.parametrize("name, values, expected", HAND, ids=[h[0] for h in HAND])
def test_value_by_hand(name, values, expected):
    assert rb.get_bound(name).evaluate(**values) == pytest.approx(expected, rel=REL)


@pytest.mark.parametrize("name, values, expected", HAND, ids=[h[0] for h in HAND])
def test_numpy_function_agrees_with_evaluate(name, values, expected):
    bound = rb.get_bound(name)
    args = [values[str(s)] for s in bound.symbols]
    assert float(bound.numpy_function()(*args)) == pytest.approx(expected, rel=1e-12)


def test_numpy_function_broadcasts():
    T = np.array([100, 1000, 10000])
    K = np.array([2, 5, 10])
    out = rb.HEDGE_TUNED.numpy_function()(T, K)
    assert out.shape == (3,)
    assert np.allclose(out, np.sqrt(T * np.log(K) / 2), rtol=1e-13)


def test_ucb1_gaps_from_means_leave_out_the_optimal_arms():
    gaps = rb.suboptimality_gaps([0.9, 0.4, 0.9, 0.7])
    assert np.allclose(np.sort(gaps), [0.2, 0.5])
    by_hand = 8 * math.log(50) * (1 / 0.2 + 1 / 0.5) + (1 + math.pi ** 2 / 3) * 0.7
    assert rb.UCB1.evaluate(T=50, Delta=gaps) == pytest.approx(by_hand, rel=REL)


# --------------------------------------------------------------------------------------
# Tuned learning rates (sympy)
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("general, tuned, stated", [
    (rb.HEDGE, rb.HEDGE_TUNED, sympy.sqrt(rb.T * sympy.log(rb.K) / 2)),           # CBL Thm 2.2
    (rb.EXP3, rb.EXP3_TUNED, sympy.sqrt(2 * rb.T * rb.K * sympy.log(rb.K))),     # L&S Thm 11.2
], ids=["hedge", "exp3"])
def test_tuned_rate_minimises_the_general_bound(general, tuned, stated):
    expr, rate = general.expression, general.tuned_learning_rate
    # the only stationary point in eta > 0 is the stated rate ...
    stationary = sympy.solve(sympy.diff(expr, rb.eta), rb.eta)
    assert len(stationary) == 1 and sympy.simplify(stationary[0] - rate) == 0
    # ... and it is a minimum (the bound is convex in eta: 2 ln K / eta^3 > 0 for K >= 2)
    second = sympy.diff(expr, rb.eta, 2).subs(rb.eta, rate)
    for T, K in [(10, 2), (1000, 7), (10 ** 6, 100)]:
        assert float(second.subs({rb.T: T, rb.K: K})) > 0
    # the tuned bound is the general one at the rate, and equals the source's closed form
    assert sympy.simplify(tuned.expression - stated) == 0
    assert sympy.simplify(expr.subs(rb.eta, rate) - stated) == 0
    assert tuned.tuned_learning_rate == rate


@pytest.mark.parametrize("general, tuned", [(rb.HEDGE, rb.HEDGE_TUNED), (rb.EXP3, rb.EXP3_TUNED)],
                         ids=["hedge", "exp3"])
def test_tuned_rate_beats_nearby_rates_numerically(general, tuned):
    for T, K in [(50, 2), (1000, 5), (123456, 31)]:
        eta_star = general.learning_rate(T=T, K=K)
        best = tuned.evaluate(T=T, K=K)
        assert general.evaluate(T=T, K=K, eta=eta_star) == pytest.approx(best, rel=1e-12)
        for factor in (0.5, 0.9, 1.1, 2.0):
            assert general.evaluate(T=T, K=K, eta=factor * eta_star) > best


def test_learning_rate_values_and_absence():
    assert rb.HEDGE.learning_rate(T=100, K=2) == pytest.approx(math.sqrt(8 * math.log(2) / 100), rel=REL)
    assert rb.EXP3_TUNED.learning_rate(T=100, K=4) == pytest.approx(math.sqrt(2 * math.log(4) / 400), rel=REL)
    with pytest.raises(ValueError, match="tuned_learning_rate"):
        rb.REGRET_MATCHING.learning_rate(T=100, K=2, Delta=1)


# --------------------------------------------------------------------------------------
# The registry's contract
# --------------------------------------------------------------------------------------

def test_registry_records_are_complete():
    assert set(rb.REGRET_BOUNDS) == {"hedge", "hedge_tuned", "regret_matching", "regret_matching_plus",
                                     "exp3", "exp3_tuned", "ucb1", "cce_from_regret",
                                     "zero_sum_duality_gap"}
    for name, bound in rb.REGRET_BOUNDS.items():
        assert bound.name == name and bound.source and bound.assumptions and bound.quantity
        declared = set(bound.symbols) | set(bound.lengths.values())
        free = {s for s in bound.expression.free_symbols if not isinstance(s, sympy.Indexed)}
        free -= {rb.i}
        assert free <= declared | {rb.gaps.label}, name
        assert str(bound.expression) in bound.describe() and bound.source in bound.describe()
        assert bound.latex() == sympy.latex(bound.expression)
    assert "Theorem 2.2" in rb.HEDGE.source and "Theorem 11.2" in rb.EXP3_TUNED.source
    assert "Theorem 1" in rb.UCB1.source and "Tammelin" in rb.REGRET_MATCHING_PLUS.source
    with pytest.raises(KeyError, match="known"):
        rb.get_bound("nope")


@pytest.mark.parametrize("bound, values, field", [
    (rb.HEDGE, dict(T=100, K=2), "eta"),                         # missing
    (rb.HEDGE, dict(T=100, K=2, eta=0.1, x=1), "x"),             # unknown
    (rb.HEDGE, dict(T=0, K=2, eta=0.1), "T"),                    # T > 0
    (rb.HEDGE_TUNED, dict(T=100, K=2.5), "K"),                    # integer
    (rb.HEDGE, dict(T=100, K=2, eta=-1), "eta"),
    (rb.REGRET_MATCHING, dict(T=100, K=2, Delta=math.inf), "Delta"),
    (rb.UCB1, dict(T=100, Delta=[0.1, 0.0]), "Delta"),           # gaps > 0
    (rb.UCB1, dict(T=100, Delta=[]), "Delta"),
])
def test_evaluate_rejects_bad_values_naming_the_symbol(bound, values, field):
    with pytest.raises(InvalidInstanceError) as info:
        bound.evaluate(**values)
    assert info.value.field == field
    assert isinstance(info.value, ValueError)


# --------------------------------------------------------------------------------------
# The bounds hold on small independent learners (numpy)
# --------------------------------------------------------------------------------------

def _hedge_regret(losses, eta):
    """Expected-loss regret of Hedge on one loss sequence ``(T, K)``."""
    prev = np.vstack([np.zeros(losses.shape[1]), np.cumsum(losses, axis=0)[:-1]])
    w = np.exp(-eta * (prev - prev.min(axis=1, keepdims=True)))
    p = w / w.sum(axis=1, keepdims=True)
    return float(np.sum(p * losses) - losses.sum(axis=0).min())


def _regret_matching_regret(losses, plus):
    """Regret of regret matching (or RM+ with ``plus``) on ``(T, K)`` losses."""
    T, K = losses.shape
    Q = np.zeros(K)
    learner = 0.0
    for t in range(T):
        pos = np.maximum(Q, 0)
        p = pos / pos.sum() if pos.sum() > 0 else np.full(K, 1 / K)
        loss = p @ losses[t]
        learner += loss
        Q = Q + (loss - losses[t])
        if plus:
            Q = np.maximum(Q, 0)
    return float(learner - losses.sum(axis=0).min())


def _alternating(T, K):
    """``ℓ_1 = (1/2, 0, 1, ...)``, then ``(0, 1, 1, ...)``, ``(1, 0, 1, ...)``, ..."""
    L = np.ones((T, K))
    L[:, 0] = np.arange(T) % 2 == 0
    L[:, 1] = 1 - L[:, 0]
    L[0, :2] = (0.5, 0.0)
    return L


@pytest.mark.parametrize("K", [2, 3, 10])
def test_hedge_regret_within_its_bounds(K):
    rng = np.random.default_rng(K)
    T = 2000
    for losses in (rng.random((T, K)), _alternating(T, K), (rng.random((T, K)) < 0.5) * 1.0):
        eta_star = rb.HEDGE.learning_rate(T=T, K=K)
        assert _hedge_regret(losses, eta_star) <= rb.HEDGE_TUNED.evaluate(T=T, K=K) + 1e-9
        for eta in (0.01, 0.3, 2.0):
            assert _hedge_regret(losses, eta) <= rb.HEDGE.evaluate(T=T, K=K, eta=eta) + 1e-9


@pytest.mark.parametrize("plus", [False, True], ids=["rm", "rm+"])
def test_regret_matching_within_delta_sqrt_kt(plus):
    rng = np.random.default_rng(1)
    T = 1000
    bound = rb.REGRET_MATCHING_PLUS if plus else rb.REGRET_MATCHING
    for K in (2, 5):
        for losses, spread in ((rng.random((T, K)), 1.0), (_alternating(T, K), 1.0),
                               (3 * rng.random((T, K)) - 1, 3.0)):        # losses in [-1, 2]
            assert _regret_matching_regret(losses, plus) <= bound.evaluate(T=T, K=K, Delta=spread) + 1e-9


def _self_play(A, B, T, eta):
    """Two Hedge players on utilities ``A`` (row) and ``B`` (column), each facing the other's
    mixed strategy; returns both regrets (in utility) and the sequences of strategies."""
    m, n = A.shape
    U1, U2 = np.zeros(m), np.zeros(n)
    P, Q = [], []
    for _ in range(T):
        p = np.exp(eta * (U1 - U1.max())); p /= p.sum()
        q = np.exp(eta * (U2 - U2.max())); q /= q.sum()
        P.append(p); Q.append(q)
        U1 += A @ q
        U2 += p @ B
    P, Q = np.array(P), np.array(Q)
    got1 = np.einsum("ti,ij,tj->", P, A, Q)
    got2 = np.einsum("ti,ij,tj->", P, B, Q)
    return U1.max() - got1, U2.max() - got2, P, Q


def test_cce_epsilon_of_self_play_is_max_regret_over_t():
    rng = np.random.default_rng(3)
    A, B = rng.random((3, 4)), rng.random((3, 4))
    T = 500
    R1, R2, P, Q = _self_play(A, B, T, eta=0.1)
    sigma = np.einsum("ti,tj->ij", P, Q) / T                 # (1/T) sum_t p_t x q_t
    eps1 = np.max(A @ sigma.sum(axis=0)) - np.sum(sigma * A)   # best deviation of player 1
    eps2 = np.max(sigma.sum(axis=1) @ B) - np.sum(sigma * B)
    bound = rb.CCE_FROM_REGRET.evaluate(T=T, R_1=R1, R_2=R2)
    assert max(eps1, eps2) <= bound + 1e-12
    assert max(eps1, eps2) == pytest.approx(bound, rel=1e-9)   # an identity for this sigma


def test_zero_sum_duality_gap_of_averages():
    rng = np.random.default_rng(4)
    M = rng.random((4, 3))               # row pays M (minimises), column receives it
    T = 800
    # row minimises M: as a utility player it maximises -M; column maximises M
    R1, R2, P, Q = _self_play(-M, M, T, eta=rb.HEDGE.learning_rate(T=T, K=4))
    pbar, qbar = P.mean(axis=0), Q.mean(axis=0)
    gap = np.max(pbar @ M) - np.min(M @ qbar)
    bound = rb.ZERO_SUM_DUALITY_GAP.evaluate(T=T, R_1=R1, R_2=R2)
    assert 0 <= gap <= bound + 1e-12
    assert gap == pytest.approx(bound, rel=1e-9)               # an identity for the averages
