//! The embedded rate card: the prices `plan` uses when the Price List API
//! cannot be reached, for the three regions the project is used in. One
//! row per [`PriceId`], one figure per region, each with what it rests on.
//!
//! What "rests on" means, honestly: AWS's pricing pages render their
//! regional tables in the browser, so the stored copies this card was built
//! from (read [`READ`]) rarely show a region's figure. Each figure says
//! whether it was read on AWS's page itself, taken from a third party that
//! quotes AWS (named), or could not be confirmed at all ([`RECALLED`]): a
//! figure of the last kind is the value as last known for that page and
//! region, and should be checked before it is relied on. No figure is one
//! region's price reused for another without saying so. The live Price
//! List API (`GetProducts`) replaces all of them when it can be reached.

use super::rates::{Price, PriceId, PriceSource, RateCard};

/// When the stored copies behind this card were read.
pub const READ: &str = "2026-12-07";

/// The regions the card covers, in the order of `Row::usd`.
pub const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-2"];

// What a figure rests on. A third party's figure was not re-read on
// AWS's page.
const PAGE: &str = "read on AWS's page (stored copy)";
const API_2025: &str = "Price List API figure published by a third party, 2025-10-28";
const AE_2026: &str = "transcribed from AWS's page by api-evangelist, 2026-09-20";
const FGCALC: &str = "tabulated from AWS's page by github.com/theuves/fgcalc";
const SPOT: &str = "snapshot tabulated by github.com/theuves/fgcalc; Spot prices move";
const SYD_2026: &str = "third-party Sydney price list, 2026-05-09";
const SYD_NAT: &str = "third-party Sydney price list, 2026-05-09, and github.com/jamesmoriarty/cfn-cheapest-nat";
const SYD_2024: &str = "third-party ap-southeast-2 cost sheet, 2024-08";
const SYD_LOGS: &str = "third-party Sydney price list, 2026-05-09; a 2024 sheet says 0.57: check it";
const SYD_DDB: &str = "third-party 2024-08 figure halved by AWS's on-demand price cut of 2024-11-01";
const ELB_2017: &str = "a project's table of AWS's page, 2017-12-18";
const US_DDB: &str = "third-party quote after the 2024-11 cut, 2025-07";
const US_THIRD: &str = "third-party US East cost sheets, 2026";
/// A figure no stored copy confirmed for this region.
pub const RECALLED: &str = "NOT CONFIRMED: the value as last known, no stored copy showed it; check it";

