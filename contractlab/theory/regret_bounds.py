"""Regret bounds of no-regret learners and the equilibrium bounds of self-play, as sympy expressions.

Each bound is written once, as a sympy expression in the module's named symbols, together
with its source, the quantity it bounds and the assumptions under which it holds. A checker
evaluates it numerically (:meth:`RegretBound.evaluate` for one point, exactly and then rounded
once; :meth:`RegretBound.numpy_function` for arrays, through ``lambdify``); a report prints it
(:meth:`RegretBound.describe`, :meth:`RegretBound.latex`). Bounds for a tuned learning rate are
*derived* from the general-η bound by substituting the tuned rate (never typed twice);
``tests/test_regret_bounds.py`` checks that the derived forms equal the ones the sources state
and that the tuned rates minimise the general bounds.

Notation: ``T`` rounds, ``K`` actions (experts, arms), losses in ``[0, 1]`` unless said
otherwise; the regret of a learner playing mixed strategies ``p_t`` against losses ``ℓ_t`` is
``R(T) = Σ_t <p_t, ℓ_t> − min_i Σ_t ℓ_{t,i}`` (its expected loss against the best fixed action
in hindsight).

Contents (:data:`REGRET_BOUNDS`, by name)
-----------------------------------------
* ``hedge`` — exponential weights with learning rate η: ``ln K/η + η T/8``; ``hedge_tuned`` —
  with ``η = sqrt(8 ln K/T)``: ``sqrt(T ln K/2)``. Cesa-Bianchi & Lugosi, *Prediction, Learning,
  and Games* (2006), Theorem 2.2.
* ``regret_matching`` — ``Δ sqrt(K T)`` with ``Δ`` the per-round spread of the losses.
  Hart & Mas-Colell (2000); Cesa-Bianchi & Lugosi (2006), Corollary 2.1 with ``p = 2`` (the
  polynomially weighted forecaster with ``p = 2`` is regret matching). Proof: Blackwell's
  potential ``‖R_t^+‖²`` grows by at most ``‖r_t‖² <= K Δ²`` per round.
* ``regret_matching_plus`` — the same ``Δ sqrt(K T)``; Tammelin, Burch, Johanson & Bowling,
  *Solving heads-up limit Texas hold'em* (IJCAI 2015), Theorem 1 (proof in Tammelin 2014,
  arXiv:1407.5042).
* ``exp3`` — ``ln K/η + η T K/2`` for any η > 0 (the last display of the proof of Lattimore &
  Szepesvári, *Bandit Algorithms* (2020), Theorem 11.2, eq. (11.15) after expectations);
  ``exp3_tuned`` — with ``η = sqrt(2 ln K/(T K))``: ``sqrt(2 T K ln K)`` (Theorem 11.2 itself).
* ``ucb1`` — ``Σ_{i: Δ_i>0} 8 ln T/Δ_i + (1 + π²/3) Σ_i Δ_i`` (Auer, Cesa-Bianchi & Fischer,
  *Finite-time analysis of the multiarmed bandit problem*, Machine Learning 47, 2002, Theorem 1).
* ``cce_from_regret`` — the empirical distribution of play of ``T`` rounds in which the two
  players' regrets are ``R_1, R_2`` is an ``ε``-coarse correlated equilibrium with
  ``ε = max(R_1, R_2)/T`` (Hart & Mas-Colell 2000; Cesa-Bianchi & Lugosi 2006, Section 7.4).
* ``zero_sum_duality_gap`` — in a two-player zero-sum game the average strategies of ``T``
  rounds have duality gap at most ``(R_1 + R_2)/T`` (Freund & Schapire, *Adaptive game playing
  using multiplicative weights*, Games and Economic Behavior 29, 1999).

Only sympy and numpy are imported (and :mod:`.errors`, :mod:`.closed_forms` of this layer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
import math
from typing import Any, Callable, Mapping

import numpy as np
import sympy

from .closed_forms import exact
from .errors import InvalidInstanceError

# --------------------------------------------------------------------------------------
# Symbols (module constants; :meth:`RegretBound.evaluate` takes values by these names)
# --------------------------------------------------------------------------------------

#: Number of rounds (the horizon).
T = sympy.Symbol("T", positive=True, integer=True)
#: Number of actions (experts, arms).
K = sympy.Symbol("K", positive=True, integer=True)
#: Learning rate.
eta = sympy.Symbol("eta", positive=True)
#: Spread of one round's losses, ``max_i ℓ_{t,i} − min_i ℓ_{t,i} <= Δ`` (the loss range).
Delta = sympy.Symbol("Delta", positive=True)
#: Gaps ``Δ_i = μ* − μ_i > 0`` of the suboptimal arms, ``i = 1..m`` (UCB1).
gaps = sympy.IndexedBase("Delta", positive=True)
#: Number of suboptimal arms (the length of ``gaps``; set from the array given to ``evaluate``).
m = sympy.Symbol("m", positive=True, integer=True)
#: Summation index over the suboptimal arms.
i = sympy.Idx("i")
#: Cumulative (external) regrets of player 1 and player 2 after ``T`` rounds (may be negative).
R_1, R_2 = sympy.symbols("R_1 R_2", real=True)


# --------------------------------------------------------------------------------------
# The record
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RegretBound:
    """One bound: ``quantity <= expression`` under ``assumptions``, from ``source``.

    ``symbols`` are the expression's inputs, in the order :meth:`numpy_function` takes them;
    :meth:`evaluate` takes them by name (``str(symbol)``). An ``IndexedBase`` among them is a
    vector input; ``lengths`` maps it to the symbol of its length, which ``evaluate`` sets from
    the array it is given. ``tuned_learning_rate`` is the source's tuned rate (an expression in
    the other symbols) when the bound has a learning rate, else ``None``.
    """

    name: str
    expression: sympy.Expr
    symbols: tuple[Any, ...]
    quantity: str
    source: str
    assumptions: str
    tuned_learning_rate: sympy.Expr | None = None
    lengths: Mapping[Any, sympy.Symbol] = field(default_factory=dict)

    def evaluate(self, **values: Any) -> float:
        """The bound at ``values`` (by symbol name), computed exactly and rounded once.

        Floats are turned into exact rationals (:func:`closed_forms.exact`). Raises
        :class:`InvalidInstanceError` naming the symbol for a missing, unknown or out-of-domain
        value (e.g. ``T <= 0``, a non-integer ``K``, a gap ``<= 0``).
        """
        subs = _substitutions(self, values)
        expr = self.expression
        for base, length in self.lengths.items():
            expr = expr.subs(length, subs.pop(length)).doit()
        out = expr.subs(subs)
        if out.free_symbols:
            names = ", ".join(sorted(str(s) for s in out.free_symbols))
            raise InvalidInstanceError("values", f"{self.name}: no value given for {names}")
        return float(sympy.N(out, 30))

    def learning_rate(self, **values: Any) -> float:
        """The tuned learning rate at ``values``; ``ValueError`` if the bound has none."""
        if self.tuned_learning_rate is None:
            raise InvalidInstanceError("tuned_learning_rate", f"{self.name} has no learning rate")
        syms = tuple(s for s in self.symbols if s in self.tuned_learning_rate.free_symbols)
        rate = RegretBound(self.name, self.tuned_learning_rate, syms, "learning rate", self.source, "")
        return rate.evaluate(**{k: v for k, v in values.items() if k in {str(s) for s in syms}})

    def numpy_function(self) -> Callable[..., Any]:
        """``lambdify`` of the expression: a numpy function of ``symbols`` (positional, in order).

        Scalar inputs broadcast as numpy arrays; a vector input (an ``IndexedBase``, e.g. the
        UCB1 gaps) is a 1-D array of one instance, its length taken from the array.
        """
        fn = sympy.lambdify(tuple(self.symbols) + tuple(self.lengths.values()), self.expression,
                            modules="numpy")
        vectors = [k for k, s in enumerate(self.symbols) if s in self.lengths]

        def call(*args: Any) -> Any:
            if len(args) != len(self.symbols):
                raise TypeError(f"{self.name}: expected {len(self.symbols)} arguments "
                                f"({', '.join(map(str, self.symbols))}), got {len(args)}")
            args = list(args)
            sizes = []
            for k in vectors:           # sympy's Sum is 1-based: pad index 0
                vec = np.asarray(args[k], dtype=float).ravel()
                sizes.append(vec.size)
                args[k] = np.concatenate([[np.nan], vec])
            return fn(*args, *sizes)

        return call

    def latex(self) -> str:
        """The bound's expression in LaTeX."""
        return sympy.latex(self.expression)

    def describe(self) -> str:
        """One line for a report: ``name: quantity <= expression  [source]``."""
        return f"{self.name}: {self.quantity} <= {self.expression}  [{self.source}]"


