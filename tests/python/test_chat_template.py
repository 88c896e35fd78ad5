"""Chat templates: tessera's Jinja renderer against Python's jinja2, configured
the way transformers' apply_chat_template is (ImmutableSandboxedEnvironment,
trim_blocks, lstrip_blocks, loopcontrols, raise_exception, json.dumps tojson),
on the real templates of Gemma 3, Llama 3 / 3.1, Qwen 2.5 / 3, Mistral v3 and
ChatML (tests/python/chat_templates/). Outputs must be identical strings;
conversations a template rejects must fail in both with the same message."""
import datetime
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
    def strftime_now(format):
        return datetime.datetime.now().strftime(format)

    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
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


# Language features one at a time: each snippet (with its variables) must
# render exactly as jinja2 renders it.
FEATURE_CASES = [
    # whitespace control
    ("a  {{- ' b ' -}}  c", {}),
    ("line1\n  {% if true %}\n    yes\n  {% endif %}\nend", {}),
    ("x {%+ if true %}y{% endif +%}\nz", {}),
    ("{# comment #}\nafter\n  {#- c2 -#}  tail", {}),
    ("keep\n{{ 'v' }}\nnext\n", {}),
    ("a\r\nb\r\n", {}),
    # literals and operators
    ("{{ 1 + 2 * 3 - 4 / 2 }}|{{ 7 // 2 }}|{{ -7 // 2 }}|{{ -7 % 3 }}|{{ 2 ** 10 }}|{{ 1.5 + 1 }}", {}),
    ("{{ 'a' ~ 1 ~ none ~ true }}|{{ 'ab' * 3 }}|{{ [1] + [2, 3] }}", {}),
    ("{{ 1 == 1.0 }}{{ true == 1 }}{{ 'a' != 'b' }}{{ 1 < 2 < 3 }}{{ 3 < 2 < 4 }}{{ 'b' > 'a' }}", {}),
    ("{{ 'a' in 'cat' }}{{ 2 in [1, 2] }}{{ 'k' in {'k': 1} }}{{ 'z' not in 'cat' }}", {}),
    ("{{ not true }}{{ true and 'x' }}{{ false or 'y' }}{{ none or 0 }}", {}),
    ("{{ 'yes' if 1 > 0 else 'no' }}{{ 'never' if false }}|", {}),
    ("{{ \"esc\\n\\t\\\\ \\\" \\' \\u00e9 \\x41\" }}|{{ 'adj' 'acent' }}", {}),
    ("{{ 1.0 }}|{{ 0.1 + 0.2 }}|{{ 1e20 }}|{{ 1.5e-7 }}|{{ 3 / 1 }}|{{ 100.0 * 3 }}", {}),
    ("{{ none }}|{{ true }}|{{ [1, 'a', none, {'k': 'v'}] }}|{{ {'a': [1, 2]} }}|{{ \"it's\" }}|{{ ['it\\'s'] }}", {}),
    # subscripts and slices
    ("{{ s[0] }}{{ s[-1] }}{{ s[1:3] }}{{ s[::-1] }}{{ s[::2] }}{{ s[-2:] }}{{ s[:-1] }}", {"s": "héllo😀"}),
    ("{{ l[1:] }}{{ l[::-1] }}{{ l[5] is defined }}{{ l[-1] }}{{ l.0 }}", {"l": [1, 2, 3]}),
    ("{{ d.a }}{{ d['b'] }}{{ d.missing is defined }}{{ d.get('a') }}{{ d.get('x', 'dflt') }}{{ d.get('x') }}", {"d": {"a": 1, "b": 2}}),
    # methods
    ("[{{ s.strip() }}][{{ s.lstrip() }}][{{ s.rstrip() }}][{{ 'xxaxx'.strip('x') }}]", {"s": "  pad \n"}),
    ("{{ 'a,b,,c'.split(',') }}{{ ' a  b '.split() }}{{ 'a b c'.split(' ', 1) }}{{ 'x'.split('x') }}", {}),
    ("{{ 'Hello'.startswith('He') }}{{ 'Hello'.endswith(('x', 'lo')) }}{{ 'Hello'.upper() }}{{ 'Hello'.lower() }}", {}),
    ("{{ 'hello world'.title() }}{{ 'hELLO'.capitalize() }}{{ 'aaa'.replace('a', 'b', 2) }}{{ 'abc'.find('c') }}", {}),
    ("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{{ d.keys() | list }}{{ d.values() | list }}", {"d": {"x": 1, "y": [2]}}),
    # filters
    ("[{{ '  t  ' | trim }}][{{ 'xxtxx' | trim('x') }}]{{ [1, 2] | length }}{{ 'héllo' | length }}{{ {'a': 1} | count }}", {}),
    ("{{ 'Ab' | upper }}{{ 'Ab' | lower }}{{ 'hello there' | capitalize }}{{ 'hello there' | title }}", {}),
    ("{{ x | default('d') }}{{ none | default('d') }}{{ '' | default('d', true) }}{{ 0 | d('z', boolean=true) }}", {}),
    ("{{ [3, 1, 2] | first }}{{ [3, 1, 2] | last }}{{ 'abc' | first }}{{ [1, 2, 3] | join('-') }}{{ ['a', 'b'] | join }}", {}),
    ("{{ 'a-b-c' | replace('-', '+') }}{{ 42 | string }}{{ [1] | string }}{{ '5' | int + 1 }}{{ '2.5' | float }}{{ 'x' | int }}", {}),
    ("{{ d | items | list }}{% for k, v in d | items %}{{ k }}{{ v }}{% endfor %}{{ d | list }}", {"d": {"b": 1, "a": 2}}),
    ("{{ msgs | selectattr('role', 'equalto', 'user') | map(attribute='content') | join(',') }}", {"msgs": [{"role": "user", "content": "u1"}, {"role": "assistant", "content": "a1"}, {"role": "user", "content": "u2"}]}),
    ("{{ msgs | rejectattr('role', 'eq', 'user') | list | length }}{{ msgs | selectattr('tool') | list | length }}", {"msgs": [{"role": "user", "tool": 1}, {"role": "assistant"}]}),
    ("{{ [1, 2, 3, 4] | select('even') | list }}{{ [1, 2, 3, 4] | reject('odd') | list }}{{ ['a', 'B'] | map('upper') | list }}", {}),
    ("{{ [3, 1, 2] | sort }}{{ [3, 1, 2] | sort(reverse=true) }}{{ ['b', 'A', 'c'] | sort }}{{ [1, 2, 2, 1] | unique | list }}{{ [1, 2] | reverse | list }}", {}),
    ("{{ [1, 2, 3] | sum }}{{ [1, 5, 3] | max }}{{ [4, 2, 8] | min }}{{ -3 | abs }}{{ 2.567 | round(2) }}{{ 2.5 | round }}", {}),
    ("{{ 'a\nb\n\nc' | indent(2) }}|{{ 'a\nb' | indent(2, true) }}", {}),
    ("{{ v | tojson }}|{{ v | tojson(indent=2) }}|{{ 'é\"\\n' | tojson }}|{{ [1.0, none, true] | tojson }}", {"v": {"name": "x", "args": {"a": [1, 2], "b": {}}, "e": []}}),
    ("{{ {'b': 1, 'a': 2} | tojson(sort_keys=true) }}|{{ [1, 2] | tojson(separators=(',', ':')) }}", {}),
    # tests
    ("{{ x is defined }}{{ y is undefined }}{{ none is none }}{{ 's' is string }}{{ 1 is number }}{{ 1.5 is float }}{{ 1 is integer }}{{ true is boolean }}", {"x": 1}),
    ("{{ {} is mapping }}{{ [] is mapping }}{{ [] is iterable }}{{ 's' is iterable }}{{ 1 is iterable }}{{ 's' is sequence }}{{ {} is sequence }}", {}),
    ("{{ 4 is even }}{{ 3 is odd }}{{ 9 is divisibleby 3 }}{{ 2 is divisibleby(4) }}{{ 'a' is in 'abc' }}{{ 'ab' is lower }}{{ x is not none }}{{ true is true }}", {"x": 0}),
    ("{{ raise_exception is callable }}{{ range is callable }}{{ 1 is equalto 1 }}{{ 2 is gt 1 }}{{ 1 is ne 1 }}", {}),
    # statements
    ("{% if 0 %}a{% elif '' %}b{% elif [1] %}c{% else %}d{% endif %}", {}),
    ("{% for x in l %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.previtem }}{{ loop.nextitem }};{% endfor %}", {"l": ["a", "b", "c"]}),
    ("{% for x in l if x > 1 %}{{ x }}{{ loop.length }}{% else %}empty{% endfor %}|{% for x in [] %}x{% else %}none{% endfor %}", {"l": [1, 2, 3]}),
    ("{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %}{% for c in 'hé' %}[{{ c }}]{% endfor %}{% for k in {'x': 1, 'y': 2} %}{{ k }}{% endfor %}", {}),
    ("{% for i in range(3) %}{{ loop.cycle('a', 'b') }}{% endfor %}{{ range(2, 8, 2) | list }}{{ range(5, 0, -2) | list }}", {}),
    ("{% set x = 1 %}{% for i in range(3) %}{% set x = x + i %}{{ x }}{% endfor %}{{ x }}", {}),
    ("{% set ns = namespace(total=0, found=false) %}{% for i in range(4) %}{% set ns.total = ns.total + i %}{% if i == 2 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.total }}{{ ns.found }}", {}),
    ("{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t = (3, 4) %}{{ t[1] }}{% set block %}inner {{ a }}{% endset %}[{{ block }}]", {}),
    ("{% if true %}{% set leaked = 'yes' %}{% endif %}{{ leaked }}{% for i in [1] %}{% set inner = 1 %}{% endfor %}{{ inner is defined }}", {}),
    ("{% set d = dict(a=1, b='x') %}{{ d.a }}{{ d.b }}{{ d | length }}", {}),
    ("{{ messages[0]['content'] }}{{ messages[0].role }}{{ messages | length }}", {"messages": [{"role": "user", "content": "hi"}]}),
    ("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', punct='?') }}", {}),
    ("{% macro item(m) %}<{{ m.role }}>{% endmacro %}{% for m in messages %}{{ item(m) }}{% endfor %}", {"messages": [{"role": "user"}, {"role": "assistant"}]}),
    ("{{ d | dictsort }}{{ d | dictsort(by='value', reverse=true) }}{{ none | selectattr('a') | list }}{{ none | map('upper') | list }}", {"d": {"b": 1, "A": 3, "c": 2}}),
    ("{{ strftime_now('%Y') | length }}", {}),
    ("{{ x.y if x is defined and x.y is defined else 'no' }}{{ (x or {}).get('y', 'none') }}", {}),
    ("{% for m in msgs %}{% if m.tool_calls %}{% for tc in m.tool_calls %}{{ tc.function.name }}({{ tc.function.arguments | tojson }}){% endfor %}{% endif %}{% endfor %}", {"msgs": [{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": {"q": "x y"}}}]}]}),
]


# Snippets jinja2 refuses (syntax errors, type errors, undefined callables):
# tessera must refuse them too, with an error rather than output.
FEATURE_ERRORS = [
    "{{ 'a' + 1 }}",
    "{{ x.y.z }}",
    "{{ nothing() }}",
    "{{ [1, 2] | nosuchfilter }}",
    "{{ 1 is nosuchtest }}",
    "{% for x in 5 %}{% endfor %}",
    "{% if true %}",
    "{% endif %}",
    "{{ 1 / 0 }}",
    "{{ 'abc'[1:2:0] }}",
    "{{ 'x' }",
    "{% set %}",
    "{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}",
    "{{ {'a': 1}.nomethod() }}",
    "{% break %}",
]


def run_snippet(tmp_path, source, variables):
    path = tmp_path / "snippet.jinja"
    path.write_text(source)
    messages = variables.get("messages", [])
    extra = {k: v for k, v in variables.items() if k != "messages"}
    return run_tessera("dev", "chat-template", "--template-file", path, "--messages", json.dumps(messages),
                       "--context", json.dumps(extra), check=False, timeout=60)


@pytest.mark.parametrize("source, variables", FEATURE_CASES, ids=[str(i) for i in range(len(FEATURE_CASES))])
def test_language_feature_matches_jinja2(tmp_path, source, variables):
    expected = jinja_render(source, variables.get("messages", []), False, "", "",
                            {k: v for k, v in variables.items() if k != "messages"})
    proc = run_snippet(tmp_path, source, variables)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == expected


@pytest.mark.parametrize("source", FEATURE_ERRORS)
def test_language_errors_match_jinja2(tmp_path, source):
    with pytest.raises(Exception):
        jinja_render(source, [], False, "", "", {})
    proc = run_snippet(tmp_path, source, {})
    assert proc.returncode == 1, proc.stdout
    assert proc.stderr.startswith("error: ")
