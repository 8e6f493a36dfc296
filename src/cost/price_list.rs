//! Reading AWS's Price List Query API (`GetProducts`) into a [`RateCard`]:
//! which query finds each [`PriceId`]'s product in a region, and how the
//! right product and price dimension are picked out of the answer. Pure: no
//! I/O here ([`crate::aws::pricing`] asks, [`super::cache`] keeps).
//!
//! **The queries.** Each is a service code and `TERM_MATCH` filters: the
//! region (`regionCode`), the product family and, where a family is large,
//! one more attribute, so that an answer is a handful of products (EC2's
//! catalog alone has hundreds of thousands). Prices that share a query
//! (NAT gateway hours and bytes; the four Fargate prices) are read from one
//! answer. If a region's `regionCode` query answers nothing, it is asked
//! again with the region's `location` name ([`Query::by_location`]): older
//! catalogs of some services lacked `regionCode`.
//!
//! **Picking the product.** Usage types carry the region's billing prefix
//! (`APS2-NatGateway-Hours`, `EU-LCUUsage`), KMS's the region code
//! (`ap-southeast-2-KMS-Keys`), and some us-east-1 ones none at all
//! (`NatGateway-Hours`); a product matches when its usage type is the
//! wanted one after such a prefix, and only such a prefix: `IA-TimedStorage-
//! ByteHrs` (DynamoDB's Infrequent Access class) is not `TimedStorage-
//! ByteHrs`. When several products match (us-east-1 keeps unprefixed
//! duplicates of some CloudWatch products), the prefixed one is taken, then
//! the lowest SKU.
//!
//! **Picking the price.** Of the matching product's on-demand price
//! dimensions, the one that applies to the first unit paid for: the lowest
//! `beginRange` whose price is not zero. So DynamoDB storage (first 25 GB
//! free) is its $/GB-month past the free band, CloudWatch metrics and
//! CloudFront's data transfer their first tier, and a flat price its only
//! dimension. The unit must be the one expected (a price per `IOs` is
//! turned into one per million I/O; an unexpected unit would turn the
//! arithmetic wrong, so the price is left absent instead).
//!
//! **Per price** (service code; filters besides the region; usage type;
//! unit; the tier taken where there are several):
//!
//! | price | service | filters | usage type | unit |
//! |---|---|---|---|---|
//! | NAT gateway hour, GB | `AmazonEC2` | `NAT Gateway` | `NatGateway-Hours`, `-Bytes` | `Hrs`, `GB` |
//! | public IPv4 hour | `AmazonVPC` | group `VPCPublicIPv4Address` | `PublicIPv4:InUseAddress` | `Hrs` |
//! | ALB hour, LCU hour | `AWSELB` | `Load Balancer-Application` | `LoadBalancerUsage`, `LCUUsage` | `Hrs`, `LCU-Hrs` |
//! | Fargate (Spot) vCPU, GB | `AmazonECS` | `Compute` | `(SpotUsage-)Fargate-vCPU-Hours:perCPU`, `-GB-Hours` | `hours` |
//! | Aurora ACU | `AmazonRDS` | `ServerlessV2`, `Aurora PostgreSQL` | `Aurora:ServerlessV2Usage` | `ACU-Hr` |
//! | Aurora storage | `AmazonRDS` | `Database Storage`, `Aurora PostgreSQL` | `Aurora:StorageUsage` | `GB-Mo` |
//! | Aurora I/O | `AmazonRDS` | `System Operation`, `Aurora PostgreSQL` | `Aurora:StorageIOUsage` | `IOs` (×10⁶) |
//! | CloudFront HTTPS | `AmazonCloudFront` | `Request`, location = group | `Requests-Tier2-HTTPS` | `Requests` (×10⁴) |
//! | CloudFront out | `AmazonCloudFront` | `Data Transfer`, fromLocation, `CloudFront Outbound` | `DataTransfer-Out-Bytes` | `GB`, first tier (10 TB) |
//! | WAF ACL, rule, requests | `awswaf` (us-east-1) | `Web Application Firewall` | `WebACLV2`, `RuleV2`, `RequestV2-Tier1` | `Month`, `Request` (×10⁶) |
//! | alarm | `AmazonCloudWatch` | `Alarm`, alarmType `Standard` | `CW:AlarmMonitorUsage` | `Alarms` |
//! | dashboard | `AmazonCloudWatch` | `Dashboard` (no region: one price) | `DashboardsUsageHour` | `Dashboards` |
//! | metric | `AmazonCloudWatch` | `Metric` | `CW:MetricMonitorUsage` | `Metrics`, first tier (10,000) |
//! | logs ingested, stored | `AmazonCloudWatch` | `Data Payload`, `Storage Snapshot` | `DataProcessing-Bytes`, `TimedStorage-ByteHrs` | `GB`, `GB-Mo` |
//! | secret | `AWSSecretsManager` | `Secret` | `AWSSecretsManager-Secrets` | `Secrets` |
//! | KMS key | `awskms` | `Encryption Key` | `KMS-Keys` | `Keys` |
//! | ECR storage | `AmazonECR` | `EC2 Container Registry` | `TimedStorage-ByteHrs` | `GB-Mo` |
//! | DynamoDB writes, reads | `AmazonDynamoDB` | `… PayPerRequest Throughput` | `WriteRequestUnits`, `ReadRequestUnits` | same (×10⁶) |
//! | DynamoDB storage, PITR | `AmazonDynamoDB` | `Database Storage` | `TimedStorage-ByteHrs`, `TimedPITRStorage-ByteHrs` | `GB-Mo`, past the free 25 GB |
//! | X-Ray traces | `AWSXRay` | (region only) | `XRay-TracesStored` | `traces` (×10⁶); the free 100,000 are a global product, not read |
//!
//! **CloudFront and WAF.** CloudFront is priced by edge location group
//! (`location` "United States", "Europe", "Australia", ...; usage types
//! `US-`, `EU-`, `AU-`), not by region: the group of the stack's region is
//! taken, on the assumption that the API's users are near it
//! ([`edge_group`]). The stack's web ACL is in CloudFront scope, which lives
//! in us-east-1: its prices are us-east-1's (AWS WAF charges the same in
//! every commercial region).

