"""ECS deployment alarms through the proxy: moto drops them on CreateService and the
proxy keeps them; the realism setting ``deployment_alarm`` rolls the next deployment
back as ECS does when a deployment alarm goes into ALARM
(:mod:`proxy.realism.deployment_alarms`).
"""

from __future__ import annotations

import contextlib
import signal
import time
import urllib.error
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError
from helpers import ALARM, cbor_cloudwatch, client, control, realism, start_proxy
from proxy.realism.deployment_alarms import REASON

NAMES = ["alarm-5xx-da", "alarm-unhealthy-da"]


def alarms_config(names: list[str] = NAMES, enable: bool = True, rollback: bool = True) -> dict:
    return {"alarmNames": list(names), "enable": enable, "rollback": rollback}


@contextlib.contextmanager
def ecs_cluster(base: str, cluster: str, alarms: list[str] = NAMES) -> Iterator[dict]:
    """A cluster, two revisions of a task definition and CloudWatch alarms named
    ``alarms`` (all deleted again afterwards, with the cluster's services)."""
    ecs, cw = client(base, "ecs"), client(base, "cloudwatch")
    ecs.create_cluster(clusterName=cluster)
    tds = [
        ecs.register_task_definition(
            family=cluster,
            containerDefinitions=[{"name": "app", "image": f"busybox:{i}", "memory": 128}],
        )["taskDefinition"]["taskDefinitionArn"]
        for i in (1, 2)
    ]
    for name in alarms:
        cw.put_metric_alarm(AlarmName=name, **ALARM)
    try:
        yield {"ecs": ecs, "cw": cw, "cluster": cluster, "tds": tds}
    finally:
        for arn in ecs.list_services(cluster=cluster)["serviceArns"]:
            ecs.delete_service(cluster=cluster, service=arn, force=True)
        ecs.delete_cluster(cluster=cluster)
        for td in tds:
            with contextlib.suppress(ClientError):
                ecs.deregister_task_definition(taskDefinition=td)
        if alarms:
            cw.delete_alarms(AlarmNames=alarms)


def service(env: dict, name: str, **alarms) -> dict:
    return env["ecs"].create_service(
        cluster=env["cluster"],
        serviceName=name,
        taskDefinition=env["tds"][0],
        desiredCount=2,
        deploymentConfiguration={
            "deploymentCircuitBreaker": {"enable": True, "rollback": True},
            "alarms": alarms_config(**alarms),
        },
    )["service"]


def describe(env: dict, name: str) -> dict:
    (svc,) = env["ecs"].describe_services(cluster=env["cluster"], services=[name])["services"]
    return svc


def deployments(svc: dict) -> list[tuple]:
    return [(d["status"], d["taskDefinition"], d.get("rolloutState")) for d in svc["deployments"]]


def alarm_state(env: dict, name: str) -> str:
    return env["cw"].describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"]


def test_moto_drops_deployment_alarms_and_the_proxy_keeps_them(proxy, moto_url):
    with ecs_cluster(moto_url, "da-moto", alarms=[]) as plain:
        created = service(plain, "api")
        assert "deploymentConfiguration" not in created  # moto 5.2.5 drops all of it
        assert "deploymentConfiguration" not in describe(plain, "api")
    with ecs_cluster(proxy, "da-keep", alarms=[]) as env:
        created = service(env, "api")
        assert created["deploymentConfiguration"]["alarms"] == alarms_config()
        assert describe(env, "api")["deploymentConfiguration"]["alarms"] == alarms_config()
        ecs = env["ecs"]
        ecs.update_service(cluster="da-keep", service="api", desiredCount=1)
        assert describe(env, "api")["deploymentConfiguration"]["alarms"] == alarms_config()
        # A configuration without alarms replaces it (moto keeps what UpdateService gives).
        got = ecs.update_service(
            cluster="da-keep", service="api", deploymentConfiguration={"maximumPercent": 200}
        )["service"]["deploymentConfiguration"]
        assert got == {"maximumPercent": 200}
        assert "alarms" not in describe(env, "api")["deploymentConfiguration"]
        wanted = alarms_config(["alarm-other"], rollback=False)
        got = ecs.update_service(
            cluster="da-keep", service="api", deploymentConfiguration={"alarms": wanted}
        )["service"]["deploymentConfiguration"]
        assert got["alarms"] == wanted
        assert describe(env, "api")["deploymentConfiguration"]["alarms"] == wanted


