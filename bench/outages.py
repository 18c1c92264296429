"""Stopping and starting PostgreSQL and Redis the way this machine runs them, for the fault test.

Nothing is assumed about how they were started; each is asked and the answer decides:

- PostgreSQL: a cluster that Debian's ``pg_lsclusters`` lists on the server's
  port and data directory is stopped and started with ``pg_ctlcluster``;
  otherwise ``pg_ctl`` from the running server's own binaries, on its data
  directory, as the directory's owner (``runuser`` when run as root). Only that
  one cluster is touched (``service postgresql restart`` would restart them all).
- Redis: stopped with ``redis-cli shutdown nosave``; started again with the
  configuration file it was started with, if any, else with its running
  configuration (``CONFIG GET``: port, bind, dir, save, logfile, ...) passed
  back on the command line, daemonized, as the user it ran as.

Stopping and starting a service needs root, or the service's own user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

# Redis settings replayed on the command line when it runs without a config file.
# Secrets (requirepass, masterauth) are never read.
REDIS_REPLAYED_SETTINGS = (
    "port",
    "bind",
    "dir",
    "dbfilename",
    "save",
    "appendonly",
    "databases",
    "protected-mode",
    "logfile",
    "loglevel",
    "pidfile",
    "maxmemory",
    "maxmemory-policy",
    "maxclients",
    "timeout",
    "tcp-keepalive",
    "unixsocket",
    "unixsocketperm",
)
# Empty values that mean something and must be passed as such ("save" "" is: no snapshots).
REDIS_MEANINGFUL_EMPTY = ("save", "logfile")


def run(command: list[str], timeout: float = 60) -> str:
    """Run a command; raise with its output if it fails."""
    result = subprocess.run(  # noqa: S603 - commands built from what the services report
        command, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
        )
    return result.stdout


def as_user(owner: str) -> list[str]:
    """The prefix that runs a command as ``owner``: nothing if we already are, runuser as root."""
    if pwd.getpwuid(os.geteuid()).pw_name == owner:
        return []
    if os.geteuid() != 0:
        raise PermissionError(f"run as root or as {owner} to stop and start this service")
    return ["runuser", "-u", owner, "--"]


def wait_until(check: object, *, timeout: float, what: str) -> float:
    """Poll ``check()`` until it is true; return the seconds it took."""
    start = time.monotonic()
    while not check():  # type: ignore[operator]
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{what} after {timeout} s")
        time.sleep(0.1)
    return time.monotonic() - start


@dataclass
class Postgres:
    """One PostgreSQL cluster and the commands that stop and start it."""

    admin_url: str
    how: str
    stop_command: list[str]
    start_command: list[str]

    @classmethod
    def detect(cls, admin_url: str) -> Postgres:
        """Ask the running server where it lives, then find the tool that manages it."""
        import psycopg

        with psycopg.connect(admin_url, connect_timeout=5) as connection:
            data_directory, config_file, port = (
                connection.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
                for name in ("data_directory", "config_file", "port")
            )
        if shutil.which("pg_lsclusters") and shutil.which("pg_ctlcluster"):
            for line in run(["pg_lsclusters", "--no-header"]).splitlines():
                parts = line.split()
                if len(parts) >= 6 and parts[2] == port and parts[5] == data_directory:
                    version, cluster = parts[0], parts[1]
                    return cls(
                        admin_url,
                        f"pg_ctlcluster {version} {cluster}",
                        ["pg_ctlcluster", "-m", "fast", version, cluster, "stop"],
                        ["pg_ctlcluster", version, cluster, "start"],
                    )
        owner = pwd.getpwuid(os.stat(data_directory).st_uid).pw_name
        pg_ctl = str(_postgres_bindir(data_directory) / "pg_ctl")
        log_folder = Path(tempfile.mkdtemp(prefix="bench-pg-ctl-"))
        shutil.chown(log_folder, user=owner)
        start = [pg_ctl, "-D", data_directory, "start", "-w", "-t", "60"]
        start += ["-l", str(log_folder / "postgresql.log")]
        if Path(config_file).parent != Path(data_directory):
            start += ["-o", f"-c config_file={config_file}"]
        prefix = as_user(owner)
        return cls(
            admin_url,
            f"pg_ctl -D {data_directory} (as {owner})",
            [*prefix, pg_ctl, "-D", data_directory, "stop", "-m", "fast", "-w", "-t", "60"],
            [*prefix, *start],
        )

    def is_up(self) -> bool:
        """True when the server accepts a connection and answers a query."""
        import psycopg

        try:
            with psycopg.connect(self.admin_url, connect_timeout=2) as connection:
                connection.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def stop(self) -> None:
        run(self.stop_command)

    def start(self) -> float:
        """Start it (unless it already answers) and wait until it answers; return the seconds."""
        started = time.monotonic()
        if not self.is_up():
            run(self.start_command)
        wait_until(self.is_up, timeout=60, what="PostgreSQL did not come back")
        return time.monotonic() - started


def _postgres_bindir(data_directory: str) -> Path:
    """The folder of the running server's own binaries (its version, whatever is on PATH)."""
    try:
        pid = int(Path(data_directory, "postmaster.pid").read_text().split()[0])
        return Path(os.readlink(f"/proc/{pid}/exe")).parent
    except (OSError, ValueError, IndexError):
        return Path(run(["pg_config", "--bindir"]).strip())


