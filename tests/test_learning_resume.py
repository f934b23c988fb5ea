"""Both learners resume bit-identically from any iteration boundary (issue 10).

A run stopped at an iteration boundary by the ``train(callback=...)`` callback (how
``contractlab learn`` stops on SIGINT: its handler sets a flag, the callback returns it), saved,
loaded with :func:`~contractlab.learning.load_learner` and trained to the end equals the
uninterrupted run with the same seed in every piece of state — tables / network parameters,
optimizer moments, replay ring, random generators, iteration, learning curve — and in its final
policy; also after two interruptions. A learner whose iteration was cut short by an exception
refuses to be saved. Resumed learners report the config they were started with.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from contractlab.learning import load_learner, make_learner
from contractlab.theory.errors import InvalidInstanceError
from contractlab.theory.pamdp_families import binary_game_tree, random_discounted

# --------------------------------------------------------------------------- set-ups

#: Tabular runs: (MDP factory, config overrides, eval_every). 30 iterations span the ε decay and
#: the agent-only phase; eval_every 7 puts evaluations at 7, 14, 21, 28 and the end (30).
TABULAR_CASES = {
    "tree": (lambda: binary_game_tree(4, seed=0), dict(n_envs=16, iterations=30), 7),
    "discounted_sample": (lambda: random_discounted(5, 3, 2, seed=4),
                          dict(n_envs=16, iterations=30, agent_update="sample", principal_update="sample",
                               margin=0.01), 7),
}
TABULAR_STOPS = (0, 1, 7, 16, 29, 30)

#: A tiny deep run on a depth-4 tree: learning starts at iteration 2 (16 transitions), target
#: copies every 5 iterations, the 64-transition replay ring wraps at iteration 8, evaluations at
#: 10, 20 and the end (24).
DEEP_CONFIG = dict(iterations=24, n_envs=8, batch_size=16, buffer_size=64, target_update=5, hidden=(16, 16))
DEEP_EVAL_EVERY = 10
DEEP_STOPS = (0, 1, 2, 5, 8, 10, 13, 23, 24)
DEEP_VARIANTS = {
    "outcome": {},
    "sample_relabel_agent_only": dict(agent_update="sample", principal_update="sample", relabel_payments=True,
                                      agent_only_fraction=0.25, margin=0.0),
}


def _deep():
    return pytest.importorskip("torch")


# --------------------------------------------------------------------------- snapshots of the whole state

def _tabular_snapshot(learner) -> dict:
    """Every piece of a tabular learner's state, read from the live object."""
    from contractlab.learning.tabular import _STATE_ARRAYS
    snap = {name: np.array(getattr(learner, name)) for name in _STATE_ARRAYS}
    snap["sim.state"] = learner.sim.state.copy()
    snap["sim.step_count"] = learner.sim.step_count.copy()
    snap["rng"] = json.dumps(learner.rng.bit_generator.state)
    snap["sim.rng"] = json.dumps(learner.sim.rng.bit_generator.state)
    snap["iteration"] = learner.iteration
    snap["config"] = json.dumps(learner.config.to_dict())
    return snap


def _deep_snapshot(learner) -> dict:
    """Every piece of a deep learner's state, read from the live objects (parameters, Adam
    moments and step counts, target tables, the whole replay ring, generators, curve)."""
    snap = {}
    for net in ("principal_q", "agent_q", "principal_target", "agent_target"):
        for name, p in getattr(learner, net).named_parameters():
            snap[f"{net}.{name}"] = p.detach().numpy().copy()
    for j, p in enumerate(learner._parameters()):
        for key, value in sorted(learner.optimizer.state.get(p, {}).items()):
            snap[f"adam.{j}.{key}"] = value.detach().numpy().copy()
    snap["adam.param_groups"] = repr([{k: v for k, v in g.items() if k != "params"}
                                      for g in learner.optimizer.param_groups])
    for i, v in enumerate(learner.target_values):
        snap[f"target_values.{i}"] = v.copy()
    snap["target_contracts"] = learner.target_contracts.copy()
    snap["target_implementable"] = learner.target_implementable.copy()
    if learner.outcome_targets is not None:
        for i, v in enumerate(learner.outcome_targets):
            snap[f"outcome_targets.{i}"] = v.copy()
    for k, v in learner.buffer.data.items():
        snap[f"buffer.{k}"] = v.copy()
    snap["buffer.size_ptr"] = (learner.buffer.size, learner.buffer.ptr)
    snap["sim.state"] = learner.simulator.state.copy()
    snap["sim.step_count"] = learner.simulator.step_count.copy()
    snap["rng"] = json.dumps(learner.rng.bit_generator.state)
    snap["sim.rng"] = json.dumps(learner.simulator.rng.bit_generator.state)
    snap["iteration"] = learner.iteration
    snap["curve"] = json.dumps(learner.curve)
    snap["config"] = json.dumps(learner.config.to_dict())
    return snap


