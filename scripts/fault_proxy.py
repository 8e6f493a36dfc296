#!/usr/bin/env python3
"""Loopback fault-injection reverse proxy for AWS API calls (stdlib + cbor2).

Sits between an AWS SDK and a local moto_server::

    SDK --AWS_ENDPOINT_URL--> fault_proxy (127.0.0.1:P) --> moto (127.0.0.1:U)

and can add latency, answer a seeded fraction of calls with the service's own
throttling error, or fail named operations N times, each in the wire protocol
the SDK expects (the protocols, their errors and how operations are named:
``scripts/proxy/protocols.py``; ``--fail`` rules: ``scripts/proxy/faults.py``).
It also translates CloudWatch's rpc-v2-cbor calls to the JSON 1.0 moto speaks
(``scripts/proxy/cbor_bridge.py``), answers a few operations moto lacks
(``scripts/proxy/canned.py``; the Price List Query API from a catalog of
products, ``scripts/proxy/price_list.py``), and emulates what moto lacks of
CloudFront: VPC origins, monitoring subscriptions and the fields moto drops from
distributions (``scripts/proxy/cloudfront/``).

AWS-realism mode (``--aws-realism``; ``scripts/proxy/realism/``) makes the
emulator as strict and as slow to settle as AWS, in four parts that can be
switched on one by one: ``rules`` (documented request constraints, answered
with the service's validation error, and deletes AWS refuses while something
uses the resource), ``eventual_consistency_seconds`` (EC2 NotFound for new
ids), ``lifecycle_seconds`` (pending states in answers: also CloudFront
distributions ``InProgress`` and VPC origins ``Deploying`` / ``Deleting``) and
``image_pulls`` (ECS deployments fail for images missing from ECR); besides,
``deployment_alarm`` rolls the next ECS deployment back as if the named
deployment alarm went into ALARM. The package docstring of
``scripts/proxy/realism/__init__.py`` describes each part.
``--aws-realism`` turns on the four parts (eventual consistency 1.5 s, lifecycles
2.0 s); ``--realism-ec-seconds S`` and ``--realism-lifecycle-seconds S`` change
those durations (alone, they turn on just that part);
``--realism-deployment-alarm NAME`` sets ``deployment_alarm`` (``*``: the
service's first deployment alarm), which clears itself once used.

This file is the command line; the proxy itself is the ``scripts/proxy/``
package.

Control endpoints (never forwarded)::

    GET  /__proxy/stats    counters as JSON (with realism_rejections,
                           eventual_consistency_rejections, lifecycle_rewrites,
                           image_pull_failures, deployment_alarm_rollbacks)
    POST /__proxy/reset    zero the counters
    GET  /__proxy/config   current configuration
    POST /__proxy/config   change configuration, JSON body, any subset of:
        {"latency_ms": 50, "throttle_rate": 0.3, "seed": 7,
         "throttle_operations": ["CreateVpc"] | null,
         "fail": ["CreateVpc:2", {"operation": "S3:PUT", "count": -1,
                                  "code": "AccessDenied", "status": 403}],
         "add_fail": [...],          # "fail" replaces the rules, "add_fail" appends
         "realism": {"rules": true, "eventual_consistency_seconds": 2,
                     "lifecycle_seconds": 0, "image_pulls": true,
                     "deployment_alarm": "alarm-5xx-dev1" | "*" | null}
                    | true | false}
    GET  /__proxy/realism/violations  {"count": N, "violations": [...], "rules": R}
    GET  /__proxy/realism/rules       the rule table (id, service, operations,
                                      parameter, code, citation)
    GET  /__proxy/health   {"ok": true}

Fault injection (latency, throttling, ``--fail``) is decided first; a call it
lets through is then checked by the realism mode before it reaches moto.

Example::

    scripts/fault_proxy.py --upstream http://127.0.0.1:5000 --port 0 \\
        --port-file .run/proxy.port --throttle-rate 0.2 --seed 1 \\
        --fail CreateNatGateway:2 --fail PutMetricAlarm:-1:LimitExceeded:400 \\
        --aws-realism --realism-ec-seconds 2

The CBOR codec is the ``cbor2`` package (pinned in scripts/requirements-moto.txt):
run the proxy with ``.venv-moto/bin/python``; without cbor2 it exits with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time
import urllib.parse
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:  # also when run with runpy or from another directory
    sys.path.insert(0, _HERE)
# The package next to this file, found through the line above.
from proxy import cbor_bridge  # noqa: E402
from proxy.realism.config import (  # noqa: E402
    DEFAULT_EC_SECONDS,
    DEFAULT_LIFECYCLE_SECONDS,
    RealismConfig,
)
from proxy.server import FaultProxyServer  # noqa: E402
from proxy.state import ProxyState  # noqa: E402

LOOPBACK_HOSTS = {"127.0.0.1", "localhost"}


def parse_upstream(value: str) -> tuple[str, int]:
    if value.isdigit():
        return "127.0.0.1", int(value)
    parsed = urllib.parse.urlsplit(value if "//" in value else f"http://{value}")
    if parsed.scheme != "http":
        raise argparse.ArgumentTypeError("upstream must be plain http://")
    if parsed.hostname not in LOOPBACK_HOSTS:
        raise argparse.ArgumentTypeError("upstream must be on 127.0.0.1 (loopback only)")
    if not parsed.port:
        raise argparse.ArgumentTypeError("upstream needs an explicit port")
    return "127.0.0.1", parsed.port


def main(argv: list[str] | None = None) -> int:
    parent = os.getppid()
    ap = argparse.ArgumentParser(
        description="Loopback fault-injection proxy in front of moto_server.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Control endpoints" + __doc__.split("Control endpoints", 1)[1],
    )
    ap.add_argument(
        "--upstream",
        required=True,
        type=parse_upstream,
        help="upstream moto URL or port, e.g. http://127.0.0.1:5000 (loopback only)",
    )
    ap.add_argument("--port", type=int, default=0, help="listen port on 127.0.0.1 (0 = free port)")
    ap.add_argument("--port-file", help="write the bound port to this file")
    ap.add_argument("--latency-ms", type=float, default=0.0, help="delay added to every call")
    ap.add_argument(
        "--throttle-rate", type=float, default=0.0, help="fraction (0-1) of calls throttled"
    )
    ap.add_argument("--seed", type=int, default=0, help="RNG seed for throttling")
    ap.add_argument(
        "--throttle-operations",
        help="comma-separated operations that may be throttled (default: all)",
    )
    ap.add_argument(
        "--fail",
        action="append",
        default=[],
        metavar="OPERATION:N[:CODE[:STATUS]]",
        help="fail OPERATION the next N times (-1 = always); repeatable",
    )
    ap.add_argument("--upstream-timeout", type=float, default=120.0)
    ap.add_argument(
        "--no-cbor-bridge",
        dest="cbor_bridge",
        action="store_false",
        help="forward everything unchanged: no CBOR translation (by default smithy-rpc-v2-cbor "
        "calls are translated to AWS JSON 1.0 for moto, which has no CBOR support, and the "
        "answer back to CBOR) and no answers for operations moto lacks "
        "(DescribeDBEngineVersions, the Price List API's GetProducts, CloudFront VPC origins "
        "and monitoring subscriptions; "
        "CloudFront answers unmended)",
    )
    ap.add_argument(
        "--aws-realism",
        action="store_true",
        help="turn on every part of the AWS-realism mode (request rules, EC2 eventual "
        f"consistency {DEFAULT_EC_SECONDS:g}s, lifecycles "
        f"{DEFAULT_LIFECYCLE_SECONDS:g}s, image pulls); see scripts/proxy/realism/__init__.py",
    )
    ap.add_argument(
        "--realism-ec-seconds",
        type=float,
        metavar="S",
        help="EC2 eventual-consistency window (with --aws-realism: instead of the default; "
        "alone: turns on only that part)",
    )
    ap.add_argument(
        "--realism-lifecycle-seconds",
        type=float,
        metavar="S",
        help="how long resources show pending states (with --aws-realism: instead of the "
        "default; alone: turns on only that part)",
    )
    ap.add_argument(
        "--realism-deployment-alarm",
        metavar="NAME",
        help="roll the next ECS deployment of a service whose deployment alarms (enable, "
        "rollback) name NAME back as if NAME went into ALARM ('*': the service's first "
        "alarm); clears itself once used. Alone, it turns on only that",
    )
    ap.add_argument("--verbose", "-v", action="store_true", help="log every request to stderr")
    ap.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="stop when the process that started the proxy exits (for test harnesses)",
    )
    args = ap.parse_args(argv)
    if cbor_bridge.cbor2 is None:
        print(cbor_bridge.CBOR2_MISSING, file=sys.stderr)
        return 2

    realism = RealismConfig.all_on() if args.aws_realism else None
    try:
        spec: dict[str, Any] = {}
        if args.realism_ec_seconds is not None:
            spec["eventual_consistency_seconds"] = args.realism_ec_seconds
        if args.realism_lifecycle_seconds is not None:
            spec["lifecycle_seconds"] = args.realism_lifecycle_seconds
        if args.realism_deployment_alarm is not None:
            spec["deployment_alarm"] = args.realism_deployment_alarm
        if spec:
            realism = (realism or RealismConfig()).updated(spec)
        state = ProxyState(
            latency_ms=args.latency_ms,
            throttle_rate=args.throttle_rate,
            seed=args.seed,
            fail=args.fail,
            throttle_operations=(
                [o for o in args.throttle_operations.split(",") if o]
                if args.throttle_operations
                else None
            ),
            realism=realism,
        )
    except ValueError as exc:
        ap.error(str(exc))

    server = FaultProxyServer(
        args.port,
        args.upstream,
        state,
        upstream_timeout=args.upstream_timeout,
        verbose=args.verbose,
        cbor_bridge=args.cbor_bridge,
    )
    if args.port_file:
        tmp = f"{args.port_file}.tmp.{os.getpid()}"
        with open(tmp, "w") as fh:
            fh.write(f"{server.port}\n")
        os.replace(tmp, args.port_file)

    def stop(signum: int, _frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    if args.exit_with_parent:

        def watch_parent() -> None:
            while os.getppid() == parent:
                time.sleep(0.5)
            server.shutdown()

        threading.Thread(target=watch_parent, daemon=True).start()

    url = f"http://127.0.0.1:{server.port}"
    print(f"fault_proxy: listening on {url} -> upstream {server.upstream_url}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        if args.port_file:
            with contextlib.suppress(OSError):
                os.unlink(args.port_file)
    print("fault_proxy: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
