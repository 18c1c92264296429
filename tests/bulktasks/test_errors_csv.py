"""GET /bulk-tasks/{id}/errors.csv: the errored lines with their original cells, to fix and upload again."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from bulktasks.errorfile import stream as stream_module
from bulktasks.models import BulkTask, BulkTaskLine
from bulktasks.processing import bulk_task_process
from bulktasks.storage import bulk_task_storage
from tests.bulktasks.files import csv_file, raw_file
from tests.bulktasks.pipeline import pending
from tests.conftest import bearer
from tests.factories import BulkTaskFactory, OrganizationFactory
from users import catalog
from users.models import User

pytestmark = pytest.mark.django_db

BOM = "\ufeff"


def url(task_id: str, organization: str = "acme") -> str:
    return f"/v1/organizations/{organization}/bulk-tasks/{task_id}/errors.csv"


def processed(organization, upload) -> BulkTask:
    task = pending(organization, upload=upload)
    finished = bulk_task_process(bulk_task_id=task.pk)
    assert finished is not None
    return finished


def body_of(response) -> str:
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content).decode("utf-8")


def rows_of(response) -> list[list[str]]:
    text = body_of(response)
    assert text.startswith(BOM)
    return list(csv.reader(io.StringIO(text[1:], newline="")))


@pytest.fixture
def getter_client(api_client, organization, make_member):
    user = make_member(organization, [catalog.BULK_TASK_GET, catalog.BULK_TASK_CREATE])
    api_client.credentials(HTTP_AUTHORIZATION=bearer(user))
    return api_client


class TestCsv:
    def test_errored_lines_in_line_order_with_their_original_cells(self, getter_client, acme):
        upload = raw_file(
            b"email,firstName,lastName\n"
            b"ada@example.com,Ada,Lovelace\n"
            b"not-an-email,  Bad  ,Line\n"
            b"\n"
            b'"multi@",  "Two\nlines, and ""quotes""",X\n'
            b"ada@example.com,Ada,Again\n"
            b"too,many,fields,here\n"
            b"short\n"
        )
        task = processed(acme, upload)

        response = getter_client.get(url(task.pk))

        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"] == 'attachment; filename="people-errors.csv"'
        reasons = dict(
            task.lines.filter(kind=BulkTaskLine.Kind.ERRORED).values_list("line", "reason")
        )
        assert rows_of(response) == [
            ["email", "firstName", "lastName", "errorLine", "errorReason"],
            # Spaces after a comma are CSV syntax to the import's dialect; trailing ones stay.
            ["not-an-email", "Bad  ", "Line", "3", reasons[3]],
            ["multi@", 'Two\nlines, and "quotes"', "X", "5", reasons[5]],
            ["ada@example.com", "Ada", "Again", "7", "email: duplicate of line 2"],
            # Cells beyond the header follow the two columns: nothing is lost.
            ["too", "many", "fields", "8", reasons[8], "here"],
            ["short", "", "", "9", reasons[9]],
        ]

    def test_every_cell_is_quoted_and_lines_end_in_crlf(self, getter_client, acme):
        task = processed(acme, csv_file(["bad,A,B"]))

        text = body_of(getter_client.get(url(task.pk)))

        assert text == (
            f'{BOM}"email","firstName","lastName","errorLine","errorReason"\r\n'
            '"bad","A","B","2","email: \'bad\' is not a valid e-mail address"\r\n'
        )

    def test_cells_a_spreadsheet_would_run_are_neutralized(self, getter_client, acme):
        rows = ["=1+1,+33 6,-5", "@SUM(A1),\tTab,'=quoted", "bad,a=b,x-y"]
        task = processed(acme, csv_file(rows))

        table = rows_of(getter_client.get(url(task.pk)))

        assert [row[:3] for row in table[1:]] == [
            ["'=1+1", "'+33 6", "'-5"],
            ["'@SUM(A1)", "'\tTab", "''=quoted"],
            ["bad", "a=b", "x-y"],
        ]

    def test_the_header_cells_are_neutralized_too(self, getter_client, acme):
        # An unknown column fails the task at its scan: no errored line, the header alone.
        task = processed(acme, raw_file(b"email,=HYPERLINK(1),lastName\na@example.com,b,c\n"))
        assert task.status == BulkTask.Status.FAILED

        assert rows_of(getter_client.get(url(task.pk))) == [
            ["email", "'=HYPERLINK(1)", "lastName", "errorLine", "errorReason"]
        ]

    def test_a_task_without_errored_lines_gives_the_header_row_alone(self, getter_client, acme):
        task = processed(acme, raw_file(b"\xef\xbb\xbfEmail , firstName\nok@example.com,Ok\n"))
        assert task.num_errors == 0

        assert rows_of(getter_client.get(url(task.pk))) == [
            ["Email ", "firstName", "errorLine", "errorReason"]
        ]

    def test_lines_that_cannot_be_split_come_with_empty_cells(self, getter_client, acme):
        long_line = b"x" * (1_048_576 + 10)
        upload = raw_file(
            b"email,firstName,lastName\n"
            + long_line
            + b'\nok@example.com,"Ann"ie,X\nlast@example.com,Last,Line\n'
        )
        task = processed(acme, upload)

        table = rows_of(getter_client.get(url(task.pk)))

        assert [row[:4] for row in table[1:]] == [["", "", "", "2"], ["", "", "", "3"]]

    def test_many_errored_lines_are_read_a_page_at_a_time(self, getter_client, acme, monkeypatch):
        monkeypatch.setattr(stream_module, "LINES_PAGE", 3)
        rows = [f"bad{n},F{n},L{n}" if n % 2 else f"ok{n}@example.com,F,L" for n in range(20)]
        task = processed(acme, csv_file(rows))

        table = rows_of(getter_client.get(url(task.pk)))

        assert [(row[0], row[3]) for row in table[1:]] == [
            (f"bad{n}", str(n + 2)) for n in range(1, 20, 2)
        ]

    def test_a_pending_task_gives_the_rows_so_far_the_header_alone(self, getter_client, acme):
        task = pending(acme, upload=csv_file(["bad,A,B"]))

        assert rows_of(getter_client.get(url(task.pk))) == [
            ["email", "firstName", "lastName", "errorLine", "errorReason"]
        ]


