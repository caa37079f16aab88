"""The Redis layer against private servers: outages and recovery, ACL users, Sentinel, shards.

Every test here runs its own ``redis-server`` on a spare port and stops it itself; the shared
server is never stopped or reconfigured.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
import redis

from channels_core.exceptions import LayerUnavailable
from layers.redis import RedisChannelLayer
from tests.layers.redis_helpers import private_redis, private_sentinel
from tests.servers import free_port

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def prefix() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.mark.timeout(30)
def test_unreachable_server_fails_fast_naming_host_and_port() -> None:
    port = free_port()
    layer = RedisChannelLayer(f"redis://127.0.0.1:{port}/0", socket_connect_timeout=1)
    for call in (
        lambda: layer.send("c", {"x": 1}),
        lambda: layer.receive(["c"]),
        lambda: layer.receive(["c", "d!"]),
        lambda: layer.group_add("g", "c"),
        lambda: layer.flush(),
    ):
        started = time.monotonic()
        with pytest.raises(LayerUnavailable, match=f"127.0.0.1:{port}"):
            call()
        assert time.monotonic() - started < 5
    layer.close()


@pytest.mark.timeout(60)
def test_restart_fails_fast_then_recovers_by_itself() -> None:
    with private_redis() as server:
        layer = RedisChannelLayer(server.url, prefix=prefix(), socket_connect_timeout=1)
        layer.send("c", {"n": 1})
        assert layer.receive(["c"]) == ("c", {"n": 1})
        server.stop()
        started = time.monotonic()
        with pytest.raises(LayerUnavailable, match=f"127.0.0.1:{server.port}"):
            layer.send("c", {"n": 2})  # never returns as if sent
        with pytest.raises(LayerUnavailable):
            layer.receive(["c"], block=True)
        assert time.monotonic() - started < 10
        server.start()  # a new server: no data, no cached scripts (NOSCRIPT is handled)
        layer.send("c", {"n": 3})
        layer.group_add("g", "c")
        layer.send_group("g", {"n": 4})
        assert layer.receive(["c"]) == ("c", {"n": 3})
        assert layer.receive(["c"], block=True) == ("c", {"n": 4})

        async def after_restart() -> object:
            layer.send("c", {"n": 5})
            return await layer.receive_async(["c"])

        assert asyncio.run(after_restart()) == ("c", {"n": 5})
        layer.close()


@pytest.mark.timeout(60)
def test_async_receive_raises_unavailable_then_recovers() -> None:
    with private_redis() as server:
        layer = RedisChannelLayer(
            server.url, prefix=prefix(), socket_connect_timeout=1, blocking_timeout=1
        )

        async def scenario() -> object:
            layer.send("a", {"n": 1})
            assert await layer.receive_async(["a"]) == ("a", {"n": 1})
            server.stop()
            with pytest.raises(LayerUnavailable):
                await layer.receive_async(["a"])
            server.start()
            layer.send("a", {"n": 2})
            return await layer.receive_async(["a"])

        assert asyncio.run(scenario()) == ("a", {"n": 2})
        layer.close()


@pytest.mark.timeout(60)
def test_acl_user_and_password_from_the_url() -> None:
    acl = ["--user", "alice", "on", ">wonderland", "~*", "&*", "+@all"]
    with private_redis(acl) as server:
        url = f"redis://alice:wonderland@127.0.0.1:{server.port}/0"
        with RedisChannelLayer(url, prefix=prefix()) as layer:
            layer.send("c", {"ok": True})
            assert layer.receive(["c"]) == ("c", {"ok": True})
            assert "wonderland" not in repr(layer)
        bad = RedisChannelLayer(f"redis://alice:wrong@127.0.0.1:{server.port}/0")
        with pytest.raises(LayerUnavailable, match=f"127.0.0.1:{server.port}") as error:
            bad.send("c", {"x": 1})
        assert "wrong" not in str(error.value)
        bad.close()


@pytest.mark.timeout(60)
def test_sentinel_finds_the_master() -> None:
    with private_redis() as master, private_sentinel(master.port) as sentinel_port:
        url = f"redis+sentinel://127.0.0.1:{sentinel_port}/mymaster/0"
        with RedisChannelLayer(url, prefix=prefix()) as layer:
            layer.send("c", {"via": "sentinel"})
            layer.group_add("g", "c")
            assert layer.group_channels("g") == ["c"]
            assert layer.receive(["c"]) == ("c", {"via": "sentinel"})
        with RedisChannelLayer(
            sentinels=[f"127.0.0.1:{sentinel_port}"], service_name="mymaster", prefix=prefix()
        ) as layer:
            layer.send("c", {"via": "option"})
            assert layer.receive(["c"], block=True) == ("c", {"via": "option"})
        with RedisChannelLayer(
            f"redis+sentinel://127.0.0.1:{sentinel_port}/nosuchmaster", socket_timeout=1
        ) as layer:
            with pytest.raises(LayerUnavailable, match="nosuchmaster"):
                layer.send("c", {"x": 1})


@pytest.mark.timeout(60)
def test_sharding_spreads_channels_and_groups_over_servers() -> None:
    with private_redis() as first, private_redis() as second:
        hosts = [first.url, second.url]
        layer = RedisChannelLayer(hosts=hosts, prefix=prefix(), capacity=10)
        peer = RedisChannelLayer(hosts=hosts, prefix=layer.prefix)
        channels = [f"chan.{index}" for index in range(40)]
        bangs = [layer.new_channel("ws!") for _ in range(5)]
        for channel in channels + bangs:
            layer.group_add("everyone", channel)
        assert set(peer.group_channels("everyone")) == set(channels + bangs)
        layer.send_group("everyone", {"hello": 1})
        counts = [
            len(list(redis.Redis(port=server.port).scan_iter(match=layer.prefix + ":q:*")))
            for server in (first, second)
        ]
        assert all(counts) and sum(counts) == 41  # 40 plain queues + one inbox
        for channel in channels:
            assert peer.receive([channel, "idle"]) == (channel, {"hello": 1})
        inbox = bangs[0][: bangs[0].index("!") + 1]
        assert {layer.receive([inbox])[0] for _ in bangs} == set(bangs)
        stats = layer.global_statistics()
        assert stats["messages_count"] == 45 and stats["messages_pending"] == 0
        layer.send("chan.1", {"late": True})
        assert peer.receive(["chan.0", "chan.1"], block=True) == ("chan.1", {"late": True})
        layer.flush()
        assert peer.group_channels("everyone") == []
        layer.close()
        peer.close()


def _self_signed(directory: str) -> tuple[str, str]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = f"{directory}/cert.pem", f"{directory}/key.pem"
    with open(cert_path, "wb") as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as handle:
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return cert_path, key_path


@pytest.mark.timeout(60)
def test_tls_with_rediss_url(tmp_path: object) -> None:
    directory = str(tmp_path)
    cert, key = _self_signed(directory)
    tls_port = free_port()
    extra = [
        "--tls-port", str(tls_port), "--tls-cert-file", cert, "--tls-key-file", key,
        "--tls-ca-cert-file", cert, "--tls-auth-clients", "no",
    ]  # fmt: skip
    with private_redis(extra):
        url = f"rediss://127.0.0.1:{tls_port}/0?ssl_ca_certs={cert}"
        with RedisChannelLayer(url, prefix=prefix()) as layer:
            layer.send("secure", {"tls": True})
            assert layer.receive(["secure"]) == ("secure", {"tls": True})


@pytest.mark.timeout(60)
def test_unix_socket_url(tmp_path: object) -> None:
    socket_path = f"{tmp_path}/redis.sock"
    with private_redis(["--unixsocket", socket_path, "--unixsocketperm", "700"]):
        with RedisChannelLayer(f"unix://{socket_path}?db=0", prefix=prefix()) as layer:
            layer.send("local", {"unix": True})
            assert layer.receive(["local", "other"]) == ("local", {"unix": True})
            assert socket_path in repr(layer)


@pytest.mark.timeout(60)
def test_scripts_are_reloaded_after_script_flush() -> None:
    with private_redis() as server:
        with RedisChannelLayer(server.url, prefix=prefix()) as layer:
            layer.send("c", {"n": 1})
            redis.Redis(port=server.port).script_flush()
            layer.send("c", {"n": 2})  # NOSCRIPT: loaded again, sent once
            assert layer.receive(["c", "d"]) == ("c", {"n": 1})
            assert layer.receive(["c", "d"]) == ("c", {"n": 2})
            assert layer.receive(["c", "d"]) == (None, None)


@pytest.mark.timeout(60)
def test_round_trips_per_operation(monkeypatch: pytest.MonkeyPatch) -> None:
    from layers.redis.connection import Shard

    sent: list[bytes] = []
    original = Shard.execute

    def counting(self: Shard, *args: object) -> object:
        sent.append(args[0] if isinstance(args[0], bytes) else str(args[0]).encode())
        return original(self, *args)

    with private_redis() as server:
        with RedisChannelLayer(server.url, prefix=prefix(), capacity=2000) as layer:
            for index in range(1000):
                layer.group_add("big", f"m.{index}")
            # first calls also measure the server clock and load each script once
            layer.send("warm", {"x": 0})
            layer.send_group("warm-up", {"x": 0})
            layer.receive(["warm", "up"])
            monkeypatch.setattr(Shard, "execute", counting)
            layer.send_group("big", {"x": 1})
            assert sent == [b"EVALSHA"]  # 1,000 members, one round trip
            layer.send("one", {"x": 2})
            layer.receive(["one"])
            layer.receive(["one", "two", "three!"])
            assert sent == [b"EVALSHA", b"EVALSHA", b"LPOP", b"EVALSHA"]
            assert layer.receive(["m.999"]) == ("m.999", {"x": 1})


@pytest.mark.timeout(60)
def test_async_connection_reopened_after_restart_between_calls() -> None:
    with private_redis() as server:
        layer = RedisChannelLayer(
            server.url, prefix=prefix(), socket_connect_timeout=1, blocking_timeout=1
        )

        async def scenario() -> object:
            layer.send("a", {"n": 1})
            assert await layer.receive_async(["a"]) == ("a", {"n": 1})
            assert await layer.receive_async(["a", "b"]) == (None, None)  # scripts loaded
            server.stop()
            server.start()  # the loop's idle connection is now closed by the old server
            await asyncio.sleep(0.05)
            layer.send("a", {"n": 2})
            # stale connection noticed before use and reopened; NOSCRIPT reloads the script
            assert await layer.receive_async(["a", "b"]) == ("a", {"n": 2})
            layer.send("a", {"n": 3})
            return await layer.receive_async(["a"])

        assert asyncio.run(scenario()) == ("a", {"n": 3})
        layer.close()


@pytest.mark.timeout(30)
def test_async_unreachable_server_names_host_and_port() -> None:
    port = free_port()
    layer = RedisChannelLayer(f"redis://127.0.0.1:{port}/0", socket_connect_timeout=1)

    async def scenario() -> None:
        for channels in (["c"], ["c", "d!"]):
            with pytest.raises(LayerUnavailable, match=f"127.0.0.1:{port}"):
                await layer.receive_async(channels)

    asyncio.run(scenario())
    layer.close()
