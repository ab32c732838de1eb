"""The OAUTHBEARER exchange: a broker's error challenge is a refusal, not a success."""

from __future__ import annotations

import pytest
from aiokafka.errors import SaslAuthenticationFailed

from taskfactory_runtime.oauth import _OAuthAuthenticator


class _Token:
    async def token(self) -> str:
        return "SENTINEL-token-value"


async def test_the_first_step_sends_the_token_and_an_empty_answer_completes() -> None:
    auth = _OAuthAuthenticator(sasl_oauth_token_provider=_Token())
    first = await auth.step(None)
    assert first is not None
    assert b"auth=Bearer SENTINEL-token-value" in first[0]
    assert await auth.step(b"") is None


@pytest.mark.parametrize(
    ("challenge", "expected"),
    [
        (b'{"status":"invalid_token"}', "status invalid_token"),
        (b'{"status":"insufficient_scope","scope":"orders"}', "required scope 'orders'"),
        (b"not json", "status refused"),
    ],
)
async def test_an_error_challenge_after_the_token_is_a_clear_refusal(
    challenge: bytes, expected: str
) -> None:
    auth = _OAuthAuthenticator(sasl_oauth_token_provider=_Token())
    await auth.step(None)
    with pytest.raises(SaslAuthenticationFailed, match=expected) as refused:
        await auth.step(challenge)
    assert "SENTINEL" not in str(refused.value)
