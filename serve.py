"""An OpenAI-compatible server for budget forcing: /v1/chat/completions and /v1/models.

    python serve.py                                   # the embedded SmolLM2-135M-Instruct on 127.0.0.1:8000
    python serve.py --model runs/demo/train --max-think 128 --num-wait 1
    S1_API_KEY=... python serve.py --host 0.0.0.0      # any other address needs a key

Any OpenAI client reaches budget_force.py through it. Budget forcing is set per request with extra
body fields named like budget_force.py's flags (max_think, min_think, num_wait, wait_str, cap_str), the command
line's values being the defaults; max_tokens caps the answer (budget_force's max_answer). The response
follows the reasoning servers' convention (vLLM, SGLang, DeepSeek): the thinking in
message.reasoning_content, the answer in message.content, usage.completion_tokens_details.reasoning_tokens,
and each choice has a budget_forcing object saying what was forced. stream=true sends server-sent
events with reasoning and answer deltas apart.

One process, one generation at a time (a request's n choices decode as one batch); other requests
wait their turn, at most --max-queue of them, and beyond that get 429. Standard library HTTP only.
"""
import argparse
import collections
import contextlib
import hmac
import json
import os
import secrets
import sys
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import budget_force as bf

EMBEDDED_NAME = "SmolLM2-135M-Instruct"  # the model id /v1/models lists when --model is not given
LOCAL_HOSTS = ("127.0.0.1", "localhost")  # where the server may listen without an API key
BUDGET_FIELDS = ("max_think", "min_think", "num_wait")  # extra body fields: non-negative integers
UNSUPPORTED = ("stop", "tools", "functions", "logprobs", "response_format")  # refused, never silently ignored
MAX_BODY_BYTES = 4 * 2**20
MAX_CHOICES = 16


class RequestError(Exception):
    """A refused request: its HTTP status and an OpenAI-style error body."""

    def __init__(self, message, param=None, code=None, status=400, kind="invalid_request_error"):
        super().__init__(message)
        self.status = status
        self.body = {"error": {"message": message, "type": kind, "param": param, "code": code}}


# -----------------------------------------------------------------------------
# the request: its one question and budget_force's keyword arguments

def field(body, name, default, kind, ok, wanted):
    """body[name] (default when absent or null), checked: kind (JSON true is not an integer here), then ok."""
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool) or not ok(value):
        raise RequestError(f"{name} must be {wanted}, got {json.dumps(value)}", param=name, code="invalid_value")
    return value


def question_of(messages):
    """The text of the request's one user message. budget_force takes one question per row, so a
    system message or earlier turns are refused rather than silently dropped."""
    if not isinstance(messages, list) or not messages:
        raise RequestError("messages must be a non-empty list", param="messages")
    if len(messages) != 1 or not isinstance(messages[0], dict) or messages[0].get("role") != "user":
        raise RequestError("this server answers one question per request: send exactly one message, with role "
                           "'user' (system messages and earlier turns are not supported)", param="messages")
    content = messages[0].get("content")
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        content = "\n".join(str(p.get("text", "")) for p in content)  # content parts: text only
    if not isinstance(content, str) or not content.strip():
        raise RequestError("the user message's content must be non-empty text", param="messages")
    return content


def parse_request(raw, model_name, defaults):
    """The body -> (question, n, stream, include_usage, budget_force's keyword arguments); RequestError if bad."""
    try:
        body = json.loads(raw)
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError
        raise RequestError(f"the body is not valid JSON: {e}", code="invalid_json") from None
    if not isinstance(body, dict):
        raise RequestError("the body must be a JSON object", code="invalid_json")
    if body.get("model", model_name) != model_name:
        raise RequestError(f"unknown model {json.dumps(body['model'])}; this server serves {model_name!r}",
                           param="model", code="model_not_found")
    question = question_of(body.get("messages"))
    for name in UNSUPPORTED:
        if body.get(name):
            raise RequestError(f"{name} is not supported by this server", param=name, code="unsupported_parameter")
    field(body, "top_p", 1, (int, float), lambda v: v == 1, "1 (nucleus sampling is not supported)")
    settings = {name: field(body, name, defaults[name], int, lambda v: v >= 0, "a non-negative integer")
                for name in BUDGET_FIELDS}
    if settings["min_think"] > settings["max_think"]:
        raise RequestError(f"min_think ({settings['min_think']}) is larger than max_think ({settings['max_think']})",
                           param="min_think", code="invalid_value")
    settings["wait_str"] = field(body, "wait_str", defaults["wait_str"], str, lambda v: True, "a string")
    settings["cap_str"] = field(body, "cap_str", defaults["cap_str"], str, lambda v: True, "a string")  # None: the format's
    settings["max_answer"] = field(body, "max_tokens", defaults["max_answer"], int, lambda v: v >= 1, "a positive integer")
    settings["temperature"] = field(body, "temperature", defaults["temperature"], (int, float), lambda v: 0 <= v <= 2,
                                    "a number from 0 to 2")
    seed = defaults["seed"] if defaults["seed"] is not None else secrets.randbelow(2**31)  # OpenAI: no seed, no repeat
    settings["seed"] = field(body, "seed", seed, int, lambda v: 0 <= v < 2**63, "an integer from 0 to 2**63-1")
    n = field(body, "n", 1, int, lambda v: 1 <= v <= MAX_CHOICES, f"an integer from 1 to {MAX_CHOICES}")
    stream = field(body, "stream", False, bool, lambda v: True, "true or false")
    options = field(body, "stream_options", {}, dict, lambda v: True, "an object")
    return question, n, stream, bool(options.get("include_usage")), settings


