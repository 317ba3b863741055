"""
Where a training step's time goes on this CPU, and how close it gets to the CPU's float32 matmul peak.

It runs the demo's first global batches (curated s1k.jsonl, the base model, --batch-size 8,
--block-size 512) through train.py's own pieces (micro_batches, collate, its loss, AdamW), three ways,
side by side, alternating step by step so that a noisy, shared CPU slows all alike:
  packed 8, sdpa        one row of 8 examples, transformers' sdpa (a dense attention over the row
                        under a block-diagonal mask), foreach AdamW
  micro-batch 1, sdpa   8 rows of one example each, foreach AdamW
  packed 8, packed_sdpa one row of 8, attention example by example, fused AdamW (train.py on a CPU)
All three learn the same thing: same examples, same loss normalization, same global batch.
For each: tokens/s and GFLOP/s (6 x parameters x tokens/s) by wall clock and by CPU time of the
process (the steadier measure on a shared machine), the step split into forward (lm_head and loss
included), backward and optimizer (clip + step), and, timed alone at the same shapes, attention
(forward + backward over all layers) and lm_head + loss (forward + backward). The float32 matmul
peak is measured in the same run (bench_precision.gflops). Limit the kernels to AVX2 to see a CPU
without AVX-512. --compile adds a fourth way, the third under torch.compile(dynamic=True): its
warm-up batch (compilation included) is printed next to the others', so whether compiling pays for
itself within the demo's 48 steps can be read off:

    python benchmarks/bench_train.py
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 python benchmarks/bench_train.py
"""
import argparse
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
import bench_precision  # noqa: E402
import train  # noqa: E402

CONFIGS = {  # name: (micro-batch size, attention, fused AdamW)
    "packed 8, sdpa": (8, "sdpa", False),
    "micro-batch 1, sdpa": (1, "sdpa", False),
    "packed 8, packed_sdpa": (8, "packed_sdpa", True),
}


class Timer:
    """Wall and CPU seconds, summed over the blocks timed with it."""
    def __init__(self):
        self.wall = self.cpu = 0.0

    def __enter__(self):
        self.w, self.c = time.perf_counter(), time.process_time()

    def __exit__(self, *exc):
        self.wall += time.perf_counter() - self.w
        self.cpu += time.process_time() - self.c


def timed_step(model, optimizer, examples, lengths, batch, micro, pad_id):
    """One step of train.train's loop (one process) + clip + step, with each part timed."""
    t = {k: Timer() for k in ("forward", "backward", "optimizer")}
    n_trained = max(sum(train.trained_tokens(examples[i]) for i in batch), 1)
    for ids in train.micro_batches(batch, lengths, micro, 1, 0):
        mb = train.collate([examples[i] for i in ids], pad_id)
        with t["forward"]:  # as train.train computes it
            targets = mb["labels"][0, 1:]
            keep = (targets != -100).nonzero().squeeze(1)
            logits = model(input_ids=mb["input_ids"], position_ids=mb["position_ids"], use_cache=False,
                           logits_to_keep=keep).logits[0]
            loss = torch.nn.functional.cross_entropy(logits.float(), targets[keep], reduction="sum")
        with t["backward"]:
            (loss / n_trained).backward()
    with t["optimizer"]:
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return t


