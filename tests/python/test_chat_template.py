"""Chat templates: tessera's Jinja renderer against Python's jinja2, configured
the way transformers' apply_chat_template is (ImmutableSandboxedEnvironment,
trim_blocks, lstrip_blocks, loopcontrols, raise_exception, json.dumps tojson),
on the real templates of Gemma 3, Llama 3 / 3.1, Qwen 2.5 / 3, Mistral v3 and
ChatML (tests/python/chat_templates/). Outputs must be identical strings;
conversations a template rejects must fail in both with the same message."""
import json
import pathlib

import gguf
import jinja2
import jinja2.ext
import jinja2.sandbox
import pytest

from conftest import run_tessera

TEMPLATE_DIR = pathlib.Path(__file__).parent / "chat_templates"

# file -> (bos_token, eos_token) as the models define them
TEMPLATES = {
    "gemma3.jinja": ("<bos>", "<eos>"),
    "llama3-instruct.jinja": ("<|begin_of_text|>", "<|eot_id|>"),
    "llama3.1-instruct.jinja": ("<|begin_of_text|>", "<|eot_id|>"),
    "qwen2.5-instruct.jinja": ("", "<|im_end|>"),
    "qwen3.jinja": ("", "<|im_end|>"),
    "mistral-v3.jinja": ("<s>", "</s>"),
    "chatml.jinja": ("<s>", "</s>"),
}

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name, e.g. \"Paris\""}},
            "required": ["city"],
        },
    },
}

SYSTEM = {"role": "system", "content": "You are a helpful assistant."}

CONVERSATIONS = {
    "single_user": ([{"role": "user", "content": "Hello!"}], {}),
    "system_user": ([SYSTEM, {"role": "user", "content": "What is the capital of France?"}], {}),
    "multi_turn": (
        [
            SYSTEM,
            {"role": "user", "content": "Hi there"},
            {"role": "assistant", "content": "Hello! How can I help?"},
            {"role": "user", "content": "Tell me a joke."},
            {"role": "assistant", "content": "Why did the chicken cross the road?"},
            {"role": "user", "content": "Why?"},
        ],
        {},
    ),
    "ends_with_assistant": (
        [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}],
        {},
    ),
    "whitespace_and_unicode": (
        [
            {"role": "system", "content": "  Réponds en français.\n\n"},
            {"role": "user", "content": "\n  Quotes ' \" and \\ backslash, tabs\there, emoji 😀, 日本語  \n"},
            {"role": "assistant", "content": "   padded reply\u00a0  "},
            {"role": "user", "content": "<start_of_turn>not special<end_of_turn> {{ not jinja }} {% raw %}"},
        ],
        {},
    ),
    "empty_content": ([{"role": "user", "content": ""}], {}),
    "tools": (
        [SYSTEM, {"role": "user", "content": "Weather in Paris?"}],
        {"tools": [WEATHER_TOOL]},
    ),
    "tool_call_round_trip": (
        [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": "call12345",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": {"city": "Paris"}},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call12345", "content": "{\"temperature\": 21.5, \"sky\": \"clear\"}"},
        ],
        {"tools": [WEATHER_TOOL]},
    ),
    "thinking": (
        [
            {"role": "user", "content": "Think first: 17*3?"},
            {"role": "assistant", "content": "<think>\n17*3 = 51\n</think>\n\n51"},
            {"role": "user", "content": "And 17*4?"},
        ],
        {"enable_thinking": False},
    ),
    # Rejected by the templates that require alternating roles.
    "two_users_in_a_row": (
        [{"role": "user", "content": "one"}, {"role": "user", "content": "two"}],
        {},
    ),
    "assistant_first": (
        [{"role": "assistant", "content": "I speak first"}, {"role": "user", "content": "ok"}],
        {},
    ),
}


class TemplateRejected(Exception):
    pass


