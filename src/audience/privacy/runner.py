"""The regulation runner: takes running regulations and runs their steps to the end.

Every collector process runs one on a thread of its own. It takes a regulation by its lease
(``LEASE_SECONDS``, renewed between steps), so one process runs it at a time, and one that dies
leaves it to another once the lease runs out; a process that starts picks up every regulation
still ``RUNNING``. Each step is idempotent and recorded when done, so a regulation resumed after
a restart redoes at most the step it was in.

Deleting a person while their events keep arriving: the person is suppressed first, and the
runner waits ``SUPPRESSION_BOUND_SECONDS`` so every process drops their events before anything
is deleted. Events accepted just before that (already past the gate) are caught by the final
pass, which waits for the resolver to have read the log up to its newest event and then deletes
the person's profile, events and delivery batches once more. So no trace outlives the regulation.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Final, Protocol

from audience.clock import Clock
from audience.destinations.delivery_store import DeliveryStore
from audience.destinations.erasure import Person, erase
from audience.errors import RetryableDeliveryError
from audience.identity.identifiers import Identifier
from audience.privacy.desk import PrivacyStore, RegulationDesk, from_row, steps_json
from audience.privacy.regulations import (
    Regulation,
    RegulationRequest,
    RegulationType,
    Requester,
    RequesterKind,
    Status,
    SubjectType,
    subject_identifier,
)
from audience.privacy.suppression import (
    SUPPRESSION_BOUND_SECONDS,
    LinkedSuppression,
    PrivacyGate,
    SuppressionList,
)
from audience.resolution.deletion import PersonDeletion
from audience.timestamps import format_utc

logger = logging.getLogger(__name__)

LEASE_SECONDS: Final = 60.0
"""How long a process holds a regulation without renewing its lease."""

IDLE_SECONDS: Final = 1.0
"""How often an idle runner looks for regulations to run."""

RESOLVER_WAIT_SECONDS: Final = 30.0
"""How long the final pass waits for the resolver to catch up with the log."""

DESTINATION_ATTEMPTS: Final = 5
"""How many times the destinations step tries when a destination cannot be reached."""

DESTINATION_PAUSE_SECONDS: Final = 2.0
"""The pause before the next try, times the number of tries so far."""

_SEMANTIC_SUBJECTS: Final = {
    "user_id": SubjectType.USER_ID,
    "anonymous_id": SubjectType.ANONYMOUS_ID,
}


class PersonStore(Protocol):
    """The profile store as deletion uses it."""

    def cursor(self) -> int:
        """The position of the last event applied."""
        ...

    def person(self, identifier: Identifier) -> list[Identifier]:
        """Every identifier of the person ``identifier`` names."""
        ...

    def profile_identifiers(self, profile_id: str) -> list[Identifier]:
        """Every identifier of a profile."""
        ...

    def delete_identifiers(self, identifiers: Sequence[Identifier]) -> PersonDeletion:
        """Delete these identifiers and everything naming them."""
        ...


class RegulationRunner:
    """Runs regulations on a thread; a ``Component`` of the collector's application."""

    def __init__(
        self,
        store: PrivacyStore,
        profiles: PersonStore,
        deliveries: DeliveryStore | None,
        *,
        desk: RegulationDesk,
        suppressions: SuppressionList,
        gate: PrivacyGate | None,
        clock: Clock,
        owner: str,
        settle_seconds: float = SUPPRESSION_BOUND_SECONDS,
        resolver_wait_seconds: float = RESOLVER_WAIT_SECONDS,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._store = store
        self._profiles = profiles
        self._deliveries = deliveries
        self._desk = desk
        self._suppressions = suppressions
        self._gate = gate
        self._clock = clock
        self._owner = owner
        self._settle = settle_seconds
        self._resolver_wait = resolver_wait_seconds
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._sleep = sleep or self._stop.wait
        self._threads: list[threading.Thread] = []

    # -- the component ---------------------------------------------------------------------

    async def start(self) -> None:
        """Start the runner's thread (it picks up the regulations still running) and, with a
        gate, the thread that records what the gate learns at once, even while a long
        regulation runs."""
        self._stop.clear()
        targets = [(self._loop, "audience-regulations")]
        if self._gate is not None:
            targets.append((self._gate_loop, "audience-privacy-requests"))
        self._threads = [threading.Thread(target=t, name=n, daemon=True) for t, n in targets]
        for thread in self._threads:
            thread.start()

    async def stop(self) -> None:
        """Stop after the current step; the regulation is resumed by the next runner."""
        self.halt()
        threads, self._threads = self._threads, []
        for thread in threads:
            thread.join(timeout=30)

    def halt(self) -> None:
        """Ask the runner to stop after the step it is in, without waiting for it."""
        self._stop.set()
        self._wake.set()
        if self._gate is not None:
            self._gate.wake.set()

    def wake(self) -> None:
        """Look for work now (a regulation was just requested)."""
        self._wake.set()

    def _loop(self) -> None:
        try:
            self.release_leases_of_dead_processes()
        except Exception:
            logger.exception("looking for regulations left by dead processes failed")
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.run_pending()
            except Exception:  # keep running: the regulation is retried on the next round
                logger.exception("running regulations failed")
            self._wake.wait(IDLE_SECONDS)

    def _gate_loop(self) -> None:
        gate = self._gate
        if gate is None:
            return
        while not self._stop.is_set():
            gate.wake.wait(IDLE_SECONDS)
            try:
                if self.take_gate_requests():
                    self._wake.set()
            except Exception:  # the database is away: the gate's items are lost, say so
                logger.exception("recording what the privacy gate learned failed")

    # -- the work --------------------------------------------------------------------------

    def take_gate_requests(self) -> int:
        """Record what the ingest gate learned: semantic requests and linked identifiers; how
        many items were recorded."""
        if self._gate is None:
            return 0
        return record_gate_requests(self._gate, self._store, self._desk, self._clock)

    def release_leases_of_dead_processes(self) -> int:
        """Release the leases held by processes of this host that no longer exist (a crash
        before a restart), so their regulations resume now rather than when the lease ends."""
        released = 0
        for regulation_id in self._store.running_regulations():
            owner = self._store.lease_owner(regulation_id)
            if owner is not None and owner != self._owner and owner_is_gone(owner):
                self._store.release_regulation(regulation_id, owner)
                released += 1
        return released

    def run_pending(self) -> int:
        """Run every running regulation this process can take; how many it finished."""
        finished = 0
        for regulation_id in self._store.running_regulations():
            if self._stop.is_set():
                break
            if self._claim(regulation_id):
                finished += self.run(regulation_id)
        return finished

    def run(self, regulation_id: str) -> int:
        """Run one regulation's remaining steps (its lease held); 1 when it ended."""
        row = self._store.regulation(regulation_id)
        if row is None:
            return 0
        regulation = from_row(row)
        while regulation.status is Status.RUNNING:
            step = regulation.next_step()
            if step is None:
                regulation = self._end(regulation, Status.FINISHED, None)
                break
            if self._stop.is_set():
                self._store.release_regulation(regulation_id, self._owner)
                return 0
            if not self._claim(regulation_id):
                return 0
            detail: dict[str, int] = {}
            try:
                count = self._run_step(regulation, step.name, detail)
            except InterruptedError:  # stopping: the next runner resumes at this step
                self._store.release_regulation(regulation_id, self._owner)
                return 0
            except Exception as exc:
                logger.exception("regulation %s: step %s failed", regulation.id, step.name)
                regulation = regulation.with_step(step.name, "failed", 0)
                regulation = self._end(regulation, Status.FAILED, f"{step.name}: {exc}")
                break
            regulation = regulation.with_step(step.name, "done", count, detail)
            self._store.update_regulation(
                regulation.id, status=regulation.status.value, steps=steps_json(regulation.steps)
            )
        return 1

    def _claim(self, regulation_id: str) -> bool:
        now = self._clock.now().timestamp()
        return self._store.claim_regulation(regulation_id, self._owner, now, now + LEASE_SECONDS)

    def _end(self, regulation: Regulation, status: Status, error: str | None) -> Regulation:
        ended = replace(
            regulation, status=status, finished_at=format_utc(self._clock.now()), error=error
        )
        self._store.update_regulation(
            ended.id,
            status=status.value,
            steps=steps_json(ended.steps),
            finished_at=ended.finished_at,
            error=error,
        )
        self._store.forget_regulation_subjects(ended.id)
        logger.info("regulation %s %s", ended.id, status.value.lower())
        return ended

    def _run_step(self, regulation: Regulation, name: str, detail: dict[str, int]) -> int:
        """Run one step; its count, and the count of each part in ``detail`` where it has parts."""
        if name == "resolve":
            return self._resolve(regulation)
        identifiers = self._identifiers(regulation.id)
        if name == "suppress":
            at = format_utc(self._clock.now())
            hashes = [self._suppressions.hash(identifier) for identifier in identifiers]
            added = self._store.add_suppressions(hashes, regulation.id, at)
            self._suppressions.add_locally(hashes)
            self._sleep(self._settle)  # every process applies it before anything is deleted
            return added
        if name == "unsuppress":
            if regulation.type is RegulationType.DELETE_ONLY:  # its own suppression alone
                lifted = self._store.lift_regulation(regulation.id)
            else:
                lifted = self._store.lift_suppressions(
                    [self._suppressions.hash(identifier) for identifier in identifiers]
                )
            self._suppressions.refresh()
            self._sleep(self._settle)  # every process accepts them again once it has ended
            return lifted
        if name == "profiles":
            deleted = self._profiles.delete_identifiers(identifiers)
            self._store.add_regulation_subjects(
                regulation.id, [("seq", str(seq)) for seq in deleted.seqs]
            )
            return deleted.identifiers
        if name == "events":
            return len(self._delete_events(regulation.id, identifiers))
        if name == "deliveries":
            return self._forget_deliveries(self._seqs(regulation.id))
        if name == "final_pass":
            return self._final_pass(regulation.id, identifiers)
        if name == "destinations":
            detail.update(self._erase_destinations(regulation.id, identifiers))
            return sum(detail.values())
        raise ValueError(f"unknown step {name!r}")

    def _resolve(self, regulation: Regulation) -> int:
        """Every identifier of every person the subjects name, kept with the regulation."""
        found: set[Identifier] = set()
        for kind, value in self._store.regulation_subjects(regulation.id):
            if kind != "subject":
                continue
            identifier = subject_identifier(regulation.subject_type, value)
            if identifier is None:
                found.update(self._profiles.profile_identifiers(value))
            else:
                found.update(self._profiles.person(identifier))
        self._store.add_regulation_subjects(
            regulation.id, [(identifier.type, identifier.value) for identifier in found]
        )
        return len(found)

    def _identifiers(self, regulation_id: str) -> list[Identifier]:
        return [
            Identifier(kind, value)  # type: ignore[arg-type]
            for kind, value in self._store.regulation_subjects(regulation_id)
            if kind in ("user_id", "anonymous_id", "email")
        ]

    def _seqs(self, regulation_id: str) -> list[int]:
        return [
            int(value)
            for kind, value in self._store.regulation_subjects(regulation_id)
            if kind == "seq"
        ]

    def _delete_events(self, regulation_id: str, identifiers: Sequence[Identifier]) -> list[int]:
        deleted = self._store.delete_events(
            user_ids=[i.value for i in identifiers if i.type == "user_id"],
            anonymous_ids=[i.value for i in identifiers if i.type == "anonymous_id"],
            seqs=self._seqs(regulation_id),
        )
        self._store.add_regulation_subjects(regulation_id, [("seq", str(seq)) for seq in deleted])
        return deleted

    def _forget_deliveries(self, seqs: Sequence[int]) -> int:
        return self._deliveries.forget_events(seqs) if self._deliveries is not None else 0

    def _erase_destinations(
        self, regulation_id: str, identifiers: Sequence[Identifier]
    ) -> dict[str, int]:
        """Every warehouse's rows of the person, and a deletion notice to every webhook: the
        rows deleted (or notices sent) per destination."""
        if self._deliveries is None:
            return {}
        person = Person(
            user_ids=tuple(i.value for i in identifiers if i.type == "user_id"),
            anonymous_ids=tuple(i.value for i in identifiers if i.type == "anonymous_id"),
            emails=tuple(i.value for i in identifiers if i.type == "email"),
        )
        for attempt in range(1, DESTINATION_ATTEMPTS + 1):
            try:
                return erase(
                    self._deliveries.configs(),
                    person,
                    sources=[source.name for source in self._store.list_sources()],
                    notice_id=regulation_id,
                    clock=self._clock,
                )
            except RetryableDeliveryError:  # a receiver down, a DuckDB file in use: again
                if attempt == DESTINATION_ATTEMPTS or self._stop.is_set():
                    raise
                self._sleep(DESTINATION_PAUSE_SECONDS * attempt)
        return {}

    def _final_pass(self, regulation_id: str, identifiers: Sequence[Identifier]) -> int:
        """Delete once more what was accepted before the suppression reached every process,
        once the resolver has read the log up to its newest event."""
        target = self._store.last_seq()
        deadline = self._clock.monotonic() + self._resolver_wait
        while self._profiles.cursor() < target and self._clock.monotonic() < deadline:
            if self._stop.is_set():
                raise InterruptedError("stopping")
            self._sleep(0.1)
        profile = self._profiles.delete_identifiers(identifiers)
        self._store.add_regulation_subjects(
            regulation_id, [("seq", str(seq)) for seq in profile.seqs]
        )
        events = self._delete_events(regulation_id, identifiers)
        deliveries = self._forget_deliveries(self._seqs(regulation_id))
        return profile.identifiers + len(events) + deliveries


def local_owner(unique: str) -> str:
    """A lease owner's name: this host, this process and ``unique`` (a fresh id)."""
    return f"{socket.gethostname()}:{os.getpid()}:{unique}"


def owner_is_gone(owner: str) -> bool:
    """Whether ``owner`` names a process of this host that no longer runs."""
    host, _, rest = owner.partition(":")
    pid, _, _ = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists, as another user's process
        return False
    return False


def record_gate_requests(
    gate: PrivacyGate, store: PrivacyStore, desk: RegulationDesk, clock: Clock
) -> int:
    """Record what ``gate`` learned: each semantic event as a regulation (a runner runs it), each
    identifier seen beside a suppressed one as suppressed too; how many items were recorded."""
    taken = gate.take_requests()
    for item in taken:
        if isinstance(item, LinkedSuppression):
            store.add_linked_suppressions(item.hashes, item.seen_with, format_utc(clock.now()))
            continue
        subject_type = _SEMANTIC_SUBJECTS[item.identifier.type]
        request = RegulationRequest(item.type, subject_type, (item.identifier.value,))
        regulation = desk.request(request, Requester(RequesterKind.SEMANTIC_EVENT, item.source))
        logger.info("regulation %s requested by a semantic event", regulation.id)
    return len(taken)