def test_deployment_alarm_rolls_the_deployment_back(proxy, moto_url):
    with ecs_cluster(proxy, "da-roll") as env:
        td1, td2 = env["tds"]
        ecs = env["ecs"]
        service(env, "api")
        got = realism(proxy, lifecycle_seconds=1.0, deployment_alarm=NAMES[1])
        assert got["deployment_alarm"] == NAMES[1]
        updated = ecs.update_service(cluster="da-roll", service="api", taskDefinition=td2)
        started = time.monotonic()
        new = updated["service"]["deployments"][0]
        assert (new["status"], new["taskDefinition"], new["rolloutState"]) == (
            "PRIMARY",
            td2,
            "IN_PROGRESS",
        )
        # Used: the next deployment is not affected.
        assert control(proxy, "config")["realism"]["deployment_alarm"] is None
        assert deployments(describe(env, "api")) == [
            ("PRIMARY", td2, "IN_PROGRESS"),
            ("ACTIVE", td1, "COMPLETED"),
        ]
        assert alarm_state(env, NAMES[1]) == "OK"  # moto's state of a new alarm
        time.sleep(max(0.0, started + 1.05 - time.monotonic()))

        svc = describe(env, "api")
        assert svc["taskDefinition"] == td1
        assert deployments(svc) == [("PRIMARY", td1, "COMPLETED"), ("INACTIVE", td2, "FAILED")]
        failed = svc["deployments"][1]
        reason = REASON.format(deployment=new["id"], alarms=NAMES[1])
        assert failed["id"] == new["id"]
        assert failed["rolloutStateReason"] == (
            f"ECS deployment {new['id']} rolled back: the CloudWatch alarm(s) {NAMES[1]} "
            "went into ALARM state during the deployment"
        )
        assert failed["rolloutStateReason"] == reason
        assert svc["deployments"][0]["id"] not in (
            new["id"],
            updated["service"]["deployments"][1]["id"],
        )
        assert svc["events"][0]["message"] == f"(service api) {reason}."
        assert describe(env, "api")["events"][0]["id"] == svc["events"][0]["id"]  # the same event
        # Really rolled back in moto, and the alarm really in ALARM (also over CBOR).
        (in_moto,) = client(moto_url, "ecs").describe_services(cluster="da-roll", services=["api"])[
            "services"
        ]
        assert in_moto["taskDefinition"] == td1
        assert alarm_state(env, NAMES[1]) == "ALARM"
        assert alarm_state(env, NAMES[0]) == "OK"
        (cbor,) = cbor_cloudwatch(proxy).describe_alarms(AlarmNames=[NAMES[1]])["MetricAlarms"]
        assert cbor["StateValue"] == "ALARM"
        assert "deployment_alarm" in cbor["StateReason"]
        (record,) = control(proxy, "stats")["deployment_alarm_rollbacks"]
        assert record == {
            "service": svc["serviceArn"],
            "alarm": NAMES[1],
            "alarm_set": True,
            "deployment": new["id"],
            "task_definition": td2,
            "rolled_back_to": td1,
        }

        # The next deployment (the setting is used up) completes, and ends the rollback's view.
        ecs.update_service(cluster="da-roll", service="api", taskDefinition=td2)
        time.sleep(1.05)
        svc = describe(env, "api")
        assert svc["taskDefinition"] == td2
        assert [d["rolloutState"] for d in svc["deployments"]] == ["COMPLETED"]
        assert len(control(proxy, "stats")["deployment_alarm_rollbacks"]) == 1


def test_star_names_the_first_alarm_and_a_missing_alarm_is_left_alone(proxy):
    with ecs_cluster(proxy, "da-star", alarms=[]) as env:
        td1, td2 = env["tds"]
        service(env, "api", names=["alarm-not-there-da", NAMES[0]])
        realism(proxy, deployment_alarm="*")  # lifecycle_seconds 0: at the next call
        env["ecs"].update_service(cluster="da-star", service="api", taskDefinition="da-star:2")
        svc = describe(env, "api")
        assert svc["taskDefinition"] == td1
        assert deployments(svc) == [("PRIMARY", td1, "COMPLETED"), ("INACTIVE", td2, "FAILED")]
        assert (
            "alarm(s) alarm-not-there-da went into ALARM"
            in (svc["deployments"][1]["rolloutStateReason"])
        )
        (record,) = control(proxy, "stats")["deployment_alarm_rollbacks"]
        assert (record["alarm"], record["alarm_set"]) == ("alarm-not-there-da", False)


