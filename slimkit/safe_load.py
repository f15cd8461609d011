"""Loading a model from a folder without running anything the folder holds: no pickles, no Python
from the folder. A pruned (uneven) shape is rebuilt by slimkit's installed class, not the folder's
``slimkit_pruned.py`` (kept there for plain-transformers users who opt into trust_remote_code); a
PyTorch dynamic INT8 model is rebuilt from safetensors: int8 weights, their scales and zero points,
and the float tensors, onto the installed architecture quantized by ``torch.ao``."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from slimkit import pruned_modeling as pm

INT8_FILE = "model_int8.safetensors"
INT8_SCHEME = {"engine": "torch.ao quantize_dynamic", "modules": ["Linear"], "dtype": "qint8",
               "file": INT8_FILE}


def classifier_config(source: str | Path, **changes: Any) -> Any:
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(source, trust_remote_code=False, **changes)


def load_classifier(source: str | Path, num_labels: int | None = None) -> Any:
    """A float PyTorch classifier from a Hugging Face folder (or hub id), of any shape slimkit
    writes; ``num_labels`` re-initialises a head of another size."""
    from transformers import AutoModelForSequenceClassification

    config = classifier_config(source, **({"num_labels": num_labels} if num_labels else {}))
    cls = pruned_class(type(config)) if is_pruned(config) else AutoModelForSequenceClassification
    return cls.from_pretrained(source, config=config, trust_remote_code=False,
                               ignore_mismatched_sizes=num_labels is not None)


def is_pruned(config: Any) -> bool:
    return bool(getattr(config, "heads_per_layer", None) or getattr(config, "ffn_per_layer", None))


@functools.cache
def pruned_class(config_cls: type) -> type:
    """transformers' own classifier class for this config, shrunk to the stored per-layer shape."""
    from transformers import MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING

    base = MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING[config_cls]

    def __init__(self, config):  # noqa: N807 (the class's constructor)
        base.__init__(self, config)
        pm.reshape(self, getattr(config, "heads_per_layer", None),
                   getattr(config, "ffn_per_layer", None))

    return type(f"SlimkitPruned{base.__name__}", (base,), {"__init__": __init__})


def skeleton(config: Any) -> Any:
    """An untrained float model of the stored shape (its weights are loaded afterwards)."""
    from transformers import AutoModelForSequenceClassification

    if is_pruned(config):
        return pruned_class(type(config))(config)
    return AutoModelForSequenceClassification.from_config(config)


def _dynamic_linears(model: Any) -> dict[str, Any]:
    from torch.ao.nn.quantized.dynamic import Linear

    return {name: m for name, m in model.named_modules() if isinstance(m, Linear)}


def save_int8(model: Any, path: Path) -> None:
    """A ``quantize_dynamic`` model as plain tensors: each quantized Linear's int8 weight, scale(s),
    zero point(s) (and channel axis) and bias; every other tensor as it is."""
    import torch
    from safetensors.torch import save_file

    linears, tensors = _dynamic_linears(model), {}
    for name, module in linears.items():
        weight, bias = module._weight_bias()
        tensors[f"{name}.weight.int8"] = weight.int_repr()
        if weight.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
            tensors[f"{name}.weight.scales"] = weight.q_per_channel_scales()
            tensors[f"{name}.weight.zero_points"] = weight.q_per_channel_zero_points()
            tensors[f"{name}.weight.axis"] = torch.tensor([weight.q_per_channel_axis()])
        else:
            tensors[f"{name}.weight.scales"] = torch.tensor([weight.q_scale()], dtype=torch.float64)
            tensors[f"{name}.weight.zero_points"] = torch.tensor([weight.q_zero_point()])
        if bias is not None:
            tensors[f"{name}.bias"] = bias
    for key, value in model.state_dict().items():
        if isinstance(value, torch.Tensor) and not _inside(key, linears):
            tensors[key] = value
    save_file({k: v.detach().contiguous().clone() for k, v in tensors.items()}, str(path))


def load_int8(folder: Path, config: Any) -> Any:
    """Rebuild what ``save_int8`` wrote: the installed architecture, quantized the same way, its
    quantized weights replaced by the stored ones and its float tensors loaded strictly."""
    import torch
    from safetensors.torch import load_file

    model = torch.ao.quantization.quantize_dynamic(skeleton(config).eval(), {torch.nn.Linear},
                                                   dtype=torch.qint8)
    tensors = load_file(str(folder / INT8_FILE))
    linears = _dynamic_linears(model)
    for name, module in linears.items():
        module.set_weight_bias(_qweight(tensors, name), tensors.pop(f"{name}.bias", None))
    state = model.state_dict()  # the quantized Linears' entries now hold the stored weights
    missing = [k for k in state if k not in tensors and not _inside(k, linears)]
    unexpected = [k for k in tensors if k not in state]
    if missing or unexpected:
        from slimkit.errors import RecipeError

        raise RecipeError(f"{folder / INT8_FILE} does not match its config.json: missing "
                          f"{missing[:3]}, unexpected {unexpected[:3]}",
                          fix="re-run the recipe to rebuild this variant")
    state.update(tensors)  # in place: keeps the modules' version metadata the loader reads
    model.load_state_dict(state, strict=True)
    return model.eval()


def _inside(key: str, linears: dict[str, Any]) -> bool:
    """A state_dict key of a quantized Linear (its scale, zero point or packed parameters)."""
    return key.rpartition(".")[0] in linears or key.split("._packed_params")[0] in linears


def _qweight(tensors: dict[str, Any], name: str) -> Any:
    import torch

    ints = tensors.pop(f"{name}.weight.int8")
    scales = tensors.pop(f"{name}.weight.scales")
    zero_points = tensors.pop(f"{name}.weight.zero_points")
    axis = tensors.pop(f"{name}.weight.axis", None)
    if axis is None:
        return torch._make_per_tensor_quantized_tensor(ints, float(scales[0]), int(zero_points[0]))
    return torch._make_per_channel_quantized_tensor(ints, scales, zero_points, int(axis[0]))
