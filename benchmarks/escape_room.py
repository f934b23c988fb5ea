"""Agent-steps per second of the batched Escape Room core (contractlab/theory/escape_room.py), and
of its PettingZoo wrapper for scale.

    python benchmarks/escape_room.py [--n 3 --m 2] [--batch-sizes 1,64,1024,16384] [--seconds 1] [--json]

For each batch size ``B``, ``B`` episodes of ER(N, M) (default ER(3, 2), the issue's target case)
are stepped together with uniformly random actions; a finished episode is restarted at once (its
positions set back to the start and its step count to 0, inside the timed loop), so every step
advances ``B`` live episodes, i.e. ``B N`` agent-steps. Three variants, each timed for
``--seconds`` of wall time after one untimed warm-up step:

* ``pre-drawn``: the actions were drawn before timing (a ring of 64 arrays ``(B, N)`` int8 from
  ``numpy.random.default_rng(seed)``, reused in turn); the step validates its input (the default
  ``check=True``);
* ``pre-drawn, check=False``: the same without input validation;
* ``drawn in loop``: ``rng.integers(0, 3, (B, N), int8)`` inside the timed loop, ``check=True``.

The wrapper line steps ``contractlab.envs.EscapeRoomEnv`` (one episode, dict in / dict out) with
pre-drawn random actions, resetting when an episode ends. The target of the issue is
``>= 1,000,000`` agent-steps/s for ER(3, 2) with batched episodes on 2 cores (the core is
single-threaded numpy). A table goes to stdout (``--json``: one JSON document with the same
numbers, the command, the machine and the wall time); progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.summary import with_flags  # noqa: E402
from contractlab.theory.budget import check_memory  # noqa: E402
from contractlab.theory.errors import InvalidInstanceError  # noqa: E402
from contractlab.theory.escape_room import START, EscapeRoom  # noqa: E402

TARGET = 1_000_000
RING = 64


def machine_info() -> dict:
    """The machine, versions and commit, as ``benchmarks/contracts.py`` records them."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from contracts import machine_info as info
    finally:
        sys.path.pop(0)
    return info()


def time_core(room: EscapeRoom, batch: int, seconds: float, mode: str, seed: int) -> dict:
    """Step ``batch`` episodes with autoreset for ``seconds``; returns the rates."""
    rng = np.random.default_rng(seed)
    n = room.n_agents
    ring = [rng.integers(0, 3, size=(batch, n), dtype=np.int8) for _ in range(RING)]
    check = mode != "pre-drawn, check=False"
    in_loop = mode == "drawn in loop"
    pos = room.reset(batch)
    steps = np.zeros(batch, dtype=np.int64)
    room.step(pos, ring[0], steps, check=check)              # warm-up, untimed
    k = finished = 0
    t0 = time.perf_counter()
    while True:
        acts = rng.integers(0, 3, size=(batch, n), dtype=np.int8) if in_loop else ring[k % RING]
        _, pos, done = room.step(pos, acts, steps, check=check)
        steps = np.where(done, 0, steps + 1)
        pos[done] = START
        finished += int(np.count_nonzero(done))
        k += 1
        if k % 16 == 0 and time.perf_counter() - t0 >= seconds:
            break
    wall = time.perf_counter() - t0
    return {"batch": batch, "mode": mode, "steps": k, "wall_s": wall,
            "agent_steps_per_s": k * batch * n / wall, "episodes_per_s": finished / wall}


def time_wrapper(n: int, m: int, seconds: float, seed: int) -> dict | None:
    try:
        from contractlab.envs import EscapeRoomEnv
    except ImportError as exc:
        print(f"skipping the PettingZoo wrapper: {exc}", file=sys.stderr)
        return None
    env = EscapeRoomEnv(n, m)
    rng = np.random.default_rng(seed)
    acts = rng.integers(0, 3, size=(4096, n)).tolist()
    names = env.possible_agents
    env.reset(seed=seed)
    k = episodes = 0
    t0 = time.perf_counter()
    while True:
        a = acts[k % len(acts)]
        env.step({names[i]: a[i] for i in range(n)})
        k += 1
        if not env.agents:
            env.reset()
            episodes += 1
        if k % 64 == 0 and time.perf_counter() - t0 >= seconds:
            break
    wall = time.perf_counter() - t0
    return {"batch": 1, "mode": "PettingZoo wrapper", "steps": k, "wall_s": wall,
            "agent_steps_per_s": k * n / wall, "episodes_per_s": episodes / wall}


