"""Each family's own tokenizer, trained in-process on the test sentences with the ``tokenizers``
library: byte-level BPE for RoBERTa, SentencePiece-style Unigram for XLM-R, ALBERT and DeBERTa-v2
(what their published checkpoints use). BERT, DistilBERT and ELECTRA keep the installed MiniLM
WordPiece tokenizer, which is theirs."""

from __future__ import annotations

import json
from pathlib import Path

# family -> (transformers tokenizer class, special tokens in id order)
FAMILIES = {
    "roberta": ("RobertaTokenizer", ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]),
    "xlm-roberta": ("XLMRobertaTokenizer", ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]),
    "albert": ("AlbertTokenizer", ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]),
    "deberta-v2": ("DebertaV2Tokenizer", ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]),
}


def _bpe(corpus: list[str], specials: list[str]) -> dict:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=600, special_tokens=specials, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    model = json.loads(tok.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    return {"vocab": model["vocab"], "merges": merges}


def _unigram(corpus: list[str], specials: list[str], unk: str) -> dict:
    """A Unigram model over the corpus's words (scored by log frequency) and its characters.
    Built, not trained: the tokenizers Unigram trainer keeps only characters on a corpus of a
    few dozen distinct words, which would make every sentence a string of letters."""
    import math
    from collections import Counter

    from tokenizers import Tokenizer, models, pre_tokenizers

    words = Counter("\u2581" + w for line in corpus for w in line.lower().split())
    chars = Counter(c for w in words for c in w)
    total = sum(words.values()) + sum(chars.values())
    pieces = [(p, math.log(n / total)) for p, n in (words + chars).most_common()]
    vocab = [(s, 0.0) for s in specials] + pieces
    tok = Tokenizer(models.Unigram(vocab, unk_id=specials.index(unk), byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    return {"vocab": [tuple(piece) for piece in json.loads(tok.to_str())["model"]["vocab"]]}


def build(family: str, corpus: list[str], folder: Path) -> Path:
    """A saved tokenizer folder of the family's own class and algorithm."""
    import transformers

    name, specials = FAMILIES[family]
    unk = specials[[s.strip("<>[]").lower() for s in specials].index("unk")]
    trained = _bpe(corpus, specials) if family == "roberta" else _unigram(corpus, specials, unk)
    tokenizer = getattr(transformers, name)(**trained)
    tokenizer.save_pretrained(folder)
    return folder
