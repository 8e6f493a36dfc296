//! The security groups' wanted rules, and the pure code that compares them
//! with EC2's `IpPermission`s: comparable rule keys, and a key back into the
//! permission that revokes it.

use super::{APP_PORT, DB_PORT};
use crate::config::Settings;
use crate::steps::ids;
use aws_sdk_ec2::types::{IpPermission, IpRange, UserIdGroupPair};
use std::collections::BTreeSet;

/// Where a rule's traffic comes from (ingress) or goes to (egress).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    Anywhere,
    VpcCidr,
    /// Another security group, by step id.
    Group(&'static str),
    /// An AWS-managed prefix list, by name (its id differs per region).
    PrefixList(&'static str),
}

/// CloudFront's origin-facing addresses ("Use the CloudFront managed prefix
/// list", CloudFront Developer Guide), which include where a VPC origin's
/// requests come from. It weighs 55 rules of a group's default 60 inbound,
/// so the ALB's group admits it on one port only: the one the VPC origin
/// uses.
pub const CLOUDFRONT_PREFIX_LIST: &str = "com.amazonaws.global.cloudfront.origin-facing";

#[derive(Debug, Clone)]
pub struct Rule {
    pub port: i32,
    pub peer: Peer,
    pub description: &'static str,
}

/// One security group as it should be; its step (find, create, reconcile
/// the rules, destroy) is in `security_group`.
pub struct SecurityGroup {
    pub id: &'static str,
    pub purpose: &'static str,
    pub description: &'static str,
    pub ingress: Vec<Rule>,
    pub egress: Vec<Rule>,
}

/// The three groups: the ALB reachable only from CloudFront (with the edge)
/// or open on 80/443 (without), the app reachable only from the ALB, the
/// database only from the app. Egress is narrowed too.
pub fn security_groups(settings: &Settings) -> Vec<SecurityGroup> {
    let alb_ingress = if settings.edge {
        // The VPC origin speaks HTTPS to a load balancer with a
        // certificate, HTTP otherwise (the origin's protocol policy).
        let port = if settings.certificate_arn.is_some() { 443 } else { 80 };
        vec![Rule {
            port,
            peer: Peer::PrefixList(CLOUDFRONT_PREFIX_LIST),
            description: "CloudFront (the VPC origin) only",
        }]
    } else {
        vec![
            Rule {
                port: 80,
                peer: Peer::Anywhere,
                description: "HTTP from anywhere",
            },
            Rule {
                port: 443,
                peer: Peer::Anywhere,
                description: "HTTPS from anywhere",
            },
        ]
    };
    vec![
        SecurityGroup {
            id: ids::SG_ALB,
            purpose: "alb",
            description: "Load balancer: HTTP and HTTPS from its clients",
            ingress: alb_ingress,
            egress: vec![Rule {
                port: APP_PORT,
                peer: Peer::VpcCidr,
                description: "to the app tasks",
            }],
        },
        SecurityGroup {
            id: ids::SG_APP,
            purpose: "app",
            description: "App tasks: the app port from the load balancer only",
            ingress: vec![Rule {
                port: APP_PORT,
                peer: Peer::Group(ids::SG_ALB),
                description: "app port from the ALB",
            }],
            egress: vec![
                Rule {
                    port: 443,
                    peer: Peer::Anywhere,
                    description: "AWS APIs (ECR, Secrets Manager, X-Ray, Logs)",
                },
                Rule {
                    port: DB_PORT,
                    peer: Peer::VpcCidr,
                    description: "to the database",
                },
            ],
        },
        SecurityGroup {
            id: ids::SG_DB,
            purpose: "db",
            description: "Database: PostgreSQL from the app tasks only",
            ingress: vec![Rule {
                port: DB_PORT,
                peer: Peer::Group(ids::SG_APP),
                description: "PostgreSQL from the app",
            }],
            egress: vec![],
        },
    ]
}

/// A comparable key for one rule: `tcp:5000:sg-123` or `tcp:80:0.0.0.0/0`.
pub(super) fn rule_keys(perms: &[IpPermission]) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for p in perms {
        let proto = p.ip_protocol().unwrap_or("-1");
        let port = if proto == "-1" {
            "all".to_string()
        } else if p.from_port() == p.to_port() {
            p.from_port().map(|x| x.to_string()).unwrap_or_default()
        } else {
            format!("{}-{}", p.from_port().unwrap_or(0), p.to_port().unwrap_or(0))
        };
        for r in p.ip_ranges() {
            keys.insert(format!("{proto}:{port}:{}", r.cidr_ip().unwrap_or_default()));
        }
        for r in p.ipv6_ranges() {
            keys.insert(format!("{proto}:{port}:{}", r.cidr_ipv6().unwrap_or_default()));
        }
        for g in p.user_id_group_pairs() {
            keys.insert(format!("{proto}:{port}:{}", g.group_id().unwrap_or_default()));
        }
        for l in p.prefix_list_ids() {
            keys.insert(format!("{proto}:{port}:{}", l.prefix_list_id().unwrap_or_default()));
        }
    }
    keys
}