class TestJsonLines:
    def test_the_header_is_the_keys_in_order_of_first_appearance(self, getter_client, acme):
        upload = raw_file(
            b'{"Email": "bad", "lastName": "L"}\n'
            b'{"email": "ok@example.com"}\n'
            b'{"firstName": 12.50, "email": null, "frstName": "typo"}\n'
            b"not json\n"
            b'{"email": "x", "firstName": {"a": [1, true]}}\n'
            b"[1, 2]\n",
            name="people.jsonl",
        )
        task = processed(acme, upload)
        reasons = dict(
            task.lines.filter(kind=BulkTaskLine.Kind.ERRORED).values_list("line", "reason")
        )

        table = rows_of(getter_client.get(url(task.pk)))

        assert table == [
            ["Email", "lastName", "firstName", "frstName", "errorLine", "errorReason"],
            ["bad", "L", "", "", "1", reasons[1]],
            ["", "", "12.50", "typo", "3", reasons[3]],
            ["", "", "", "", "4", reasons[4]],
            ["x", "", '{"a":[1,true]}', "", "5", reasons[5]],
            ["", "", "", "", "6", "expected a JSON object"],
        ]

    def test_a_task_scanned_before_keys_were_recorded_has_the_actions_columns(
        self, getter_client, acme
    ):
        task = processed(acme, raw_file(b'{"email": "bad"}\n', name="p.jsonl"))
        BulkTask.objects.filter(pk=task.pk).update(file_header=None)

        assert rows_of(getter_client.get(url(task.pk))) == [
            ["email", "firstName", "lastName", "picture", "errorLine", "errorReason"],
            ["bad", "", "", "", "1", "email: 'bad' is not a valid e-mail address"],
        ]


