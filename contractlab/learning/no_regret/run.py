"""Run a no-regret learner against an adversary for many seeds at once and record its regret.

What is recorded, per seed and at every requested horizon ``t`` (every round by default), with
``L_{t,i} = Σ_{s<=t} ℓ_{s,i}`` and ``best_loss = min_i L_{t,i}`` (the best fixed action in hindsight
on the losses that were actually dealt):

- ``regret``: full information: the regret of the mixed strategies,
  ``Σ_{s<=t} p_s·ℓ_s − min_i L_{t,i}`` (deterministic given the losses: no action is drawn);
  bandit: the realised regret of the played actions, ``Σ_{s<=t} ℓ_{s,A_s} − min_i L_{t,i}``.
- ``sampled_regret`` (full information, ``sample=True``, or an adversary that reacts to the
  actions): ``Σ_{s<=t} ℓ_{s,A_s} − min_i L_{t,i}`` with ``A_s ~ p_s`` drawn from the seed's
  learner generator.
- ``pseudo_regret`` (stochastic adversaries, those with ``means()``): with ``μ`` the mean losses,
  ``Σ_{s<=t} (p_s·μ − min_i μ_i)`` (full information) or ``Σ_{s<=t} (μ_{A_s} − min_i μ_i)`` (bandit).
  For a bandit learner its expectation is ``Σ_i Δ_i E[T_i(t)]``, the regret of the stochastic
  bandit (Lattimore & Szepesvári 2020, Lemma 4.5, the regret decomposition).

How: the runs of a batch are the rows of every array, so each numpy call steps all seeds.
A full-information learner whose play depends only on the cumulative losses (``time_vectorised``:
Hedge, follow-the-leader) against an OBLIVIOUS adversary is also vectorised over time: the
losses of a block of ``chunk`` rounds are drawn at once, their running sums computed from the
running sum carried over from the previous block, and the learner's weights for the whole block
computed from them, so memory is ``O(chunk · R · K)`` whatever the horizon. Everything else
(bandit learners, regret matching, adaptive adversaries) steps round by round, vectorised over
the seeds, with the adversary's and the learner's random draws made a block at a time.

Running sums are accumulated in the order of the rounds in both paths, and every other
operation acts on one (run, round) at a time, so a seed's record is the same bit for bit
whatever the block size, the path, the other seeds of the batch or the number of ``workers``.
"""

from __future__ import annotations

import numbers
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ...theory.errors import InvalidInstanceError
from .base import Adversary, Learner, check_count, draw_uniforms, min_last_axis, run_generators, sample_actions

#: Elements (rounds × runs × actions) per block array when ``chunk`` is not given: 2 MiB of
#: float64, so that the few arrays of a block stay in cache (measured in benchmarks/regret.py).
BLOCK_ELEMENTS = 1 << 18


@dataclass(frozen=True, eq=False)
class RegretRun:
    """The regret of ``learner`` against ``adversary`` for every seed (rows) at every horizon of
    ``horizons`` (columns); definitions in the module docstring. ``sampled_regret`` and
    ``pseudo_regret`` are ``None`` where they were not recorded."""

    learner: Learner
    adversary: Adversary
    horizon: int
    seeds: np.ndarray
    horizons: np.ndarray
    regret: np.ndarray
    best_loss: np.ndarray
    sampled_regret: np.ndarray | None
    pseudo_regret: np.ndarray | None

    @property
    def feedback(self) -> str:
        return self.learner.feedback

    @property
    def loss(self) -> np.ndarray:
        """The learner's cumulative loss (mixed or played, as in ``regret``)."""
        return self.regret + self.best_loss


