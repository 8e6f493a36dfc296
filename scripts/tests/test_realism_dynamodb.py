"""DynamoDB in the realism mode: the table-name and TTL rules moto does not check,
and moto's own deletion protection (which the provisioner's teardown relies on)."""

from __future__ import annotations

import functools

import pytest
from botocore.exceptions import ClientError
from helpers import client, error_of, realism

TABLE = "ddb-idempotency-rt1"


def test_dynamodb_table_name_rule_and_deletion_protection(proxy):
    ddb = client(proxy, "dynamodb")
    realism(proxy, rules=True)
    assert error_of(functools.partial(ddb.describe_table, TableName="t!")) == (
        "ValidationException",
        400,
    )
    ddb.create_table(
        TableName=TABLE,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        DeletionProtectionEnabled=True,
    )
    try:
        ddb.update_time_to_live(
            TableName=TABLE,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
        )
        with pytest.raises(ClientError) as refused:
            ddb.delete_table(TableName=TABLE)
        assert "protection" in str(refused.value).lower()
    finally:
        ddb.update_table(TableName=TABLE, DeletionProtectionEnabled=False)
        ddb.delete_table(TableName=TABLE)
