"""bench/random_llama.py's two variants: the plain one (Gaussian weights, for speed
figures) and --outliers, the quantization table's Llama-architecture model, whose
structure is what the quantization methods are compared on (docs/quantization.md).
The CLI writes a file tessera loads; the structure is checked in the tensors."""
import subprocess
import sys

import gguf
import numpy as np

from conftest import REPO, tessera_binary

sys.path.insert(0, str(REPO / "bench"))
from random_llama import LlamaShape, write_random_llama  # noqa: E402

SHAPE = LlamaShape(n_embd=256, n_layer=2, n_head=4, n_head_kv=2, n_ff=512, n_vocab=512)


def tensors(path):
    return {t.name: np.asarray(t.data, dtype=np.float32) for t in gguf.GGUFReader(str(path)).tensors}


def kurtosis(a):
    a = a.ravel() - a.mean()
    return float(np.mean(a ** 4) / np.mean(a ** 2) ** 2)


def test_outlier_variant_has_heavy_tails_loud_channels_and_scaled_residual_writers(tmp_path):
    plain, structured = tmp_path / "plain.gguf", tmp_path / "outliers.gguf"
    write_random_llama(plain, SHAPE, seed=3)
    write_random_llama(structured, SHAPE, seed=3, outliers=True)
    p, s = tensors(plain), tensors(structured)
    d = SHAPE.n_embd
    # Student-t (4 dof) against Gaussian (kurtosis 3), at the same standard deviation.
    assert abs(kurtosis(p["blk.0.ffn_up.weight"]) - 3.0) < 0.2
    assert kurtosis(s["blk.0.ffn_up.weight"]) > 5.0
    assert abs(s["blk.0.ffn_up.weight"].std() * d ** 0.5 - 1.0) < 0.15
    # 1 % of each layer norm's gains are 10x the rest; the output norm has none.
    for name in ("blk.0.attn_norm.weight", "blk.1.ffn_norm.weight"):
        assert int(np.sum(s[name] > 5.0)) == d // 100 and int(np.sum(p[name] > 5.0)) == 0, name
    assert int(np.sum(s["output_norm.weight"] > 5.0)) == 0
    # Residual writers at 1/sqrt(2 L) of the plain scale; the output projection 3x.
    ratio = s["blk.1.attn_output.weight"].std() / p["blk.1.attn_output.weight"].std()
    assert abs(ratio - (2 * SHAPE.n_layer) ** -0.5) < 0.05
    assert abs(s["output.weight"].std() / p["output.weight"].std() - 3.0) < 0.2


def test_cli_writes_a_model_tessera_loads(tmp_path):
    out = tmp_path / "quant.gguf"
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "random_llama.py"), str(out), "--shape", "small",
                           "--outliers"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    info = subprocess.run([str(tessera_binary()), "info", str(out)], capture_output=True, text=True, timeout=60)
    assert info.returncode == 0, info.stderr
    assert "llama" in info.stdout