def _assert_identical(a, b, snapshot) -> None:
    """Bit-identical state (arrays: same dtype and np.array_equal) and final policy."""
    sa, sb = snapshot(a), snapshot(b)
    assert sa.keys() == sb.keys()
    for k in sa:
        if isinstance(sa[k], np.ndarray):
            assert sa[k].dtype == sb[k].dtype and sa[k].shape == sb[k].shape, k
            assert np.array_equal(sa[k], sb[k]), k
        else:
            assert sa[k] == sb[k], k
    pa, pb = a.policy(), b.policy()
    assert np.array_equal(pa.action, pb.action) and np.array_equal(pa.contract, pb.contract)
    ca, cb = a.curve, b.curve
    assert json.dumps(ca if isinstance(ca, list) else [c.tolist() for c in ca]) == \
        json.dumps(cb if isinstance(cb, list) else [c.tolist() for c in cb])


def _stop_at(learner, k: int, eval_every: int) -> None:
    """Train until the callback stops the run at boundary ``k`` (0: not at all)."""
    if k == 0:
        return
    seen = []

    def callback(iteration, total, metrics):
        seen.append(iteration)
        return iteration == k

    learner.train(callback=callback, eval_every=eval_every)
    assert learner.iteration == k and seen[-1] == k


def _resume_chain(kind, mdp, overrides, eval_every, stops, tmp_path, seed=3):
    """Train with interruptions at each of ``stops`` (save, load, go on) to the end."""
    learner = make_learner(kind, mdp, seed=seed, **overrides)
    for i, k in enumerate(stops):
        _stop_at(learner, k, eval_every)
        path = tmp_path / f"ck{i}.npz"
        learner.save(path)
        learner = load_learner(kind, path, mdp)
        assert learner.iteration == k
    learner.train(eval_every=eval_every)
    return learner


# --------------------------------------------------------------------------- tabular

@pytest.mark.parametrize("case", sorted(TABULAR_CASES))
def test_tabular_resume_from_every_kind_of_boundary(case, tmp_path):
    make, overrides, eval_every = TABULAR_CASES[case]
    mdp = make()
    straight = make_learner("tabular", mdp, seed=3, **overrides)
    straight.train(eval_every=eval_every)
    assert list(straight.curve[0]) == [7, 14, 21, 28, 30]
    for k in TABULAR_STOPS:
        resumed = _resume_chain("tabular", mdp, overrides, eval_every, [k], tmp_path)
        assert resumed.iteration == straight.iteration == overrides["iterations"]
        _assert_identical(straight, resumed, _tabular_snapshot)


def test_tabular_two_interruptions(tmp_path):
    make, overrides, eval_every = TABULAR_CASES["tree"]
    mdp = make()
    straight = make_learner("tabular", mdp, seed=3, **overrides)
    straight.train(eval_every=eval_every)
    for stops in ([1, 2], [7, 29], [14, 30]):
        resumed = _resume_chain("tabular", mdp, overrides, eval_every, stops, tmp_path)
        _assert_identical(straight, resumed, _tabular_snapshot)


# --------------------------------------------------------------------------- deep

