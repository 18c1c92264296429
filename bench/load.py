"""A load generator for the API: a constant-rate (open-loop) schedule, and a closed-loop ramp.

Open loop: request i is due at ``start + i / rate`` whether or not earlier ones
have answered, and its latency is counted from when it was due, not from when
it was sent; so a server that stalls cannot slow the load down and hide its
own queueing (coordinated omission). Closed loop: N clients each send their
next request when the previous one answers; its throughput at the knee is the
capacity.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp

if TYPE_CHECKING:
    from bench.stack import Stack

KINDS = ("get", "list", "lines", "upload")
DEFAULT_MIX = {"get": 45, "list": 25, "lines": 20, "upload": 10}


@dataclass(slots=True)
class Sample:
    """One request: what it was, when it was due, sent and answered, and what came back."""

    kind: str
    due: float
    sent: float
    done: float
    status: int | None
    outcome: str
    detail: str = ""
    task_id: str | None = None
    upload: int | None = None

    @property
    def latency_ms(self) -> float:
        """From when the request was due to its answer (includes any wait to be sent)."""
        return (self.done - self.due) * 1000

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


@dataclass(slots=True)
class Upload:
    """One logical upload: its CSV, its Idempotency-Key, and the report it must end with."""

    number: int
    name: str
    key: str
    content: bytes
    lines: int
    task_ids: set[str] = field(default_factory=set)

    @property
    def expected(self) -> dict[str, Any]:
        """The counters and errored line numbers users.import must report for this file."""
        return {
            "num_items": self.lines,
            "num_inserts": self.lines - 2,
            "num_updates": 0,
            "num_skips": 0,
            "num_errors": 2,
            # The header is line 1: the invalid e-mail is data row n-1, the duplicate row n.
            "errored_lines": [self.lines, self.lines + 1],
        }


def upload_csv(prefix: str, number: int, lines: int) -> Upload:
    """A CSV of ``lines`` people: new ones, then an invalid e-mail and a duplicate of the first."""
    if lines < 3:
        raise ValueError("an upload needs at least 3 lines")
    rows = ["email,firstName,lastName"]
    rows += [f"{prefix}-{number}-{n}@load.example,First{n},Last{n}" for n in range(1, lines - 1)]
    rows.append(f"not-an-email-{number},Bad,Row")
    rows.append(f"{prefix}-{number}-1@load.example,Again,Duplicate")
    name = f"{prefix}-{number}.csv"
    return Upload(
        number=number,
        name=name,
        key=f"{prefix}-{number}",
        content=("\n".join(rows) + "\n").encode(),
        lines=lines,
    )


def classify(status: int, headers: Any, body: bytes) -> tuple[str, str]:
    """Name the outcome of an HTTP answer: ok, a coded 503, or what was wrong with it."""
    if 200 <= status < 300:
        return "ok", ""
    try:
        envelope = json.loads(body)
        code = envelope["error"]["code"]
        message = envelope["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return f"{status} not the envelope", body[:200].decode(errors="replace")
    if status == 503 and code == 5003:
        if headers.get("Retry-After"):
            return "503 coded", message
        return "503 coded, no Retry-After", message
    return f"{status} code {code}", message


class Client:
    """The four requests of the mix, against one organization, as one member."""

    @classmethod
    def for_stack(
        cls, session: aiohttp.ClientSession, stack: Stack, *, prefix: str, **options: int
    ) -> Client:
        """A client of the service ``stack`` runs, as its demo reader."""
        return cls(
            session,
            stack.base,
            stack.organization,
            stack.token,
            read_task_ids=stack.task_ids,
            lines_task_id=stack.completed_task_id,
            prefix=prefix,
            **options,
        )

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base: str,
        organization: str,
        token: str,
        *,
        read_task_ids: list[str],
        lines_task_id: str,
        prefix: str,
        upload_lines: int,
        big_every: int = 0,
        big_lines: int = 0,
    ) -> None:
        self.session = session
        self.collection = f"{base}/v1/organizations/{organization}/bulk-tasks"
        self.headers = {"Authorization": f"Bearer {token}"}
        self.read_task_ids = list(read_task_ids)
        self.lines_task_id = lines_task_id
        self.prefix = prefix
        self.upload_lines = upload_lines
        # Every big_every-th upload has big_lines lines: a task long enough to be
        # caught mid-processing by a fault.
        self.big_every = big_every
        self.big_lines = big_lines
        self.uploads: list[Upload] = []
        self.random = random.Random(7)  # noqa: S311 - a load mix, not a secret

    def new_upload(self) -> Upload:
        """The next logical upload, with fresh people so that its counts are known in advance."""
        number = len(self.uploads) + 1
        big = self.big_every and number % self.big_every == 0
        upload = upload_csv(self.prefix, number, self.big_lines if big else self.upload_lines)
        self.uploads.append(upload)
        return upload

    async def send(self, kind: str, due: float, upload: Upload | None = None) -> Sample:
        """Send one request of this kind and record its sample; never raises."""
        sent = time.monotonic()
        if kind == "upload" and upload is None:
            upload = self.new_upload()
        try:
            status, headers, body = await self._request(kind, upload)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            outcome = "timeout" if isinstance(exc, TimeoutError) else "connection error"
            return Sample(
                kind,
                due,
                sent,
                time.monotonic(),
                None,
                outcome,
                f"{type(exc).__name__}: {exc}"[:200],
                upload=upload.number if upload else None,
            )
        done = time.monotonic()
        outcome, detail = classify(status, headers, body)
        task_id = None
        if kind == "upload" and upload is not None and outcome == "ok":
            task_id = json.loads(body)["data"]["id"]
            upload.task_ids.add(task_id)
            self.read_task_ids.append(task_id)
        return Sample(
            kind,
            due,
            sent,
            done,
            status,
            outcome,
            detail,
            task_id=task_id,
            upload=upload.number if upload else None,
        )

    async def _request(self, kind: str, upload: Upload | None) -> tuple[int, Any, bytes]:
        if kind == "get":
            # Mostly recent tasks, as clients polling their uploads would read them.
            ids = self.read_task_ids[-50:]
            url = f"{self.collection}/{self.random.choice(ids)}"
            async with self.session.get(url, headers=self.headers) as response:
                return response.status, response.headers, await response.read()
        if kind == "list":
            async with self.session.get(
                self.collection, params={"limit": "25"}, headers=self.headers
            ) as response:
                return response.status, response.headers, await response.read()
        if kind == "lines":
            url = f"{self.collection}/{self.lines_task_id}/lines"
            async with self.session.get(
                url, params={"limit": "100"}, headers=self.headers
            ) as response:
                return response.status, response.headers, await response.read()
        assert upload is not None
        form = aiohttp.FormData()
        form.add_field("action", "users.import")
        form.add_field("file", upload.content, filename=upload.name, content_type="text/csv")
        headers = {**self.headers, "Idempotency-Key": upload.key}
        async with self.session.post(self.collection, data=form, headers=headers) as response:
            return response.status, response.headers, await response.read()


async def send_again(client: Client, samples: list[Sample], attempts: int = 10) -> dict[str, Any]:
    """Send every upload that got no 2xx again, with its Idempotency-Key, until one is accepted.

    As a client honouring Retry-After would. An upload whose answer never came
    (a timeout, a cut connection) may have been created: the same key then
    returns the task it created, so its id becomes known and nothing is doubled.
    """
    answered = {s.upload for s in samples if s.kind == "upload" and s.ok}
    unanswered = [upload for upload in client.uploads if upload.number not in answered]
    accepted = 0
    for upload in unanswered:
        for _ in range(attempts):
            if (await client.send("upload", time.monotonic(), upload)).ok:
                accepted += 1
                break
            await asyncio.sleep(1)
    return {
        "uploads_sent_again": len(unanswered),
        "accepted_on_retry": accepted,
        "never_accepted": len(unanswered) - accepted,
    }


def session(timeout: float = 30.0) -> aiohttp.ClientSession:
    """An HTTP session with enough connections for an open-loop schedule."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=512),
        timeout=aiohttp.ClientTimeout(total=timeout),
    )


