"""The top entries of a py-spy profile, per process: own time (the leaf frame) and cumulative time (every
frame on the stack, counted once a sample), as percentages of that process's samples.

    py-spy record --subprocesses --nonblocking -r 250 -f raw -o replay.raw -- ais-watch replay ...
    python bench/pyspy_summary.py replay.raw [TOP]

A replay's decode worker is the grandchild (through multiprocessing's forkserver): a stack under two or
more `process` frames is the worker's (or, when it runs ais_watch/store/sqlite_process.py, the SQLite
writer process's), the rest the main process's (its event loop and aiosqlite's thread).
"""

from __future__ import annotations

import re
import sys
from collections import Counter, defaultdict

_FRAME = re.compile(r"(.*?) \((.*?)(?::\d+)?\)$")


def frame_name(frame: str) -> str:
    """`function (file)` with the file shortened to its package path, line numbers dropped."""
    match = _FRAME.match(frame)
    if not match:
        return frame
    function, file = match.groups()
    for cut in ("site-packages/", "wt-speed/", "lib/python3.11/"):
        if cut in file:
            file = file.split(cut, 1)[1]
    return f"{function} ({file})"


def summarise(path: str, top: int) -> str:
    own: dict[str, Counter[str]] = defaultdict(Counter)
    cumulative: dict[str, Counter[str]] = defaultdict(Counter)
    total: Counter[str] = Counter()
    with open(path) as fh:
        for line in fh:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            samples = int(count)
            frames = stack.split(";")
            processes = [i for i, f in enumerate(frames) if f.startswith("process ")]
            label = "worker" if len(processes) >= 2 else "main"
            if label == "worker" and "sqlite_process.py" in stack:
                label = "sqlite writer"  # a replay's SQLite writer process, also forkserver's
            names = [frame_name(f) for f in frames[processes[-1] + 1 if processes else 0:]]
            total[label] += samples
            if names:
                own[label][names[-1]] += samples
                for name in set(names):
                    cumulative[label][name] += samples
    out = []
    for label in sorted(total):
        samples = total[label]
        out.append(f"== {label}: {samples} samples")
        out.append(f"-- top {top} by own time")
        out += [f"{100 * n / samples:6.1f}%  {f}" for f, n in own[label].most_common(top)]
        out.append(f"-- top {top} by cumulative time")
        out += [f"{100 * n / samples:6.1f}%  {f}" for f, n in cumulative[label].most_common(top)]
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(summarise(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 15))
