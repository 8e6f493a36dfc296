use super::*;
use serde_json::json;

/// A `PriceList` entry shaped as `GetProducts` returns it (a JSON document
/// in a string): `dims` are (unit, USD, beginRange, endRange).
fn item(sku: &str, family: &str, attrs: &[(&str, &str)], dims: &[(&str, &str, &str, &str)]) -> String {
    let attributes: serde_json::Map<String, serde_json::Value> =
        attrs.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect();
    let offer = format!("{sku}.JRTCKXETXF");
    let price_dimensions: serde_json::Map<String, serde_json::Value> = dims
        .iter()
        .enumerate()
        .map(|(i, (unit, usd, begin, end))| {
            let rate = format!("{offer}.RATE{i}");
            let d = json!({"unit": unit, "pricePerUnit": {"USD": usd}, "beginRange": begin, "endRange": end,
                "description": format!("tier {i}"), "rateCode": rate, "appliesTo": []});
            (rate, d)
        })
        .collect();
    json!({
        "product": {"productFamily": family, "attributes": attributes, "sku": sku},
        "serviceCode": "AmazonECS",
        "terms": {"OnDemand": {offer.clone(): {"priceDimensions": price_dimensions, "sku": sku,
            "effectiveDate": "2026-11-01T00:00:00Z", "offerTermCode": "JRTCKXETXF", "termAttributes": {}}}},
        "version": "20261101000000",
        "publicationDate": "2026-11-01T00:00:00Z"
    })
    .to_string()
}

fn product(sku: &str, usage: &str, unit: &str, usd: &str) -> Product {
    parse_item(&item(sku, "Any", &[("usagetype", usage)], &[(unit, usd, "0", "Inf")])).unwrap()
}

/// The ap-southeast-2 Fargate vCPU product, as the API reference shows an
/// entry (fields in AWS's order, a price with ten decimals).
const FARGATE_APS2: &str = r#"{"product":{"productFamily":"Compute","attributes":{"memorytype":"perCPU","tenancy":"Shared","regionCode":"ap-southeast-2","servicecode":"AmazonECS","usagetype":"APS2-Fargate-vCPU-Hours:perCPU","locationType":"AWS Region","location":"Asia Pacific (Sydney)","servicename":"Amazon Elastic Container Service","operation":"","cputype":"perCPU"},"sku":"8QMXMM3TM3N5DZ5P"},"serviceCode":"AmazonECS","terms":{"OnDemand":{"8QMXMM3TM3N5DZ5P.JRTCKXETXF":{"priceDimensions":{"8QMXMM3TM3N5DZ5P.JRTCKXETXF.6YS6EN2CT7":{"unit":"hours","endRange":"Inf","description":"AWS Fargate - vCPU - Asia Pacific (Sydney)","appliesTo":[],"rateCode":"8QMXMM3TM3N5DZ5P.JRTCKXETXF.6YS6EN2CT7","beginRange":"0","pricePerUnit":{"USD":"0.0485600000"}}},"sku":"8QMXMM3TM3N5DZ5P","effectiveDate":"2026-11-01T00:00:00Z","offerTermCode":"JRTCKXETXF","termAttributes":{}}}},"version":"20261101000000","publicationDate":"2026-11-01T00:00:00Z"}"#;

#[test]
fn an_entry_parses_into_its_sku_family_attributes_and_dimension() {
    let p = parse_item(FARGATE_APS2).unwrap();
    assert_eq!(p.sku, "8QMXMM3TM3N5DZ5P");
    assert_eq!(p.family, "Compute");
    assert_eq!(p.attributes["usagetype"], "APS2-Fargate-vCPU-Hours:perCPU");
    assert_eq!(p.attributes["regionCode"], "ap-southeast-2");
    assert_eq!(p.publication_date.as_deref(), Some("2026-11-01T00:00:00Z"));
    assert_eq!(p.dimensions.len(), 1);
    let d = &p.dimensions[0];
    assert_eq!((d.unit.as_str(), d.usd, d.begin, d.end), ("hours", 0.04856, 0.0, None));
}

#[test]
fn what_is_not_an_entry_is_an_error_and_a_non_dollar_price_is_left_out() {
    assert!(parse_item("{\"no\": 1}").is_err());
    assert!(parse_item("not json").is_err());
    let cny = FARGATE_APS2.replace("\"USD\"", "\"CNY\"");
    assert!(parse_item(&cny).unwrap().dimensions.is_empty());
}

