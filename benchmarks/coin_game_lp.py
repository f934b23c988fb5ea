"""The least dominant payments of the 3x3 Coin Game by LP: size, time, memory and the verification.

    python benchmarks/coin_game_lp.py [--simultaneous random both] [--horizon 20]

For each tie rule: the welfare optimum (``solvers/coin_game_exact.py``), then
``solvers/coin_game_lp.min_payments_lp`` (one sparse LP per agent over the reachable (t, s), HiGHS
interior point with crossover, re-verified from the game's tables), beside the paper's payments
and the greedy every-action payments for the same π*. Prints a Markdown table: the expected
payment of each, the LP's rows / columns / nonzeros, the verification numbers (largest dominance
violation recomputed from the tables, duality gap, dual residual) and the seconds of the LP; the
peak memory of the whole process is printed at the end (``ru_maxrss``).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.contracts import machine_info  # noqa: E402
from benchmarks.summary import log, with_flags  # noqa: E402
from contractlab.solvers import coin_game_exact as X  # noqa: E402
from contractlab.solvers.coin_game_lp import min_payments_lp  # noqa: E402
from contractlab.theory.coin_game import CoinGame  # noqa: E402
from contractlab.theory.errors import InvalidInstanceError  # noqa: E402


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--simultaneous", nargs="+", default=["random", "both"], choices=["random", "both"])
    ap.add_argument("--horizon", type=int, default=20)
    args = ap.parse_args(argv)
    start = time.perf_counter()
    rows_out = []
    try:            # every size check (grid, horizon, memory, LP rows) comes before the table starts
        tables = [with_flags(lambda: X.tables(CoinGame(grid=3, horizon=args.horizon, simultaneous=sim)),
                             {"horizon": "--horizon"}) for sim in args.simultaneous]
        for sim, tb in zip(args.simultaneous, tables):
            opt = X.welfare_optimum(tb)
            t0 = time.perf_counter()
            res = with_flags(lambda: min_payments_lp(tb, opt), {"horizon": "--horizon"})
            rows_out.append((sim, opt, res, time.perf_counter() - t0, X.paper_payments(tb, opt).total_payment))
            log(f"{sim}: LP {rows_out[-1][3]:.1f} s")
    except InvalidInstanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    info = machine_info()
    print(f"Machine: {info['cpu']}, {info['cpus_usable']} usable CPUs, load {info['load_average_1_5_15min']}, "
          f"commit {info['git_commit']}, {info['date_utc']}\n")
    print("| tie rule | W* | paper | LP minimum | greedy every-action | rows × columns (nonzeros) per LP | LPs "
          "| max violation | duality gap | dual residual | LP s |")
    print("|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    for sim, opt, res, lp_s, paper in rows_out:
        rows, cols, nnz = (int(x) for x in res.sizes[0])
        print(f"| `{sim}` | {opt.value:.4f} | {paper:.4f} | {res.payments.total_payment:.4f} "
              f"| {res.greedy.total_payment:.4f} | {rows:,} × {cols:,} ({nnz:,}) | {1 if res.symmetric else 2} "
              f"| {res.max_violation:.1e} | {res.dual_gap.max():.1e} | {res.dual_residual.max():.1e} | {lp_s:.1f} |")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nwhole process {time.perf_counter() - start:.0f} s, peak memory {peak:.0f} MiB")


if __name__ == "__main__":
    main()