class TestSpreadsheets:
    def test_errored_rows_of_a_workbook_with_their_sheet_rows_and_cells(self, getter_client, acme):
        from datetime import datetime

        from tests.bulktasks.workbooks import xlsx_file

        task = processed(
            acme,
            xlsx_file(
                [
                    ["Email", " firstName ", "lastName"],
                    ["ada@example.com", "Ada", "Lovelace"],
                    [],
                    [12345, "@Numbers", datetime(2024, 3, 1)],
                    ["ada@example.com", "Ada", "Again"],
                ]
            ),
        )

        rows = rows_of(getter_client.get(url(task.pk)))

        assert rows == [
            ["Email", " firstName ", "lastName", "errorLine", "errorReason"],
            [
                "12345",
                "'@Numbers",
                "2024-03-01",
                "4",
                "email: '12345' is not a valid e-mail address",
            ],
            ["ada@example.com", "Ada", "Again", "5", "email: duplicate of line 2"],
        ]

    def test_a_workbook_not_yet_scanned_gives_the_actions_columns(self, getter_client, acme):
        from tests.bulktasks.workbooks import xlsx_file

        task = pending(acme, upload=xlsx_file([["email"], ["ada@example.com"]]))

        rows = rows_of(getter_client.get(url(task.pk)))

        assert rows == [["email", "firstName", "lastName", "picture", "errorLine", "errorReason"]]

    def test_a_fixed_errors_file_saved_as_a_workbook_imports_its_rows(self, acme):
        from tests.bulktasks.workbooks import xlsx_file

        upload = xlsx_file(
            [
                ["email", "firstName", "errorLine", "errorReason"],
                ["fixed@example.com", "'=Fixed", "4", "email: not valid"],
            ]
        )

        task = processed(acme, upload)

        assert (task.status, task.num_inserts, task.num_errors) == ("completed", 1, 0)
        member = User.objects.get(email="fixed@example.com").memberships.get()
        assert member.first_name == "=Fixed"

    def test_without_the_get_permission_403(self, api_client, organization, make_member):
        user = make_member(organization, [catalog.BULK_TASK_LIST])
        api_client.credentials(HTTP_AUTHORIZATION=bearer(user))
        task = BulkTaskFactory(organization=organization)

        response = api_client.get(url(task.pk))

        assert response.status_code == 403
        assert response.json()["error"]["code"] == 4003

    def test_another_organizations_task_404(self, getter_client):
        other = BulkTaskFactory(organization=OrganizationFactory(slug="globex"))

        response = getter_client.get(url(other.pk))

        assert response.status_code == 404
        assert response.json() == {
            "status": False,
            "error": {"code": 3001, "message": "Entity not found"},
        }

    def test_a_malformed_id_400(self, getter_client):
        response = getter_client.get(url("123"))

        assert response.status_code == 400
        assert response.json()["error"]["code"] == 1001
        assert "bulkTaskId" in response.json()["error"]["message"]

    def test_no_token_401_in_json_even_when_csv_is_asked_for(self, api_client):
        response = api_client.get(url("65a000000000000000000003"), HTTP_ACCEPT="text/csv")

        assert response.status_code == 401
        assert response["Content-Type"] == "application/json"
        assert response.json()["error"]["code"] == 4002

    def test_an_expired_file_410_with_code_3006(self, getter_client, acme):
        task = processed(acme, csv_file(["bad,A,B"]))
        BulkTask.objects.filter(pk=task.pk).update(file_expired_at=timezone.now())

        response = getter_client.get(url(task.pk), HTTP_ACCEPT="text/csv")

        assert response.status_code == 410
        assert response["Content-Type"] == "application/json"
        assert response.json()["error"]["code"] == 3006

    def test_a_file_gone_from_storage_410_too(self, getter_client, acme):
        task = processed(acme, csv_file(["bad,A,B"]))
        bulk_task_storage().delete(task.file_key)

        response = getter_client.get(url(task.pk))

        assert response.status_code == 410
        assert response.json()["error"]["code"] == 3006

    @pytest.mark.parametrize("accept", ["text/csv", "text/*", "*/*", "text/csv; charset=utf-8"])
    def test_accept_headers_that_allow_csv(self, getter_client, acme, accept):
        task = processed(acme, csv_file(["bad,A,B"]))

        response = getter_client.get(url(task.pk), HTTP_ACCEPT=accept)

        assert len(rows_of(response)) == 2

    @pytest.mark.parametrize("accept", ["application/json", "text/html"])
    def test_accept_headers_that_refuse_csv_406_in_json(self, getter_client, acme, accept):
        task = processed(acme, csv_file(["bad,A,B"]))

        response = getter_client.get(url(task.pk), HTTP_ACCEPT=accept)

        assert response.status_code == 406
        assert response["Content-Type"] == "application/json"
        assert response.json()["error"]["code"] == 1005