def kind_chooser(mix: dict[str, int], seed: int = 1) -> Callable[[], str]:
    """Pick request kinds at random in the mix's proportions, the same sequence every run."""
    chooser = random.Random(seed)  # noqa: S311 - a load mix, not a secret
    kinds = [kind for kind in KINDS if mix.get(kind)]
    weights = [mix[kind] for kind in kinds]
    return lambda: chooser.choices(kinds, weights)[0]


async def open_loop(
    client: Client,
    *,
    rate: float,
    seconds: float,
    mix: dict[str, int],
    stop: asyncio.Event | None = None,
) -> list[Sample]:
    """Send ``rate`` requests a second, on schedule whatever the answers, for ``seconds`` at most.

    ``stop`` ends the schedule early; requests already sent are still awaited.
    """
    choose = kind_chooser(mix)
    total = int(rate * seconds)
    start = time.monotonic()
    pending: list[asyncio.Task[Sample]] = []
    for i in range(total):
        due = start + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if stop is not None and stop.is_set():
            break
        pending.append(asyncio.create_task(client.send(choose(), due)))
    return list(await asyncio.gather(*pending))


async def closed_loop(
    client: Client, *, concurrency: int, seconds: float, mix: dict[str, int]
) -> tuple[float, list[Sample]]:
    """``concurrency`` clients back to back for ``seconds``; returns (answers a second, samples)."""
    choose = kind_chooser(mix, seed=concurrency)
    samples: list[Sample] = []
    start = time.monotonic()
    stop = start + seconds

    async def one_client() -> None:
        while time.monotonic() < stop:
            samples.append(await client.send(choose(), time.monotonic()))

    await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return len(samples) / (time.monotonic() - start), samples


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, round(fraction * len(ordered) + 0.5))
    return ordered[min(rank, len(ordered)) - 1]


