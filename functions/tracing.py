"""The Powertools tracer of the pipeline and reaction handlers.

Kept out of `functions.runtime`: importing the X-Ray SDK costs a quarter of a second, which the
inference cold start does not pay (Lambda's active tracing still records its invocations).
"""

from __future__ import annotations

from aws_lambda_powertools import Tracer

tracer = Tracer()
