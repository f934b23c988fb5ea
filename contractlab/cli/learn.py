"""``contractlab learn INSTANCE -o POLICY``: train a learned principal and agent, write the
principal's contract policy and check it against the exact SPE. On a ``coin_game`` instance: the
tabular multi-agent principal of the Coin Game (:mod:`.learn_coin`).

Ctrl-C (SIGINT) or SIGTERM stops the run at the next iteration boundary; with
``--checkpoint`` the learner is saved there, and the same command resumes it: the resumed run
ends bit-identical to an uninterrupted one. A second Ctrl-C stops at once (the checkpoint file
is written atomically, so it is either the previous one or the new one).
"""

from __future__ import annotations

import os
import signal
from contextlib import contextmanager

from ..theory.errors import InvalidInstanceError
from .common import (EXIT_INTERRUPTED, EXIT_OK, add_budget_options, apply_budget_options, check_distinct_outputs,
                     check_output, error_line, note, print_json, stderr_console, stdout_console, writing)

#: Arrays of the written policy with at least this many entries go to a sibling ``.npz``.
NPZ_THRESHOLD = 100_000


def add_parser(sub) -> None:
    lp = sub.add_parser("learn", help="train a learned principal and agent on a principal-agent MDP and write "
                                      "the principal's contract policy")
    lp.add_argument("instance", help="a JSON file of kind pamdp, or coin_game (the multi-agent principal, 3x3 or "
                                     "smaller)")
    lp.add_argument("--learner", choices=("tabular", "deep"), default="tabular",
                    help="tabular (numpy) or deep (torch, the extra [deep]); default tabular")
    lp.add_argument("-o", "--output", required=True, metavar="POLICY",
                    help="the contract_policy JSON file to write (coin_game: the principal's .npz)")
    lp.add_argument("--iterations", type=int, help="iterations of the run (default: the learner's)")
    lp.add_argument("--margin", type=float, help="nudging margin ξ >= 0 of the contracts (default: the learner's)")
    lp.add_argument("--seed", type=int, help="seed of a new run (default 0); a resumed run keeps its checkpoint's")
    lp.add_argument("--eval-every", type=int, default=0, metavar="K",
                    help="evaluate the greedy policy against an exact best-responding agent every K iterations")
    lp.add_argument("--checkpoint", metavar="FILE",
                    help="save the learner here at the end, every --checkpoint-every iterations and on Ctrl-C "
                         "(at an iteration boundary); if FILE exists, resume from it")
    lp.add_argument("--checkpoint-every", type=int, default=0, metavar="K")
    lp.add_argument("--curve", metavar="FILE", help="write the learning curve (JSON) here")
    lp.add_argument("--json", action="store_true", help="print the check of the learned policy as JSON")
    lp.add_argument("--no-progress", action="store_true", help="no progress bar (it is drawn on stderr)")
    add_budget_options(lp)
    lp.set_defaults(run=run)


