"""The replicated event log: accepted events published to NATS JetStream before the 200.

Without ``--log`` the event store is the log (the collector commits to it directly). With
``--log nats://...`` the collector publishes each event to a partitioned JetStream stream
(:mod:`audience.log.jetstream`, an ``EventSink``) and answers once JetStream acknowledged every
event of the request; the log writer (:mod:`audience.log.consumer`) reads each partition in
order and appends to the event store, acknowledging the messages only after its commit.
"""
