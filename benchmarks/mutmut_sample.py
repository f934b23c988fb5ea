"""A uniform sample of mutmut's mutants, and its score per module (the second opinion of docs/mutation.md).

    python benchmarks/mutmut_sample.py sample DIR [--size 1500] [--seed 0]   # names, one per line
    python benchmarks/mutmut_sample.py report DIR [--names FILE] [--diffs FILE]

``DIR`` is a mutmut 3 working copy (a ``git archive`` snapshot with a ``[mutmut]`` section in
``setup.cfg``) in which ``mutmut run`` has generated the mutants once: mutmut keeps, per mutated
file, ``mutants/<path>.meta`` (JSON) whose ``exit_code_by_key`` lists every mutant's name. A full
run of every mutant of ``solvers/`` against its tests takes many hours on two cores, so the score is
estimated on a uniform sample without replacement (``random.Random(seed).sample`` over the sorted
names), and the interval is the normal approximation of a proportion.

``sample`` prints the sampled names; run them with ``mutmut run --max-children 1 $(cat names)``.
``report`` reads the exit codes back (mutmut's own meaning: 1 or 3 killed, 0 survived, 33 or 5 no
covering test, 24, -24 or 36 timeout), prints a Markdown table per module and the score
``(killed + timeout) / (sampled − not covered)`` with its 95 % interval, and with ``--diffs``
writes ``mutmut show`` of every survivor to a file, for reading.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

STATUS = {1: "killed", 3: "killed", 0: "survived", 33: "not covered", 5: "not covered",
          24: "timeout", -24: "timeout", 36: "timeout", None: "not run"}


def exit_codes(root: Path) -> dict[str, int | None]:
    """Every mutant's name and exit code (``None``: not run) from mutmut's ``.meta`` files."""
    out: dict[str, int | None] = {}
    for meta in sorted((root / "mutants").rglob("*.meta")):
        out.update(json.loads(meta.read_text())["exit_code_by_key"])
    if not out:
        raise SystemExit(f"error: no mutants under {root / 'mutants'}; run `mutmut run` there once")
    return out


def module_of(name: str) -> str:
    return name.split(".x_")[0].split(".xǁ")[0].rsplit(".", 1)[-1] if "." in name else name


def sample(root: Path, size: int, seed: int) -> list[str]:
    names = sorted(exit_codes(root))
    return sorted(random.Random(seed).sample(names, min(size, len(names))))


def report(root: Path, names_file: Path | None, diffs: Path | None) -> None:
    codes = exit_codes(root)
    names = names_file.read_text().split() if names_file else sorted(codes)
    missing = [n for n in names if n not in codes]
    if missing:
        raise SystemExit(f"error: {len(missing)} names not in the mutants, e.g. {missing[0]!r}")
    per: dict[str, Counter] = defaultdict(Counter)
    for n in names:
        per[module_of(n)][STATUS.get(codes[n], f"exit {codes[n]}")] += 1
    cols = ["killed", "timeout", "survived", "not covered", "not run"]
    print(f"{len(names)} of {len(codes)} mutants\n")
    print("| module | " + " | ".join(cols) + " |\n|---|" + "---:|" * len(cols))
    total: Counter = Counter()
    for mod in sorted(per):
        total += per[mod]
        print(f"| {mod} | " + " | ".join(str(per[mod][c]) for c in cols) + " |")
    print("| **all** | " + " | ".join(f"**{total[c]}**" for c in cols) + " |")
    covered = len(names) - total["not covered"] - total["not run"]
    if covered:
        p = (total["killed"] + total["timeout"]) / covered
        half = 1.96 * math.sqrt(p * (1 - p) / covered)
        print(f"\nscore (killed + timeout) / covered = {p:.1%} (95% interval {p - half:.1%} to {p + half:.1%})")
    if diffs is not None:
        with diffs.open("w") as f:
            for n in names:
                if codes[n] == 0:
                    shown = subprocess.run([str(Path(sys.executable).parent / "mutmut"), "show", n], cwd=root,
                                           capture_output=True, text=True)
                    f.write(f"=== {n}\n{shown.stdout}\n")
        print(f"wrote {diffs}", file=sys.stderr)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sample")
    s.add_argument("dir", type=Path)
    s.add_argument("--size", type=int, default=1500)
    s.add_argument("--seed", type=int, default=0)
    r = sub.add_parser("report")
    r.add_argument("dir", type=Path)
    r.add_argument("--names", type=Path, help="the sampled names (default: every mutant)")
    r.add_argument("--diffs", type=Path, help="write `mutmut show` of every survivor here")
    args = ap.parse_args(argv)
    if args.cmd == "sample":
        print("\n".join(sample(args.dir, args.size, args.seed)))
    else:
        report(args.dir, args.names, args.diffs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
