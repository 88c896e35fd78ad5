"""Prefix caching through the server (must-show 4): a second request sharing a
400-token prefix reports cached prompt tokens, and the engine's metrics count
both requests' time to first token. (No wall-clock assertion: timings on a
shared machine are evidence for docs/performance.md, not for a test.)"""
import random


def ttft_count(server):
    return server.metrics()["tessera_time_to_first_token_seconds_count"]


def test_shared_prefix_is_served_from_the_cache(default_server):
    rng = random.Random(4)
    words = ["river", "stone", "garden", "lamp", "winter", "copper", "violin", "harbor", "maple", "orbit"]
    # A prefix no other test sends, so the first request finds nothing cached.
    prefix = "Notes: " + " ".join(rng.choice(words) for _ in range(420)) + "\n"
    status, tok = default_server.post("/tokenize", {"content": prefix, "add_special": True})
    assert status == 200 and len(tok["tokens"]) >= 400

    before = default_server.metrics()
    first = default_server.post("/v1/completions", {"prompt": prefix + "Question one:", "max_tokens": 4,
                                                    "temperature": 0})[1]
    second = default_server.post("/v1/completions", {"prompt": prefix + "Another question:", "max_tokens": 4,
                                                     "temperature": 0})[1]
    after = default_server.metrics()

    assert first["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
    cached = second["usage"]["prompt_tokens_details"]["cached_tokens"]
    # Whole blocks of the shared prefix are reused; the tail of the prefix
    # that shares a block with the differing suffix is not.
    assert 384 <= cached <= len(tok["tokens"])
    assert cached < second["usage"]["prompt_tokens"]
    assert after["tessera_time_to_first_token_seconds_count"] >= before["tessera_time_to_first_token_seconds_count"] + 2
    assert after["tessera_prefix_cache_hits_total"] > before["tessera_prefix_cache_hits_total"]
    assert 0 < after["tessera_prefix_cache_hit_rate"] <= 1


def test_chat_turns_reuse_the_conversation_prefix(default_server):
    history = [{"role": "user", "content": "Tell me about " + "the history of maps and charts " * 30}]
    first = default_server.post("/v1/chat/completions", {"messages": history, "max_tokens": 4, "temperature": 0})[1]
    history += [{"role": "assistant", "content": first["choices"][0]["message"]["content"]},
                {"role": "user", "content": "And then?"}]
    second = default_server.post("/v1/chat/completions", {"messages": history, "max_tokens": 4, "temperature": 0})[1]
    assert second["usage"]["prompt_tokens_details"]["cached_tokens"] >= 128
