"""Compare two MLflow SQLite stores bit for bit: every metric history and every npz artifact.

Runs are matched by (experiment name, run name), in start order. Metric histories are compared
as sorted (key, step, value) rows (values as their exact float bits, NaN equal to NaN; the
wall-clock ``time/seconds`` left out); npz
artifacts by their arrays (same names, dtypes, shapes and bytes).

    python tools/compare_stores.py /tmp/bitref/base.db /tmp/bitref/after.db

Exit status 0 when identical, 1 with one line per difference otherwise. Reads SQLite and numpy
only (no mlflow import), so it runs in any environment.
"""

from __future__ import annotations

import sqlite3
import struct
import sys
from pathlib import Path

import numpy as np


def _runs(db: str) -> dict[tuple[str, str, int], tuple[str, str]]:
    """{(experiment, run name, index): (run id, artifact folder)}."""
    con = sqlite3.connect(db)
    rows = con.execute(
        "select e.name, r.name, r.run_uuid, r.artifact_uri from runs r"
        " join experiments e on r.experiment_id = e.experiment_id order by r.start_time"
    ).fetchall()
    out: dict[tuple[str, str, int], tuple[str, str]] = {}
    for exp, name, uid, uri in rows:
        i = sum(1 for k in out if k[:2] == (exp, name))
        out[(exp, name, i)] = (uid, uri.removeprefix("file://"))
    return out


def _bits(v: float) -> bytes:
    return b"nan" if v != v else struct.pack("<d", v)


WALL_CLOCK = frozenset({"time/seconds"})  # measured time: never the same twice


def _metrics(db: str, run: str) -> list[tuple[str, int, bytes]]:
    con = sqlite3.connect(db)
    rows = con.execute("select key, step, value from metrics where run_uuid = ?", (run,))
    return sorted((k, int(s), _bits(float(v))) for k, s, v in rows if k not in WALL_CLOCK)


def _npz(folder: str) -> dict[str, dict[str, np.ndarray]]:
    root = Path(folder)
    out = {}
    for p in sorted(root.rglob("*.npz")):
        with np.load(p) as z:
            out[str(p.relative_to(root))] = {k: z[k] for k in z.files}
    return out


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def compare(base: str, other: str) -> list[str]:
    """One line per difference between the stores (empty: identical)."""
    diffs: list[str] = []
    ra, rb = _runs(base), _runs(other)
    compare.counted = {"metric points": 0, "npz files": 0}
    if sorted(ra) != sorted(rb):
        diffs.append(f"runs differ: {sorted(ra)} vs {sorted(rb)}")
    for key in sorted(set(ra) & set(rb)):
        (ida, arta), (idb, artb) = ra[key], rb[key]
        ma, mb = _metrics(base, ida), _metrics(other, idb)
        compare.counted["metric points"] += len(ma)
        if ma != mb:
            only_a, only_b = sorted(set(ma) - set(mb)), sorted(set(mb) - set(ma))
            diffs.append(f"{key}: metrics differ: {only_a[:3]} vs {only_b[:3]}")
        na, nb = _npz(arta), _npz(artb)
        if sorted(na) != sorted(nb):
            diffs.append(f"{key}: npz files differ: {sorted(na)} vs {sorted(nb)}")
        compare.counted["npz files"] += len(na)
        for f in sorted(set(na) & set(nb)):
            a, b = na[f], nb[f]
            if sorted(a) != sorted(b) or not all(_same(a[k], b[k]) for k in a):
                diffs.append(f"{key}: {f} differs")
    return diffs


def main(argv: list[str]) -> int:
    base, other = argv
    diffs = compare(base, other)
    for d in diffs:
        print(d)
    n = len(_runs(base))
    counted = ", ".join(f"{v} {k}" for k, v in compare.counted.items())
    print(f"{'identical' if not diffs else 'DIFFERENT'}: {n} runs compared ({counted})")
    return 1 if diffs else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