class TestRoundTrip:
    def test_fixed_rows_uploaded_again_are_imported(self, getter_client, acme):
        upload = csv_file(
            [
                "ok@example.com,Ok,One",
                "not-an-email,Bad,Two",
                "=cmd@example.com,Formula,Three",
                "  spaced@example.com  ,-Dash,Four",
            ]
        )
        first = processed(acme, upload)
        assert first.num_errors == 1
        errors_file = body_of(getter_client.get(url(first.pk)))
        # The person fixes the e-mail in a spreadsheet and saves; the rest stays as downloaded.
        fixed = errors_file.replace("not-an-email", "fixed@example.com")

        response = getter_client.post(
            "/v1/organizations/acme/bulk-tasks",
            {"action": "users.import", "file": raw_file(fixed.encode(), name="fixed.csv")},
        )
        assert response.status_code == 201, response.content
        second = bulk_task_process(bulk_task_id=response.json()["data"]["id"])

        assert second is not None
        assert (second.status, second.num_items, second.num_inserts, second.num_errors) == (
            BulkTask.Status.COMPLETED,
            1,
            1,
            0,
        )
        user = User.objects.get(email="fixed@example.com")
        membership = user.memberships.get(organization=acme)
        assert (membership.first_name, membership.last_name) == ("Bad", "Two")

    def test_neutralized_cells_come_back_as_they_were_uploaded(self, getter_client, acme):
        first = processed(acme, csv_file(["bad,=Ann,-Lee"]))
        errors_file = body_of(getter_client.get(url(first.pk)))
        assert "'=Ann" in errors_file

        fixed = errors_file.replace('"bad"', '"ann@example.com"')
        second = processed(acme, raw_file(fixed.encode(), name="fixed.csv"))

        assert (second.num_inserts, second.num_errors) == (1, 0)
        membership = User.objects.get(email="ann@example.com").memberships.get()
        assert (membership.first_name, membership.last_name) == ("=Ann", "-Lee")

    def test_a_json_lines_errors_file_comes_back_as_csv(self, getter_client, acme):
        first = processed(
            acme,
            raw_file(
                json.dumps({"email": "bad", "firstName": "Jo"}).encode() + b"\n", name="p.jsonl"
            ),
        )
        fixed = body_of(getter_client.get(url(first.pk))).replace('"bad"', '"jo@example.com"')

        second = processed(acme, raw_file(fixed.encode(), name="fixed.csv"))

        assert (second.status, second.num_inserts, second.num_errors) == (
            BulkTask.Status.COMPLETED,
            1,
            0,
        )


