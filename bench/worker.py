"""The worker process: builds one driver, then runs the roles its parent asks for.

A worker keeps one event loop for its whole life (some peers bind their connections to the
loop they were created on) and answers every command on its pipe with a dict. Errors inside a
role come back as ``{"error": "..."}``; the parent bounds every wait for an answer and kills a
worker that does not answer in time.

Commands: ``{"op": "role", "role": name, "params": {...}, "tag": run_tag}`` runs one role;
``{"op": "pair", "roles": [first, second], ...}`` runs both roles of a workload inside this
worker (threads or tasks, for in-process layers); ``{"op": "stop"}`` closes the driver and
exits.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import warnings
from multiprocessing.connection import Connection
from typing import Any

from .drivers import Driver
from .mailbox import Mailbox
from .workloads import ROLES


def describe(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


async def run_role(driver: Driver, role: str, params: dict[str, Any], mail: Mailbox) -> dict:
    try:
        return await ROLES[role](driver, params, mail)
    except Exception as error:  # reported in the table, the run goes on
        return {"error": describe(error)}


def _run_pair_in_threads(
    driver: Driver, roles: list[str], params: dict[str, Any], tag: str
) -> list[dict[str, Any]]:
    first: queue.Queue[Any] = queue.Queue()
    second: queue.Queue[Any] = queue.Queue()
    mails = [Mailbox(second, first, tag), Mailbox(first, second, tag)]
    results: list[dict[str, Any]] = [{"error": "did not finish"}, {"error": "did not finish"}]

    def side(index: int) -> None:
        results[index] = asyncio.run(run_role(driver, roles[index], params, mails[index]))

    threads = [threading.Thread(target=side, args=(index,), daemon=True) for index in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(
            float(params["cap"]) + float(params["drain"]) + float(params["ready_timeout"]) + 10
        )
    return results


async def _run_pair_as_tasks(
    driver: Driver, roles: list[str], params: dict[str, Any], tag: str
) -> list[dict[str, Any]]:
    first: queue.Queue[Any] = queue.Queue()
    second: queue.Queue[Any] = queue.Queue()
    return list(
        await asyncio.gather(
            run_role(driver, roles[0], params, Mailbox(second, first, tag)),
            run_role(driver, roles[1], params, Mailbox(first, second, tag)),
        )
    )


def worker_main(
    factory_path: str,
    options: dict[str, Any],
    conn: Connection,
    inbox: Any,
    outbox: Any,
) -> None:
    """Entry point of a worker process (multiprocessing ``spawn``)."""
    from channels_core.loading import import_object

    logging.basicConfig(level=logging.CRITICAL)
    warnings.simplefilter("ignore")
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        factory = import_object(factory_path)
        driver: Driver = loop.run_until_complete(asyncio.wait_for(factory(options), 60))
    except BaseException as error:
        conn.send({"error": describe(error)})
        return
    conn.send({"ok": True, "info": driver.info()})
    try:
        while True:
            command = conn.recv()
            op = command["op"]
            if op == "stop":
                break
            params, tag = command["params"], command["tag"]
            if op == "role":
                mail = Mailbox(inbox, outbox, tag)
                conn.send(loop.run_until_complete(run_role(driver, command["role"], params, mail)))
            elif op == "pair" and driver.topology == "threads":
                conn.send(_run_pair_in_threads(driver, command["roles"], params, tag))
            elif op == "pair":
                conn.send(
                    loop.run_until_complete(
                        _run_pair_as_tasks(driver, command["roles"], params, tag)
                    )
                )
            elif op == "cleanup":
                loop.run_until_complete(asyncio.wait_for(driver.cleanup(), 30))
                conn.send({"ok": True})
    except (EOFError, KeyboardInterrupt):
        pass
    finally:
        try:
            loop.run_until_complete(asyncio.wait_for(driver.close(), 10))
        except BaseException:  # closing is best effort: the process exits anyway
            pass
