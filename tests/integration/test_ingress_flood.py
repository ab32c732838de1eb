"""One flooding key never holds back the other keys of its partition (real broker + Temporal).

10 000 records of one subject with 100 other subjects interleaved, all on one partition: the
other subjects' runs all start while most of the flood still waits (its records go one after
the other, a few dozen a second on a shared dev server). A smaller flood is run to the end:
every record started once and committed, so deferring and re-reading loses nothing.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from conftest import StackInfo
from support.ingress_harness import running_ingress

from taskfactory_contracts import AvroCodec, Envelope
from taskfactory_ingress import metrics
from taskfactory_stack.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

DEFINITIONS = {
    f"{name}.yaml": f"""
id: {name}
version: 1
trigger: {{event_types: [com.example.{name}]}}
correlation: {{workflow_id: "{{uid}}/{name}/{{subject}}/{{id}}"}}
tasks: [{{id: echo-it, type: echo}}]
"""
    for name in ("flood", "other")
}


def _started(definition: str) -> float:
    return float(metrics.STARTED.labels(definition)._value.get())


@pytest.mark.parametrize(
    ("flood", "others", "to_the_end"),
    [(10_000, 100, False), (1_000, 10, True)],
    ids=["10000-and-100-others", "1000-and-10-others-to-the-end"],
)
async def test_other_keys_start_while_a_flooding_key_still_waits(
    stack: StackInfo,
    tmp_path_factory: pytest.TempPathFactory,
    flood: int,
    others: int,
    to_the_end: bool,
) -> None:
    folder = tmp_path_factory.mktemp("flood")
    for name, text in DEFINITIONS.items():
        (folder / name).write_text(text)
    flood_before, others_before = _started("flood"), _started("other")
    async with running_ingress(stack.kafka_bootstrap, stack.temporal_address, folder) as ingress:
        codec = AvroCodec()
        now = datetime.now(UTC)
        records = []
        for i in range(flood):
            kind, subject = "flood", "the-flood"
            if i % (flood // others) == flood // others // 2:
                other = i // (flood // others)
                event = Envelope(
                    id=f"{ingress.uid}-other-{other}",
                    source="/flood",
                    type="com.example.other",
                    subject=f"other-{other}",
                    time=now,
                    data=json.dumps({"n": other}).encode(),
                )
                records.append(event)
            records.append(
                Envelope(
                    id=f"{ingress.uid}-{kind}-{i}",
                    source="/flood",
                    type=f"com.example.{kind}",
                    subject=subject,
                    time=now,
                )
            )
        futures = [
            await ingress.producer.send(
                ingress.topic, value=codec.encode_envelope(e), key=e.subject.encode()
            )
            for e in records
        ]
        for future in futures:
            await future

        async def others_started() -> bool:
            return _started("other") - others_before == others

        await wait_for(others_started, timeout=120, what=f"the {others} other keys' runs")
        flood_done = _started("flood") - flood_before
        assert flood_done < flood / 2, (
            f"the other keys waited for the flood: {flood_done:.0f} of its {flood} runs had "
            "started before the last of theirs"
        )
        # Nothing is committed past the flood's first record not yet started.
        committed = await ingress.committed()
        assert committed <= _started("flood") - flood_before + others
        if not to_the_end:
            return

        async def all_committed() -> bool:
            return await ingress.committed() == flood + others

        await wait_for(all_committed, timeout=240, what="every record committed")
        assert _started("flood") - flood_before == flood, "each flood record started once"
        assert _started("other") - others_before == others
