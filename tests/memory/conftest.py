"""Fixtures the memory tests share; the data comes from tests/factories.py."""

import pytest

from tests.factories import alice_records_create, search_set_create


@pytest.fixture
def search_set():
    """The search set (tests/factories.py SEARCH_SET): r1-r4 approved in acme and other, r5 pending."""
    search_set_create()


@pytest.fixture
def records():
    """Three approved records in namespace ns, by id: tea, bike, cat (tests/factories.py ALICE)."""
    return alice_records_create()
