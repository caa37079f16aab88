"""What is specific to the RabbitMQ layer, against the shared broker (unique prefixes)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from channels_core.exceptions import ChannelFull, ImproperlyConfigured, LayerUnavailable
from channels_core.loading import load_layer
from layers.rabbitmq import RabbitMQChannelLayer, ledger
from layers.rabbitmq import consumer as rabbitmq_consumer
from tests.factories import layer_factory
from tests.layers import rabbitmq_helpers as helpers
from tests.servers import free_port

pytestmark = pytest.mark.rabbitmq

Factory = Callable[..., RabbitMQChannelLayer]


@pytest.fixture
def make(rabbitmq_url: str, unique_prefix: str) -> Iterator[Factory]:
    def build(**options: Any) -> RabbitMQChannelLayer:
        return RabbitMQChannelLayer(rabbitmq_url, **options)

    with layer_factory(build, unique_prefix) as factory:
        yield factory


# -- options ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, -1, 65536, 10**6, True, 1.5, "100"])
def test_prefetch_out_of_range_is_refused_naming_the_option(value: object) -> None:
    with pytest.raises(ImproperlyConfigured, match=r"^prefetch .*65535"):
        RabbitMQChannelLayer(prefetch=value)


def test_prefetch_in_a_url_is_checked_too(rabbitmq_url: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=r"'prefetch'.*65535"):
        load_layer(rabbitmq_url + "?prefetch=65536")
    layer = load_layer(rabbitmq_url + "?prefetch=65535&heartbeat=10")
    try:
        assert isinstance(layer, RabbitMQChannelLayer)
        assert layer.prefetch == 65535 and layer.heartbeat == 10
    finally:
        layer.close()


def test_bad_options_are_refused_naming_them() -> None:
    with pytest.raises(ImproperlyConfigured, match="not a RabbitMQ URL"):
        RabbitMQChannelLayer("redis://127.0.0.1:6379/0")
    with pytest.raises(ImproperlyConfigured, match="'bogus'"):
        load_layer("amqp://guest:guest@127.0.0.1:5672/%2F?bogus=1")
    with pytest.raises(ImproperlyConfigured, match="queue_expires must exceed expiry"):
        RabbitMQChannelLayer(expiry=60, queue_expires=30)
    with pytest.raises(ImproperlyConfigured, match=r"amq\."):
        RabbitMQChannelLayer(prefix="amq.mine")


def test_url_gives_credentials_vhost_and_tls() -> None:
    layer = RabbitMQChannelLayer("amqps://user:secret@broker.example:5671/my-vhost")
    try:
        params = layer._params
        assert (params.host, params.port, params.virtual_host) == (
            "broker.example",
            5671,
            "my-vhost",
        )
        assert params.credentials.username == "user" and params.ssl_options is not None
        assert "secret" not in repr(layer)
    finally:
        layer.close()


@pytest.mark.timeout(30)
def test_unreachable_broker_fails_fast_naming_host_and_port() -> None:
    port = free_port()
    layer = RabbitMQChannelLayer(f"amqp://guest:guest@127.0.0.1:{port}/%2F", connect_timeout=2)
    try:
        for call in (
            lambda: layer.send("c", {}),
            lambda: layer.receive(["c"]),
            lambda: layer.group_add("g", "c"),
            lambda: layer.flush(),
        ):
            started = time.monotonic()
            with pytest.raises(LayerUnavailable, match=f"127.0.0.1:{port}"):
                call()
            assert time.monotonic() - started < 5
    finally:
        layer.close()


# -- groups -----------------------------------------------------------------------------------


def test_group_send_reaches_every_member_of_one_inbox_beyond_capacity(make: Factory) -> None:
    """One entry per inbox: 300 ! members of one process, capacity 100, all get it."""
    layer = make(capacity=100)
    members = [layer.new_channel("fan!") for _ in range(300)]
    for member in members:
        layer.group_add("crowd", member)
    layer.send_group("crowd", {"to": "all"})
    inbox = members[0][: members[0].index("!") + 1]
    got = []
    while True:
        channel, _ = layer.receive([inbox], block=True)
        if channel is None:
            break
        got.append(channel)
    assert sorted(got) == sorted(members)


def test_a_discarded_process_member_gets_no_more_group_messages(make: Factory) -> None:
    layer = make()
    stay, leave = layer.new_channel("room!"), layer.new_channel("room!")
    inbox = stay[: stay.index("!") + 1]
    layer.group_add("room", stay)
    layer.group_add("room", leave)
    layer.group_discard("room", leave)
    layer.send_group("room", {"n": 1})
    assert layer.receive([inbox], block=True) == (stay, {"n": 1})
    assert layer.receive([inbox]) == (None, None)


def test_own_memberships_are_known_without_roster_records(
    make: Factory, rabbitmq_url: str, unique_prefix: str
) -> None:
    layer = make()
    member = layer.new_channel("own!")
    inbox = member[: member.index("!") + 1]
    layer.group_add("mine", member)
    roster = f"{unique_prefix}:#roster.{inbox}"
    assert helpers.queue_depth(rabbitmq_url, roster) == 0  # nothing to read back
    layer.send_group("mine", {"n": 1})
    assert layer.receive([inbox], block=True) == (member, {"n": 1})


def test_the_newest_membership_change_wins_whoever_made_it(make: Factory) -> None:
    """Another object's add goes through the roster queue, the owner's discard does not:
    the later one counts, either way round."""
    owner, other = make(), make()
    member = owner.new_channel("mixed!")
    inbox = member[: member.index("!") + 1]
    other.group_add("g", member)
    owner.group_discard("g", member)
    other.send_group("g", {"n": 1})
    assert owner.receive([inbox], block=True) == (None, None)
    other.group_add("g", member)
    other.send_group("g", {"n": 2})
    assert owner.receive([inbox], block=True) == (member, {"n": 2})


@pytest.mark.parametrize("changer", ["owner", "other"])
def test_a_group_entry_goes_to_the_members_at_its_send_time(make: Factory, changer: str) -> None:
    """The inbox's owner fans an entry out when it drains it, later than the send: a member
    added after the send gets nothing of it, one discarded after the send still gets it
    (whether the owner or another object made the changes). The stateful conformance clause
    caught the first: a '!' channel added to a group received the group's earlier messages."""
    owner = make()
    other = owner if changer == "owner" else make()
    early, late = owner.new_channel("when!"), owner.new_channel("when!")
    inbox = early[: early.index("!") + 1]
    other.group_add("g", early)
    other.send_group("g", {"n": 1})
    other.group_add("g", late)
    other.group_discard("g", early)
    assert owner.receive([inbox], block=True) == (early, {"n": 1})
    assert owner.receive([inbox]) == (None, None)
    other.send_group("g", {"n": 2})
    assert owner.receive([inbox], block=True) == (late, {"n": 2})
    assert owner.receive([inbox]) == (None, None)


