"""Small random-weight GGUF models of every supported architecture, written by the suite.

Each model is written in F32 and quantized with llama.cpp's own quantizer (through
llama-cpp-python) to Q8_0 and Q4_K_M. Dimensions are multiples of 256 so the K-quants
are really used. Weights are scaled so logits spread over several units (no near-ties).
"""
import pathlib

import numpy as np

N_EMBD = 256
N_HEAD = 4
N_HEAD_KV = 2
HEAD_DIM = 64
N_FF = 512
N_VOCAB = 512
N_CTX = 256

ARCHS = ["llama", "llama3rope", "qwen2", "qwen3", "gemma3"]


def spm_vocab(n_vocab, control):
    tokens = list(control) + [f"<0x{b:02X}>" for b in range(256)]
    types = [3] * len(control) + [6] * 256
    rest = n_vocab - len(tokens)
    tokens += [f"\u2581w{i}" for i in range(rest)]
    types += [1] * rest
    scores = [0.0] * (n_vocab - rest) + [-float(i) for i in range(rest)]
    return tokens, scores, types


def bpe_vocab(n_vocab):
    # GPT-2 byte-to-unicode table, then merged pairs of letters.
    byte_chars = []
    nxt = 256
    for b in range(256):
        if 33 <= b <= 126 or 161 <= b <= 172 or 174 <= b <= 255:
            byte_chars.append(chr(b))
        else:
            byte_chars.append(chr(nxt))
            nxt += 1
    tokens = list(byte_chars)
    merges = []
    letters = "etaoinshrdlucmfwyp"
    for a in letters:
        for b in letters:
            if len(tokens) >= n_vocab - 1:
                break
            tokens.append(a + b)
            merges.append(f"{a} {b}")
    tokens += [f"<|extra_{i}|>" for i in range(n_vocab - 1 - len(tokens))]
    tokens.append("<|endoftext|>")
    types = [1] * (n_vocab - 1) + [3]
    return tokens, types, merges


