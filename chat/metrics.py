"""What a process counts for its operator, in a Prometheus registry of its own (never the library's global one).

One ``Metrics`` is built with the runtime and handed to whatever counts; tests build their own and read it back.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from .errors import ChatError, RateLimited

# a post is a session check, a conditional put and a publish: milliseconds when healthy, seconds when a backend is not
_POST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# from the hub to the sockets: the event loop's own latency, which many open tabs stretch
_EMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """Counters, gauges and histograms of one process, named ``sinchchat_*``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.stored = Counter("sinchchat_messages_stored", "Messages written to DynamoDB by this process.", registry=r)
        self.announced = Counter(
            "sinchchat_messages_announced", "Stored messages published on Redis by this process.", registry=r
        )
        self.caught_up = Counter(
            "sinchchat_messages_caught_up",
            "Messages this process found in DynamoDB that had not reached it through Redis.",
            registry=r,
        )
        self.rejected_events = Counter(
            "sinchchat_bus_events_rejected",
            "Events on Redis dropped because this deployment did not seal them, or sealed them too long ago.",
            registry=r,
        )
        self.announce_failures = Counter(
            "sinchchat_announce_failures",
            "Publishes on Redis that failed or timed out; each is published again once Redis answers.",
            registry=r,
        )
        self.reconnects = Counter(
            "sinchchat_subscriber_reconnects", "Times the Redis subscription was lost and reconnected.", registry=r
        )
        self.rate_limited = Counter(
            "sinchchat_rate_limited", "Requests refused because their sender was over a rate limit.", registry=r
        )
        self.errors = Counter("sinchchat_errors", "Requests refused or failed, by kind of error.", ["kind"], registry=r)
        self.open_tabs = Gauge("sinchchat_open_tabs", "Chat views open in this process.", registry=r)
        self.open_rooms = Gauge(
            "sinchchat_open_rooms",
            "Rooms this process is subscribed to because a view here shows them (or did a moment ago).",
            registry=r,
        )
        self.read_marker_writes = Counter(
            "sinchchat_read_marker_writes", "Read markers written to DynamoDB by this process.", registry=r
        )
        self.first_pages = Counter(
            "sinchchat_first_pages",
            "Newest history pages served (a tab opening a room, the API without a cursor), by where they came from: "
            "this process's memory of a room it shows, or a DynamoDB Query.",
            ["source"],
            registry=r,
        )
        self.dynamodb_calls = Counter(
            "sinchchat_dynamodb_calls",
            "DynamoDB API calls made by this process (botocore's retries not counted), by operation and table.",
            ["operation", "table"],
            registry=r,
        )
        self.post_seconds = Histogram(
            "sinchchat_post_seconds",
            "From the start of a post to its acknowledgement (checked and stored; the announcement is not waited for).",
            buckets=_POST_BUCKETS,
            registry=r,
        )
        self.emit_seconds = Histogram(
            "sinchchat_announce_to_emit_seconds",
            "From a message's arrival at this process's hub to its emit to the chat views' sockets.",
            buckets=_EMIT_BUCKETS,
            registry=r,
        )

    def refused(self, error: ChatError) -> None:
        """Count an error that reached a person (an API answer or a message in the page)."""
        self.errors.labels(kind=type(error).__name__).inc()
        if isinstance(error, RateLimited):
            self.rate_limited.inc()

    def count_tabs(self, count: Callable[[], int]) -> None:
        """Read the number of open tabs from ``count`` at every scrape: nothing to keep in step."""
        self.open_tabs.set_function(lambda: float(count()))

    def count_rooms(self, count: Callable[[], int]) -> None:
        """Read the number of rooms subscribed here from ``count`` at every scrape."""
        self.open_rooms.set_function(lambda: float(count()))

    def exposition(self) -> tuple[bytes, str]:
        """The Prometheus text format and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
