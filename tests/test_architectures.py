"""Loader, fine-tuning, evaluation and saving for every supported architecture (tiny random models)."""

import pytest

from slimkit.planning import plan
from slimkit.runner import build_registry, execute

from .conftest import ARCHITECTURES, seed_teacher, tiny_recipe

# the tokenizer each family's checkpoints ship (BERT's WordPiece is MiniLM's, installed)
TOKENIZER = {"bert": "BertTokenizer", "distilbert": "BertTokenizer", "electra": "BertTokenizer",
             "roberta": "RobertaTokenizer", "xlm-roberta": "XLMRobertaTokenizer",
             "albert": "AlbertTokenizer", "deberta-v2": "DebertaV2Tokenizer"}


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_finetune_learns_and_the_folder_loads_without_slimkit(tmp_path, sentiment_files,
                                                              architecture, teacher_for):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    recipe = tiny_recipe(tmp_path, *sentiment_files, architecture=architecture)
    seed_teacher(tmp_path, teacher_for(architecture))  # trained once, shared with later tests
    registry = build_registry()
    planned = plan(recipe, registry)
    [manifest] = [m.to_json() for m in execute(planned, registry)]
    assert manifest["metrics"]["accuracy"] >= 0.9, manifest["training"]["history"]

    folder = tmp_path / "runs" / "tiny" / "teacher"
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert model.config.model_type == architecture
    assert type(tokenizer).__name__ == TOKENIZER[architecture]
    assert model.config.vocab_size == len(tokenizer)
    assert model.config.id2label == {0: "0", 1: "1"}
    batch = tokenizer(["the film was great", "a boring plot"], padding=True,
                      return_tensors="pt")
    with torch.inference_mode():
        predictions = model(**batch).logits.argmax(-1).tolist()
    assert predictions == [1, 0]
