"""The meta-gradient designer (contractlab/learning/meta_gradient.py): its exact gradient is the
numpy closed form and the finite differences, its sampled estimator is unbiased, the lookahead is
the agents' update, training is deterministic, and it lifts welfare in the prisoner's dilemma."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the meta-gradient designer needs the [deep] extra (torch)")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from contractlab.learning import lookahead_closed_form as cf  # noqa: E402
from contractlab.learning import meta_gradient as mg  # noqa: E402
from contractlab.learning import pg_agents as pg  # noqa: E402
from contractlab.learning.game_torch import GameTensors  # noqa: E402
from contractlab.theory.errors import InvalidInstanceError  # noqa: E402
from contractlab.theory.markov_game import TabularMarkovGame  # noqa: E402

#: Per-coordinate slack of a sample mean: |mean − exact| <= Z·sd/sqrt(M).
Z = 4.0


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def prisoners_dilemma() -> TabularMarkovGame:
    """Joint actions CC, CD, DC, DD (0 = cooperate): payoffs (3,3), (0,4), (4,0), (1,1); welfare
    6 at CC, 2 at the dominant-strategy equilibrium DD."""
    r = np.array([[3, 3], [0, 4], [4, 0], [1, 1]], dtype=float)
    return TabularMarkovGame((2, 2), np.full((1, 4), -1), r[None], 0, 1)


def random_game(seed: int, ks=(2, 3), S: int = 3, H: int = 3) -> TabularMarkovGame:
    rng = np.random.default_rng(seed)
    A = int(np.prod(ks))
    nxt = rng.integers(0, S, size=(S, A))
    nxt[rng.random((S, A)) < 0.25] = -1
    obs = np.tile(np.arange(S), (len(ks), 1))
    obs[1] = np.arange(S) % 2
    return TabularMarkovGame(tuple(ks), nxt, rng.normal(size=(S, A, len(ks))), 0, H, obs)


def start(game, cfg, seed):
    gen = torch.Generator().manual_seed(seed)
    return pg.init_params(game, cfg.agents, gen), mg.init_phi(game, cfg, gen)


def exact_F(gt, cfg, theta, phi):
    eta = mg.incentive_table(gt, cfg, phi)
    return mg.exact_objective(gt, cfg, mg.lookahead(gt, cfg, theta, eta, None), eta)[0]


def flat(ts):
    return np.concatenate([t.detach().numpy().ravel() for t in ts])


@settings(max_examples=15)
@given(st.integers(0, 10**6), st.sampled_from([(2, 2), (3, 2), (2, 3, 2)]), st.floats(0.05, 2.0),
       st.floats(0.0, 2.0))
def test_exact_meta_gradient_equals_closed_form(seed, ks, alpha, c):
    rng = np.random.default_rng(seed)
    A = int(np.prod(ks))
    game = TabularMarkovGame(ks, np.full((1, A), -1), rng.uniform(-4, 4, size=(1, A, len(ks))), 0, 1)
    theta = [rng.uniform(-2, 2, size=(1, k)) for k in ks]
    phi = [rng.uniform(-3, 3, size=(1, k)) for k in ks]
    cfg = mg.DesignerConfig(cost_weight=c, agents=pg.AgentConfig(lr=alpha))
    gt = GameTensors.of(game)
    th = [[torch.tensor(t, requires_grad=True)] for t in theta]
    ph = [torch.tensor(p, requires_grad=True) for p in phi]
    F = exact_F(gt, cfg, th, ph)
    grads = torch.autograd.grad(F, ph)
    assert abs(F.item() - cf.objective(theta, phi, game, alpha, c)) <= 1e-12
    want = cf.objective_gradient(theta, phi, game, alpha, c)
    for g, w in zip(grads, want):
        np.testing.assert_allclose(g.numpy().ravel(), w, rtol=0, atol=1e-12)
    # the lookahead itself is the closed form's
    look = mg.lookahead(gt, cfg, th, mg.incentive_table(gt, cfg, ph), None)
    for t, w in zip(look, cf.lookahead(theta, phi, game, alpha)):
        np.testing.assert_allclose(t[0].detach().numpy().ravel(), w, rtol=0, atol=1e-12)


@pytest.mark.parametrize("agents,incentive", [("tabular", "tabular"), ("mlp", "tabular"), ("tabular", "mlp")])
def test_exact_meta_gradient_equals_finite_differences(agents, incentive):
    game = random_game(2)
    cfg = mg.DesignerConfig(incentive=incentive, cost_weight=0.3, hidden=3, init_phi=-0.5,
                            agents=pg.AgentConfig(kind=agents, lr=0.7, init_scale=1.0, hidden=3))
    gt = GameTensors.of(game)
    theta, phi = start(game, cfg, 4)
    if incentive == "tabular":
        with torch.no_grad():
            for p in phi:
                p.copy_(torch.tensor(np.random.default_rng(1).uniform(-2, 2, size=p.shape)))
    grads = torch.autograd.grad(exact_F(gt, cfg, theta, phi), phi)
    h, worst = 1e-6, 0.0
    for p, g in zip(phi, grads):
        for idx in list(np.ndindex(*p.shape))[:12]:
            with torch.no_grad():
                old = p[idx].item()
                p[idx] = old + h
            fp = exact_F(gt, cfg, theta, phi).item()
            with torch.no_grad():
                p[idx] = old - h
            fm = exact_F(gt, cfg, theta, phi).item()
            with torch.no_grad():
                p[idx] = old
            worst = max(worst, abs((fp - fm) / (2 * h) - g[idx].item()))
    assert worst <= 1e-7
    assert max(float(g.abs().max()) for g in grads) > 1e-3     # not a trivially zero gradient


@pytest.mark.parametrize("cost_weight", [0.0, 0.5])
def test_sampled_meta_gradient_is_unbiased_given_the_lookahead(cost_weight):
    """The lookahead θ̂ is built on one fixed sampled batch; the designer's sampled estimator on
    M = 1000 fresh batches (B = 16 each) of θ̂ averages, within Z standard errors per coordinate, to
    the exact gradient (autograd through the DP) of F(φ) = W(θ̂(φ)) − c·paid(θ̂(φ), φ) for that θ̂."""
    game = random_game(9)
    cfg = mg.DesignerConfig(mode="sampled", cost_weight=cost_weight, n_episodes=16,
                            agents=pg.AgentConfig(lr=0.5, init_scale=0.7))
    gt = GameTensors.of(game)
    theta, phi = start(game, cfg, 3)
    rng = np.random.default_rng(17)
    batch = pg.sample_batch(game, pg.probabilities_numpy(cfg.agents, theta), 32, rng)

    def looked(phi):
        eta = mg.incentive_table(gt, cfg, phi)
        return mg.lookahead(gt, cfg, theta, eta, batch), eta

    th_hat, eta = looked(phi)
    exact = flat(torch.autograd.grad(mg.exact_objective(gt, cfg, th_hat, eta)[0], phi))
    pols = pg.probabilities_numpy(cfg.agents, th_hat)
    M, est = 1000, []
    for _ in range(M):
        th_hat, eta = looked(phi)
        fresh = pg.sample_batch(game, pols, cfg.n_episodes, rng)
        est.append(flat(torch.autograd.grad(mg.sampled_objective(gt, cfg, th_hat, eta, fresh)[0], phi)))
    est = np.array(est)
    mean, se = est.mean(0), est.std(0, ddof=1) / math.sqrt(M)
    assert np.all(np.abs(mean - exact) <= Z * se + 1e-12), (mean, exact, se)
    assert np.abs(exact).max() > 0.01


@pytest.mark.parametrize("mode", ["exact", "sampled"])
@pytest.mark.parametrize("agents", ["tabular", "mlp"])
def test_lookahead_is_the_agents_update(mode, agents):
    game = random_game(5)
    cfg = mg.DesignerConfig(mode=mode, incentive="tabular", n_episodes=8,
                            agents=pg.AgentConfig(kind=agents, lr=0.5, init_scale=1.0, hidden=3))
    gt = GameTensors.of(game)
    theta, phi = start(game, cfg, 0)
    rng = np.random.default_rng(0)
    for _ in range(3):
        old_theta, old_phi = theta, phi
        theta, phi, info = mg.designer_iteration(gt, cfg, theta, phi, rng)
        assert info.update_mismatch == 0.0
        # the check recomputes the update itself: a different step is caught
        wrong = [[p + 1e-9 for p in ps] for ps in theta]
        with pytest.raises(AssertionError):
            mg.check_agents_step(gt, cfg, old_theta, old_phi, info.batch, wrong)
        # and the agents' step used the incentives before the designer's step
        if any(not torch.equal(a, b) for a, b in zip(old_phi, phi)):
            with pytest.raises(AssertionError):
                mg.check_agents_step(gt, cfg, old_theta, phi, info.batch, theta)
    res = mg.train(game, cfg, seed=1, iterations=5)
    assert res.max_update_mismatch == 0.0


@pytest.mark.parametrize("mode,incentive,agents", [("exact", "tabular", "tabular"), ("sampled", "tabular", "tabular"),
                                                   ("sampled", "mlp", "mlp")])
def test_training_is_deterministic(mode, incentive, agents):
    game = random_game(6)
    cfg = mg.DesignerConfig(mode=mode, incentive=incentive, n_episodes=8, hidden=3,
                            agents=pg.AgentConfig(kind=agents, init_scale=0.5, hidden=3))
    a, b = (mg.train(game, cfg, seed=7, iterations=15) for _ in range(2))
    for name in ("welfare", "incentives", "net_welfare", "exact_welfare", "exact_incentives"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert all(np.array_equal(x, y) for xs, ys in zip(a.theta, b.theta) for x, y in zip(xs, ys))
    assert all(np.array_equal(x, y) for x, y in zip(a.phi, b.phi))
    other = mg.train(game, cfg, seed=8, iterations=15)
    assert not np.array_equal(a.welfare, other.welfare)


def test_exact_curve_is_the_dp_value_and_net_is_welfare_minus_incentives():
    game = random_game(4)
    cfg = mg.DesignerConfig(cost_weight=0.2, agents=pg.AgentConfig(init_scale=0.5))
    res = mg.train(game, cfg, seed=0, iterations=10)
    np.testing.assert_allclose(res.welfare, res.exact_welfare, rtol=0, atol=1e-10)
    np.testing.assert_allclose(res.incentives, res.exact_incentives, rtol=0, atol=1e-10)
    assert np.array_equal(res.net_welfare, res.welfare - res.incentives)
    assert res.eta.shape == (game.n_states, game.n_joint_actions, 2)
    assert res.eta.min() >= 0 and res.eta.max() <= cfg.bound


def test_callback_stops_training():
    calls = []
    res = mg.train(prisoners_dilemma(), mg.DesignerConfig(), seed=0, iterations=50,
                   callback=lambda it, total, m: calls.append((it, total, m["net_welfare"])) or it == 4)
    assert res.iterations == 4 and len(res.welfare) == 4 and [c[0] for c in calls] == [1, 2, 3, 4]


PD_SEEDS = range(4)
PD_ITERATIONS = 80
#: Stated margin: welfare of the meta-gradient designer's agents exceeds the no-incentive learners'
#: by at least this much on every seed (the two ends of the game: 6 at CC, 2 at DD).
PD_MARGIN = 3.0


def test_meta_gradient_raises_prisoners_dilemma_welfare():
    """Exact gradients, agents' step α = 1 from random logits (N(0, 0.5²)), designer step β = 3, no
    incentive cost (c = 0). Without incentives the learners go to defection (welfare -> 2)."""
    game = prisoners_dilemma()
    agents = pg.AgentConfig(lr=1.0, init_scale=0.5)
    for seed in PD_SEEDS:
        with_design = mg.train(game, mg.DesignerConfig(lr=3.0, agents=agents), seed, PD_ITERATIONS)
        without = mg.train(game, mg.DesignerConfig(incentive="none", agents=agents), seed, PD_ITERATIONS)
        assert with_design.final_exact_welfare >= without.final_exact_welfare + PD_MARGIN, seed
        assert without.final_exact_welfare < 2.5 and without.final_exact_incentives == 0.0


def test_bad_config_is_refused():
    for bad in (dict(incentive="linear"), dict(mode="both"), dict(cost_weight=-1.0), dict(n_episodes=1),
                dict(bound=math.inf)):
        with pytest.raises(InvalidInstanceError):
            mg.DesignerConfig(**bad)
