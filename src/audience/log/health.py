"""What ``/readyz`` and ``/metrics`` tell of the log: is it reachable, how far behind is each
partition's writer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from audience.jsontypes import JSONObject


@dataclass(frozen=True)
class LogHealth:
    """The log as last seen: ``reachable`` when connected to a server of the cluster, with
    ``stream_ready`` once the stream is known to exist (found, or created).

    ``pending`` maps each partition to the messages its writer has not yet acknowledged
    (JetStream's ``num_pending`` plus those delivered and not acked), ``None`` when it could
    not be read (no writer consumer yet, or the log is unreachable). ``writer`` is whether this
    process's writer holds the writer lease (``holder``) or waits (``standby``), ``None`` in a
    process that only collects.
    """

    servers: tuple[str, ...]
    reachable: bool
    stream_ready: bool = False
    pending: Mapping[int, int | None] = field(default_factory=dict)
    writer: str | None = None

    def problems(self) -> list[str]:
        """Why events cannot be accepted through the log now; empty when they can."""
        if not self.reachable:
            return [f"the event log ({', '.join(self.servers)}) is unreachable"]
        if not self.stream_ready:
            return ["the event log's stream is not ready yet"]
        return []

    def to_json(self) -> JSONObject:
        """The ``log`` part of ``/readyz``."""
        body: JSONObject = {
            "servers": list(self.servers),
            "reachable": self.reachable,
            "streamReady": self.stream_ready,
            "pendingByPartition": {str(part): count for part, count in self.pending.items()},
        }
        if self.writer is not None:
            body["writer"] = self.writer
        return body
