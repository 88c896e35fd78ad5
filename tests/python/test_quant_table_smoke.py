"""bench/quant_table.py runs end to end on a small model (the table itself is a
benchmark on the default model, docs/quantization.md): a tessera row, the same
model under a 4-bit activation grid (plain and clipped) and with float
activations (which reuse the row's file), a Hadamard-rotated F16 model, the Q4_K_M
mix and a llama.cpp anchor, each with its KL against the F16 baseline."""
import json
import subprocess
import sys

import model_fixtures
from conftest import REPO, tessera_binary


def test_quant_table_short(tmp_path, wiki_test_path):
    model = model_fixtures.build(tmp_path, "llama", "F32")
    work = tmp_path / "work"
    rows = "rtn-Q4_0,rtn-Q4_0+A4g32,rtn-Q4_0+A4g32c90,rtn-Q4_0+A16,rot-F16,mse-Q4_K_M,llama-Q4_0"
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "quant_table.py"), "--work", str(work), "--model",
                           str(model), "--bin", str(tessera_binary()), "--text", str(wiki_test_path), "--ctx", "64",
                           "--chunks", "2", "--bench-reps", "1", "--rows", rows],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads((work / "results.json").read_text())
    assert set(results) == {"baseline-F16"} | set(rows.split(","))
    for label in rows.split(","):
        r = results[label]
        assert r["kl_mean"] > 0 and 0 < r["top1"] <= 1, label
    assert results["rtn-Q4_0+A4g32"]["activations"] == "A4 g32"
    assert results["rtn-Q4_0+A4g32"]["decode_tok_s"] is None
    assert results["rtn-Q4_0+A4g32c90"]["activations"] == "A4 g32 clip 0.90"
    assert results["rtn-Q4_0+A16"]["activations"] == "float (A16)"
    assert results["rot-F16"]["kl_mean"] < 0.01  # a rotated float model is the same function
    assert results["rtn-Q4_0+A4g32"]["kl_mean"] > results["rtn-Q4_0"]["kl_mean"]
    assert results["mse-Q4_K_M"]["layer_types"]["Q6_K"] == 2  # attn_v, ffn_down of the last of 2 layers
    assert results["rtn-Q4_0"]["decode_tok_s"] > 0
    assert "| rtn-Q4_0+A4g32 |" in proc.stdout
    assert not list(work.glob("rtn-Q4_0*.gguf"))  # models are deleted once measured