class TestReadingAnErrorsFileBack:
    """The import's side of the round trip: the two columns ignored, neutralization undone."""

    COLUMNS = ("email", "firstName", "lastName")

    def records(self, data: bytes, columns=COLUMNS):
        from bulktasks.readers import read_records

        return list(read_records(io.BytesIO(data), mimetype="text/csv", columns=columns))

    def test_error_line_and_reason_are_ignored_in_any_case(self):
        records = self.records(
            b'"email","ErrorLine","firstName","errorreason"\r\n"a@example.com","7","=A","why"\r\n'
        )

        assert [(r.line, r.values) for r in records] == [
            (2, {"email": "a@example.com", "firstName": "=A", "lastName": ""})
        ]

    def test_neutralized_cells_lose_exactly_the_apostrophe_that_was_added(self):
        records = self.records(
            b"email,firstName,lastName,errorLine,errorReason\n'-a@example.com,''=x,'plain,2,r\n"
        )

        assert records[0].values == {
            "email": "-a@example.com",
            "firstName": "'=x",
            "lastName": "'plain",
        }

    def test_an_ordinary_file_keeps_its_apostrophes_and_refuses_unknown_columns(self):
        from bulktasks.readers import FileFormatError

        assert self.records(b"email,firstName\n'=a@example.com,X\n")[0].values["email"] == (
            "'=a@example.com"
        )
        with pytest.raises(FileFormatError, match="unknown column errorLines"):
            self.records(b"email,errorLines\na@example.com,1\n")

    def test_a_row_still_too_long_stays_an_error(self):
        records = self.records(b"email,errorLine,errorReason\na@example.com,2,r,extra\n")

        assert records[0].error == "expected 3 fields, found 4"

    def test_an_action_column_of_that_name_is_the_actions(self):
        records = self.records(
            b"email,errorLine\na@example.com,'=5\n", columns=("email", "errorLine")
        )

        assert records[0].values == {"email": "a@example.com", "errorLine": "'=5"}


@given(st.text(alphabet=st.sampled_from("'=+-@\t\r\x00a ,\""), max_size=12))
def test_restore_undoes_neutralize_and_nothing_dangerous_is_left(cell):
    from core.spreadsheets import FORMULA_TRIGGERS, cell_neutralized, cell_restored

    neutralized = cell_neutralized(cell)

    assert cell_restored(neutralized) == cell
    assert neutralized[:1] not in FORMULA_TRIGGERS or neutralized == ""


def test_an_errors_file_uploaded_again_gets_an_errors_file_with_the_two_columns_once(
    getter_client, acme
):
    first = processed(acme, csv_file(["bad,A,B", "worse,C,D"]))
    again = body_of(getter_client.get(url(first.pk))).replace('"bad"', '"ok@example.com"')
    second = processed(acme, raw_file(again.encode(), name="again.csv"))
    assert (second.num_inserts, second.num_errors) == (1, 1)

    table = rows_of(getter_client.get(url(second.pk)))

    assert table == [
        ["email", "firstName", "lastName", "errorLine", "errorReason"],
        ["worse", "C", "D", "3", "email: 'worse' is not a valid e-mail address"],
    ]
    third = processed(
        acme,
        raw_file(
            body_of(getter_client.get(url(second.pk)))
            .replace('"worse"', '"worse@example.com"')
            .encode()
        ),
    )
    assert (third.status, third.num_inserts, third.num_errors) == (BulkTask.Status.COMPLETED, 1, 0)


@pytest.mark.django_db(transaction=True)
def test_under_asgi_the_file_is_streamed_a_part_at_a_time(acme, make_member, monkeypatch):
    import asyncio

    from django.test import AsyncClient

    monkeypatch.setattr(stream_module, "FLUSH_BYTES", 64)
    task = processed(acme, csv_file([f"bad{n},F,L" for n in range(50)]))
    token = bearer(make_member(acme, [catalog.BULK_TASK_GET]))

    async def fetch():
        response = await AsyncClient().get(url(task.pk), headers={"Authorization": token})
        parts = [part async for part in response.streaming_content]
        return response, parts

    response, parts = asyncio.run(fetch())

    assert response.status_code == 200
    assert response.is_async
    assert len(parts) > 10
    text = b"".join(parts).decode()
    assert text.count("\r\n") == 51
