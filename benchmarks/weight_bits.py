"""7-bit or 8-bit weights for ONNX Runtime dynamic INT8 (README, "7-bit or 8-bit weights"): one
teacher ONNX export quantized four ways (per tensor / per channel weight-only, reduce_range off /
on), each scored on a GLUE dev TSV against the labels and the FP32 export.

python -m benchmarks.weight_bits runs/sst2-minilm-quick/teacher-onnx data/sst2/dev.tsv \\
    --text sentence --label label --max-length 64
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

import numpy as np


def logits(path: Path, tokenizer, texts: list[list[str]], max_length: int) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    out = []
    for start in range(0, len(texts), 16):
        columns = list(zip(*texts[start:start + 16], strict=True))
        encoded = tokenizer(*columns, padding=True, truncation=True, max_length=max_length,
                            return_tensors="np")
        out.append(session.run(None, {k: v.astype(np.int64) for k, v in encoded.items()
                                      if k in names})[0])
    return np.concatenate(out)


def main() -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from sklearn.metrics import f1_score
    from transformers import AutoTokenizer

    from compress.quantize_backends import weight_gathers, weight_matmuls

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", type=Path, help="a folder with model.onnx and its tokenizer")
    parser.add_argument("tsv", type=Path)
    parser.add_argument("--text", nargs="+", required=True, help="one column, or two for pairs")
    parser.add_argument("--label", required=True)
    parser.add_argument("--max-length", type=int, default=128)
    args = parser.parse_args()
    for needed in (args.export / "model.onnx", args.tsv):
        if not needed.is_file():
            parser.error(f"{needed}: not found (an ONNX export folder of a run, and a dev TSV)")
    with args.tsv.open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    missing = [c for c in [*args.text, args.label] if rows and c not in rows[0]]
    if not rows or missing:
        parser.error(f"{args.tsv}: no rows, or no column {missing} (it has {list(rows[0]) if rows else []})")
    texts = [[r[c] for c in args.text] for r in rows]
    labels = np.array([int(r[args.label]) for r in rows])
    tokenizer, source = AutoTokenizer.from_pretrained(args.export), args.export / "model.onnx"
    fp32 = logits(source, tokenizer, texts, args.max_length).argmax(1)
    print(f"FP32: accuracy {np.mean(fp32 == labels):.4f}, F1 {f1_score(labels, fp32):.4f}")
    with tempfile.TemporaryDirectory() as scratch:
        for per_channel in (False, True):
            nodes = weight_matmuls(source) + weight_gathers(source) if per_channel else None
            for reduce_range in (False, True):
                out = Path(scratch) / f"{per_channel}-{reduce_range}.onnx"
                quantize_dynamic(str(source), str(out), weight_type=QuantType.QInt8,
                                 per_channel=per_channel, reduce_range=reduce_range,
                                 nodes_to_quantize=nodes)
                got = logits(out, tokenizer, texts, args.max_length).argmax(1)
                kind = "per channel, weight MatMuls" if per_channel else "per tensor, every MatMul"
                print(f"{kind}, {7 if reduce_range else 8}-bit: accuracy "
                      f"{np.mean(got == labels):.4f}, F1 {f1_score(labels, got):.4f}, "
                      f"agreement {np.mean(got == fp32):.4f}")


if __name__ == "__main__":
    main()
