"""Run the `opsdesk` command with a stack sampler on the main thread, for profiling.

cProfile misattributes time in Opsdesk's server: SQLAlchemy's asyncio layer runs database
calls in greenlets, and a greenlet switch gives the profiler no call or return event, so
cumulative times come out larger than the run. A sampling thread is no better, because it
can read the main thread's stack only when the main thread releases the GIL, so its
samples pile up on calls that release it (such as os.urandom).

This sampler uses a CPU-time interval timer (ITIMER_PROF): every interval of CPU time
used by the process raises SIGPROF, and Python runs the handler in the main thread with
the frame that was executing. Each greenlet's stack is joined to the stack of the
greenlet that switched into it, which `greenlet.settrace` tracks. A sample whose
innermost Python frame is the event loop's own run call is counted as "loop": uvloop's C
code, or CPU time of another thread (SQLite's driver threads) that landed while the main
thread waited for I/O.

At exit the script writes a JSON summary to OPSDESK_SAMPLE_OUTPUT: busy and loop sample
counts, samples per innermost function (own time), and samples that contain each function
(inclusive time).

Run: OPSDESK_SAMPLE_OUTPUT=out.json python bench/sampled_serve.py serve --no-worker ...
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import sys
from collections import Counter
from types import FrameType
from typing import Any

import greenlet

from opsdesk.cli import main

INTERVAL_SECONDS = 0.001
"""CPU time between samples, as requested from the kernel. Linux checks CPU-time timers at
its scheduler tick, so samples may come less often; only their shares are used."""

_current: list[Any] = [greenlet.getcurrent()]


def _track(event: str, args: tuple[Any, Any]) -> None:
    if event in ("switch", "throw"):
        _current[0] = args[1]


def _frames(frame: FrameType | None) -> list[str]:
    names = []
    while frame is not None:
        code = frame.f_code
        names.append(f"{_short(code.co_filename)}:{code.co_name}")
        frame = frame.f_back
    return names


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/src/", "/lib/python3.11/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def _stack(frame: FrameType) -> list[str]:
    """Return the sampled stack, innermost first, across greenlet boundaries."""
    names = _frames(frame)
    current = _current[0]
    parent = getattr(current, "parent", None)
    while parent is not None:
        names.extend(_frames(parent.gr_frame))
        parent = parent.parent
    return names


class Sampler:
    def __init__(self) -> None:
        self.own: Counter[str] = Counter()
        self.inclusive: Counter[str] = Counter()
        self.busy = 0
        self.loop = 0

    def sample(self, _signum: int, frame: FrameType | None) -> None:
        if frame is None:
            return
        names = _stack(frame)
        if names[0].startswith("asyncio/runners.py:") or names[0].endswith("selectors.py:select"):
            self.loop += 1
            return
        self.busy += 1
        self.own[names[0]] += 1
        self.inclusive.update(set(names))

    def write(self, path: str) -> None:
        summary = {
            "busy": self.busy,
            "loop": self.loop,
            "own": self.own.most_common(),
            "inclusive": self.inclusive.most_common(),
        }
        with open(path, "w") as sink:
            json.dump(summary, sink)


def run() -> None:
    output = os.environ["OPSDESK_SAMPLE_OUTPUT"]
    sampler = Sampler()
    greenlet.settrace(_track)
    signal.signal(signal.SIGPROF, sampler.sample)
    signal.setitimer(signal.ITIMER_PROF, INTERVAL_SECONDS, INTERVAL_SECONDS)

    def finish() -> None:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        sampler.write(output)

    atexit.register(finish)
    sys.argv = ["opsdesk", *sys.argv[1:]]
    main()


if __name__ == "__main__":
    run()
