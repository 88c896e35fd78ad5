"""Malformed files and impossible parameters: a clear message and exit code 1, never a signal."""
import struct

import numpy as np
import pytest

import model_fixtures
from conftest import run_tessera


@pytest.fixture(scope="module")
def good_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("bad") / "good.gguf"
    model_fixtures.write_model(path, "llama", seed=3)
    return path


def expect_error(args, *words):
    proc = run_tessera(*args, check=False, timeout=120)
    assert proc.returncode == 1, f"exit {proc.returncode} (negative = signal)\n{proc.stderr}"
    assert proc.stderr.startswith("error:"), proc.stderr
    for word in words:
        assert word in proc.stderr, f"{word!r} not in {proc.stderr!r}"
    return proc.stderr


def tensor_info_offset(data: bytes, name: str) -> int:
    """Byte offset just after a tensor's name in the header."""
    key = struct.pack("<Q", len(name)) + name.encode()
    at = data.find(key)
    assert at > 0
    return at + len(key)


@pytest.mark.parametrize("command", ["info", "run"])
def test_truncated_file(good_model, tmp_path, command):
    data = good_model.read_bytes()
    for cut in (10, 200, len(data) // 2, len(data) - 100):
        bad = tmp_path / f"cut{cut}.gguf"
        bad.write_bytes(data[:cut])
        args = ["info", bad] if command == "info" else ["run", "-m", bad, "hi"]
        expect_error(args, str(bad))


def test_wrong_magic(good_model, tmp_path):
    bad = tmp_path / "magic.gguf"
    bad.write_bytes(b"GGML" + good_model.read_bytes()[4:])
    expect_error(["info", bad], "magic")
    expect_error(["run", "-m", bad, "hi"], "magic")


def test_tensor_data_past_end_of_file(good_model, tmp_path):
    data = bytearray(good_model.read_bytes())
    at = tensor_info_offset(data, "output.weight")
    n_dims = struct.unpack_from("<I", data, at)[0]
    offset_at = at + 4 + 8 * n_dims + 4
    struct.pack_into("<Q", data, offset_at, 1 << 40)
    bad = tmp_path / "past.gguf"
    bad.write_bytes(bytes(data))
    expect_error(["run", "-m", bad, "hi"], "output.weight", "past end of file")


def test_unknown_tensor_type(good_model, tmp_path):
    data = bytearray(good_model.read_bytes())
    at = tensor_info_offset(data, "output_norm.weight")
    n_dims = struct.unpack_from("<I", data, at)[0]
    struct.pack_into("<I", data, at + 4 + 8 * n_dims, 99)
    bad = tmp_path / "type.gguf"
    bad.write_bytes(bytes(data))
    msg = expect_error(["info", bad], "output_norm.weight", "unknown type 99")
    assert "Q4_K" in msg  # lists what is supported


def test_required_key_missing(tmp_path):
    import gguf

    path = tmp_path / "nokey.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_embedding_length(64)  # no llama.block_count
    w.add_tensor("token_embd.weight", np.zeros((16, 64), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    expect_error(["run", "-m", path, "hi"], "llama.block_count", "missing")


def test_string_length_beyond_file(good_model, tmp_path):
    data = bytearray(good_model.read_bytes())
    key = b"general.architecture"
    at = data.find(struct.pack("<Q", len(key)) + key) + 8 + len(key)
    assert struct.unpack_from("<I", data, at)[0] == 8  # a string value follows
    struct.pack_into("<Q", data, at + 4, 1 << 50)
    bad = tmp_path / "string.gguf"
    bad.write_bytes(bytes(data))
    expect_error(["info", bad], "string length", "past the end")


def test_unsupported_architecture(good_model, tmp_path):
    data = good_model.read_bytes()
    bad = tmp_path / "arch.gguf"
    bad.write_bytes(data.replace(b"\x05\x00\x00\x00\x00\x00\x00\x00llama", b"\x05\x00\x00\x00\x00\x00\x00\x00lllma", 1))
    expect_error(["run", "-m", bad, "hi"], "unsupported architecture 'lllma'", "gemma3")


def test_prompt_longer_than_context(good_model):
    expect_error(["run", "-m", good_model, "-c", "16", "-n", "4", " w1" * 40], "context", "--ctx-size")


def test_impossible_parameters(good_model):
    expect_error(["run", "-m", good_model, "--top-p", "1.5", "hi"], "top-p")
    expect_error(["run", "-m", good_model, "-n", "-3", "hi"], "-n")
    expect_error(["run", "-m", good_model, "-c", "0", "hi"], "ctx-size")


def test_missing_file():
    expect_error(["info", "/nonexistent/model.gguf"], "/nonexistent/model.gguf", "cannot open")