def summarize(samples: list[Sample]) -> dict[str, dict[str, Any]]:
    """Per kind and overall: requests, non-2xx, connection errors, p50/p99/max latency."""
    table: dict[str, dict[str, Any]] = {}
    for kind in (*KINDS, "all"):
        chosen = [s for s in samples if kind in ("all", s.kind)]
        if not chosen:
            continue
        latencies = [s.latency_ms for s in chosen]
        outcomes: dict[str, int] = {}
        for sample in chosen:
            if not sample.ok:
                outcomes[sample.outcome] = outcomes.get(sample.outcome, 0) + 1
        table[kind] = {
            "requests": len(chosen),
            "ok": sum(1 for s in chosen if s.ok),
            "non_2xx": sum(1 for s in chosen if s.status is not None and not s.ok),
            "connection_errors": sum(1 for s in chosen if s.status is None),
            "errors_by_outcome": outcomes,
            "p50_ms": round(percentile(latencies, 0.50), 1),
            "p99_ms": round(percentile(latencies, 0.99), 1),
            "max_ms": round(max(latencies), 1),
        }
    return table


def print_table(table: dict[str, dict[str, Any]]) -> None:
    """The summary as aligned text."""
    print(
        f"{'kind':8s} {'requests':>9s} {'ok':>8s} {'non-2xx':>8s} {'conn err':>9s} "
        f"{'p50 ms':>8s} {'p99 ms':>8s} {'max ms':>8s}"
    )
    for kind, row in table.items():
        print(
            f"{kind:8s} {row['requests']:9d} {row['ok']:8d} {row['non_2xx']:8d} "
            f"{row['connection_errors']:9d} {row['p50_ms']:8.1f} {row['p99_ms']:8.1f} {row['max_ms']:8.1f}"
        )


def windows(samples: list[Sample], seconds: float = 10) -> list[dict[str, Any]]:
    """Requests, failures and latency per window of the schedule: is the service steady?"""
    if not samples:
        return []
    start = min(s.due for s in samples)
    buckets: dict[int, list[Sample]] = {}
    for sample in samples:
        buckets.setdefault(int((sample.due - start) // seconds), []).append(sample)
    rows = []
    for index in sorted(buckets):
        chosen = buckets[index]
        latencies = [s.latency_ms for s in chosen]
        rows.append(
            {
                "from_s": index * seconds,
                "requests": len(chosen),
                "failed": sum(1 for s in chosen if not s.ok),
                "p50_ms": round(percentile(latencies, 0.5), 1),
                "p99_ms": round(percentile(latencies, 0.99), 1),
            }
        )
    return rows
