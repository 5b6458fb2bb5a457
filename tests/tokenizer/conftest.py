from __future__ import annotations

import pytest

from tests.tokenizer.spm_models import train


@pytest.fixture(scope="session", params=["bpe", "unigram"])
def spm_model(request: pytest.FixtureRequest) -> bytes:
    """A SentencePiece model trained in the test session (with byte fallback)."""
    return train(request.param)
