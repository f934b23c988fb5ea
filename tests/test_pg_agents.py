"""Policy-gradient agents (contractlab/learning/pg_agents.py) and the differentiable DP
(contractlab/learning/game_torch.py): the exact gradient is the closed form and the finite
differences, the REINFORCE estimator is unbiased for it."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the policy-gradient agents need the [deep] extra (torch)")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from contractlab.learning import game_torch as gtm  # noqa: E402
from contractlab.learning import lookahead_closed_form as cf  # noqa: E402
from contractlab.learning import pg_agents as pg  # noqa: E402
from contractlab.theory.errors import InvalidInstanceError  # noqa: E402
from contractlab.theory.markov_game import TabularMarkovGame, evaluate  # noqa: E402

@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: torch's thread pool only adds overhead (and stalls on a loaded machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


#: Per-coordinate slack of a sample mean: |mean − exact| <= Z·sd/sqrt(M) (two-sided normal tail
#: ~6e-5 per coordinate; the seeds are fixed, so the test is deterministic).
Z = 4.0


def random_game(seed: int, n: int = 2, ks=(2, 3), S: int = 3, H: int = 3, alias: bool = True) -> TabularMarkovGame:
    """A random deterministic game: every transition to a state or (probability 1/4) to the end;
    agent 1 (if ``alias``) sees only ``s mod 2``."""
    rng = np.random.default_rng(seed)
    ks = tuple(ks[:n])
    A = int(np.prod(ks))
    nxt = rng.integers(0, S, size=(S, A))
    nxt[rng.random((S, A)) < 0.25] = -1
    obs = np.tile(np.arange(S), (n, 1))
    if alias and n > 1:
        obs[1] = np.arange(S) % 2
    return TabularMarkovGame(ks, nxt, rng.normal(size=(S, A, n)), 0, H, obs)


def normal_form(seed: int, ks=(2, 2)) -> TabularMarkovGame:
    rng = np.random.default_rng(seed)
    A = int(np.prod(ks))
    return TabularMarkovGame(tuple(ks), np.full((1, A), -1), rng.uniform(-3, 3, size=(1, A, len(ks))), 0, 1)


def params_for(game, config, seed):
    return pg.init_params(game, config, torch.Generator().manual_seed(seed))


def random_incentive(game, seed):
    rng = np.random.default_rng(seed)
    return torch.tensor(rng.uniform(0, 2, size=(game.n_states, game.n_joint_actions, game.n_agents)),
                        dtype=torch.float64)


def flat(grads):
    return np.concatenate([g.detach().numpy().ravel() for gs in grads for g in gs])


@pytest.mark.parametrize("seed", range(4))
def test_dp_equals_numpy_evaluate(seed):
    game = random_game(seed, n=3, ks=(2, 3, 2), S=4, H=4)
    cfg = pg.AgentConfig(init_scale=1.0)
    params = params_for(game, cfg, seed)
    probs = pg.probabilities(cfg, params)
    got = gtm.expected_returns(gtm.GameTensors.of(game), probs).detach().numpy()
    want = evaluate(game, pg.probabilities_numpy(cfg, params))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


@settings(max_examples=15)
@given(st.integers(0, 10**6), st.sampled_from([(2, 2), (3, 2), (2, 2, 3)]))
def test_exact_gradient_equals_closed_form_on_normal_form_games(seed, ks):
    game = normal_form(seed, ks)
    rng = np.random.default_rng(seed + 1)
    theta = [rng.uniform(-2, 2, size=(1, k)) for k in ks]
    phi = [rng.uniform(-3, 3, size=(1, k)) for k in ks]
    gt = gtm.GameTensors.of(game)
    params = [[torch.tensor(t, requires_grad=True)] for t in theta]
    acts = game.joint_actions()
    eta = torch.tensor(np.stack([cf.incentives(phi)[i].ravel()[acts[:, i]] for i in range(len(ks))], -1)[None])
    got = pg.policy_gradient(gt, pg.AgentConfig(), params, eta)
    want = cf.policy_gradient(theta, phi, game)
    for i in range(len(ks)):
        np.testing.assert_allclose(got[i][0].detach().numpy().ravel(), want[i], rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["tabular", "mlp"])
def test_exact_gradient_equals_finite_differences(kind):
    game = random_game(3, S=3, H=3)
    cfg = pg.AgentConfig(kind=kind, init_scale=1.0, hidden=4)
    params = params_for(game, cfg, 7)
    gt = gtm.GameTensors.of(game)
    eta = random_incentive(game, 5)
    grads = pg.policy_gradient(gt, cfg, params, eta)
    h = 1e-6
    for i, ps in enumerate(params):
        for p, g in zip(ps, grads[i]):
            for idx in np.ndindex(*p.shape):
                with torch.no_grad():
                    old = p[idx].item()
                    p[idx] = old + h
                    jp = gtm.expected_returns(gt, pg.probabilities(cfg, params), eta)[i].item()
                    p[idx] = old - h
                    jm = gtm.expected_returns(gt, pg.probabilities(cfg, params), eta)[i].item()
                    p[idx] = old
                assert abs((jp - jm) / (2 * h) - g[idx].item()) <= 1e-7, (i, idx)


@pytest.mark.parametrize("baseline", ["loo", "none"])
def test_reinforce_is_unbiased(baseline):
    """Mean of M = 1500 independent batch estimates (B = 16 episodes each) within Z standard errors
    of the exact gradient, every coordinate."""
    game = random_game(11, S=3, H=3)
    cfg = pg.AgentConfig(init_scale=0.7, baseline=baseline)
    params = params_for(game, cfg, 2)
    gt = gtm.GameTensors.of(game)
    eta = random_incentive(game, 4)
    exact = flat(pg.policy_gradient(gt, cfg, params, eta))
    rng = np.random.default_rng(123)
    pols = pg.probabilities_numpy(cfg, params)
    M, B = 1500, 16
    est = np.array([flat(pg.policy_gradient(gt, cfg, params, eta, pg.sample_batch(game, pols, B, rng)))
                    for _ in range(M)])
    mean, se = est.mean(0), est.std(0, ddof=1) / math.sqrt(M)
    assert np.all(np.abs(mean - exact) <= Z * se + 1e-12), (mean, exact, se)
    assert np.abs(exact).max() > 0.05          # the gradient is not trivially zero


def test_loo_baseline_reduces_variance():
    game = random_game(11, S=3, H=3)
    gt = gtm.GameTensors.of(game)
    eta = random_incentive(game, 4)
    out = {}
    for baseline in ("loo", "none"):
        cfg = pg.AgentConfig(init_scale=0.7, baseline=baseline)
        params = params_for(game, cfg, 2)
        pols = pg.probabilities_numpy(cfg, params)
        rng = np.random.default_rng(5)
        est = np.array([flat(pg.policy_gradient(gt, cfg, params, eta, pg.sample_batch(game, pols, 16, rng)))
                        for _ in range(200)])
        out[baseline] = est.var(0).sum()
    assert out["loo"] < out["none"]


def test_step_is_gradient_ascent_and_sampled_step_keeps_incentive_graph():
    game = random_game(1)
    cfg = pg.AgentConfig(lr=0.3)
    gt = gtm.GameTensors.of(game)
    params = params_for(game, cfg, 0)
    eta = random_incentive(game, 0).requires_grad_(True)
    batch = pg.sample_batch(game, pg.probabilities_numpy(cfg, params), 8, np.random.default_rng(0))
    grads = pg.policy_gradient(gt, cfg, params, eta, batch, create_graph=True)
    new = pg.step(params, grads, cfg.lr)
    for ps, gs, ns in zip(params, grads, new):
        for p, g, q in zip(ps, gs, ns):
            assert torch.equal(q, p + 0.3 * g)
    # the stepped parameters depend on the incentives: a non-zero derivative
    d = torch.autograd.grad(sum(q.sum() ** 2 for ns in new for q in ns), eta)[0]
    assert d.abs().max() > 0


def test_exact_ascent_increases_own_return_for_small_step():
    game = random_game(8)
    cfg = pg.AgentConfig(init_scale=1.0)
    gt = gtm.GameTensors.of(game)
    params = params_for(game, cfg, 3)
    J0 = gtm.expected_returns(gt, pg.probabilities(cfg, params)).detach().numpy()
    grads = pg.policy_gradient(gt, cfg, params)
    for i in range(game.n_agents):   # agent i moves alone by a small step
        moved = [ps if j != i else [p + 1e-3 * g for p, g in zip(ps, grads[i])] for j, ps in enumerate(params)]
        J1 = gtm.expected_returns(gt, pg.probabilities(cfg, moved)).detach().numpy()
        assert J1[i] > J0[i]


def test_bad_config_is_refused():
    with pytest.raises(InvalidInstanceError):
        pg.AgentConfig(kind="lstm")
    with pytest.raises(InvalidInstanceError):
        pg.AgentConfig(baseline="mean")
    with pytest.raises(InvalidInstanceError):
        pg.AgentConfig(lr=-1.0)
