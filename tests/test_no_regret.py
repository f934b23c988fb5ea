"""No-regret learners and adversaries (contractlab.learning.no_regret), checked against a naive
per-round reference written here in plain Python (lists and ``math``), against the sure regret
bounds of Hedge (Cesa-Bianchi & Lugosi 2006, Thm 2.2) and of regret matching / RM+
(``sqrt(K T)``), and for follow-the-leader's exact linear regret on its trap sequence. Plus:
reproducibility bit for bit (a seed alone or in a batch, any block size, either path, threads),
strategies that are distributions, and refusal of bad input.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from contractlab.learning.no_regret import (LEARNERS, Alternating, Bernoulli, Exp3, FixedSequence, FollowTheLeader,
                                            FTLTrap, Hedge, IIDUniform, PunishLastAction, PunishMostWeighted,
                                            RegretMatching, RegretMatchingPlus, Switching, UCB1,
                                            adaptive_adversaries, adversaries, oblivious_adversaries, run)
from contractlab.learning.no_regret.base import run_generators, sample_actions
from contractlab.theory.errors import InvalidInstanceError

#: Sums of at most a few hundred terms in [0, 1] computed in two orders agree to this.
TOL = 1e-9

unit = st.floats(0.0, 1.0, allow_nan=False)


def loss_matrices(max_rounds: int = 40, max_actions: int = 5):
    """A ``(T, K)`` list of lists of losses in [0, 1]."""
    return st.integers(1, max_actions).flatmap(lambda k: st.lists(
        st.lists(unit, min_size=k, max_size=k), min_size=1, max_size=max_rounds))


def learners(n_actions: int):
    """Any learner of the package with ``n_actions`` actions (fixed or tuned learning rates)."""
    eta = st.one_of(st.none(), st.floats(0.01, 5.0))
    return st.one_of(st.builds(Hedge, st.just(n_actions), eta), st.builds(Exp3, st.just(n_actions), eta),
                     st.just(UCB1(n_actions)), st.just(RegretMatching(n_actions)),
                     st.just(RegretMatchingPlus(n_actions)), st.just(FollowTheLeader(n_actions)))


def same_run(a, b) -> bool:
    """Two :class:`RegretRun` records equal bit for bit."""
    for name in ("horizons", "regret", "best_loss", "sampled_regret", "pseudo_regret"):
        x, y = getattr(a, name), getattr(b, name)
        if (x is None) != (y is None) or (x is not None and not np.array_equal(x, y)):
            return False
    return True


# --------------------------------------------------------------------------- the naive reference
# One run, one round at a time, Python floats and lists. It evaluates the same formulas as the
# library in the same order (weights, then their sum, then ratios), so that an adversary reacting
# to exact ties between probabilities (PunishMostWeighted) sees the same ties; everything else
# (indexing, broadcasting, blocks, batches, records) is independent.

def first_max(values):
    best = 0
    for i, v in enumerate(values):
        if v > values[best]:
            best = i
    return best


def draw_from(w, u):
    """The first action whose cumulative weight exceeds ``u`` times the total (the last if none)."""
    c = [w[0]]
    for x in w[1:]:
        c.append(c[-1] + x)
    for i, ci in enumerate(c):
        if u * c[-1] < ci:
            return i
    return len(w) - 1


class NaiveLearner:
    """One run of a learner: ``weights()`` for the coming round, then ``update``."""

    def __init__(self, learner, horizon):
        self.kind, self.K = type(learner).__name__, learner.n_actions
        K = self.K
        if self.kind == "Hedge":
            self.eta = learner.eta if learner.eta is not None else math.sqrt(8 * math.log(K) / horizon)
        if self.kind == "Exp3":
            self.eta = learner.eta if learner.eta is not None else math.sqrt(2 * math.log(K) / (horizon * K))
        self.L = [0.0] * K              # cumulative losses (Hedge, FTL) or estimates (EXP3)
        self.R = [0.0] * K              # cumulative regrets (RM, RM+)
        self.n = [0] * K                # UCB1 plays
        self.s = [0.0] * K              # UCB1 reward sums
        self.t = 0

    def weights(self):
        K = self.K
        if self.kind in ("Hedge", "Exp3"):
            m = min(self.L)
            return [math.exp(-self.eta * (x - m)) for x in self.L]
        if self.kind == "FollowTheLeader":
            w = [0.0] * K
            w[min(range(K), key=lambda i: (self.L[i], i))] = 1.0
            return w
        if self.kind in ("RegretMatching", "RegretMatchingPlus"):
            w = [max(r, 0.0) for r in self.R]
            return w if sum(w) > 0 else [1.0] * K
        if self.kind == "UCB1":
            w = [0.0] * K
            if self.t < K:
                w[self.t] = 1.0
            else:
                w[first_max([self.s[i] / self.n[i] + math.sqrt(2 * math.log(self.t) / self.n[i])
                             for i in range(K)])] = 1.0
            return w
        raise AssertionError(self.kind)

    def update(self, w, a, losses):
        K, W = self.K, sum(w)
        if self.kind in ("Hedge", "FollowTheLeader"):
            self.L = [self.L[i] + losses[i] for i in range(K)]
        elif self.kind == "Exp3":
            self.L[a] += losses[a] / (w[a] / W)
        elif self.kind in ("RegretMatching", "RegretMatchingPlus"):
            mixed = sum(w[i] * losses[i] for i in range(K)) / W
            self.R = [self.R[i] + (mixed - losses[i]) for i in range(K)]
            if self.kind == "RegretMatchingPlus":
                self.R = [max(r, 0.0) for r in self.R]
        elif self.kind == "UCB1":
            self.n[a] += 1
            self.s[a] += 1.0 - losses[a]
        self.t += 1


def naive_run(learner, adversary, horizon, seed):
    """Per round: cumulative mixed loss, played loss, best loss, pseudo gap sum (one seed)."""
    adv_rng, learner_rng = run_generators([seed])
    adv_rng, learner_rng = adv_rng[0], learner_rng[0]
    K = learner.n_actions
    oblivious = None
    if not adversary.adaptive:
        oblivious = np.asarray(adversary.draw(adversary.start([adv_rng]), horizon)[0], dtype=float).tolist()
    means = adversary.means()
    gaps = None if means is None else [float(m - min(means)) for m in means]
    me = NaiveLearner(learner, horizon)
    L = [0.0] * K
    mixed = played = pseudo = 0.0
    last = None
    out = {"mixed": [], "played": [], "best": [], "pseudo": []}
    for t in range(horizon):
        w = me.weights()
        W = sum(w)
        if oblivious is not None:
            losses = oblivious[t]
        else:
            noise = [x * adversary.noise for x in adv_rng.random(K).tolist()]
            if isinstance(adversary, PunishMostWeighted):
                target = first_max([x / W for x in w])
            else:
                target = 0 if last is None else last
            losses = [1.0 if i == target else noise[i] for i in range(K)]
        a = draw_from(w, float(learner_rng.random()))
        mixed += sum(w[i] * losses[i] for i in range(K)) / W
        played += losses[a]
        if gaps is not None:
            pseudo += gaps[a] if learner.feedback == "bandit" else sum(w[i] * gaps[i] for i in range(K)) / W
        me.update(w, a, losses)
        L = [L[i] + losses[i] for i in range(K)]
        for name, v in (("mixed", mixed), ("played", played), ("best", min(L)), ("pseudo", pseudo)):
            out[name].append(v)
        last = a
    return {k: np.array(v) for k, v in out.items()}


@given(data=st.data(), horizon=st.integers(1, 40), seed=st.integers(0, 2 ** 32))
def test_vectorised_equals_naive_reference(data, horizon, seed):
    """Every learner against every kind of adversary: the vectorised runner (batch of 3 seeds,
    odd block size) equals the per-round reference on each seed to floating tolerance — the
    regret of the mixed strategies, of the sampled / played actions, and the pseudo-regret."""
    K = data.draw(st.integers(2, 4))
    learner = data.draw(learners(K))
    adversary = data.draw(adversaries(K))
    seeds = [seed, seed + 1, 7]
    result = run(learner, adversary, horizon, seeds, sample=True, chunk=data.draw(st.integers(1, 9)))
    for r, s in enumerate(seeds):
        ref = naive_run(learner, adversary, horizon, s)
        np.testing.assert_allclose(result.best_loss[r], ref["best"], rtol=0, atol=TOL)
        if learner.feedback == "full":
            np.testing.assert_allclose(result.regret[r], ref["mixed"] - ref["best"], rtol=0, atol=TOL)
            np.testing.assert_allclose(result.sampled_regret[r], ref["played"] - ref["best"], rtol=0, atol=TOL)
        else:
            assert result.sampled_regret is None
            np.testing.assert_allclose(result.regret[r], ref["played"] - ref["best"], rtol=0, atol=TOL)
        if adversary.means() is not None:
            np.testing.assert_allclose(result.pseudo_regret[r], ref["pseudo"], rtol=0, atol=TOL)
        else:
            assert result.pseudo_regret is None


# --------------------------------------------------------------------------- sure bounds

@given(losses=loss_matrices(60), eta=st.one_of(st.none(), st.floats(0.01, 50.0)))
def test_hedge_regret_within_the_sure_bound(losses, eta):
    """Cesa-Bianchi & Lugosi (2006), Thm 2.2: for every loss sequence in [0, 1] and every round
    t, the regret of Hedge's mixed strategies is at most ln K / η + η t / 8."""
    T, K = len(losses), len(losses[0])
    hedge = Hedge(K, eta)
    result = run(hedge, FixedSequence(tuple(map(tuple, losses))), T)
    η = hedge.learning_rate(T)
    t = result.horizons
    bound = math.log(K) / η + η * t / 8 if K > 1 else 0.0 * t
    assert np.all(result.regret[0] <= bound + TOL)
    assert hedge.regret_bound(T) == pytest.approx(math.log(K) / η + η * T / 8 if K > 1 else 0.0)


