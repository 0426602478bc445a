"""The collector: the tracking API of Customer.io Data Pipelines and Segment, on a durable store."""

from __future__ import annotations
