"""The baselines of the meta-gradient designer (contractlab/learning/incentive_baselines.py): dual-RL,
AMD (Baumann et al. 2018), fixed LP incentives, no incentives."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from contractlab.learning import incentive_baselines as ib  # noqa: E402
from contractlab.learning import lookahead_closed_form as cf  # noqa: E402
from contractlab.learning import meta_gradient as mg  # noqa: E402
from contractlab.learning import pg_agents as pg  # noqa: E402
from contractlab.learning.game_torch import DTYPE, GameTensors  # noqa: E402
from contractlab.learning.pg_agents import AgentConfig  # noqa: E402
from contractlab.learning.meta_gradient import DesignerConfig  # noqa: E402
from contractlab.solvers.incentive_optimum import normal_form_closed_form, welfare_optimum  # noqa: E402
from contractlab.theory.errors import InvalidInstanceError  # noqa: E402
from contractlab.theory.escape_room import escape_room_game  # noqa: E402
from contractlab.theory.incentive_games import NormalFormGame, prisoners_dilemma, stag_hunt  # noqa: E402

PD = prisoners_dilemma().as_markov_game()
SH = stag_hunt().as_markov_game()
ER21 = escape_room_game(2, 1, max_steps=3)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: extra torch threads only add overhead (as meta_gradient.train does)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _random_normal_form(seed: int, shape=(2, 3)) -> NormalFormGame:
    rng = np.random.default_rng(seed)
    return NormalFormGame(rng.uniform(-2, 2, (len(shape),) + shape))


def _same(a: mg.MetaGradResult, b: mg.MetaGradResult) -> bool:
    arrays = [(a.welfare, b.welfare), (a.incentives, b.incentives)]
    arrays += [(x, y) for xs, ys in zip(a.theta, b.theta) for x, y in zip(xs, ys)]
    arrays += list(zip(a.phi, b.phi))
    if a.eta is not None or b.eta is not None:
        arrays.append((a.eta, b.eta))
    return len(a.phi) == len(b.phi) and all(np.array_equal(x, y) for x, y in arrays)


# ----------------------------------------------------------------------------- determinism, shape

@pytest.mark.parametrize("name", ib.BASELINES)
@pytest.mark.parametrize("mode", mg.MODES)
def test_same_seed_same_run_bit_for_bit(name, mode):
    cfg = DesignerConfig(mode=mode, cost_weight=0.2, n_episodes=16, agents=AgentConfig(init_scale=0.5))
    runs = [ib.train_baseline(ER21, name, cfg, 7, 6) for _ in range(2)]
    assert _same(*runs)
    assert runs[0].iterations == 6 and runs[0].welfare.shape == (6,) and runs[0].exact_welfare.shape == (6,)
    np.testing.assert_array_equal(runs[0].net_welfare, runs[0].welfare - runs[0].incentives)
    if mode == "sampled":   # the seed matters: another seed gives another run
        assert not np.array_equal(runs[0].welfare, ib.train_baseline(ER21, name, cfg, 8, 6).welfare)


@pytest.mark.parametrize("game", [PD, ER21], ids=["pd", "er21"])
@pytest.mark.parametrize("mode", mg.MODES)
@pytest.mark.parametrize("kind", ["tabular", "mlp"])
def test_none_is_the_meta_gradient_designer_without_incentives(game, mode, kind):
    """Two independent code paths (the designer's lookahead with no incentive, and the plain agents'
    step) from the same seed give the same curve and the same agents, bit for bit."""
    cfg = DesignerConfig(incentive="none", mode=mode, n_episodes=16, agents=AgentConfig(kind=kind, init_scale=0.7))
    a = mg.train(game, cfg, 11, 8)
    b = ib.train_baseline(game, "none", cfg, 11, 8)
    assert _same(a, b)
    np.testing.assert_array_equal(a.exact_welfare, b.exact_welfare)
    assert b.eta is None and b.phi == [] and np.all(b.incentives == 0)


def test_callback_stops_and_bad_inputs():
    seen = []
    res = ib.train_baseline(PD, "amd", DesignerConfig(), 0, 10, callback=lambda i, n, m: seen.append(m) or i == 3)
    assert res.iterations == 3 and len(seen) == 3 and set(seen[0]) == {"welfare", "incentives", "net_welfare"}
    with pytest.raises(InvalidInstanceError):
        ib.train_baseline(PD, "lola", DesignerConfig(), 0, 1)
    with pytest.raises(InvalidInstanceError):
        ib.train_baseline(PD, "fixed", DesignerConfig(), 0, 1, fixed_eta=np.zeros((1, 4, 3)))
    with pytest.raises(InvalidInstanceError):
        ib.train_baseline(PD, "fixed", DesignerConfig(), 0, 1, fixed_eta=-np.ones((1, 4, 2)))
    with pytest.raises(InvalidInstanceError):
        ib.train_baseline(PD, "amd", DesignerConfig(), 0, 1, fixed_eta=np.zeros((1, 4, 2)))
    with pytest.raises(InvalidInstanceError):
        ib.train_baseline(PD, "none", DesignerConfig(), 0, -1)
    with pytest.raises(InvalidInstanceError):
        ib.lp_incentives(PD, "correlated")
    with pytest.raises(InvalidInstanceError):
        ib.lp_incentives(PD, "nash", margin=-1.0)


# ----------------------------------------------------------------------------- fixed LP incentives

@pytest.mark.parametrize("seed", range(3))
def test_lp_incentives_are_the_closed_form_plus_margin(seed):
    game = _random_normal_form(seed)
    mk = game.as_markov_game()
    prof = np.unravel_index(int(welfare_optimum(mk).policy[0, 0]), game.n_actions)
    closed = normal_form_closed_form(game, prof)
    a_star = int(np.ravel_multi_index(prof, game.n_actions))
    nash = ib.lp_incentives(game, "nash", margin=0.25)
    expect = np.zeros_like(nash)
    expect[0, a_star] = closed.nash_gain + 0.25
    np.testing.assert_allclose(nash, expect, atol=1e-7)
    dom = ib.lp_incentives(game, "dominant", margin=0.25)
    joint = mk.joint_actions()
    for i in range(game.n_players):
        table = closed.dominant_eta[i].reshape(-1)
        own = joint[:, i] == prof[i]
        np.testing.assert_allclose(dom[0, :, i], table + np.where(own, 0.25, 0.0), atol=1e-7)
        # strict dominance by the margin: the recommended action beats every other by >= margin
        q = (mk.rewards[0, :, i] + dom[0, :, i]).reshape(game.n_actions)
        q = np.moveaxis(q, i, 0)
        assert (q[prof[i]] - np.delete(q, prof[i], axis=0) >= 0.25 - 1e-7).all()


@pytest.mark.parametrize("game, optimum, selfish", [(PD, 6.0, 2.0), (SH, 8.0, 6.0)], ids=["pd", "stag-hunt"])
def test_fixed_lp_incentives_lead_exact_learners_to_the_welfare_optimum(game, optimum, selfish):
    """Dominant-kind LP-minimal incentives plus a margin of 0.5 (strict dominance): exact-mode tabular
    learners from random initial logits (N(0, 1)) reach the welfare optimum within 0.1 after 100
    iterations (α = 1), for all of 10 seeds. The Nash kind with the same margin makes the optimum only a
    strict Nash equilibrium with a small basin: from uniform policies the learners end at the selfish
    equilibrium (within 0.1), which is why the default table of "fixed" is the dominant one."""
    assert welfare_optimum(game).value == optimum
    cfg = DesignerConfig(agents=AgentConfig(init_scale=1.0))
    dom = ib.lp_incentives(game, "dominant", margin=0.5)
    final = [ib.train_baseline(game, "fixed", cfg, s, 100, fixed_eta=dom).final_exact_welfare for s in range(10)]
    assert min(final) >= optimum - 0.1
    assert max(final) <= optimum + 1e-9
    nash = ib.lp_incentives(game, "nash", margin=0.5)
    stuck = ib.train_baseline(game, "fixed", DesignerConfig(), 0, 100, fixed_eta=nash).final_exact_welfare
    assert abs(stuck - selfish) <= 0.1


# ----------------------------------------------------------------------------- AMD

def _amd_closed_form(game, theta, phi, alpha, c, bound):
    """F_AMD of a normal-form game in closed form (numpy, independent of torch): W(θ) + α Σ_i
    (M_i w_i)·(M_i (q_i + η_i)) − c Σ_i π_iᵀ η_i (lookahead_closed_form's notation)."""
    pis = [cf.softmax(t) for t in theta]
    etas = cf.incentives(phi, bound)
    r = np.moveaxis(game.rewards[0], -1, 0).reshape((game.n_agents,) + game.n_actions)
    wel = r.sum(0)
    F = float(pis[0] @ cf.marginal(wel, pis, 0))
    for i, p in enumerate(pis):
        w = cf.marginal(wel, pis, i)
        Q = cf.marginal(r[i], pis, i) + etas[i]
        F += alpha * float((p * (w - p @ w)) @ (p * (Q - p @ Q))) - c * float(p @ etas[i])
    return F


@pytest.mark.parametrize("seed", range(4))
def test_amd_exact_gradient_is_the_derivative_of_its_first_order_objective(seed):
    """Normal-form games: the designer's exact gradient (autograd) equals the central finite differences
    (h = 1e-5) of the first-order objective written independently in numpy, within 1e-7."""
    rng = np.random.default_rng(100 + seed)
    games = (PD, SH, _random_normal_form(seed).as_markov_game(), _random_normal_form(seed, (3, 2, 2)).as_markov_game())
    game = games[seed]
    alpha, c, bound = float(rng.uniform(0.2, 2)), float(rng.uniform(0, 1)), 2.0
    cfg = DesignerConfig(cost_weight=c, bound=bound, agents=AgentConfig(lr=alpha))
    theta = [rng.normal(0, 1, k) for k in game.n_actions]
    phi = [rng.normal(0, 1, k) for k in game.n_actions]
    gt = GameTensors.of(game)
    th = [[torch.tensor(t[None], dtype=DTYPE, requires_grad=True)] for t in theta]
    ph = [torch.tensor(p[None], dtype=DTYPE, requires_grad=True) for p in phi]
    F, _ = ib.amd_objective(gt, cfg, th, ph)
    assert float(F.detach()) == pytest.approx(_amd_closed_form(game, theta, phi, alpha, c, bound), abs=1e-12)
    grads = torch.autograd.grad(F, ph)
    h = 1e-5
    for i, p in enumerate(phi):
        for k in range(len(p)):
            up = [q.copy() for q in phi]
            dn = [q.copy() for q in phi]
            up[i][k] += h
            dn[i][k] -= h
            fd = (_amd_closed_form(game, theta, up, alpha, c, bound)
                  - _amd_closed_form(game, theta, dn, alpha, c, bound)) / (2 * h)
            assert float(grads[i][0, k]) == pytest.approx(fd, abs=1e-7)


def test_amd_exact_gradient_matches_finite_differences_on_escape_room():
    """A multi-state game (ER(2, 1), 3 steps), tabular and MLP incentives: autograd of F_AMD against its
    central finite differences (h = 1e-6), within 1e-6 relative to the largest entry."""
    gt = GameTensors.of(ER21)
    for kind in ("tabular", "mlp"):
        cfg = DesignerConfig(incentive=kind, cost_weight=0.3, hidden=3, agents=AgentConfig(lr=0.7))
        gen = torch.Generator().manual_seed(5)
        theta = [[(torch.randn(9, 3, generator=gen, dtype=DTYPE)).requires_grad_(True)] for _ in range(2)]
        phi = [(p.detach() + 0.5 * torch.randn(p.shape, generator=gen, dtype=DTYPE)).requires_grad_(True)
               for p in mg.init_phi(ER21, cfg, gen)]
        grads = torch.autograd.grad(ib.amd_objective(gt, cfg, theta, phi)[0], phi)
        h, worst, scale = 1e-6, 0.0, max(float(g.abs().max()) for g in grads)
        for j, p in enumerate(phi):
            flat = p.detach().reshape(-1)
            for k in range(0, flat.numel(), max(1, flat.numel() // 12)):
                vals = []
                for sgn in (1, -1):
                    q = [x.detach().clone() for x in phi]
                    q[j].view(-1)[k] += sgn * h
                    vals.append(float(ib.amd_objective(gt, cfg, theta, q)[0].detach()))
                worst = max(worst, abs((vals[0] - vals[1]) / (2 * h) - float(grads[j].reshape(-1)[k])))
        assert worst <= 1e-6 * scale


def test_amd_is_the_meta_gradient_to_first_order_in_the_step_size():
    """With no cost, AMD's gradient and the exact meta-gradient differ by
    α (∂θ̂/∂φ)ᵀ(∇W(θ̂) − ∇W(θ)) =
    O(α²): halving α divides the difference by about 4 (between 3 and 5 here), while both gradients
    shrink only like α."""
    gt = GameTensors.of(ER21)
    cfg0 = DesignerConfig(cost_weight=0.0)
    gen = torch.Generator().manual_seed(3)
    theta = [[torch.randn(9, 3, generator=gen, dtype=DTYPE).requires_grad_(True)] for _ in range(2)]
    phi = [torch.randn(9, 3, generator=gen, dtype=DTYPE).requires_grad_(True) for _ in range(2)]
    diffs = []
    for alpha in (0.02, 0.01):
        cfg = dataclasses.replace(cfg0, agents=AgentConfig(lr=alpha))
        g_amd = torch.autograd.grad(ib.amd_objective(gt, cfg, theta, phi)[0], phi)
        eta = mg.incentive_table(gt, cfg, phi)
        F, _, _ = mg.exact_objective(gt, cfg, mg.lookahead(gt, cfg, theta, eta, None), eta)
        g_meta = torch.autograd.grad(F, phi)
        diffs.append(max(float((a - b).abs().max()) for a, b in zip(g_amd, g_meta)))
        assert diffs[-1] < 0.1 * max(float(a.abs().max()) for a in g_amd)
    assert 3.0 <= diffs[0] / diffs[1] <= 5.0


# ----------------------------------------------------------------------------- dual-RL

def test_gauss_hermite_expected_sigmoid():
    """E[b·σ(m + z)] by quadrature against a Monte Carlo mean of 400,000 draws (within 4 standard errors)
    and against its symmetry E[σ(−m + z)] = 1 − E[σ(m + z)]."""
    m = torch.tensor([-3.0, -0.5, 0.0, 1.2, 4.0], dtype=DTYPE)
    gh = ib.expected_sigmoid_incentives(m, 2.0).numpy()
    z = np.random.default_rng(0).standard_normal((400_000, 1))
    draws = 2.0 / (1.0 + np.exp(-(m.numpy() + z)))
    se = draws.std(0) / np.sqrt(len(z))
    assert (np.abs(gh - draws.mean(0)) <= 4 * se).all()
    np.testing.assert_allclose(ib.expected_sigmoid_incentives(-m, 1.0).numpy(), 1 - gh / 2, atol=1e-14)
    assert gh[2] == pytest.approx(1.0, abs=1e-14)


@pytest.mark.parametrize("kind", ["tabular", "mlp"])
def test_pre_sigmoid_table_is_the_incentive_function_before_its_sigmoid(kind):
    gt = GameTensors.of(ER21)
    cfg = DesignerConfig(incentive=kind, bound=1.5, init_phi=0.3)
    phi = mg.init_phi(ER21, cfg, torch.Generator().manual_seed(0))
    with torch.no_grad():
        np.testing.assert_allclose((cfg.bound * torch.sigmoid(ib.pre_sigmoid_table(gt, cfg, phi))).numpy(),
                                   mg.incentive_table(gt, cfg, phi).numpy(), rtol=0, atol=1e-15)


def test_dual_rl_estimator_is_unbiased_on_a_one_state_game():
    """Prisoner's dilemma, fixed non-uniform agents and designer means, cost weight 1: the mean of 4,000
    independent REINFORCE estimates (batches of 8 episodes) equals the exact gradient of dual-RL's
    expected reward (autograd, Gauss–Hermite) within 4 standard errors in every coordinate."""
    gt = GameTensors.of(PD)
    cfg = DesignerConfig(cost_weight=1.0, n_episodes=8)
    theta = [[torch.tensor([[0.4, -0.3]], dtype=DTYPE, requires_grad=True)],
             [torch.tensor([[-0.6, 0.2]], dtype=DTYPE, requires_grad=True)]]
    phi = [torch.tensor([[0.5, -1.0]], dtype=DTYPE, requires_grad=True),
           torch.tensor([[-0.2, 0.8]], dtype=DTYPE, requires_grad=True)]
    reward = ib.dual_rl_expected_reward(gt, cfg, theta, phi)
    exact = torch.cat([g.reshape(-1) for g in torch.autograd.grad(reward, phi)])
    rng = np.random.default_rng(2024)
    probs = pg.probabilities_numpy(cfg.agents, theta)
    est = []
    for _ in range(4000):
        batch = pg.sample_batch(PD, probs, cfg.n_episodes, rng)
        x, paid = ib.dual_rl_sample(gt, cfg, phi, batch, rng)
        g = torch.autograd.grad(ib.dual_rl_surrogate(gt, cfg, phi, batch, x, paid), phi)
        est.append(torch.cat([v.reshape(-1) for v in g]).numpy())
    est = np.array(est)
    se = est.std(0, ddof=1) / np.sqrt(len(est))
    assert (np.abs(est.mean(0) - exact.numpy()) <= 4 * se).all(), (est.mean(0), exact, se)
    assert np.abs(exact.numpy()).max() > 10 * se.max()       # the check has power: the gradient is not ~0


# ----------------------------------------------------------------------------- bounds on incentives

@pytest.mark.parametrize("name", ["dual-rl", "amd"])
@pytest.mark.parametrize("mode", mg.MODES)
def test_incentives_paid_are_within_zero_and_bound_times_agents_per_step(name, mode):
    """One-step game: every recorded payment (per episode = per step) lies in [0, b·n]; ER(2, 1) (3 steps):
    in [0, b·n·3]; every table entry in [0, b]; every sampled dual-RL payment in [0, b]."""
    for game, steps in ((PD, 1), (ER21, 3)):
        cfg = DesignerConfig(mode=mode, bound=1.5, lr=5.0, n_episodes=16, init_phi=2.0)
        res = ib.train_baseline(game, name, cfg, 1, 15)
        for arr in (res.incentives, res.exact_incentives):
            assert (arr >= 0).all() and (arr <= cfg.bound * game.n_agents * steps).all()
        assert (res.eta >= 0).all() and (res.eta <= cfg.bound).all()
    gt = GameTensors.of(ER21)
    cfg = DesignerConfig(bound=1.5)
    phi = [torch.full((9, 3), 3.0, dtype=DTYPE) for _ in range(2)]
    batch = pg.sample_batch(ER21, [np.full((9, 3), 1 / 3)] * 2, 64, np.random.default_rng(0))
    _, paid = ib.dual_rl_sample(gt, cfg, phi, batch, np.random.default_rng(1))
    assert (paid >= 0).all() and (paid <= cfg.bound).all() and (paid[~batch.alive] == 0).all()


def test_dual_rl_reduces_its_payments_under_a_cost():
    """Its expected reward depends on φ only through the cost, so in exact mode with c > 0 the expected
    incentive table decreases at every entry, whatever the agents do (the learning-oblivious designer)."""
    cfg = DesignerConfig(cost_weight=1.0, lr=2.0)
    start = ib.train_baseline(PD, "dual-rl", cfg, 0, 0).eta
    end = ib.train_baseline(PD, "dual-rl", cfg, 0, 30).eta
    assert (end < start).all()
    same = ib.train_baseline(PD, "dual-rl", dataclasses.replace(cfg, cost_weight=0.0), 0, 30).eta
    np.testing.assert_array_equal(same, start)


@pytest.mark.parametrize("name", ib.BASELINES)
def test_no_baseline_reports_net_welfare_above_the_exact_optimum(name):
    """The exact (DP) welfare of the agents after every iteration is at most the DP welfare optimum, and
    the net welfare (minus the non-negative incentives) is at most it too (ER(2, 1), 3 steps)."""
    best = welfare_optimum(ER21).value
    res = ib.train_baseline(ER21, name, DesignerConfig(lr=3.0, agents=AgentConfig(lr=3.0, init_scale=1.0)), 4, 25)
    assert (res.exact_welfare <= best + 1e-9).all()
    assert (res.exact_welfare - res.exact_incentives <= best + 1e-9).all()
    assert res.final_exact_net_welfare <= best + 1e-9


def test_expected_incentive_table_tabular_shortcut_equals_the_quadrature_of_the_table():
    gt = GameTensors.of(ER21)
    cfg = DesignerConfig(bound=1.7)
    gen = torch.Generator().manual_seed(4)
    phi = [torch.randn(9, 3, generator=gen, dtype=DTYPE) for _ in range(2)]
    np.testing.assert_allclose(ib.expected_incentive_table(gt, cfg, phi).numpy(),
                               ib.expected_sigmoid_incentives(ib.pre_sigmoid_table(gt, cfg, phi), 1.7).numpy(),
                               rtol=0, atol=1e-15)
