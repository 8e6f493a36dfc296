"""CloudFront in the proxy: operation names, the XML it speaks, and what moto lacks.

moto 5.2.5 stores distributions but has no VPC origins, no monitoring
subscriptions and no ListDistributionsByWebACLId, drops an origin's
``VpcOriginConfig``, adds ``ForwardedValues`` and TTLs to cache behaviours that
use a cache policy, keeps one ETag per distribution for ever and ignores
``If-Match``. The proxy fills those gaps (unless run with ``--no-cbor-bridge``):

``routes``
    the operation name of a CloudFront request (method and URI of the botocore
    service model, API version 2020-05-31), used for counting, ``--fail`` rules
    and throttling; errors are CloudFront's ``<ErrorResponse>``.
``xmlcodec``
    CloudFront's XML as nested dicts (``Items`` become lists) and back.
``vpc_origins``
    the emulated VPC origins: Create / Get / List / Update / Delete, their
    tags, ETags and ``If-Match``, ``Deploying`` -> ``Deployed`` and
    ``Deleting`` -> gone, in use by a distribution, and the network interfaces
    they hold in the load balancer's subnets.
``distributions``
    what the proxy keeps of moto's distributions: the ``VpcOriginConfig`` and
    cache behaviour fields that moto drops or adds, its own ETag per
    distribution, when it last changed (``InProgress`` in the realism mode),
    and monitoring subscriptions.
``emulator``
    :class:`~proxy.cloudfront.emulator.CloudFront`, which the request handler
    hands every CloudFront call: it answers the emulated operations itself and
    rewrites moto's answers to the others.

What is on only in the realism mode (``rules``: stale ``If-Match`` on
distributions, ``DistributionNotDisabled``; ``lifecycle_seconds``: the
``InProgress`` / ``Deploying`` / ``Deleting`` windows) is described in
:mod:`proxy.realism`.
"""