def write_model(path: pathlib.Path, arch_variant: str, seed: int = 0, chat_template: str = None) -> None:
    import gguf

    arch = "llama" if arch_variant == "llama3rope" else arch_variant
    rng = np.random.default_rng(seed)
    w = gguf.GGUFWriter(str(path), arch)
    n_layer = 6 if arch == "gemma3" else 2
    w.add_name(f"random-{arch_variant}")
    w.add_context_length(N_CTX)
    w.add_embedding_length(N_EMBD)
    w.add_block_count(n_layer)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD_KV)
    w.add_key_length(HEAD_DIM)
    w.add_value_length(HEAD_DIM)
    w.add_rope_dimension_count(HEAD_DIM)
    w.add_layer_norm_rms_eps(1e-6 if arch == "gemma3" else 1e-5)
    w.add_rope_freq_base(1e6 if arch in ("gemma3", "qwen3") else 10000.0)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    if chat_template is not None:
        w.add_chat_template(chat_template)
    if arch == "gemma3":
        w.add_uint32("gemma3.attention.sliding_window", 16)

    if arch in ("llama", "gemma3"):
        control = ["<pad>", "<eos>", "<bos>", "<unk>"] if arch == "gemma3" else ["<unk>", "<s>", "</s>"]
        tokens, scores, types = spm_vocab(N_VOCAB, control)
        w.add_tokenizer_model("llama")
        w.add_token_list(tokens)
        w.add_token_scores(scores)
        w.add_token_types(types)
        w.add_bos_token_id(2 if arch == "gemma3" else 1)
        w.add_eos_token_id(1 if arch == "gemma3" else 2)
        w.add_unk_token_id(3 if arch == "gemma3" else 0)
        w.add_add_bos_token(True)
    else:
        tokens, types, merges = bpe_vocab(N_VOCAB)
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("qwen2")
        w.add_token_list(tokens)
        w.add_token_types(types)
        w.add_token_merges(merges)
        w.add_eos_token_id(N_VOCAB - 1)
        w.add_bos_token_id(N_VOCAB - 1)
        w.add_add_bos_token(False)

    def mat(rows, cols, gain=1.0):
        return (rng.standard_normal((rows, cols)) * gain / np.sqrt(cols)).astype(np.float32)

    def norm(n):
        return (1.0 + 0.2 * rng.standard_normal(n)).astype(np.float32)

    q_dim, kv_dim = N_HEAD * HEAD_DIM, N_HEAD_KV * HEAD_DIM
    w.add_tensor("token_embd.weight", rng.standard_normal((N_VOCAB, N_EMBD)).astype(np.float32))
    if arch_variant == "llama3rope":
        # llama3 RoPE scaling arrives as per-frequency divisors, as the converter writes them.
        w.add_tensor("rope_freqs.weight", np.linspace(1.0, 8.0, HEAD_DIM // 2).astype(np.float32))
    for i in range(n_layer):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", norm(N_EMBD))
        w.add_tensor(p + "attn_q.weight", mat(q_dim, N_EMBD, 2.0))
        w.add_tensor(p + "attn_k.weight", mat(kv_dim, N_EMBD, 2.0))
        w.add_tensor(p + "attn_v.weight", mat(kv_dim, N_EMBD))
        if arch == "qwen2":
            w.add_tensor(p + "attn_q.bias", (0.5 * rng.standard_normal(q_dim)).astype(np.float32))
            w.add_tensor(p + "attn_k.bias", (0.5 * rng.standard_normal(kv_dim)).astype(np.float32))
            w.add_tensor(p + "attn_v.bias", (0.5 * rng.standard_normal(kv_dim)).astype(np.float32))
        if arch in ("qwen3", "gemma3"):
            w.add_tensor(p + "attn_q_norm.weight", norm(HEAD_DIM))
            w.add_tensor(p + "attn_k_norm.weight", norm(HEAD_DIM))
        w.add_tensor(p + "attn_output.weight", mat(N_EMBD, q_dim))
        w.add_tensor(p + "ffn_norm.weight", norm(N_EMBD))
        w.add_tensor(p + "ffn_gate.weight", mat(N_FF, N_EMBD, 2.0))
        w.add_tensor(p + "ffn_up.weight", mat(N_FF, N_EMBD))
        w.add_tensor(p + "ffn_down.weight", mat(N_EMBD, N_FF))
        if arch == "gemma3":
            w.add_tensor(p + "post_attention_norm.weight", norm(N_EMBD))
            w.add_tensor(p + "post_ffw_norm.weight", norm(N_EMBD))
    w.add_tensor("output_norm.weight", norm(N_EMBD) * 3.0)
    if arch != "gemma3":  # gemma3 ties the output to the embedding table
        w.add_tensor("output.weight", mat(N_VOCAB, N_EMBD, 3.0))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def quantize(src: pathlib.Path, dst: pathlib.Path, ftype_name: str) -> None:
    import llama_cpp

    from reference import quiet_stderr

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, ftype_name)
    with quiet_stderr():
        rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), params)
    if rc != 0:
        raise RuntimeError(f"llama.cpp could not quantize {src} to {ftype_name}")


FTYPES = {
    "F32": None,
    "Q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0",
    "Q4_K": "LLAMA_FTYPE_MOSTLY_Q4_K_M",
    "Q5_K": "LLAMA_FTYPE_MOSTLY_Q5_K_M",
}


def build(directory: pathlib.Path, arch_variant: str, ftype: str) -> pathlib.Path:
    f32 = directory / f"{arch_variant}-f32.gguf"
    if not f32.exists():
        write_model(f32, arch_variant, seed=ARCHS.index(arch_variant) + 1)
    if FTYPES[ftype] is None:
        return f32
    out = directory / f"{arch_variant}-{ftype.lower()}.gguf"
    if not out.exists():
        quantize(f32, out, FTYPES[ftype])
    return out