def _substitutions(bound: RegretBound, values: Mapping[str, Any]) -> dict:
    """Exact sympy substitutions for ``values``, checked against each symbol's domain."""
    by_name = {str(s): s for s in bound.symbols}
    unknown = sorted(set(values) - set(by_name))
    if unknown:
        raise InvalidInstanceError(unknown[0], f"{bound.name} has no symbol {unknown[0]!r}; "
                                   f"its symbols are {', '.join(by_name)}")
    subs: dict = {}
    for name, sym in by_name.items():
        if name not in values:
            raise InvalidInstanceError(name, f"{bound.name}: no value given")
        if sym in bound.lengths:
            vec = np.asarray(values[name], dtype=float).ravel()
            if vec.size == 0:
                raise InvalidInstanceError(name, f"{bound.name}: needs at least one entry")
            for k, v in enumerate(vec):
                subs[sym[k + 1]] = _exact_value(name, v, sym, index=k)
            subs[bound.lengths[sym]] = vec.size
        else:
            subs[sym] = _exact_value(name, values[name], sym)
    return subs


def _exact_value(name: str, value: Any, sym: Any, index: int | None = None) -> sympy.Rational:
    """``value`` as an exact rational, after checking the symbol's assumptions."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InvalidInstanceError(name, f"not a number: {value!r}", index) from None
    if not math.isfinite(v):
        raise InvalidInstanceError(name, f"must be finite, got {v}", index)
    if sym.is_positive and not v > 0:
        raise InvalidInstanceError(name, f"must be > 0, got {v}", index)
    if sym.is_integer and v != int(v):
        raise InvalidInstanceError(name, f"must be an integer, got {v}", index)
    return exact(v)


# --------------------------------------------------------------------------------------
# The bounds
# --------------------------------------------------------------------------------------

def _tuned(expression: sympy.Expr, rate: sympy.Expr) -> sympy.Expr:
    """The bound at the tuned learning rate (substituted, then simplified)."""
    return sympy.simplify(expression.subs(eta, rate))


_CBL = "Cesa-Bianchi & Lugosi, Prediction, Learning, and Games (2006)"
_LS = "Lattimore & Szepesvari, Bandit Algorithms (2020)"

#: Hedge (exponentially weighted average forecaster) with learning rate η.
HEDGE = RegretBound(
    "hedge", sympy.log(K) / eta + eta * T / 8, (T, K, eta),
    "R(T) = sum_t <p_t, l_t> - min_i L_{T,i}",
    f"{_CBL}, Theorem 2.2",
    "losses in [0, 1] (any sequence, chosen by an adaptive adversary too); p_t proportional to "
    "exp(-eta L_{t-1,i}); holds for every eta > 0 and every T",
    tuned_learning_rate=sympy.sqrt(8 * sympy.log(K) / T))

#: Hedge with the horizon-tuned rate ``η = sqrt(8 ln K/T)`` (``T`` known in advance).
HEDGE_TUNED = RegretBound(
    "hedge_tuned", _tuned(HEDGE.expression, HEDGE.tuned_learning_rate), (T, K),
    HEDGE.quantity, f"{_CBL}, Theorem 2.2 (with eta = sqrt(8 ln K / T))",
    "as hedge, with eta = sqrt(8 ln K / T) for the horizon T known in advance",
    tuned_learning_rate=HEDGE.tuned_learning_rate)

#: Regret matching (Hart & Mas-Colell): ``p_t ∝ (R_{t-1})^+``, uniform when all are <= 0.
REGRET_MATCHING = RegretBound(
    "regret_matching", Delta * sympy.sqrt(K * T), (T, K, Delta),
    "R(T) = max_i sum_t (<p_t, l_t> - l_{t,i})",
    "Hart & Mas-Colell, Econometrica 68 (2000); "
    f"{_CBL}, Corollary 2.1 with p = 2 (regret matching is the p = 2 polynomially weighted "
    "forecaster; for losses in [0, 1] the bound is sqrt(T K)) and Section 7.4",
    "each round's losses lie in an interval of length Delta (so every instantaneous regret "
    "<p_t, l_t> - l_{t,i} lies in [-Delta, Delta]); any sequence; no parameter")

#: Regret matching+ (RM+): the cumulative regrets are clipped at 0 after every round.
REGRET_MATCHING_PLUS = RegretBound(
    "regret_matching_plus", REGRET_MATCHING.expression, (T, K, Delta),
    REGRET_MATCHING.quantity,
    "Tammelin, Burch, Johanson & Bowling, IJCAI 2015, Theorem 1 (proof: Tammelin 2014, "
    "arXiv:1407.5042): the clipped regrets Q_T >= R_T satisfy ||Q_T||_2 <= Delta sqrt(K T)",
    REGRET_MATCHING.assumptions)

#: EXP3 (bandit feedback) with learning rate η.
EXP3 = RegretBound(
    "exp3", sympy.log(K) / eta + eta * T * K / 2, (T, K, eta),
    "expected regret E[R(T)] = max_i E[sum_t x_{t,i} - sum_t x_{t,A_t}] (rewards x)",
    f"{_LS}, proof of Theorem 11.2, eq. (11.15) after taking expectations",
    "rewards in [0, 1] chosen by an oblivious adversary; Exp3 with the loss-based "
    "importance-weighted estimator 1 - 1{A_t = i}(1 - x_{t,i})/P_{t,i}; every eta > 0",
    tuned_learning_rate=sympy.sqrt(2 * sympy.log(K) / (T * K)))

#: EXP3 with the learning rate of Lattimore & Szepesvári's Theorem 11.2.
EXP3_TUNED = RegretBound(
    "exp3_tuned", _tuned(EXP3.expression, EXP3.tuned_learning_rate), (T, K),
    EXP3.quantity, f"{_LS}, Theorem 11.2 (eta = sqrt(2 ln K / (T K)))",
    "as exp3, with eta = sqrt(2 ln K / (T K)) for the horizon T known in advance",
    tuned_learning_rate=EXP3.tuned_learning_rate)

#: UCB1 (index ``x̄_j + sqrt(2 ln t / n_j)``): gap-dependent pseudo-regret.
UCB1 = RegretBound(
    "ucb1",
    sympy.Sum(8 * sympy.log(T) / gaps[i] + (1 + sympy.pi ** 2 / 3) * gaps[i], (i, 1, m)),
    (T, gaps),
    "pseudo-regret sum_j Delta_j E[n_j(T)] (n_j(T): plays of arm j in T rounds)",
    "Auer, Cesa-Bianchi & Fischer, Machine Learning 47 (2002), Theorem 1",
    "K > 1 arms with reward distributions supported in [0, 1]; Delta = the gaps mu* - mu_i of "
    "the suboptimal arms only (Delta_i > 0; arms with gap 0 add 0 to the second sum and are "
    "left out of the first, see suboptimality_gaps); every T >= 1",
    lengths={gaps: m})

#: ``ε`` of the coarse correlated equilibrium reached by two no-regret players.
CCE_FROM_REGRET = RegretBound(
    "cce_from_regret", sympy.Max(R_1, R_2) / T, (T, R_1, R_2),
    "eps = max_{i, a'} E_sigma[u_i(a', a_-i)] - E_sigma[u_i(a)] of the empirical play "
    "sigma_T = (1/T) sum_t p_{1,t} x p_{2,t} (sigma_T is an eps-CCE)",
    "Hart & Mas-Colell, Econometrica 68 (2000) (unconditional regrets: the Hannan set); "
    f"{_CBL}, Section 7.4",
    "finite game; R_i = max_a' sum_t u_i(a', p_-i,t) - sum_t u_i(p_t), player i's external "
    "regret in utility against the other's mixed strategies (or the realised actions, with "
    "sigma_T their empirical distribution); n players: eps = max_i R_i / T",
)

#: Duality gap of the average strategies of two no-regret players in a zero-sum game.
ZERO_SUM_DUALITY_GAP = RegretBound(
    "zero_sum_duality_gap", (R_1 + R_2) / T, (T, R_1, R_2),
    "max_q pbar' M q - min_p p' M qbar (duality gap of the averages pbar, qbar)",
    "Freund & Schapire, Adaptive game playing using multiplicative weights, Games and "
    "Economic Behavior 29 (1999) (the regret proof of the minimax theorem)",
    "two-player zero-sum game, row player minimises p' M q, column maximises; R_1, R_2 their "
    "regrets against each other's mixed strategies: (1/T) sum p_t' M q_t <= min_p p' M qbar "
    "+ R_1/T and >= max_q pbar' M q - R_2/T")

#: Every bound, by name.
REGRET_BOUNDS: dict[str, RegretBound] = {b.name: b for b in (
    HEDGE, HEDGE_TUNED, REGRET_MATCHING, REGRET_MATCHING_PLUS, EXP3, EXP3_TUNED, UCB1,
    CCE_FROM_REGRET, ZERO_SUM_DUALITY_GAP)}


def get_bound(name: str) -> RegretBound:
    """The bound called ``name``; ``KeyError`` listing the known names otherwise."""
    if name not in REGRET_BOUNDS:
        raise KeyError(f"unknown regret bound {name!r}; known: {', '.join(REGRET_BOUNDS)}")
    return REGRET_BOUNDS[name]


def suboptimality_gaps(means: Any) -> np.ndarray:
    """The gaps ``Δ_i = max_j μ_j − μ_i`` of the suboptimal arms (``Δ_i > 0``) of mean rewards
    ``means``: the vector :data:`UCB1` sums over (Auer et al. 2002, Theorem 1)."""
    mu = np.asarray(means, dtype=float).ravel()
    if mu.size < 2 or not np.all(np.isfinite(mu)):
        raise InvalidInstanceError("means", "needs at least two finite arm means")
    gap = mu.max() - mu
    return gap[gap > 0]
