"""Typed errors raised by litegen.

Every error litegen raises on bad user input derives from :class:`LitegenError`, and its
message names the thing at fault (a file, a signature, a tensor, a config field) and the
reason, so callers can catch one base class and users can act on the message alone.
"""

from __future__ import annotations


class LitegenError(Exception):
    """Base class of every error litegen raises on user input."""


class RuntimeVersionError(LitegenError):
    """The installed ai-edge-litert is not the version the native extension was built for."""


class NativeExtensionError(LitegenError):
    """The compiled extension ``litegen._litegen`` is missing or cannot be loaded."""


class ModelLoadError(LitegenError):
    """A model file is missing, unreadable, corrupt, or cannot be compiled."""


class SignatureError(LitegenError):
    """A signature name does not exist in the model."""


class InputError(LitegenError):
    """An input tensor is missing, unexpected, or has the wrong dtype or shape."""


class ChatTemplateError(InputError):
    """A chat request cannot be rendered: the model has no chat template, or it failed."""


class ExecutionError(LitegenError):
    """Running a signature failed (for example a custom kernel reported an error)."""


class ConfigError(LitegenError):
    """A model configuration is invalid or uses a feature litegen does not support."""


class CheckpointError(LitegenError):
    """A checkpoint is missing tensors, has extra tensors, wrong shapes, or is corrupt."""


class UnsupportedModelError(LitegenError):
    """A checkpoint's architecture (``model_type``) has no litegen model family."""


class ExportError(LitegenError):
    """Exporting a model to TFLite failed."""


class UnsupportedOpError(ExportError):
    """The exported graph contains an operator litegen cannot lower."""


class TokenizerError(ExportError):
    """A checkpoint's tokenizer is missing or cannot be bundled (e.g. an unsupported
    ``tokenizer.json`` type, or a converted tokenizer that does not encode identically)."""


class VerificationError(LitegenError):
    """A numerical comparison could not be run (mismatched outputs, shapes, or vocab)."""
