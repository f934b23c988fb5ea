"""``contractlab generate FAMILY -o FILE``: an instance of a family — a random principal-agent MDP
(``theory/pamdp_families.py``, kind ``pamdp``) or an MDP with externalities: the pollution and
insurance environments and their random families (``theory/externality_families.py``, kind
``externality_mdp``)."""

from __future__ import annotations

from ..theory.errors import InvalidInstanceError
from .common import EXIT_OK, add_budget_options, apply_budget_options, check_output, note, writing

#: The command-line options each family takes (``--seed`` apart: every family but the two
#: deterministic environments takes it).
FAMILY_OPTIONS = {"binary_tree": ("depth",), "random_tree": ("depth", "actions", "outcomes"),
                  "random_dag": ("states", "actions", "outcomes"),
                  "random_discounted": ("states", "actions", "outcomes", "discount"),
                  "contractual_rl": ("states", "actions", "discount"),
                  "pollution": ("levels", "horizon"), "insurance": ("levels", "horizon"),
                  "random_pollution": ("levels", "horizon"), "random_insurance": ("levels", "horizon"),
                  "random_externality": ("states", "actions", "outcomes", "horizon", "deterministic")}
#: Options a family cannot do without.
REQUIRED = {"binary_tree": ("depth",), "random_tree": ("depth",), "random_dag": ("states",),
            "random_discounted": ("states",), "contractual_rl": ("states",)}
#: Option -> the generator's parameter.
_PARAM = {"depth": "depth", "states": "n_states", "actions": "n_actions", "outcomes": "n_outcomes",
          "discount": "discount", "levels": "n_levels", "horizon": "horizon"}
#: The generator's parameter -> the option, to name the option in a generator's error.
_OPTION = {**{param: "--" + name for name, param in _PARAM.items()}, "seed": "--seed"}


def add_parser(sub) -> None:
    g = sub.add_parser("generate", help="write an instance of a family (random PA-MDPs, externality environments) "
                                        "to a file")
    g.add_argument("family", help=" | ".join(FAMILY_OPTIONS))
    g.add_argument("--depth", type=int, help="tree depth (binary_tree, random_tree)")
    g.add_argument("--states", type=int, help="number of states (random_dag, random_discounted, contractual_rl, "
                                              "random_externality)")
    g.add_argument("--actions", type=int, help="number of agent actions")
    g.add_argument("--outcomes", type=int, help="number of outcomes")
    g.add_argument("--discount", type=float, help="discount factor (random_discounted, contractual_rl)")
    g.add_argument("--levels", type=int, help="stock / risk levels (pollution, insurance and their random families)")
    g.add_argument("--horizon", type=int, help="steps per episode (the externality families)")
    g.add_argument("--deterministic", action="store_true", default=None,
                   help="random_externality: a drawn next state per (state, outcome) instead of stochastic "
                        "transitions")
    g.add_argument("--seed", type=int, help="seed of the random families (default 0)")
    g.add_argument("--npz-threshold", type=int, default=100_000,
                   help="arrays with at least this many entries go to a sibling .npz (default 100000)")
    g.add_argument("-o", "--output", required=True, metavar="FILE", help="the JSON file to write")
    add_budget_options(g)
    g.set_defaults(run=run)


def family_arguments(args, seeded: bool = True) -> dict:
    """The generator's keyword arguments from the options (the seed included where the family
    takes one, 0 by default), refusing options that do not apply."""
    allowed = FAMILY_OPTIONS[args.family]
    takes = ", ".join("--" + a for a in allowed + (("seed",) if seeded else ()))
    kwargs = {}
    for name in (*_PARAM, "deterministic"):
        value = getattr(args, name, None)
        if value is None:
            continue
        if name not in allowed:
            raise InvalidInstanceError(f"--{name}", f"does not apply to family {args.family!r} (it takes {takes})")
        if name == "deterministic":
            kwargs["stochastic"] = False
        else:
            kwargs[_PARAM[name]] = value
    for name in REQUIRED.get(args.family, ()):
        if _PARAM[name] not in kwargs:
            raise InvalidInstanceError(f"--{name}", f"is required for family {args.family!r}")
    if seeded:
        kwargs["seed"] = 0 if args.seed is None else args.seed
    elif args.seed is not None:
        raise InvalidInstanceError("--seed", f"does not apply to family {args.family!r}: it is deterministic given "
                                             f"its parameters (random_{args.family} draws them from a seed)")
    return kwargs


def _generate(family, kwargs: dict):
    """Call the generator; its errors name the option, not the parameter."""
    try:
        return family(**kwargs)
    except InvalidInstanceError as exc:
        if exc.field in _OPTION:
            raise InvalidInstanceError(_OPTION[exc.field], exc.reason, exc.index) from None
        raise


def run(args) -> int:
    from ..theory import fileio
    from ..theory.externality_families import FAMILIES as EXTERNALITY_FAMILIES
    from ..theory.externality_families import SEEDED
    from ..theory.pamdp_families import FAMILIES

    apply_budget_options(args)
    if args.npz_threshold < 1:
        raise InvalidInstanceError("--npz-threshold", f"must be >= 1, got {args.npz_threshold}")
    families = {**FAMILIES, **EXTERNALITY_FAMILIES}
    if args.family not in families:
        raise InvalidInstanceError("family", f"unknown family {args.family[:60]!r} (known: {', '.join(families)})")
    kwargs = family_arguments(args, seeded=args.family in FAMILIES or args.family in SEEDED)
    check_output("--output", args.output, sibling_npz=True)
    model = _generate(families[args.family], kwargs)
    writing("--output", args.output, lambda: fileio.save(model, args.output, npz_threshold=args.npz_threshold))
    horizon = getattr(model, "horizon", None)
    note(f"wrote {args.output}: {args.family}, {model.n_states} states, {model.n_actions} actions, "
         f"{model.n_outcomes} outcomes, discount {model.discount:.15g}"
         + ("" if horizon is None else f", horizon {horizon}"))
    return EXIT_OK