/// Parses a key back into a permission (for revoking an unwanted rule).
pub(super) fn permission_from_key(key: &str) -> IpPermission {
    let mut parts = key.splitn(3, ':');
    let proto = parts.next().unwrap_or("-1");
    let port = parts.next().unwrap_or("all");
    let peer = parts.next().unwrap_or_default();
    let mut b = IpPermission::builder().ip_protocol(proto);
    if port != "all" {
        let (from, to) = port.split_once('-').unwrap_or((port, port));
        b = b.from_port(from.parse().unwrap_or(0)).to_port(to.parse().unwrap_or(0));
    }
    if peer.starts_with("sg-") {
        b = b.user_id_group_pairs(UserIdGroupPair::builder().group_id(peer).build());
    } else if peer.contains(':') {
        b = b.ipv6_ranges(aws_sdk_ec2::types::Ipv6Range::builder().cidr_ipv6(peer).build());
    } else if peer.starts_with("pl-") {
        b = b.prefix_list_ids(aws_sdk_ec2::types::PrefixListId::builder().prefix_list_id(peer).build());
    } else {
        b = b.ip_ranges(IpRange::builder().cidr_ip(peer).build());
    }
    b.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_keys_round_trip_through_permissions() {
        for key in [
            "tcp:5000:sg-123",
            "tcp:80:0.0.0.0/0",
            "-1:all:0.0.0.0/0",
            "tcp:1000-2000:10.0.0.0/16",
        ] {
            let p = permission_from_key(key);
            assert_eq!(rule_keys(&[p]), [key.to_string()].into(), "{key}");
        }
    }

    #[test]
    fn only_the_alb_is_open_to_the_internet_and_db_only_to_the_app() {
        let sgs = security_groups(&crate::testing::settings(&["--no-edge"]));
        for sg in &sgs {
            for r in &sg.ingress {
                if r.peer == Peer::Anywhere {
                    assert_eq!(sg.id, ids::SG_ALB);
                    assert!([80, 443].contains(&r.port));
                }
            }
        }
        let db = sgs.iter().find(|s| s.id == ids::SG_DB).unwrap();
        assert_eq!(db.ingress.len(), 1);
        assert_eq!(db.ingress[0].peer, Peer::Group(ids::SG_APP));
        assert!(db.egress.is_empty());
        let app = sgs.iter().find(|s| s.id == ids::SG_APP).unwrap();
        assert_eq!(app.ingress.len(), 1);
        assert_eq!(app.ingress[0].peer, Peer::Group(ids::SG_ALB));
        assert_eq!(app.ingress[0].port, APP_PORT);
    }

    #[test]
    fn with_the_edge_the_load_balancer_admits_cloudfront_alone_on_one_port() {
        for (flags, port) in [
            (&[][..], 80),
            (
                &[
                    "--certificate-arn",
                    "arn:aws:acm:ap-southeast-2:123456789012:certificate/x",
                    "--domain",
                    "api.example.com",
                    "--edge-certificate-arn",
                    "arn:aws:acm:us-east-1:123456789012:certificate/y",
                ][..],
                443,
            ),
        ] {
            let sgs = security_groups(&crate::testing::settings(flags));
            let alb = sgs.iter().find(|s| s.id == ids::SG_ALB).unwrap();
            assert_eq!(alb.ingress.len(), 1, "one rule: the prefix list weighs 55 of 60");
            assert_eq!(alb.ingress[0].peer, Peer::PrefixList(CLOUDFRONT_PREFIX_LIST));
            assert_eq!(alb.ingress[0].port, port);
            assert!(sgs.iter().all(|g| g.ingress.iter().all(|r| r.peer != Peer::Anywhere)));
        }
    }
}
