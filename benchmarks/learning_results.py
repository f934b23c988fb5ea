"""The learning results of docs/results.md: learned principals on the paper's binary game trees.

For each learner (tabular, deep), each tree ``binary_game_tree(depth, seed=t)`` and each learner
seed, train with the learner's default config (Ivanov et al., arXiv 2407.18074, Appendix D.1
for the deep one), then check the greedy policy against the exact SPE with
:func:`contractlab.proofs_checks.policy_check.check_policy` (an exact best-responding agent,
ties in the principal's favour, as in the SPE). Prints one row per run and a summary, writes
every run's record to ``--out`` as it finishes (JSON lines; ``--resume`` skips the runs already
there, so an interrupted sweep continues), and draws the learning curves (principal value /
SPE value against iterations) as PNGs.

Usage::

    python benchmarks/learning_results.py --markdown --out results/learning.jsonl \\
        --figures docs/ --resume
    python benchmarks/learning_results.py --learners tabular --trees 1 --seeds 1   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.summary import MAX_SEEDS  # noqa: E402
from contractlab.cli.common import check_output  # noqa: E402
from contractlab.learning import learning_curve, make_learner  # noqa: E402
from contractlab.proofs_checks.policy_check import check_policy  # noqa: E402
from contractlab.solvers.spe import solve_spe  # noqa: E402
from contractlab.theory.errors import InvalidInstanceError  # noqa: E402
from contractlab.theory.fileio import write_text_atomic  # noqa: E402
from contractlab.theory.pamdp_families import binary_game_tree  # noqa: E402

#: The learners compared: (learner kind, config overrides). ``tabular-sample`` is the textbook
#: variant of the tabular learner (one-sample Q-learning targets for both parties instead of the
#: default expected-over-outcomes targets; see contractlab/learning/tabular.py), which needs a
#: nudging margin and more iterations (``-xi0.003``: the same with a smaller margin).
VARIANTS = {"tabular": ("tabular", {}),
            "tabular-sample": ("tabular", {"agent_update": "sample", "principal_update": "sample",
                                           "margin": 0.01, "iterations": 12_000}),
            "tabular-sample-xi0.003": ("tabular", {"agent_update": "sample", "principal_update": "sample",
                                                   "margin": 0.003, "iterations": 12_000}),
            "deep": ("deep", {}),
            # Appendix D.1 as written: no nudging margin, final learning rate 1e-4, one-sample targets
            "deep-appendix-d1": ("deep", {"margin": 0.0, "lr_end": 1e-4, "agent_update": "sample",
                                          "principal_update": "sample"})}
EVAL_EVERY = {"tabular": 50, "tabular-sample": 200, "tabular-sample-xi0.003": 200, "deep": 500,
              "deep-appendix-d1": 500}
TARGETS = {"tabular": {"ratio": 0.99}, "tabular-sample": {"ratio": 0.99}, "tabular-sample-xi0.003": {"ratio": 0.99},
           "deep": {"ratio": 0.95, "agreement": 0.85}, "deep-appendix-d1": {"ratio": 0.95, "agreement": 0.85}}


def run_one(variant: str, depth: int, tree: int, seed: int) -> dict:
    mdp = binary_game_tree(depth, seed=tree)
    spe = solve_spe(mdp)
    kind, overrides = VARIANTS[variant]
    learner = make_learner(kind, mdp, seed=seed, **overrides)
    learner_kind = variant
    start = time.perf_counter()
    learner.train(eval_every=EVAL_EVERY[variant])
    seconds = time.perf_counter() - start
    report = check_policy(mdp, learner.policy(), spe=spe)
    its, vals = learning_curve(learner)
    return {"learner": learner_kind, "depth": depth, "tree": tree, "seed": seed,
            "iterations": int(learner.iteration), "train_seconds": seconds,
            "spe_value": report.spe_value, "policy_value": report.policy_value, "ratio": report.value_ratio,
            "agreement": report.agreement, "agreement_spe_path": report.agreement_spe_reachable,
            "follow_rate": report.follow_rate, "strict_follow_rate": report.strict_follow_rate,
            "ic_violations": report.ic_violations,
            "curve_iterations": its.tolist(), "curve_ratio": (vals / report.spe_value).tolist()}


def _load(path: Path | None) -> list[dict]:
    if path is None or not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _append(path: Path | None, records: list[dict]) -> None:
    if path is not None:  # rewrite the whole file atomically: a crash never leaves half a line
        write_text_atomic(path, "".join(json.dumps(r, allow_nan=False) + "\n" for r in records))


def _table(records: list[dict], markdown: bool) -> str:
    head = ["learner", "tree", "seed", "iterations", "train time (s)", "value / SPE", "SPE action agreement",
            "follow rate"]
    rows = [[r["learner"], str(r["tree"]), str(r["seed"]), str(r["iterations"]), f"{r['train_seconds']:.1f}",
             f"{r['ratio']:.4f}", f"{100 * r['agreement']:.1f}%", f"{100 * r['follow_rate']:.1f}%"]
            for r in records]
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(out)
    width = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, width))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, width)) for row in rows]
    return "\n".join(lines)


def _summary(records: list[dict]) -> str:
    lines = []
    for kind in VARIANTS:
        rs = [r for r in records if r["learner"] == kind]
        if not rs:
            continue
        ratio = np.array([r["ratio"] for r in rs])
        agree = np.array([r["agreement"] for r in rs])
        secs = np.array([r["train_seconds"] for r in rs])
        target = TARGETS[kind]
        met = ratio.min() >= target["ratio"] and agree.min() >= target.get("agreement", 0.0)
        lines.append(f"- {kind}: {len(rs)} runs; value / SPE min {ratio.min():.4f}, mean {ratio.mean():.4f} "
                     f"(utility gap {100 * (1 - ratio.mean()):.2f}%); SPE-action agreement min "
                     f"{100 * agree.min():.1f}%, mean {100 * agree.mean():.1f}%; training time per run mean "
                     f"{secs.mean():.1f} s, max {secs.max():.1f} s; target {target}: {'met' if met else 'NOT met'}")
    return "\n".join(lines)


def _figures(records: list[dict], folder: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    written = []
    for kind in VARIANTS:
        rs = [r for r in records if r["learner"] == kind]
        if not rs:
            continue
        fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
        for r in rs:
            ax.plot(r["curve_iterations"], r["curve_ratio"], lw=1.2, alpha=0.8,
                    label=f"tree {r['tree']}, seed {r['seed']}")
        target = TARGETS[kind]["ratio"]
        ax.axhline(target, color="k", ls="--", lw=0.8, label=f"target {target}")
        ax.set_ylim(max(-0.1, min(min(r["curve_ratio"]) for r in rs) - 0.05), 1.05)
        ax.set_xlabel("training iterations")
        ax.set_ylabel("principal value / SPE value")
        ax.set_title(f"{kind} learner, binary game trees of depth {rs[0]['depth']} "
                     f"(exact best-responding agent)", fontsize=9)
        ax.legend(fontsize=6, ncol=2, loc="lower right")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        path = folder / f"learning_curve_{kind}.png"
        tmp = path.with_suffix(".tmp.png")
        fig.savefig(tmp)
        os.replace(tmp, path)
        plt.close(fig)
        written.append(path)
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--learners", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--depth", type=int, default=10)
    ap.add_argument("--trees", type=int, default=3, help="trees binary_game_tree(depth, seed=0..trees-1)")
    ap.add_argument("--seeds", type=int, default=3, help="learner seeds 0..seeds-1")
    ap.add_argument("--out", type=Path, help="JSON-lines file of the run records (written after every run)")
    ap.add_argument("--resume", action="store_true", help="skip the runs already in --out")
    ap.add_argument("--figures", type=Path, help="folder for learning_curve_{learner}.png")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    for flag, value in (("--trees", args.trees), ("--seeds", args.seeds)):
        if not 1 <= value <= MAX_SEEDS:
            print(f"error: {flag}: must be in [1, {MAX_SEEDS}], got {value}", file=sys.stderr)
            return 2
    try:                        # the records are written after every run, the figures at the end
        check_output("--out", None if args.out is None else str(args.out))
        if args.figures is not None:
            check_output("--figures", str(args.figures / "learning_curve.png"))
    except InvalidInstanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    records = _load(args.out) if args.resume else []
    done = {(r["learner"], r["depth"], r["tree"], r["seed"]) for r in records}
    try:
        for kind in args.learners:
            for tree in range(args.trees):
                for seed in range(args.seeds):
                    if (kind, args.depth, tree, seed) in done:
                        continue
                    rec = run_one(kind, args.depth, tree, seed)
                    records.append(rec)
                    _append(args.out, records)
                    print(f"{kind} tree {tree} seed {seed}: ratio {rec['ratio']:.4f}, agreement "
                          f"{100 * rec['agreement']:.1f}%, {rec['train_seconds']:.1f} s", file=sys.stderr, flush=True)
    except InvalidInstanceError as exc:             # binary_game_tree refuses the depth before building a tree
        if exc.field != "depth":
            raise
        print(f"error: --depth: {exc.reason}", file=sys.stderr)
        return 2
    records = [r for r in records if r["learner"] in args.learners and r["depth"] == args.depth]
    print(f"Command: python benchmarks/learning_results.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    print(f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, python {platform.python_version()}, "
          f"date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print()
    print(_table(records, args.markdown))
    print()
    print(_summary(records))
    if args.figures is not None:
        for path in _figures(records, args.figures):
            print(f"- figure: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
