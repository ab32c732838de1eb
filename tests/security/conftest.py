"""Fixtures of the security tests: one private broker with secured listeners for all of them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.secure_kafka import SecureBroker, secure_broker


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    """A private single-node broker with SASL_SSL (SCRAM) and OAUTHBEARER listeners."""
    with secure_broker(tmp_path_factory.mktemp("kafka-secure")) as running:
        yield running
