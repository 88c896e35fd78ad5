"""Writes a Llama-architecture GGUF with random weights, for speed benchmarks and the
quantization table's Llama-architecture model.

The weights are random; the vocabulary is a valid SentencePiece-style one (control
tokens, 256 byte tokens, filler pieces) so that both tessera and llama.cpp load it.
Plain (default): Gaussian weights, for speed figures. `outliers=True` gives the
weights the two kinds of structure that quantization methods are about, so that a
quantization table on this model measures more than rounding noise:
  - heavy-tailed weights (Student-t, 4 degrees of freedom, at the same standard
    deviation): a few large weights per row stretch a group's grid (rtn vs mse,
    dabc's outlier masks);
  - outlier input channels: 1 % of the layers' RMS-norm gains are 10x the rest, so
    every q/k/v/gate/up matrix reads a few loud inputs (what imatrix weighting, awq and
    gptq use calibration for);
scales the matrices that write into the residual stream (attn_output, ffn_down) by
1/sqrt(2 n_layer) as GPT-2's initialisation does, so that rounding errors are not
amplified chaotically from layer to layer, and scales the output projection up (3x) so
the next-token distributions are peaked, as a trained model's are, rather than nearly
uniform.

    build/venv/bin/python bench/random_llama.py OUT.gguf [--shape small|tinyllama] [--outliers] [--seed S]
"""
import dataclasses
import pathlib

import numpy as np


@dataclasses.dataclass(frozen=True)
class LlamaShape:
    n_embd: int
    n_layer: int
    n_head: int
    n_head_kv: int
    n_ff: int
    n_vocab: int
    n_ctx: int = 2048


def spm_vocab(n_vocab: int):
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [2, 3, 3] + [6] * 256
    tokens += [f"\u2581t{i}" for i in range(n_vocab - len(tokens))]
    types += [1] * (n_vocab - len(types))
    scores = [0.0] * 3 + [0.0] * 256 + [-float(i) for i in range(n_vocab - 259)]
    return tokens, scores, types


SHAPES = {
    "tinyllama": LlamaShape(n_embd=2048, n_layer=22, n_head=32, n_head_kv=4, n_ff=5632, n_vocab=32000),
    "small": LlamaShape(n_embd=512, n_layer=4, n_head=8, n_head_kv=4, n_ff=1536, n_vocab=32000),
    # The quantization table's Llama-architecture model: rows multiples of 256
    # (K-quants fit every matrix), 8 layers, ~57 M weights.
    "quant": LlamaShape(n_embd=512, n_layer=8, n_head=8, n_head_kv=4, n_ff=1536, n_vocab=32000),
}


def write_random_llama(path: pathlib.Path, shape: LlamaShape, seed: int = 0,
                       dtype=np.float16, outliers: bool = False) -> None:
    import gguf

    rng = np.random.default_rng(seed)
    head_dim = shape.n_embd // shape.n_head
    tmp = path.with_suffix(".tmp")  # renamed into place when complete
    w = gguf.GGUFWriter(str(tmp), "llama")
    w.add_name("random-llama")
    w.add_context_length(shape.n_ctx)
    w.add_embedding_length(shape.n_embd)
    w.add_block_count(shape.n_layer)
    w.add_feed_forward_length(shape.n_ff)
    w.add_head_count(shape.n_head)
    w.add_head_count_kv(shape.n_head_kv)
    w.add_rope_dimension_count(head_dim)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if dtype == np.float16 else gguf.LlamaFileType.ALL_F32)
    tokens, scores, types = spm_vocab(shape.n_vocab)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)

    def mat(rows, cols, std):
        if outliers:
            # Student-t with 4 degrees of freedom has variance 2: divided by
            # sqrt(2) it keeps the Gaussian's standard deviation, with fat tails.
            z = rng.standard_t(4, size=(rows, cols)).astype(np.float32) / np.float32(np.sqrt(2.0))
        else:
            z = rng.standard_normal((rows, cols), dtype=np.float32)
        return (z * std).astype(dtype)

    def norm(n, loud_channels=outliers):
        g = (1.0 + 0.1 * rng.standard_normal(n, dtype=np.float32)).astype(np.float32)
        if loud_channels:
            g[rng.choice(n, size=max(1, n // 100), replace=False)] *= 10.0
        return g

    d, kv = shape.n_embd, shape.n_head_kv * head_dim
    # The matrices that write into the residual stream, scaled by 1/sqrt(2 L) as
    # GPT-2 initialises them (structured variant only): at full scale a random
    # deep stack is chaotic, and every rounding error is amplified layer by
    # layer far beyond what a trained model does.
    residual_scale = (2.0 * shape.n_layer) ** -0.5 if outliers else 1.0
    w.add_tensor("token_embd.weight", mat(shape.n_vocab, d, 1.0))
    for i in range(shape.n_layer):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", norm(d))
        w.add_tensor(p + "attn_q.weight", mat(d, d, d ** -0.5))
        w.add_tensor(p + "attn_k.weight", mat(kv, d, d ** -0.5))
        w.add_tensor(p + "attn_v.weight", mat(kv, d, d ** -0.5))
        w.add_tensor(p + "attn_output.weight", mat(d, d, residual_scale * d ** -0.5))
        w.add_tensor(p + "ffn_norm.weight", norm(d))
        w.add_tensor(p + "ffn_gate.weight", mat(shape.n_ff, d, d ** -0.5))
        w.add_tensor(p + "ffn_up.weight", mat(shape.n_ff, d, d ** -0.5))
        w.add_tensor(p + "ffn_down.weight", mat(d, shape.n_ff, residual_scale * shape.n_ff ** -0.5))
    w.add_tensor("output_norm.weight", norm(d, loud_channels=False))
    w.add_tensor("output.weight", mat(shape.n_vocab, d, (3.0 if outliers else 1.0) * d ** -0.5))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file(progress=False)
    w.close()
    tmp.rename(path)


def main():
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=pathlib.Path)
    ap.add_argument("--shape", choices=sorted(SHAPES), default="quant")
    ap.add_argument("--outliers", action="store_true", help="heavy-tailed weights and outlier input channels")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    write_random_llama(args.out, SHAPES[args.shape], seed=args.seed, outliers=args.outliers)
    print(args.out)


if __name__ == "__main__":
    main()
