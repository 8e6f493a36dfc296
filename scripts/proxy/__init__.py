"""The fault-injection proxy that ``scripts/fault_proxy.py`` runs in front of moto.

Modules, by responsibility:

``protocols``
    which wire protocol, service and operation a request is; error answers in
    each protocol.
``cbor_bridge``
    the CBOR codec (``cbor2``) and the rpc-v2-cbor <-> AWS JSON 1.0 translation
    for CloudWatch, which moto only speaks over query and JSON.
``faults``
    ``--fail`` rules and the throttling / failure answers they give.
``state``
    configuration and counters shared by all request threads.
``canned``
    answers for operations moto does not implement.
``price_list``
    the Price List Query API (``GetProducts``), answered from a catalog of products.
``cloudfront``
    CloudFront: operation names, its XML, the emulated VPC origins and
    monitoring subscriptions, and moto's distribution answers mended.
``handler`` / ``server``
    the HTTP request handler (control endpoints, dispatch, forwarding) and the
    threading server that owns the upstream connection settings.
``realism``
    the AWS-realism mode (request rules, deletes refused while in use, EC2
    eventual consistency, pending lifecycles, failed image pulls).
"""