def test_a_roster_backlog_is_read_before_a_group_entry_is_fanned_out(make: Factory) -> None:
    """Memberships another object made reach the owner through its roster queue; an owner
    that starts receiving after the group send waits for the whole backlog first."""
    owner, other = make(), make()
    members = [owner.new_channel("late!") for _ in range(300)]
    for member in members:
        other.group_add("backlog", member)
    other.send_group("backlog", {"n": 1})
    inbox = members[0][: members[0].index("!") + 1]
    got = []
    while True:
        channel, _ = owner.receive([inbox], block=True)
        if channel is None:
            break
        got.append(channel)
    assert sorted(got) == sorted(members)


def test_another_process_sees_group_members(make: Factory) -> None:
    adder, reader = make(), make()
    adder.group_add("shared", "one")
    adder.group_add("shared", "two!x")
    assert reader.group_channels("shared") == ["one", "two!x"]
    reader.send_group("shared", {"hi": True})
    assert adder.receive(["one"]) == ("one", {"hi": True})
    assert adder.receive(["two!"]) == ("two!x", {"hi": True})


def _group_message_reaches_members_added_while(
    make: Factory, count: int, in_flight: Callable[[Any], None]
) -> None:
    """A worker adds ``count`` members of a server's inbox to a group while the server does
    no I/O on its receiving connection (so the roster records stay in flight), and
    ``in_flight(receiver)`` runs then; one group send must still reach every member."""
    server, worker = make(blocking_timeout=0.5), make()
    inbox = "srv!"
    assert server.receive([inbox], block=True) == (None, None)  # starts the inbox's consumers
    members = [f"{inbox}m{index}" for index in range(count)]
    receiver = server._receiver
    with receiver.lock:
        for member in members:
            worker.group_add("crowd", member)
        in_flight(receiver)
    worker.send_group("crowd", {"to": "all"})
    got = []
    while True:
        channel, _ = server.receive([inbox], block=True)
        if channel is None:
            break
        got.append(channel)
    assert sorted(got) == sorted(members)


