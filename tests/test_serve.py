"""serve.py through the official openai client: a server on a free localhost port in a thread of this
process, on the embedded model (the session's copy), with budgets of a few tokens per request.

The embedded model is untrained for thinking: it tries to close its thinking at once, so a forced
Wait (or min_think) is what makes it think, and a cap forces "Final Answer:" into the answer.
"""
import http.client
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

import budget_force as bf
import serve

NAME = "SmolLM2-135M-Instruct"
DEFAULTS = dict(max_think=8, min_think=0, num_wait=0, wait_str="Wait", cap_str=None, max_answer=8, temperature=0.0, seed=0)


def start(engine, api_key=None):
    server = serve.make_server(engine, "127.0.0.1", 0, api_key)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def engine(smol):
    model, tokenizer = smol
    return serve.Engine(model, tokenizer, NAME, bf.detect_format(tokenizer)[0], max_queue=7, **DEFAULTS)


@pytest.fixture(scope="module")
def server(engine):
    server = start(engine)
    yield server
    server.shutdown()


def client_for(server, api_key="none"):
    return openai.OpenAI(base_url=f"http://127.0.0.1:{server.server_port}/v1", api_key=api_key, max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def client(server):
    return client_for(server)


def ask(client, question, **extra):
    """One chat completion; extra: max_tokens, temperature, seed, n, stream, or budget_force's fields."""
    standard = {k: extra.pop(k) for k in ("max_tokens", "temperature", "seed", "n", "stream", "stream_options") if k in extra}
    return client.chat.completions.create(model=NAME, messages=[{"role": "user", "content": question}],
                                          extra_body=extra, **standard)


def forcing(choice):
    return choice.model_extra["budget_forcing"]


def test_models_lists_the_served_model(client):
    assert [m.id for m in client.models.list().data] == [NAME]


def test_cap_closes_thinking_at_max_think(client, smol):
    response = ask(client, "What color is the sky?", max_think=6, min_think=6, max_tokens=8)
    choice = response.choices[0]
    report = forcing(choice)
    assert response.usage.completion_tokens_details.reasoning_tokens == 6 == report["thinking_tokens"]
    assert report["forced_stop"] is True and report["forced_tokens"]["cap"] > 0
    assert choice.finish_reason in ("stop", "length")
    assert choice.message.content.startswith(bf.FINAL_ANSWER)  # the cap forces it into the answer
    expected = bf.budget_force(*smol, "What color is the sky?", max_think=6, min_think=6, max_answer=8)[0]
    assert choice.message.model_extra["reasoning_content"] == expected["thinking"]
    assert choice.message.content == expected["answer"]
    assert "<|im_start|>" not in choice.message.model_extra["reasoning_content"] + choice.message.content
    assert response.usage.completion_tokens == len(expected["completion_ids"])


def test_forced_wait_equals_budget_force_and_does_not_stick(client, smol):
    question = "What color is the sky?"
    response = ask(client, question, max_think=12, num_wait=1, wait_str="Wait", max_tokens=8)
    choice = response.choices[0]
    expected = bf.budget_force(*smol, question, max_think=12, num_wait=1, max_answer=8)[0]
    assert forcing(choice)["waits"] == 1 == expected["waits"]
    assert forcing(choice)["forced_tokens"]["wait"] >= 1
    assert choice.message.model_extra["reasoning_content"] == expected["thinking"]
    assert choice.message.content == expected["answer"]
    assert choice.finish_reason == "stop"
    # The next request without the fields gets the server's defaults, not the previous request's.
    plain = ask(client, question).choices[0]
    assert forcing(plain)["waits"] == 0
    assert plain.message.model_extra["reasoning_content"] == bf.budget_force(*smol, question, **DEFAULTS)[0]["thinking"]


def test_cap_str_is_what_the_cap_forces(client, smol):
    settings = dict(max_think=4, min_think=4, cap_str="Answer now:")
    choice = ask(client, "What color is the sky?", max_tokens=6, **settings).choices[0]
    expected = bf.budget_force(*smol, "What color is the sky?", max_answer=6, **settings)[0]
    assert choice.message.content.startswith("Answer now:") and choice.message.content == expected["answer"]
    assert forcing(choice)["forced_stop"] is True


def test_max_tokens_caps_the_answer_with_finish_reason_length(client):
    choice = ask(client, "Write a long story about a cat.", max_think=0, max_tokens=3).choices[0]
    assert forcing(choice)["answer_tokens"] == 3 and forcing(choice)["forced_tokens"]["answer_cap"] == 1
    assert choice.finish_reason == "length"


def test_stream_deltas_add_up_to_the_response(client):
    settings = dict(max_think=4, min_think=4, max_tokens=5, n=2, temperature=0.8, seed=5)
    whole = ask(client, "Name a fruit.", **settings)
    chunks = list(ask(client, "Name a fruit.", stream=True, stream_options={"include_usage": True}, **settings))
    for i, choice in enumerate(whole.choices):
        deltas = [c.choices[0] for c in chunks if c.choices and c.choices[0].index == i]
        reasoning = "".join(d.delta.model_extra.get("reasoning_content") or "" for d in deltas)
        content = "".join(d.delta.content or "" for d in deltas)
        assert reasoning == choice.message.model_extra["reasoning_content"] and reasoning
        assert content == choice.message.content
        assert [d.finish_reason for d in deltas if d.finish_reason] == [choice.finish_reason]
        assert deltas[-1].model_extra["budget_forcing"] == forcing(choice)
    assert chunks[-1].usage == whole.usage


def test_deltas_never_split_a_character(smol_tokenizer):
    tok = smol_tokenizer
    thinking, answer = tok.encode("Thinking: 日本語, café 🙂🙂 ok", add_special_tokens=False), tok.encode("  Final Answer: 🙂 é  ", add_special_tokens=False)
    close, stop = tok.encode("<|im_start|>answer\n", add_special_tokens=False), tok.convert_tokens_to_ids("<|im_end|>")
    for cut in (len(thinking), len(thinking) - 1):  # the last: thinking cut inside the emoji's bytes
        deltas, sent = serve.Deltas(tok, {stop}), {"reasoning_content": "", "content": ""}
        tokens = [(t, "think") for t in thinking[:cut]] + [(t, "close") for t in close] + [(t, "answer") for t in answer + [stop]]
        for token, phase in tokens:
            for name, text in deltas.add(token, phase):
                assert "\ufffd" not in text
                sent[name] += text
        for name, text in deltas.flush():
            sent[name] += text
        assert sent == {"reasoning_content": tok.decode(thinking[:cut]), "content": tok.decode(answer).strip()}


BAD = {
    "unknown model": (dict(model="gpt-4o"), "model"),
    "negative budget": (dict(extra_body={"max_think": -1}), "max_think"),
    "min_think > max_think": (dict(extra_body={"min_think": 9, "max_think": 4}), "min_think"),
    "budget not an integer": (dict(extra_body={"num_wait": "two"}), "num_wait"),
    "cap_str not a string": (dict(extra_body={"cap_str": 3}), "cap_str"),
    "a system message": (dict(messages=[{"role": "system", "content": "Be brief."},
                                        {"role": "user", "content": "Hi"}]), "messages"),
    "prompt longer than the context": (dict(messages=[{"role": "user", "content": "hello " * 9000}]), None),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_request_is_a_400_with_an_error_body(client, case):
    request, param = BAD[case]
    request = {"model": NAME, "messages": [{"role": "user", "content": "Hi"}], **request}
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(**request)
    assert e.value.status_code == 400
    assert set(e.value.body) == {"message", "type", "param", "code"} and e.value.body["param"] == param
    assert e.value.body["message"] and e.value.type == "invalid_request_error"


def raw_post(server, body, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=60)
    connection.request("POST", "/v1/chat/completions", body=body, headers=headers or {})
    response = connection.getresponse()
    return response.status, json.loads(response.read())


def test_malformed_json_is_a_400_and_the_server_keeps_serving(server, client):
    status, body = raw_post(server, b'{"model": "x", "messages": [')
    assert status == 400 and body["error"]["code"] == "invalid_json" and body["error"]["message"]
    status, body = raw_post(server, b'[1, 2]')
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    assert ask(client, "What is 2+2?", max_think=0, max_tokens=2).choices[0].message.content  # still serving


def test_concurrent_requests_keep_their_own_question_and_settings(client, smol_tokenizer):
    """8 at once, each with its own question and Wait string: each answer is built from its own."""
    questions = ["What is 2+2?", "Name a red fruit please.", "How many legs does a spider have?",
                 "What color is the sky on a clear day?", "Who wrote the play Hamlet, and when?",
                 "What is twelve times twelve? Answer with a number.", "Name the largest ocean on the planet Earth.",
                 "What do bees make from the nectar of flowers? One word."]
    words = ["Apple", "Red", "Blue", "Green", "Yellow", "Black", "White", "Hello"]  # one token each
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda qw: ask(client, qw[0], max_think=2, num_wait=1, wait_str=qw[1], max_tokens=3),
                                  zip(questions, words)))
    for question, word, response in zip(questions, words, responses):
        prompt = bf.build_prompt(smol_tokenizer, question)
        assert response.usage.prompt_tokens == len(smol_tokenizer.encode(prompt, add_special_tokens=False))
        assert response.choices[0].message.model_extra["reasoning_content"].startswith(word)
        assert forcing(response.choices[0])["waits"] == 1
    assert len({r.id for r in responses}) == 8
    assert len({r.choices[0].message.model_extra["reasoning_content"] for r in responses}) == 8