@pytest.mark.parametrize("variant", sorted(DEEP_VARIANTS))
def test_deep_resume_from_every_kind_of_boundary(variant, tmp_path):
    _deep()
    mdp = binary_game_tree(4, seed=0)
    overrides = {**DEEP_CONFIG, **DEEP_VARIANTS[variant]}
    straight = make_learner("deep", mdp, seed=3, **overrides)
    straight.train(eval_every=DEEP_EVAL_EVERY)
    assert [r["iteration"] for r in straight.curve] == [10.0, 20.0, 24.0]
    for k in DEEP_STOPS:
        resumed = _resume_chain("deep", mdp, overrides, DEEP_EVAL_EVERY, [k], tmp_path)
        assert resumed.iteration == straight.iteration == DEEP_CONFIG["iterations"]
        _assert_identical(straight, resumed, _deep_snapshot)


def test_deep_two_interruptions(tmp_path):
    _deep()
    mdp = binary_game_tree(4, seed=0)
    straight = make_learner("deep", mdp, seed=3, **DEEP_CONFIG)
    straight.train(eval_every=DEEP_EVAL_EVERY)
    for stops in ([1, 2], [5, 13], [10, 24]):
        resumed = _resume_chain("deep", mdp, DEEP_CONFIG, DEEP_EVAL_EVERY, stops, tmp_path)
        _assert_identical(straight, resumed, _deep_snapshot)


def test_deep_resume_does_not_depend_on_the_callers_thread_count(tmp_path):
    torch = _deep()
    mdp = binary_game_tree(4, seed=0)
    straight = make_learner("deep", mdp, seed=3, **DEEP_CONFIG)
    straight.train(eval_every=DEEP_EVAL_EVERY)
    half = make_learner("deep", mdp, seed=3, **DEEP_CONFIG)
    _stop_at(half, 13, DEEP_EVAL_EVERY)
    half.save(tmp_path / "ck.npz")
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        resumed = load_learner("deep", tmp_path / "ck.npz", mdp)
        resumed.train(eval_every=DEEP_EVAL_EVERY)
        _assert_identical(straight, resumed, _deep_snapshot)
        assert torch.get_num_threads() == 2 and not torch.are_deterministic_algorithms_enabled()
    finally:
        torch.set_num_threads(before)


# --------------------------------------------------------------------------- the CLI's way of stopping

class _Flag:
    """What the CLI's SIGINT handler sets; the training callback returns ``bool(flag)``."""

    def __init__(self):
        self.set = False


def _small(kind):
    return dict(n_envs=16, iterations=30) if kind == "tabular" else DEEP_CONFIG


@pytest.mark.parametrize("kind", ["tabular", "deep"])
def test_a_stop_requested_mid_iteration_is_honoured_at_the_boundary(kind, tmp_path, monkeypatch):
    """The "signal" arrives in the middle of iteration 9 (inside the simulator step); training
    finishes that iteration, the callback returns the flag, train returns with iteration == 9,
    and the checkpoint written then resumes into the uninterrupted run."""
    if kind == "deep":
        _deep()
    mdp = binary_game_tree(4, seed=0)
    straight = make_learner(kind, mdp, seed=3, **_small(kind))
    straight.train(eval_every=5)
    learner = make_learner(kind, mdp, seed=3, **_small(kind))
    sim = learner.sim if kind == "tabular" else learner.simulator
    flag, calls = _Flag(), []
    original = type(sim).step

    def step(self, action, contract):
        calls.append(1)
        if len(calls) == 9:
            flag.set = True              # the signal handler runs here, mid-iteration
        return original(self, action, contract)

    monkeypatch.setattr(sim, "step", step.__get__(sim))
    learner.train(callback=lambda it, total, metrics: flag.set, eval_every=5)
    assert learner.iteration == 9 == len(calls)
    learner.save(tmp_path / "ck.npz")
    resumed = load_learner(kind, tmp_path / "ck.npz", mdp)
    resumed.train(eval_every=5)
    _assert_identical(straight, resumed, _tabular_snapshot if kind == "tabular" else _deep_snapshot)


