"""bf16 against float32 on this CPU: matmul GFLOP/s side by side, and what train.py's
`--mixed-precision auto` chooses here.

train.py autocasts to bf16 on a CPU only where a bf16 matmul is measured faster than float32 (see its
Precision section); this prints both speeds. To see an AVX2-only CPU on a faster one, limit torch's
kernels to AVX2 (all three variables; check the GFLOP/s and `mkldnn bf16` below that they took):

    python benchmarks/bench_precision.py
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 python benchmarks/bench_precision.py
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repo root
import train  # noqa: E402


def gflops(dtype, m=1024, k=576, n=1536, seconds=1.0):
    """GFLOP/s of an (m x k) @ (k x n) matmul, SmolLM2-135M's MLP shape at 1024 tokens."""
    a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
    a @ b
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    return 2 * m * k * n * count / (time.perf_counter() - start) / 1e9


def main():
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, kernels: "
          f"{torch.backends.cpu.get_cpu_capability()}, mkldnn bf16: {torch.ops.mkldnn._is_mkldnn_bf16_supported()}")
    fp32, bf16 = gflops(torch.float32), gflops(torch.bfloat16)
    print(f"matmul 1024x576 @ 576x1536: float32 {fp32:.1f} GFLOP/s, bf16 {bf16:.1f} GFLOP/s, bf16/float32 = {bf16 / fp32:.3g}")
    start = time.perf_counter()
    choice, why = train.choose_precision("auto", "cpu")
    print(f"train.py --mixed-precision auto -> {choice} ({why}); the probe took {1000 * (time.perf_counter() - start):.0f} ms")


if __name__ == "__main__":
    main()