#[test]
fn a_tiered_price_is_the_tier_of_the_first_unit_paid_for() {
    // DynamoDB storage: the first 25 GB-months free, then $0.285 (out of order on purpose).
    let storage = item(
        "DDBSTORE",
        "Database Storage",
        &[("usagetype", "APS2-TimedStorage-ByteHrs")],
        &[
            ("GB-Mo", "0.2850000000", "25", "Inf"),
            ("GB-Mo", "0.0000000000", "0", "25"),
        ],
    );
    let p = parse_item(&storage).unwrap();
    assert_eq!(p.dimensions[0].end, Some(25.0), "sorted by beginRange");
    assert_eq!(first_paid(&p).unwrap().usd, 0.285);
    // CloudWatch metrics: the first tier is paid, and is the one taken.
    let metrics = item(
        "CWMETRIC",
        "Metric",
        &[("usagetype", "APS2-CW:MetricMonitorUsage")],
        &[
            ("Metrics", "0.1000000000", "10000", "250000"),
            ("Metrics", "0.3000000000", "0", "10000"),
        ],
    );
    assert_eq!(first_paid(&parse_item(&metrics).unwrap()).unwrap().usd, 0.3);
    // Nothing but free bands: no price.
    let free = item("FREE", "Any", &[("usagetype", "X")], &[("GB", "0.0", "0", "Inf")]);
    assert!(first_paid(&parse_item(&free).unwrap()).is_none());
}

#[test]
fn a_usage_type_matches_with_its_regions_prefix_or_none_and_with_nothing_else() {
    let aps2 = region_prefixes("ap-southeast-2");
    assert_eq!(
        usage_matches("APS2-NatGateway-Hours", "NatGateway-Hours", &aps2),
        Some("APS2")
    );
    assert_eq!(usage_matches("NatGateway-Hours", "NatGateway-Hours", &aps2), Some(""));
    assert_eq!(
        usage_matches("ap-southeast-2-KMS-Keys", "KMS-Keys", &aps2),
        Some("ap-southeast-2")
    );
    // Another region's prefix, another product, another storage class.
    assert_eq!(usage_matches("USE1-NatGateway-Hours", "NatGateway-Hours", &aps2), None);
    assert_eq!(
        usage_matches("APS2-RegionalNatGateway-Hours", "NatGateway-Hours", &aps2),
        None
    );
    assert_eq!(
        usage_matches("IA-TimedStorage-ByteHrs", "TimedStorage-ByteHrs", &aps2),
        None
    );
    assert_eq!(
        usage_matches("APS2-IA-TimedStorage-ByteHrs", "TimedStorage-ByteHrs", &aps2),
        None
    );
    assert_eq!(
        usage_matches("APS2-SpotUsage-Fargate-GB-Hours", "Fargate-GB-Hours", &aps2),
        None
    );
    assert_eq!(
        usage_matches("APS2-Fargate-ARM-GB-Hours", "Fargate-GB-Hours", &aps2),
        None
    );
    let eu = region_prefixes("eu-west-1");
    assert_eq!(usage_matches("EU-LCUUsage", "LCUUsage", &eu), Some("EU"));
    assert_eq!(usage_matches("EUW2-LCUUsage", "LCUUsage", &eu), None);
    // A region missing from the table: any billing-code-shaped prefix.
    let new = region_prefixes("ap-southeast-7");
    assert_eq!(usage_matches("APS8-LCUUsage", "LCUUsage", &new), Some("APS8"));
    assert_eq!(usage_matches("IA-LCUUsage", "LCUUsage", &new), None);
}

#[test]
fn a_price_per_million_is_the_unit_price_times_a_million_and_the_unit_must_be_the_expected_one() {
    let io_pick = pick(PriceId::AuroraIoMillion, "eu-west-1").unwrap();
    let io = product("IOSKU", "EU-Aurora:StorageIOUsage", "IOs", "0.0000002200");
    let price = price_from(&io_pick, std::slice::from_ref(&io), "2026-12-07").unwrap();
    assert!((price.usd - 0.22).abs() < 1e-12, "{}", price.usd);
    assert_eq!(price.unit, "1M IOs");
    assert_eq!(
        price.source,
        PriceSource::PriceListApi {
            read: "2026-12-07".into(),
            sku: "IOSKU".into()
        }
    );
    // The same product priced per "GB" would make the arithmetic wrong: no price.
    let odd = product("IOSKU", "EU-Aurora:StorageIOUsage", "GB", "0.0000002200");
    assert_eq!(price_from(&io_pick, &[odd], "2026-12-07"), None);
    // Case of the unit does not matter (X-Ray says "traces").
    let xray = pick(PriceId::XrayTracesMillion, "eu-west-1").unwrap();
    let traces = product("XR", "EU-XRay-TracesStored", "Traces", "0.0000050000");
    assert_eq!(price_from(&xray, &[traces], "d").unwrap().unit, "1M Traces");
}

#[test]
fn of_two_matching_products_the_prefixed_one_is_taken_whatever_the_order() {
    let pick = pick(PriceId::LogsStorageGbMonth, "us-east-1").unwrap();
    let legacy = product("JRHJQ2UMPUB5K73A", "TimedStorage-ByteHrs", "GB-Mo", "0.03");
    let current = product("6K9ADYQAHV5KX9KZ", "USE1-TimedStorage-ByteHrs", "GB-Mo", "0.03");
    for answer in [vec![legacy.clone(), current.clone()], vec![current, legacy]] {
        let p = price_from(&pick, &answer, "d").unwrap();
        assert!(matches!(p.source, PriceSource::PriceListApi { ref sku, .. } if sku == "6K9ADYQAHV5KX9KZ"));
    }
}

