"""``contractlab generate FAMILY -o FILE``: a random instance of a principal-agent MDP family."""

from __future__ import annotations

from ..theory.errors import InvalidInstanceError
from .common import EXIT_OK, add_budget_options, apply_budget_options, check_output, note, writing

#: The command-line options each family takes, and the generator's parameter names.
FAMILY_OPTIONS = {"binary_tree": ("depth",), "random_tree": ("depth", "actions", "outcomes"),
                  "random_dag": ("states", "actions", "outcomes"),
                  "random_discounted": ("states", "actions", "outcomes", "discount"),
                  "contractual_rl": ("states", "actions", "discount")}
_PARAM = {"depth": "depth", "states": "n_states", "actions": "n_actions", "outcomes": "n_outcomes",
          "discount": "discount"}


def add_parser(sub) -> None:
    g = sub.add_parser("generate", help="write a random instance of a family to a file")
    g.add_argument("family", help=" | ".join(FAMILY_OPTIONS))
    g.add_argument("--depth", type=int, help="tree depth (binary_tree, random_tree)")
    g.add_argument("--states", type=int, help="number of states (random_dag, random_discounted, contractual_rl)")
    g.add_argument("--actions", type=int, help="number of agent actions")
    g.add_argument("--outcomes", type=int, help="number of outcomes")
    g.add_argument("--discount", type=float, help="discount factor (random_discounted, contractual_rl)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--npz-threshold", type=int, default=100_000,
                   help="arrays with at least this many entries go to a sibling .npz (default 100000)")
    g.add_argument("-o", "--output", required=True, metavar="FILE", help="the JSON file to write")
    add_budget_options(g)
    g.set_defaults(run=run)


def family_arguments(args) -> dict:
    """The generator's keyword arguments from the options, refusing options that do not apply."""
    allowed = FAMILY_OPTIONS[args.family]
    kwargs = {}
    for name, param in _PARAM.items():
        value = getattr(args, name)
        if value is None:
            continue
        if name not in allowed:
            raise InvalidInstanceError(f"--{name}", f"does not apply to family {args.family!r} "
                                                    f"(it takes {', '.join('--' + a for a in allowed)})")
        kwargs[param] = value
    for name in ("depth", "states"):
        if name in allowed and _PARAM[name] not in kwargs:
            raise InvalidInstanceError(f"--{name}", f"is required for family {args.family!r}")
    return kwargs


def run(args) -> int:
    from ..theory import fileio
    from ..theory.pamdp_families import FAMILIES

    apply_budget_options(args)
    if args.npz_threshold < 1:
        raise InvalidInstanceError("--npz-threshold", f"must be >= 1, got {args.npz_threshold}")
    if args.family not in FAMILIES:
        raise InvalidInstanceError("family", f"unknown family {args.family[:60]!r} (known: {', '.join(FAMILIES)})")
    kwargs = family_arguments(args)
    check_output("--output", args.output, sibling_npz=True)
    mdp = FAMILIES[args.family](seed=args.seed, **kwargs)
    writing("--output", args.output, lambda: fileio.save(mdp, args.output, npz_threshold=args.npz_threshold))
    note(f"wrote {args.output}: {args.family}, {mdp.n_states} states, {mdp.n_actions} actions, "
         f"{mdp.n_outcomes} outcomes, discount {mdp.discount:.15g}")
    return EXIT_OK