class StopFlag:
    """Set by the first SIGINT/SIGTERM; the training callback returns it, so the learner stops
    at the end of the iteration in progress."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def __bool__(self) -> bool:
        return self.signal is not None


@contextmanager
def stop_at_boundary(flag: StopFlag):
    """Within the block, the first SIGINT/SIGTERM sets ``flag`` (the caller stops at its next
    boundary and saves); a second one raises :class:`KeyboardInterrupt` at once."""
    def handler(signum, frame):
        if flag:  # a second signal: stop now
            raise KeyboardInterrupt
        flag.signal = signum

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def train_until_stopped(args, learner, label: str, info, **train_options) -> int | None:
    """Train ``learner`` (``.train(callback=..., **train_options)``, ``.iteration``, ``.save``,
    ``.config.iterations``) as ``learn`` does: a progress bar on stderr whose last column is
    ``info(metrics)`` (none with ``--no-progress`` or ``--json``), the checkpoint every
    ``--checkpoint-every`` iterations and at the end, and Ctrl-C / SIGTERM stopping at the next
    iteration boundary. Returns :data:`EXIT_INTERRUPTED` (after the one-line note) when a signal
    stopped it early, ``None`` when it ran to the end."""
    total = learner.config.iterations

    def save_checkpoint() -> None:
        if args.checkpoint is not None:
            writing("--checkpoint", args.checkpoint, lambda: learner.save(args.checkpoint))

    flag = StopFlag()

    def after_iteration(it: int) -> bool:
        if args.checkpoint_every and it % args.checkpoint_every == 0:
            save_checkpoint()
        return bool(flag)

    with stop_at_boundary(flag):
        if args.no_progress or args.json:
            learner.train(callback=lambda it, tot, metrics: after_iteration(it), **train_options)
        else:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          TextColumn("{task.fields[info]}"), console=stderr_console(), transient=False) as bar:
                task = bar.add_task(label, total=total, completed=learner.iteration, info="")

                def callback(it, tot, metrics):
                    bar.update(task, completed=it, info=info(metrics))
                    return after_iteration(it)
                learner.train(callback=callback, **train_options)
        save_checkpoint()
    if flag and learner.iteration < total:
        where = (f"; checkpoint saved to {args.checkpoint}: the same command resumes" if args.checkpoint
                 else " (no --checkpoint: nothing saved)")
        error_line(f"at iteration {learner.iteration} of {total}{where}", "stopped")
        return EXIT_INTERRUPTED
    return None


def _check_outputs(args) -> None:
    check_output("--output", args.output, sibling_npz=True)
    check_output("--curve", args.curve)
    check_output("--checkpoint", args.checkpoint)
    check_distinct_outputs(("--output", args.output), ("--curve", args.curve), ("--checkpoint", args.checkpoint),
                           ("instance", args.instance))
    for name in ("eval_every", "checkpoint_every"):
        if getattr(args, name) < 0:
            raise InvalidInstanceError(f"--{name.replace('_', '-')}", f"must be >= 0, got {getattr(args, name)}")


def _learner(args, mdp):
    """A new learner, or the one in ``--checkpoint`` (whose settings the options must match)."""
    from ..learning import load_learner, make_learner

    overrides = {k: v for k, v in (("iterations", args.iterations), ("margin", args.margin)) if v is not None}
    if args.checkpoint is not None and os.path.exists(args.checkpoint):
        learner = load_learner(args.learner, args.checkpoint, mdp)
        for name, value in overrides.items():
            saved = getattr(learner.config, name)
            if saved != value:
                raise InvalidInstanceError(f"--{name}", f"is {value!r} but the checkpoint {args.checkpoint!r} was "
                                                        f"started with {saved!r}: give the same value, or remove "
                                                        "the checkpoint to start afresh")
        if args.seed is not None and learner.seed != args.seed:
            raise InvalidInstanceError("--seed", f"is {args.seed} but the checkpoint {args.checkpoint!r} was started "
                                                 f"with seed {learner.seed}")
        return learner, True
    return make_learner(args.learner, mdp, seed=0 if args.seed is None else args.seed, **overrides), False


def run(args) -> int:
    from ..learning import exact_value, learning_curve
    from ..proofs_checks.policy_check import check_policy
    from ..theory import fileio
    from ..theory.coin_game import CoinGame
    from ..theory.documents import learning_curve_document
    from ..theory.pamdp import PrincipalAgentMDP

    apply_budget_options(args)
    _check_outputs(args)                 # before the instance is read: a bad output path costs nothing
    instance = fileio.load(args.instance)
    if isinstance(instance, CoinGame):
        from .learn_coin import run_coin
        return run_coin(args, instance)
    if not isinstance(instance, PrincipalAgentMDP):
        raise InvalidInstanceError("kind", f"{args.instance}: expected 'pamdp' or 'coin_game', got "
                                           f"{fileio.kind_of(instance)!r}")
    mdp = instance
    learner, resumed = _learner(args, mdp)

    def info(metrics) -> str:
        text = f"ε {metrics.get('epsilon', float('nan')):.2f}"
        if "principal_value" in metrics:
            text += f"  value {metrics['principal_value']:.4f}"
        return text

    stopped = train_until_stopped(args, learner, f"learn ({args.learner})", info, eval_every=args.eval_every)
    if stopped is not None:
        return stopped

    policy = learner.policy()
    curve_doc = None
    if args.curve is not None:
        its, vals = learning_curve(learner)
        curve_doc = learning_curve_document(args.learner, learner.seed, its, vals)
    report = check_policy(mdp, policy)
    _write_outputs(args, policy, curve_doc)
    if args.json:
        doc = report.to_json()
        doc.update({"learner": args.learner, "iterations": learner.iteration, "resumed": resumed,
                    "policy_file": args.output, "principal_value_exact_agent": exact_value(learner)})
        print_json(doc)
    else:
        from rich.markup import escape
        note(f"wrote {args.output} after {learner.iteration} iterations"
             + (f" (resumed from {args.checkpoint})" if resumed else ""))
        stdout_console().print(report.to_table(escape(f"the learned policy against the exact SPE "
                                                      f"({mdp.n_states} states)")))
    return EXIT_OK


def _write_outputs(args, policy, curve_doc) -> None:
    """The curve, then the policy; if the policy cannot be written, a curve this run created is
    removed again, so a failure leaves nothing new behind."""
    from ..theory import fileio

    curve_existed = args.curve is not None and os.path.exists(args.curve)
    if curve_doc is not None:
        writing("--curve", args.curve, lambda: fileio.save(curve_doc, args.curve))
    try:
        writing("--output", args.output, lambda: fileio.save(policy, args.output, npz_threshold=NPZ_THRESHOLD))
    except BaseException:
        if curve_doc is not None and not curve_existed:
            try:
                os.unlink(args.curve)
            except OSError:
                pass
        raise