/// One price, in the three regions.
struct Row {
    id: PriceId,
    /// As the price list says the unit.
    unit: &'static str,
    page: &'static str,
    /// Dollars and what the figure rests on, per [`REGIONS`].
    usd: [(f64, &'static str); 3],
}

const VPC: &str = "https://aws.amazon.com/vpc/pricing/";
const ELB: &str = "https://aws.amazon.com/elasticloadbalancing/pricing/";
const FARGATE: &str = "https://aws.amazon.com/fargate/pricing/";
const AURORA: &str = "https://aws.amazon.com/rds/aurora/pricing/";
const CLOUDFRONT: &str = "https://aws.amazon.com/cloudfront/pricing/";
const WAF: &str = "https://aws.amazon.com/waf/pricing/";
const CLOUDWATCH: &str = "https://aws.amazon.com/cloudwatch/pricing/";
const SECRETS: &str = "https://aws.amazon.com/secrets-manager/pricing/";
const KMS: &str = "https://aws.amazon.com/kms/pricing/";
const ECR: &str = "https://aws.amazon.com/ecr/pricing/";
const DYNAMODB: &str = "https://aws.amazon.com/dynamodb/pricing/on-demand/";
const XRAY: &str = "https://aws.amazon.com/xray/pricing/";

#[rustfmt::skip]
const ROWS: &[Row] = &[
    //                                                              us-east-1              eu-west-1              ap-southeast-2
    Row { id: PriceId::NatGatewayHour, unit: "Hrs", page: VPC, usd: [(0.045, API_2025), (0.048, RECALLED), (0.059, SYD_NAT)] },
    Row { id: PriceId::NatGatewayGb, unit: "GB", page: VPC, usd: [(0.045, API_2025), (0.048, RECALLED), (0.059, SYD_NAT)] },
    Row { id: PriceId::PublicIpv4Hour, unit: "Hrs", page: VPC, usd: [(0.005, API_2025), (0.005, RECALLED), (0.005, SYD_2026)] },
    Row { id: PriceId::AlbHour, unit: "Hrs", page: ELB, usd: [(0.0225, AE_2026), (0.0252, ELB_2017), (0.0252, SYD_2026)] },
    Row { id: PriceId::AlbLcuHour, unit: "LCU-Hrs", page: ELB, usd: [(0.008, AE_2026), (0.008, RECALLED), (0.008, RECALLED)] },
    Row { id: PriceId::FargateVcpuHour, unit: "vCPU-Hours", page: FARGATE, usd: [(0.04048, FGCALC), (0.04048, FGCALC), (0.04856, SYD_2026)] },
    Row { id: PriceId::FargateGbHour, unit: "GB-Hours", page: FARGATE, usd: [(0.004445, FGCALC), (0.004445, FGCALC), (0.00532, SYD_2026)] },
    Row { id: PriceId::FargateSpotVcpuHour, unit: "vCPU-Hours", page: FARGATE, usd: [(0.01264355, SPOT), (0.01257825, SPOT), (0.014568, SPOT)] },
    Row { id: PriceId::FargateSpotGbHour, unit: "GB-Hours", page: FARGATE, usd: [(0.00138835, SPOT), (0.00138118, SPOT), (0.001596, SPOT)] },
    Row { id: PriceId::AuroraAcuHour, unit: "ACU-Hr", page: AURORA, usd: [(0.12, API_2025), (0.13, RECALLED), (0.20, SYD_2026)] },
    Row { id: PriceId::AuroraStorageGbMonth, unit: "GB-Mo", page: AURORA, usd: [(0.10, API_2025), (0.11, RECALLED), (0.11, SYD_2026)] },
    Row { id: PriceId::AuroraIoMillion, unit: "million IOs", page: AURORA, usd: [(0.20, API_2025), (0.22, RECALLED), (0.22, SYD_2026)] },
    Row { id: PriceId::CloudFrontHttpsRequests10k, unit: "10k Requests", page: CLOUDFRONT, usd: [(0.0100, RECALLED), (0.0120, RECALLED), (0.0125, RECALLED)] },
    Row { id: PriceId::CloudFrontDataOutGb, unit: "GB", page: CLOUDFRONT, usd: [(0.085, PAGE), (0.085, PAGE), (0.114, PAGE)] },
    Row { id: PriceId::WafWebAclMonth, unit: "WebACL-Mo", page: WAF, usd: [(5.00, RECALLED), (5.00, RECALLED), (5.00, RECALLED)] },
    Row { id: PriceId::WafRuleMonth, unit: "Rule-Mo", page: WAF, usd: [(1.00, RECALLED), (1.00, RECALLED), (1.00, RECALLED)] },
    Row { id: PriceId::WafRequestsMillion, unit: "million Requests", page: WAF, usd: [(0.60, RECALLED), (0.60, RECALLED), (0.60, RECALLED)] },
    Row { id: PriceId::AlarmMonth, unit: "Alarms", page: CLOUDWATCH, usd: [(0.10, US_THIRD), (0.10, RECALLED), (0.10, RECALLED)] },
    Row { id: PriceId::DashboardMonth, unit: "Dashboards", page: CLOUDWATCH, usd: [(3.00, US_THIRD), (3.00, RECALLED), (3.00, RECALLED)] },
    Row { id: PriceId::MetricMonth, unit: "Metrics", page: CLOUDWATCH, usd: [(0.30, US_THIRD), (0.30, RECALLED), (0.30, RECALLED)] },
    Row { id: PriceId::LogsIngestGb, unit: "GB", page: CLOUDWATCH, usd: [(0.50, US_THIRD), (0.57, RECALLED), (0.67, SYD_LOGS)] },
    Row { id: PriceId::LogsStorageGbMonth, unit: "GB-Mo", page: CLOUDWATCH, usd: [(0.03, RECALLED), (0.03, RECALLED), (0.03, RECALLED)] },
    Row { id: PriceId::SecretMonth, unit: "Secrets", page: SECRETS, usd: [(0.40, US_THIRD), (0.40, RECALLED), (0.40, SYD_2024)] },
    Row { id: PriceId::KmsKeyMonth, unit: "Keys", page: KMS, usd: [(1.00, RECALLED), (1.00, RECALLED), (1.00, RECALLED)] },
    Row { id: PriceId::EcrStorageGbMonth, unit: "GB-Mo", page: ECR, usd: [(0.10, RECALLED), (0.10, RECALLED), (0.10, RECALLED)] },
    Row { id: PriceId::DynamoWriteMillion, unit: "million WRU", page: DYNAMODB, usd: [(0.625, US_DDB), (0.70675, RECALLED), (0.71375, SYD_DDB)] },
    Row { id: PriceId::DynamoReadMillion, unit: "million RRU", page: DYNAMODB, usd: [(0.125, US_DDB), (0.1415, RECALLED), (0.1425, SYD_DDB)] },
    Row { id: PriceId::DynamoStorageGbMonth, unit: "GB-Mo", page: DYNAMODB, usd: [(0.25, RECALLED), (0.283, RECALLED), (0.285, SYD_2024)] },
    Row { id: PriceId::DynamoPitrGbMonth, unit: "GB-Mo", page: DYNAMODB, usd: [(0.20, RECALLED), (0.2264, RECALLED), (0.228, RECALLED)] },
    Row { id: PriceId::XrayTracesMillion, unit: "million Traces", page: XRAY, usd: [(5.00, RECALLED), (5.00, RECALLED), (5.00, RECALLED)] },
];

/// The embedded rate card of `region`, or `None` for a region the card
/// does not cover (the bill then names it rather than borrow a figure).
pub fn for_region(region: &str) -> Option<RateCard> {
    let col = REGIONS.iter().position(|r| *r == region)?;
    let prices = ROWS
        .iter()
        .map(|row| {
            let (usd, basis) = row.usd[col];
            let price = Price {
                usd,
                unit: row.unit.to_owned(),
                source: PriceSource::RateCard {
                    source: format!("{} ({region}: {basis})", row.page),
                    date: READ.to_owned(),
                },
            };
            (row.id, price)
        })
        .collect();
    Some(RateCard {
        region: region.to_owned(),
        prices,
    })
}

/// Whether a card figure could not be confirmed in any stored copy.
pub fn is_unconfirmed(price: &Price) -> bool {
    matches!(&price.source, PriceSource::RateCard { source, .. } if source.contains(RECALLED))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_region_prices_every_id_once_with_a_page_and_a_date() {
        for region in REGIONS {
            let card = for_region(region).unwrap();
            assert_eq!(card.region, region);
            for id in PriceId::ALL {
                let p = card.get(*id).unwrap_or_else(|| panic!("{region} lacks {id:?}"));
                assert!(p.usd > 0.0 && p.usd < 10.0, "{region} {id:?}: {}", p.usd);
                assert!(!p.unit.is_empty());
                let PriceSource::RateCard { source, date } = &p.source else {
                    panic!("{region} {id:?}: not a card source");
                };
                assert!(source.starts_with("https://aws.amazon.com/"), "{source}");
                assert!(source.contains(region), "the figure names its region: {source}");
                assert_eq!(date, READ);
            }
        }
        assert_eq!(ROWS.len(), PriceId::ALL.len(), "one row per price, no duplicates");
        for (i, row) in ROWS.iter().enumerate() {
            assert!(ROWS[..i].iter().all(|r| r.id != row.id), "{:?} twice", row.id);
        }
    }

    #[test]
    fn a_region_outside_the_card_gets_none() {
        assert!(for_region("ap-southeast-4").is_none());
        assert!(for_region("").is_none());
    }

    #[test]
    fn regional_figures_differ_where_aws_prices_differ() {
        let us = for_region("us-east-1").unwrap();
        let syd = for_region("ap-southeast-2").unwrap();
        for id in [
            PriceId::NatGatewayHour,
            PriceId::FargateVcpuHour,
            PriceId::AuroraAcuHour,
        ] {
            assert!(syd.get(id).unwrap().usd > us.get(id).unwrap().usd, "{id:?}");
        }
        let nat = syd.get(PriceId::NatGatewayHour).unwrap();
        assert!(!is_unconfirmed(nat));
        assert!(is_unconfirmed(syd.get(PriceId::KmsKeyMonth).unwrap()));
    }
}
