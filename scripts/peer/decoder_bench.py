#!/usr/bin/python3
"""The bench decoder in PyTorch: the peer `spruft bench speed --peer torch` times the
runner against (issue 11). Same model as `spruft bench speed --model decoder` (a
Llama-shaped decoder: RMSNorm, rotary positions, causal attention, SwiGLU MLP; random
weights), same batch, same methods and trainable-parameter counts, on the same cores:

  spruft r=R   SPruFT (paper eq. 5) on every linear layer of the blocks: a custom autograd
               function y = x W^T + scatter_idx(x W_f^T) that keeps only x for backward and
               forms dL/dW_f = dy[:, idx]^T x, never the full weight gradient (appendix C.5);
  lora r=R     LoRA as PEFT runs it: dropout on the adapter input, A then B, times alpha/r;
  ... FA       the same with the attention projections frozen (freezeAttention);
  full         every weight but the LM head (as the runner's `full`).

Each step: forward, next-token cross-entropy, backward, Adam, as the runner's bench step.
Prints one JSON document: torch's version and threads, its 1024x1024 GEMM rate, and per
method the median step time over `--steps` timed steps after one warm-up step. With
`--serve` it answers JSON-line commands instead (attach a method, time one step, time a
GEMM), so that the bench can alternate its own steps with the peer's under the same load.

  /usr/bin/python3 scripts/peer/decoder_bench.py --config '{"vocab_size": 2048, ...}' \
      --batch 4 --seq 128 --steps 5 --threads 2 --spruft-rank 32 --lora-rank 16
"""
import argparse
import json
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP = ("gate_proj", "up_proj", "down_proj")


class RowAdapterFn(torch.autograd.Function):
    """y = x W^T + scatter_idx(x W_f^T) (paper eq. 5); backward keeps only x."""

    @staticmethod
    def forward(ctx, x, weight, wf, rows):
        y = x @ weight.t()
        y.index_add_(y.dim() - 1, rows, x @ wf.t())
        # W and W_f are parameters (references, not copies): x is the one tensor kept.
        ctx.save_for_backward(x, weight, wf, rows)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, weight, wf, rows = ctx.saved_tensors
        dy_rows = dy.index_select(dy.dim() - 1, rows)
        x2 = x.reshape(-1, x.shape[-1])
        dwf = dy_rows.reshape(-1, rows.numel()).t() @ x2
        dx = dy @ weight + dy_rows @ wf if ctx.needs_input_grad[0] else None
        return dx, None, dwf, None


