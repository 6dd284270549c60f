"""The no-op job function the RQ workers import (bench/dispatch is on their PYTHONPATH)."""


def noop(*args, **kwargs):
    return None


def sleep_ms(ms, *args, **kwargs):
    """The limit-bound case's job: sleeps `ms` milliseconds (run.sh --job-ms)."""
    import time
    time.sleep(ms / 1000)
    return None