def jinja_render(source, messages, add_generation_prompt, bos, eos, extra):
    """transformers' _compile_jinja_template + render, reproduced."""

    def raise_exception(message):
        raise TemplateRejected(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env.from_string(source).render(
        messages=messages, add_generation_prompt=add_generation_prompt, bos_token=bos, eos_token=eos, **extra
    )


def tessera_render(template_path, messages, add_generation_prompt, bos, eos, extra):
    args = ["dev", "chat-template", "--template-file", template_path, "--messages", json.dumps(messages),
            "--context", json.dumps(extra), "--bos-token", bos, "--eos-token", eos]
    if add_generation_prompt:
        args.append("--add-generation-prompt")
    return run_tessera(*args, check=False, timeout=60)


@pytest.mark.parametrize("add_generation_prompt", [True, False])
@pytest.mark.parametrize("conversation", sorted(CONVERSATIONS))
@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_matches_jinja2(template, conversation, add_generation_prompt):
    path = TEMPLATE_DIR / template
    source = path.read_text()
    bos, eos = TEMPLATES[template]
    messages, extra = CONVERSATIONS[conversation]
    try:
        expected = jinja_render(source, messages, add_generation_prompt, bos, eos, extra)
        rejected = None
    except TemplateRejected as e:
        expected, rejected = None, str(e)
    proc = tessera_render(path, messages, add_generation_prompt, bos, eos, extra)
    if rejected is not None:
        assert proc.returncode == 1, f"tessera accepted what jinja2 rejected ({rejected}):\n{proc.stdout}"
        assert proc.stderr.strip() == f"error: {rejected}"
    else:
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == expected


def test_rejections_are_exercised():
    """The comparison above must include conversations the templates reject."""
    rejected = 0
    for template in TEMPLATES:
        source = (TEMPLATE_DIR / template).read_text()
        for messages, extra in CONVERSATIONS.values():
            try:
                jinja_render(source, messages, True, "", "", extra)
            except TemplateRejected:
                rejected += 1
    assert rejected >= 4


def write_chat_gguf(path, chat_template):
    """A vocabulary-only GGUF with a chat template and BOS/EOS tokens."""
    w = gguf.GGUFWriter(str(path), "gemma3")
    w.add_tokenizer_model("llama")
    tokens = ["<pad>", "<eos>", "<bos>", "<unk>", "a", "b"]
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * len(tokens))
    w.add_token_types([3, 3, 3, 2, 1, 1])
    w.add_bos_token_id(2)
    w.add_eos_token_id(1)
    if chat_template is not None:
        w.add_chat_template(chat_template)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_model_template_from_gguf(tmp_path):
    """`-m MODEL` renders the GGUF's tokenizer.chat_template with its BOS text."""
    source = (TEMPLATE_DIR / "gemma3.jinja").read_text()
    model = tmp_path / "chat.gguf"
    write_chat_gguf(model, source)
    messages, _ = CONVERSATIONS["multi_turn"]
    proc = run_tessera("dev", "chat-template", "-m", model, "--messages", json.dumps(messages),
                       "--add-generation-prompt")
    assert proc.stdout == jinja_render(source, messages, True, "<bos>", "<eos>", {})
    assert proc.stdout.startswith("<bos><start_of_turn>user\n")


def test_model_without_template(tmp_path):
    model = tmp_path / "plain.gguf"
    write_chat_gguf(model, None)
    proc = run_tessera("dev", "chat-template", "-m", model, "--messages", "[]", check=False)
    assert proc.returncode == 1
    assert "no tokenizer.chat_template" in proc.stderr


@pytest.mark.parametrize(
    "source, messages, expected_error",
    [
        ("{% if %}", "[]", "line 1, column 7"),
        ("ok\n{{ messages[0] }\n", "[]", "line 2"),
        ("{% for m in messages %}", "[]", "missing '{% endfor %}'"),
        ("{{ undefined_function() }}", "[]", "'undefined_function' is undefined"),
        ("{{ messages | no_such_filter }}", "[]", "no filter named 'no_such_filter'"),
        ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "[]", "budget"),
        ("{{ 'x' * 100000000000 }}", "[]", "limit"),
        ("{{ " + "(" * 300 + "1" + ")" * 300 + " }}", "[]", "nested deeper"),
        ("{{ " + "1+" * 5000 + "1 }}", "[]", "nested deeper"),
        ("{% set ns = namespace(a=1) %}{% set ns.self = [ns] %}{{ ns.self | tojson }}", "[]", "not JSON serializable"),
        ("{% set ns = namespace(a=1) %}{% set ns.self = [ns] %}{{ ns }}", "[]", "nested deeper"),
        ("{{ 'ok' }}", "{\"not\": \"a list\"}", "messages must be a JSON array"),
    ],
)
def test_hostile_templates_fail_cleanly(tmp_path, source, messages, expected_error):
    path = tmp_path / "t.jinja"
    path.write_text(source)
    proc = run_tessera("dev", "chat-template", "--template-file", path, "--messages", messages,
                       check=False, timeout=60)
    assert proc.returncode == 1, proc.stdout[:200]
    assert proc.stderr.startswith("error: ")
    assert expected_error in proc.stderr