def _horizons(record, horizon: int) -> np.ndarray:
    if record is None:
        return np.arange(1, horizon + 1, dtype=np.int64)
    h = np.unique(np.asarray(record))
    if h.ndim != 1 or h.size == 0 or not np.issubdtype(h.dtype, np.integer):
        raise InvalidInstanceError("record", f"must be a non-empty sequence of integers, got {record!r}")
    if h[0] < 1 or h[-1] > horizon:
        raise InvalidInstanceError("record", f"horizons must lie in [1, {horizon}], got {h[0]}..{h[-1]}")
    return h.astype(np.int64)


def _seeds(seeds) -> np.ndarray:
    if isinstance(seeds, (numbers.Integral, np.integer)) and not isinstance(seeds, bool):
        seeds = [seeds]
    out = [check_count(f"seeds[{i}]", s, 0) for i, s in enumerate(seeds)]
    if not out:
        raise InvalidInstanceError("seeds", "must name at least one seed")
    return np.array(out, dtype=np.int64)


class _Recorder:
    """Per-run running sums (of the learner's loss, sampled loss, pseudo-regret), kept a block of
    rounds at a time, and their values at the recorded horizons."""

    def __init__(self, horizons: np.ndarray, n_runs: int, sampled: bool, pseudo: bool):
        H = horizons.size
        self.horizons, self.next = horizons, 0
        self.sums = {"loss": np.zeros(n_runs)}
        if sampled:
            self.sums["sampled"] = np.zeros(n_runs)
        if pseudo:
            self.sums["pseudo"] = np.zeros(n_runs)
        self.records = {name: np.empty((n_runs, H)) for name in [*self.sums, "best"]}

    def block_rows(self, t0: int, n: int) -> np.ndarray:
        """The rows ``j`` (round ``t0 + j + 1``) of the block ``t0 + 1 … t0 + n`` that are recorded."""
        stop = self.next + np.searchsorted(self.horizons[self.next:], t0 + n, side="right")
        return self.horizons[self.next:stop] - t0 - 1

    def add_block(self, rows: np.ndarray, values: dict, best: np.ndarray) -> None:
        """A block: ``values[name]`` ``(n, R)`` per round; ``best`` ``(len(rows), R)``: ``min_i L_{t,i}``
        at the recorded ``rows`` (from :meth:`block_rows`)."""
        names = list(self.sums)
        step = np.stack([values[name] for name in names], axis=1)            # (n, sums, R)
        acc = np.stack([self.sums[name] for name in names])
        start = 0
        for h, stop in enumerate([*rows.tolist(), step.shape[0] - 1]):
            if stop >= start:
                acc = _sequential_sum(acc, step[start:stop + 1])
                start = stop + 1
            if h < rows.size:
                for i, name in enumerate(names):
                    self.records[name][:, self.next + h] = acc[i]
        for i, name in enumerate(names):
            self.sums[name][:] = acc[i]
        self.records["best"][:, self.next:self.next + rows.size] = best.T
        self.next += rows.size


