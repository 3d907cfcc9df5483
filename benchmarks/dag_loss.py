"""Time and peak memory of the DAG loss: our autograd Function vs. plain autograd over the same DP.

Batch 32, target length 30, 256 vertices, vocabulary 10k, float32 on the CPU. Two scopes:
  dp:   the loss from match [B, T, L] and links [B, L, L] — where the implementations differ;
  full: also the vocabulary softmax [B, L, V] and link softmax that produce them (shared cost).
Each (variant, scope) runs in a fresh process; peak memory is the growth of the process's peak
resident set during forward+backward, inputs already allocated. The last line reports the dp scope:
`dag_loss speedup=<x> memory_ratio=<y>`.

    python benchmarks/dag_loss.py [--threads N] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

B, T, L, V = 32, 30, 256, 10_000


def inputs(vocabulary: int, seed: int = 0):
    import torch

    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, L, vocabulary, generator=g, requires_grad=True)
    raw_links = torch.randn(B, L, L, generator=g, requires_grad=True)
    target = torch.randint(0, vocabulary, (B, T), generator=g)
    return logits, raw_links, target


def graph_inputs(logits, raw_links, target):
    """match [B, T, L] = log p(y_k | vertex j); links [B, L, L] = log-softmax over j > i."""
    import torch

    upper = torch.ones(L, L, dtype=torch.bool).triu(1)
    links = torch.log_softmax(raw_links.masked_fill(~upper, float("-inf")), -1).masked_fill(~upper, float("-inf"))
    match = torch.log_softmax(logits, -1).gather(-1, target[:, None, :].expand(B, L, T)).transpose(1, 2)  # [B, T, L]
    return match, links


def run_variant(variant: str, scope: str, repeats: int, threads: int) -> dict:
    import torch

    from diffglat.losses.dag import dag_log_likelihood, dag_log_likelihood_reference

    torch.set_num_threads(threads)
    function = dag_log_likelihood if variant == "ours" else dag_log_likelihood_reference
    lengths = torch.full((B,), T), torch.full((B,), L)
    if scope == "dp":  # a small stand-in vocabulary: only match [B, T, L] reaches the DP
        match, links = (t.detach().requires_grad_() for t in graph_inputs(*inputs(vocabulary=64)))
        leaves = (match, links)
        loss = lambda: -function(match, links, *lengths).sum()
    else:
        logits, raw_links, target = inputs(vocabulary=V)
        leaves = (logits, raw_links)
        loss = lambda: -function(*graph_inputs(logits, raw_links, target), *lengths).sum()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(repeats):
        for leaf in leaves:
            leaf.grad = None
        start = time.perf_counter()
        loss().backward()
        times.append(time.perf_counter() - start)
    peak_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    return {"variant": variant, "seconds": min(times), "peak_mb": peak_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variant", choices=["ours", "reference"], help=argparse.SUPPRESS)
    parser.add_argument("--scope", choices=["dp", "full"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args.variant, args.scope, args.repeats, args.threads)))
        return
    print(f"B={B} T={T} L={L} V={V}, float32, {args.threads} threads, best of {args.repeats}")
    results = {}
    for scope in ("full", "dp"):
        for variant in ("ours", "reference"):
            out = subprocess.run([sys.executable, __file__, "--variant", variant, "--scope", scope, "--threads",
                                  str(args.threads), "--repeats", str(args.repeats)], capture_output=True, text=True, check=True)
            results[scope, variant] = r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{scope:>4} {variant:>9}: forward+backward {r['seconds']:.3f} s, peak memory +{r['peak_mb']:.0f} MB")
    speedup = results["dp", "reference"]["seconds"] / results["dp", "ours"]["seconds"]
    memory_ratio = results["dp", "reference"]["peak_mb"] / max(results["dp", "ours"]["peak_mb"], 1.0)
    print(f"dag_loss speedup={speedup:.2f} memory_ratio={memory_ratio:.2f}")


if __name__ == "__main__":
    main()