@given(adversary=oblivious_adversaries(), horizon=st.integers(1, 200), eta=st.one_of(st.none(), st.floats(0.01, 50.0)),
       seed=st.integers(0, 1000))
def test_hedge_sure_bound_on_drawn_adversaries(adversary, horizon, eta, seed):
    """The same bound on the random oblivious adversaries of the package, for every seed of a batch."""
    K = adversary.n_actions
    hedge = Hedge(K, eta)
    η = hedge.learning_rate(horizon)
    result = run(hedge, adversary, horizon, seeds=[seed, seed + 1], chunk=7)
    assert np.all(result.regret <= math.log(K) / η + η * result.horizons / 8 + TOL)


@given(losses=loss_matrices(60), plus=st.booleans())
def test_regret_matching_within_sqrt_kt(losses, plus):
    """RM and RM+ (Blackwell's condition, module docstring of regret_matching): regret of the mixed
    strategies <= sqrt(K t) at every round t, on every loss sequence in [0, 1]."""
    T, K = len(losses), len(losses[0])
    learner = RegretMatchingPlus(K) if plus else RegretMatching(K)
    result = run(learner, FixedSequence(tuple(map(tuple, losses))), T)
    assert np.all(result.regret[0] <= np.sqrt(K * result.horizons) + TOL)


