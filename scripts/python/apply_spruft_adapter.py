#!/usr/bin/env python3
"""Apply a SPruFT Studio adapter to a PyTorch model (torch only; docs/adapter-format.md).

An adapter folder holds `adapter_config.json` (or, for LoRA, `spruft_adapter.json`; its
`adapter_config.json` is PEFT's) and `adapter_model.safetensors`. Every adapter tensor is
stored in the base tensor's own layout, so merging is plain indexing (paper eq. 5):

    spruft   W.index_add_(rowAxis, rows, W_f)          (PyTorch: W[rows] += W_f)
             b[rows] += b_f;  W.index_add_(columnAxis, columns, W_dep)   (appendix B)
    lora     W += (lora_alpha / r) * (B.flatten(1) @ A.flatten(1)).reshape(W.shape)
    dora     V = W + (lora_alpha / r) * (B.flatten(1) @ A.flatten(1)).reshape(W.shape);
             W = m / ||V||_c * V, the norm per output over every other axis (PEFT's merge)
    vera     W += (lambda_b * vera_B[:out]) @ (lambda_d * vera_A[:, :in])   (PEFT's get_delta_weight)
    full     W = the stored tensor
    head     the stored classifier weights replace the model's (build the model with the
             adapter's `baseModel.numLabels` labels)

As a library, on a transformers (or any torch.nn.Module) model:

    from apply_spruft_adapter import apply_adapter
    model = AutoModelForImageClassification.from_pretrained(base, num_labels=10)
    apply_adapter(model, "runs/my-run/adapter")      # in place; returns the model

From a shell, on a state dict file (a Hugging Face folder's model.safetensors):

    python3 apply_spruft_adapter.py ADAPTER_DIR BASE.safetensors|BASE_DIR --out merged.safetensors

Only torch is needed: safetensors files are read and written here (the format is a
little-endian u64 header length, a JSON header, then the raw tensor bytes).
"""
from __future__ import annotations

import argparse
import json
import os
import struct
import sys
from typing import Dict, Mapping, Tuple, Union

import torch

FORMAT = "spruft-adapter"
VERSION = 2
RECORD_FILE = "spruft_adapter.json"
CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"

_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool,
}
_NAMES = {v: k for k, v in _DTYPES.items()}


class AdapterError(Exception):
    """An adapter that does not fit the model, with what and where."""


def read_safetensors(path: str) -> Dict[str, torch.Tensor]:
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise AdapterError(f"{path}: not a safetensors file (too short)")
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = memoryview(raw)[8 + n:]
    out: Dict[str, torch.Tensor] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = _DTYPES[info["dtype"]]
        t = torch.frombuffer(bytearray(data[start:end]), dtype=dtype) if end > start else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(info["shape"])
    return out