use super::rates::{Price, PriceId, PriceSource, RateCard};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Where the Price List Query API is served (also eu-central-1 and
/// ap-south-1); the catalog it serves is the same.
pub const API_REGION: &str = "us-east-1";

/// The region whose prices apply to the stack's web ACL (CloudFront scope).
pub const WAF_PRICE_REGION: &str = "us-east-1";

/// One `GetProducts` request: a service code and `TERM_MATCH` filters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Query {
    pub service_code: &'static str,
    pub filters: Vec<(&'static str, String)>,
}

impl Query {
    fn new(service_code: &'static str, filters: &[(&'static str, &str)]) -> Query {
        Query {
            service_code,
            filters: filters.iter().map(|(f, v)| (*f, (*v).to_owned())).collect(),
        }
    }

    /// The same query with its `regionCode` filter replaced by the region's
    /// `location` name; `None` when it has none or the name is not known.
    pub fn by_location(&self) -> Option<Query> {
        let region = self.filters.iter().find(|(f, _)| *f == "regionCode")?.1.clone();
        let name = location_name(&region)?;
        let filters = self
            .filters
            .iter()
            .map(|(f, v)| match *f {
                "regionCode" => ("location", name.to_owned()),
                _ => (*f, v.clone()),
            })
            .collect();
        Some(Query {
            service_code: self.service_code,
            filters,
        })
    }
}

/// How one price is found: the query whose answer holds it, the usage type
/// of its product (without prefix), the prefixes that may stand before it,
/// the unit the price list states, and how many of those units make one of
/// the [`PriceId`]'s.
#[derive(Debug, Clone, PartialEq)]
pub struct Pick {
    pub query: Query,
    pub usage_type: &'static str,
    pub prefixes: Vec<String>,
    pub unit: &'static str,
    pub per: f64,
}

