"""Writes the fuzzers' seed inputs into DIR: tiny random-weight GGUF models of
every architecture the suite covers (model_fixtures.write_model at small
dimensions, so mutations reach the header, metadata and tensor table often)
for fuzz_model_load (two of them also give fuzz_tokenizer its vocabularies), the
suite's chat templates for fuzz_chat_template, request bodies using every field
the parser knows for fuzz_openai_request, and texts for fuzz_tokenizer.

    python tests/fuzz/make_seeds.py DIR   # writes DIR/<target without fuzz_>/
"""
import json
import pathlib
import shutil
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "python"))

import model_fixtures  # noqa: E402


REQUESTS = [
    {"model": "m", "prompt": "Once upon a time", "max_tokens": 8, "temperature": 0.7, "top_p": 0.9, "top_k": 40,
     "min_p": 0.05, "seed": 3, "stop": ["\n", "END"], "n": 2, "logprobs": 3, "stream": True,
     "stream_options": {"include_usage": True}, "user": "u", "presence_penalty": 0.5, "frequency_penalty": 0.5,
     "repeat_penalty": 1.1},
    {"prompt": [[1, 2, 3], "text", [4]], "max_tokens": None, "echo": False},
    {"model": "m", "messages": [{"role": "system", "content": "be brief"},
                                {"role": "user", "content": [{"type": "text", "text": "hi"}]},
                                {"role": "assistant", "content": None,
                                 "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{}"}}]}],
     "max_completion_tokens": 4, "logprobs": True, "top_logprobs": 2},
    {"content": "tokenize me", "add_special": True, "tokens": [1, 2]},
]


TEXTS = [
    "Hello, world! The quick brown fox jumps over the lazy dog.",
    "<s>[INST] hi [/INST]</s><start_of_turn>user\n<|im_start|>assistant<|endoftext|><unk>",
    "  leading spaces\t\ttabs\n\nnewlines   trailing  ",
    "naïve café 日本語のテキスト 🤖🎉 Ünïcödé \u200b zero-width",
    "12345 3.14159 0x1F -42 1e10 $100 50%",
    "def f(x):\n    return x ** 2  # code\n",
    "wwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwww",
]


def main() -> int:
    out = pathlib.Path(sys.argv[1])
    (out / "model_load").mkdir(parents=True, exist_ok=True)
    (out / "chat_template").mkdir(parents=True, exist_ok=True)
    (out / "openai_request").mkdir(parents=True, exist_ok=True)
    (out / "tokenizer").mkdir(parents=True, exist_ok=True)
    # The smallest shapes the writer supports: the SentencePiece vocabulary
    # needs its 256 byte tokens, the rest is as small as the loader allows.
    f = model_fixtures
    f.N_EMBD, f.N_HEAD, f.N_HEAD_KV, f.HEAD_DIM, f.N_FF, f.N_VOCAB, f.N_CTX = 32, 2, 1, 16, 64, 300, 64
    template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    for arch in f.ARCHS:
        path = out / "model_load" / f"{arch}.gguf"
        if not path.exists():
            f.write_model(path, arch, seed=1, chat_template=template)
    for src in sorted((REPO / "tests" / "python" / "chat_templates").glob("*.jinja")):
        shutil.copy(src, out / "chat_template" / src.name)
    for i, body in enumerate(REQUESTS):
        (out / "openai_request" / f"{i}.json").write_text(json.dumps(body))
    for i, text in enumerate(TEXTS):
        # The first byte is fuzz_tokenizer's options (add / parse / render special tokens).
        (out / "tokenizer" / f"{i}.txt").write_bytes(bytes([i % 8]) + text.encode("utf-8", "surrogatepass"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