# -----------------------------------------------------------------------------
# the model, one generation at a time

class Engine:
    """The loaded model and the rule that it runs one generation at a time. The tokenizer is used only
    inside a turn too: a fast tokenizer raises "Already borrowed" when two threads use it at once."""

    def __init__(self, model, tokenizer, name, fmt="auto", max_queue=16, **defaults):
        self.model, self.tokenizer, self.name, self.fmt, self.defaults = model, tokenizer, name, fmt, defaults
        self.stop_ids = bf.stop_token_ids(tokenizer, model)
        self.max_queue, self.admitted = max_queue, 0  # admitted: the running request and the waiting ones
        self.lock, self.admit_lock = threading.Lock(), threading.Lock()

    @contextlib.contextmanager
    def turn(self):
        """Wait for the model; 429 at once when max_queue requests are already waiting."""
        with self.admit_lock:
            if self.admitted > self.max_queue:
                raise RequestError("the server is busy: too many requests waiting, retry later", code="queue_full",
                                   status=429, kind="rate_limit_error")
            self.admitted += 1
        try:
            with self.lock:
                yield
        finally:
            with self.admit_lock:
                self.admitted -= 1

    def generate(self, questions, settings, on_token=None):
        """budget_force's rows (call inside a turn); its ValueErrors (a prompt longer than the context,
        a setting it refuses) become 400s."""
        try:
            return bf.budget_force(self.model, self.tokenizer, questions, fmt=self.fmt, on_token=on_token, **settings)
        except ValueError as e:
            raise RequestError(str(e), code="invalid_value") from None

    def usage(self, results):
        prompt = len(self.tokenizer.encode(results[0]["prompt"], add_special_tokens=False))  # counted once for n choices
        completion = sum(len(r["completion_ids"]) for r in results)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                "completion_tokens_details": {"reasoning_tokens": sum(r["thinking_tokens"] for r in results)}}


def budget_report(result):
    """A choice's budget_forcing object: whether the cap closed the thinking, the Waits, forced tokens by kind."""
    forced = collections.Counter()
    for span in result["forced_spans"]:
        forced[span["kind"]] += span["tokens"][1] - span["tokens"][0]
    return {"forced_stop": result["forced_stop"], "waits": result["waits"], "thinking_tokens": result["thinking_tokens"],
            "answer_tokens": result["answer_tokens"], "forced_tokens": dict(forced)}


def finish_reason(result):
    """"length" when max_tokens cut the answer, else "stop": the model ended its answer itself. Thinking
    always closes before the answer, by the cap or by the model: budget_forcing.forced_stop says which."""
    return "length" if any(s["kind"] == "answer_cap" for s in result["forced_spans"]) else "stop"