@pytest.mark.parametrize("kind", ["tabular", "deep"])
def test_a_checkpoint_written_by_the_callback_resumes_exactly(kind, tmp_path):
    """``--checkpoint-every``: the callback itself saves at every 4th boundary; the last one
    written holds the evaluation of that boundary too."""
    if kind == "deep":
        _deep()
    mdp = binary_game_tree(4, seed=0)
    straight = make_learner(kind, mdp, seed=3, **_small(kind))
    straight.train(eval_every=4)
    learner = make_learner(kind, mdp, seed=3, **_small(kind))
    path = tmp_path / "ck.npz"

    def callback(iteration, total, metrics):
        if iteration % 4 == 0:
            learner.save(path)
        return iteration == 18

    learner.train(callback=callback, eval_every=4)
    resumed = load_learner(kind, path, mdp)
    assert resumed.iteration == 16
    resumed.train(eval_every=4)
    _assert_identical(straight, resumed, _tabular_snapshot if kind == "tabular" else _deep_snapshot)


@pytest.mark.parametrize("kind", ["tabular", "deep"])
def test_an_iteration_cut_short_by_an_exception_cannot_be_saved(kind, tmp_path, monkeypatch):
    """A KeyboardInterrupt inside an iteration (after the simulator stepped) leaves a state that
    mixes two iterations: saving it or training on is refused, naming the iteration."""
    if kind == "deep":
        _deep()
    mdp = binary_game_tree(4, seed=0)
    learner = make_learner(kind, mdp, seed=3, **_small(kind))
    learner.train(3)
    sim = learner.sim if kind == "tabular" else learner.simulator
    original = type(sim).step

    def step(self, action, contract):
        original(self, action, contract)
        raise KeyboardInterrupt

    monkeypatch.setattr(sim, "step", step.__get__(sim))
    with pytest.raises(KeyboardInterrupt):
        learner.train()
    assert learner.iteration == 3
    for action in (lambda: learner.save(tmp_path / "ck.npz"), lambda: learner.train(1)):
        with pytest.raises(InvalidInstanceError) as info:
            action()
        assert info.value.field == "learner" and "iteration 4" in str(info.value)
    assert not (tmp_path / "ck.npz").exists()
    learner.policy()                      # reading the current values is still allowed


@pytest.mark.parametrize("kind", ["tabular", "deep"])
def test_numpy_true_from_the_callback_stops(kind):
    if kind == "deep":
        _deep()
    learner = make_learner(kind, binary_game_tree(3, seed=0), seed=0, **_small(kind))
    learner.train(callback=lambda it, total, metrics: np.bool_(it == 4))
    assert learner.iteration == 4
    learner.train(callback=lambda it, total, metrics: 1)       # only True / numpy.True_ stop
    assert learner.iteration == learner.config.iterations


# --------------------------------------------------------------------------- config of a resumed learner

@pytest.mark.parametrize("kind", ["tabular", "deep"])
def test_resumed_learner_reports_its_config_exactly(kind, tmp_path):
    """The CLI accepts ``--iterations`` / ``--margin`` on resume when they equal the
    checkpoint's: the loaded config has them exactly as given (floats parsed from the command
    line compare equal, other values do not), and the whole config round-trips."""
    if kind == "deep":
        _deep()
    mdp = binary_game_tree(3, seed=0)
    margin = float("0.013")                              # as argparse gives it
    learner = make_learner(kind, mdp, seed=2, **{**_small(kind), "iterations": np.int64(12), "margin": margin})
    learner.train(5)
    learner.save(tmp_path / "ck.npz")
    resumed = load_learner(kind, tmp_path / "ck.npz", mdp)
    cfg = resumed.config
    assert cfg == learner.config and cfg.to_dict() == learner.config.to_dict()
    assert type(cfg.iterations) is int and cfg.iterations == 12
    assert type(cfg.margin) is float and cfg.margin == float("0.013") and cfg.margin != float("0.0130000001")
    assert json.loads(json.dumps(cfg.to_dict())) == cfg.to_dict()
    assert resumed.seed == 2 and resumed.iteration == 5
    rebuilt = dataclasses.replace(cfg)
    assert rebuilt == cfg
