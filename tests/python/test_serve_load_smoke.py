"""bench/serve_load.py --short runs end to end for both policies (the benchmark
itself is not a timed test: this only checks that it completes and reports)."""
import json
import math
import subprocess
import sys

from conftest import REPO, tessera_binary


def test_serve_load_short(small_serve_model, tmp_path):
    out = tmp_path / "load.json"
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "serve_load.py"), "--short", "-m",
                           str(small_serve_model), "--binary", str(tessera_binary()), "-t", "2", "--json", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = json.loads(out.read_text())["runs"]
    assert [(r["policy"], r["scenario"], r.get("clients")) for r in runs] == [
        ("fcfs", "clients", 1), ("fcfs", "clients", 4), ("fcfs", "arrivals", None),
        ("fair", "clients", 1), ("fair", "clients", 4), ("fair", "arrivals", None)]
    for r in runs:
        if r["scenario"] == "clients":
            assert r["requests"] == r["clients"] and 0 < r["generated_tokens"] <= 8 * r["requests"]
            assert r["gen_tok_s"] > 0 and math.isfinite(r["ttft_p50_ms"])
        else:
            assert r["arrivals"] == 2 and r["gaps_before"] + r["gaps_during"] > 0
