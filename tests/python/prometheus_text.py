"""Prometheus text exposition parsing shared by the serving tests and
bench/serve_load.py (no dependencies, so the benchmark can import it)."""


def parse_metrics(text):
    """{"name{labels}": value} of every sample line of a /metrics body."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out
