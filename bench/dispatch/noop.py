"""The no-op job function the RQ workers import (bench/dispatch is on their PYTHONPATH)."""


def noop(*args, **kwargs):
    return None