@given(adversary=adaptive_adversaries(), horizon=st.integers(1, 80), seed=st.integers(0, 100))
def test_sure_bounds_hold_against_adaptive_adversaries(adversary, horizon, seed):
    """The sure bounds hold for every sequence, so also for one that reacts to the learner's
    strategy or to its sampled actions: Hedge (tuned η) and RM / RM+ at every round."""
    K = adversary.n_actions
    t = np.arange(1, horizon + 1)
    hedge = Hedge(K)
    η = hedge.learning_rate(horizon)
    assert np.all(run(hedge, adversary, horizon, seed).regret[0] <= math.log(K) / η + η * t / 8 + TOL)
    for rm in (RegretMatching(K), RegretMatchingPlus(K)):
        assert np.all(run(rm, adversary, horizon, seed).regret[0] <= np.sqrt(K * t) + TOL)


def test_tuned_learning_rates():
    """Hedge: η = sqrt(8 ln K / T) (CBL Thm 2.2); EXP3: η = sqrt(2 ln K / (T K)) (L&S Thm 11.2),
    whose bound ln K/η + η T K/2 is then sqrt(2 T K ln K)."""
    assert Hedge(10).learning_rate(10 ** 6) == pytest.approx(math.sqrt(8 * math.log(10) / 10 ** 6))
    assert Hedge(10).regret_bound(10 ** 6) == pytest.approx(math.sqrt(10 ** 6 * math.log(10) / 2))
    assert Exp3(10).learning_rate(10 ** 5) == pytest.approx(math.sqrt(2 * math.log(10) / (10 ** 5 * 10)))
    assert Exp3(10).regret_bound(10 ** 5) == pytest.approx(math.sqrt(2 * 10 ** 5 * 10 * math.log(10)))
    assert Hedge(3, eta=0.5).learning_rate(7) == 0.5


