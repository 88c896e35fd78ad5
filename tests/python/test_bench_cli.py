"""tessera bench on a small model: the figures it promises in --json, and the
per-operation prefill and decode profiles (--profile) account for the whole
forward passes."""
import json

import model_fixtures
from conftest import run_tessera


def test_bench_json_and_decode_profile(tmp_path):
    model = model_fixtures.build(tmp_path, "llama", "Q4_K")  # llama.cpp's Q4_K_M: Q4_K and Q6_K matrices
    r = json.loads(run_tessera("bench", "-m", model, "-p", "16", "-n", "8", "-r", "1", "-t", "2", "--profile",
                               "--json").stdout)
    assert r["prefill_tok_s"] > 0 and r["decode_tok_s"] > 0 and r["peak_rss_bytes"] > 0
    assert 0 < r["bandwidth_share"] and r["weight_bytes_per_token"] > 0
    # The share compares decode with reads of its own weights beside each run.
    assert r["weights_read_gbps"] > 0
    assert abs(r["bandwidth_share"] - r["decode_read_gbps"] / r["weights_read_gbps"]) < 1e-9  # one run (-r 1)
    assert "roofline_read_gbps" not in r  # measured only when asked for (--roofline)
    ops = {op["op"]: op for op in r["decode_profile"]}
    n_layer = 2
    matmuls = {name: op for name, op in ops.items() if name.startswith("matmul ")}
    # Per layer: q+k+v (one shared-input call), o, gate+up (shared), down; then the output.
    assert sum(op["calls_per_token"] for op in matmuls.values()) == 4 * n_layer + 1
    assert any(" + " in name for name in matmuls)  # the shared-input calls
    assert ops["attention"]["calls_per_token"] == n_layer
    assert abs(sum(op["share"] for op in ops.values()) - 1.0) < 1e-6
    assert all(op["weight_gbps"] > 0 for op in matmuls.values())
    # Every matrix a decode step reads is in one matmul row; the embedding row is not.
    read = sum(op["weight_bytes"] * op["calls_per_token"] for op in matmuls.values())
    assert 0 < r["weight_bytes_per_token"] - read < 0.01 * r["weight_bytes_per_token"]
    # The bytes are the packed copies the kernels read: the K types' byte-wide
    # scales make them up to 3 % more than the file's.
    gguf_read = sum(name_bytes(name) * op["calls_per_token"] for name, op in matmuls.items())
    assert 1.0 < read / gguf_read < 1.03
    # The prefill pass: one call of every matmul for all 16 tokens, one attention per layer.
    pre = {op["op"]: op for op in r["prefill_profile"]}
    assert set(pre) == set(ops)
    for name, op in pre.items():
        assert op["calls_per_token"] * 16 == ops[name]["calls_per_token"]
    assert abs(sum(op["share"] for op in pre.values()) - 1.0) < 1e-6


def name_bytes(name):
    """Bytes of the matrices in a profile row's name, e.g. 'matmul Q4_K 256x256 + Q6_K 128x256'."""
    sizes = {"Q4_K": (144, 256), "Q6_K": (210, 256), "Q8_0": (34, 32), "Q5_0": (22, 32), "Q4_0": (18, 32),
             "F32": (4, 1), "F16": (2, 1)}
    total = 0
    for part in name[len("matmul "):].split(" + "):
        qtype, shape = part.split(" ")
        rows, cols = map(int, shape.split("x"))
        block_bytes, block = sizes[qtype]
        total += rows * cols // block * block_bytes
    return total


def test_bench_refuses_bad_options(tmp_path):
    model = model_fixtures.build(tmp_path, "llama", "F32")
    proc = run_tessera("bench", "-m", model, "-r", "0", check=False)
    assert proc.returncode != 0 and "--repetitions: Value 0 not in range 1 to 1000" in proc.stderr
    proc = run_tessera("bench", "-m", model, "-n", "-1", check=False)
    assert proc.returncode != 0 and "--n-gen: Value -1 not in range" in proc.stderr
    proc = run_tessera("bench", "-m", model, "-b", "0", check=False)
    assert proc.returncode != 0 and "--parallel: Value 0 not in range 1 to 256" in proc.stderr


def test_bench_parallel_decode_counts_every_sequence(tmp_path):
    """-b N decodes N sequences together (one token each per step): tok/s
    counts all of them, and the weights are read once per step, so the GB/s
    figure is per step; the profile is per generated token."""
    model = model_fixtures.build(tmp_path, "llama", "Q4_K")
    r = json.loads(run_tessera("bench", "-m", model, "-p", "0", "-n", "6", "-b", "5", "-r", "1", "-t", "2",
                               "--profile", "--json").stdout)
    assert r["n_parallel"] == 5 and r["decode_tok_s"] > 0
    assert abs(r["decode_read_gbps"] - r["weight_bytes_per_token"] * r["decode_tok_s"] / 5 / 1e9) < 1e-9
    ops = {op["op"]: op for op in r["decode_profile"]}
    # 2 layers x (q+k+v, o, gate+up, down) + the output, per step of 5 tokens.
    matmul_calls = sum(op["calls_per_token"] for name, op in ops.items() if name.startswith("matmul "))
    assert abs(matmul_calls - (4 * 2 + 1) / 5) < 1e-9


def test_bench_roofline_measures_the_machine(tmp_path):
    """--roofline adds the machine's own limits: a read of a buffer far larger
    than the caches, and the FMA / int8 peaks."""
    model = model_fixtures.build(tmp_path, "llama", "Q4_K")
    r = json.loads(run_tessera("bench", "-m", model, "-p", "0", "-n", "2", "-r", "1", "-t", "2", "--roofline",
                               "--json").stdout)
    assert r["roofline_read_gbps"] > 0 and r["fma_gflops"] > 0 and r["int8_gops"] > 0


def test_peak_rss_stays_within_file_kv_cache_and_150_mib(default_model):
    """Issue 3's memory bound on the default model: peak RSS of `bench` (a
    512-token prefill) and of `run` stays within the file's size, the KV cache
    the run needs and 150 MiB."""
    info = json.loads(run_tessera("info", default_model, "--json").stdout)
    hp = info["hparams"]
    kv_bytes_per_token = (int(hp["block_count"]) * int(hp["attention.head_count_kv"]) *
                          (int(hp["attention.key_length"]) + int(hp["attention.value_length"])) * 2)  # f16 K and V
    limit = lambda tokens: info["file_bytes"] + kv_bytes_per_token * tokens + 150 * 2**20  # noqa: E731
    bench = json.loads(run_tessera("bench", "-m", default_model, "-p", "512", "-n", "16", "-r", "1", "-t", "2",
                                   "--json").stdout)
    assert 0 < bench["peak_rss_bytes"] <= limit(512 + 256)  # the prompt, whole cache blocks
    run = json.loads(run_tessera("run", "-m", default_model, "--json", "--greedy", "-n", "20",
                                 "The capital of France is").stdout)
    assert 0 < run["peak_rss_bytes"] <= limit(256)
    print(f"peak RSS: bench {bench['peak_rss_bytes'] / 2**20:.0f} MiB (limit {limit(768) / 2**20:.0f}), "
          f"run {run['peak_rss_bytes'] / 2**20:.0f} MiB (limit {limit(256) / 2**20:.0f})")