class Deltas:
    """One choice's streamed text, decoded incrementally as vLLM does: a token's text is sent once the
    tokens since the last delta decode to whole characters (a multi-byte character split across tokens
    waits for its last byte), so the deltas add up to the non-streamed reasoning_content and content.
    The delimiter is in neither; the answer is stripped (as budget_force's "answer") and loses its end-of-turn."""

    def __init__(self, tokenizer, stop_ids):
        self.tokenizer, self.stop_ids = tokenizer, stop_ids
        self.phase, self.ids, self.prefix, self.read = "think", [], 0, 0
        self.answered, self.held = False, ""  # held: the answer's trailing whitespace, sent only if text follows

    def add(self, token_id, phase):
        """[(field, text)] for this token: reasoning_content or content."""
        out = []
        if phase != self.phase:
            out = self.flush()
            self.phase, self.ids, self.prefix, self.read = phase, [], 0, 0
        if phase == "close" or token_id in self.stop_ids and phase == "answer":
            return out
        self.ids.append(token_id)
        before = self.tokenizer.decode(self.ids[self.prefix:self.read])
        after = self.tokenizer.decode(self.ids[self.prefix:])
        if after.endswith("\ufffd") or len(after) <= len(before):  # an unfinished character: wait
            return out
        self.prefix, self.read = self.read, len(self.ids)
        return out + self.emit(after[len(before):])

    def flush(self):
        """The rest of the phase, an unfinished character too (as the whole text's decode shows it)."""
        if self.read == len(self.ids):
            return []
        before = self.tokenizer.decode(self.ids[self.prefix:self.read])
        after = self.tokenizer.decode(self.ids[self.prefix:])
        self.prefix = self.read = len(self.ids)
        return self.emit(after[len(before):])

    def emit(self, text):
        if self.phase == "think":
            return [("reasoning_content", text)] if text else []
        text = self.held + text if self.answered else text.lstrip()
        body = text.rstrip()
        self.held = text[len(body):]
        self.answered = self.answered or bool(body)
        return [("content", body)] if body else []


# -----------------------------------------------------------------------------
# HTTP

