"""A DynamoDB endpoint for the tests: the project's moto server (scripts/moto.sh).

Each pytest session runs its own moto instance (``apptest-<pid>``: two runs at
once never stop each other's), started and stopped by the ``dynamodb`` fixture
in conftest.py, with one table shaped like the one ``provision`` creates:
partition key ``pk`` (String), TTL on ``expires_at``, on-demand.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from app.idempotency import client_config

REPO_ROOT = Path(__file__).resolve().parents[2]
MOTO_SH = REPO_ROOT / "scripts" / "moto.sh"
# moto only serves real region names.
REGION = "ap-southeast-2"
FAKE_KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@dataclass
class DynamoEndpoint:
    url: str
    table: str

    def client(self, url: str | None = None) -> Any:
        """A client with the app's settings (timeouts, retries), at ``url`` if given."""
        session = boto3.session.Session(region_name=REGION, **FAKE_KEYS)
        return session.client("dynamodb", endpoint_url=url or self.url, config=client_config())

    def server_env(self, url: str | None = None) -> dict[str, str]:
        """What a server process needs to use this table (through ``url``, if given)."""
        return {
            "IDEMPOTENCY_TABLE": self.table,
            "AWS_ENDPOINT_URL": url or self.url,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
            **{name.upper(): value for name, value in FAKE_KEYS.items()},
        }

    def item(self, key: str) -> dict[str, Any] | None:
        answer = self.client().get_item(
            TableName=self.table, Key={"pk": {"S": key}}, ConsistentRead=True
        )
        return answer.get("Item")

    def set_expiry(self, key: str, expires_at: int) -> None:
        """Move an item's ``expires_at`` (TTL deletion is lazy: the item stays)."""
        self.client().update_item(
            TableName=self.table,
            Key={"pk": {"S": key}},
            UpdateExpression="SET expires_at = :e",
            ExpressionAttributeValues={":e": {"N": str(expires_at)}},
        )


def _moto(command: str, instance: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(MOTO_SH), command],
        env={**os.environ, "MOTO_INSTANCE": instance, "AWS_REGION": REGION},
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def start_moto(instance: str) -> tuple[str, bool]:
    """The instance's URL, and whether this call started it."""
    running = _moto("status", instance, 30).returncode == 0
    started = _moto("start", instance, 900)  # installs .venv-moto the first time
    if started.returncode != 0:
        raise RuntimeError(f"scripts/moto.sh start failed:\n{started.stderr}")
    return started.stdout.strip().splitlines()[-1], not running


def stop_moto(instance: str) -> None:
    _moto("stop", instance, 60)
    run_dir = Path(os.environ.get("PROVISION_RUN_DIR", REPO_ROOT / ".run"))
    for leftover in (f"moto-{instance}.log", f"moto-{instance}.lock"):
        with contextlib.suppress(OSError):
            (run_dir / leftover).unlink()


def create_table(url: str) -> DynamoEndpoint:
    """A fresh table like ``ddb-idempotency-{suffix}``."""
    endpoint = DynamoEndpoint(url, f"ddb-idempotency-test{secrets.token_hex(4)}")
    client = endpoint.client()
    client.create_table(
        TableName=endpoint.table,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    deadline = time.monotonic() + 30
    while client.describe_table(TableName=endpoint.table)["Table"]["TableStatus"] != "ACTIVE":
        if time.monotonic() > deadline:
            raise RuntimeError(f"table {endpoint.table} never became ACTIVE")
        time.sleep(0.1)
    client.update_time_to_live(
        TableName=endpoint.table,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
    )
    return endpoint
