"""Redis dies mid-stream: a private redis-server is killed (SIGKILL) and restarted while two processes send.

Redis pub/sub is at-most-once, so while it is down every publish fails and every subscriber misses what is sent.
The contract: ``ChatService.post`` stores the message anyway and logs that it could not announce it; each
process's subscriber reconnects and its hub catches up from DynamoDB right after the reconnect, and every
CATCHUP_INTERVAL_SECONDS (15 s) in any case. In the end every view holds every stored message exactly once, in
key order.

The two repairs are measured apart: the timer is set to an hour, the test first waits for the reconnect catch-ups
alone, counts what is still missing, then runs each process's catch-up as its timer would and checks the result.
Nothing may be left for the timer: what was stored while Redis was down is found by the catch-up after the
resubscribe, and a publish after the restart survives the stale pooled connection (see test_bus_real); a view
that needed the timer would have shown a message up to 15 s late.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis

from chat.models import Message, Session
from tests.helpers import wait_for

from .cluster import Cluster, Node, stored
from .servers import RedisServer
from .tally import View, tally

pytestmark = pytest.mark.integration

Report = Callable[[str, object], None]


@dataclass
class Run:
    """What happened in one run: the messages sent (by completion time), the outage, and the views."""

    sent: list[Message]
    completed: dict[str, float]
    killed_at: float
    restarted_at: float
    restarted_wall: float  # time.time(), to compare with log records
    views: list[View]
    elapsed: float

    def sent_while_down(self) -> int:
        return sum(1 for t in self.completed.values() if self.killed_at <= t < self.restarted_at)

    def sent_after_restart(self) -> int:
        return sum(1 for t in self.completed.values() if t >= self.restarted_at)


async def send_with_redis_outage(
    cluster: Cluster, server: RedisServer, *, per_sender: int, pace: float, min_down: float
) -> Run:
    """Two sending processes and one that only reads.

    Redis is killed once a third of the messages are sent, and started again once two thirds are sent (but not
    before ``min_down`` seconds): at least a third of the messages go out while it is down, the rest after. Senders
    that reach two thirds before the outage has lasted ``min_down`` wait for the restart, so a fast machine cannot
    send everything while Redis is down.
    """
    nodes = [await cluster.node(redis_url=server.url) for _ in range(3)]
    views: list[View] = []
    for node in nodes:
        for tab in ("tab 1", "tab 2"):  # two tabs per process: the hub hands each batch to every tab of the room
            views.append(await node.show(cluster.room, f"{node.name} {tab}"))
    senders: list[tuple[Node, Session]] = [
        (nodes[0], await nodes[0].service.register("Sender One")),
        (nodes[1], await nodes[1].service.register("Sender Two")),
    ]
    total = per_sender * len(senders)
    sent: list[Message] = []
    completed: dict[str, float] = {}
    outage: dict[str, float] = {}
    restarted = asyncio.Event()

    async def send_all(node: Node, session: Session) -> None:
        for i in range(per_sender):
            if len(sent) >= 2 * total // 3:
                await restarted.wait()
            message = await node.service.send(session, f"{session.name} {i}")
            sent.append(message)
            completed[message.key] = time.monotonic()
            await asyncio.sleep(pace)

    async def kill_and_restart() -> None:
        assert await wait_for(lambda: len(sent) >= total // 3, timeout=60), "the senders stalled before the fault"
        outage["killed"] = time.monotonic()
        server.kill()
        await asyncio.sleep(min_down)
        assert await wait_for(lambda: len(sent) >= 2 * total // 3, timeout=60), "the senders stalled with Redis down"
        await asyncio.to_thread(server.start)
        outage["restarted"] = time.monotonic()
        outage["restarted_wall"] = time.time()
        restarted.set()

    started = time.monotonic()
    await asyncio.gather(*(send_all(node, session) for node, session in senders), kill_and_restart())
    elapsed = time.monotonic() - started
    return Run(
        sent=sent,
        completed=completed,
        killed_at=outage["killed"],
        restarted_at=outage["restarted"],
        restarted_wall=outage["restarted_wall"],
        views=views,
        elapsed=elapsed,
    )


async def repair(run: Run, cluster: Cluster) -> tuple[int, float]:
    """Let the reconnect catch-ups work, count what they left, then run the timer's catch-up in every process.

    Returns the number of (view, message) pairs left for the timer and the seconds the whole repair took.
    """
    sent_keys = [m.key for m in run.sent]
    started = time.monotonic()
    assert await wait_for(lambda: all(n.bus.connected.is_set() for n in cluster.nodes), timeout=15), "no resubscribe"
    await wait_for(lambda: all(v.has_all(sent_keys) for v in run.views), timeout=3)
    left = sum(len(set(sent_keys) - set(v.arrivals)) for v in run.views)
    for node in cluster.nodes:  # what each process's periodic timer does next, without waiting 15 s for it
        await asyncio.create_task(node.hub.catch_up(cluster.room), name="periodic catch-up")
    await wait_for(lambda: all(v.has_all(sent_keys) for v in run.views), timeout=5)
    return left, time.monotonic() - started


async def check_run(
    run: Run, cluster: Cluster, caplog: pytest.LogCaptureFixture, record_property: Report, *, expected: int
) -> None:
    sent_keys = [m.key for m in run.sent]
    left_for_timer, repair_seconds = await repair(run, cluster)

    in_dynamodb = await stored(cluster.nodes[0].service)
    stored_keys = [m.key for m in in_dynamodb]
    texts = [m.text for m in in_dynamodb]
    unannounced = [
        r for r in caplog.records if r.name == "chat.hub" and r.getMessage().startswith("could not announce a message")
    ]
    lost_subscriptions = [r for r in caplog.records if r.name == "chat.bus" and "lost the Redis" in r.getMessage()]
    failed_after_restart = [r for r in unannounced if r.created >= run.restarted_wall]

    summary = (
        f"sent={len(run.sent)} stored={len(stored_keys)} duplicated_texts={len(texts) - len(set(texts))} "
        f"sent_while_redis_down={run.sent_while_down()} sent_after_restart={run.sent_after_restart()} "
        f"publish_failed_warnings={len(unannounced)} (of them after the restart: {len(failed_after_restart)}) "
        f"subscriptions_lost={len(lost_subscriptions)} redis_down={run.restarted_at - run.killed_at:.2f}s "
        f"send_phase={run.elapsed:.2f}s repair={repair_seconds:.2f}s "
        f"view_deliveries_left_for_the_periodic_catch_up={left_for_timer}"
    )
    print(summary)
    record_property("summary", summary)
    tallies = [tally(view, stored_keys) for view in run.views]
    for counts in tallies:
        print(counts.line())
        record_property(counts.view, counts.line())

    # stored exactly once: every send that returned is in DynamoDB once, and nothing else is
    assert len(run.sent) == expected
    assert sorted(sent_keys) == stored_keys
    assert len(set(texts)) == len(texts) == expected
    # the fault really hit mid-stream: sends went on while Redis was down and after it came back
    assert run.sent_while_down() > 0
    assert run.sent_after_restart() > 0
    # while Redis is down, post stores the message, then logs that it could not announce it
    assert unannounced, "no send failed to publish: Redis was not down while sending"
    assert len(lost_subscriptions) >= 3  # each of the three subscribers noticed
    assert all(v.paths["reconnect_catch_up"] > 0 for v in run.views), "a view got nothing from the reconnect catch-up"
    for counts in tallies:
        assert (counts.lost, counts.duplicated, counts.unexpected, counts.out_of_order) == (0, 0, 0, 0), counts
    assert left_for_timer == 0, "a view needed the periodic catch-up: it would have shown messages up to 15 s late"


async def test_redis_killed_mid_stream_every_view_ends_with_every_message_once(
    private_redis: RedisServer, cluster: Cluster, caplog: pytest.LogCaptureFixture, record_property: Report
) -> None:
    caplog.set_level(logging.INFO)
    run = await send_with_redis_outage(cluster, private_redis, per_sender=60, pace=0.02, min_down=0.5)
    await check_run(run, cluster, caplog, record_property, expected=120)


async def test_redis_killed_while_two_senders_send_500_messages(
    private_redis: RedisServer, cluster: Cluster, caplog: pytest.LogCaptureFixture, record_property: Report
) -> None:
    caplog.set_level(logging.INFO)
    run = await send_with_redis_outage(cluster, private_redis, per_sender=250, pace=0.0, min_down=1.0)
    await check_run(run, cluster, caplog, record_property, expected=500)


async def test_a_subscription_dropped_while_redis_stays_up_is_noticed_and_caught_up(
    private_redis: RedisServer, cluster: Cluster, caplog: pytest.LogCaptureFixture, record_property: Report
) -> None:
    """Redis closes the subscribers' connections (CLIENT KILL, as on a failover or an output-buffer limit) and
    stays up. The Bus must see the drop, subscribe again and run the catch-up: a Redis client that silently
    reconnected and resubscribed by itself (redis-py does, given a retry policy) would skip the catch-up and
    lose what was published in between."""
    caplog.set_level(logging.INFO)
    sender, reader = [await cluster.node(redis_url=private_redis.url) for _ in range(2)]
    views = [await sender.show(cluster.room, "sender's view"), await reader.show(cluster.room, "reader's view")]
    session = await sender.service.register("Dropper")
    sent = [await sender.service.send(session, f"before {i}") for i in range(10)]

    admin = Redis.from_url(private_redis.url)
    try:
        dropped = await admin.client_kill_filter(_type="pubsub")
    finally:
        await admin.aclose()
    sent += [await sender.service.send(session, f"after {i}") for i in range(30)]  # some before the resubscribe
    keys = [m.key for m in sent]
    converged = await wait_for(lambda: all(v.has_all(keys) for v in views), timeout=10)
    await wait_for(lambda: all(node.caught_up[cluster.room] >= 2 for node in (sender, reader)), timeout=10)

    lost = [r for r in caplog.records if r.name == "chat.bus" and "lost the Redis" in r.getMessage()]
    caught_up = [node.caught_up[cluster.room] for node in (sender, reader)]
    summary = f"subscriptions_dropped={dropped} noticed={len(lost)} room_catch_ups={caught_up} sent={len(sent)}"
    print(summary)
    record_property("summary", summary)
    tallies = [tally(view, sorted(keys)) for view in views]
    for counts in tallies:
        print(counts.line())
        record_property(counts.view, counts.line())
    assert dropped == 2
    assert len(lost) == 2, "a subscriber did not notice that its connection was closed"
    # each subscribed to the room when its tab opened and once more after the drop, and caught up each time
    assert caught_up == [2, 2]
    assert converged
    for counts in tallies:
        assert (counts.lost, counts.duplicated, counts.unexpected, counts.out_of_order) == (0, 0, 0, 0), counts
