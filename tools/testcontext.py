"""A coverage.py plugin for `make mutate`: each line is attributed to the pytest test running
when it ran, in the test's process and in every process the test starts (the command line, the
page's server), from the PYTEST_CURRENT_TEST variable pytest sets and children inherit."""

from __future__ import annotations

import os

from coverage import CoveragePlugin


class TestContext(CoveragePlugin):
    def dynamic_context(self, frame):  # type: ignore[no-untyped-def]
        test = os.environ.get("PYTEST_CURRENT_TEST")
        return test.rsplit(" (", 1)[0] if test else None


def coverage_init(reg, options):  # type: ignore[no-untyped-def]
    reg.add_dynamic_context(TestContext())
