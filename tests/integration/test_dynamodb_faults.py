"""DynamoDB unreachable while two processes send: a private DynamoDB Local is killed and restarted, or paused.

The contract: a send that cannot reach DynamoDB fails visibly (StorageUnavailable, with a message a person can
read), and sending the SAME prepared Message again once DynamoDB is back stores it exactly once, even when the
first attempt was written but its answer was lost. The shared DynamoDB Local on port 8000 is never touched: this
module starts its own, keeping its data in a file so that a restart is an outage and not a wipe.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field

import pytest

from chat.errors import Conflict, StorageUnavailable
from chat.models import Draft, Message, Session
from chat.storage import connect
from tests.conftest import service_setting
from tests.helpers import wait_for

from .cluster import Cluster, Node, create_tables, stored, unique_room
from .servers import REGION, DynamoDBLocal
from .tally import View, tally

pytestmark = pytest.mark.integration

Report = Callable[[str, object], None]
UNAVAILABLE = "The message store cannot be reached right now. Nothing was lost; try again in a moment."


@pytest.fixture(scope="module")
def private_dynamodb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DynamoDBLocal]:
    """One DynamoDB Local for this module (a JVM start costs seconds); each test makes tables of its own."""
    service_setting("CHAT_TEST_DYNAMODB_ENDPOINT")  # skips (or fails) with the rest of the tier
    server = DynamoDBLocal(tmp_path_factory.mktemp("dynamodb-local"))
    took = server.start()
    print(f"private DynamoDB Local on port {server.port} ready after {took:.1f} s")
    yield server
    server.stop()


@pytest.fixture
async def private_cluster(private_dynamodb: DynamoDBLocal, redis_url: str) -> AsyncIterator[Cluster]:
    admin = connect(endpoint=private_dynamodb.endpoint, region=REGION)
    tables = create_tables(admin)
    admin.close()
    nodes = Cluster(endpoint=private_dynamodb.endpoint, tables=tables, room=unique_room())
    yield nodes
    await nodes.stop()


@dataclass
class Senders:
    """Two processes that send until told to stop; a failed send is retried with the same Message."""

    nodes: list[Node]
    sessions: list[Session]
    views: list[View]
    sent: list[Message] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    first_failure_after: list[float] = field(default_factory=list)  # seconds the first failing call of a send took
    slowest_call: float = 0.0
    put_results: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # what the person is told, by text
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    on_next_put: Callable[[], None] | None = None  # runs once, just before the next put goes out
    _stored_nonces: set[str] = field(default_factory=set)

    @classmethod
    async def start(cls, cluster: Cluster, redis_url: str) -> Senders:
        nodes = [await cluster.node(redis_url=redis_url) for _ in range(2)]
        senders = cls(nodes=nodes, sessions=[], views=[])
        for node, name in zip(nodes, ("Writer One", "Writer Two"), strict=True):
            senders.sessions.append(await node.service.register(name))
            senders.views.append(await node.show(cluster.room, f"{node.name} view"))
            senders._count_puts(node)
        return senders

    def _count_puts(self, node: Node) -> None:
        """Count what each put answers: True written now, False already stored (a retry of a write that landed)."""
        store = node.service.messages
        put = store.put

        async def counted(draft: Draft) -> Message:
            if self.on_next_put is not None:
                hook, self.on_next_put = self.on_next_put, None
                hook()
            message = await put(draft)
            # a nonce seen stored before: a retry of a write that landed, answered with the first message
            self.put_results["already_stored" if draft.nonce in self._stored_nonces else "written"] += 1
            self._stored_nonces.add(draft.nonce)
            return message

        store.put = counted  # type: ignore[method-assign]

    async def _send_all(self, node: Node, session: Session) -> None:
        i = 0
        while not self.stop.is_set():
            draft = node.service.prepare(session, f"{session.name} {i}")
            failed_before = False
            while True:
                started = time.monotonic()
                try:
                    message = await node.service.post(session, draft)
                    self.slowest_call = max(self.slowest_call, time.monotonic() - started)
                    break
                except StorageUnavailable as exc:
                    took = time.monotonic() - started
                    self.slowest_call = max(self.slowest_call, took)
                    self.errors[str(exc)] += 1
                    self.failures[node.name] += 1
                    if not failed_before:
                        self.first_failure_after.append(took)
                        failed_before = True
                    await asyncio.sleep(0.2)  # a person pressing Retry; the same draft, so the same nonce
            self.sent.append(message)
            i += 1
            await asyncio.sleep(0.05)

    async def run(self, fault: Callable[[], object]) -> float:
        """Send while ``fault`` (a coroutine function) runs, and one more second after it; returns the seconds."""
        started = time.monotonic()
        tasks = [asyncio.create_task(self._send_all(n, s)) for n, s in zip(self.nodes, self.sessions, strict=True)]
        await asyncio.sleep(1.0)
        await fault()  # type: ignore[misc]
        await asyncio.sleep(1.0)
        self.stop.set()
        await asyncio.gather(*tasks)
        return time.monotonic() - started

    async def check(self, record_property: Report, **facts: object) -> None:
        keys = [m.key for m in self.sent]
        converged = await wait_for(lambda: all(v.has_all(keys) for v in self.views), timeout=10)
        in_dynamodb = await stored(self.nodes[0].service)
        stored_keys = [m.key for m in in_dynamodb]
        texts = [m.text for m in in_dynamodb]
        lost = len(set(keys) - set(stored_keys))
        duplicated = len(texts) - len(set(texts))
        failing = sorted(self.first_failure_after)
        summary = " ".join(
            [
                *(f"{k}={v}" for k, v in facts.items()),
                f"sent={len(self.sent)} stored={len(stored_keys)} lost={lost} duplicated={duplicated}",
                f"failed_calls={sum(self.failures.values())} ({dict(self.failures)})",
                f"sends_that_failed_first={len(failing)}",
                f"failing_call_took={failing[0]:.2f}..{failing[-1]:.2f}s" if failing else "failing_call_took=-",
                f"slowest_call={self.slowest_call:.2f}s puts={dict(self.put_results)}",
            ]
        )
        print(summary)
        record_property("summary", summary)
        tallies = [tally(view, stored_keys) for view in self.views]
        for counts in tallies:
            print(counts.line())
            record_property(counts.view, counts.line())

        assert set(self.errors) <= {UNAVAILABLE}, self.errors
        assert lost == 0
        assert duplicated == 0
        assert sorted(keys) == stored_keys  # each sent message once, nothing else
        assert {m.key: m for m in in_dynamodb} == {m.key: m for m in self.sent}
        assert converged, "a view misses messages 10 s after the senders stopped"
        for counts in tallies:
            assert (counts.lost, counts.duplicated, counts.unexpected, counts.out_of_order) == (0, 0, 0, 0), counts


async def test_dynamodb_killed_and_restarted_sends_fail_visibly_then_each_retry_stores_once(
    private_dynamodb: DynamoDBLocal, private_cluster: Cluster, redis_url: str, record_property: Report
) -> None:
    senders = await Senders.start(private_cluster, redis_url)
    outage: dict[str, float] = {}

    async def kill_and_restart() -> None:
        killed = time.monotonic()
        private_dynamodb.kill()
        sent_before = len(senders.sent)
        await asyncio.sleep(3.5)
        # the JVM takes seconds more to answer again: the outage is that long plus the wait above
        outage["startup"] = await asyncio.to_thread(private_dynamodb.start)
        outage["down"] = time.monotonic() - killed
        outage["sent_while_down"] = len(senders.sent) - sent_before

    took = await senders.run(kill_and_restart)
    await senders.check(
        record_property,
        dynamodb_down=f"{outage['down']:.1f}s",
        jvm_start=f"{outage['startup']:.1f}s",
        run=f"{took:.1f}s",
        sends_completed_while_down=int(outage["sent_while_down"]),
    )
    assert sum(senders.failures.values()) > 0, "no send failed: DynamoDB was not down while sending"
    assert len(senders.first_failure_after) >= 2  # both processes saw it
    assert max(senders.first_failure_after) < 5  # a refused connection fails fast; the person is not left waiting


async def test_dynamodb_paused_during_a_write_every_send_is_stored_once(
    private_dynamodb: DynamoDBLocal, private_cluster: Cluster, redis_url: str, record_property: Report
) -> None:
    """SIGSTOP for 6 s, just as a PutItem goes out: connections stay open and requests hang.

    botocore gives up on an attempt after 5 s (read timeout) and sends it again; when the server wakes it runs
    both in either order, so the first write may land unanswered and the retry's conditional write must recognise
    it ("already_stored" in the output) rather than store the message twice. A failing call would take about
    3 x 5 s here, so a 6 s stall ends as a slow send, not a failed one.
    """
    senders = await Senders.start(private_cluster, redis_url)
    paused = asyncio.Event()

    def pause_now() -> None:
        private_dynamodb.pause()
        paused.set()

    async def pause_during_a_put() -> None:
        senders.on_next_put = pause_now
        await paused.wait()
        try:
            await asyncio.sleep(6.0)
        finally:
            private_dynamodb.resume()

    took = await senders.run(pause_during_a_put)
    await senders.check(record_property, dynamodb_paused="6.0s", run=f"{took:.1f}s")
    assert senders.slowest_call >= 5.0, "no send was held up: the pause did not hit a call"

    # the retry of a write that landed, made certain: posting the same Message again stores nothing new ...
    node, session = senders.nodes[0], senders.sessions[0]
    mine = next(m for m in senders.sent if m.author_id == session.author_id)
    already = senders.put_results["already_stored"]
    assert await node.service.post(session, node.service.prepare(session, mine.text, nonce=mine.nonce)) == mine
    assert senders.put_results["already_stored"] == already + 1
    # ... and a different message under a nonce already used is refused rather than stored
    with pytest.raises(Conflict, match="already used"):
        await node.service.post(session, node.service.prepare(session, "another text", nonce=mine.nonce))
    assert [m.key for m in await stored(node.service)] == sorted(m.key for m in senders.sent)
