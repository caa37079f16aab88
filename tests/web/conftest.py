"""Web tests: a failing test's report carries the logs of the servers and workers it ran."""

from __future__ import annotations

from collections.abc import Generator

import pytest

from tests.web import processes

#: The end of each log that a report shows (characters).
LOG_TAIL = 20_000


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call" and report.failed:
        for process in processes.live:
            report.sections.append((f"{process.name} log", process.output()[-LOG_TAIL:]))
    return report
