"""Bounded waits for what happens asynchronously (the reactor, a job, a
daemon's heartbeat): poll, never sleep a fixed time."""

import time


def wait_until(predicate, timeout, what, interval=0.5):
    """Call ``predicate`` until it returns something true, and return that;
    after ``timeout`` seconds raise TimeoutError naming ``what`` was awaited
    (and the last value seen)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout} s for {what}; last seen: {value!r}")
        time.sleep(interval)
