"""The inference Lambda: the core's FastAPI app behind Mangum (`handler.handler`)."""