def test_full_queue_gets_429(smol):
    """With max_queue=0 one request may wait for the model; a second meanwhile gets 429 at once."""
    model, tokenizer = smol
    engine = serve.Engine(model, tokenizer, NAME, "s1", max_queue=0, **DEFAULTS)
    server = start(engine)
    client = client_for(server)
    try:
        with ThreadPoolExecutor(1) as pool:
            with engine.lock:  # the model is busy
                first = pool.submit(ask, client, "Hi", max_think=0, max_tokens=2)
                deadline = time.time() + 60
                while engine.admitted == 0:  # until the first request waits for its turn
                    assert time.time() < deadline
                    time.sleep(0.01)
                with pytest.raises(openai.RateLimitError) as e:
                    ask(client, "Hi", max_think=0, max_tokens=2)
                assert e.value.status_code == 429 and e.value.body["code"] == "queue_full"
            assert first.result().choices[0].finish_reason in ("stop", "length")  # it ran once the model was free
    finally:
        server.shutdown()


def test_api_key_is_required_when_set(engine):
    server = start(engine, api_key="s3cret")
    try:
        with pytest.raises(openai.AuthenticationError):
            client_for(server, "wrong").models.list()
        with pytest.raises(openai.AuthenticationError):
            ask(client_for(server, "wrong"), "Hi", max_think=0, max_tokens=2)
        status, body = raw_post(server, json.dumps({"messages": [{"role": "user", "content": "Hi"}]}).encode())
        assert status == 401 and body["error"]["code"] == "invalid_api_key"
        assert [m.id for m in client_for(server, "s3cret").models.list().data] == [NAME]
    finally:
        server.shutdown()


@pytest.mark.parametrize("argv, says", [
    (["--host", "0.0.0.0"], "--api-key"),
    (["--max-think", "-1"], "must be >= 0"),
    (["--min-think", "5", "--max-think", "4"], "larger than --max-think"),
    (["--format", "xml"], "unknown --format"),
])
def test_cli_bad_input_is_one_line_and_exit_2(argv, says, capsys, monkeypatch):
    monkeypatch.delenv("S1_API_KEY", raising=False)
    monkeypatch.setattr(serve.bf, "load_model", lambda *a: pytest.fail("the model was loaded before the check"))
    with pytest.raises(SystemExit) as e:
        serve.main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and says in err and len(err.strip().splitlines()) == 1
