"""An OpenAI-compatible HTTP server for one litegen model (``litegen serve``)."""
