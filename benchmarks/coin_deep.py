"""The deep (torch) Coin Game principal on the paper's 7x7 grid (``H = 50``), with its validation
and baselines, beside the figures Ivanov et al. report (arXiv 2407.18074, Section 5, Fig. 2).

    python benchmarks/coin_deep.py [--seeds 3] [--principal-iterations N] [--agent-iterations N]
                                   [--n-envs 32] [--episodes 1024] [--nudge 0.01] [--grid 7]
                                   [--replay uniform|prioritised]
                                   [--simultaneous both] [--quick] [--out results.json]
                                   [--checkpoint-dir DIR [--checkpoint-every SECONDS]] [--workers N]

For each seed: the principal of :mod:`contractlab.learning.coin_deep` is trained (``α = 0.1``),
frozen, and measured with both agents following; then validated by two fresh selfish DQN
learners trained from scratch, paid only when they follow; then the baselines of
:mod:`contractlab.learning.coin_baselines` are trained with the same deep learners and budget:
selfish, cooperative (each learns from the welfare, unpaid) and constant proportion with ``p``
matched to that seed's validation payment share. There is no exact optimum on 7x7: every number
is a Monte Carlo mean of the greedy play over ``--episodes`` games (a fixed evaluation seed), and
the table gives the mean over seeds ± a 95% Student-t half-width. A reference row gives uniformly
random play (the scale of an untrained policy).

Columns: welfare per episode; payments per episode; payments as a share of welfare; follow rate
(the fraction of steps at which an agent plays the recommendation of the same seed's
principal; the baselines are not asked to). The paper's Fig. 2 (7x7) reports near-optimal
welfare, payments near 30% of welfare and 80–90% of recommendations followed, after 10⁶ updates
per network.

Defaults: 12 000 lockstep steps of 32 games for the principal (one gradient step per network
each; the paper has 10⁶) and 5400 for each validation / baseline run: 18 minutes for 3 seeds,
425 MB peak, on the shared 2-core machine at load ~3 (a third of this budget took 20 minutes at
load ~8, so on a busier machine the defaults may take about an hour). At 100 000 / 50 000 (the
run in ``docs/results.md``) a seed takes about 38 minutes, 5 seeds about 2 hours with
``--workers 2``, about 400 MiB per process.

``--quick``: 2 seeds, 60 iterations each, 128 evaluation episodes (a smoke run, < 1 minute; a flag typed beside it wins;
nothing converges). ``--out``: the numbers as JSON (written atomically; the path is checked
before any work). Progress goes to stderr, the table to stdout.

``--checkpoint-dir DIR``: runs at the paper's budget take hours, so every phase (principal,
validation, each baseline) of every seed checkpoints into ``DIR/seed<k>/`` every
``--checkpoint-every`` seconds (default 600) and when Ctrl-C / SIGTERM arrives (it stops at the
next episode batch, saves and exits 130; a second signal stops at once), and a finished phase's
numbers go to ``DIR/seed<k>/results.json`` (its checkpoint is then deleted; the frozen principal
stays as ``principal.npz``). The same command resumes where the run stopped, even after a kill,
and prints the same table bit for bit (only the times differ; the first line then gives this
invocation's wall time and the phases' time summed over all invocations). ``DIR/run.json``
holds the settings; a folder of another run's settings is refused, except that ``--seeds`` may
grow (the finished seeds are read back, not retrained).

``--workers N``: N seeds at once, one process each (``spawn``; one torch thread each). A seed's
numbers do not depend on the process that trained it, so the table is the same as with one
worker. Ctrl-C / SIGTERM to the command asks every process to save and stop at its next episode
batch (a second one terminates them); with ``--checkpoint-dir`` the same command resumes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import shlex
import signal
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.contracts import machine_info  # noqa: E402
from benchmarks.summary import ci, log, parse_args_quick, seed_list, with_flags  # noqa: E402
from contractlab.cli.common import EXIT_INTERRUPTED, check_output  # noqa: E402
from contractlab.cli.learn import StopFlag, stop_at_boundary  # noqa: E402
from contractlab.learning import coin_baselines as cb  # noqa: E402
from contractlab.learning import coin_deep as cd  # noqa: E402
from contractlab.learning.coin_agents import PlayMetrics  # noqa: E402
from contractlab.learning.coin_deep_agents import (REPLAYS, DeepAgentConfig, DeepAgentLearner,  # noqa: E402
                                                   check_deep_memory, play_greedy)
from contractlab.theory.coin_game import CoinGame, game_to_dict  # noqa: E402
from contractlab.theory.errors import InvalidInstanceError  # noqa: E402
from contractlab.theory.fileio import write_atomic  # noqa: E402

ROWS = {
    "principal": "learned principal, both agents follow",
    "validation": "validation: fresh selfish DQNs vs frozen principal (paid iff they follow)",
    "selfish": "baseline: selfish DQNs",
    "cooperative": "baseline: cooperative DQNs (maximise welfare, unpaid)",
    "constant_proportion": "baseline: constant proportion p (matched share)",
    "random": "reference: uniformly random play",
}


def progress(label: str, every: int):
    """A training callback that logs the last episode batch's welfare (ε-greedy play) whenever the
    iteration count passes a multiple of ``every``, also in a run resumed from a checkpoint."""
    start = time.perf_counter()
    last = [None]

    def cb_(iteration, total, metrics):
        mark = iteration // every
        if last[0] is not None and mark > last[0]:
            log(f"    {label}: {iteration}/{total} training welfare/episode {metrics['welfare']:.2f} "
                f"({time.perf_counter() - start:.0f} s)")
        last[0] = mark
        return False

    return cb_


def record(play) -> dict:
    """A play's numbers for ``--out`` and for the checkpoint folder (exact: JSON keeps every float)."""
    return {"welfare": play.welfare, "payments": play.total_payment, "payment_share": play.payment_share,
            "follow_rate": float(np.mean(play.follow_rate)), "returns": play.returns.tolist(),
            "payments_by_agent": play.payments.tolist(), "follow_rate_by_agent": play.follow_rate.tolist()}