def _sequential_sum(acc: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``(…((acc + rows[0]) + rows[1]) + …)``, in the order of the rounds, so that a running sum
    does not depend on how the rounds are split into blocks. numpy reduces the leading axis of a
    C-contiguous array row by row, elementwise, in one call (pairwise summation applies only when
    the reduced axis is the innermost: a single column, which is padded here to two)."""
    stacked = np.concatenate([acc[None], rows])
    if acc.size == 1:
        stacked = np.concatenate([stacked, np.zeros_like(stacked)], axis=-1)
        return np.add.reduce(stacked, axis=0)[..., :1]
    return np.add.reduce(stacked, axis=0)


def _mix(w: np.ndarray, x: np.ndarray, total: np.ndarray) -> np.ndarray:
    """``Σ_i w_i x_i / total`` along the last axis (``x`` may be ``(K,)``)."""
    subscripts = "...k,...k->..." if x.ndim == w.ndim else "...k,k->..."
    return np.einsum(subscripts, w, x) / total


def _run_blocks(learner, lstate, adversary, astate, horizon, chunk, rec, learner_rngs, sample, gaps) -> None:
    """Time-vectorised path: a time-vectorised full-information learner, an oblivious adversary."""
    R, K = len(learner_rngs), learner.n_actions
    losses = np.empty((chunk, R, K))
    cum = np.zeros((chunk + 1, R, K))            # cum[j] = L_{t0+j}
    t0 = 0
    while t0 < horizon:
        n = min(chunk, horizon - t0)
        ell = losses[:n]
        np.copyto(ell, adversary.draw(astate, n).transpose(1, 0, 2))
        for j in range(n):                       # the additions a round-by-round run makes
            np.add(cum[j], ell[j], out=cum[j + 1])
        rows = rec.block_rows(t0, n)
        best = min_last_axis(cum[rows + 1])
        w = learner.block_weights(lstate, cum[:n], out=cum[:n])        # overwrites L_{t0..t0+n-1}
        total = np.einsum("...k->...", w)
        values = {"loss": _mix(w, ell, total)}
        if sample:
            a = sample_actions(w, draw_uniforms(learner_rngs, n)[..., 0])
            values["sampled"] = np.take_along_axis(ell, a[..., None], axis=-1)[..., 0]
        if gaps is not None:
            values["pseudo"] = _mix(w, gaps, total)
        rec.add_block(rows, values, best)
        cum[0] = cum[n]
        t0 += n


def _run_steps(learner, lstate, adversary, astate, horizon, chunk, rec, learner_rngs, sample, gaps) -> None:
    """Round by round (vectorised over the runs); draws made, and records kept, a block of
    ``chunk`` rounds at a time."""
    R, K = len(learner_rngs), learner.n_actions
    bandit = learner.feedback == "bandit"
    runs = np.arange(R)
    losses = np.empty((chunk, R, K))
    steps = {name: np.empty((chunk, R)) for name in rec.sums}
    cumulative = np.zeros((R, K))                 # L_{t0}
    last = None
    t0 = 0
    while t0 < horizon:
        n = min(chunk, horizon - t0)
        block = adversary.draw(astate, n)
        if block is not None:
            np.copyto(losses[:n], block.transpose(1, 0, 2))
        u = draw_uniforms(learner_rngs, n)[..., 0] if (bandit or sample) else None
        for j in range(n):
            w = learner.weights(lstate)
            total = None if bandit and not adversary.adaptive else np.einsum("...k->...", w[None])[0]
            if adversary.adaptive:
                losses[j] = adversary.respond(astate, j, w / total[:, None], last)
            ell = losses[j]
            a = sample_actions(w, u[j]) if u is not None else None
            if bandit:
                steps["loss"][j] = ell[runs, a]
                learner.observe(lstate, a, steps["loss"][j])
                if gaps is not None:
                    steps["pseudo"][j] = gaps[a]
            else:
                steps["loss"][j] = _mix(w[None], ell[None], total[None])[0]
                if sample:
                    steps["sampled"][j] = ell[runs, a]
                if gaps is not None:
                    steps["pseudo"][j] = _mix(w[None], gaps, total[None])[0]
                learner.observe(lstate, a, ell)
            last = a
        rows = rec.block_rows(t0, n)
        best, start = [], 0
        for stop in rows.tolist():
            cumulative = _sequential_sum(cumulative, losses[start:stop + 1])
            best.append(min_last_axis(cumulative))
            start = stop + 1
        cumulative = _sequential_sum(cumulative, losses[start:n])
        rec.add_block(rows, {name: v[:n] for name, v in steps.items()}, np.array(best).reshape(rows.size, R))
        t0 += n


def _run_group(learner, adversary, horizon, seeds, horizons, sample, chunk, path):
    adversary_rngs, learner_rngs = run_generators(seeds)
    lstate = learner.start(len(seeds), horizon)
    astate = adversary.start(adversary_rngs)
    means = adversary.means()
    gaps = None if means is None else means - means.min()
    flat = gaps is not None and not gaps.any()          # equal means: the pseudo-regret is exactly 0
    rec = _Recorder(horizons, len(seeds), sample, gaps is not None and not flat)
    go = _run_blocks if path == "blocks" else _run_steps
    go(learner, lstate, adversary, astate, horizon, chunk, rec, learner_rngs, sample, None if flat else gaps)
    if flat:
        rec.records["pseudo"] = np.zeros_like(rec.records["best"])
    return rec.records


def run(learner: Learner, adversary: Adversary, horizon: int, seeds=0, *, record=None, sample: bool = False,
        chunk: int | None = None, workers: int = 1, path: str = "auto") -> RegretRun:
    """Run ``learner`` against ``adversary`` for ``horizon`` rounds, one independent run per seed.

    ``seeds``: an integer or a sequence of integers ``>= 0``; run ``r`` draws its losses and its
    actions from the two children of ``numpy.random.SeedSequence(seeds[r])`` (:func:`~.base.run_generators`),
    so an oblivious adversary deals a seed the same losses whichever learner faces it.
    ``record``: the horizons (rounds, from 1) at which to record, default every round (memory
    ``O(R · len(record))``). ``sample``: full information only: also draw ``A_t ~ p_t`` and record
    ``sampled_regret`` (implied by an adversary with ``needs_actions``). ``chunk``: rounds per
    block (default about ``2^18 / (R K)``); no result depends on it. ``workers``: threads, each
    running a contiguous group of the seeds (the results are the same as with one). ``path``:
    ``"auto"`` (blocks when the learner is time-vectorised and the adversary oblivious),
    ``"blocks"`` or ``"steps"`` (to compare the two).
    """
    if not isinstance(learner, Learner):
        raise InvalidInstanceError("learner", f"expected a Learner, got {type(learner).__name__}")
    if not isinstance(adversary, Adversary):
        raise InvalidInstanceError("adversary", f"expected an Adversary, got {type(adversary).__name__}")
    if learner.n_actions != adversary.n_actions:
        raise InvalidInstanceError("adversary", f"has {adversary.n_actions} actions, the learner {learner.n_actions}")
    horizon = check_count("horizon", horizon)
    seed_array = _seeds(seeds)
    horizons = _horizons(record, horizon)
    workers = min(check_count("workers", workers), seed_array.size)
    R, K = seed_array.size, learner.n_actions
    if chunk is None:
        chunk = max(1, min(horizon, BLOCK_ELEMENTS // (-(-R // workers) * K)))
    chunk = min(check_count("chunk", chunk), horizon)
    if learner.feedback == "bandit":
        sample = False
    else:
        sample = bool(sample) or adversary.needs_actions
    vectorisable = learner.time_vectorised and not adversary.adaptive
    if path == "auto":
        path = "blocks" if vectorisable else "steps"
    elif path not in ("blocks", "steps"):
        raise InvalidInstanceError("path", f"must be 'auto', 'blocks' or 'steps', got {path!r}")
    elif path == "blocks" and not vectorisable:
        raise InvalidInstanceError("path", f"'blocks' needs a time-vectorised learner and an oblivious adversary "
                                   f"({type(learner).__name__} against {type(adversary).__name__})")

    groups = np.array_split(seed_array, workers)
    if workers == 1:
        parts = [_run_group(learner, adversary, horizon, seed_array, horizons, sample, chunk, path)]
    else:
        with ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(lambda g: _run_group(learner, adversary, horizon, g, horizons, sample, chunk, path),
                                  groups))
    rec = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    best = rec["best"]
    return RegretRun(learner=learner, adversary=adversary, horizon=horizon, seeds=seed_array, horizons=horizons,
                     regret=rec["loss"] - best, best_loss=best,
                     sampled_regret=rec["sampled"] - best if "sampled" in rec else None,
                     pseudo_regret=rec.get("pseudo"))


__all__ = ["run", "RegretRun", "BLOCK_ELEMENTS"]
