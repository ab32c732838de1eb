"""Fixtures of the security tests: one private broker with secured listeners for all of them,
and the headless browser of the screenshot tests."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator

import pytest
from playwright.async_api import Browser, async_playwright
from support.secure_kafka import SecureBroker, secure_broker


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    """A private single-node broker with SASL_SSL (SCRAM) and OAUTHBEARER listeners."""
    with secure_broker(tmp_path_factory.mktemp("kafka-secure")) as running:
        yield running


def _chromium() -> str:
    found = shutil.which("chromium")
    assert found, "chromium is missing: `make test` installs it (apt-get install chromium)"
    return found


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless (``--no-sandbox``: the tests run as root)."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=_chromium(), headless=True, args=["--no-sandbox"]
        )
        try:
            yield launched
        finally:
            await launched.close()
