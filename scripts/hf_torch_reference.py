"""Logits of a Hugging Face model folder computed in PyTorch (float64), as transformers'
modeling code computes them, for checking what SPruFT Studio writes (merged models) with
a reader and a forward pass that share nothing with the project's TypeScript:
safetensors bytes are parsed here (F32, F16, BF16; sharded via the index), tensors are
used by their transformers names and layouts (GPT-2's Conv1D as [in, out]).

    /usr/bin/python3 scripts/hf_torch_reference.py <model-dir> '<json [[ids...], ...]>'
    echo '[{"folder": ..., "ids": [[...]]}, ...]' | /usr/bin/python3 scripts/hf_torch_reference.py -

Prints {"logits": [...]} (flattened, row-major), or one such object per job in a list
(one process for several models: importing torch is the slow part). Architectures: gpt2, bert, roberta,
llama, mistral, qwen2, vit (pixels [B, H, W, C] instead of ids). Debian's python3-torch; transformers itself is not packaged there.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F


def read_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == '__metadata__':
            continue
        begin, end = e['data_offsets']
        raw = data[begin:end]
        if e['dtype'] == 'F32':
            a = np.frombuffer(raw, '<f4')
        elif e['dtype'] == 'F16':
            a = np.frombuffer(raw, '<f2').astype(np.float32)
        elif e['dtype'] == 'BF16':
            a = (np.frombuffer(raw, '<u2').astype(np.uint32) << 16).view(np.float32)
        else:
            continue
        out[name] = torch.tensor(a.reshape(e['shape']).copy(), dtype=torch.float64)
    return out


def read_folder(d):
    single = os.path.join(d, 'model.safetensors')
    if os.path.exists(single):
        return read_safetensors(single)
    with open(os.path.join(d, 'model.safetensors.index.json')) as f:
        index = json.load(f)
    out = {}
    for shard in sorted(set(index['weight_map'].values())):
        out.update(read_safetensors(os.path.join(d, shard)))
    return out


def attention(q, k, v, heads, kv_heads, mask):
    """q [B, T, H*dh], k/v [B, T, KV*dh]; mask [B or 1, 1, T, T] of booleans (True: visible)."""
    b, t, _ = q.shape
    dh = q.shape[2] // heads
    q = q.view(b, t, heads, dh).transpose(1, 2)
    k = k.view(b, t, kv_heads, dh).transpose(1, 2).repeat_interleave(heads // kv_heads, dim=1)
    v = v.view(b, t, kv_heads, dh).transpose(1, 2).repeat_interleave(heads // kv_heads, dim=1)
    s = (q @ k.transpose(-1, -2)) / math.sqrt(dh)
    s = s.masked_fill(~mask, float('-inf'))
    return (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(b, t, heads * dh)


def causal(t, window=None):
    i = torch.arange(t)[:, None]
    j = torch.arange(t)[None, :]
    m = j <= i
    if window is not None:
        m = m & (i - j < window)
    return m[None, None]


def gpt2(c, w, ids):
    t = ids.shape[1]
    d, heads, eps = c['n_embd'], c['n_head'], c.get('layer_norm_epsilon', 1e-5)
    h = w['transformer.wte.weight'][ids] + w['transformer.wpe.weight'][:t]
    ln = lambda x, n: F.layer_norm(x, (d,), w[n + '.weight'], w[n + '.bias'], eps)
    conv1d = lambda x, n: x @ w[n + '.weight'] + w[n + '.bias']  # Conv1D: weight [in, out]
    for layer in range(c['n_layer']):
        p = 'transformer.h.%d' % layer
        q, k, v = conv1d(ln(h, p + '.ln_1'), p + '.attn.c_attn').split(d, dim=2)
        h = h + conv1d(attention(q, k, v, heads, heads, causal(t)), p + '.attn.c_proj')
        h = h + conv1d(F.gelu(conv1d(ln(h, p + '.ln_2'), p + '.mlp.c_fc'), approximate='tanh'), p + '.mlp.c_proj')
    return ln(h, 'transformer.ln_f') @ w['transformer.wte.weight'].T


def bert(c, w, ids, types=None):
    roberta = c['model_type'] == 'roberta'
    p = 'roberta' if roberta else 'bert'
    d, heads = c['hidden_size'], c['num_attention_heads']
    eps = c.get('layer_norm_eps', 1e-12)
    pad = c.get('pad_token_id', 1 if roberta else 0)
    real = ids != pad
    if roberta:
        positions = torch.cumsum(real.long(), 1) * real.long() + pad
    else:
        positions = torch.arange(ids.shape[1])[None].expand_as(ids)
    ln = lambda x, n: F.layer_norm(x, (d,), w[n + '.weight'], w[n + '.bias'], eps)
    lin = lambda x, n: x @ w[n + '.weight'].T + w[n + '.bias']
    e = p + '.embeddings'
    # token_type_ids (a text pair's segments); transformers' default is all zeros.
    types = torch.zeros_like(ids) if types is None else types
    h = w[e + '.word_embeddings.weight'][ids] + w[e + '.position_embeddings.weight'][positions] + w[e + '.token_type_embeddings.weight'][types]
    h = ln(h, e + '.LayerNorm')
    mask = real[:, None, None, :]
    act = (lambda x: F.gelu(x, approximate='tanh')) if c.get('hidden_act') == 'gelu_new' else F.gelu
    for layer in range(c['num_hidden_layers']):
        b = '%s.encoder.layer.%d' % (p, layer)
        a = attention(lin(h, b + '.attention.self.query'), lin(h, b + '.attention.self.key'), lin(h, b + '.attention.self.value'), heads, heads, mask)
        h = ln(h + lin(a, b + '.attention.output.dense'), b + '.attention.output.LayerNorm')
        h = ln(h + lin(act(lin(h, b + '.intermediate.dense')), b + '.output.dense'), b + '.output.LayerNorm')
    first = h[:, 0]
    if roberta:
        return lin(torch.tanh(lin(first, 'classifier.dense')), 'classifier.out_proj')
    return lin(torch.tanh(lin(first, p + '.pooler.dense')), 'classifier')


def llama(c, w, ids):
    t = ids.shape[1]
    d, heads = c['hidden_size'], c['num_attention_heads']
    kv = c.get('num_key_value_heads') or heads
    dh = c.get('head_dim') or d // heads
    eps = c.get('rms_norm_eps', 1e-6)
    theta = c.get('rope_theta', 10000.0)
    window = c.get('sliding_window') if c['model_type'] == 'mistral' else None

    def rms(x, n):
        return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * w[n + '.weight']

    def lin(x, n):
        y = x @ w[n + '.weight'].T
        return y + w[n + '.bias'] if (n + '.bias') in w else y

    inv = 1.0 / theta ** (torch.arange(0, dh, 2, dtype=torch.float64) / dh)
    ang = torch.arange(t, dtype=torch.float64)[:, None] * inv[None]
    cos, sin = torch.cat([ang, ang], -1).cos(), torch.cat([ang, ang], -1).sin()

    def rope(x, n_heads):
        b = x.shape[0]
        x = x.view(b, t, n_heads, dh)
        x1, x2 = x[..., : dh // 2], x[..., dh // 2:]
        rot = torch.cat([-x2, x1], -1)
        return (x * cos[None, :, None] + rot * sin[None, :, None]).reshape(b, t, n_heads * dh)

    h = w['model.embed_tokens.weight'][ids]
    for layer in range(c['num_hidden_layers']):
        p = 'model.layers.%d' % layer
        n = rms(h, p + '.input_layernorm')
        q = rope(lin(n, p + '.self_attn.q_proj'), heads)
        k = rope(lin(n, p + '.self_attn.k_proj'), kv)
        h = h + lin(attention(q, k, lin(n, p + '.self_attn.v_proj'), heads, kv, causal(t, window)), p + '.self_attn.o_proj')
        n2 = rms(h, p + '.post_attention_layernorm')
        h = h + lin(F.silu(lin(n2, p + '.mlp.gate_proj')) * lin(n2, p + '.mlp.up_proj'), p + '.mlp.down_proj')
    head = w.get('lm_head.weight', w['model.embed_tokens.weight']) if not c.get('tie_word_embeddings', False) else w['model.embed_tokens.weight']
    return rms(h, 'model.norm') @ head.T


def vit(c, w, pixels):
    """ViTForImageClassification on pixels [B, H, W, C] (channels last, as the runner feeds them)."""
    x = pixels.permute(0, 3, 1, 2)
    d, heads, eps = c['hidden_size'], c['num_attention_heads'], c.get('layer_norm_eps', 1e-12)
    p = 'vit.embeddings.patch_embeddings.projection'
    patches = F.conv2d(x, w[p + '.weight'], w[p + '.bias'], stride=c['patch_size']).flatten(2).transpose(1, 2)
    b = patches.shape[0]
    h = torch.cat([w['vit.embeddings.cls_token'].expand(b, 1, d), patches], 1) + w['vit.embeddings.position_embeddings']
    ln = lambda t, n: F.layer_norm(t, (d,), w[n + '.weight'], w[n + '.bias'], eps)
    lin = lambda t, n: t @ w[n + '.weight'].T + w[n + '.bias']
    everything = torch.ones(1, 1, h.shape[1], h.shape[1], dtype=torch.bool)
    for layer in range(c['num_hidden_layers']):
        e = 'vit.encoder.layer.%d' % layer
        n = ln(h, e + '.layernorm_before')
        a = attention(lin(n, e + '.attention.attention.query'), lin(n, e + '.attention.attention.key'), lin(n, e + '.attention.attention.value'), heads, heads, everything)
        h = h + lin(a, e + '.attention.output.dense')
        h = h + lin(F.gelu(lin(ln(h, e + '.layernorm_after'), e + '.intermediate.dense')), e + '.output.dense')
    return lin(ln(h, 'vit.layernorm')[:, 0], 'classifier')


def run(folder, ids=None, pixels=None, types=None):
    with open(os.path.join(folder, 'config.json')) as f:
        c = json.load(f)
    w = read_folder(folder)
    forward = {'gpt2': gpt2, 'bert': bert, 'roberta': bert, 'llama': llama, 'mistral': llama, 'qwen2': llama, 'vit': vit}[c['model_type']]
    inputs = torch.tensor(pixels, dtype=torch.float64) if pixels is not None else torch.tensor(ids, dtype=torch.long)
    with torch.no_grad():
        logits = forward(c, w, inputs, torch.tensor(types, dtype=torch.long)) if types is not None else forward(c, w, inputs)
    return {'logits': logits.reshape(-1).tolist()}


def main():
    if sys.argv[1] == '-':
        print(json.dumps([run(job['folder'], job.get('ids'), job.get('pixels'), job.get('types')) for job in json.load(sys.stdin)]))
    else:
        print(json.dumps(run(sys.argv[1], json.loads(sys.argv[2]))))


if __name__ == '__main__':
    main()
