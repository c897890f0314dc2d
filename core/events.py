"""Event envelopes the handlers validate, as lenient as the events that really reach them."""

from __future__ import annotations

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel


class EventBridgeEvent(EventBridgeModel):
    """EventBridge's envelope. `version` is optional: AWS sends "0", but the scheduled-event
    sample that `sam local generate-event cloudwatch scheduled-event` writes leaves it out."""

    version: str = "0"