@dataclass
class Redis:
    """One Redis server and the commands that stop and start it."""

    url: str
    how: str
    stop_command: list[str]
    start_command: list[str]
    settings: dict[str, str] = field(default_factory=dict)

    @classmethod
    def detect(cls, url: str) -> Redis:
        """Ask the running server how it was configured, to start it again the same way."""
        import redis

        client = redis.Redis.from_url(url, socket_timeout=5)
        info = client.info("server")
        settings = {}
        for name in REDIS_REPLAYED_SETTINGS:
            value = client.config_get(name).get(name)
            if value is not None:
                settings[name] = str(value)
        client.close()
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", str(info["tcp_port"])
        executable = str(info.get("executable") or "")
        if not (executable and os.access(executable, os.X_OK)):
            executable = shutil.which("redis-server") or "redis-server"
        owner = pwd.getpwuid(os.stat(f"/proc/{info['process_id']}").st_uid).pw_name
        stop = [
            shutil.which("redis-cli") or "redis-cli",
            "-h",
            host,
            "-p",
            port,
            "shutdown",
            "nosave",
        ]
        config_file = str(info.get("config_file") or "")
        if config_file:
            start = [*as_user(owner), executable, config_file, "--daemonize", "yes"]
            how = f"{executable} {config_file} (as {owner})"
        else:
            start = [*as_user(owner), executable]
            for name, value in settings.items():
                if value or name in REDIS_MEANINGFUL_EMPTY:
                    start += [f"--{name}", *(value.split() or [""])]
            start += ["--daemonize", "yes"]
            how = f"{executable} with its running settings on the command line (as {owner})"
        return cls(url, how, stop, start, settings)

    def is_up(self) -> bool:
        """True when the server answers PING."""
        import redis

        client = redis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def stop(self) -> None:
        """``redis-cli shutdown nosave``: the server exits at once, dropping what it held."""
        subprocess.run(self.stop_command, capture_output=True, timeout=30, check=False)  # noqa: S603
        wait_until(lambda: not self.is_up(), timeout=30, what="Redis did not stop")

    def start(self) -> float:
        """Start it (unless it already answers) and wait until it answers; return the seconds."""
        started = time.monotonic()
        if not self.is_up():
            run(self.start_command)
        wait_until(self.is_up, timeout=30, what="Redis did not come back")
        return time.monotonic() - started


# --- Private servers, so that the fault test can run without touching shared ones ------


@dataclass
class PrivateServers:
    """A throw-away PostgreSQL cluster and Redis server on free loopback ports."""

    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bench-private-")))

    def __post_init__(self) -> None:
        self.postgres_port = _free_port()
        self.redis_port = _free_port()
        self.postgres_data = self.folder / "postgres"
        self.bindir: Path | None = None
        self.owner = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name

    @property
    def postgres_admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.postgres_port}/postgres"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def start(self) -> None:
        """initdb and start a cluster; start a Redis server without persistence."""
        self.bindir = Path(run(["pg_config", "--bindir"]).strip())
        self.folder.chmod(0o755)
        self.postgres_data.mkdir(mode=0o700)
        shutil.chown(self.postgres_data, user=self.owner)
        prefix = as_user(self.owner)
        run(
            [
                *prefix,
                str(self.bindir / "initdb"),
                "-D",
                str(self.postgres_data),
                "-U",
                "postgres",
                "-A",
                "trust",
            ]
        )
        with (self.postgres_data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nport = {self.postgres_port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.postgres_data}'\nfsync = off\n"
            )
        run(
            [
                *prefix,
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.postgres_data),
                "start",
                "-w",
                "-l",
                str(self.postgres_data / "server.log"),
            ]
        )
        redis_folder = self.folder / "redis"
        redis_folder.mkdir()
        run(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(redis_folder),
                "--logfile",
                str(redis_folder / "redis.log"),
                "--pidfile",
                str(redis_folder / "redis.pid"),
                "--daemonize",
                "yes",
            ]
        )
        wait_until(Redis(self.redis_url, "", [], []).is_up, timeout=30, what="Redis did not start")

    def stop(self) -> None:
        """Stop both and remove their files."""
        subprocess.run(  # noqa: S603
            [
                shutil.which("redis-cli") or "redis-cli",
                "-p",
                str(self.redis_port),
                "shutdown",
                "nosave",
            ],
            capture_output=True,
            timeout=30,
            check=False,
        )
        if self.bindir is not None and (self.postgres_data / "postmaster.pid").exists():
            subprocess.run(  # noqa: S603
                [
                    *as_user(self.owner),
                    str(self.bindir / "pg_ctl"),
                    "-D",
                    str(self.postgres_data),
                    "stop",
                    "-m",
                    "immediate",
                ],
                capture_output=True,
                timeout=60,
                check=False,
            )
        shutil.rmtree(self.folder, ignore_errors=True)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