/// The query and selection of `id` in `region`; `None` where the price list
/// cannot price it there (CloudFront for a region with no known edge group).
pub fn pick(id: PriceId, region: &str) -> Option<Pick> {
    use PriceId::*;
    let r = region;
    let regional = |service, family: &str, extra: &[(&'static str, &str)]| {
        let mut filters: Vec<(&'static str, &str)> = vec![("regionCode", r), ("productFamily", family)];
        filters.extend_from_slice(extra);
        Query::new(service, &filters)
    };
    let nat = || regional("AmazonEC2", "NAT Gateway", &[]);
    let alb = || regional("AWSELB", "Load Balancer-Application", &[]);
    let fargate = || regional("AmazonECS", "Compute", &[]);
    let aurora = |family| regional("AmazonRDS", family, &[("databaseEngine", "Aurora PostgreSQL")]);
    let waf = || {
        Query::new(
            "awswaf",
            &[
                ("regionCode", WAF_PRICE_REGION),
                ("productFamily", "Web Application Firewall"),
            ],
        )
    };
    let cw = |family| regional("AmazonCloudWatch", family, &[]);
    let ddb = |family| regional("AmazonDynamoDB", family, &[]);
    let (query, usage_type, unit, per) = match id {
        NatGatewayHour => (nat(), "NatGateway-Hours", "Hrs", 1.0),
        NatGatewayGb => (nat(), "NatGateway-Bytes", "GB", 1.0),
        PublicIpv4Hour => (
            Query::new("AmazonVPC", &[("regionCode", r), ("group", "VPCPublicIPv4Address")]),
            "PublicIPv4:InUseAddress",
            "Hrs",
            1.0,
        ),
        AlbHour => (alb(), "LoadBalancerUsage", "Hrs", 1.0),
        AlbLcuHour => (alb(), "LCUUsage", "LCU-Hrs", 1.0),
        FargateVcpuHour => (fargate(), "Fargate-vCPU-Hours:perCPU", "hours", 1.0),
        FargateGbHour => (fargate(), "Fargate-GB-Hours", "hours", 1.0),
        FargateSpotVcpuHour => (fargate(), "SpotUsage-Fargate-vCPU-Hours:perCPU", "hours", 1.0),
        FargateSpotGbHour => (fargate(), "SpotUsage-Fargate-GB-Hours", "hours", 1.0),
        AuroraAcuHour => (aurora("ServerlessV2"), "Aurora:ServerlessV2Usage", "ACU-Hr", 1.0),
        AuroraStorageGbMonth => (aurora("Database Storage"), "Aurora:StorageUsage", "GB-Mo", 1.0),
        AuroraIoMillion => (aurora("System Operation"), "Aurora:StorageIOUsage", "IOs", 1e6),
        CloudFrontHttpsRequests10k | CloudFrontDataOutGb => return edge_pick(id, region),
        WafWebAclMonth => (waf(), "WebACLV2", "Month", 1.0),
        WafRuleMonth => (waf(), "RuleV2", "Month", 1.0),
        WafRequestsMillion => (waf(), "RequestV2-Tier1", "Request", 1e6),
        AlarmMonth => (
            regional("AmazonCloudWatch", "Alarm", &[("alarmType", "Standard")]),
            "CW:AlarmMonitorUsage",
            "Alarms",
            1.0,
        ),
        // Dashboards are priced once for the account: no region in the catalog.
        DashboardMonth => (
            Query::new(
                "AmazonCloudWatch",
                &[("productFamily", "Dashboard"), ("usagetype", "DashboardsUsageHour")],
            ),
            "DashboardsUsageHour",
            "Dashboards",
            1.0,
        ),
        MetricMonth => (cw("Metric"), "CW:MetricMonitorUsage", "Metrics", 1.0),
        LogsIngestGb => (cw("Data Payload"), "DataProcessing-Bytes", "GB", 1.0),
        LogsStorageGbMonth => (cw("Storage Snapshot"), "TimedStorage-ByteHrs", "GB-Mo", 1.0),
        SecretMonth => (
            regional("AWSSecretsManager", "Secret", &[]),
            "AWSSecretsManager-Secrets",
            "Secrets",
            1.0,
        ),
        KmsKeyMonth => (regional("awskms", "Encryption Key", &[]), "KMS-Keys", "Keys", 1.0),
        EcrStorageGbMonth => (
            regional("AmazonECR", "EC2 Container Registry", &[]),
            "TimedStorage-ByteHrs",
            "GB-Mo",
            1.0,
        ),
        DynamoWriteMillion => (
            ddb("Amazon DynamoDB PayPerRequest Throughput"),
            "WriteRequestUnits",
            "WriteRequestUnits",
            1e6,
        ),
        DynamoReadMillion => (
            ddb("Amazon DynamoDB PayPerRequest Throughput"),
            "ReadRequestUnits",
            "ReadRequestUnits",
            1e6,
        ),
        DynamoStorageGbMonth => (ddb("Database Storage"), "TimedStorage-ByteHrs", "GB-Mo", 1.0),
        DynamoPitrGbMonth => (ddb("Database Storage"), "TimedPITRStorage-ByteHrs", "GB-Mo", 1.0),
        XrayTracesMillion => (
            Query::new("AWSXRay", &[("regionCode", r)]),
            "XRay-TracesStored",
            "traces",
            1e6,
        ),
    };
    let prefix_region = match id {
        WafWebAclMonth | WafRuleMonth | WafRequestsMillion => WAF_PRICE_REGION,
        _ => region,
    };
    Some(Pick {
        query,
        usage_type,
        prefixes: region_prefixes(prefix_region),
        unit,
        per,
    })
}

fn edge_pick(id: PriceId, region: &str) -> Option<Pick> {
    let (location, prefixes) = edge_group(region)?;
    let (query, usage_type, unit, per) = match id {
        PriceId::CloudFrontHttpsRequests10k => (
            Query::new(
                "AmazonCloudFront",
                &[("productFamily", "Request"), ("location", location)],
            ),
            "Requests-Tier2-HTTPS",
            "Requests",
            1e4,
        ),
        _ => (
            Query::new(
                "AmazonCloudFront",
                &[
                    ("productFamily", "Data Transfer"),
                    ("fromLocation", location),
                    ("transferType", "CloudFront Outbound"),
                ],
            ),
            "DataTransfer-Out-Bytes",
            "GB",
            1.0,
        ),
    };
    Some(Pick {
        query,
        usage_type,
        prefixes: prefixes.iter().map(|p| (*p).to_owned()).collect(),
        unit,
        per,
    })
}

/// CloudFront's edge location group for viewers near `region`: its
/// `location` in the price list and its usage-type prefixes.
pub fn edge_group(region: &str) -> Option<(&'static str, &'static [&'static str])> {
    Some(match region {
        r if r.starts_with("us-") || r.starts_with("ca-") => ("United States", &["US"]),
        r if r.starts_with("eu-") || r.starts_with("il-") => ("Europe", &["EU"]),
        "ap-southeast-2" | "ap-southeast-4" | "ap-southeast-6" => ("Australia", &["AU"]),
        "ap-northeast-1" | "ap-northeast-3" => ("Japan", &["JP"]),
        "ap-south-1" | "ap-south-2" => ("India", &["IN"]),
        r if r.starts_with("ap-") => ("Asia Pacific", &["AP"]),
        r if r.starts_with("sa-") => ("South America", &["SA"]),
        r if r.starts_with("af-") => ("South Africa", &["ZA"]),
        r if r.starts_with("me-") => ("Middle East", &["ME"]),
        _ => return None,
    })
}

/// Billing usage-type prefixes of the regions (`APS2-NatGateway-Hours`).
const USAGE_PREFIXES: &[(&str, &str)] = &[
    ("us-east-1", "USE1"),
    ("us-east-2", "USE2"),
    ("us-west-1", "USW1"),
    ("us-west-2", "USW2"),
    ("ca-central-1", "CAN1"),
    ("eu-west-1", "EU"),
    ("eu-west-2", "EUW2"),
    ("eu-west-3", "EUW3"),
    ("eu-central-1", "EUC1"),
    ("eu-north-1", "EUN1"),
    ("eu-south-1", "EUS1"),
    ("ap-southeast-1", "APS1"),
    ("ap-southeast-2", "APS2"),
    ("ap-south-1", "APS3"),
    ("ap-northeast-1", "APN1"),
    ("ap-northeast-2", "APN2"),
    ("ap-northeast-3", "APN3"),
    ("ap-east-1", "APE1"),
    ("sa-east-1", "SAE1"),
    ("me-south-1", "MES1"),
    ("af-south-1", "AFS1"),
];

/// The `location` names of the regions, for [`Query::by_location`].
const LOCATIONS: &[(&str, &str)] = &[
    ("us-east-1", "US East (N. Virginia)"),
    ("us-east-2", "US East (Ohio)"),
    ("us-west-1", "US West (N. California)"),
    ("us-west-2", "US West (Oregon)"),
    ("ca-central-1", "Canada (Central)"),
    ("eu-west-1", "EU (Ireland)"),
    ("eu-west-2", "EU (London)"),
    ("eu-west-3", "EU (Paris)"),
    ("eu-central-1", "EU (Frankfurt)"),
    ("eu-north-1", "EU (Stockholm)"),
    ("eu-south-1", "EU (Milan)"),
    ("ap-southeast-1", "Asia Pacific (Singapore)"),
    ("ap-southeast-2", "Asia Pacific (Sydney)"),
    ("ap-south-1", "Asia Pacific (Mumbai)"),
    ("ap-northeast-1", "Asia Pacific (Tokyo)"),
    ("ap-northeast-2", "Asia Pacific (Seoul)"),
    ("ap-northeast-3", "Asia Pacific (Osaka)"),
    ("ap-east-1", "Asia Pacific (Hong Kong)"),
    ("sa-east-1", "South America (Sao Paulo)"),
    ("me-south-1", "Middle East (Bahrain)"),
    ("af-south-1", "Africa (Cape Town)"),
];

/// The price list's `location` name of `region`, where known.
pub fn location_name(region: &str) -> Option<&'static str> {
    LOCATIONS.iter().find(|(r, _)| *r == region).map(|(_, l)| *l)
}

/// The prefixes a usage type of `region` may carry: the region code
/// itself (KMS) and its billing prefix. For a region not in the table, any
/// billing-code-shaped prefix (`XXX9`: letters, then a digit) is accepted.
fn region_prefixes(region: &str) -> Vec<String> {
    let mut out = vec![region.to_owned()];
    match USAGE_PREFIXES.iter().find(|(r, _)| *r == region) {
        Some((_, p)) => out.push((*p).to_owned()),
        None => out.push(ANY_BILLING_CODE.to_owned()),
    }
    out
}

/// Stands in [`Pick::prefixes`] for "any billing-code-shaped prefix".
const ANY_BILLING_CODE: &str = "*";

fn billing_code_shaped(p: &str) -> bool {
    let b = p.as_bytes();
    (3..=5).contains(&b.len()) && b[..b.len() - 1].iter().all(u8::is_ascii_uppercase) && b[b.len() - 1].is_ascii_digit()
}

/// Whether `usage_type` is `want` with no prefix or one of `prefixes`; the
/// prefix it carries (empty for none).
pub fn usage_matches<'a>(usage_type: &'a str, want: &str, prefixes: &[String]) -> Option<&'a str> {
    if usage_type == want {
        return Some("");
    }
    let head = usage_type.strip_suffix(want)?.strip_suffix('-')?;
    prefixes
        .iter()
        .any(|p| p == head || (p == ANY_BILLING_CODE && billing_code_shaped(head)))
        .then_some(head)
}

