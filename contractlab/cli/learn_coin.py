"""``contractlab learn GAME.json -o PRINCIPAL.npz``: the tabular multi-agent principal of the Coin
Game (:mod:`contractlab.learning.coin_principal`) on a ``coin_game`` instance, then its exact check
(:mod:`contractlab.proofs_checks.coin_policy_check`), as ``contractlab check`` prints it.

Same stop and resume rules as the PA-MDP learners (:mod:`.learn`): Ctrl-C or SIGTERM stops at the
next iteration boundary, ``--checkpoint`` saves there and the same command resumes bit-identically.
"""

from __future__ import annotations

import os

from ..theory.errors import InvalidInstanceError
from .common import EXIT_OK, note, print_json, stdout_console, writing
from .learn import train_until_stopped

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
    flags = {"iterations": "--iterations", "nudge": "--margin", "seed": "--seed"}
    try:
        seed = 0 if args.seed is None else args.seed
        return CoinPrincipalLearner(game, PrincipalConfig(**overrides), seed=seed), False
    except InvalidInstanceError as exc:      # name the option the user typed, not the config field
        if exc.field in flags:
            raise InvalidInstanceError(flags[exc.field], exc.reason, exc.index) from None
        raise


def run_coin(args, game) -> int:
    """The ``learn`` command on a Coin Game (module docstring)."""
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
    # the output paths were checked by learn.run before the instance was read
    learner, resumed = _learner(args, game)
    stopped = train_until_stopped(args, learner, "learn (coin principal)",
                                  lambda m: f"ε {m['epsilon']:.2f}  welfare {m['welfare']:.3f}  paid {m['payments']:.3f}")
    if stopped is not None:
        return stopped

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