# --------------------------------------------------------------------------- follow-the-leader

@given(K=st.integers(2, 6), horizon=st.integers(1, 120), chunk=st.integers(1, 50))
def test_ftl_pays_linear_regret_on_its_trap(K, horizon, chunk):
    """On FTLTrap FTL's regret after t rounds is exactly t (K − 1) / K (T/2 for K = 2; derivation in
    the FTLTrap docstring), in both paths; Hedge with the tuned η stays within its sure bound."""
    trap = FTLTrap(K)
    for path in ("blocks", "steps"):
        result = run(FollowTheLeader(K), trap, horizon, seeds=[0, 1], chunk=chunk, path=path)
        np.testing.assert_allclose(result.regret, np.broadcast_to(result.horizons * (K - 1) / K, (2, horizon)),
                                   rtol=0, atol=TOL)
        assert trap.ftl_regret(horizon) == pytest.approx(horizon * (K - 1) / K)
    hedge = run(Hedge(K), trap, horizon)
    assert hedge.regret[0, -1] <= Hedge(K).regret_bound(horizon) + TOL


def test_ftl_trap_sequence_for_two_actions():
    """The textbook sequence: (1/2, 0), then (0, 1), (1, 0), (0, 1), …"""
    losses = FTLTrap(2).draw(FTLTrap(2).start([np.random.default_rng(0)]), 5)[0]
    np.testing.assert_array_equal(losses, [[0.5, 0], [0, 1], [1, 0], [0, 1], [1, 0]])


# --------------------------------------------------------------------------- reproducibility

@given(data=st.data(), horizon=st.integers(1, 50))
def test_seed_alone_or_in_a_batch_any_chunk_any_path(data, horizon):
    """A seed's record is the same bit for bit alone or in a batch, for any block size, with
    threads, and (time-vectorised learner, oblivious adversary) on both paths."""
    K = data.draw(st.integers(2, 4))
    learner = data.draw(learners(K))
    adversary = data.draw(adversaries(K))
    seeds = data.draw(st.lists(st.integers(0, 1000), min_size=2, max_size=4, unique=True))
    record = sorted(data.draw(st.sets(st.integers(1, horizon), min_size=1)))
    base = run(learner, adversary, horizon, seeds, record=record, sample=True)
    assert same_run(base, run(learner, adversary, horizon, seeds, record=record, sample=True))
    assert same_run(base, run(learner, adversary, horizon, seeds, record=record, sample=True,
                              chunk=data.draw(st.integers(1, horizon)), workers=2))
    alone = run(learner, adversary, horizon, seeds[1], record=record, sample=True, chunk=data.draw(st.integers(1, 7)))
    assert np.array_equal(alone.regret[0], base.regret[1])
    assert np.array_equal(alone.best_loss[0], base.best_loss[1])
    if base.sampled_regret is not None:
        assert np.array_equal(alone.sampled_regret[0], base.sampled_regret[1])
    if learner.time_vectorised and not adversary.adaptive:
        for chunk in (1, horizon, data.draw(st.integers(1, horizon))):
            assert same_run(base, run(learner, adversary, horizon, seeds, record=record, sample=True,
                                      chunk=chunk, path="steps"))
            assert same_run(base, run(learner, adversary, horizon, seeds, record=record, sample=True,
                                      chunk=chunk, path="blocks"))


