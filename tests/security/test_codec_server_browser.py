"""The Temporal UI in a real headless Chromium decodes an encrypted run through our codec server.

Chromium comes from Debian's packages (``make test`` installs it), driven by Playwright's
Python client (no browser download). The UI is the shared dev server's; the codec endpoint is
set the way a person sets it in the UI's "Codec Server" settings: its ``endpoint`` local
storage key. The Temporal UI passes a credential to a codec server only as the signed-in
user's OIDC access token (``passAccessToken``, HTTPS endpoints only) or as cookies
(``includeCredentials``); the dev server's UI has no sign-in, so the browser here carries the
codec server's bearer token on the codec requests itself, as an authenticating proxy would.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from conftest import Topics
from playwright.async_api import Browser, Page, Route, expect
from support.payload_encryption import codec_server, write_keyring
from temporalio.client import Client

from taskfactory_runtime.encryption import generate_key
from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.running import RunningServices
from taskfactory_stack.settings import StackSettings
from taskfactory_stack.traffic import envelope, produce_envelopes
from taskfactory_stack.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

SENTINEL = "SENTINEL-codec-in-the-browser-Ada-1815"
TOKEN = "SENTINEL-codec-browser-bearer-token"
PNG = b"\x89PNG\r\n\x1a\n"

DEFINITION = f"""
id: sealed-ui
version: 1
trigger:
  event_types: [com.example.test.requested]
correlation:
  workflow_id: "UID/{{subject}}/{{id}}"
tasks:
  - id: echo-note
    type: echo
    params:
      note: "{SENTINEL}"
"""


def _ui_url() -> str:
    """The Temporal UI of the stack the tests use (the local stack's port unless told)."""
    return os.environ.get(
        "TASKFACTORY_TEMPORAL_UI", f"http://127.0.0.1:{StackSettings().temporal_ui_port}"
    ).rstrip("/")


async def _open(browser: Browser, codec_url: str, *, token: str | None) -> Page:
    """A fresh browser profile with the codec endpoint set; ``token`` rides on codec calls."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    # What the UI's "Codec Server" dialog stores: the endpoint, and that it overrides the
    # server-side setting (the UI ignores a browser endpoint without that flag).
    await context.add_init_script(
        f"window.localStorage.setItem('endpoint', {json.dumps(json.dumps(codec_url))});"
        "window.localStorage.setItem('overrideRemoteCodecConfiguration', 'true');"
    )
    # Nothing leaves the machine (the UI fetches a news feed from the internet otherwise).
    await context.route(
        lambda url: not url.startswith(("http://127.0.0.1", "http://localhost")),
        lambda route: route.abort(),
    )
    if token is not None:

        async def with_token(route: Route) -> None:
            headers = {**route.request.headers, "authorization": f"Bearer {token}"}
            await route.continue_(headers=headers)

        await context.route(f"{codec_url}/**", with_token)
    return await context.new_page()


async def test_the_temporal_ui_shows_a_decoded_payload_only_with_the_codec_servers_token(
    services: RunningServices,
    topics: Topics,
    kafka_settings: KafkaSettings,
    temporal_client: Client,
    browser: Browser,
    uid: str,
    tmp_path: Path,
) -> None:
    ui = _ui_url()
    async with httpx.AsyncClient(timeout=5) as http:
        assert (await http.get(ui)).status_code == 200, f"no Temporal UI at {ui}"
    keyring = write_keyring(tmp_path / "keyring", {"k1": generate_key()})
    services.env["TASKFACTORY_TEMPORAL__ENCRYPTION_KEYS_FILE"] = str(keyring)
    (services.definitions / "sealed-ui.yaml").write_text(DEFINITION.replace("UID", uid))
    services.start()
    event = envelope(1, uid=uid)
    await produce_envelopes(kafka_settings, topics.events, [event])
    workflow_id = f"{uid}/{event.subject}/{event.id}"

    async def completed() -> bool:
        query = f"WorkflowId = '{workflow_id}' AND ExecutionStatus = 'Completed'"
        return (await temporal_client.count_workflows(query)).count == 1

    await wait_for(completed, timeout=120, what="the encrypted run to complete")
    run_id = (await temporal_client.get_workflow_handle(workflow_id).describe()).run_id
    page_url = f"{ui}/namespaces/default/workflows/{quote(workflow_id, safe='')}/{run_id}/history"

    token_file = tmp_path / "codec-token"
    token_file.write_text(TOKEN)
    async with codec_server(
        tmp_path, keyring_file=keyring, token_file=token_file, cors_origins=ui
    ) as server:
        # Without the token: the UI asks, the codec server refuses, the page shows no clear text.
        page = await _open(browser, server.url, token=None)
        await page.goto(page_url)

        async def refused() -> bool:
            return "missing bearer token" in server.log()

        await wait_for(refused, timeout=60, what="the UI's unauthenticated codec call")
        failed = page.locator("#content").get_by_text("Codec Server could not connect")
        await expect(failed).to_be_visible(timeout=30_000)
        await page.screenshot(path=tmp_path / "codec-refused.png", full_page=True)
        assert SENTINEL not in await page.content()

        # With the token: the UI decodes the run's input (the definition snapshot) for a person.
        page = await _open(browser, server.url, token=TOKEN)
        await page.goto(page_url)
        await expect(page.get_by_text(SENTINEL).first).to_be_visible(timeout=60_000)
        await expect(page.get_by_text("Codec Server could not connect")).to_have_count(0)
        shot = tmp_path / "codec-decoded.png"
        await page.screenshot(path=shot, full_page=True)
        # The run's summary (user metadata, sealed too) reads as written.
        await page.get_by_role("tab", name="User Metadata").click()
        summary = f"sealed-ui v1 · {event.type} · {event.subject}"
        # The UI renders the summary as markdown in a sandboxed iframe.
        shown = page.frame_locator("#content iframe").first.get_by_text(summary)
        await expect(shown).to_be_visible(timeout=30_000)
        await page.screenshot(path=tmp_path / "codec-summary.png", full_page=True)
    data = shot.read_bytes()
    assert data.startswith(PNG), f"{shot} is not a PNG"
    assert len(data) > 10_000, f"{shot} is too small to show a page"
