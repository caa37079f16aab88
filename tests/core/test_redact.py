"""Passwords never reach logs, errors, ``channels-core check`` or the benchmark's report."""

from __future__ import annotations

import pytest

from channels_core.cli import main
from channels_core.exceptions import ImproperlyConfigured
from channels_core.urls import redact, redact_value, scrub
from tests.servers import free_port

SECRET = "s3cretPW"


@pytest.mark.parametrize(
    "text",
    [
        f"redis://user:{SECRET}@127.0.0.1:6379/0",
        f"redis://127.0.0.1:6379/0?password={SECRET}",
        f"redis://127.0.0.1:6379/0?db=1&password={SECRET}&socket_timeout=1",
        f"redis+sentinel://h1:26379,h2:26379/mymaster?sentinel_password={SECRET}",
        f"rediss://:{SECRET}@h/0?ssl_keyfile_password={SECRET}",
        f"postgresql://user:{SECRET}@127.0.0.1/test?sslpassword={SECRET}",
        f"amqp://guest:{SECRET}@127.0.0.1:5672/%2F",
        f"host=127.0.0.1 user=app password={SECRET} dbname=test",
        f"host=127.0.0.1 password = '{SECRET} with spaces' dbname=test",
        f"connecting to redis://a:{SECRET}@h failed, then postgresql://b:{SECRET}@k too",
        f"redis://:{SECRET}@with@at@host/0",
    ],
)
def test_redact_masks_every_password(text: str) -> None:
    redacted = redact(text)
    assert SECRET not in redacted
    assert "***" in redacted


def test_redact_keeps_everything_else() -> None:
    assert redact("redis://u:p@h:1/0?db=2") == "redis://u:***@h:1/0?db=2"
    assert redact("host=h port=5 dbname=x") == "host=h port=5 dbname=x"
    assert redact("memory://?capacity=5") == "memory://?capacity=5"


def test_scrub_masks_a_raw_token_quoted_by_a_client_library() -> None:
    url = "postgresql://user:s3cret%zz@127.0.0.1/test"
    assert "s3cret" not in scrub('invalid percent-encoded token: "s3cret%zz"', url)


def test_postgres_parse_errors_never_quote_the_password() -> None:
    from layers.postgres import PostgresChannelLayer

    with pytest.raises(ImproperlyConfigured) as caught:
        PostgresChannelLayer("postgresql://user:s3cret%zz@127.0.0.1/test")
    assert "s3cret" not in str(caught.value)


def test_check_never_prints_a_password(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    main(["check", "--layer", f"redis://127.0.0.1:{port}/0?password={SECRET}"])
    main(["check", "--layer", f"postgresql://user:{SECRET}%zz@127.0.0.1:{port}/test"])
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err


def test_redact_value_masks_configuration_dicts() -> None:
    config = {
        "hosts": [{"address": "redis://h:6379", "password": SECRET}, f"redis://:{SECRET}@h"],
        "sentinel_kwargs": {"password": SECRET},
        "url": f"host=h password={SECRET}",
        "capacity": 5,
    }
    redacted = redact_value(config)
    assert SECRET not in repr(redacted)
    assert redacted["capacity"] == 5 and redacted["hosts"][0]["address"] == "redis://h:6379"
