"""The chat example in a real browser: headless Chromium (Debian's ``chromium``, driven by the
``playwright`` package; nothing downloads a browser) against uvicorn serving the bridge, with a
worker running ``examples.chat``, on every network backend. Two pages in one room see each
other's messages, and a page that leaves is announced to the other.

``CHAT_SCREENSHOT=docs/chat.png`` saves a screenshot of the first page (the README's).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests import servers
from tests.web import processes
from tests.web.backends import network_backend_names, server_url, with_prefix
from tests.web.clients import wait_until_served

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = servers.require_program(CHROMIUM, "chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(params=network_backend_names())
def chat_port(request: pytest.FixtureRequest) -> Iterator[int]:
    url = with_prefix(server_url(request, request.param), f"chat-{uuid.uuid4().hex[:10]}")
    port = processes.new_port()
    started = [
        processes.worker(url, "examples.chat.routing.channel_routing"),
        processes.uvicorn_bridge(url, port),
    ]
    with processes.running(started, port=port):
        wait_until_served(port, "/")
        yield port


def join(page: Page, port: int, name: str, room: str) -> None:
    page.goto(f"http://127.0.0.1:{port}/")
    page.fill("#name", name)
    page.fill("#room", room)
    page.click("#join")
    expect(page.locator("#status")).to_have_text(f"In room {room}.", timeout=15_000)


def say(page: Page, text: str) -> None:
    page.fill("#text", text)
    page.click("#send")


def test_two_pages_in_one_room_see_each_others_messages(browser: Browser, chat_port: int) -> None:
    room = f"room-{uuid.uuid4().hex[:6]}"
    alice = browser.new_page(viewport={"width": 900, "height": 640})
    bob = browser.new_page()
    log_a, log_b = alice.locator("#log li"), bob.locator("#log li")
    join(alice, chat_port, "alice", room)
    join(bob, chat_port, "bob", room)
    expect(log_a.filter(has_text=f"bob joined {room}")).to_have_count(1, timeout=15_000)

    say(alice, "hello from alice")
    expect(log_b.filter(has_text="alice: hello from alice")).to_have_count(1, timeout=15_000)
    say(bob, "hi alice, bob here")
    expect(log_a.filter(has_text="bob: hi alice, bob here")).to_have_count(1, timeout=15_000)
    expect(log_b.filter(has_text="bob: hi alice, bob here")).to_have_count(1, timeout=15_000)

    # Another room hears nothing of this one.
    carol = browser.new_page()
    join(carol, chat_port, "carol", f"{room}-other")
    say(alice, "only for this room")
    expect(log_b.filter(has_text="only for this room")).to_have_count(1, timeout=15_000)
    expect(carol.locator("#log li.message")).to_have_count(0)

    screenshot = os.environ.get("CHAT_SCREENSHOT")
    if screenshot:
        alice.screenshot(path=screenshot)

    bob.click("#leave")
    expect(bob.locator("#status")).to_have_text("Not in a room.", timeout=15_000)
    expect(log_a.filter(has_text=f"bob left {room}")).to_have_count(1, timeout=15_000)
    for page in (alice, bob, carol):
        page.close()
