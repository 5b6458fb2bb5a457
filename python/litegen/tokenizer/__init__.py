"""Tokenizers: the C++ SentencePiece tokenizer from Python, and the bundle-time handling of
a checkpoint's tokenizer files (``tokenizer.model`` / ``tokenizer.json``)."""

from litegen.tokenizer.checkpoint import CheckpointTokenizer, load_checkpoint_tokenizer
from litegen.tokenizer.tokenizer import StreamDecoder, Tokenizer

__all__ = ["CheckpointTokenizer", "StreamDecoder", "Tokenizer", "load_checkpoint_tokenizer"]
