"""AWS-realism mode of the proxy: as strict and as slow to settle as AWS.

moto accepts requests AWS refuses and answers at once where AWS takes its
time. The realism mode closes that gap in four parts that can be switched on
one by one, plus a fault a test asks for (``deployment_alarm``)
(:class:`proxy.realism.config.RealismConfig`):

``rules`` (bool)
    Requests are checked against a table of documented constraints of the calls
    the provisioner makes (:data:`proxy.realism.mode.RULES`: service,
    operations, parameter, check and the AWS reference it comes from; ``GET
    /__proxy/realism/rules`` lists them). One module per service holds its
    rules (``ec2``, ``ecs``, ``rds``, ``elb``, ``iam``, ``s3``, ``alarms`` for
    SNS and CloudWatch, ``cloudfront``, ``wafv2``, ``others`` for Logs,
    Secrets Manager, ECR and Application Auto Scaling). Covered: EC2 security
    group name/description/rule descriptions, ClientToken, tags,
    ModifyVpcAttribute (one attribute per call), flow-log aggregation interval;
    ECS clientToken (36 ASCII on CreateService), service / cluster / family /
    container names, Fargate cpu-memory pairs and
    stopTimeout; RDS cluster / instance / parameter group / subnet group names,
    Serverless v2 capacity range, backup retention; ELBv2 load balancer and
    target group names, health check ranges (timeout below interval), at most 20
    attributes, rule priority; IAM role name, path and policy name; S3 bucket
    names; SNS topic names; CloudWatch alarm name and period; Logs group names,
    retention days and log delivery source / destination names; Secrets Manager
    names and request tokens; ECR repository names; App Auto Scaling min <= max;
    CloudFront distribution comment, caller reference, price class, HTTP
    version, a cache policy or ForwardedValues per behaviour, WebACLId, VPC
    origin timeouts, Quantity / Items, tags and VPC origin names; WAFv2 web ACL
    and rule names, metric names, rule priorities, rate-based limits and
    evaluation windows, CLOUDFRONT scope only in us-east-1. A broken rule is
    answered with that service's own validation error (EC2
    ``InvalidParameterValue`` / ``...Combination``, RDS ``InvalidParameterValue``,
    ELBv2 / IAM / CloudWatch ``ValidationError``, SNS ``InvalidParameter``, ECS
    ``InvalidParameterException`` / ``ClientException``, Logs
    ``InvalidParameterException`` / ``ValidationException``, Secrets Manager
    ``ValidationException``, S3 ``InvalidBucketName``, CloudFront
    ``InvalidArgument`` / ``InvalidWebACLId`` / ``InconsistentQuantities`` /
    ``InvalidTagging`` / ``InvalidOrigin...Timeout``, WAFv2
    ``WAFInvalidParameterException``) in its wire protocol, and recorded in the stats under
    ``realism_rejections`` ({operation, rule, message}) and in ``GET
    /__proxy/realism/violations``. One rule is stricter than AWS on purpose:
    ``PutMetricAlarm`` whose actions name a topic the proxy saw created (or set)
    with ``KmsMasterKeyId`` ``alias/aws/sns`` gets ``ValidationError``.
    CloudWatch cannot publish to a topic encrypted with the AWS managed key (SNS
    Developer Guide, key management / compatibility with AWS services); real AWS
    accepts such an alarm and silently drops its notifications, so the proxy
    refuses it to make the mistake visible in a test.

    ``rules`` also turns on the refusals that depend on state
    (:mod:`proxy.realism.in_use`, listed with ``kind`` ``state`` by ``GET
    /__proxy/realism/rules``): EC2 ``DependencyViolation`` for DeleteSubnet /
    DeleteSecurityGroup / DeleteVpc while a CloudFront VPC origin (even one that
    is ``Deleting``) holds network interfaces in the load balancer's subnets,
    WAFv2 ``WAFAssociatedItemException`` for DeleteWebACL of a web ACL a
    distribution names, Logs ``ConflictException`` for DeleteDeliverySource /
    DeleteDeliveryDestination while a delivery uses it, and CloudFront's
    ``PreconditionFailed`` (412) for UpdateDistribution / DeleteDistribution with
    an ``If-Match`` that is not the current ETag, ``DistributionNotDisabled``
    (409) for deleting a distribution that is enabled or not yet ``Deployed``,
    ``EntityNotFound`` / ``InvalidArgument`` for a distribution naming a VPC
    origin that does not exist / is not ``Deployed`` yet, and
    ``CannotUpdateEntityWhileInUse`` for UpdateVpcOrigin while a distribution
    uses it (:mod:`proxy.cloudfront`).
``eventual_consistency_seconds`` (number, 0 = off)
    For that long after a successful EC2 CreateVpc, CreateSubnet,
    CreateInternetGateway, CreateRouteTable, CreateSecurityGroup,
    AllocateAddress or CreateNatGateway, a mutating EC2 call that names the new
    id (ModifyVpcAttribute, ModifySubnetAttribute, AttachInternetGateway,
    Create/ReplaceRoute, AssociateRouteTable, Authorize/RevokeSecurityGroup
    Ingress/Egress, CreateNatGateway, CreateTags, CreateFlowLogs, and
    CreateSubnet / CreateSecurityGroup / CreateRouteTable in a new VPC) gets the
    400 NotFound error of that id type (``InvalidVpcID.NotFound``,
    ``InvalidSubnetID.NotFound``, ``InvalidGroup.NotFound``,
    ``InvalidRouteTableID.NotFound``, ``InvalidInternetGatewayID.NotFound``,
    ``InvalidAllocationID.NotFound``, ``InvalidNatGatewayID.NotFound``), as real
    EC2 does ("Eventual consistency in the Amazon EC2 API", EC2 Developer Guide).
    Describe calls are not affected. Counted in ``eventual_consistency_rejections``.
``lifecycle_seconds`` (number, 0 = off)
    For that long after a create, answers show the pending state: NAT gateways
    ``pending`` (``deleting`` after DeleteNatGateway) in CreateNatGateway /
    DescribeNatGateways, load balancers ``provisioning`` in
    DescribeLoadBalancers, DB instances and clusters ``creating`` in
    Create/DescribeDBInstances and Create/DescribeDBClusters, the primary
    ECS deployment ``IN_PROGRESS`` (running count 0) in Create/UpdateService and
    DescribeServices, and CloudFront distributions ``InProgress`` after each
    create and update (Create/Get/Update/ListDistributions). Afterwards moto's
    own answer passes. Counted in ``lifecycle_rewrites``. The emulated CloudFront
    VPC origins (:mod:`proxy.cloudfront.vpc_origins`) are ``Deploying`` for that
    long after a create or update and ``Deleting`` for that long after a delete,
    then gone; the window is the one in force when the change starts.
``image_pulls`` (bool)
    On CreateService / UpdateService / RunTask the proxy looks up the task
    definition (from the RegisterTaskDefinition answers it saw, else with its own
    DescribeTaskDefinition call to moto) and, for each image in this account's
    ECR (``<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>`` or
    ``@sha256:...``), asks moto's ECR DescribeImages whether it exists. If not,
    and the service's desiredCount is above 0, later DescribeServices answers
    show the primary deployment ``rolloutState`` ``FAILED`` with a
    ``CannotPullContainerError`` reason, runningCount 0 and a service event, as
    when the deployment circuit breaker trips; tasks started by RunTask show
    ``STOPPED`` / ``TaskFailedToStart`` with that reason in DescribeTasks
    (ListTasks is not rewritten). A later UpdateService with a good image (or
    desiredCount 0) clears it. Recorded in ``image_pull_failures``.
``deployment_alarm`` (an alarm name, ``"*"``, or null = off)
    The next UpdateService that changes the task definition of a service whose
    ``deploymentConfiguration.alarms`` has ``enable`` and ``rollback`` true and
    names that alarm (``*``: its first alarm) is rolled back as when a
    deployment alarm goes into ``ALARM``; then the setting clears itself (null
    again in ``GET /__proxy/config``). For ``lifecycle_seconds`` the new
    deployment is ``PRIMARY`` / ``IN_PROGRESS``; then the proxy puts the alarm
    into ``ALARM`` in moto (SetAlarmState, if the alarm exists), updates the
    service in moto back to its previous task definition, and DescribeServices
    lists the failed deployment (the new task definition, ``INACTIVE``,
    ``rolloutState`` ``FAILED``, ``rolloutStateReason`` "ECS deployment <id>
    rolled back: the CloudWatch alarm(s) <name> went into ALARM state during
    the deployment") after the ``PRIMARY`` one on the previous task
    definition, with a service event saying the same. Works with or without
    the other parts; recorded in ``deployment_alarm_rollbacks``. Details:
    :mod:`proxy.realism.deployment_alarms`. Whatever the mode, the proxy keeps
    the ``deploymentConfiguration.alarms`` moto's CreateService drops.

``--aws-realism`` turns on the four parts (eventual consistency 1.5 s, lifecycles
2.0 s); ``--realism-ec-seconds S`` and ``--realism-lifecycle-seconds S`` change
those durations (alone, they turn on just that part); ``--realism-deployment-alarm
NAME`` sets ``deployment_alarm``. At run time use the ``realism`` key of ``POST
/__proxy/config``: ``true`` (the four parts on, defaults, no ``deployment_alarm``),
``false`` (all off) or any subset of ``{"rules": true,
"eventual_consistency_seconds": 2, "lifecycle_seconds": 0, "image_pulls": true,
"deployment_alarm": "alarm-5xx-dev1"}``.

How the proxy uses it: it builds a :class:`proxy.realism.call.Call` for each
request, asks :meth:`proxy.realism.mode.Realism.check_request` whether to refuse
it, and passes the upstream answer through
:meth:`~proxy.realism.mode.Realism.on_response`, which records what was created
and may rewrite describe answers. The shared state and helpers of those hooks
are in :mod:`proxy.realism.base`; each service's hooks sit next to its rules
(ECS's, being larger, in :mod:`proxy.realism.ecs_deployments` and
:mod:`proxy.realism.deployment_alarms`). Rollbacks that are due are carried out
in moto by :meth:`~proxy.realism.deployment_alarms.DeploymentAlarmRealism.settle_deployments`,
which the proxy calls before it handles each AWS call.
"""