def batch_sizes(text: str, n: int) -> list[int]:
    """``--batch-sizes 1,64,...`` as integers >= 1 whose episodes fit the memory budget, refused naming the
    flag and the index."""
    out = []
    for i, word in enumerate(text.split(",")):
        try:
            b = int(word)
        except ValueError:
            raise InvalidInstanceError("--batch-sizes", f"expected an integer, got {word[:40]!r}", i) from None
        if b < 1:
            raise InvalidInstanceError("--batch-sizes", f"must be >= 1, got {b}", i)
        try:    # the ring of RING int8 action arrays (B, N), and about 16 int64 (B, N) temporaries of a step
            check_memory("--batch-sizes", float(b) * n * (RING + 128), f"{b} episodes of {n} agents")
        except InvalidInstanceError as exc:
            raise InvalidInstanceError("--batch-sizes", exc.reason, i) from None
        out.append(b)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=3, help="agents N (default 3)")
    ap.add_argument("--m", type=int, default=2, help="agents needed at the lever M (default 2)")
    ap.add_argument("--batch-sizes", default="1,64,1024,16384")
    ap.add_argument("--seconds", type=float, default=1.0, help="timed wall seconds per line (default 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="one JSON document on stdout instead of the table")
    args = ap.parse_args(argv)
    try:
        room = with_flags(lambda: EscapeRoom(args.n, args.m), {"n_agents": "--n", "min_at_lever": "--m"})
        batches = batch_sizes(args.batch_sizes, room.n_agents)
        if not (math.isfinite(args.seconds) and args.seconds > 0):
            raise InvalidInstanceError("--seconds", f"must be a finite number > 0, got {args.seconds}")
        if args.seed < 0:
            raise InvalidInstanceError("--seed", f"must be >= 0, got {args.seed}")
    except InvalidInstanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    t_start = time.perf_counter()
    rows = []
    for b in batches:
        for mode in ("pre-drawn", "pre-drawn, check=False", "drawn in loop"):
            print(f"B={b} {mode} ...", file=sys.stderr)
            rows.append(time_core(room, b, args.seconds, mode, args.seed))
    wrapper = time_wrapper(args.n, args.m, args.seconds, args.seed)
    if wrapper:
        rows.append(wrapper)
    record = {
        "command": shlex.join(["python", "benchmarks/escape_room.py", *(sys.argv[1:] if argv is None else argv)]),
        "game": f"ER({args.n}, {args.m}), max_steps {room.max_steps}",
        "target_agent_steps_per_s": TARGET,
        "rows": rows,
        "machine": machine_info(),
        "wall_s": time.perf_counter() - t_start,
    }
    if args.json:
        print(json.dumps(record, indent=1))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Escape Room {record['game']}: agent-steps per second "
                        f"(target >= {TARGET:,} for batched episodes)")
    for col in ("batch B", "actions", "steps timed", "wall (s)", "agent-steps/s", "episodes/s", "target met"):
        table.add_column(col, justify="left" if col == "actions" else "right")
    for r in rows:
        table.add_row(f"{r['batch']:,}", r["mode"], f"{r['steps']:,}", f"{r['wall_s']:.2f}",
                      f"{r['agent_steps_per_s']:,.0f}", f"{r['episodes_per_s']:,.0f}",
                      "yes" if r["agent_steps_per_s"] >= TARGET else "no")
    console = Console(width=140)
    console.print(table)
    m = record["machine"]
    console.print(f"command: {record['command']}")
    console.print(f"machine: {m['cpu']}, {m['cpus_usable']} usable CPUs, load {m['load_average_1_5_15min']}, "
                  f"Python {m['python']}, numpy {m['numpy']}, commit {m['git_commit']}, {m['date_utc']}")
    console.print(f"wall time: {record['wall_s']:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
