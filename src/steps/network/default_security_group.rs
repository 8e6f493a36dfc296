//! The VPC's default security group, emptied: AWS gives every VPC one that
//! admits all traffic between its members and all egress, and anything
//! placed in it by mistake (a task or an instance launched without a
//! group) would get exactly that. CIS AWS Foundations 5.4 and AWS Security
//! Hub EC2.2 flag it; AWS CDK removes its rules too. The group itself
//! cannot be deleted: it goes with the VPC. APIs: `DescribeSecurityGroups`
//! (by VPC and name), `RevokeSecurityGroupIngress`/`Egress`.

use super::discovery::{owned_by, vpcs};
use crate::aws::wait;
use crate::aws::{AwsError, AwsResultExt};
use crate::state::Record;
use crate::steps::{ids, Ctx, Dep, Step, StepResult};
use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, IpPermission, SecurityGroup};

pub struct DefaultSecurityGroup;

/// What a rule list says, for a drift line: `tcp:80 from sg-1, all to 0.0.0.0/0`.
fn describe(perms: &[IpPermission]) -> String {
    let mut out: Vec<String> = Vec::new();
    for p in perms {
        let proto = match p.ip_protocol() {
            Some("-1") | None => "all".to_string(),
            Some(x) => format!("{x}:{}", p.from_port().unwrap_or(0)),
        };
        let peers = p
            .ip_ranges()
            .iter()
            .filter_map(|r| r.cidr_ip())
            .chain(p.ipv6_ranges().iter().filter_map(|r| r.cidr_ipv6()))
            .chain(p.user_id_group_pairs().iter().filter_map(|g| g.group_id()))
            .chain(p.prefix_list_ids().iter().filter_map(|l| l.prefix_list_id()));
        for peer in peers {
            out.push(format!("{proto} {peer}"));
        }
    }
    out.join(", ")
}

impl DefaultSecurityGroup {
    /// The default group of the stack's VPC (found by the VPC's tags).
    async fn group(&self, cx: &Ctx) -> StepResult<Option<SecurityGroup>> {
        let Some(vpc) = vpcs(cx)
            .await?
            .iter()
            .find(|v| owned_by(cx, v.tags(), ids::VPC))
            .and_then(|v| v.vpc_id().map(str::to_owned))
        else {
            return Ok(None);
        };
        let out = wait::consistent(|| async {
            cx.aws
                .ec2
                .describe_security_groups()
                .filters(Filter::builder().name("vpc-id").values(&vpc).build())
                .filters(Filter::builder().name("group-name").values("default").build())
                .send()
                .await
                .aws("DescribeSecurityGroups")
        })
        .await?;
        Ok(out.security_groups().first().cloned())
    }

    fn record(g: &SecurityGroup) -> Record {
        Record::new(g.group_id().unwrap_or_default())
            .with("ingress", describe(g.ip_permissions()))
            .with("egress", describe(g.ip_permissions_egress()))
    }
}

#[async_trait]
impl Step for DefaultSecurityGroup {
    fn id(&self) -> &str {
        ids::SG_DEFAULT
    }
    fn kind(&self) -> &'static str {
        "default-security-group"
    }
    fn deps(&self) -> Vec<Dep> {
        vec![Dep::id(ids::VPC)]
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        Ok(self.group(cx).await?.as_ref().map(Self::record))
    }

    /// The group comes with the VPC: "creating" it is emptying it.
    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        cx.inventory.invalidate("ec2:DescribeVpcs");
        let g = self.group(cx).await?.ok_or_else(|| {
            AwsError::custom(
                "DescribeSecurityGroups",
                "NotFound",
                "the VPC has no default security group yet",
            )
        })?;
        let rec = Self::record(&g);
        self.reconcile(cx, &rec, true).await?;
        Ok(Record::new(rec.id).with("ingress", "").with("egress", ""))
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let mut drift = Vec::new();
        for (dir, rules) in [("ingress", rec.attr("ingress")), ("egress", rec.attr("egress"))] {
            if let Some(r) = rules.filter(|r| !r.is_empty()) {
                drift.push(format!("the default group allows {dir} {r} (wants none)"));
            }
        }
        if !fix || drift.is_empty() {
            return Ok(drift);
        }
        // Revoke exactly what is there now, as EC2 describes it.
        let Some(g) = self.group(cx).await? else {
            return Ok(drift);
        };
        let id = g.group_id().unwrap_or_default();
        if !g.ip_permissions().is_empty() {
            cx.aws
                .ec2
                .revoke_security_group_ingress()
                .group_id(id)
                .set_ip_permissions(Some(g.ip_permissions().to_vec()))
                .send()
                .await
                .aws("RevokeSecurityGroupIngress")?;
        }
        if !g.ip_permissions_egress().is_empty() {
            cx.aws
                .ec2
                .revoke_security_group_egress()
                .group_id(id)
                .set_ip_permissions(Some(g.ip_permissions_egress().to_vec()))
                .send()
                .await
                .aws("RevokeSecurityGroupEgress")?;
        }
        Ok(drift)
    }

    /// Deleted with the VPC.
    async fn destroy(&self, _cx: &Ctx, _rec: &Record) -> StepResult<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{IpRange, UserIdGroupPair};

    #[test]
    fn the_default_rules_read_as_a_drift_line() {
        let self_ref = IpPermission::builder()
            .ip_protocol("-1")
            .user_id_group_pairs(UserIdGroupPair::builder().group_id("sg-1").build())
            .build();
        let egress = IpPermission::builder()
            .ip_protocol("-1")
            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .build();
        assert_eq!(describe(&[self_ref]), "all sg-1");
        assert_eq!(describe(&[egress]), "all 0.0.0.0/0");
        assert_eq!(describe(&[]), "");
        let rec = Record::new("sg-1").with("ingress", "all sg-1").with("egress", "");
        let cx = crate::testing::ctx(&[]);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let drift = rt.block_on(DefaultSecurityGroup.reconcile(&cx, &rec, false)).unwrap();
        assert_eq!(drift, ["the default group allows ingress all sg-1 (wants none)"]);
    }
}
