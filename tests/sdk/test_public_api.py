"""The SDK's public names: what users import is exported, and only that."""

from __future__ import annotations

import audience
import audience.sdk


def test_analytics_is_importable_from_the_package_root() -> None:
    assert "Analytics" in audience.__all__
    assert audience.Analytics is audience.sdk.Analytics


def test_every_exported_sdk_name_exists_and_is_listed_once() -> None:
    assert len(set(audience.sdk.__all__)) == len(audience.sdk.__all__)
    for name in audience.sdk.__all__:
        assert getattr(audience.sdk, name) is not None
    public = {name for name in vars(audience.sdk) if not name.startswith("_")} - {"annotations"}
    modules = {
        "calls",
        "client",
        "cookies",
        "delivery",
        "identity",
        "isolation",
        "stores",
        "tracker",
        "worker",
        "batching",
        "messages",
        "message_ids",
        "outbox",
        "shared_files",
        "file_locks",
        "forks",
        "testing",
        "troubled",
    }
    assert public - modules == set(audience.sdk.__all__)
