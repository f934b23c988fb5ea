"""Re-verification of a finished benchmark dataset (``contractlab bench check DIR``).

Every row of the index is checked against the manifest (family, parameters, count, the seed of
instance ``i`` and its hash), against its result file (every column) and, for ``ok`` rows,
against the instance file (sha256 of its bytes). Then a sample of the ``ok`` rows (all of them
with ``all_rows``) is solved again from the stored instance files: each instance file must be
what the family's generator makes from the row's seed, and the values must agree within ``tol``
(relative to ``max(1, |value|)``; NaN matches NaN) and the certificate verdict exactly. Instances
of a batched family whose whole chunk is re-solved go through the same batched solve as the
sweep (so their floats are reproduced exactly); sampled ones are solved alone.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..theory.errors import InvalidInstanceError
from . import dataset as ds
from .families import VALUE_FIELDS
from .families import family as get_family

#: Default relative tolerance of the re-solved values.
TOL = 1e-9
#: Default number of rows re-solved without ``--all``.
SAMPLE = 32


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def _close(a: float, b: float, tol: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def _plain(value):
    """JSON has no NaN or infinity: such floats are reported as text."""
    return repr(value) if isinstance(value, float) and not math.isfinite(value) else value


def _diff(out: list, row_id: str, column: str, found, expected, what: str) -> None:
    found, expected = _plain(found), _plain(expected)
    out.append({"id": row_id, "column": column, "index": found, "expected": expected, "what": what})


def _static_checks(folder: Path, manifest: dict, rows: list[dict], out: list) -> None:
    count = manifest["count"]
    ids = [r["id"] for r in rows]
    want = [ds.instance_id(i) for i in range(count)]
    if sorted(ids) != want:
        extra = sorted(set(ids) - set(want))[:3]
        lost = sorted(set(want) - set(ids))[:3]
        dup = len(ids) - len(set(ids))
        _diff(out, "-", "id", f"{len(ids)} rows", f"{count} rows", f"ids differ (missing {lost}, unexpected {extra}, "
                                                                  f"{dup} duplicated)")
    params = ds.params_json(manifest["params"])
    seeds, hashes = manifest.get("seeds"), manifest.get("hashes")
    for r in rows:
        rid = r["id"]
        if not rid.isdigit() or rid not in want:
            continue
        i = int(rid)
        if r["family"] != manifest["family"]:
            _diff(out, rid, "family", r["family"], manifest["family"], "manifest")
        if r["params"] != params:
            _diff(out, rid, "params", r["params"], params, "manifest")
        seed = ds.instance_seed(manifest["seed"], i)
        if r["seed"] != seed or (seeds is not None and seeds[i] != seed):
            _diff(out, rid, "seed", r["seed"], seed, "seed derived from the dataset seed")
        if hashes is not None and hashes[i] != r["hash"]:
            _diff(out, rid, "hash", r["hash"], hashes[i], "manifest hash")
        result = ds.read_result(folder / ds.RESULTS / f"{rid}.json")
        if result is None:
            _diff(out, rid, "-", None, None, "result file missing or broken")
        else:
            for col in ds.COLUMNS:
                if not _same(r[col], result[col]):
                    _diff(out, rid, col, r[col], result[col], "result file")
        if r["status"] == "ok":
            inst = folder / ds.INSTANCES / f"{rid}.json"
            digest = ds.file_hash(inst) if inst.is_file() else None
            if digest != r["hash"]:
                _diff(out, rid, "hash", r["hash"], digest, "instance file sha256")


def _regenerated_matches(fam, manifest: dict, row: dict, path: Path) -> bool:
    """The stored instance is what the generator makes from the row's seed."""
    from ..theory import fileio
    obj = fam.make(manifest["params"], row["seed"])
    if path.with_suffix(".npz").exists():
        stored = fileio.to_dict(fileio.load(path), arrays=True)
        made = fileio.to_dict(obj, arrays=True)
        return stored.keys() == made.keys() and all(
            np.array_equal(np.asarray(stored[k]), np.asarray(made[k])) if isinstance(made[k], np.ndarray)
            else stored[k] == made[k] for k in made)
    return ds.instance_bytes(obj) == path.read_bytes()


def _compare(row: dict, fields: dict, manifest: dict, tol: float, out: list) -> None:
    for col in VALUE_FIELDS:
        if not _close(row[col], float(fields[col]), tol):
            _diff(out, row["id"], col, row[col], float(fields[col]), "re-solved")
    if row["certificate"] != fields["certificate"]:
        _diff(out, row["id"], "certificate", row["certificate"], fields["certificate"], "re-certified")


def check_dataset(folder: Path, all_rows: bool = False, sample: int = SAMPLE, tol: float = TOL,
                  seed: int = 0) -> dict:
    """Check the dataset in ``folder`` (module docstring); returns a summary with every
    difference found (``differences`` is empty when the dataset is good)."""
    from ..theory import fileio

    manifest = ds.read_manifest(folder)
    if manifest is None:
        raise InvalidInstanceError("DIR", f"{str(folder)[:120]!r} holds no bench manifest")
    fam = get_family(manifest.get("family"))
    rows = ds.read_index(folder).to_pylist()
    out: list[dict] = []
    _static_checks(folder, manifest, rows, out)
    ok_rows = [r for r in rows if r["status"] == "ok" and r["id"].isdigit()
               and (folder / ds.INSTANCES / f"{r['id']}.json").is_file()]
    if all_rows or sample >= len(ok_rows):
        chosen = ok_rows
    else:
        pick = np.random.default_rng(seed).choice(len(ok_rows), size=sample, replace=False)
        chosen = [ok_rows[k] for k in sorted(pick)]
    by_id = {r["id"]: r for r in rows}
    params, certify = manifest["params"], manifest["certify"]
    batch = manifest["batch"]
    groups: dict[int, list[dict]] = {}
    for r in chosen:
        groups.setdefault(int(r["id"]) // batch if fam.solve_batch else int(r["id"]), []).append(r)
    for key, group in groups.items():
        objs = {}
        for r in group:
            path = folder / ds.INSTANCES / f"{r['id']}.json"
            if not _regenerated_matches(fam, manifest, r, path):
                _diff(out, r["id"], "instance", None, None, "instance file differs from its generator's output")
            objs[r["id"]] = fileio.load(path)
        members = [ds.instance_id(i) for i in range(key * batch, min((key + 1) * batch, manifest["count"]))] \
            if fam.solve_batch else []
        if fam.solve_batch and len(group) == len(members) and all(by_id.get(m, {}).get("status") == "ok"
                                                                  for m in members):
            answers = fam.solve_batch([objs[m] for m in members], params, certify)
        else:
            answers = []
            for r in group:
                try:
                    answers.append(fam.solve(objs[r["id"]], params, certify))
                except Exception as exc:  # a row that no longer solves is a difference, not a crash
                    answers.append(exc)
        for r, fields in zip(group, answers):
            if isinstance(fields, BaseException):
                reason = f"re-solve failed: {type(fields).__name__}: {fields}"[:200]
                _diff(out, r["id"], "status", "ok", "failed", reason)
            else:
                _compare(r, fields, manifest, tol, out)
    return {"dataset": str(folder), "family": manifest["family"], "rows": len(rows),
            "failed_rows": sum(r["status"] == "failed" for r in rows), "resolved": len(chosen), "tol": tol,
            "differences": out, "ok": not out}
