"""Byte-level BPE vocabularies for tokenizer tests: merges learned from text with a
small BPE training loop, written as GGUF files llama.cpp can load (vocab_only)."""
import collections

import numpy as np


def gpt2_byte_chars():
    chars, nxt = [], 256
    for b in range(256):
        if 33 <= b <= 126 or 161 <= b <= 172 or 174 <= b <= 255:
            chars.append(chr(b))
        else:
            chars.append(chr(nxt))
            nxt += 1
    return chars


def learn_merges(text, n_merges):
    byte_chars = gpt2_byte_chars()
    words = collections.Counter()
    for word in text.replace("\n", " ").split(" "):
        if word:
            words[tuple(byte_chars[b] for b in (" " + word).encode())] += 1
    merges = []
    for _ in range(n_merges):
        pairs = collections.Counter()
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        (a, b), _ = pairs.most_common(1)[0]
        merges.append((a, b))
        merged = collections.Counter()
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            merged[tuple(out)] += c
        words = merged
    return merges


def write_bpe_vocab(path, pre, text, n_merges=400):
    import gguf

    merges = learn_merges(text, n_merges)
    tokens = gpt2_byte_chars() + [a + b for a, b in merges]
    tokens = list(dict.fromkeys(tokens))
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|im_start|>"]
    types = [1] * len(tokens) + [3] * len(specials)
    tokens += specials
    arch = "qwen2" if pre == "qwen2" else "llama"
    w = gguf.GGUFWriter(str(path), arch)
    w.add_context_length(256)
    w.add_embedding_length(64)
    w.add_block_count(1)
    w.add_feed_forward_length(128)
    w.add_head_count(4)
    w.add_head_count_kv(4)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges([f"{a} {b}" for a, b in merges])
    w.add_bos_token_id(len(tokens) - 3)
    w.add_eos_token_id(len(tokens) - 2)
    w.add_add_bos_token(True)
    w.add_tensor("token_embd.weight", np.zeros((len(tokens), 64), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
