"""`manage.py erase_user`: erases one user in one namespace as the command-line actor and
prints the receipt as a table; refuses to run without a user."""

import io

import pytest
from django.core.management import CommandError, call_command

from memory.actor_names import COMMAND_LINE
from memory.models import ErasureReceipt, MemoryRecord
from memory.services.erasure import KINDS, user_digest
from tests.helpers import db_rows_containing, dead_redis, put_session, redis_keys_containing, server_redis_at

pytestmark = pytest.mark.django_db(transaction=True)

MARK = "zq-marker-7f3a"


def create(client, text: str, **owner) -> None:
    response = client.post(
        "/v1/long-term-memory/", {"memories": [{"text": text, **owner}]}, content_type="application/json"
    )
    assert response.status_code == 200, response.content


def erase(*args) -> str:
    out = io.StringIO()
    call_command("erase_user", *args, stdout=out)
    return out.getvalue()


def test_the_command_erases_the_user_and_prints_the_receipt(client, redis_client):
    put_session(client, "s-1", [{"role": "user", "content": f"My code is {MARK}."}], namespace="n", user_id="u1")
    create(client, f"{MARK} likes tea.", namespace="n", user_id="u1")
    create(client, f"{MARK} likes coffee.", namespace="n", user_id="u1")
    create(client, "Somebody else likes cocoa.", namespace="n", user_id="u2")

    printed = erase("--namespace", "n", "--user", "u1")

    receipt = ErasureReceipt.objects.get()
    lines = printed.splitlines()
    assert (
        lines[0]
        == "Erasing user 'u1' in namespace 'n': working memory first, then the database with the cache, then the index."
    )
    assert lines[1].startswith(f"Erasure receipt {receipt.pk} ({COMMAND_LINE}, ")
    table = dict(line.split() for line in lines[3 : 3 + len(KINDS)])
    assert lines[2].split() == ["kind", "count"] and list(table) == list(KINDS)
    assert {k: int(v) for k, v in table.items() if v != "0"} == {
        "working_memory_sessions": 1,
        "debounce_windows": 1,
        "long_term_records": 2,
        "history_rows": 2,
        "index_documents": 2,
    }
    assert lines[-1].endswith(f"digest {user_digest(namespace='n', user_id='u1')}.")
    assert (receipt.actor, receipt.namespace) == (COMMAND_LINE, "n")
    assert db_rows_containing(MARK) == {} and redis_keys_containing(MARK) == set()
    assert list(MemoryRecord.objects.values_list("user_id", flat=True)) == ["u2"]


def test_without_a_namespace_the_command_erases_the_user_in_no_namespace_only(client, redis_client):
    create(client, f"{MARK} reads at night.", user_id="u1")
    create(client, "In n, u1 reads at dawn.", namespace="n", user_id="u1")

    printed = erase("--user", "u1")

    assert printed.startswith("Erasing user 'u1' in no namespace:")
    assert ErasureReceipt.objects.get().counts["long_term_records"] == 1
    assert list(MemoryRecord.objects.values_list("namespace", "user_id")) == [("n", "u1")]


def test_a_missing_user_is_a_clear_error_and_erases_nothing(client, redis_client):
    create(client, f"{MARK} swims.", namespace="n", user_id="u1")

    for args in ((), ("--namespace", "n"), ("--namespace", "n", "--user", "")):
        with pytest.raises(CommandError, match="--user is required"):
            erase(*args)

    assert MemoryRecord.objects.count() == 1
    assert not ErasureReceipt.objects.exists()


def test_with_redis_down_the_command_says_nothing_was_erased(client, redis_client):
    create(client, f"{MARK} paints.", namespace="n", user_id="u1")

    with server_redis_at(dead_redis()), pytest.raises(CommandError, match="nothing was erased from the database"):
        erase("--namespace", "n", "--user", "u1")

    assert MemoryRecord.objects.count() == 1
    assert not ErasureReceipt.objects.exists()
