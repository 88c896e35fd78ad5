"""tessera serve speaks the OpenAI API (must-show 1): the official `openai` client
drives completions and chat, streaming and not, with usage, stop strings, n,
logprobs and the chat template of the default model."""
import pathlib

import jinja2
import openai
import pytest

PROMPT = "The three primary colors are"


@pytest.fixture(scope="module")
def client(default_server):
    return openai.OpenAI(base_url=default_server.url + "/v1", api_key="unused", max_retries=0, timeout=300)


@pytest.fixture(scope="module")
def model_id(client):
    models = client.models.list().data
    assert len(models) == 1
    return models[0].id


def prompt_tokens(server, text):
    status, body = server.post("/tokenize", {"content": text, "add_special": True})
    assert status == 200, body
    return body["tokens"]


def test_models_lists_the_default_model(client, model_id):
    assert model_id == "gemma-3-270m-q4_k_m"
    assert client.models.retrieve(model_id).id == model_id


def test_completion_and_usage(client, model_id, default_server):
    r = client.completions.create(model=model_id, prompt=PROMPT, max_tokens=8, temperature=0)
    assert r.object == "text_completion"
    assert len(r.choices) == 1 and r.choices[0].text
    assert r.choices[0].finish_reason in ("stop", "length")
    assert r.usage.prompt_tokens == len(prompt_tokens(default_server, PROMPT))
    assert 1 <= r.usage.completion_tokens <= 8
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    if r.choices[0].finish_reason == "length":
        assert r.usage.completion_tokens == 8


def test_streamed_completion_matches_whole(client, model_id):
    whole = client.completions.create(model=model_id, prompt=PROMPT, max_tokens=12, temperature=0)
    chunks = list(client.completions.create(model=model_id, prompt=PROMPT, max_tokens=12, temperature=0, stream=True,
                                            stream_options={"include_usage": True}))
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == whole.choices[0].text
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == [whole.choices[0].finish_reason]
    # include_usage: the last chunk has no choices and the same usage as the whole response.
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens
    assert all(c.usage is None for c in chunks[:-1])


def test_chat_prompt_is_the_gemma3_template(client, model_id, default_server):
    """No chat_template in the GGUF: the built-in Gemma 3 template, one BOS."""
    messages = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Name a fruit."}]
    source = (pathlib.Path(__file__).parent / "chat_templates" / "gemma3.jinja").read_text()
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = lambda msg: (_ for _ in ()).throw(Exception(msg))
    rendered = env.from_string(source).render(messages=messages, add_generation_prompt=True, bos_token="<bos>",
                                              eos_token="<eos>")
    status, body = default_server.post("/tokenize", {"content": rendered, "add_special": False})
    assert status == 200
    expected = body["tokens"]
    assert expected[0] == 2 and expected.count(2) == 1  # <bos> once
    r = client.chat.completions.create(model=model_id, messages=messages, max_tokens=6, temperature=0)
    assert r.usage.prompt_tokens == len(expected)
    assert r.object == "chat.completion"
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content


def test_chat_stream_matches_whole(client, model_id):
    messages = [{"role": "user", "content": "Write one sentence about the sea."}]
    whole = client.chat.completions.create(model=model_id, messages=messages, max_tokens=16, temperature=0)
    chunks = list(client.chat.completions.create(model=model_id, messages=messages, max_tokens=16, temperature=0,
                                                 stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens


def test_stop_strings_end_the_text_before_them(client, model_id):
    base = client.completions.create(model=model_id, prompt=PROMPT, max_tokens=24, temperature=0).choices[0].text
    words = base.split()
    assert len(words) >= 4, base
    stop = words[3]
    cut = base[: base.index(stop)]
    for stream in (False, True):
        if stream:
            chunks = list(client.completions.create(model=model_id, prompt=PROMPT, max_tokens=24, temperature=0,
                                                    stop=[stop, "\u2603never"], stream=True))
            text = "".join(c.choices[0].text for c in chunks)
            finish = [c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason]
        else:
            r = client.completions.create(model=model_id, prompt=PROMPT, max_tokens=24, temperature=0, stop=stop)
            text, finish = r.choices[0].text, [r.choices[0].finish_reason]
        assert text == cut
        assert finish == ["stop"]


def test_n_choices_use_different_seeds(client, model_id, default_server):
    r = client.completions.create(model=model_id, prompt="Once upon a time", max_tokens=12, temperature=1.0, seed=7,
                                  n=3)
    assert [c.index for c in r.choices] == [0, 1, 2]
    assert len({c.text for c in r.choices}) >= 2  # seeds 7, 8, 9 at temperature 1
    again = client.completions.create(model=model_id, prompt="Once upon a time", max_tokens=12, temperature=1.0,
                                      seed=7, n=1)
    assert again.choices[0].text == r.choices[0].text  # same seed, same text
    # The prompt counts once; completion tokens add up over the choices.
    assert r.usage.prompt_tokens == len(prompt_tokens(default_server, "Once upon a time"))
    if all(c.finish_reason == "length" for c in r.choices):
        assert r.usage.completion_tokens == 36


def test_logprobs(client, model_id):
    r = client.completions.create(model=model_id, prompt=PROMPT, max_tokens=5, temperature=0, logprobs=3)
    lp = r.choices[0].logprobs
    assert len(lp.tokens) == r.usage.completion_tokens == len(lp.token_logprobs) == len(lp.top_logprobs)
    for chosen, top in zip(lp.token_logprobs, lp.top_logprobs):
        assert chosen <= 0 and len(top) == 3
        # Greedy: the chosen token is the most likely one.
        assert chosen == pytest.approx(max(top.values()), abs=1e-4)
    c = client.chat.completions.create(model=model_id, messages=[{"role": "user", "content": "Hi"}], max_tokens=4,
                                       temperature=0, logprobs=True, top_logprobs=2)
    content = c.choices[0].logprobs.content
    assert len(content) == c.usage.completion_tokens
    assert all(len(t.top_logprobs) == 2 and t.logprob <= 0 for t in content)


def test_tokenize_detokenize_round_trip(default_server):
    status, body = default_server.post("/tokenize", {"content": "Hello world", "with_pieces": True})
    assert status == 200
    ids = [t["id"] for t in body["tokens"]]
    assert "".join(t["piece"] for t in body["tokens"]) == "Hello world"
    status, body = default_server.post("/detokenize", {"tokens": ids})
    assert status == 200 and body["content"] == "Hello world"
