"""An ACL refusal in plain words: who was refused what, and what to grant (no broker)."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiokafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError

from taskfactory_runtime.errors import KafkaAuthorizationError
from taskfactory_runtime.kafka_errors import denied
from taskfactory_runtime.settings import KafkaSettings


@pytest.mark.parametrize(
    ("settings", "principal"),
    [
        (
            KafkaSettings(
                security_protocol="SASL_SSL",
                sasl_mechanism="SCRAM-SHA-256",
                sasl_username="ingress",
                sasl_password="SENTINEL-password",
            ),
            "user 'ingress' (SCRAM-SHA-256)",
        ),
        (
            KafkaSettings(
                security_protocol="SASL_SSL",
                sasl_mechanism="OAUTHBEARER",
                sasl_oauth_token_url="http://idp/token",
                sasl_oauth_client_id="executor",
                sasl_oauth_client_secret="SENTINEL-secret",
            ),
            "the OAUTHBEARER token's subject (client id 'executor')",
        ),
        (
            KafkaSettings(security_protocol="SSL", ssl_certfile=Path("/certs/orchestrator.pem")),
            "the client certificate /certs/orchestrator.pem",
        ),
    ],
)
def test_a_denied_topic_names_the_principal_the_topic_and_the_fix(
    settings: KafkaSettings, principal: str
) -> None:
    error = denied(settings, TopicAuthorizationFailedError("t.results"))
    assert isinstance(error, KafkaAuthorizationError)
    assert error.reason == "kafka_acl"
    assert not error.retryable
    message = str(error)
    assert f"the broker's ACLs deny {principal} the topic 't.results'" in message
    assert "ACL table" in message
    assert "SENTINEL" not in message


def test_a_denied_group_is_named_as_a_consumer_group() -> None:
    error = denied(KafkaSettings(), GroupAuthorizationFailedError("tf-ingress"))
    assert "the consumer group 'tf-ingress'" in str(error)
