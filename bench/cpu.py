"""Where the CPU goes during a run: a process tree's, a database's backends', the machine's.

Read from /proc on the machine that runs the stack (Linux), so a figure can say
whether the workers, PostgreSQL or something else had the cores.
"""

from __future__ import annotations

import os
from pathlib import Path


def processes() -> dict[int, tuple[int, float]]:
    """Every live process of the machine: its parent's pid and its CPU seconds (user + system)."""
    found: dict[int, tuple[int, float]] = {}
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The command name (field 2) may hold spaces: split after its closing bracket.
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks)
    return found


def process_tree_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds used so far by a live process and by each of its descendants, by pid."""
    table = processes()
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, (ppid, _) in table.items() if ppid == parent]
        tree.update(children)
        frontier.extend(children)
    return {member: table[member][1] for member in tree if member in table}


class DatabaseCpu:
    """CPU seconds the PostgreSQL backends of one database use, sampled while work runs.

    A worker may close its connection when its task ends, and the backend's CPU
    leaves with it: so the backends are read at every ``sample()``, and each
    counts with its last reading (what it used after that is missed).
    """

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.sampled = False

    def sample(self) -> None:
        """Read every backend connected to the database (on this machine)."""
        import psycopg

        with psycopg.connect(self.database_url, connect_timeout=5) as connection:
            pids = {
                row[0]
                for row in connection.execute(
                    "SELECT pid FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                ).fetchall()
            }
        table = processes()
        for pid in pids & table.keys():
            # A backend already there at the first sample counts from that reading;
            # one that started since, from nothing.
            self.first.setdefault(pid, table[pid][1] if not self.sampled else 0.0)
            self.last[pid] = table[pid][1]
        self.sampled = True

    @property
    def seconds(self) -> float:
        return sum(seconds - self.first[pid] for pid, seconds in self.last.items())


def machine_cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of every CPU of the machine since boot, from /proc/stat."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]  # idle and iowait
    return sum(values) - idle, sum(values)
