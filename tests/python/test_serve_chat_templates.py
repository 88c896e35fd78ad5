"""Which chat template the server uses: the GGUF's own `tokenizer.chat_template`
when present, else the built-in one for the architecture (ChatML for qwen2)."""
import pathlib

import jinja2

import model_fixtures
from serve_helper import Server

TEMPLATES = pathlib.Path(__file__).parent / "chat_templates"
MESSAGES = [{"role": "system", "content": "sys"}, {"role": "user", "content": "hello there"}]


def render(source, bos, eos):
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(source).render(messages=MESSAGES, add_generation_prompt=True, bos_token=bos,
                                          eos_token=eos)


def served_prompt_tokens(server):
    status, body = server.post("/v1/chat/completions", {"messages": MESSAGES, "max_tokens": 1})
    assert status == 200, body
    return body["usage"]["prompt_tokens"]


def check(model, source, bos, eos, origin):
    server = Server(model, "-t", 1, "--max-seqs", 2)
    try:
        status, models = server.request("GET", "/v1/models")
        assert models["data"][0]["meta"]["chat_template"] == origin
        text = render(source, bos, eos)
        # The tokenizer adds BOS only when the template did not print it.
        status, tok = server.post("/tokenize", {"content": text, "add_special": not text.startswith(bos)})
        assert served_prompt_tokens(server) == len(tok["tokens"])
    finally:
        server.stop()


def test_model_template_is_used(tmp_path):
    source = (TEMPLATES / "chatml.jinja").read_text()
    model = tmp_path / "llama-chatml.gguf"
    model_fixtures.write_model(model, "llama", seed=5, chat_template=source)
    check(model, source, "<s>", "</s>", "model")


def test_architecture_without_template_gets_chatml(tmp_path):
    model = tmp_path / "qwen2.gguf"
    model_fixtures.write_model(model, "qwen2", seed=6)
    check(model, (TEMPLATES / "chatml.jinja").read_text(), "<|endoftext|>", "<|endoftext|>", "built-in chatml")