def unrecord(doc: dict) -> PlayMetrics:
    return PlayMetrics(welfare=float(doc["welfare"]), returns=np.array(doc["returns"], dtype=float),
                       payments=np.array(doc["payments_by_agent"], dtype=float),
                       follow_rate=np.array(doc["follow_rate_by_agent"], dtype=float))


class Stopped(Exception):
    """A signal stopped a phase; its checkpoint is saved."""


#: Training phases of one seed, in order, with the seed offset of their learner.
PHASES = {"principal": 0, "validation": 1000, "selfish": 2000, "cooperative": 3000, "constant_proportion": 4000}


class SeedRun:
    """One seed's phases (module docstring). With ``folder`` every phase resumes from its
    checkpoint (saved every ``save_every`` seconds and when ``flag`` is set, at an episode-batch
    boundary) and a finished phase's numbers are kept in ``folder/results.json``: a run stopped
    at any point and started again gives the same numbers bit for bit."""

    def __init__(self, game: CoinGame, seed: int, pcfg: cd.DeepPrincipalConfig, acfg: DeepAgentConfig,
                 episodes: int, every: int, folder: Path | None = None, flag=None, save_every: float = 600.0):
        self.game, self.seed, self.pcfg, self.acfg, self.episodes, self.every = game, seed, pcfg, acfg, episodes, every
        self.folder, self.flag, self.save_every = folder, flag, save_every
        self.doc = {"plays": {}, "seconds": {}, "partial_seconds": {}, "proportion": None}
        if folder is not None:
            folder.mkdir(exist_ok=True)
            if (folder / "results.json").is_file():
                self.doc = json.loads((folder / "results.json").read_text(encoding="utf-8"))
            for name in self.doc["plays"]:              # a kill between the two writes of a finished phase
                (folder / f"{name}.ckpt.npz").unlink(missing_ok=True)

    def _write(self) -> None:
        if self.folder is not None:
            write_atomic(self.folder / "results.json", lambda fh: json.dump(self.doc, fh, indent=1, allow_nan=True))

    def _phase(self, name: str, make, load, measure) -> None:
        if name in self.doc["plays"]:
            return
        ckpt = None if self.folder is None else self.folder / f"{name}.ckpt.npz"
        resumed = ckpt is not None and ckpt.is_file()
        learner = load(ckpt) if resumed else make()
        if resumed:
            log(f"  seed {self.seed} {name}: resumed at iteration {learner.iteration} of {learner.config.iterations}")
        before = float(self.doc["partial_seconds"].get(name, 0.0))
        t0 = last = time.perf_counter()
        show = progress(f"seed {self.seed} {name}", self.every)

        def save() -> None:
            learner.save(ckpt)
            self.doc["partial_seconds"][name] = before + time.perf_counter() - t0
            self._write()

        def callback(iteration, total, metrics):
            nonlocal last
            show(iteration, total, metrics)
            stop = bool(self.flag)
            if ckpt is not None and (stop or time.perf_counter() - last >= self.save_every):
                save()
                last = time.perf_counter()
            return stop

        learner.train(callback=callback)
        if learner.iteration < learner.config.iterations:
            raise Stopped(f"seed {self.seed} {name} at iteration {learner.iteration} of {learner.config.iterations}")
        play = measure(learner)
        self.doc["plays"][name] = record(play)
        self.doc["seconds"][name] = before + time.perf_counter() - t0
        self.doc["partial_seconds"].pop(name, None)
        self._write()
        if ckpt is not None:
            ckpt.unlink(missing_ok=True)

    def run(self) -> dict:
        game, seed, acfg, episodes, ev = self.game, self.seed, self.acfg, self.episodes, 10_000 + self.seed
        policy_path = None if self.folder is None else self.folder / "principal.npz"
        frozen = {}

        def finish_principal(learner):
            frozen["pol"] = learner.policy()
            if policy_path is not None:
                frozen["pol"].save(policy_path)
            return frozen["pol"].follow(episodes, seed=ev)

        self._phase("principal", lambda: cd.DeepPrincipalLearner(game, self.pcfg, seed=seed),
                    cd.DeepPrincipalLearner.load, finish_principal)
        pol = frozen.get("pol") or cd.DeepCoinPrincipal.load(policy_path)
        self._phase("validation", lambda: cd.validation_learner(pol, acfg, seed=PHASES["validation"] + seed),
                    lambda path: DeepAgentLearner.load(path, context=pol.context),
                    lambda learner: cd.measure_validation(pol, learner.run(), episodes, ev))
        if self.doc["proportion"] is None:
            val = unrecord(self.doc["plays"]["validation"])
            self.doc["proportion"] = cb.matched_proportion(val) if val.welfare > 0 else 0.0
            self._write()
        p = float(self.doc["proportion"])
        for kind in ("selfish", "cooperative", "constant_proportion"):
            shaping = cd.baseline_shaping(kind, p)
            self._phase(kind, lambda: DeepAgentLearner(game, shaping, acfg, seed=PHASES[kind] + seed),
                        lambda path: DeepAgentLearner.load(path, shaping=shaping),
                        lambda learner: cd.measure_baseline(game, kind, learner.run(), p, pol, episodes, ev))
        out = {k: unrecord(v) for k, v in self.doc["plays"].items()}
        rng = np.random.default_rng(20_000 + seed)
        out["random"] = play_greedy(game, lambda s, t, r: rng.integers(0, game.n_actions, size=(s.batch, 2)), episodes,
                                    ev, context=pol.context, pay_followers=False)
        times = self.doc["seconds"]
        log(f"  seed {seed}: " + ", ".join(f"{k} W {m.welfare:.2f} P {m.total_payment:.2f} follow "
                                          f"{np.mean(m.follow_rate):.2f}" for k, m in out.items())
            + f"; p = {p:.3f}; times " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items()))
        return {"plays": out, "proportion": p, "times": times}


