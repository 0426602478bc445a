"""The collector's sink on a real JetStream server: each event on its partition's subject,
resends acknowledged as duplicates, and an unreachable or closed log failing at once."""

from __future__ import annotations

from collections.abc import Iterator

import nats
import pytest

from audience.errors import StorageError
from audience.log.jetstream import JetStreamLog
from audience.log.link import LogOptions, NatsLink
from audience.log.partitions import partition_of
from audience.storage.base import AppendResult, EventRecord
from log.log_support import run_apart
from support import wait_for
from support.nats_servers import NatsServer


def record(anonymous_id: str, message_id: str) -> EventRecord:
    return EventRecord(
        "web", message_id, "track", None, anonymous_id, "Viewed", "t", "t", None, b"{}"
    )


@pytest.fixture
def link(nats: NatsServer) -> Iterator[NatsLink]:
    opened = NatsLink(LogOptions((nats.url,), prefix="sink", partitions=3))
    opened.open()
    wait_for(lambda: opened.health().stream_ready, 30, "the stream made")
    yield opened
    opened.close()


def subject_counts(url: str) -> dict[str, int]:
    async def ask() -> dict[str, int]:
        client = await nats.connect(url)
        try:
            info = await client.jetstream().stream_info("sink", subjects_filter=">")
            return dict(info.state.subjects or {})
        finally:
            await client.close()

    return run_apart(ask())


def test_each_event_is_published_to_the_subject_of_its_person_s_partition(
    link: NatsLink, nats: NatsServer
) -> None:
    records = [record(f"anon-{n % 5}", f"m-{n}") for n in range(20)]
    assert JetStreamLog(link).append(records).result(10) == AppendResult(20, 0)
    expected: dict[str, int] = {}
    for each in records:
        subject = f"sink.events.{partition_of(str(each.anonymous_id), 3)}"
        expected[subject] = expected.get(subject, 0) + 1
    assert subject_counts(nats.url) == expected


def test_a_resend_within_the_window_is_acknowledged_as_a_duplicate(link: NatsLink) -> None:
    log = JetStreamLog(link)
    records = [record("anon-1", "m-1"), record("anon-2", "m-2")]
    assert log.append(records).result(10) == AppendResult(2, 0)
    assert log.append([*records, record("anon-3", "m-3")]).result(10) == AppendResult(1, 2)


def test_an_unreachable_log_fails_a_publish_at_once(link: NatsLink, nats: NatsServer) -> None:
    nats.kill()
    wait_for(lambda: not link.health().reachable, 10, "the link noticing")
    with pytest.raises(StorageError, match="unreachable"):
        JetStreamLog(link).append([record("anon-1", "m-1")]).result(10)
    assert link.health().problems()


def test_a_closed_link_fails_a_publish(link: NatsLink) -> None:
    link.close()
    with pytest.raises(StorageError, match="closed"):
        JetStreamLog(link).append([record("anon-1", "m-1")]).result(10)