def write_safetensors(path: str, tensors: Mapping[str, torch.Tensor]) -> None:
    header: Dict[str, object] = {"__metadata__": {"format": "pt"}}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        b = t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.view(torch.int16).numpy().tobytes()
        header[name] = {"dtype": _NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def load_adapter(adapter_dir: str) -> Tuple[dict, Dict[str, torch.Tensor]]:
    record = os.path.join(adapter_dir, RECORD_FILE)
    path = record if os.path.exists(record) else os.path.join(adapter_dir, CONFIG_FILE)
    if not os.path.exists(path):
        raise AdapterError(f"{adapter_dir}: no {CONFIG_FILE}; this folder holds no adapter")
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    if config.get("format") != FORMAT:
        raise AdapterError(f'{path}: "format" is {config.get("format")!r}, expected "{FORMAT}"')
    if config.get("version") != VERSION:
        raise AdapterError(f"{path}: adapter version {config.get('version')} is not supported here (this script reads version {VERSION}); "
                           "merge it with `spruft merge`, or write it again with a current runner")
    return config, read_safetensors(os.path.join(adapter_dir, WEIGHTS_FILE))


def _tensor(tensors: Mapping[str, torch.Tensor], name: str, adapter_dir: str) -> torch.Tensor:
    if name not in tensors:
        raise AdapterError(f"{adapter_dir}: tensor {name!r} is missing from {WEIGHTS_FILE}")
    return tensors[name]


def _target(state: Mapping[str, torch.Tensor], name: str, where: str) -> torch.Tensor:
    if name not in state:
        near = [k for k in state if k.split(".")[-1] == name.split(".")[-1]][:3]
        raise AdapterError(f"{where}: the model has no tensor {name!r}" + (f" (tensors of that kind: {', '.join(near)})" if near else ""))
    return state[name]


@torch.no_grad()
def apply_to_state_dict(state: Dict[str, torch.Tensor], adapter_dir: str) -> Dict[str, torch.Tensor]:
    """Merge the adapter into `state` in place (each tensor updated where it lies) and return it."""
    config, tensors = load_adapter(adapter_dir)
    method = config["method"]
    for layer in config["layers"]:
        name = layer["name"]
        if "weightName" not in layer:
            raise AdapterError(f"{adapter_dir}: layer {name!r} does not name its base tensor; this model's format has no PyTorch names")
        w = _target(state, layer["weightName"], adapter_dir)
        if list(w.shape) != layer["fileShape"]:
            raise AdapterError(f"{adapter_dir}: {layer['weightName']} has shape {list(w.shape)} here but {layer['fileShape']} in the adapter (another base model?)")
        if method == "spruft":
            rows = torch.tensor(layer["rows"], dtype=torch.long)
            w.index_add_(layer["rowAxis"], rows, _tensor(tensors, f"{name}.spruft_W_f", adapter_dir).to(w.dtype))
            bias = tensors.get(f"{name}.spruft_b_f")
            if bias is not None:
                _target(state, layer["biasName"], adapter_dir).index_add_(0, rows, bias.to(w.dtype))
            if layer.get("columns"):
                cols = torch.tensor(layer["columns"], dtype=torch.long)
                w.index_add_(layer["columnAxis"], cols, _tensor(tensors, f"{name}.spruft_W_dep", adapter_dir).to(w.dtype))
        elif method == "lora":
            a = _tensor(tensors, f"base_model.model.{name}.lora_A.weight", adapter_dir)
            b = _tensor(tensors, f"base_model.model.{name}.lora_B.weight", adapter_dir)
            scale = config["lora_alpha"] / a.shape[0]
            w.add_((b.flatten(1).double() @ a.flatten(1).double()).reshape(w.shape).to(w.dtype), alpha=scale)
        elif method == "dora":
            a = _tensor(tensors, f"base_model.model.{name}.lora_A.weight", adapter_dir)
            b = _tensor(tensors, f"base_model.model.{name}.lora_B.weight", adapter_dir)
            m = _tensor(tensors, f"base_model.model.{name}.lora_magnitude_vector", adapter_dir).double().flatten()
            scale = config["lora_alpha"] / a.shape[0]
            v = w.double() + scale * (b.flatten(1).double() @ a.flatten(1).double()).reshape(w.shape)
            norm = v.flatten(1).norm(dim=1)
            w.copy_((v * (m / norm).view(-1, *([1] * (w.dim() - 1)))).to(w.dtype))
        elif method == "vera":
            lb = _tensor(tensors, f"base_model.model.{name}.vera_lambda_b", adapter_dir).double().unsqueeze(-1)
            ld = _tensor(tensors, f"base_model.model.{name}.vera_lambda_d", adapter_dir).double().unsqueeze(-1)
            if "base_model.vera_A" not in tensors:
                raise AdapterError(f"{adapter_dir}: the VeRA projections (base_model.vera_A, vera_B) are not in {WEIGHTS_FILE}; "
                                   "merge it with `spruft merge`, which draws them again from the seed")
            va, vb = tensors["base_model.vera_A"].double(), tensors["base_model.vera_B"].double()
            out_f, in_f = w.shape
            w.add_(((lb * vb[:out_f, :]) @ (ld * va[:, :in_f])).to(w.dtype))
        elif method == "full":
            w.copy_(_tensor(tensors, f"{name}.weight", adapter_dir))
            if f"{name}.bias" in tensors:
                _target(state, layer["biasName"], adapter_dir).copy_(tensors[f"{name}.bias"])
        else:
            raise AdapterError(f"{adapter_dir}: unknown method {method!r}")
    prefix = "base_model.model."
    for stored in config.get("fullTensors", []):
        target_name = stored[len(prefix):] if method in ("lora", "dora", "vera") and stored.startswith(prefix) else stored
        value = _tensor(tensors, stored, adapter_dir)
        target = _target(state, target_name, adapter_dir)
        if target.shape != value.shape:
            labels = config.get("baseModel", {}).get("numLabels")
            raise AdapterError(f"{adapter_dir}: {target_name} is {list(target.shape)} in the model but {list(value.shape)} in the adapter; "
                               f"build the model with {labels} labels (transformers: num_labels={labels}, ignore_mismatched_sizes=True)")
        target.copy_(value.to(target.dtype))
    return state


def apply_adapter(model: Union[torch.nn.Module, Dict[str, torch.Tensor]], adapter_dir: str):
    """Merge an adapter into a torch.nn.Module (a transformers model) in place, or into a state dict."""
    if isinstance(model, torch.nn.Module):
        # state_dict() values share storage with the parameters: updating them updates the model.
        apply_to_state_dict(model.state_dict(keep_vars=False), adapter_dir)
        return model
    return apply_to_state_dict(model, adapter_dir)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Merge a SPruFT Studio adapter into a PyTorch state dict (safetensors).")
    p.add_argument("adapter", help="adapter folder (a run folder's adapter/)")
    p.add_argument("model", help="the base model: model.safetensors, or a Hugging Face folder holding it")
    p.add_argument("--out", required=True, help="where to write the merged state dict (.safetensors)")
    args = p.parse_args(argv)
    path = os.path.join(args.model, "model.safetensors") if os.path.isdir(args.model) else args.model
    try:
        state = read_safetensors(path)
        apply_to_state_dict(state, args.adapter)
        write_safetensors(args.out, state)
    except (AdapterError, OSError, ValueError, KeyError) as e:
        print(f"apply_spruft_adapter: {e}", file=sys.stderr)
        return 1
    print(f"merged {args.adapter} into {path}: {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