def test_memberships_in_flight_when_an_idle_inbox_consumer_is_cancelled_are_kept(
    make: Factory,
) -> None:
    """A server process (daphne) pauses between receives; its idle inbox consumer is cancelled
    while roster records of group_adds from a worker are still on their way. Those records
    come back from the cancel, not through the callback: they must still count (else the
    member gets no group message at all)."""
    _group_message_reaches_members_added_while(
        make, 10, lambda receiver: receiver.release_idle(idle=0.0)
    )


def test_roster_records_in_flight_when_the_receiving_connection_drops_are_kept(
    make: Factory,
) -> None:
    """Roster records pushed to a process but not yet read when its receiving connection is
    dropped (what a failed call does, ``Link.failed``) reach it after it reconnects: the
    broker gives them back, so the members they name still get group messages."""

    def drop_connection(receiver: Any) -> None:
        time.sleep(0.2)  # the records are pushed to the connection, unread
        receiver._link.close()

    _group_message_reaches_members_added_while(make, 5, drop_connection)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_concurrent_ledger_readers_each_see_every_record(make: Factory) -> None:
    """Readers of other processes take the ledger in turn, each right as the previous one lets
    go: each must find every record. Returning the records by closing the channel left them
    held by the closing channel for a moment after its consumer was cancelled, and a reader
    that came in then found only its own marker (group_channels answered [])."""
    members = ["a", "b.c", "x!y"]
    adder = make()
    for member in members:
        adder.group_add("g", member)
    readers = [make() for _ in range(4)]
    wrong: list[list[str]] = []
    start = threading.Barrier(len(readers))

    def read(layer: RabbitMQChannelLayer) -> None:
        start.wait()
        for _ in range(100):
            got = layer.group_channels("g")
            if got != members:
                wrong.append(got)

    threads = [threading.Thread(target=read, args=(layer,)) for layer in readers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
    assert adder.group_channels("g") == members


def test_concurrent_group_sends_of_a_fresh_process_read_the_ledger_once(
    make: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten threads of a new process send to a group at once: one ledger read serves them all
    (reads are serialized across the prefix; ten in a row outlasted the read timeout)."""
    adder, sender = make(), make()
    for index in range(10):
        adder.group_add("crowd", f"member{index}")
    reads = []
    real_read = ledger.read

    def counted_read(*args: Any) -> Any:
        reads.append(1)
        return real_read(*args)

    monkeypatch.setattr(ledger, "read", counted_read)
    start = threading.Barrier(10)

    def send(number: int) -> None:
        start.wait()
        sender.send_group("crowd", {"n": number})

    threads = [threading.Thread(target=send, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(reads) == 1
    got = Counter(adder.receive([f"member{i}"])[1]["n"] for i in range(10) for _ in range(10))
    assert got == Counter({n: 10 for n in range(10)})


# -- flush, cleanup -----------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_flush_removes_what_another_process_declared(
    make: Factory, rabbitmq_url: str, unique_prefix: str
) -> None:
    spawn = multiprocessing.get_context("spawn")
    results = spawn.Queue()
    child = spawn.Process(
        target=helpers.child_populate, args=(rabbitmq_url, unique_prefix, results), daemon=True
    )
    child.start()
    status, value = results.get(timeout=90)
    child.join(30)
    assert status == "ok", value
    single, process = value
    inbox = process[: process.index("!") + 1]
    ns = unique_prefix + ":"
    declared = [ns + "child.plain", ns + single, ns + inbox, ns + "hand!"]
    assert all(helpers.queue_exists(rabbitmq_url, queue) for queue in declared)
    assert helpers.exchange_exists(rabbitmq_url, ns + "#g.child.room")

    flusher = make()  # a fresh object that never touched any of them
    flusher.flush()
    for queue in [*declared, ns + "#ledger", ns + "#roster.hand!", ns + "#expired"]:
        assert not helpers.queue_exists(rabbitmq_url, queue), f"{queue} survived flush"
    assert not helpers.exchange_exists(rabbitmq_url, ns + "#g.child.room")
    assert flusher.group_channels("child.room") == []
    assert flusher.receive(["child.plain", single, "hand!"]) == (None, None)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_no_queue_leaks_after_many_new_channel_and_close_cycles(
    rabbitmq_url: str, unique_prefix: str
) -> None:
    for cycle in range(30):
        with RabbitMQChannelLayer(rabbitmq_url, prefix=unique_prefix) as layer:
            process = layer.new_channel("cycle!")
            layer.send(process, {"cycle": cycle})
            assert layer.receive([process[: process.index("!") + 1]], block=True)[0] == process
    with RabbitMQChannelLayer(rabbitmq_url, prefix=unique_prefix) as layer:
        layer.send("plain", {})
        layer.flush()
    assert helpers.listed_queues(unique_prefix) == []


# -- concurrency ------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_four_receiver_processes_no_duplicate_and_no_loss(
    make: Factory, rabbitmq_url: str, unique_prefix: str
) -> None:
    count = 2000
    sender = make(capacity=count + 10)
    sender.send("work", {"i": -1})  # declares the queue with room for everything
    assert sender.receive(["work"])[1] == {"i": -1}
    spawn = multiprocessing.get_context("spawn")
    start, results = spawn.Event(), spawn.Queue()
    children = [
        spawn.Process(
            target=helpers.child_receive,
            args=(rabbitmq_url, unique_prefix, "work", start, results, 5.0),
            daemon=True,
        )
        for _ in range(4)
    ]
    for child in children:
        child.start()
    try:
        for index in range(count):
            sender.send("work", {"i": index})
        start.set()
        got: list[int] = []
        shares = []
        for _ in children:
            status, value = results.get(timeout=200)
            assert status == "ok", value
            got.extend(value)
            shares.append(len(value))
    finally:
        for child in children:
            child.join(20)
            if child.is_alive():
                child.kill()
    counts = Counter(got)
    assert [i for i, n in counts.items() if n > 1] == [], "delivered twice"
    assert sorted(set(range(count)) - set(counts)) == [], "lost"
    assert sum(1 for share in shares if share) >= 2, f"one receiver took all: {shares}"


def test_capacity_is_exceeded_by_at_most_one_prefetch_per_receiver(make: Factory) -> None:
    """x-max-length counts ready messages only: an active receiver's unacknowledged
    prefetch (min(prefetch, capacity)) comes on top, and no more."""
    sender, receiver = make(capacity=5), make(capacity=5, prefetch=2)
    sender.send("bound", {"i": -1})
    assert receiver.receive(["bound"], block=True) == ("bound", {"i": -1})  # stays consuming
    stored = 0
    with pytest.raises(ChannelFull):
        for index in range(20):
            sender.send("bound", {"i": index})
            stored += 1
    # 7 while the receiver's consumer lives (it is cancelled 0.5 s after its last receive,
    # which a very slow run may reach: its prefetch then goes back and counts again).
    assert 5 <= stored <= 5 + 2


def test_a_non_blocking_receive_leaves_the_capacity_exact(make: Factory) -> None:
    """What a non-blocking receive's consumer was pushed and did not hand out goes back to
    the queue, where it counts against capacity again."""
    layer = make(capacity=3)
    for n in range(3):
        layer.send("exact", {"n": n})
    assert layer.receive(["exact"]) == ("exact", {"n": 0})
    layer.send("exact", {"n": 3})
    with pytest.raises(ChannelFull):
        layer.send("exact", {"n": 4})
    assert [layer.receive(["exact"])[1] for _ in range(4)] == [{"n": n} for n in (1, 2, 3)] + [None]


def test_prefetched_messages_go_back_when_a_receiver_closes(make: Factory) -> None:
    first, second = make(prefetch=50), make()
    for index in range(20):
        first.send("handoff", {"i": index})
    assert first.receive(["handoff"]) == ("handoff", {"i": 0})  # the rest is pushed to it
    first.close()
    got = []
    while True:
        channel, message = second.receive(["handoff"], block=True)
        if channel is None:
            break
        got.append(message["i"])
    assert got == list(range(1, 20))


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_heartbeats_flow_while_the_application_works_between_receives(make: Factory) -> None:
    layer = make(heartbeat=1)
    layer.send("busy", {"n": 1})
    assert layer.receive(["busy"]) == ("busy", {"n": 1})
    generation = layer._receiver._link.generation
    time.sleep(5)  # "user code": no call into the layer; the broker would drop a silent peer
    layer.send("busy", {"n": 2})
    assert layer.receive(["busy"], block=True) == ("busy", {"n": 2})
    assert layer._receiver._link.generation == generation, "the connection was lost"


# -- sessions ---------------------------------------------------------------------------------


def test_session_store_round_trip_and_shared_between_objects(make: Factory) -> None:
    first, second = make(), make()
    store = first.session_store()
    assert store.load("abc") is None
    store.save("abc", {"user": 1, "data": b"\x00"}, ttl=60)
    store.save("abc", {"user": 2}, ttl=60)
    assert store.load("abc") == {"user": 2}
    assert second.session_store().load("abc") == {"user": 2}
    store.delete("abc")
    assert second.session_store().load("abc") is None


# -- event loops --------------------------------------------------------------------------------


class _NoExecutor(concurrent.futures.ThreadPoolExecutor):
    """An event loop's default executor that refuses work: what runs, runs on the loop."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"{fn!r} was sent to a worker thread")


def test_async_sends_and_receives_of_a_busy_channel_stay_on_the_loop(make: Factory) -> None:
    layer = make()

    async def scenario() -> list[int]:
        await layer.send_async("busy", {"n": -1})  # declares the queue (on a worker thread)
        assert await layer.receive_async(["busy"]) == ("busy", {"n": -1})  # starts a consumer
        asyncio.get_running_loop().set_default_executor(_NoExecutor())
        for n in range(20):
            await layer.send_async("busy", {"n": n})
        received = []
        for _ in range(20):
            channel, message = await layer.receive_async(["busy"])
            assert channel == "busy" and message is not None
            received.append(message["n"])
        return received

    assert asyncio.run(scenario()) == list(range(20))


def test_async_new_channels_of_a_known_inbox_stay_on_the_loop(make: Factory) -> None:
    """Only the first name of an inbox connects the receiver (a worker thread); the next
    ones are noted on the loop, and each is still one of this object's inboxes."""
    layer = make()

    async def scenario() -> list[str]:
        first = await layer.new_channel_async("reply!")
        asyncio.get_running_loop().set_default_executor(_NoExecutor())
        return [first] + [await layer.new_channel_async("reply!") for _ in range(5)]

    names = asyncio.run(scenario())
    assert len(set(names)) == 6
    assert {name[: name.index("!") + 1] for name in names} == layer._own_inboxes


def test_concurrent_async_sends_to_a_full_queue_each_learn_their_own_outcome(
    make: Factory,
) -> None:
    layer = make(capacity=10)
    layer.send("full", {"n": -1})

    async def scenario() -> list[BaseException | None]:
        sends = [layer.send_async("full", {"n": n}) for n in range(30)]
        return list(await asyncio.gather(*sends, return_exceptions=True))

    outcomes = asyncio.run(scenario())
    assert all(outcome is None or isinstance(outcome, ChannelFull) for outcome in outcomes)
    stored = [n for n, outcome in enumerate(outcomes) if outcome is None]
    assert len(stored) == 9
    received = [layer.receive(["full"], block=True)[1] for _ in range(10)]
    assert received[0] == {"n": -1}
    assert sorted(message["n"] for message in received[1:] if message) == stored
    assert layer.receive(["full"]) == (None, None)


def test_concurrent_async_sends_to_deleted_queues_declare_them_again(make: Factory) -> None:
    layer = make()
    names = [f"gone{n}" for n in range(5)]
    for name in names:
        layer.send(name, {"n": -1})
    make().flush()  # another process deletes every queue of the prefix

    async def scenario() -> None:
        await asyncio.gather(*(layer.send_async(name, {"n": 1}) for name in names * 2))

    asyncio.run(scenario())
    for name in names:
        assert [layer.receive([name], block=True)[1] for _ in range(2)] == [{"n": 1}] * 2


@pytest.mark.parametrize("pump_interval", [None, 0.0], ids=["pump-default", "pump-contending"])
def test_an_async_receive_waiting_on_the_loop_wakes_for_a_send_of_another_process(
    make: Factory, monkeypatch: pytest.MonkeyPatch, pump_interval: float | None
) -> None:
    """The wait stays on the loop, even while the receiver's pump thread takes the
    connection as often as it can (it did go to a worker thread whenever the two met)."""
    if pump_interval is not None:
        monkeypatch.setattr(rabbitmq_consumer, "PUMP_INTERVAL", pump_interval)
    layer, other = make(blocking_timeout=1.5), make()

    async def scenario() -> tuple[Any, float]:
        assert await layer.receive_async(["wake"]) == (None, None)  # starts its consumer
        asyncio.get_running_loop().set_default_executor(_NoExecutor())
        started = time.monotonic()
        receive = asyncio.ensure_future(layer.receive_async(["wake"]))
        await asyncio.sleep(0.2)
        assert not receive.done()
        with concurrent.futures.ThreadPoolExecutor(1) as pool:  # another process, as it were
            await asyncio.get_running_loop().run_in_executor(pool, other.send, "wake", {"n": 1})
        return await receive, time.monotonic() - started

    received, took = asyncio.run(scenario())
    assert received == ("wake", {"n": 1}) and took < 1.0