def attention_alone(config, examples, batch, attn, repeats=2):
    """Forward + backward of one layer's attention over the packed row of `batch`, x layers (CPU s)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    sizes = [len(examples[i]["input_ids"]) for i in batch]
    n, heads, kv, dim = sum(sizes), config.num_attention_heads, config.num_key_value_heads, config.hidden_size // config.num_attention_heads
    module = torch.nn.Module()
    module.num_key_value_groups, module.is_causal = heads // kv, True
    position_ids = torch.tensor([p for s in sizes for p in range(s)]).unsqueeze(0)
    seg = torch.tensor([k for k, s in enumerate(sizes) for _ in range(s)])
    mask = (seg[:, None] == seg[None, :]) & torch.ones(n, n, dtype=torch.bool).tril()
    best = float("inf")
    for _ in range(repeats):
        q = torch.randn(1, heads, n, dim, requires_grad=True)
        k, v = (torch.randn(1, kv, n, dim, requires_grad=True) for _ in range(2))
        c = time.process_time()
        if attn == "sdpa":
            out = sdpa_attention_forward(module, q, k, v, mask[None, None], scaling=dim ** -0.5)[0]
        else:
            out = train.packed_attention(module, q, k, v, None, scaling=dim ** -0.5, position_ids=position_ids)[0]
        out.sum().backward()
        best = min(best, time.process_time() - c)
    return best * config.num_hidden_layers


def lm_head_alone(model, examples, batch, repeats=2):
    """Forward + backward of lm_head and the loss at the trained positions of `batch` (CPU s)."""
    n_keep = sum(train.trained_tokens(examples[i]) for i in batch)
    weight = model.lm_head.weight.detach().clone().requires_grad_()
    targets = torch.randint(0, weight.shape[0], (n_keep,))
    best = float("inf")
    for _ in range(repeats):
        hidden = torch.randn(n_keep, weight.shape[1], requires_grad=True)
        c = time.process_time()
        F.cross_entropy(hidden @ weight.T, targets, reduction="sum").backward()
        best = min(best, time.process_time() - c)
    return best


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="runs/demo/base", help="as train.py's --model ('' for the embedded model)")
    p.add_argument("--data", default="runs/demo/curated/s1k.jsonl")
    p.add_argument("--steps", type=int, default=3, help="global batches timed per way (after one warm-up)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--block-size", type=int, default=512)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--compile", action="store_true", help="also time packed_sdpa under torch.compile")
    args = p.parse_args()
    if args.compile:
        CONFIGS["packed 8, packed_sdpa, compiled"] = CONFIGS["packed 8, packed_sdpa"]
    torch.set_num_threads(args.threads)
    try:
        tok = train.load_tokenizer(args.model or None)
        examples, _ = train.build_dataset(train.load_rows(args.data), tok, args.block_size)
    except ValueError as e:
        print(f"error: {e} (run `bash run.sh` first, or pass --model and --data)", file=sys.stderr)
        sys.exit(2)
    lengths = [len(e["input_ids"]) for e in examples]
    batches = train.epoch_batches(len(examples), args.batch_size, 0, 0)[: args.steps + 1]
    peak = bench_precision.gflops(torch.float32)
    models = {}
    for name, (micro, attn, fused) in CONFIGS.items():
        model = train.load_model(args.model or None, attn).train()
        optimizer = torch.optim.AdamW(train.param_groups(model, 1e-4), lr=1e-5, betas=(0.9, 0.95), eps=1e-8, fused=fused)
        models[name] = (torch.compile(model, dynamic=True) if name.endswith("compiled") else model), optimizer
    n_params = sum(p.numel() for p in models[name][0].parameters())
    results, warm_up = {name: [] for name in CONFIGS}, {}
    for k, batch in enumerate(batches):  # the first batch warms up each way and is not counted
        for name, (micro, attn, fused) in CONFIGS.items():
            t = timed_step(*models[name], examples, lengths, batch, micro, tok.pad_token_id)
            if k:
                results[name].append((sum(lengths[i] for i in batch), t))
            else:
                warm_up[name] = sum(part.wall for part in t.values())
        print(f"batch {k + 1}/{len(batches)}" + (" (warm-up)" if not k else ""), flush=True)
    tokens = sum(n for n, _ in results[name])
    print(f"\ntorch {torch.__version__}, {args.threads} threads, kernels {torch.backends.cpu.get_cpu_capability()}; "
          f"{args.steps} global batches of {args.batch_size}, {tokens} tokens; {n_params / 1e6:.0f}M parameters; "
          f"float32 matmul peak {peak:.0f} GFLOP/s (1024x576 @ 576x1536)")
    base = {}
    for name, (micro, attn, fused) in CONFIGS.items():
        parts = {part: (sum(t[part].wall for _, t in results[name]), sum(t[part].cpu for _, t in results[name]))
                 for part in ("forward", "backward", "optimizer")}
        wall, cpu = sum(w for w, _ in parts.values()), sum(c for _, c in parts.values())
        rate = {"wall": tokens / wall, "cpu": tokens / cpu}
        base.setdefault("wall", rate["wall"]), base.setdefault("cpu", rate["cpu"])
        attention = statistics.mean(attention_alone(models[name][0].config, examples, b, attn) for b in batches[1:]) * len(batches[1:])
        head = statistics.mean(lm_head_alone(models[name][0], examples, b) for b in batches[1:]) * len(batches[1:])
        print(f"\n{name}: {rate['wall']:.1f} tokens/s wall ({6 * n_params * rate['wall'] / 1e9:.0f} GFLOP/s, "
              f"{6 * n_params * rate['wall'] / 1e9 / peak:.0%} of peak), {rate['cpu']:.1f} tokens per CPU second; "
              f"x{rate['wall'] / base['wall']:.2f} wall, x{rate['cpu'] / base['cpu']:.2f} CPU vs {next(iter(CONFIGS))}; "
              f"warm-up batch {warm_up[name]:.1f} s wall")
        for part, (w, c) in parts.items():
            print(f"  {part:9s} {w:6.1f} s wall {c:6.1f} CPU s ({c / cpu:4.0%})")
        print(f"  of which, timed alone: attention {attention:5.1f} CPU s ({attention / cpu:4.0%}), "
              f"lm_head + loss {head:5.1f} CPU s ({head / cpu:4.0%})")


if __name__ == "__main__":
    main()
