//! The prices a bill is made of: which ones ([`PriceId`]), what one is
//! ([`Price`]: dollars per unit, and where the figure came from), and a
//! region's set of them ([`RateCard`]). No arithmetic and no I/O here.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Every unit price the stack's bill needs. The names say the unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PriceId {
    /// NAT gateway, per hour.
    NatGatewayHour,
    /// NAT gateway data processed, per GB.
    NatGatewayGb,
    /// A public IPv4 address in use, per hour.
    PublicIpv4Hour,
    /// Application Load Balancer, per hour.
    AlbHour,
    /// Application Load Balancer capacity unit (LCU), per hour.
    AlbLcuHour,
    /// Fargate (Linux/x86), per vCPU-hour.
    FargateVcpuHour,
    /// Fargate (Linux/x86), per GB-hour of memory.
    FargateGbHour,
    /// Fargate Spot (Linux/x86), per vCPU-hour.
    FargateSpotVcpuHour,
    /// Fargate Spot (Linux/x86), per GB-hour of memory.
    FargateSpotGbHour,
    /// Aurora Serverless v2 (Aurora Standard), per ACU-hour.
    AuroraAcuHour,
    /// Aurora storage (Aurora Standard), per GB-month.
    AuroraStorageGbMonth,
    /// Aurora I/O (Aurora Standard), per million requests.
    AuroraIoMillion,
    /// CloudFront HTTPS requests, per 10,000 (the region's edge group).
    CloudFrontHttpsRequests10k,
    /// CloudFront data transfer out to the internet, per GB (first tier).
    CloudFrontDataOutGb,
    /// WAF web ACL, per month.
    WafWebAclMonth,
    /// WAF rule (a managed rule group counts as one), per month.
    WafRuleMonth,
    /// WAF requests inspected, per million.
    WafRequestsMillion,
    /// CloudWatch standard-resolution metric alarm, per month.
    AlarmMonth,
    /// CloudWatch dashboard, per month.
    DashboardMonth,
    /// CloudWatch metric (custom or additional), per month (first tier).
    MetricMonth,
    /// CloudWatch Logs ingestion (standard class), per GB.
    LogsIngestGb,
    /// CloudWatch Logs storage, per GB-month.
    LogsStorageGbMonth,
    /// Secrets Manager secret, per month.
    SecretMonth,
    /// KMS customer managed key, per month.
    KmsKeyMonth,
    /// ECR private repository storage, per GB-month.
    EcrStorageGbMonth,
    /// DynamoDB on-demand write request units, per million.
    DynamoWriteMillion,
    /// DynamoDB on-demand read request units, per million.
    DynamoReadMillion,
    /// DynamoDB storage (Standard table class), per GB-month.
    DynamoStorageGbMonth,
    /// DynamoDB continuous backups (PITR), per GB-month.
    DynamoPitrGbMonth,
    /// X-Ray traces recorded, per million.
    XrayTracesMillion,
}

impl PriceId {
    pub const ALL: &'static [PriceId] = &[
        PriceId::NatGatewayHour,
        PriceId::NatGatewayGb,
        PriceId::PublicIpv4Hour,
        PriceId::AlbHour,
        PriceId::AlbLcuHour,
        PriceId::FargateVcpuHour,
        PriceId::FargateGbHour,
        PriceId::FargateSpotVcpuHour,
        PriceId::FargateSpotGbHour,
        PriceId::AuroraAcuHour,
        PriceId::AuroraStorageGbMonth,
        PriceId::AuroraIoMillion,
        PriceId::CloudFrontHttpsRequests10k,
        PriceId::CloudFrontDataOutGb,
        PriceId::WafWebAclMonth,
        PriceId::WafRuleMonth,
        PriceId::WafRequestsMillion,
        PriceId::AlarmMonth,
        PriceId::DashboardMonth,
        PriceId::MetricMonth,
        PriceId::LogsIngestGb,
        PriceId::LogsStorageGbMonth,
        PriceId::SecretMonth,
        PriceId::KmsKeyMonth,
        PriceId::EcrStorageGbMonth,
        PriceId::DynamoWriteMillion,
        PriceId::DynamoReadMillion,
        PriceId::DynamoStorageGbMonth,
        PriceId::DynamoPitrGbMonth,
        PriceId::XrayTracesMillion,
    ];
}

/// Where a figure came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "kebab-case")]
pub enum PriceSource {
    /// The Price List Query API (`GetProducts`), read on `read` (YYYY-MM-DD);
    /// `sku` is the product it came from.
    PriceListApi { read: String, sku: String },
    /// The embedded rate card: the public page the figure was taken from
    /// and the date it was read there.
    RateCard { source: String, date: String },
}

/// One unit price, in US dollars.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Price {
    pub usd: f64,
    /// As the price list says it, e.g. `Hrs`, `GB-Mo`, `ACU-Hr`.
    pub unit: String,
    pub source: PriceSource,
}

/// A region's prices. A price missing here is a line the bill cannot
/// price: it says so rather than borrowing another region's figure.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RateCard {
    pub region: String,
    pub prices: BTreeMap<PriceId, Price>,
}

impl RateCard {
    pub fn get(&self, id: PriceId) -> Option<&Price> {
        self.prices.get(&id)
    }
}
