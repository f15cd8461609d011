"""Structured shapes for BERT-family classifiers: find each layer's attention and feed-forward
parts, cut heads and neurons out of them, and rebuild a model of a stored uneven shape.

This file imports nothing from slimkit on purpose: a head- or FFN-pruned variant folder carries a
copy of it, so ``AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True)``
rebuilds the shape without slimkit installed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch loads on first use, so validating a recipe stays fast
    import torch
    from torch import nn

# family -> (path from the base model to the layer list, attention, its Q/K/V and output names,
#            extra projections cut like Q/K, the FFN's in and out layers, the head-count attribute)
FAMILIES = {
    "bert": ("encoder.layer", "attention.self", ("query", "key", "value"), "attention.output.dense",
             (), "intermediate.dense", "output.dense", "num_attention_heads"),
    "distilbert": ("transformer.layer", "attention", ("q_lin", "k_lin", "v_lin"), "attention.out_lin",
                   (), "ffn.lin1", "ffn.lin2", "n_heads"),
    "albert": ("encoder.albert_layer_groups.0.albert_layers", "attention", ("query", "key", "value"),
               "attention.dense", (), "ffn", "ffn_output", "num_attention_heads"),
    "deberta-v2": ("encoder.layer", "attention.self", ("query_proj", "key_proj", "value_proj"),
                   "attention.output.dense", ("pos_key_proj", "pos_query_proj"), "intermediate.dense",
                   "output.dense", "num_attention_heads"),
}
ALIASES = {"roberta": "bert", "xlm-roberta": "bert", "electra": "bert", "camembert": "bert"}


def family(model_type: str) -> str:
    name = ALIASES.get(model_type, model_type)
    if name not in FAMILIES:
        raise ValueError(f"no structured pruning for model type {model_type!r}; "
                         f"supported: {', '.join(sorted({*FAMILIES, *ALIASES}))}")
    return name


def _get(module: nn.Module, path: str):
    for part in path.split("."):
        module = module[int(part)] if part.isdigit() else getattr(module, part, None)
        if module is None:
            return None
    return module


@dataclass
class LayerParts:
    attention: nn.Module
    qkv: list[nn.Linear]
    output: nn.Linear
    extra: list[nn.Linear] = field(default_factory=list)
    ffn_in: nn.Linear | None = None
    ffn_out: nn.Linear | None = None
    heads_attr: str = "num_attention_heads"

    @property
    def head_size(self) -> int:
        return int(self.attention.attention_head_size)

    @property
    def heads(self) -> int:
        return self.qkv[0].out_features // self.head_size


def layer_list(model: nn.Module) -> nn.ModuleList:
    return _get(model.base_model, FAMILIES[family(model.config.model_type)][0])


def layers(model: nn.Module) -> list[LayerParts]:
    """One LayerParts per distinct transformer layer (ALBERT shares one across all its depth)."""
    _, attn, qkv, out, extra, ffn_in, ffn_out, attr = FAMILIES[family(model.config.model_type)]
    found = []
    for layer in layer_list(model):
        attention = _get(layer, attn)
        found.append(LayerParts(attention, [getattr(attention, n) for n in qkv], _get(layer, out),
                                [m for n in extra if (m := getattr(attention, n, None)) is not None],
                                _get(layer, ffn_in), _get(layer, ffn_out), attr))
    return found


def _cut(linear: nn.Linear, keep: torch.Tensor, dim: int) -> nn.Linear:
    """A new Linear holding only the kept output rows (dim 0) or input columns (dim 1)."""
    from torch import nn

    weight = linear.weight.detach().index_select(dim, keep).clone()
    bias = linear.bias
    if bias is not None and dim == 0:
        bias = bias.detach().index_select(0, keep).clone()
    new = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None,
                    device=weight.device, dtype=weight.dtype)
    new.weight = nn.Parameter(weight)
    if bias is not None:
        new.bias = nn.Parameter(bias.detach().clone())
    return new


def _replace(parent: nn.Module, old: nn.Linear, new: nn.Linear) -> None:
    for name, child in parent.named_children():
        if child is old:
            setattr(parent, name, new)
            return
    raise ValueError("module to replace not found among its parent's children")


def keep_heads(parts: LayerParts, layer: nn.Module, heads: list[int]) -> None:
    """Keep only the listed heads of one layer: Q, K, V rows and output columns are cut."""
    import torch

    size = parts.head_size
    rows = torch.tensor([h * size + i for h in sorted(heads) for i in range(size)], dtype=torch.long)
    for linear in [*parts.qkv, *parts.extra]:
        _replace(parts.attention, linear, _cut(linear, rows, 0))
    owner = _owner(layer, parts.output)
    _replace(owner, parts.output, _cut(parts.output, rows, 1))
    setattr(parts.attention, parts.heads_attr, len(heads))
    if hasattr(parts.attention, "all_head_size"):
        parts.attention.all_head_size = len(heads) * size
    if not heads:
        _skip_attention(parts.attention)


def _skip_attention(attention: nn.Module) -> None:
    """A layer with no heads left adds nothing but the output projection's bias."""
    from torch import nn

    if isinstance(getattr(attention, "out_lin", None), nn.Linear):  # DistilBERT: projection inside
        def forward(hidden_states, *args, **kwargs):
            empty = hidden_states.new_zeros(*hidden_states.shape[:-1], 0)
            return attention.out_lin(empty), None
    elif hasattr(attention, "LayerNorm"):  # ALBERT: projection, residual and norm inside
        raise ValueError("ALBERT shares one layer across its depth: keep at least one head")
    else:
        def forward(hidden_states, *args, **kwargs):
            return hidden_states.new_zeros(*hidden_states.shape[:-1], 0), None
    attention.forward = forward


def keep_neurons(parts: LayerParts, layer: nn.Module, neurons: list[int]) -> None:
    """Keep only the listed intermediate neurons of one feed-forward block."""
    import torch

    keep = torch.tensor(sorted(neurons), dtype=torch.long)
    _replace(_owner(layer, parts.ffn_in), parts.ffn_in, _cut(parts.ffn_in, keep, 0))
    _replace(_owner(layer, parts.ffn_out), parts.ffn_out, _cut(parts.ffn_out, keep, 1))


def _owner(root: nn.Module, target: nn.Module) -> nn.Module:
    for module in root.modules():
        if any(child is target for child in module.children()):
            return module
    raise ValueError("module not found under this layer")


def reshape(model: nn.Module, heads_per_layer: list[int] | None,
            ffn_per_layer: list[int] | None) -> None:
    """Shrink a freshly built model to a stored shape (weights are loaded afterwards)."""
    for index, (layer, parts) in enumerate(zip(layer_list(model), layers(model), strict=True)):
        if heads_per_layer is not None and heads_per_layer[index] != parts.heads:
            keep_heads(parts, layer, list(range(heads_per_layer[index])))
        parts = layers(model)[index]
        if ffn_per_layer is not None and ffn_per_layer[index] != parts.ffn_in.out_features:
            keep_neurons(parts, layer, list(range(ffn_per_layer[index])))