class EventFlag:
    """A stop flag shared by processes: true once the parent set ``event``."""

    def __init__(self, event):
        self.event = event

    def __bool__(self) -> bool:
        return self.event.is_set()


def seed_worker(k: int, workers: int, seeds: list, game: CoinGame, pcfg, acfg, episodes: int, every: int,
                folder: Path, save_every: float, event) -> None:
    """Process ``k`` of ``--workers``: seeds ``seeds[k::workers]`` into ``folder``, stopping at the
    next episode batch once the parent sets ``event`` (signals are the parent's to handle)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        for s in seeds[k::workers]:
            SeedRun(game, s, pcfg, acfg, episodes, every, folder=folder / f"seed{s}", flag=EventFlag(event),
                    save_every=save_every).run()
    except Stopped as exc:
        log(f"stopped: {exc}")


def run_workers(workers: int, seeds: list, game: CoinGame, pcfg, acfg, episodes: int, every: int, folder: Path,
                save_every: float) -> bool:
    """Train the seeds in ``workers`` processes (each seed's numbers do not depend on which
    process ran it). The first Ctrl-C / SIGTERM asks every process to save and stop, the second
    terminates them. Returns whether a signal stopped the run; a failed process raises."""
    ctx = multiprocessing.get_context("spawn")
    event = ctx.Event()
    procs = [ctx.Process(target=seed_worker, args=(k, workers, seeds, game, pcfg, acfg, episodes, every, folder,
                                                   save_every, event)) for k in range(workers)]

    def handler(signum, frame):
        if event.is_set():
            for p in procs:
                p.terminate()
            raise KeyboardInterrupt
        event.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for p in procs:
            p.start()
        for p in procs:
            p.join()
    finally:
        for sig, h in previous.items():
            signal.signal(sig, h)
    failed = [p.exitcode for p in procs if p.exitcode != 0]
    if failed:
        raise RuntimeError(f"{len(failed)} of {workers} worker processes failed (exit codes {failed}); "
                           "their seeds resume from the checkpoint folder")
    return event.is_set()


def open_checkpoint_dir(path: str, settings: dict) -> Path:
    """The checkpoint folder, made if missing; one that holds a run with other settings is
    refused (``--checkpoint-dir``, naming the first differing setting)."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise InvalidInstanceError("--checkpoint-dir", f"{path!r} exists and is not a folder")
    if not folder.resolve().parent.is_dir():
        raise InvalidInstanceError("--checkpoint-dir", f"folder {str(folder.resolve().parent)!r} does not exist")
    folder.mkdir(exist_ok=True)
    run = folder / "run.json"
    if run.is_file():
        try:
            saved = json.loads(run.read_text(encoding="utf-8"))["settings"]
            # a config field added since the run began takes its default there (what the run used)
            saved["principal_config"] = cd.DeepPrincipalConfig(**saved["principal_config"]).to_dict()
            saved["agent_config"] = DeepAgentConfig(**saved["agent_config"]).to_dict()
        except (ValueError, KeyError, TypeError, UnicodeDecodeError, InvalidInstanceError):
            raise InvalidInstanceError("--checkpoint-dir", f"{str(run)!r} is not a run file of this benchmark") from None
        for key in sorted(set(saved) | set(settings)):
            if saved.get(key) != settings.get(key):
                raise InvalidInstanceError("--checkpoint-dir", f"holds a run with other settings ({key}: "
                                                               f"{saved.get(key)!r} there, {settings.get(key)!r} now)")
    else:
        write_atomic(run, lambda fh: json.dump({"kind": "coin_deep_benchmark_run", "version": 1,
                                                "settings": settings}, fh, indent=1))
    return folder


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--grid", type=int, default=7)
    ap.add_argument("--simultaneous", choices=["both", "random"], default="both")
    ap.add_argument("--principal-iterations", type=int, default=12_000,
                    help="lockstep steps of the principal's training (each: n-envs transitions, one update per network)")
    ap.add_argument("--agent-iterations", type=int, default=5_400,
                    help="lockstep steps of each validation / baseline training")
    ap.add_argument("--n-envs", type=int, default=32)
    ap.add_argument("--episodes", type=int, default=1024, help="Monte Carlo evaluation episodes")
    ap.add_argument("--nudge", type=float, default=cd.DeepPrincipalConfig().nudge)
    ap.add_argument("--replay", choices=REPLAYS, default=DeepAgentConfig().replay,
                    help="replay of every learner: uniform (default) or the paper's prioritised (alpha 0.4, beta 0)")
    ap.add_argument("--quick", action="store_true", help="2 seeds, 60 iterations, 128 episodes: a smoke run")
    ap.add_argument("--out", help="write the numbers as JSON here")
    ap.add_argument("--checkpoint-dir", help="keep each phase's checkpoint and each finished phase's numbers here; "
                                             "the same command resumes (a folder made if missing)")
    ap.add_argument("--checkpoint-every", type=float, default=600.0,
                    help="seconds between checkpoints within a phase (default 600)")
    ap.add_argument("--workers", type=int, default=1,
                    help="train this many seeds at once, one process each (default 1; same numbers)")
    args = parse_args_quick(ap, argv, seeds=2, principal_iterations=60, agent_iterations=60, episodes=128)
    try:
        check_output("--out", args.out)
        if not args.checkpoint_every > 0:
            raise InvalidInstanceError("--checkpoint-every", f"must be > 0 seconds, got {args.checkpoint_every}")
        game = CoinGame(grid=args.grid, simultaneous=args.simultaneous)
        flags = {"n_envs": "--n-envs", "nudge": "--nudge", "replay": "--replay"}
        pcfg = with_flags(lambda: cd.DeepPrincipalConfig(iterations=args.principal_iterations, n_envs=args.n_envs,
                                                         nudge=args.nudge, replay=args.replay),
                          {**flags, "iterations": "--principal-iterations"})
        acfg = with_flags(lambda: DeepAgentConfig(iterations=args.agent_iterations, n_envs=args.n_envs,
                                                  replay=args.replay), {**flags, "iterations": "--agent-iterations"})
        for cfg, it_flag in ((pcfg, "--principal-iterations"), (acfg, "--agent-iterations")):
            with_flags(lambda: check_deep_memory(game, cfg), {**flags, "iterations": it_flag})
        seeds = seed_list(args.seeds, minimum=1)
        for opt in ("episodes", "workers"):
            if getattr(args, opt) < 1:
                raise InvalidInstanceError(f"--{opt}", f"must be >= 1, got {getattr(args, opt)}")
        folder = None
        if args.checkpoint_dir is not None:
            folder = open_checkpoint_dir(args.checkpoint_dir, {
                "game": game_to_dict(game), "principal_config": pcfg.to_dict(), "agent_config": acfg.to_dict(),
                "episodes": args.episodes})
    except InvalidInstanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    every = max(1, args.principal_iterations // 5)
    start = time.perf_counter()
    results = []
    flag = StopFlag()
    scratch = None
    try:
        if args.workers > 1:
            if folder is None:      # the processes hand their numbers over through a folder
                scratch = tempfile.TemporaryDirectory(prefix="coin_deep_")
            stopped = run_workers(min(args.workers, len(seeds)), seeds, game, pcfg, acfg, args.episodes, every,
                                  folder or Path(scratch.name), args.checkpoint_every)
            if stopped:
                raise Stopped("on a signal" + ("" if folder is not None else " (no --checkpoint-dir: nothing kept)"))
        with stop_at_boundary(flag) if folder is not None or scratch is not None else contextlib.nullcontext():
            for s in seeds:
                log(f"seed {s} ({time.perf_counter() - start:.0f} s elapsed)")
                where = folder or (Path(scratch.name) if scratch is not None else None)
                results.append(SeedRun(game, s, pcfg, acfg, args.episodes, every,
                                       folder=None if where is None else where / f"seed{s}", flag=flag,
                                       save_every=args.checkpoint_every).run())
    except Stopped as exc:
        log(f"stopped: {exc}" + (f"; checkpoint saved in {args.checkpoint_dir}: the same command resumes"
                                 if folder is not None else ""))
        raise SystemExit(EXIT_INTERRUPTED) from None
    except KeyboardInterrupt:
        log("interrupted" + ("" if folder is not None else " (no --checkpoint-dir: nothing saved)"))
        raise SystemExit(EXIT_INTERRUPTED) from None
    except RuntimeError as exc:
        log(f"error: {exc}")
        raise SystemExit(1) from None
    finally:
        if scratch is not None:
            scratch.cleanup()
    wall = time.perf_counter() - start
    info = machine_info()
    command = " ".join(["python benchmarks/coin_deep.py", *map(shlex.quote, argv if argv is not None else sys.argv[1:])])
    computed = sum(sum(r["times"].values()) for r in results)
    print(f"Command: `{command}` — wall time {wall:.0f} s"
          + (f" (this invocation; the phases took {computed:.0f} s over all invocations)" if folder is not None else ""))
    print(f"Machine: {info['cpu']}, {info['cpus_usable']} usable CPUs, load {info['load_average_1_5_15min']}, "
          f"Python {info['python']}, numpy {info['numpy']}, commit {info['git_commit']}, {info['date_utc']}")
    print(f"\n`CoinGame(grid={game.grid}, horizon={game.horizon}, simultaneous={game.simultaneous!r})`; seeds {seeds}; "
          f"{args.episodes} evaluation episodes per run; mean ± 95% Student-t half-width over seeds.")
    print(f"Principal {pcfg.to_dict()}\nAgents {acfg.to_dict()}\n")
    print("| run | welfare / episode | payments / episode | payments / welfare | follow rate |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for key, label in ROWS.items():
        plays = [r["plays"][key] for r in results]
        if key == "constant_proportion":
            label += f" (p = {ci([r['proportion'] for r in results])})"
        paid = key in ("principal", "validation", "constant_proportion")
        print(f"| {label} | {ci([m.welfare for m in plays])} | {ci([m.total_payment for m in plays]) if paid else '0'} "
              f"| {ci([m.payment_share for m in plays]) if paid else '0'} "
              f"| {ci([float(np.mean(m.follow_rate)) for m in plays])} |")
    print("| paper, Fig. 2 (7x7, 10⁶ updates): principal after validation | near-optimal | — | ≈ 0.30 | 0.80–0.90 |")
    times = {k: float(np.mean([r["times"][k] for r in results])) for k in results[0]["times"]}
    print("\nMean seconds per seed: " + ", ".join(f"{k} {v:.0f}" for k, v in times.items()))
    if args.out:
        doc = {"kind": "coin_deep_benchmark", "version": 1, "command": command, "wall_seconds": wall,
               "machine": info, "game": {"grid": game.grid, "horizon": game.horizon,
                                         "simultaneous": game.simultaneous},
               "principal_config": pcfg.to_dict(), "agent_config": acfg.to_dict(), "episodes": args.episodes,
               "seeds": [{"seed": s, "proportion": r["proportion"], "seconds": r["times"],
                          **{k: record(m) for k, m in r["plays"].items()}} for s, r in zip(seeds, results)]}
        write_atomic(args.out, lambda fh: json.dump(doc, fh, indent=1, allow_nan=True))
        log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
