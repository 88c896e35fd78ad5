"""Dequantization of every supported block type equals gguf.quants.dequantize bit for bit."""
import numpy as np
import pytest
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType
from gguf.quants import dequantize

from conftest import run_tessera

TYPES = ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0",
         "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]

# Byte offsets of the fp16 scale fields inside each block: they are set to finite
# random values so the comparison exercises real numbers, not NaN/inf patterns.
FP16_FIELDS = {
    "Q4_0": [0], "Q4_1": [0, 2], "Q5_0": [0], "Q5_1": [0, 2], "Q8_0": [0],
    "Q2_K": [80, 82], "Q3_K": [108], "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208],
}


def random_blocks(type_name: str, n_blocks: int, rng) -> bytes:
    qtype = GGMLQuantizationType[type_name]
    block_size, type_size = GGML_QUANT_SIZES[qtype]
    if type_name == "F32":
        return rng.standard_normal(n_blocks * block_size).astype(np.float32).tobytes()
    if type_name == "F16":
        return rng.standard_normal(n_blocks * block_size).astype(np.float16).tobytes()
    if type_name == "BF16":
        bits = rng.standard_normal(n_blocks * block_size).astype(np.float32).view(np.uint32) >> 16
        return bits.astype(np.uint16).tobytes()
    raw = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    for off in FP16_FIELDS[type_name]:
        scales = (rng.standard_normal(n_blocks) * 0.05).astype(np.float16)
        raw[:, off:off + 2] = scales.view(np.uint8).reshape(n_blocks, 2)
    return raw.tobytes()


@pytest.mark.parametrize("type_name", TYPES)
def test_dequantize_matches_gguf_python(tmp_path, type_name):
    rng = np.random.default_rng(1234)
    raw = random_blocks(type_name, 512, rng)
    src = tmp_path / "blocks.bin"
    out = tmp_path / "out.f32"
    src.write_bytes(raw)
    run_tessera("dev", "dequant", "--type", type_name, "--in", src, "--out", out)
    got = np.fromfile(out, dtype=np.float32)
    expected = dequantize(np.frombuffer(raw, dtype=np.uint8), GGMLQuantizationType[type_name])
    expected = np.asarray(expected, dtype=np.float32).reshape(-1)
    assert got.shape == expected.shape
    assert np.array_equal(got.view(np.uint32), expected.view(np.uint32)) or np.array_equal(
        got, expected, equal_nan=True
    ), f"{type_name}: {np.sum(got != expected)} of {got.size} values differ"


def test_dequantize_rejects_partial_blocks(tmp_path):
    src = tmp_path / "bad.bin"
    src.write_bytes(b"\x00" * 35)
    proc = run_tessera("dev", "dequant", "--type", "Q8_0", "--in", src, "--out", tmp_path / "o",
                       check=False)
    assert proc.returncode == 1
    assert "not a whole number of Q8_0 blocks" in proc.stderr


def test_dequantize_rejects_unknown_type(tmp_path):
    src = tmp_path / "b.bin"
    src.write_bytes(b"\x00" * 34)
    proc = run_tessera("dev", "dequant", "--type", "Q9_9", "--in", src, "--out", tmp_path / "o",
                       check=False)
    assert proc.returncode == 1
    assert "unknown type" in proc.stderr and "Q4_K" in proc.stderr
