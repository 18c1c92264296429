"""The README's walk-through: the commands ``make run`` prints, with fresh tokens filled in.

``seed_demo`` (which ``make run`` calls) prints them. The README shows the same
commands with ``eyJ...`` for the tokens and each command's answer under it, as
``# ->`` lines; ``tests/test_readme.py`` checks that its block, the answers
taken out, is what ``seed_demo`` prints.
"""

from __future__ import annotations

from dataclasses import dataclass

from bulktasks import demo

# What the README shows where the banner has a real token.
TOKEN_PLACEHOLDER = "eyJ..."  # noqa: S105 - not a token, what stands for one
# Every curl shows the status code after the body.
CURL = "curl -s -w ' %{http_code}\\n'"


@dataclass(frozen=True)
class Step:
    """One command of the walk-through, and why."""

    comment: str
    command: str


def walkthrough_steps(*, base: str, access: str, refresh: str) -> list[Step]:
    """The walk-through against the server at ``base``, with the given tokens in its exports."""
    tasks = f"{base}/v1/organizations/{demo.ORGANIZATION_SLUG}/bulk-tasks"
    auth = '-H "Authorization: Bearer $TOKEN"'
    return [
        Step(
            "# Log in as a member who may read, list, create and cancel tasks (the demo\n"
            "# password is public on purpose); the access token lasts 15 minutes",
            f"{CURL} -X POST {base}/v1/auth/token \\\n"
            "  -H 'Content-Type: application/json' \\\n"
            f'  -d \'{{"email": "{demo.READER_EMAIL}", "password": "{demo.DEMO_PASSWORD}"}}\'',
        ),
        Step(
            "",
            f'export TOKEN={access}   # the "access" value\n'
            f'export REFRESH={refresh}   # the "refresh" value',
        ),
        Step(
            "# A CSV of four people, two of them wrong, in a folder of its own",
            'DEMO_DIR="$(mktemp -d)"\n'
            "printf 'email,firstName,lastName\\nada@example.com,Ada,Lovelace\\n"
            "not-an-email,Bad,Line\\nada@example.com,Ada,Again\\ngrace@example.com,Grace,Hopper\\n'"
            ' > "$DEMO_DIR/people.csv"',
        ),
        Step(
            '# Upload it to import the people into the organization "acme"',
            f"{CURL} -X POST {tasks} \\\n"
            f'  {auth} -H "Idempotency-Key: walkthrough-1" \\\n'
            '  -F action=users.import -F file=@"$DEMO_DIR/people.csv"',
        ),
        Step("", 'export TASK=...   # the "id" value'),
        Step(
            "# A moment later the worker has processed it: its report",
            f"{CURL} {tasks}/$TASK {auth}",
        ),
        Step(
            "# Every errored line of a report, a page at a time",
            f'{CURL} "{tasks}/$TASK/lines?kind=errored" {auth}',
        ),
        Step(
            "# The organization's tasks, newest first: yours, then one in every status",
            f'{CURL} "{tasks}?limit=5" {auth}',
        ),
        Step(
            "# A finished task cannot be cancelled: 409 with code 3005",
            f"{CURL} -X POST {tasks}/$TASK/cancel {auth}",
        ),
        Step(
            "# No token: 401 with code 4002",
            f"{CURL} {tasks}/$TASK",
        ),
        Step(
            "# A malformed id: 400 with code 1001, naming the parameter",
            f"{CURL} {tasks}/123 {auth}",
        ),
        Step(
            "# Another organization's task: 404 with code 3001,\n"
            "# the same answer as a task that does not exist",
            f"{CURL} {tasks}/{demo.OTHER_TASK_ID} {auth}",
        ),
        Step(
            "# After 15 minutes the access token is refused (401, code 4004): exchange the\n"
            "# refresh token for a new pair; each refresh token is good for one exchange",
            f"{CURL} -X POST {base}/v1/auth/token/refresh \\\n"
            "  -H 'Content-Type: application/json' \\\n"
            '  -d "{\\"refresh\\": \\"$REFRESH\\"}"',
        ),
    ]


def walkthrough_text(
    *,
    base: str = "http://127.0.0.1:8000",
    access: str = TOKEN_PLACEHOLDER,
    refresh: str = TOKEN_PLACEHOLDER,
) -> str:
    """The walk-through as shell text, steps apart by a blank line."""
    blocks: list[list[str]] = []
    for step in walkthrough_steps(base=base, access=access, refresh=refresh):
        # A step without a comment follows on from the one before, without a blank line.
        if step.comment or not blocks:
            blocks.append([step.comment] if step.comment else [])
        lines = blocks[-1]
        lines.append(step.command)
    return "\n\n".join("\n".join(lines) for lines in blocks) + "\n"
