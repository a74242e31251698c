"""Zone membership throughput and peak memory: which geofences is each of 1,000,000 positions in?

Positions: 80% uniform over the Sea of Japan / East Sea / Yellow Sea box (33-46 N, 119-142 E) and 20%
scattered within ~10 km of the ports (so that a fair share hit a port or zone), fixed seed. Zones: every
bundled geofence (the top-level `geofences/`). Three ways, each in its own process so that each peak RSS
is its own:

  (a) baseline: a plain Python loop over every zone with shapely ``contains`` on unprepared geometries.
      It is slow, so it is timed on the first --baseline-sample positions (50,000) and extrapolated;
  (b) ``ZoneIndex.zones_at`` per position;
  (c) ``ZoneIndex.zones_at_many`` in batches of --batch (10,000).

Then it checks that (b) and (c) give the same answer as (a) on the baseline sample, and as each other on
every position. Peak memory is the process's peak RSS (ru_maxrss), also shown above the RSS it had once
the positions and zones were loaded. The machine is shared and noisy: compare ratios, not absolutes.

    python bench/zone_membership.py [--positions 1000000] [--baseline-sample 50000] [--batch 10000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
MODES = ("baseline", "per_point", "vectorised")


def positions(n: int, seed: int = 20230901) -> tuple[np.ndarray, np.ndarray]:
    from ais_watch.zones import load_zones

    rng = np.random.default_rng(seed)
    lats = rng.uniform(33.0, 46.0, n)
    lons = rng.uniform(119.0, 142.0, n)
    refs = np.array([(z.ref_lat, z.ref_lon) for z in load_zones() if z.kind == "port"])
    near = rng.random(n) < 0.2
    k = int(near.sum())
    pick = refs[rng.integers(0, len(refs), k)]
    lats[near] = pick[:, 0] + rng.normal(0.0, 0.04, k)
    lons[near] = pick[:, 1] + rng.normal(0.0, 0.05, k)
    return lats, lons


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _save(path: Path, answers: list[tuple[int, ...]]) -> None:
    """Answers as CSR arrays: offsets and zone indices."""
    counts = np.fromiter((len(a) for a in answers), dtype=np.int64, count=len(answers))
    offsets = np.concatenate(([0], np.cumsum(counts)))
    flat = np.fromiter((i for a in answers for i in a), dtype=np.int32, count=int(offsets[-1]))
    np.savez(path, offsets=offsets, flat=flat)


def _load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    data = np.load(path)
    return data["offsets"], data["flat"]


def run_child(mode: str, n: int, sample: int, batch: int, out: Path) -> None:
    import shapely

    from ais_watch.zones import ZoneIndex, load_zones

    lats, lons = positions(n)
    zones = load_zones()
    if mode == "baseline":
        lats, lons = lats[:sample], lons[:sample]
    else:
        index = ZoneIndex(zones)
    loaded_rss = _rss_mib()
    count = len(lats)
    t0 = time.perf_counter()
    if mode == "baseline":
        geoms = [z.geometry for z in zones]  # never prepared in this process
        answers = []
        for lat, lon in zip(lats.tolist(), lons.tolist(), strict=True):
            point = shapely.Point(lon, lat)
            answers.append(tuple(i for i, g in enumerate(geoms) if g.contains(point)))
    elif mode == "per_point":
        position = {id(z): i for i, z in enumerate(index.zones)}
        answers = [tuple(position[id(z)] for z in index.zones_at(lat, lon))
                   for lat, lon in zip(lats.tolist(), lons.tolist(), strict=True)]
    else:
        answers = []
        for start in range(0, count, batch):
            answers.extend(index.zones_at_many(lats[start:start + batch], lons[start:start + batch]))
    elapsed = time.perf_counter() - t0
    _save(out / f"{mode}.npz", answers)
    print(json.dumps({"mode": mode, "positions": count, "seconds": elapsed, "per_second": count / elapsed,
                      "loaded_rss_mib": loaded_rss, "peak_rss_mib": _rss_mib(), "zones": len(zones),
                      "hits": sum(1 for a in answers if a)}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--positions", type=int, default=1_000_000)
    parser.add_argument("--baseline-sample", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sample = min(args.baseline_sample, args.positions)
    if args.child:
        run_child(args.child, args.positions, sample, args.batch, args.out)
        return 0

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for mode in MODES:
            command = [sys.executable, __file__, "--child", mode, "--positions", str(args.positions),
                       "--baseline-sample", str(sample), "--batch", str(args.batch), "--out", str(out)]
            proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                print(proc.stdout, proc.stderr, sep="\n", file=sys.stderr)
                return 1
            results[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
        answers = {mode: _load(out / f"{mode}.npz") for mode in MODES}

    def first(mode: str, n: int) -> tuple[np.ndarray, np.ndarray]:
        offsets, flat = answers[mode]
        return offsets[:n + 1], flat[:offsets[n]]

    base = first("baseline", sample)
    def same(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> bool:
        return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))

    same_b = same(base, first("per_point", sample))
    same_c = same(base, first("vectorised", sample))
    same_bc = same(answers["per_point"], answers["vectorised"])

    print(f"zone membership: {args.positions:,} positions, {results['vectorised']['zones']} zones "
          f"(bundled geofences), {results['vectorised']['hits']:,} positions in at least one zone")
    labels = {"baseline": f"(a) loop + contains, unprepared  [timed on {sample:,}, extrapolated]",
              "per_point": "(b) ZoneIndex.zones_at per position",
              "vectorised": f"(c) ZoneIndex.zones_at_many, batches of {args.batch:,}"}
    for mode in MODES:
        r = results[mode]
        total = args.positions / r["per_second"]
        print(f"  {labels[mode]:<62} {r['per_second']:>12,.0f} positions/s  {total:8.1f} s for all  "
              f"peak RSS {r['peak_rss_mib']:6.0f} MiB (after loading {r['loaded_rss_mib']:.0f} MiB)")
    base_rate = results["baseline"]["per_second"]
    print(f"  speed-up over (a): (b) x{results['per_point']['per_second'] / base_rate:.0f}, "
          f"(c) x{results['vectorised']['per_second'] / base_rate:.0f}")
    yes = {True: "yes", False: "NO"}
    print(f"  same answers as (a) on the first {sample:,}: (b) {yes[same_b]}, (c) {yes[same_c]}; "
          f"(b) = (c) on all {args.positions:,}: {yes[same_bc]}")
    return 0 if (same_b and same_c and same_bc) else 1


if __name__ == "__main__":
    sys.exit(main())