@given(adversary=oblivious_adversaries(), horizon=st.integers(1, 60), split=st.integers(1, 60))
def test_oblivious_draws_do_not_depend_on_the_block_split(adversary, horizon, split):
    """The losses of a run are the same drawn in one block or in two, and lie in [0, 1]."""
    split = min(split, horizon)
    one = adversary.draw(adversary.start(run_generators([3, 4])[0]), horizon)
    state = adversary.start(run_generators([3, 4])[0])
    first = adversary.draw(state, split).copy()          # the next draw may reuse the array
    two = np.concatenate([first, adversary.draw(state, horizon - split)], axis=1)
    assert one.shape == (2, horizon, adversary.n_actions)
    np.testing.assert_array_equal(one, two)
    assert np.all((one >= 0) & (one <= 1))


def test_hedge_chunked_equals_unchunked_at_scale():
    """A longer run (10 seeds × 5000 rounds, K = 10): blocks of 1, 333 and 5000 rounds and the
    round-by-round path give the same record bit for bit (tuned η: the shift is refreshed every
    526 rounds; η = 3: every 10)."""
    base = run(Hedge(10), IIDUniform(10), 5000, range(10), record=[1, 100, 4999, 5000], chunk=5000)
    for chunk in (333, 1):
        assert same_run(base, run(Hedge(10), IIDUniform(10), 5000, range(10), record=[1, 100, 4999, 5000],
                                  chunk=chunk))
    assert same_run(base, run(Hedge(10), IIDUniform(10), 5000, range(10), record=[1, 100, 4999, 5000],
                              path="steps"))
    # η = 3: the stabilising shift is refreshed every ⌊32/3⌋ = 10 rounds, across block boundaries
    fast = run(Hedge(10, eta=3.0), IIDUniform(10), 5000, range(10), chunk=5000)
    assert same_run(fast, run(Hedge(10, eta=3.0), IIDUniform(10), 5000, range(10), chunk=37))
    assert same_run(fast, run(Hedge(10, eta=3.0), IIDUniform(10), 5000, range(10), path="steps"))


@pytest.mark.parametrize("shape", [(1,), (2,), (1, 1), (3, 1), (1, 4), (100, 10), (7, 2, 1), (1, 1, 1)])
def test_running_sums_add_in_the_order_of_the_rounds(shape):
    """The runner's block sums equal a Python loop of additions bit for bit (whatever numpy's
    reduction order would be for the shape), which makes every record independent of the blocks."""
    from contractlab.learning.no_regret.run import _sequential_sum
    rng = np.random.default_rng(1)
    for n in (0, 1, 2, 17, 300):
        acc = rng.random(shape) * 1e3
        rows = rng.random((n, *shape)) * rng.random((n,) + (1,) * len(shape)) * 1e3
        expected = acc.copy()
        for row in rows:
            expected = expected + row
        assert np.array_equal(_sequential_sum(acc, rows), expected)


# --------------------------------------------------------------------------- strategies

@given(data=st.data(), horizon=st.integers(1, 30))
def test_strategies_are_distributions(data, horizon):
    """After any loss history, RM / RM+ (and every other learner) hand out weights that normalise
    to a probability vector: finite, non-negative, summing to 1."""
    K = data.draw(st.integers(1, 5))
    learner = data.draw(st.one_of(st.just(RegretMatching(K)), st.just(RegretMatchingPlus(K)), learners(K)))
    losses = np.array(data.draw(st.lists(st.lists(unit, min_size=K, max_size=K), min_size=horizon,
                                         max_size=horizon)))
    R = 2
    state = learner.start(R, horizon)
    runs = np.arange(R)
    u = np.random.default_rng(horizon).random((horizon, R))
    for t in range(horizon):
        p = learner.probabilities(state)
        assert p.shape == (R, K) and np.all(np.isfinite(p)) and np.all(p >= 0)
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-12)
        a = sample_actions(p, u[t])
        assert np.all(p[runs, a] > 0)
        ell = np.broadcast_to(losses[t], (R, K)).copy()
        learner.observe(state, a, ell[runs, a] if learner.feedback == "bandit" else ell)


