"""``make run``: Django's development server with a Celery worker and beat beside it, stopped together.

``python -m config.devserver 127.0.0.1:8000`` starts both and waits. Ctrl-C
(SIGINT to the terminal's process group) or SIGTERM (which make passes on to
its recipe) stops both within a few seconds, each told once: a shell trap that
signals its own process group signals itself again, and the worker then prints
its shutdown line thousands of times.

Each child runs in a process group of its own, so that the terminal's Ctrl-C
reaches only make and this supervisor, and the supervisor alone decides who is
told what: one SIGTERM to each child's group (the worker's warm shutdown, beat,
the autoreloader and the server it runs), then SIGKILL to whatever is still
there after ``GRACE_SECONDS``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path
from types import FrameType

# The settings of a developer's machine, unless the caller names others.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# On the file-system queue a worker looks for a stop request every two seconds,
# and its warm shutdown takes four to six; it also waits for the task in hand.
# A developer who pressed Ctrl-C should not wait for that: the worker is killed
# after this long, and a task it held is taken up again once its lease runs out.
GRACE_SECONDS = 3.0
_POLL_SECONDS = 0.1


class Child:
    """One program the supervisor runs, in its own process group."""

    def __init__(self, name: str, argv: list[str]) -> None:
        self.name = name
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            argv,
            cwd=PROJECT_ROOT,
            # Nothing to read from the terminal: a background group that touched
            # it would be stopped by the kernel.
            stdin=subprocess.DEVNULL,
            process_group=0,
        )

    def running(self) -> bool:
        """Tell whether the program has not exited yet."""
        return self.process.poll() is None

    def signal_group(self, signum: signal.Signals) -> None:
        """Send ``signum`` to the program and to every process it started."""
        # It may have exited meanwhile, its group with it.
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)


def devserver_children(*, address: str, beat_schedule: str) -> list[Child]:
    """Start the Celery worker, Celery beat (the periodic sweeper) and the development server."""
    celery = [str(Path(sys.executable).parent / "celery"), "-A", "config"]
    return [
        Child("worker", [*celery, "worker", "--pool=solo", "--loglevel=INFO"]),
        # Beat apart from the worker (not `worker --beat`): a worker killed
        # after the grace period then leaves no beat process of its own behind.
        Child("beat", [*celery, "beat", "--loglevel=INFO", "--schedule", beat_schedule]),
        Child("server", [sys.executable, "manage.py", "runserver", address]),
    ]


def devserver_stop(children: list[Child], *, grace: float = GRACE_SECONDS) -> None:
    """Ask every child to stop, once, and kill whatever is left after ``grace`` seconds."""
    for child in children:
        if child.running():
            child.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(child.running() for child in children) and time.monotonic() < deadline:
        time.sleep(_POLL_SECONDS)
    for child in children:
        # Also the group of a child that did exit: what it started may linger.
        child.signal_group(signal.SIGKILL)
        child.process.wait()


def main(argv: list[str] | None = None) -> int:
    """Serve until a signal or a child's exit; return 0 on a requested stop, 1 otherwise."""
    parser = argparse.ArgumentParser(prog="python -m config.devserver", description=__doc__)
    parser.add_argument("address", help="host:port for the development server")
    parser.add_argument("--beat-schedule", default="var/celerybeat-schedule")
    args = parser.parse_args(argv)

    requested: list[int] = []

    def request_stop(signum: int, frame: FrameType | None) -> None:
        requested.append(signum)

    # Installed before the children start, so that no signal finds this
    # process without its handler and the children unsupervised.
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    children = devserver_children(address=args.address, beat_schedule=args.beat_schedule)
    try:
        while not requested and all(child.running() for child in children):
            time.sleep(_POLL_SECONDS)
    finally:
        exited = [child for child in children if not child.running()]
        if requested:
            print("Stopping the server, the worker and beat...", file=sys.stderr, flush=True)
        for child in exited:
            print(
                f"The {child.name} exited with status {child.process.returncode}; "
                "stopping the rest.",
                file=sys.stderr,
                flush=True,
            )
        devserver_stop(children)
    if requested:
        print("Stopped.", file=sys.stderr, flush=True)
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