class Handler(BaseHTTPRequestHandler):
    """One connection (ThreadingHTTPServer: a thread each). make_server sets engine and api_key on a subclass."""
    engine, api_key = None, None

    def do_GET(self):
        if self.authorized():
            if self.path.rstrip("/") != "/v1/models":
                return self.send_json(404, RequestError(f"no such path: {self.path}", code="not_found").body)
            self.send_json(200, {"object": "list", "data": [{"id": self.engine.name, "object": "model",
                                                             "created": 0, "owned_by": "s1"}]})

    def do_POST(self):
        self.events_started = False
        try:
            if not self.authorized():
                return
            if self.path.rstrip("/") != "/v1/chat/completions":
                raise RequestError(f"no such path: {self.path}", code="not_found", status=404)
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= MAX_BODY_BYTES:
                raise RequestError(f"the body must be 1 to {MAX_BODY_BYTES} bytes of JSON (Content-Length: {length})")
            question, n, stream, include_usage, settings = parse_request(self.rfile.read(length), self.engine.name,
                                                                         self.engine.defaults)
            (self.stream if stream else self.complete)([question] * n, settings, include_usage)
        except RequestError as e:
            self.send_event(e.body) if self.events_started else self.send_json(e.status, e.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client left; a streamed generation stopped with it
        except Exception as e:  # a bug: say so in a 500 and keep serving
            traceback.print_exc()
            body = RequestError(f"internal error: {type(e).__name__}: {e}", status=500, kind="server_error").body
            self.send_event(body) if self.events_started else self.send_json(500, body)

    def complete(self, questions, settings, include_usage):
        engine = self.engine
        with engine.turn():
            results = engine.generate(questions, settings)
            usage = engine.usage(results)
        choices = [{"index": i, "message": {"role": "assistant", "content": r["answer"], "reasoning_content": r["thinking"]},
                    "finish_reason": finish_reason(r), "budget_forcing": budget_report(r)} for i, r in enumerate(results)]
        self.send_json(200, {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
                             "model": engine.name, "choices": choices, "usage": usage})

    def stream(self, questions, settings, include_usage):
        """Server-sent events, started at the first token so that a refusal before it is still a plain 400."""
        engine, head = self.engine, {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk",
                                     "created": int(time.time()), "model": self.engine.name}
        deltas = [Deltas(engine.tokenizer, engine.stop_ids) for _ in questions]

        def send(row, delta, **extra):
            self.send_event({**head, "choices": [{"index": row, "delta": delta, "finish_reason": None, **extra}]})

        def on_token(row, token_id, phase):
            if not self.events_started:
                self.start_events()
                for i in range(len(questions)):
                    send(i, {"role": "assistant", "content": ""})
            for name, text in deltas[row].add(token_id, phase):
                send(row, {name: text})

        with engine.turn():
            results = engine.generate(questions, settings, on_token)
            usage = engine.usage(results)
            rests = [d.flush() for d in deltas]
        if not self.events_started:
            self.start_events()
        for row, (result, rest) in enumerate(zip(results, rests)):
            for name, text in rest:
                send(row, {name: text})
            send(row, {}, finish_reason=finish_reason(result), budget_forcing=budget_report(result))
        if include_usage:
            self.send_event({**head, "choices": [], "usage": usage})
        self.wfile.write(b"data: [DONE]\n\n")

    def authorized(self):
        """True without a key, or with `Authorization: Bearer <key>`; else a 401 is sent."""
        given = self.headers.get("Authorization", "").encode()
        if self.api_key is None or hmac.compare_digest(given, f"Bearer {self.api_key}".encode()):
            return True
        self.send_json(401, RequestError("invalid or missing API key: send Authorization: Bearer <key>",
                                         code="invalid_api_key", status=401).body)
        return False

    def send_json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def start_events(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()  # HTTP/1.0: the stream ends when the connection closes
        self.events_started = True

    def send_event(self, body):
        self.wfile.write(f"data: {json.dumps(body)}\n\n".encode())


def make_server(engine, host="127.0.0.1", port=8000, api_key=None):
    """A ThreadingHTTPServer for engine (port 0: a free one, then server.server_port). Anything but
    localhost needs an API key."""
    if not api_key and host not in LOCAL_HOSTS:
        raise ValueError(f"--host {host} serves beyond this machine: set --api-key (or S1_API_KEY) too")
    handler = type("EngineHandler", (Handler,), {"engine": engine, "api_key": api_key or None})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model", default=None, help="hub id, local folder or .gguf file (default: embedded SmolLM2-135M-Instruct)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on; other than localhost needs --api-key")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (0: any free one)")
    parser.add_argument("--api-key", default=os.environ.get("S1_API_KEY"),
                        help="require `Authorization: Bearer KEY` (default: $S1_API_KEY, else no key)")
    parser.add_argument("--max-queue", type=int, default=16, help="requests that may wait behind the running one; more get 429")
    parser.add_argument("--format", default="auto", help="delimiter preset: auto, s1 or r1")
    defaults = parser.add_argument_group("defaults for requests that do not set the field")
    defaults.add_argument("--max-think", type=int, default=2000, help="max_think: hard cap on thinking tokens")
    defaults.add_argument("--min-think", type=int, default=0, help="min_think: insert Wait while fewer thinking tokens")
    defaults.add_argument("--num-wait", type=int, default=0, help="num_wait: suppress the end of thinking this many times")
    defaults.add_argument("--wait-str", default="Wait", help="wait_str: inserted for each suppressed end ('': nothing)")
    defaults.add_argument("--cap-str", default=None, help="cap_str: the text forced at the cap (default: the format's own)")
    defaults.add_argument("--max-answer", type=int, default=512, help="max_tokens: cap on answer tokens")
    defaults.add_argument("--temperature", type=float, default=0.0, help="temperature (0 = greedy)")
    defaults.add_argument("--seed", type=int, default=None, help="seed (default: a fresh one per request)")
    args = parser.parse_args(argv)
    try:
        if min(args.max_think, args.min_think, args.num_wait, args.max_queue) < 0 or args.max_answer < 1:
            raise ValueError("--max-think, --min-think, --num-wait and --max-queue must be >= 0, --max-answer >= 1")
        if args.min_think > args.max_think:
            raise ValueError(f"--min-think ({args.min_think}) is larger than --max-think ({args.max_think})")
        if not 0 <= args.temperature <= 2 or not 0 <= args.port < 2**16:
            raise ValueError("--temperature must be within 0-2 and --port within 0-65535")
        if not args.api_key and args.host not in LOCAL_HOSTS:  # checked again by make_server; here before the load
            raise ValueError(f"--host {args.host} serves beyond this machine: set --api-key (or S1_API_KEY) too")
        if args.format not in ("auto", *bf.FORMATS):
            raise ValueError(f"unknown --format {args.format!r}; choose auto, {', '.join(bf.FORMATS)}")
        model, tokenizer = bf.load_model(args.model)
        if args.format == "auto":
            fmt, why = bf.detect_format(tokenizer)
            print(f"format: {fmt} (auto: {why}; --format s1|r1 to choose)", file=sys.stderr)
        else:
            fmt = args.format
        engine = Engine(model, tokenizer, args.model or EMBEDDED_NAME, fmt, args.max_queue, max_think=args.max_think,
                        min_think=args.min_think, num_wait=args.num_wait, wait_str=args.wait_str, cap_str=args.cap_str,
                        max_answer=args.max_answer, temperature=args.temperature, seed=args.seed)
        server = make_server(engine, args.host, args.port, args.api_key)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    print(f"serving {engine.name} at http://{args.host}:{server.server_port}/v1 (Ctrl-C stops)", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
