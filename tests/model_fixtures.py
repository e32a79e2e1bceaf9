"""Pytest fixtures that build tiny QA models for reader tests (used as a pytest plugin).

Why tiny random models: they exercise every code path (windows, offsets, batching, export) in
milliseconds, need no network, and their logits are deterministic for a seed. For answers that are
actually right, ``test_reader_dir`` points at the shared fine-tuned test reader.

The random models use *equal* segment (token type) embeddings: Haystack's reader — our parity
reference — does not pass ``token_type_ids`` while ours does (as BERT was trained); with equal segment
embeddings both compute identical logits, so parity tests compare windows, decoding and ranking only.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from docqa.pipelines.model_loading import packaged_embedding_model_dir

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_READER = Path(__file__).resolve().parents[2] / "shared" / "models" / "minilm-squad2-test"

# A tiny cased WordPiece vocabulary: enough for the cased fixture texts, with ## pieces and [UNK].
_CASED_WORDS = [
    'The', 'Normans', 'Normandy', 'Duchy', 'France', 'Paris', 'London', 'Rollo', 'Ænima', 'Zürich',
    'Köln', 'was', 'were', 'is', 'in', 'of', 'and', 'the', 'a', 'founded', 'named', 'river',
    'Seine', 'capital', 'city', 'who', 'what', 'when', 'where', 'which', 'year', '911', '10th',
    '11th', 'century', 'people', 'gave', 'their', 'name', 'to', ',', '.', '?', '!', "'", '-', '(',
    ')', ':', 'café', 'naïve', 'résumé', 'Straße',
]
_CASED_PIECES = ["##s", "##e", "##n", "##er", "##ing", "##ed", "##y", "##a", "##o", "##i", "##é", "##ü"]


def build_tiny_qa_model(out_dir: Path, tokenizer_source: Path | None = None, *, seed: int = 0,
                        hidden_size: int = 32, layers: int = 2, heads: int = 2) -> Path:
    """Save a seeded random ``BertForQuestionAnswering`` + tokenizer to ``out_dir``; return it."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForQuestionAnswering

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_source or packaged_embedding_model_dir())
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=hidden_size, num_hidden_layers=layers,
                        num_attention_heads=heads, intermediate_size=hidden_size * 4,
                        max_position_embeddings=512)
    model = BertForQuestionAnswering(config).eval()
    with torch.no_grad():
        emb = model.bert.embeddings.token_type_embeddings.weight
        emb[1:] = emb[0]  # segment ids carry no information (see module docstring)
        # Larger QA-head weights spread the logits, so that near-ties (which float noise could flip) are rare.
        model.qa_outputs.weight.mul_(20.0)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def build_cased_tokenizer_dir(out_dir: Path) -> Path:
    """A fast, cased WordPiece tokenizer (no lower-casing, accents kept) saved to ``out_dir``."""
    from tokenizers import BertWordPieceTokenizer
    from transformers import PreTrainedTokenizerFast

    out_dir.mkdir(parents=True, exist_ok=True)
    alphabet = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    chars = sorted({ch for w in _CASED_WORDS for ch in w} | alphabet)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *_CASED_WORDS, *_CASED_PIECES,
             *[c for c in chars if c not in _CASED_WORDS], *[f"##{c}" for c in chars]]
    seen: list[str] = []
    for token in vocab:
        if token not in seen:
            seen.append(token)
    (out_dir / "vocab.txt").write_text("\n".join(seen) + "\n", encoding="utf-8")
    wordpiece = BertWordPieceTokenizer(str(out_dir / "vocab.txt"), lowercase=False, strip_accents=False)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=wordpiece, unk_token="[UNK]", cls_token="[CLS]",
                                        sep_token="[SEP]", pad_token="[PAD]", mask_token="[MASK]")
    tokenizer.save_pretrained(out_dir)
    return out_dir


@pytest.fixture(scope="session")
def tiny_qa_model_dir(tmp_path_factory) -> Path:
    """Tiny random uncased BERT QA model with the packaged MiniLM tokenizer (writable directory)."""
    return build_tiny_qa_model(tmp_path_factory.mktemp("tiny-qa-uncased"))


@pytest.fixture(scope="session")
def tiny_cased_qa_model_dir(tmp_path_factory) -> Path:
    """Tiny random BERT QA model with a tiny *cased* WordPiece vocabulary."""
    tok_dir = build_cased_tokenizer_dir(tmp_path_factory.mktemp("tiny-cased-tokenizer"))
    return build_tiny_qa_model(tmp_path_factory.mktemp("tiny-qa-cased"), tok_dir, seed=1)


@pytest.fixture(scope="session")
def readonly_tiny_qa_model_dir(tmp_path_factory, tiny_qa_model_dir) -> Path:
    """A copy of the tiny model in a read-only directory (ONNX exports must go to the user cache)."""
    target = tmp_path_factory.mktemp("tiny-qa-readonly") / "model"
    shutil.copytree(tiny_qa_model_dir, target, ignore=shutil.ignore_patterns("docqa-onnx*"))
    target.chmod(0o555)
    yield target
    target.chmod(0o755)


@pytest.fixture(scope="session")
def test_reader_dir() -> Path:
    """The shared fine-tuned test reader (``../shared/models/minilm-squad2-test``), or skip."""
    if not (SHARED_READER / "config.json").exists():
        pytest.skip(f"shared test reader not found at {SHARED_READER} (development/CI material)")
    return SHARED_READER


def build_tiny_cross_encoder(out_dir: Path, *, seed: int = 0, hidden_size: int = 32, layers: int = 2,
                             heads: int = 2) -> Path:
    """Save a seeded random one-logit ``BertForSequenceClassification`` (a reranker) + the packaged
    MiniLM tokenizer to ``out_dir``; return it."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(packaged_embedding_model_dir())
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=hidden_size, num_hidden_layers=layers,
                        num_attention_heads=heads, intermediate_size=hidden_size * 4,
                        max_position_embeddings=512, num_labels=1)
    model = BertForSequenceClassification(config).eval()
    with torch.no_grad():
        model.classifier.weight.mul_(50.0)  # spread the scores: near-ties that float noise flips are rare
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


@pytest.fixture(scope="session")
def tiny_reranker_dir(tmp_path_factory) -> Path:
    """Tiny random cross-encoder (reranker) with the packaged MiniLM tokenizer (writable directory)."""
    return build_tiny_cross_encoder(tmp_path_factory.mktemp("tiny-reranker"))


def build_tiny_sentence_model(out_dir: Path, *, hidden_size: int = 32, seed: int = 0) -> Path:
    """A sentence-transformers model of random weights with a ``hidden_size``-dimensional mean-pooled output
    and MiniLM's tokenizer: "another embedding model" for tests (another name *and* another dimension)."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import AutoTokenizer, BertConfig, BertModel

    from docqa.pipelines.model_loading import packaged_embedding_model_dir

    tokenizer = AutoTokenizer.from_pretrained(packaged_embedding_model_dir())
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=hidden_size, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=2 * hidden_size, max_position_embeddings=512)
    raw = out_dir.parent / f"{out_dir.name}-raw"
    BertModel(config).save_pretrained(raw)
    tokenizer.save_pretrained(raw)
    encoder = Transformer(str(raw), max_seq_length=256)
    SentenceTransformer(modules=[encoder, Pooling(hidden_size, "mean")], device="cpu").save(str(out_dir))
    return out_dir


@pytest.fixture(scope="session")
def tiny_sentence_model_dir(tmp_path_factory) -> Path:
    return build_tiny_sentence_model(tmp_path_factory.mktemp("tiny-st") / "tiny-sentence-model")
