"""Lowering of exported ATen graphs to TFLite ops (see :mod:`.graph` for the driver)."""