class AdaptedLinear(nn.Module):
    """A frozen linear layer (no bias, as Llama's) with the method's trainable part."""

    def __init__(self, d_out, d_in):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(d_out, d_in) * 0.02)
        self.kind = "frozen"

    def attach(self, kind, rank=0, alpha=0.0, dropout=0.0, generator=None):
        self.kind = kind
        d_out, d_in = self.weight.shape
        self.weight.requires_grad_(kind == "full")
        if kind == "spruft":
            # Rows by l2 norm (the bench's importance metric), W_f zero at start.
            rows = torch.topk(self.weight.detach().norm(dim=1), rank).indices.sort().values
            self.register_buffer("rows", rows)
            self.wf = nn.Parameter(torch.zeros(rank, d_in))
        elif kind == "lora":
            # PEFT's initialisation: A kaiming-uniform(a=sqrt(5)), B zero.
            self.lora_dropout = nn.Dropout(p=dropout)
            self.lora_A = nn.Linear(d_in, rank, bias=False)
            self.lora_B = nn.Linear(rank, d_out, bias=False)
            nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
            nn.init.zeros_(self.lora_B.weight)
            self.scaling = alpha / rank

    def forward(self, x):
        if self.kind == "spruft":
            return RowAdapterFn.apply(x, self.weight, self.wf, self.rows)
        result = F.linear(x, self.weight)
        if self.kind == "lora":
            result = result + self.lora_B(self.lora_A(self.lora_dropout(x))) * self.scaling
        return result


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, m = c["hidden_size"], c["intermediate_size"]
        self.heads = c["num_attention_heads"]
        self.kv_heads = c.get("num_key_value_heads", self.heads)
        hd = d // self.heads
        eps = c.get("rms_norm_eps", 1e-6)
        self.input_layernorm = RMSNorm(d, eps)
        self.post_attention_layernorm = RMSNorm(d, eps)
        self.q_proj = AdaptedLinear(self.heads * hd, d)
        self.k_proj = AdaptedLinear(self.kv_heads * hd, d)
        self.v_proj = AdaptedLinear(self.kv_heads * hd, d)
        self.o_proj = AdaptedLinear(d, self.heads * hd)
        self.gate_proj = AdaptedLinear(m, d)
        self.up_proj = AdaptedLinear(m, d)
        self.down_proj = AdaptedLinear(d, m)

    def forward(self, x, cos, sin, mask):
        b, t, d = x.shape
        h = self.input_layernorm(x)
        hd = d // self.heads
        q = self.q_proj(h).view(b, t, self.heads, hd).transpose(1, 2)
        k = self.k_proj(h).view(b, t, self.kv_heads, hd).transpose(1, 2)
        v = self.v_proj(h).view(b, t, self.kv_heads, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if self.kv_heads != self.heads:
            k = k.repeat_interleave(self.heads // self.kv_heads, dim=1)
            v = v.repeat_interleave(self.heads // self.kv_heads, dim=1)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(hd) + mask
        attn = torch.softmax(scores, dim=-1) @ v
        x = x + self.o_proj(attn.transpose(1, 2).reshape(b, t, d))
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class Decoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.embed_tokens = nn.Embedding(c["vocab_size"], d)
        nn.init.normal_(self.embed_tokens.weight, std=0.02)
        self.layers = nn.ModuleList(Block(c) for _ in range(c["num_hidden_layers"]))
        self.norm = RMSNorm(d, c.get("rms_norm_eps", 1e-6))
        self.lm_head = nn.Linear(d, c["vocab_size"], bias=False)
        hd = d // c["num_attention_heads"]
        inv = 1.0 / (c.get("rope_theta", 10000.0) ** (torch.arange(0, hd, 2).float() / hd))
        freqs = torch.outer(torch.arange(c["max_position_embeddings"]).float(), inv)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.register_buffer("cos", emb.cos())
        self.register_buffer("sin", emb.sin())

    def forward(self, ids):
        t = ids.shape[1]
        cos, sin = self.cos[:t], self.sin[:t]
        mask = torch.full((t, t), float("-inf")).triu(1)
        x = self.embed_tokens(ids)
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
        return self.lm_head(self.norm(x))


def attach(model, method, freeze_attention, spruft_rank, lora_rank, lora_alpha, lora_dropout):
    for p in model.parameters():
        p.requires_grad_(method == "full")
    model.lm_head.weight.requires_grad_(False)  # the head does not train (causal LM)
    for block in model.layers:
        for name in ATTENTION + MLP:
            layer = getattr(block, name)
            if method == "full":
                layer.attach("full")
            elif freeze_attention and name in ATTENTION:
                layer.attach("frozen")
            elif method == "spruft":
                layer.attach("spruft", rank=spruft_rank)
            else:
                layer.attach("lora", rank=lora_rank, alpha=lora_alpha, dropout=lora_dropout)
    return [p for p in model.parameters() if p.requires_grad]


def gemm_rate(n=1024, reps=4):
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = math.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best / 1e9


class Peer:
    """One model per method, attached like the runner's bench; steps timed one by one."""

    def __init__(self, a):
        self.a = a
        self.c = json.loads(a.config)
        if a.threads > 0:
            torch.set_num_threads(a.threads)
        torch.manual_seed(0)
        self.ids = torch.randint(0, self.c["vocab_size"], (a.batch, a.seq))
        self.model = None

    def attach(self, spec):
        a = self.a
        method, fa = spec.replace("-fa", ""), spec.endswith("-fa")
        torch.manual_seed(0)
        self.model = Decoder(self.c)
        trainables = attach(self.model, method, fa, a.spruft_rank, a.lora_rank, a.lora_alpha, a.lora_dropout)
        self.model.train()
        self.opt = torch.optim.Adam(trainables, lr=1e-5, betas=(0.9, 0.999), eps=1e-8)
        rank = a.spruft_rank if method == "spruft" else a.lora_rank
        self.info = {
            "method": method, "variant": "full" if method == "full" else f"{method} r={rank}{' FA' if fa else ''}",
            "freezeAttention": fa, "trainableParams": sum(p.numel() for p in trainables),
        }
        self.step()  # warm-up
        return self.info

    def step(self):
        t0 = time.perf_counter()
        logits = self.model(self.ids)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), self.ids[:, 1:].reshape(-1))
        loss.backward()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return (time.perf_counter() - t0) * 1000

    def describe(self):
        return {"peer": "torch", "version": torch.__version__, "threads": torch.get_num_threads(), "batch": self.a.batch, "sequence": self.a.seq}


def serve(peer):
    """JSON lines on stdin/stdout, for the runner's bench to interleave its steps with
    ours: {"cmd": "hello"|"gemm"|"attach", "method": spec}|"step"} -> one JSON line each."""
    for line in sys.stdin:
        msg = json.loads(line)
        cmd = msg.get("cmd")
        try:
            if cmd == "hello":
                out = peer.describe()
            elif cmd == "gemm":
                out = {"gemmGflops": gemm_rate(reps=msg.get("reps", 4))}
            elif cmd == "attach":
                out = peer.attach(msg["method"])
            elif cmd == "step":
                out = {"ms": peer.step()}
            else:
                out = {"error": f"unknown command {cmd!r}"}
        except Exception as err:  # reported to the bench, which names the peer in its message
            out = {"error": f"{type(err).__name__}: {err}"}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


def self_check():
    """The peer's SPruFT function against float64 finite differences (gradcheck) and
    against the selected rows of the equivalent masked full update W + M W_f."""
    torch.manual_seed(0)
    dt = torch.float64
    x = torch.randn(2, 5, 7, dtype=dt, requires_grad=True)
    w = torch.randn(6, 7, dtype=dt)
    wf = torch.randn(3, 7, dtype=dt, requires_grad=True)
    rows = torch.tensor([0, 2, 5])
    gradcheck = torch.autograd.gradcheck(lambda x_, wf_: RowAdapterFn.apply(x_, w, wf_, rows), (x, wf))
    g = torch.randn(2, 5, 6, dtype=dt)
    y = RowAdapterFn.apply(x, w, wf, rows)
    (y * g).sum().backward()
    merged = w.clone().index_add(0, rows, wf.detach()).requires_grad_()
    xd = x.detach().clone().requires_grad_()
    y_full = F.linear(xd, merged)
    (y_full * g).sum().backward()
    print(json.dumps({
        "gradcheck": bool(gradcheck),
        "forwardDiff": (y - y_full).abs().max().item(),
        "wfGradDiff": (wf.grad - merged.grad[rows]).abs().max().item(),
        "xGradDiff": (x.grad - xd.grad).abs().max().item(),
    }))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", help="the decoder's config.json fields, as JSON")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--spruft-rank", type=int, default=32)
    ap.add_argument("--lora-rank", type=int, default=16)
    ap.add_argument("--lora-alpha", type=float, default=16.0)
    ap.add_argument("--lora-dropout", type=float, default=0.1)
    ap.add_argument("--methods", default="spruft,lora,spruft-fa,lora-fa,full")
    ap.add_argument("--serve", action="store_true", help="answer the bench's commands on stdin (JSON lines)")
    ap.add_argument("--check", action="store_true", help="check the SPruFT function's gradients and exit")
    a = ap.parse_args()
    if a.check:
        self_check()
        return
    if a.config is None:
        ap.error("--config is required")
    peer = Peer(a)
    if a.serve:
        serve(peer)
        return
    gemm = gemm_rate()
    results = []
    for spec in a.methods.split(","):
        info = peer.attach(spec)
        times = [peer.step() for _ in range(a.steps)]
        results.append({**info, "stepMs": statistics.median(times), "stepsMs": times})
        print(f"peer {info['variant']}: {statistics.median(times):.0f} ms", file=sys.stderr)
    print(json.dumps({**peer.describe(), "gemmGflops": gemm, "methods": results}))


if __name__ == "__main__":
    main()
