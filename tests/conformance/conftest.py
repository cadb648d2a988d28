"""The conformance tier's result line, printed at the end of the run where CI logs keep it."""
from __future__ import annotations

RESULT_LINES: list[str] = []


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    for line in RESULT_LINES:
        terminalreporter.write_line(line)
