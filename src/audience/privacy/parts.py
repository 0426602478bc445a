"""What privacy adds to one collector process: the desk, the suppression list, the ingest gate
and the runner, made by :func:`privacy_parts` over the open stores."""

from __future__ import annotations

from dataclasses import dataclass

from audience.clock import Clock, IdFactory
from audience.destinations.delivery_store import DeliveryStore
from audience.privacy.desk import PrivacyStore, RegulationDesk
from audience.privacy.runner import PersonStore, RegulationRunner, local_owner
from audience.privacy.suppression import PrivacyGate, SuppressionList


@dataclass(frozen=True)
class PrivacyParts:
    """The privacy side of one process: ``gate`` goes to the ingestor; ``suppressions`` and
    ``runner`` are started and stopped with the application."""

    desk: RegulationDesk
    suppressions: SuppressionList
    gate: PrivacyGate


def privacy_parts(store: PrivacyStore, *, clock: Clock, ids: IdFactory) -> PrivacyParts:
    """The desk, the suppression list (read once now) and the gate over the event store."""
    desk = RegulationDesk(store, clock=clock, ids=ids)
    suppressions = SuppressionList(store, desk.secret)
    suppressions.refresh()
    return PrivacyParts(desk, suppressions, PrivacyGate(suppressions))


def regulation_runner(
    parts: PrivacyParts,
    store: PrivacyStore,
    profiles: PersonStore,
    deliveries: DeliveryStore | None,
    *,
    clock: Clock,
    ids: IdFactory,
) -> RegulationRunner:
    """This process's runner, named by host, process and a fresh id for its leases."""
    owner = local_owner(ids.new())
    return RegulationRunner(
        store,
        profiles,
        deliveries,
        desk=parts.desk,
        suppressions=parts.suppressions,
        gate=parts.gate,
        clock=clock,
        owner=owner,
    )
