"""Every scenario table runs against both books: the fast one and the reference oracle."""

from __future__ import annotations

import pytest

from tradehall.engine.book import OrderBook
from tradehall.engine.matcher import BookFactory
from tradehall.engine.reference_book import ReferenceBook


@pytest.fixture(params=[OrderBook, ReferenceBook], ids=["fast_book", "reference_book"])
def book_factory(request: pytest.FixtureRequest) -> BookFactory:
    """Return each book class in turn."""
    factory: BookFactory = request.param
    return factory
