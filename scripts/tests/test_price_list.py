"""The emulated Price List Query API (``scripts/proxy/price_list.py``): answers shaped as
the API reference documents them, filters evaluated against the catalog, paging, the
errors AWS sends, and the API made unavailable with the proxy's ``fail`` rules.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError
from helpers import client, control, error_of
from proxy import price_list

REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")


def pricing(proxy):
    # The API lives in us-east-1 (and eu-central-1, ap-south-1).
    return client(proxy, "pricing", region="us-east-1")


def term(field: str, value: str, kind: str = "TERM_MATCH") -> dict:
    return {"Type": kind, "Field": field, "Value": value}


def entries(answer: dict) -> list[dict]:
    assert answer["FormatVersion"] == "aws_v1"
    assert all(isinstance(e, str) for e in answer["PriceList"]), "each entry is a JSON string"
    return [json.loads(e) for e in answer["PriceList"]]


def raw(proxy: str, operation: str, body: bytes) -> tuple[int, dict]:
    """A call with a body no SDK would send (botocore checks required parameters)."""
    req = urllib.request.Request(
        proxy,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": f"AWSPriceListService.{operation}",
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


# ------------------------------------------------------------------ catalog --
def test_the_catalog_prices_every_product_in_dollars_with_a_unit_and_a_unique_sku():
    products = price_list.products()
    assert len({p["sku"] for p in products}) == len(products)
    for p in products:
        assert re.fullmatch(r"[A-Z0-9]{16}", p["sku"]), p["sku"]
        attrs = p["attributes"]
        assert attrs["servicecode"] == p["serviceCode"]
        assert attrs["usagetype"], p
        for d in p["dimensions"]:
            assert d["unit"] and float(d["USD"]) >= 0, p
            assert d["endRange"] == "Inf" or float(d["endRange"]) > float(d["beginRange"]), p
    # Every regional product is in one of the three regions, named as AWS names it.
    locations = {
        "us-east-1": "US East (N. Virginia)",
        "eu-west-1": "EU (Ireland)",
        "ap-southeast-2": "Asia Pacific (Sydney)",
    }
    for p in products:
        region = p["attributes"].get("regionCode")
        if region is not None:
            assert p["attributes"]["location"] == locations[region], p


def test_an_entry_is_shaped_as_get_products_returns_it():
    p = price_list.products("AmazonECS")[0]
    item = price_list.price_list_item(p)
    assert set(item) == {"product", "serviceCode", "terms", "version", "publicationDate"}
    assert item["product"]["sku"] == p["sku"]
    (offer_code, offer), *_ = item["terms"]["OnDemand"].items()
    assert offer_code == f"{p['sku']}.JRTCKXETXF" and offer["offerTermCode"] == "JRTCKXETXF"
    (rate, dim), *_ = offer["priceDimensions"].items()
    assert rate == dim["rateCode"] == f"{offer_code}.6YS6EN2CT7"
    assert dim["pricePerUnit"]["USD"] == p["dimensions"][0]["USD"]
    assert {"unit", "beginRange", "endRange", "description", "appliesTo"} <= set(dim)


# ------------------------------------------------------------- GetProducts --
@pytest.mark.parametrize("region", REGIONS)
def test_a_region_and_family_query_answers_that_regions_products_only(proxy, region):
    answer = pricing(proxy).get_products(
        ServiceCode="AmazonEC2",
        Filters=[term("regionCode", region), term("productFamily", "NAT Gateway")],
        FormatVersion="aws_v1",
        MaxResults=100,
    )
    found = entries(answer)
    assert "NextToken" not in answer
    assert len(found) == 2
    for e in found:
        assert e["product"]["productFamily"] == "NAT Gateway"
        assert e["product"]["attributes"]["regionCode"] == region
    usage = sorted(e["product"]["attributes"]["usagetype"] for e in found)
    prefix = {"us-east-1": "", "eu-west-1": "EU-", "ap-southeast-2": "APS2-"}[region]
    assert usage == [f"{prefix}NatGateway-Bytes", f"{prefix}NatGateway-Hours"]


def test_the_paginator_reads_every_page_of_max_results(proxy):
    filters = [term("regionCode", "ap-southeast-2"), term("productFamily", "Compute")]
    pages = list(
        pricing(proxy)
        .get_paginator("get_products")
        .paginate(
            ServiceCode="AmazonECS",
            Filters=filters,
            FormatVersion="aws_v1",
            PaginationConfig={"PageSize": 4},
        )
    )
    assert [len(p["PriceList"]) for p in pages] == [4, 2]
    assert "NextToken" in pages[0] and "NextToken" not in pages[1]
    usage = {e["product"]["attributes"]["usagetype"] for p in pages for e in entries(p)}
    assert "APS2-SpotUsage-Fargate-vCPU-Hours:perCPU" in usage
    assert len(usage) == 6


def test_filter_types_equals_contains_any_of_none_of(proxy):
    api = pricing(proxy)

    def usage(service: str, *filters: dict) -> set[str]:
        answer = api.get_products(ServiceCode=service, Filters=list(filters))
        return {e["product"]["attributes"]["usagetype"] for e in entries(answer)}

    region = term("regionCode", "eu-west-1", "EQUALS")
    assert usage("AmazonECS", region, term("usagetype", "Spot", "CONTAINS")) == {
        "EU-SpotUsage-Fargate-vCPU-Hours:perCPU",
        "EU-SpotUsage-Fargate-GB-Hours",
    }
    wanted = "EU-Fargate-GB-Hours,EU-Fargate-ARM-GB-Hours"
    assert usage("AmazonECS", region, term("usagetype", wanted, "ANY_OF")) == set(wanted.split(","))
    rest = usage(
        "AmazonDynamoDB",
        region,
        term("productFamily", "Database Storage"),
        term("usagetype", "EU-IA-TimedStorage-ByteHrs", "NONE_OF"),
    )
    assert rest == {"EU-TimedStorage-ByteHrs", "EU-TimedPITRStorage-ByteHrs"}
    # TERM_MATCH is the whole value, and the ServiceCode field filters too.
    assert usage("AmazonECS", region, term("usagetype", "Fargate-GB-Hours")) == set()
    assert usage("AmazonECS", region, term("ServiceCode", "AmazonEC2")) == set()


def test_cloudfront_is_keyed_by_edge_location_group_and_dashboards_by_no_region(proxy):
    api = pricing(proxy)
    https = entries(
        api.get_products(
            ServiceCode="AmazonCloudFront",
            Filters=[term("productFamily", "Request"), term("location", "Australia")],
        )
    )
    by_usage = {e["product"]["attributes"]["usagetype"]: e for e in https}
    assert "AU-Requests-Tier2-HTTPS" in by_usage
    (offer,) = by_usage["AU-Requests-Tier2-HTTPS"]["terms"]["OnDemand"].values()
    (dim,) = offer["priceDimensions"].values()
    assert (dim["unit"], dim["pricePerUnit"]["USD"]) == ("Requests", "0.0000012500")

    dashboards = entries(
        api.get_products(
            ServiceCode="AmazonCloudWatch",
            Filters=[
                term("productFamily", "Dashboard"),
                term("usagetype", "DashboardsUsageHour"),
            ],
        )
    )
    assert len(dashboards) == 1
    assert "regionCode" not in dashboards[0]["product"]["attributes"]


def test_describe_services_names_each_services_attributes(proxy):
    api = pricing(proxy)
    (svc,) = api.describe_services(ServiceCode="AmazonECS", FormatVersion="aws_v1")["Services"]
    assert svc["ServiceCode"] == "AmazonECS"
    assert {"productFamily", "regionCode", "usagetype"} <= set(svc["AttributeNames"])
    codes = [s["ServiceCode"] for s in api.describe_services()["Services"]]
    assert "AmazonRDS" in codes and codes == sorted(codes)


# ------------------------------------------------------------------- errors --
def test_bad_requests_get_the_errors_aws_sends(proxy):
    api = pricing(proxy)
    code, status = error_of(lambda: api.get_products(ServiceCode="AmazonNoSuchThing"))
    assert (code, status) == ("NotFoundException", 400)
    code, _ = error_of(
        lambda: api.get_products(ServiceCode="AmazonEC2", Filters=[term("x", "y", "REGEX")])
    )
    assert code == "InvalidParameterException"
    code, _ = error_of(lambda: api.get_products(ServiceCode="AmazonEC2", FormatVersion="aws_v2"))
    assert code == "InvalidParameterException"
    code, _ = error_of(lambda: api.get_products(ServiceCode="AmazonEC2", NextToken="bogus"))
    assert code == "InvalidNextTokenException"

    # What botocore would refuse to send: no service code, too many results.
    status, body = raw(proxy, "GetProducts", b"{}")
    assert status == 400 and body["__type"] == "InvalidParameterException"
    assert "serviceCode cannot be null or empty" in body["Message"]
    status, body = raw(proxy, "GetProducts", b'{"ServiceCode": "AmazonEC2", "MaxResults": 101}')
    assert (status, body["__type"]) == (400, "InvalidParameterException")
    status, body = raw(proxy, "GetProducts", b'{"ServiceCode": "Amazon EC2"}')
    assert body["Message"] == "ServiceCode can only contain a-z, A-Z, 0-9"
    status, body = raw(proxy, "GetAttributeValuez", b"{}")
    assert (status, body["__type"]) == (400, "UnknownOperationException")


def test_a_token_of_another_query_is_refused(proxy):
    api = pricing(proxy)
    first = api.get_products(ServiceCode="AmazonECS", MaxResults=1)
    assert "NextToken" in first
    token = first["NextToken"]
    code, _ = error_of(
        lambda: api.get_products(ServiceCode="AmazonRDS", MaxResults=1, NextToken=token)
    )
    assert code == "InvalidNextTokenException"


# ------------------------------------------------------------- unavailable --
def test_a_fail_rule_makes_the_api_unavailable_and_the_calls_are_counted(proxy):
    api = pricing(proxy)
    control(
        proxy,
        "config",
        {
            "fail": [
                {"operation": "GetProducts", "count": -1, "code": "AccessDeniedException"},
                {"operation": "DescribeServices", "count": -1, "code": "AccessDeniedException"},
            ]
        },
    )
    with pytest.raises(ClientError) as info:
        api.get_products(ServiceCode="AmazonEC2")
    assert info.value.response["Error"]["Code"] == "AccessDeniedException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    code, _ = error_of(api.describe_services)
    assert code == "AccessDeniedException"
    control(proxy, "config", {"fail": []})
    assert entries(api.get_products(ServiceCode="AWSXRay", MaxResults=1))
    stats = control(proxy, "stats")
    assert stats["calls"]["GetProducts"] == 2
    assert stats["failed"]["GetProducts"] == 1
    assert stats["by_service"]["pricing:GetProducts"] == 2
