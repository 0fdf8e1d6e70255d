"""Part of the stack floor: boto3 and Powertools' HTTP API resolver, without validation or models."""

from __future__ import annotations

import boto3
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

app = APIGatewayHttpResolver()


@app.get("/v1/region")
def region() -> dict[str, str | None]:
    return {"region": boto3.session.Session().region_name}
