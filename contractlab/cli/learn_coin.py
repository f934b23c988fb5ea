"""``contractlab learn GAME.json -o PRINCIPAL.npz``: the tabular multi-agent principal of the Coin
Game (:mod:`contractlab.learning.coin_principal`) on a ``coin_game`` instance, then its exact check
(:mod:`contractlab.proofs_checks.coin_policy_check`), as ``contractlab check`` prints it.

Same stop and resume rules as the PA-MDP learners (:mod:`.learn`): Ctrl-C or SIGTERM stops at the
next iteration boundary, ``--checkpoint`` saves there and the same command resumes bit-identically.
"""

from __future__ import annotations

import os

from ..theory.errors import InvalidInstanceError
from .common import (EXIT_INTERRUPTED, EXIT_OK, check_distinct_outputs, check_output, error_line, note, print_json,
                     stderr_console, stdout_console, writing)

#: Options of ``learn`` that have no meaning for the Coin Game principal.
_PAMDP_ONLY = {"curve": "--curve", "eval_every": "--eval-every"}


def _learner(args, game):
    from ..learning.coin_principal import CoinPrincipalLearner, PrincipalConfig
    from ..theory.coin_game import game_to_dict

    if args.checkpoint is not None and os.path.exists(args.checkpoint):
        learner = CoinPrincipalLearner.load(args.checkpoint)
        if game_to_dict(learner.game) != game_to_dict(game):
            raise InvalidInstanceError("--checkpoint", f"{args.checkpoint!r} was started on another game than "
                                                       f"{args.instance!r}")
        for option, value, saved in (("--iterations", args.iterations, learner.config.iterations),
                                     ("--margin", args.margin, learner.config.nudge),
                                     ("--seed", args.seed, learner.seed)):
            if value is not None and value != saved:
                raise InvalidInstanceError(option, f"is {value!r} but the checkpoint {args.checkpoint!r} was started "
                                                   f"with {saved!r}: give the same value, or remove the checkpoint")
        return learner, True
    overrides = {k: v for k, v in (("iterations", args.iterations), ("nudge", args.margin)) if v is not None}
    return CoinPrincipalLearner(game, PrincipalConfig(**overrides), seed=0 if args.seed is None else args.seed), False


def run_coin(args, game, stop_flag_context, flag) -> int:
    """The ``learn`` command on a Coin Game (module docstring); ``stop_flag_context(flag)`` is
    :func:`.learn._stop_at_boundary`."""
    from ..proofs_checks.coin_policy_check import check_coin_principal
    from ..solvers.coin_game_exact import MAX_EXACT_GRID

    for name, option in _PAMDP_ONLY.items():
        if getattr(args, name):
            raise InvalidInstanceError(option, "only applies to a pamdp instance")
    if args.learner != "tabular":
        raise InvalidInstanceError("--learner", "the Coin Game principal of 'learn' is tabular")
    if game.grid > MAX_EXACT_GRID:
        raise InvalidInstanceError("grid", f"the tabular principal and its exact check need grid <= "
                                           f"{MAX_EXACT_GRID}, got {game.grid}")
    check_output("--output", args.output)
    check_output("--checkpoint", args.checkpoint)
    check_distinct_outputs(("--output", args.output), ("--checkpoint", args.checkpoint), ("instance", args.instance))
    if args.checkpoint_every < 0:
        raise InvalidInstanceError("--checkpoint-every", f"must be >= 0, got {args.checkpoint_every}")
    learner, resumed = _learner(args, game)
    total = learner.config.iterations

    def save_checkpoint() -> None:
        if args.checkpoint is not None:
            writing("--checkpoint", args.checkpoint, lambda: learner.save(args.checkpoint))

    def after_iteration(it: int) -> bool:
        if args.checkpoint_every and it % args.checkpoint_every == 0:
            save_checkpoint()
        return bool(flag)

    with stop_flag_context(flag):
        if args.no_progress or args.json:
            learner.train(callback=lambda it, tot, metrics: after_iteration(it))
        else:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          TextColumn("{task.fields[info]}"), console=stderr_console(), transient=False) as bar:
                task = bar.add_task("learn (coin principal)", total=total, completed=learner.iteration, info="")

                def callback(it, tot, metrics):
                    bar.update(task, completed=it, info=f"ε {metrics['epsilon']:.2f}  welfare {metrics['welfare']:.3f}"
                                                        f"  paid {metrics['payments']:.3f}")
                    return after_iteration(it)
                learner.train(callback=callback)
        save_checkpoint()
    if flag and learner.iteration < total:
        where = (f"; checkpoint saved to {args.checkpoint}: the same command resumes" if args.checkpoint
                 else " (no --checkpoint: nothing saved)")
        error_line(f"at iteration {learner.iteration} of {total}{where}", "stopped")
        return EXIT_INTERRUPTED

    policy = learner.policy()
    report = check_coin_principal(policy)
    writing("--output", args.output, lambda: policy.save(args.output))
    if args.json:
        doc = report.to_json()
        doc.update({"learner": "coin_principal", "iterations": learner.iteration, "resumed": resumed,
                    "policy_file": args.output})
        print_json(doc)
    else:
        from rich.markup import escape
        note(f"wrote {args.output} after {learner.iteration} iterations"
             + (f" (resumed from {args.checkpoint})" if resumed else ""))
        stdout_console().print(report.to_table(escape(f"the learned principal against the exact solution "
                                                      f"({game.grid}x{game.grid}, {game.horizon} steps)")))
    return EXIT_OK
