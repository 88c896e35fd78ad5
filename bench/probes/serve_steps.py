"""Where a serving load's time goes: runs bench/serve_load.py's clients scenario
(8 clients x 2 requests, 128 prompt + 64 generated tokens) against `tessera serve`
and prints the engine's own step counts and seconds from /metrics, by step kind
(docs/performance.md, "Why batched decode steps stay far from their compute rate").

  [TESSERA_BIN=BINARY] build/venv/bin/python bench/probes/serve_steps.py [POLICY] [extra serve args]

TESSERA_BIN picks the server binary (default build/tessera), e.g. a copy of an older build.
"""
import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import serve_load  # noqa: E402

policy = sys.argv[1] if len(sys.argv) > 1 else "fcfs"
server = serve_load.Server(os.environ.get("TESSERA_BIN", "build/tessera"), "build/bench-models/tinyllama-q4_k_m.gguf",
                           ["-t", "2", "--policy", policy, *sys.argv[2:]])
try:
    before = server.metrics()
    result = serve_load.run_clients(server, 8, 128, 64, 2, 1)
    after = server.metrics()
    print({k: round(v, 2) for k, v in result.items()})
    for name in sorted(after):
        if "step" in name and ("_sum" in name or "_count" in name or "total" in name):
            delta = after[name] - before.get(name, 0)
            if delta:
                print(name, round(delta, 3))
finally:
    server.stop()
