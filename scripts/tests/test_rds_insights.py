"""moto 5.2.5 accepts Performance Insights settings on Create/ModifyDBInstance and drops
them; the proxy keeps them and answers them in DescribeDBInstances, realism mode or not."""

from __future__ import annotations

from helpers import client


def test_performance_insights_settings_survive_describe_with_realism_off(proxy):
    rds = client(proxy, "rds")
    rds.create_db_cluster(
        DBClusterIdentifier="pi-cluster",
        Engine="aurora-postgresql",
        MasterUsername="admin1",
        ManageMasterUserPassword=True,
    )
    try:
        rds.create_db_instance(
            DBInstanceIdentifier="pi-writer",
            DBClusterIdentifier="pi-cluster",
            Engine="aurora-postgresql",
            DBInstanceClass="db.serverless",
            EnablePerformanceInsights=True,
            PerformanceInsightsRetentionPeriod=7,
            PerformanceInsightsKMSKeyId="arn:aws:kms:us-east-1:123456789012:key/k",
        )
        rds.create_db_instance(
            DBInstanceIdentifier="pi-reader",
            DBClusterIdentifier="pi-cluster",
            Engine="aurora-postgresql",
            DBInstanceClass="db.serverless",
        )
        got = {
            i["DBInstanceIdentifier"]: i
            for i in rds.describe_db_instances()["DBInstances"]
            if i["DBInstanceIdentifier"].startswith("pi-")
        }
        assert got["pi-writer"]["PerformanceInsightsEnabled"] is True
        assert got["pi-writer"]["PerformanceInsightsRetentionPeriod"] == 7
        assert got["pi-writer"]["PerformanceInsightsKMSKeyId"].endswith(":key/k")
        assert (
            "PerformanceInsightsEnabled" not in got["pi-reader"]
            or not got["pi-reader"]["PerformanceInsightsEnabled"]
        )
        # Turned off by hand: the answer says so.
        rds.modify_db_instance(
            DBInstanceIdentifier="pi-writer", EnablePerformanceInsights=False, ApplyImmediately=True
        )
        writer = rds.describe_db_instances(DBInstanceIdentifier="pi-writer")["DBInstances"][0]
        assert writer["PerformanceInsightsEnabled"] is False
    finally:
        for ident in ("pi-writer", "pi-reader"):
            rds.delete_db_instance(DBInstanceIdentifier=ident, SkipFinalSnapshot=True)
        rds.delete_db_cluster(DBClusterIdentifier="pi-cluster", SkipFinalSnapshot=True)
