"""The task list's columns, and what it asks the database whatever the number of tasks."""

from __future__ import annotations

import datetime as dt
import re
from html import unescape

import pytest
from django.contrib import admin
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from bulktasks.admin import pagination
from bulktasks.admin.list_cells import relative_time
from bulktasks.models import BulkTask
from tests.factories import BulkTaskFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST_URL = reverse("admin:bulktasks_bulktask_changelist")


def cell(html: str, column: str) -> list[str]:
    """The inner HTML of every cell of one column, in row order."""
    return re.findall(rf'<td class="field-{column}">(.*?)</td>', html, re.S)


def text(fragment: str) -> str:
    """A cell's text without its tags, spaces collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def tasks_of_every_kind(count: int) -> None:
    """``count`` tasks, each of its own organization and creator, in every status."""
    statuses = list(BulkTask.Status.values)
    for n in range(count):
        BulkTaskFactory(
            organization=OrganizationFactory(),
            created_by=UserFactory(),
            status=statuses[n % len(statuses)],
            scanned_at=timezone.now() if n % 2 else None,
            num_items=100,
            num_inserts=n,
        )


def list_queries(client: Client, **params: str) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(CHANGELIST_URL, params)
    assert response.status_code == 200
    return [query["sql"] for query in queries.captured_queries]


# --- What the list asks the database -------------------------------------------------------


def test_the_list_makes_as_many_queries_for_50_tasks_as_for_5(staff_client: Client) -> None:
    tasks_of_every_kind(5)
    few = list_queries(staff_client)
    tasks_of_every_kind(45)
    many = list_queries(staff_client)

    assert BulkTask.objects.count() == 50
    assert len(many) == len(few), "\n".join(many)


@pytest.mark.parametrize(
    "params",
    [{}, {"status__exact": "failed"}, {"action": "users.import"}, {"q": "people"}, {"p": "1"}],
)
def test_no_query_counts_the_whole_task_table_or_selects_distinct(
    staff_client: Client, params: dict[str, str]
) -> None:
    tasks_of_every_kind(5)

    queries = list_queries(staff_client, **params)

    counts = [sql for sql in queries if "COUNT(" in sql.upper() and "bulktasks_bulktask" in sql]
    # The one count there is stops at COUNTED_UP_TO + 1 rows, filtered or not.
    assert counts, "the list counts what it shows, up to a limit"
    assert all(f"LIMIT {pagination.COUNTED_UP_TO + 1}" in sql for sql in counts), counts
    assert [sql for sql in queries if "DISTINCT" in sql.upper()] == []


def test_the_organization_filter_reads_organizations_not_tasks(staff_client: Client) -> None:
    BulkTaskFactory(organization=OrganizationFactory(slug="initech"))
    queries = list_queries(staff_client)

    organization_queries = [sql for sql in queries if 'FROM "users_organization"' in sql]
    assert organization_queries, "the filter lists the organizations"
    assert all("bulktasks_bulktask" not in sql for sql in organization_queries)


def test_searching_for_a_task_id_looks_up_the_primary_key_only(staff_client: Client) -> None:
    wanted = BulkTaskFactory(file_original_name="wanted.csv")
    BulkTaskFactory(file_original_name=f"{wanted.pk}.csv")  # its name holds the id

    with CaptureQueriesContext(connection) as queries:
        response = staff_client.get(CHANGELIST_URL, {"q": f" {wanted.pk.upper()} "})

    assert [task.pk for task in response.context["cl"].result_list] == [wanted.pk]
    task_queries = [q["sql"] for q in queries.captured_queries if "bulktasks_bulktask" in q["sql"]]
    assert not [sql for sql in task_queries if "LIKE" in sql.upper()]


def test_a_search_by_file_name_or_email_still_works(staff_client: Client) -> None:
    roster = BulkTaskFactory(file_original_name="roster-2024.csv")
    by_ana = BulkTaskFactory(created_by=UserFactory(email="ana@initech.example"))
    BulkTaskFactory(file_original_name="other.csv")

    by_name = staff_client.get(CHANGELIST_URL, {"q": "roster"})
    by_email = staff_client.get(CHANGELIST_URL, {"q": "ana@initech"})

    assert [task.pk for task in by_name.context["cl"].result_list] == [roster.pk]
    assert [task.pk for task in by_email.context["cl"].result_list] == [by_ana.pk]


@pytest.mark.parametrize(
    ("term", "found"),
    [
        ('"Q3 report', ['"Q3 report.csv']),
        ('"', ['"Q3 report.csv']),
        ('"q3 report"', ['"Q3 report.csv']),
    ],
)
def test_a_search_with_a_stray_quote_searches_it_instead_of_failing(
    staff_client: Client, term: str, found: list[str]
) -> None:
    BulkTaskFactory(file_original_name='"Q3 report.csv')
    BulkTaskFactory(file_original_name="other.csv")

    response = staff_client.get(CHANGELIST_URL, {"q": term})

    assert response.status_code == 200
    names = [task.file_original_name for task in response.context["cl"].result_list]
    assert names == found


def test_past_the_counted_tasks_the_list_says_more_than_and_offers_no_deeper_page(
    staff_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pagination, "COUNTED_UP_TO", 4)
    monkeypatch.setattr(admin.site.get_model_admin(BulkTask), "list_per_page", 2)
    BulkTaskFactory.create_batch(6)

    response = staff_client.get(CHANGELIST_URL, {"p": "2"})
    too_deep = staff_client.get(CHANGELIST_URL, {"p": "3"})

    html = response.content.decode()
    # In the search bar's count and under the table.
    assert text(html).count("More than 4 bulk tasks") == 2
    paginator = response.context["cl"].paginator
    assert (paginator.count, paginator.num_pages) == (5, 2)
    assert len(response.context["cl"].result_list) == 2
    # Django's changelist answers a page past the last with its error redirect.
    assert too_deep.status_code == 302
    assert "e=1" in too_deep["Location"]


def test_past_the_counted_tasks_no_action_runs_across_pages(
    staff_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pagination, "COUNTED_UP_TO", 4)
    monkeypatch.setattr(admin.site.get_model_admin(BulkTask), "list_per_page", 2)
    BulkTaskFactory.create_batch(6)
    first = BulkTask.objects.order_by("-id").first()
    assert first is not None

    html = staff_client.get(CHANGELIST_URL).content.decode()
    # "Select all 5" would be the count cut short, not the 6 tasks the action would change.
    assert "Select all" not in text(html)
    response = staff_client.post(
        CHANGELIST_URL,
        {
            "action": "cancel_running",
            "select_across": "1",
            "index": "0",
            "_selected_action": [first.pk],
        },
        follow=True,
    )

    assert [str(m) for m in response.context["messages"]] == [
        "More than 4 tasks match: narrow the list with a filter or a search, then select them "
        "again. No task was changed."
    ]
    assert not BulkTask.objects.filter(cancelled_at__isnull=False).exists()


def test_within_the_counted_tasks_an_action_runs_across_pages(
    staff_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(admin.site.get_model_admin(BulkTask), "list_per_page", 2)
    BulkTaskFactory.create_batch(3)
    first = BulkTask.objects.order_by("-id").first()
    assert first is not None

    assert "Select all 3 bulk tasks" in text(staff_client.get(CHANGELIST_URL).content.decode())
    staff_client.post(
        CHANGELIST_URL,
        {
            "action": "cancel_running",
            "select_across": "1",
            "index": "0",
            "_selected_action": [first.pk],
        },
    )

    assert BulkTask.objects.filter(cancelled_at__isnull=False).count() == 3


def test_a_few_tasks_are_counted_exactly(staff_client: Client) -> None:
    BulkTaskFactory.create_batch(3)

    html = staff_client.get(CHANGELIST_URL).content.decode()

    assert "3 bulk tasks" in text(html)
    assert "More than" not in html


def test_only_the_id_and_creation_columns_sort(staff_client: Client) -> None:
    BulkTaskFactory()

    html = staff_client.get(CHANGELIST_URL).content.decode()

    sortable = re.findall(r'<th scope="col" class="sortable[^"]*column-(\w+)', html)
    assert sorted(sortable) == ["created", "id"]


def test_the_list_has_no_date_hierarchy_and_no_filter_counts(staff_client: Client) -> None:
    BulkTaskFactory()

    response = staff_client.get(CHANGELIST_URL)
    asked_for_counts = staff_client.get(CHANGELIST_URL, {"_facets": "1"})

    assert response.context["cl"].date_hierarchy is None
    assert 'class="xfull"' not in response.content.decode()
    assert "Show counts" not in response.content.decode()
    assert "Completed (" not in asked_for_counts.content.decode()


# --- The cells -----------------------------------------------------------------------------


def test_a_running_200000_line_task_shows_its_progress_as_a_bar_and_figures(
    staff_client: Client,
) -> None:
    BulkTaskFactory(
        status=BulkTask.Status.IN_PROGRESS,
        scanned_at=timezone.now(),
        num_items=200_000,
        num_inserts=80_000,
        num_updates=1_000,
        num_skips=2_000,
        num_errors=1_000,
    )

    html = staff_client.get(CHANGELIST_URL).content.decode()

    [progress] = cell(html, "progress")
    assert '<progress max="200000" value="84000" aria-label="Lines processed">' in progress
    assert text(progress) == "84,000 / 200,000"


@pytest.mark.parametrize(
    ("status", "scanned", "shown"),
    [
        (BulkTask.Status.PENDING, False, "waiting"),
        (BulkTask.Status.IN_PROGRESS, False, "scanning"),
        (BulkTask.Status.FAILED, False, "not read"),
    ],
)
def test_a_task_whose_file_is_not_read_through_says_so_without_a_bar(
    staff_client: Client, status: str, scanned: bool, shown: str
) -> None:
    BulkTaskFactory(status=status, scanned_at=timezone.now() if scanned else None)

    html = staff_client.get(CHANGELIST_URL).content.decode()

    [progress] = cell(html, "progress")
    assert text(progress) == shown
    assert "<progress" not in progress


def test_an_export_shows_its_rows_written_with_a_moving_bar_while_it_runs(
    staff_client: Client,
) -> None:
    BulkTaskFactory(
        action="users.export",
        result_format="csv",
        status=BulkTask.Status.IN_PROGRESS,
        scanned_at=timezone.now(),
        num_items=12_500,
    )

    html = staff_client.get(CHANGELIST_URL).content.decode()

    [progress] = cell(html, "progress")
    assert text(progress) == "12,500 rows written"
    assert '<progress aria-label="Rows written"></progress>' in progress


def test_the_counts_cell_shows_each_nonzero_count_with_its_sign_and_words(
    staff_client: Client,
) -> None:
    BulkTaskFactory(
        status=BulkTask.Status.COMPLETED,
        scanned_at=timezone.now(),
        num_items=1_126,
        num_inserts=1_120,
        num_updates=3,
        num_skips=2,
        num_errors=1,
    )
    BulkTaskFactory(status=BulkTask.Status.COMPLETED, num_items=5, num_inserts=5)
    BulkTaskFactory(status=BulkTask.Status.PENDING)

    html = staff_client.get(CHANGELIST_URL).content.decode()

    nothing_yet, only_inserted, every_kind = cell(html, "counts")
    spoken = "1,120 inserted, 3 updated, 2 skipped, 1 errored"
    assert f'title="{spoken}"' in every_kind
    assert text(every_kind) == f"{spoken} +1,120 ~3 ⤼2 ✕1"
    assert text(only_inserted) == "5 inserted +5"
    assert nothing_yet.endswith(">&ndash;</span>")


def test_status_badges_name_the_status_and_set_cancelled_and_dry_run_apart(
    staff_client: Client,
) -> None:
    BulkTaskFactory(status=BulkTask.Status.FAILED, cancelled_at=timezone.now())
    BulkTaskFactory(status=BulkTask.Status.COMPLETED, dry_run=True)
    BulkTaskFactory(status=BulkTask.Status.IN_PROGRESS)
    BulkTaskFactory(status=BulkTask.Status.FAILED)

    html = staff_client.get(CHANGELIST_URL).content.decode()

    failed, running, dry_run, cancelled = cell(html, "status_badge")
    assert failed == '<span class="task-badge task-badge--failed">Failed</span>'
    assert running == '<span class="task-badge task-badge--inprogress">In progress</span>'
    assert text(dry_run) == "Completed dry run"
    assert "task-badge--dry-run" in dry_run
    assert cancelled == '<span class="task-badge task-badge--cancelled">Cancelled</span>'


def test_long_names_are_cut_by_the_stylesheet_and_whole_in_their_tooltip(
    staff_client: Client,
) -> None:
    name = "quarterly-roster-of-every-contractor-in-every-region-2026.csv"
    BulkTaskFactory(
        file_original_name=name,
        organization=OrganizationFactory(slug="initech", name="Initech Global Holdings Ltd."),
        created_by=UserFactory(email="a.very.long.address@subsidiary.initech.example"),
    )

    html = staff_client.get(CHANGELIST_URL).content.decode()

    [task] = cell(html, "task")
    [organization_creator] = cell(html, "organization_creator")
    assert task == (
        '<span class="task-action">users.import</span>'
        f'<span class="task-truncate task-file" title="{name}">{name}</span>'
    )
    assert 'title="Initech Global Holdings Ltd. (initech)"' in organization_creator
    assert 'title="a.very.long.address@subsidiary.initech.example"' in organization_creator
    assert text(organization_creator) == (
        "Initech Global Holdings Ltd. a.very.long.address@subsidiary.initech.example"
    )


def test_the_creation_time_reads_as_time_ago_with_the_moment_in_its_tooltip() -> None:
    now = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)

    def words(**ago: float) -> str:
        return text(relative_time(now - dt.timedelta(**ago), now=now))

    assert [
        words(seconds=20),
        words(minutes=3, seconds=59),
        words(hours=5),
        words(days=1),
        words(days=3),
    ] == ["just now", "3 min ago", "5 h ago", "1 day ago", "3 days ago"]
    assert words(days=45) == "18 Oct 2026"
    three_minutes_ago = relative_time(now - dt.timedelta(minutes=3), now=now)
    assert 'datetime="2026-12-02T11:57:00+00:00" title="2026-12-02 11:57 UTC"' in three_minutes_ago


def test_each_row_has_the_checkbox_the_bulk_actions_read(staff_client: Client) -> None:
    task = BulkTaskFactory()

    html = staff_client.get(CHANGELIST_URL).content.decode()

    assert '<input type="checkbox" id="action-toggle"' in html
    assert (
        f'<input type="checkbox" name="_selected_action" value="{task.pk}" class="action-select" '
        f'aria-label="Select this object for an action - {task}">'
    ) in html


def test_the_whole_table_is_not_counted_on_postgresql_but_estimated(
    staff_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pagination, "COUNTED_UP_TO", 2)
    BulkTaskFactory.create_batch(5)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE bulktasks_bulktask")  # what autovacuum keeps up to date

    queries = list_queries(staff_client)
    html = staff_client.get(CHANGELIST_URL).content.decode()
    filtered = list_queries(staff_client, status__exact="pending")

    counts = [sql for sql in queries if "COUNT(" in sql.upper()]
    if connection.vendor == "postgresql":
        # The planner's figure for the whole table, read from pg_class: no count at all.
        assert counts == []
        assert any("pg_class" in sql for sql in queries)
        assert "About 5 bulk tasks" in text(html)
    else:
        assert len(counts) == 1
        assert "More than 2 bulk tasks" in text(html)
    # A filtered list is counted, up to the limit, whatever the database.
    assert [sql for sql in filtered if "COUNT(" in sql.upper() and "LIMIT 3" in sql]