/// One product of a `GetProducts` answer, as far as prices need it.
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    pub sku: String,
    pub family: String,
    pub attributes: BTreeMap<String, String>,
    /// The on-demand price dimensions in US dollars.
    pub dimensions: Vec<Dimension>,
    pub publication_date: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dimension {
    pub unit: String,
    pub usd: f64,
    pub begin: f64,
    /// `None` for `Inf`.
    pub end: Option<f64>,
    pub description: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Item {
    product: ItemProduct,
    #[serde(default)]
    terms: ItemTerms,
    publication_date: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ItemProduct {
    sku: String,
    #[serde(default)]
    product_family: String,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
struct ItemTerms {
    #[serde(rename = "OnDemand", default)]
    on_demand: BTreeMap<String, Offer>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Offer {
    #[serde(default)]
    price_dimensions: BTreeMap<String, ItemDimension>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ItemDimension {
    #[serde(default)]
    unit: String,
    #[serde(default)]
    price_per_unit: BTreeMap<String, String>,
    begin_range: Option<String>,
    end_range: Option<String>,
    #[serde(default)]
    description: String,
}

/// Parses one entry of `PriceList` (each is a JSON document in a string).
/// Dimensions without a US-dollar price are left out.
pub fn parse_item(item: &str) -> Result<Product, String> {
    let it: Item = serde_json::from_str(item).map_err(|e| format!("not a price list item: {e}"))?;
    let mut dimensions = Vec::new();
    for offer in it.terms.on_demand.into_values() {
        for d in offer.price_dimensions.into_values() {
            let Some(usd) = d.price_per_unit.get("USD").and_then(|v| v.trim().parse::<f64>().ok()) else {
                continue;
            };
            let begin = d.begin_range.as_deref().and_then(|b| b.parse().ok()).unwrap_or(0.0);
            let end = d
                .end_range
                .as_deref()
                .and_then(|e| e.parse::<f64>().ok())
                .filter(|e| e.is_finite());
            dimensions.push(Dimension {
                unit: d.unit,
                usd,
                begin,
                end,
                description: d.description,
            });
        }
    }
    dimensions.sort_by(|a, b| a.begin.total_cmp(&b.begin));
    Ok(Product {
        sku: it.product.sku,
        family: it.product.product_family,
        attributes: it.product.attributes,
        dimensions,
        publication_date: it.publication_date,
    })
}

/// The dimension that applies to the first unit paid for: the lowest
/// `beginRange` with a price above zero (a free band is skipped).
pub fn first_paid(product: &Product) -> Option<&Dimension> {
    product.dimensions.iter().find(|d| d.usd > 0.0)
}

/// `id`'s price out of `products` (the answer to its [`Pick::query`]),
/// read on `read` (YYYY-MM-DD); `None` when no product or dimension fits.
pub fn price_from(pick: &Pick, products: &[Product], read: &str) -> Option<Price> {
    let mut matching: Vec<(&Product, &str)> = products
        .iter()
        .filter_map(|p| {
            let usage = p.attributes.get("usagetype")?;
            usage_matches(usage, pick.usage_type, &pick.prefixes).map(|prefix| (p, prefix))
        })
        .collect();
    // The prefixed product first (us-east-1 keeps unprefixed duplicates of
    // some), then by SKU, so the choice does not depend on the answer's order.
    matching.sort_by(|(a, ap), (b, bp)| ap.is_empty().cmp(&bp.is_empty()).then(a.sku.cmp(&b.sku)));
    let (product, _) = matching.first()?;
    let dim = first_paid(product)?;
    if !dim.unit.eq_ignore_ascii_case(pick.unit) {
        return None;
    }
    Some(Price {
        usd: dim.usd * pick.per,
        unit: per_unit(pick.per, &dim.unit),
        source: PriceSource::PriceListApi {
            read: read.to_owned(),
            sku: product.sku.clone(),
        },
    })
}

fn per_unit(per: f64, unit: &str) -> String {
    if per == 1.0 {
        unit.to_owned()
    } else if per == 1e4 {
        format!("10K {unit}")
    } else if per == 1e6 {
        format!("1M {unit}")
    } else {
        format!("{per} {unit}")
    }
}

/// Every distinct query the prices of `region` need, in a stable order.
pub fn queries(region: &str) -> Vec<Query> {
    let mut qs: Vec<Query> = PriceId::ALL
        .iter()
        .filter_map(|id| pick(*id, region))
        .map(|p| p.query)
        .collect();
    qs.sort();
    qs.dedup();
    qs
}

/// The rate card of `region` from the answers to its [`queries`] (a query
/// missing from `answers` was not answered); prices read on `read`.
pub fn rate_card(region: &str, answers: &BTreeMap<Query, Vec<Product>>, read: &str) -> RateCard {
    let prices = PriceId::ALL
        .iter()
        .filter_map(|id| {
            let p = pick(*id, region)?;
            let price = price_from(&p, answers.get(&p.query)?, read)?;
            Some((*id, price))
        })
        .collect();
    RateCard {
        region: region.to_owned(),
        prices,
    }
}

#[cfg(test)]
#[path = "price_list_tests.rs"]
mod tests;