#[test]
fn the_fargate_answer_gives_four_prices_told_apart_by_usage_type() {
    let region = "us-east-1";
    let answer = vec![
        product("A", "USE1-Fargate-ARM-vCPU-Hours:perCPU", "hours", "0.03238"),
        product("B", "USE1-Fargate-vCPU-Hours:perCPU", "hours", "0.04048"),
        product("C", "USE1-Fargate-GB-Hours", "hours", "0.004445"),
        product("D", "USE1-SpotUsage-Fargate-vCPU-Hours:perCPU", "hours", "0.01284"),
        product("E", "USE1-SpotUsage-Fargate-GB-Hours", "hours", "0.00141"),
    ];
    let query = pick(PriceId::FargateVcpuHour, region).unwrap().query;
    let card = rate_card(region, &BTreeMap::from([(query, answer)]), "2026-12-07");
    let usd = |id| card.get(id).map(|p| p.usd);
    assert_eq!(usd(PriceId::FargateVcpuHour), Some(0.04048));
    assert_eq!(usd(PriceId::FargateGbHour), Some(0.004445));
    assert_eq!(usd(PriceId::FargateSpotVcpuHour), Some(0.01284));
    assert_eq!(usd(PriceId::FargateSpotGbHour), Some(0.00141));
    // Nothing else was answered, so nothing else is priced.
    assert_eq!(card.prices.len(), 4);
    assert_eq!(card.region, region);
}

#[test]
fn each_query_is_narrowed_to_the_region_and_a_family_except_the_global_and_edge_ones() {
    let qs = queries("ap-southeast-2");
    assert!(qs.len() < PriceId::ALL.len(), "prices share queries");
    for q in &qs {
        let has = |f: &str| q.filters.iter().any(|(k, _)| *k == f);
        let global = q.service_code == "AmazonCloudWatch" && has("usagetype");
        let edge = q.service_code == "AmazonCloudFront";
        let waf = q.service_code == "awswaf";
        assert!(q.filters.len() >= 2 || q.service_code == "AWSXRay", "{q:?}");
        if waf {
            assert!(q.filters.contains(&("regionCode", "us-east-1".to_owned())), "{q:?}");
        } else if !global && !edge {
            assert!(
                q.filters.contains(&("regionCode", "ap-southeast-2".to_owned())),
                "{q:?}"
            );
        }
    }
    // Every price has a query in the list.
    for id in PriceId::ALL {
        assert!(qs.contains(&pick(*id, "ap-southeast-2").unwrap().query), "{id:?}");
    }
}

#[test]
fn cloudfront_is_priced_by_the_edge_group_of_the_stacks_region() {
    let q = |region| pick(PriceId::CloudFrontHttpsRequests10k, region).map(|p| p.query.filters);
    assert!(q("ap-southeast-2")
        .unwrap()
        .contains(&("location", "Australia".to_owned())));
    assert!(q("eu-west-1").unwrap().contains(&("location", "Europe".to_owned())));
    assert!(q("us-east-1")
        .unwrap()
        .contains(&("location", "United States".to_owned())));
    assert_eq!(edge_group("ap-northeast-1").map(|g| g.0), Some("Japan"));
    assert_eq!(edge_group("ap-southeast-1").map(|g| g.0), Some("Asia Pacific"));
    // No group known: not priced from the API (never another group's figure).
    assert_eq!(q("xx-nowhere-1"), None);
    let out = pick(PriceId::CloudFrontDataOutGb, "ap-southeast-2").unwrap();
    let tiers = item(
        "CFOUT",
        "Data Transfer",
        &[("usagetype", "AU-DataTransfer-Out-Bytes")],
        &[
            ("GB", "0.1140000000", "0", "10240"),
            ("GB", "0.0890000000", "10240", "51200"),
        ],
    );
    let us = product("CFUS", "US-DataTransfer-Out-Bytes", "GB", "0.085");
    let answer = [us, parse_item(&tiers).unwrap()];
    assert_eq!(price_from(&out, &answer, "d").unwrap().usd, 0.114);
}

#[test]
fn a_region_query_can_be_asked_again_by_location_name() {
    let q = pick(PriceId::NatGatewayHour, "ap-southeast-2").unwrap().query;
    let by_name = q.by_location().unwrap();
    assert!(by_name
        .filters
        .contains(&("location", "Asia Pacific (Sydney)".to_owned())));
    assert!(!by_name.filters.iter().any(|(f, _)| *f == "regionCode"));
    assert_eq!(by_name.filters.len(), q.filters.len());
    // Without a region filter, or a region without a known name: no second try.
    assert_eq!(
        pick(PriceId::DashboardMonth, "ap-southeast-2")
            .unwrap()
            .query
            .by_location(),
        None
    );
    assert_eq!(
        pick(PriceId::NatGatewayHour, "xx-nowhere-1")
            .unwrap()
            .query
            .by_location(),
        None
    );
}
