"""With encryption on, Temporal's history holds no clear payload; the codec server reads it back.

Runs against the shared Temporal (unique task queue and workflow ids per test).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from conftest import StackInfo
from google.protobuf import json_format
from google.protobuf.message import Message
from pydantic import SecretStr
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.history.v1 import History
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from taskfactory_runtime.codec_server import CodecServer
from taskfactory_runtime.encryption import EncryptionCodec, Keyring, generate_key
from taskfactory_runtime.errors import PayloadDecryptionError
from taskfactory_runtime.settings import CodecServerSettings, TemporalSettings
from taskfactory_runtime.temporal import connect_temporal

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SENTINEL = "SENTINEL-loan-applicant-Ada-Lovelace-1815"
KEY_A = generate_key()
KEY_B = generate_key()
TOKEN = "SENTINEL-codec-bearer-token"


@activity.defn(name="security-test-shout")
async def shout(text: str) -> str:
    return text.upper() + "!"


@workflow.defn(name="security-test-echo")
class Echo:
    @workflow.run
    async def run(self, text: str) -> str:
        if text.startswith("fail:"):
            raise ApplicationError(f"refused {text}", non_retryable=True)
        shouted: str = await workflow.execute_activity(
            shout, text, start_to_close_timeout=timedelta(seconds=30)
        )
        return shouted


def _payloads(message: Message) -> Iterator[Payload]:
    """Every Payload anywhere inside ``message`` (history events nest them deeply)."""
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        if field.type != field.TYPE_MESSAGE:
            continue
        if isinstance(value, Message):
            items = [value]
        elif field.message_type is not None and field.message_type.GetOptions().map_entry:
            items = list(value.values())
        else:
            items = list(value)
        for item in items:
            if isinstance(item, Message):
                yield from _payloads(item)


async def _run(client: Client, queue: str, workflow_id: str, text: str) -> str:
    async with Worker(
        client,
        task_queue=queue,
        workflows=[Echo],
        activities=[shout],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        return await client.execute_workflow(Echo.run, text, id=workflow_id, task_queue=queue)


async def _raw_history(stack: StackInfo, workflow_id: str) -> bytes:
    raw = await Client.connect(stack.temporal_address)  # no codec: what the server stores
    history = await raw.get_workflow_handle(workflow_id).fetch_history()
    return History(events=history.events).SerializeToString()


async def test_a_history_without_encryption_shows_the_sentinel(stack: StackInfo, uid: str) -> None:
    """The control: the raw-history check below would see a clear payload."""
    plain = await connect_temporal(TemporalSettings(address=stack.temporal_address))
    await _run(plain, f"{uid}-plain", f"{uid}/plain", SENTINEL)
    assert SENTINEL.encode() in await _raw_history(stack, f"{uid}/plain")


async def test_encrypted_history_hides_payloads_and_survives_key_rotation(
    stack: StackInfo, uid: str
) -> None:
    with_a = TemporalSettings(
        address=stack.temporal_address, encryption_keys=SecretStr(f"a:{KEY_A}")
    )
    client_a = await connect_temporal(with_a)
    assert await _run(client_a, f"{uid}-enc", f"{uid}/a", SENTINEL) == SENTINEL.upper() + "!"
    raw_a = await _raw_history(stack, f"{uid}/a")
    assert SENTINEL.encode() not in raw_a
    assert SENTINEL.upper().encode() not in raw_a

    # Rotate: B seals new payloads, A stays for reading.
    rotated = with_a.model_copy(update={"encryption_keys": SecretStr(f"a:{KEY_A},b:{KEY_B}")})
    client_b = await connect_temporal(rotated)
    assert await _run(client_b, f"{uid}-enc", f"{uid}/b", SENTINEL) == SENTINEL.upper() + "!"
    assert await client_b.get_workflow_handle(f"{uid}/a").result() == SENTINEL.upper() + "!"
    raw_b = await _raw_history(stack, f"{uid}/b")
    assert SENTINEL.encode() not in raw_b
    history_b = await client_b.get_workflow_handle(f"{uid}/b").fetch_history()
    key_ids = {
        p.metadata["encryption-key-id"]
        for p in _payloads(History(events=history_b.events))
        if "encryption-key-id" in p.metadata
    }
    assert key_ids == {b"b"}

    # A client that only knows A cannot read what B sealed, and says why.
    with pytest.raises(PayloadDecryptionError, match="key id 'b'"):
        await client_a.get_workflow_handle(f"{uid}/b").result()


async def test_failure_messages_are_encrypted_too(stack: StackInfo, uid: str) -> None:
    client = await connect_temporal(
        TemporalSettings(address=stack.temporal_address, encryption_keys=SecretStr(f"a:{KEY_A}"))
    )
    with pytest.raises(WorkflowFailureError) as failure:
        await _run(client, f"{uid}-fail", f"{uid}/fail", f"fail:{SENTINEL}")
    assert SENTINEL in str(failure.value.cause)  # the caller with the key reads it
    assert SENTINEL.encode() not in await _raw_history(stack, f"{uid}/fail")


async def test_the_codec_server_decodes_raw_history_for_an_authenticated_operator(
    stack: StackInfo, uid: str
) -> None:
    client = await connect_temporal(
        TemporalSettings(address=stack.temporal_address, encryption_keys=SecretStr(f"a:{KEY_A}"))
    )
    await _run(client, f"{uid}-ui", f"{uid}/ui", SENTINEL)
    raw = await Client.connect(stack.temporal_address)
    history = await raw.get_workflow_handle(f"{uid}/ui").fetch_history()
    sealed = [p for p in _payloads(History(events=history.events)) if p.metadata.get("encoding")]
    assert sealed, "the history has payloads"
    body = json_format.MessageToJson(Payloads(payloads=sealed))
    assert SENTINEL not in body

    # After a rotation to B, the operator's codec server still reads A's history.
    rotated = EncryptionCodec(Keyring.parse(f"a:{KEY_A},b:{KEY_B}"))
    server = CodecServer(
        rotated,
        CodecServerSettings(port=0, auth_token=SecretStr(TOKEN), cors_origins="http://ui:8233"),
    )
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
            refused = await http.post("/decode", content=body, headers={"X-Namespace": "default"})
            assert refused.status_code == 401
            assert SENTINEL not in refused.text
            decoded = await http.post(
                "/decode",
                content=body,
                headers={"Authorization": f"Bearer {TOKEN}", "X-Namespace": "default"},
            )
            assert decoded.status_code == 200
    finally:
        await server.stop()
    clear = b"".join(base64.b64decode(p["data"]) for p in decoded.json()["payloads"])
    assert SENTINEL.encode() in clear
    assert SENTINEL.upper().encode() in clear
