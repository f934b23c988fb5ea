"""The meta-gradient tax designer: bracket rates learned through the agents' next learning step.

Yang, Wang, Trivedi, Zhao, Zha, *Adaptive Incentive Design with Multi-Agent Meta-Gradient
Reinforcement Learning* (AAMAS 2022, arXiv 2112.10859), the meta-gradient designer: its parameters ``φ``
shape the agents' objectives; the agents' one-step lookahead ``θ̂(φ) = θ + α ∇_θ u(θ; φ)`` is built
so that it depends on ``φ``; the designer ascends ``∇_φ J(θ̂(φ), φ)`` by autograd; then the agents
take that same step. Here, on the economy of :mod:`contractlab.theory.tax_economy`:

* ``φ ∈ R^K``, rates ``τ = sigmoid(φ)`` on the brackets ``cutoffs`` (the planner grid's brackets);
* agent ``i``'s parameter is its labour ``l_i``; its step is projected gradient ascent on its own
  utility, the lump sum taken as given (each agent is small):
  ``l̂_i = clip(l_i + α ∂u_i/∂l_i, 0, l_max)`` with ``u_i = U(s_i l_i − T(s_i l_i) + R) − κ v(l_i)``,
  ``R = Σ_j T(s_j l_j)/N`` at the current labour (a function of ``τ``, held fixed in ``l``); the
  derivative is taken by ``torch.autograd.grad(..., create_graph=True)``;
* the designer's objective ``J`` is the planner objective at ``l̂`` with the budget-balancing lump
  sum of ``l̂`` (``equality × productivity`` or utilitarian); ``φ`` takes an Adam ascent step on
  ``∇_φ J``; the agents then move to ``l̂`` — the very tensor the designer differentiated
  (the agents' step is computed separately, in numpy, by :func:`agent_step`;
  ``TaxDesignResult.step_mismatch`` records ``max |agents' step − l̂|`` over the run).

The run is deterministic given ``seed`` (a numpy Generator draws the initial labour and ``φ``;
torch draws nothing; float64 on CPU). What is reported as the designer's result is not the
training curve but the learned rates' objective **recomputed exactly at their equilibrium**
(``solvers.tax_planner.schedule_objective``), beside the exact grid optimum, its compass-search
refinement off the grid, and the baselines (:func:`compare`): no taxes, the US-federal-like
schedule, and the Saez-style top rate ``1/(1 + a e)`` on the US brackets.

The learned rates are continuous, so they can beat the grid optimum by being off the grid; they
are therefore compared with the grid optimum *refined* by a compass search from its best grid
points (``solvers.tax_planner.grid_refined_optimum``). That refinement is a local search, not a
global certificate: a designer value above it (beyond round-off) would mean a better basin than
the grid's neighbourhood, and is what ``tests/test_tax_designer.py`` would report.

On the default economy the one-step lookahead is sensitive to the agents' step ``α``: with
``α = 0.05`` it over-taxes the middle bracket (the agents' labour response enters ``J`` only
through one small step), with ``α = 0.15`` it comes within 0.1 % of the refined optimum, with
``α = 0.3`` it under-taxes: ``train_tax_designer(default_economy(), agent_lr=α, seed=0).exact_value``
is 6.800, 7.150, 6.791 for ``α = 0.05, 0.15, 0.3`` against the refined optimum 7.157 (not asserted).

Needs the extra ``[deep]`` (torch), imported inside the functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..solvers.tax_planner import best_response, grid_refined_optimum, schedule_objective
from ..theory.errors import InvalidInstanceError
from ..theory.tax_economy import (DEFAULT_SKILL_PARETO, DEFAULT_USD_SCALING, OBJECTIVES, US_2018_RATES, TaxEconomy,
                                  bracket_index, check_schedule, coarse_cutoffs, saez_parameters, saez_top_rate, tax,
                                  us_federal_cutoffs)

#: Defaults: designer iterations, the agents' step ``α``, the designer's Adam step.
DEFAULT_ITERATIONS, DEFAULT_AGENT_LR, DEFAULT_DESIGNER_LR = 400, 0.05, 0.05


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("contractlab.learning.tax_designer needs torch: pip install 'contractlab[deep]'") from exc
    return torch


def torch_tax(torch, z, cutoffs, rates):
    """``T(z) = Σ_k τ_k clip(z − b_k, 0, b_{k+1} − b_k)`` in torch (``z (N,)``, ``rates (K,)``)."""
    b = torch.as_tensor(cutoffs, dtype=torch.float64)
    width = torch.cat([b[1:] - b[:-1], torch.tensor([float("inf")], dtype=torch.float64)])
    over = torch.minimum(torch.clamp(z[:, None] - b, min=0.0), width)
    return over @ rates


def _torch_utility(torch, economy: TaxEconomy, labour, consumption):
    eta = economy.eta
    if eta == 1.0:
        uc = torch.log(consumption)
    else:
        uc = (torch.clamp(consumption, min=0.0) ** (1 - eta) - 1) / (1 - eta)
    p = 1.0 + 1.0 / economy.elasticity
    return uc - economy.labour_coefficient * torch.clamp(labour, min=0.0) ** p / p


def _torch_objective(torch, economy: TaxEconomy, labour, cutoffs, rates, objective: str):
    """The planner objective at ``labour`` with its budget-balancing lump sum (torch)."""
    z = torch.tensor(np.array(economy.skills), dtype=torch.float64) * labour
    t = torch_tax(torch, z, cutoffs, rates)
    c = z - t + t.mean()
    if objective == "utilitarian":
        return _torch_utility(torch, economy, labour, c).sum()
    n = c.shape[0]
    total = c.sum()
    g = (c[:, None] - c[None, :]).abs().sum() / (2 * n * total) * n / (n - 1) if n > 1 else 0.0 * total
    return (1 - g) * z.sum()


def _lookahead(torch, economy: TaxEconomy, cutoffs, rates, labour, agent_lr: float, objective: str):
    """``(J(l̂(τ), τ), l̂(τ))``: the agents' projected gradient step ``l̂ = clip(l + α ∂u_i/∂l_i, 0,
    l_max)`` with the lump sum of the current labour taken as given, built as a function of the
    rates tensor (``create_graph=True``), and the planner objective at ``l̂``."""
    skills = torch.tensor(np.array(economy.skills), dtype=torch.float64)
    l = labour.detach().clone().requires_grad_(True)
    lump = torch_tax(torch, skills * labour.detach(), cutoffs, rates).mean()   # R: a function of τ, fixed in l
    z = skills * l
    c = z - torch_tax(torch, z, cutoffs, rates) + lump
    u = _torch_utility(torch, economy, l, c)
    (grad_l,) = torch.autograd.grad(u.sum(), l, create_graph=True)           # u_i depends on l_i only
    l_hat = torch.clamp(l + agent_lr * grad_l, 0.0, economy.l_max)
    return _torch_objective(torch, economy, l_hat, cutoffs, rates, objective), l_hat


def agent_step(economy: TaxEconomy, cutoffs, rates, labour, agent_lr: float = DEFAULT_AGENT_LR) -> np.ndarray:
    """The agents' update in numpy, written independently of the torch lookahead:
    ``clip(l + α (s(1 − τ_k) U'(c) − κ l^(1/ε)), 0, l_max)`` with ``τ_k`` the rate of the bracket
    holding ``z = s l`` (the right derivative of ``T``) and ``R`` the mean tax of ``labour``."""
    l = np.asarray(labour, dtype=float)
    r = np.asarray(rates, dtype=float)
    z = economy.skills * l
    c = z - tax(z, cutoffs, r) + tax(z, cutoffs, r).mean()
    k = bracket_index(z, cutoffs)
    grad = economy.skills * (1 - r[k]) * economy.marginal_consumption_utility(c) - economy.marginal_labour_cost(l)
    return np.clip(l + agent_lr * grad, 0.0, economy.l_max)


def lookahead_objective(economy: TaxEconomy, cutoffs, phi, labour, agent_lr: float = DEFAULT_AGENT_LR,
                        objective: str = "equality_productivity", gradient: bool = False):
    """The designer's objective ``J(l̂(φ), sigmoid(φ))`` at ``φ (K,)`` and labour ``(N,)`` (numpy), and
    with ``gradient=True`` also its autograd gradient in ``φ`` (the meta-gradient)."""
    torch = _torch()
    p = torch.tensor(np.asarray(phi, dtype=float), dtype=torch.float64, requires_grad=gradient)
    J, _ = _lookahead(torch, economy, np.asarray(cutoffs, dtype=float), torch.sigmoid(p),
                      torch.tensor(np.asarray(labour, dtype=float), dtype=torch.float64), agent_lr, objective)
    if not gradient:
        return float(J.detach())
    (g,) = torch.autograd.grad(J, p)
    return float(J.detach()), g.numpy().copy()


@dataclass(frozen=True, eq=False)
class TaxDesignResult:
    """A meta-gradient run: the learned ``rates (K,)`` on ``cutoffs``; per iteration the rates
    ``(T, K)``, the agents' labour ``(T, N)`` and the objective at the agents' labour (the training
    curve, not at equilibrium); the learned rates' objective recomputed exactly at equilibrium
    (``exact_value``) with that equilibrium's labour; the agents' final distance to their exact
    best response; ``step_mismatch`` = max over iterations of ``|agents' step − l̂|``."""

    cutoffs: np.ndarray
    rates: np.ndarray
    rate_history: np.ndarray
    labour_history: np.ndarray
    curve: np.ndarray
    exact_value: float
    equilibrium_labour: np.ndarray
    final_labour_gap: float
    step_mismatch: float
    objective: str
    seed: int


def train_tax_designer(economy: TaxEconomy, cutoffs=None, objective: str = "equality_productivity",
                       iterations: int = DEFAULT_ITERATIONS, agent_lr: float = DEFAULT_AGENT_LR,
                       designer_lr: float = DEFAULT_DESIGNER_LR, seed: int = 0,
                       callback: Callable[[int, np.ndarray, float], None] | None = None) -> TaxDesignResult:
    """Run the meta-gradient designer (module docstring) from initial labour ``U(0.2, 0.8)·l_max``
    and ``φ ~ N(−1.5, 0.1)`` (rates about 0.18) drawn from ``numpy.random.default_rng(seed)``."""
    torch = _torch()

    if objective not in OBJECTIVES:
        raise InvalidInstanceError("objective", f"must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    b = coarse_cutoffs() if cutoffs is None else np.asarray(cutoffs, dtype=float)
    check_schedule(b, np.zeros(b.size))
    for name, v in (("iterations", iterations), ("agent_lr", agent_lr), ("designer_lr", designer_lr)):
        if not v > 0:
            raise InvalidInstanceError(name, f"must be > 0, got {v!r}")
    rng = np.random.default_rng(seed)
    l0 = rng.uniform(0.2, 0.8, economy.n_agents) * economy.l_max
    phi0 = rng.normal(-1.5, 0.1, b.size)

    phi = torch.tensor(phi0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([phi], lr=designer_lr)
    labour = torch.tensor(l0, dtype=torch.float64)
    rates_h, labour_h, curve = [], [], []
    mismatch = 0.0
    for it in range(int(iterations)):
        rates = torch.sigmoid(phi)
        J, l_hat = _lookahead(torch, economy, b, rates, labour, agent_lr, objective)
        step = agent_step(economy, b, rates.detach().numpy(), labour.numpy(), agent_lr)   # the agents' own update
        opt.zero_grad()
        (-J).backward()
        opt.step()
        new_labour = torch.tensor(step, dtype=torch.float64)               # the agents take their step ...
        mismatch = max(mismatch, float((new_labour - l_hat.detach()).abs().max()))   # ... = the lookahead
        with torch.no_grad():
            current = _torch_objective(torch, economy, labour, b, rates, objective)
        rates_h.append(rates.detach().numpy().copy())
        labour_h.append(labour.numpy().copy())
        curve.append(float(current))
        labour = new_labour
        if callback is not None:
            callback(it, rates_h[-1], curve[-1])
    final = torch.sigmoid(phi).detach().numpy().copy()
    values, eq = schedule_objective(economy, b, final[None], objective)
    lump_now = float(np.mean(tax(economy.skills * labour.numpy(), b, final)))
    gap = float(np.max(np.abs(labour.numpy() - best_response(economy, b, final, lump_now))))
    return TaxDesignResult(b, final, np.array(rates_h), np.array(labour_h), np.array(curve), float(values[0]),
                           eq.labour[0], gap, mismatch, objective, int(seed))


@dataclass(frozen=True, eq=False)
class ScheduleRow:
    """One line of :func:`compare`: a schedule and its exact objective at equilibrium."""

    name: str
    cutoffs: np.ndarray
    rates: np.ndarray
    value: float


def baseline_schedules(economy: TaxEconomy, usd_scaling: float = DEFAULT_USD_SCALING,
                       skill_pareto: float = DEFAULT_SKILL_PARETO) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(name, cutoffs, rates)`` of the baselines: no taxes, the US-federal-like schedule (seven
    brackets, USD / ``usd_scaling``) and the Saez-style top rate (the US schedule with its top rate
    set to :func:`~contractlab.theory.tax_economy.saez_top_rate` of
    :func:`~contractlab.theory.tax_economy.saez_parameters`, for skills with Pareto tail
    ``skill_pareto``, the default economy's)."""
    us = us_federal_cutoffs(usd_scaling)
    us_rates = np.asarray(US_2018_RATES, dtype=float)
    saez = us_rates.copy()
    saez[-1] = saez_top_rate(*saez_parameters(economy, skill_pareto))
    return [("no taxes", us, np.zeros(us.size)), ("US federal 2018 (scaled)", us, us_rates),
            ("Saez top rate", us, saez)]


def compare(economy: TaxEconomy, objective: str = "equality_productivity", seeds=(0,),
            iterations: int = DEFAULT_ITERATIONS, grid_values=None, cutoffs=None, skill_pareto: float = DEFAULT_SKILL_PARETO,
            ) -> tuple[list[ScheduleRow], list[TaxDesignResult]]:
    """The baselines, the exact grid optimum and its refinement (compass search from the 5 best grid
    points), and the designer (one row per seed), every value exact at equilibrium."""
    b = coarse_cutoffs() if cutoffs is None else np.asarray(cutoffs, dtype=float)
    rows = []
    for name, cut, rates in baseline_schedules(economy, skill_pareto=skill_pareto):
        value = float(schedule_objective(economy, cut, rates[None], objective)[0][0])
        rows.append(ScheduleRow(name, cut, rates, value))
    grid, refined = grid_refined_optimum(economy, b, grid_values, objective)
    rows.append(ScheduleRow("grid optimum", b, grid.rates, grid.value))
    rows.append(ScheduleRow("grid optimum, refined", b, refined.rates, refined.value))
    runs = [train_tax_designer(economy, b, objective, iterations, seed=s) for s in seeds]
    rows += [ScheduleRow(f"meta-gradient (seed {r.seed})", b, r.rates, r.exact_value) for r in runs]
    return rows, runs


def format_rows(rows: list[ScheduleRow]) -> str:
    """A plain-text table of :func:`compare`'s rows (name, rates, exact value, gap to the best)."""
    best = max(r.value for r in rows)
    lines = [f"{'schedule':32s} {'value':>10s} {'− best':>9s}  rates (cutoffs)"]
    for r in rows:
        rates = ", ".join(f"{x:.3f}" for x in r.rates)
        cuts = ", ".join(f"{x:.4g}" for x in r.cutoffs)
        lines.append(f"{r.name:32s} {r.value:10.5f} {r.value - best:9.5f}  [{rates}] on [{cuts}]")
    return "\n".join(lines)