def test_no_rollback_without_the_setting_its_alarm_or_rollback(proxy):
    with ecs_cluster(proxy, "da-none") as env:
        td1, td2 = env["tds"]
        ecs = env["ecs"]
        service(env, "no-rollback", rollback=False)
        service(env, "disabled", enable=False)
        service(env, "other-alarms", names=["alarm-elsewhere"])
        service(env, "not-set")
        service(env, "superseded")
        realism(proxy, lifecycle_seconds=0.5, deployment_alarm=NAMES[0])
        for name in ("no-rollback", "disabled", "other-alarms"):
            ecs.update_service(cluster="da-none", service=name, taskDefinition=td2)
        # Not used by deployments that do not watch it.
        assert control(proxy, "config")["realism"]["deployment_alarm"] == NAMES[0]
        # The same task definition again is not a deployment either.
        ecs.update_service(cluster="da-none", service="superseded", taskDefinition=td1)
        assert control(proxy, "config")["realism"]["deployment_alarm"] == NAMES[0]
        # A deployment that another one replaces within the window is not rolled back.
        ecs.update_service(cluster="da-none", service="superseded", taskDefinition=td2)
        assert control(proxy, "config")["realism"]["deployment_alarm"] is None
        ecs.update_service(
            cluster="da-none", service="superseded", taskDefinition=td2, forceNewDeployment=True
        )
        ecs.update_service(cluster="da-none", service="not-set", taskDefinition=td2)
        time.sleep(0.6)
        for name in ("no-rollback", "disabled", "other-alarms", "not-set", "superseded"):
            svc = describe(env, name)
            assert svc["taskDefinition"] == td2, name
            assert [d["rolloutState"] for d in svc["deployments"]] == ["COMPLETED"], name
        assert alarm_state(env, NAMES[0]) == "OK"
        assert control(proxy, "stats")["deployment_alarm_rollbacks"] == []


def test_deployment_alarm_config_and_flag(proxy, moto_url):
    got = control(proxy, "config", {"realism": {"deployment_alarm": "alarm-5xx-dev1"}})
    assert got["realism"]["deployment_alarm"] == "alarm-5xx-dev1"
    assert control(proxy, "config")["realism"] == got["realism"]
    got = control(proxy, "config", {"realism": {"rules": True}})["realism"]
    assert (got["rules"], got["deployment_alarm"]) == (True, "alarm-5xx-dev1")
    for bad in (5, "", "a" * 256, ["x"]):
        with pytest.raises(urllib.error.HTTPError) as info:
            control(proxy, "config", {"realism": {"deployment_alarm": bad}})
        assert info.value.code == 400, bad
    assert control(proxy, "config")["realism"]["deployment_alarm"] == "alarm-5xx-dev1"
    assert (
        control(proxy, "config", {"realism": {"deployment_alarm": None}})["realism"][
            "deployment_alarm"
        ]
        is None
    )
    control(proxy, "config", {"realism": {"deployment_alarm": "*"}})
    assert control(proxy, "config", {"realism": True})["realism"]["deployment_alarm"] is None

    for args, want in [
        (
            ["--realism-deployment-alarm", "alarm-5xx-dev1"],
            {"rules": False, "lifecycle_seconds": 0.0, "deployment_alarm": "alarm-5xx-dev1"},
        ),
        (
            ["--aws-realism", "--realism-deployment-alarm", "*"],
            {"rules": True, "lifecycle_seconds": 2.0, "deployment_alarm": "*"},
        ),
        (["--aws-realism"], {"rules": True, "lifecycle_seconds": 2.0, "deployment_alarm": None}),
    ]:
        proc, port, _ = start_proxy(moto_url, *args)
        try:
            got = control(f"http://127.0.0.1:{port}", "config")["realism"]
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
        assert {k: got[k] for k in want} == want, args