def test_ucb1_tries_every_action_first_then_exploits():
    """UCB1 plays actions 0, 1, …, K − 1 in its first K rounds; on a wide-gap Bernoulli bandit its
    pseudo-regret stays within Theorem 1 of Auer et al. (2002) on average over 20 seeds."""
    K, T = 3, 2000
    means = (0.9, 0.1, 0.6)
    learner = UCB1(K)
    state = learner.start(1, T)
    for t in range(K):
        w = learner.weights(state)
        assert w[0].tolist() == [1.0 if i == t else 0.0 for i in range(K)]
        learner.observe(state, np.array([t]), np.array([0.5]))
    result = run(learner, Bernoulli(means), T, range(20), record=[T])
    # the bound is on the expectation; the mean of 20 seeds is far below it (slack > 3x here)
    assert result.pseudo_regret[:, -1].mean() <= learner.regret_bound(means, T)


def test_adaptive_adversary_punishes_deterministic_learners():
    """PunishMostWeighted deals FTL (deterministic) loss 1 in every round; Hedge keeps sublinear
    regret against it (its sure bound holds against any adversary, adaptive ones included)."""
    T, K = 200, 3
    ftl = run(FollowTheLeader(K), PunishMostWeighted(K), T)
    np.testing.assert_allclose(ftl.loss[0], np.arange(1, T + 1))
    hedge = run(Hedge(K), PunishMostWeighted(K, noise=0.5), T, seeds=range(3))
    assert np.all(hedge.regret[:, -1] <= Hedge(K).regret_bound(T) + TOL)
    last = run(Hedge(K), PunishLastAction(K), T, seeds=[0])
    assert last.sampled_regret is not None      # the adversary needs actions: they are sampled


def test_switching_has_one_good_action_per_round():
    adv = Switching(4, switch_prob=0.2, low=0.1, high=0.9)
    losses = adv.draw(adv.start(run_generators([0, 1])[0]), 300)
    assert np.all(np.sum(losses == 0.1, axis=-1) == 1) and np.all((losses == 0.1) | (losses == 0.9))
    changes = np.sum(np.argmin(losses[:, 1:], -1) != np.argmin(losses[:, :-1], -1))
    assert 0 < changes < 2 * 300 * 0.2          # redrawn about 0.2·(3/4) of the rounds


# --------------------------------------------------------------------------- bad input

def test_bad_input_is_refused():
    with pytest.raises(InvalidInstanceError, match="adversary"):
        run(Hedge(3), IIDUniform(4), 10)
    with pytest.raises(InvalidInstanceError, match="record"):
        run(Hedge(3), IIDUniform(3), 10, record=[0, 5])
    with pytest.raises(InvalidInstanceError, match="path"):
        run(Hedge(3), PunishMostWeighted(3), 10, path="blocks")
    with pytest.raises(InvalidInstanceError, match="path"):
        run(Exp3(3), IIDUniform(3), 10, path="blocks")
    with pytest.raises(InvalidInstanceError, match="eta"):
        Hedge(3, eta=0.0)
    with pytest.raises(InvalidInstanceError, match="mean_losses"):
        Bernoulli((0.5, 1.5))
    with pytest.raises(InvalidInstanceError, match="losses"):
        FixedSequence(((0.5, -0.1),))
    with pytest.raises(InvalidInstanceError, match="seeds"):
        run(Hedge(3), IIDUniform(3), 10, seeds=[-1])
    with pytest.raises(InvalidInstanceError, match="horizon"):
        run(Hedge(3), IIDUniform(3), 0)


def test_registry_of_learners():
    assert set(LEARNERS) == {"hedge", "exp3", "ucb1", "rm", "rm+", "ftl"}
    assert {cls(3).feedback for cls in LEARNERS.values()} == {"full", "bandit"}
    assert Alternating(2).draw(Alternating(2).start([None]), 3)[0].tolist() == [[1, 0], [0, 1], [1, 0]]
