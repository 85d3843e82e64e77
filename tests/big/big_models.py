"""Small sharded safetensors checkpoints for the big-checkpoint tests (written, never downloaded)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file


def make_weights(seed: int = 0) -> dict[str, torch.Tensor]:
    """A tiny decoder-shaped state dict in bf16 (plus an fp16 embedding), with one NaN and one Inf."""
    g = torch.Generator().manual_seed(seed)
    w: dict[str, torch.Tensor] = {
        "model.embed_tokens.weight": torch.randn(50, 16, generator=g).half()
    }
    for i in range(3):
        w[f"model.layers.{i}.self_attn.q_proj.weight"] = torch.randn(16, 16, generator=g).bfloat16()
        w[f"model.layers.{i}.mlp.up_proj.weight"] = torch.randn(40, 16, generator=g).bfloat16()
        w[f"model.layers.{i}.input_layernorm.weight"] = torch.ones(16, dtype=torch.bfloat16)
    w["model.layers.1.mlp.up_proj.weight"][3, 4] = float("nan")
    w["model.layers.2.self_attn.q_proj.weight"][0, 0] = float("-inf")
    w["lm_head.weight"] = torch.randn(50, 16, generator=g).bfloat16()
    return w


def write_sharded(
    folder: Path, weights: dict[str, torch.Tensor], shards: int = 3, index: bool = True
) -> Path:
    """Hugging Face layout: ``model-0000k-of-0000n.safetensors`` (+ index and config.json)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = list(weights)
    weight_map: dict[str, str] = {}
    for k in range(shards):
        fname = f"model-{k + 1:05d}-of-{shards:05d}.safetensors"
        part = names[k::shards]
        save_file({n: weights[n].contiguous() for n in part}, str(folder / fname))
        weight_map.update(dict.fromkeys(part, fname))
    if index:
        total = sum(t.numel() * t.element_size() for t in weights.values())
        index_data = {"metadata": {"total_size": total}, "weight_map": weight_map}
        (folder / "model.safetensors.index.json").write_text(json.dumps(index_data))
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 16,
              "num_hidden_layers": 3, "vocab_size": 50, "torch_dtype": "bfloat16"}  # fmt: skip
    (folder / "config.json").write_text(json.dumps(config))
    return folder
