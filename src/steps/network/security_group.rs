//! The security groups: `CreateSecurityGroup`, the rules converged with
//! `AuthorizeSecurityGroupIngress`/`Egress` and
//! `RevokeSecurityGroupIngress`/`Egress`, and `DeleteSecurityGroup`.

use super::discovery::{groups, owned_by, tag_spec};
pub use super::security_group_rules::SecurityGroup;
use super::security_group_rules::{permission_from_key, rule_keys, Peer, Rule};
use super::ANYWHERE;
use crate::aws::wait::{self, Backoff};
use crate::aws::AwsResultExt;
use crate::state::Record;
use crate::steps::{ids, Ctx, Dep, Step, StepResult};
use async_trait::async_trait;
use aws_sdk_ec2::types::{IpPermission, IpRange, ResourceType, UserIdGroupPair};
use std::collections::BTreeSet;

impl SecurityGroup {
    fn permission(&self, cx: &Ctx, rule: &Rule) -> StepResult<(String, IpPermission)> {
        let b = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(rule.port)
            .to_port(rule.port);
        let (peer, perm) = match &rule.peer {
            Peer::Anywhere => (
                ANYWHERE.to_string(),
                b.ip_ranges(
                    IpRange::builder()
                        .cidr_ip(ANYWHERE)
                        .description(rule.description)
                        .build(),
                ),
            ),
            Peer::VpcCidr => {
                let c = cx.settings.vpc_cidr.to_string();
                (
                    c.clone(),
                    b.ip_ranges(IpRange::builder().cidr_ip(c).description(rule.description).build()),
                )
            }
            Peer::PrefixList(name) => {
                let id = cx
                    .inventory
                    .peek::<String>(&prefix_list_key(name))
                    .map(|id| id.as_str().to_owned())
                    .ok_or_else(|| {
                        crate::aws::AwsError::custom(
                            "DescribeManagedPrefixLists",
                            "NotResolved",
                            format!("the prefix list {name} was not looked up"),
                        )
                    })?;
                (
                    id.clone(),
                    b.prefix_list_ids(
                        aws_sdk_ec2::types::PrefixListId::builder()
                            .prefix_list_id(id)
                            .description(rule.description)
                            .build(),
                    ),
                )
            }
            Peer::Group(step) => {
                let g = cx.id_of(step)?;
                (
                    g.clone(),
                    b.user_id_group_pairs(
                        UserIdGroupPair::builder()
                            .group_id(g)
                            .description(rule.description)
                            .build(),
                    ),
                )
            }
        };
        Ok((format!("tcp:{}:{peer}", rule.port), perm.build()))
    }

    /// Looks up the ids of the managed prefix lists the rules name (they
    /// differ per region), once per run, through the inventory.
    async fn resolve_prefix_lists(&self, cx: &Ctx) -> StepResult<()> {
        for r in self.ingress.iter().chain(&self.egress) {
            let Peer::PrefixList(name) = r.peer else { continue };
            cx.inventory
                .get(prefix_list_key(name), || async {
                    let out = cx
                        .aws
                        .ec2
                        .describe_managed_prefix_lists()
                        .filters(
                            aws_sdk_ec2::types::Filter::builder()
                                .name("prefix-list-name")
                                .values(name)
                                .build(),
                        )
                        .send()
                        .await
                        .aws("DescribeManagedPrefixLists")?;
                    out.prefix_lists()
                        .iter()
                        .find(|p| p.prefix_list_name() == Some(name))
                        .and_then(|p| p.prefix_list_id())
                        .map(str::to_owned)
                        .ok_or_else(|| {
                            crate::aws::AwsError::custom(
                                "DescribeManagedPrefixLists",
                                "PrefixListNotFound",
                                format!("the AWS-managed prefix list {name} is not in this region"),
                            )
                        })
                })
                .await?;
        }
        Ok(())
    }

    fn wanted(&self, cx: &Ctx, rules: &[Rule]) -> StepResult<Vec<(String, IpPermission)>> {
        rules.iter().map(|r| self.permission(cx, r)).collect()
    }

    /// Makes one direction's rules exactly `want`. `created`: the group was
    /// created a moment ago (the rules in `have` are its defaults).
    async fn converge(
        &self,
        cx: &Ctx,
        group: &str,
        ingress: bool,
        have: BTreeSet<String>,
        fix: bool,
        created: bool,
    ) -> StepResult<Vec<String>> {
        let want = self.wanted(cx, if ingress { &self.ingress } else { &self.egress })?;
        let dir = if ingress { "ingress" } else { "egress" };
        let want_keys: BTreeSet<&str> = want.iter().map(|(k, _)| k.as_str()).collect();
        let add: Vec<IpPermission> = want
            .iter()
            .filter(|(k, _)| !have.contains(k))
            .map(|(_, p)| p.clone())
            .collect();
        let remove: Vec<&String> = have.iter().filter(|k| !want_keys.contains(k.as_str())).collect();
        let mut drift: Vec<String> = want
            .iter()
            .filter(|(k, _)| !have.contains(k))
            .map(|(k, _)| format!("{dir} {k} missing"))
            .collect();
        drift.extend(remove.iter().map(|k| format!("{dir} {k} not allowed")));
        if fix {
            if !remove.is_empty() {
                let perms: Vec<IpPermission> = remove.iter().map(|k| permission_from_key(k)).collect();
                revoke(cx, group, ingress, perms, created).await?;
            }
            if !add.is_empty() {
                authorize(cx, group, ingress, add).await?;
            }
        }
        Ok(drift)
    }
}

/// Revokes `perms` from one direction of `group`, which (like the groups
/// the rules name) may be new. On a group read a moment ago, a rule already
/// gone is done; on a group created a moment ago its default rule exists,
/// so not-found only means not visible yet, and is retried.
async fn revoke(cx: &Ctx, group: &str, ingress: bool, perms: Vec<IpPermission>, created: bool) -> StepResult<()> {
    wait::consistent(|| async {
        let r = if ingress {
            cx.aws
                .ec2
                .revoke_security_group_ingress()
                .group_id(group)
                .set_ip_permissions(Some(perms.clone()))
                .send()
                .await
                .aws("RevokeSecurityGroupIngress")
                .map(|_| ())
        } else {
            cx.aws
                .ec2
                .revoke_security_group_egress()
                .group_id(group)
                .set_ip_permissions(Some(perms.clone()))
                .send()
                .await
                .aws("RevokeSecurityGroupEgress")
                .map(|_| ())
        };
        match r {
            Err(e) if !created && e.code_is("InvalidPermission.NotFound") => Ok(()),
            r => r,
        }
    })
    .await
}

/// Authorizes `add` in one direction of `group` (either it or a group a
/// rule names may be new). A duplicate is a rule already there: done.
async fn authorize(cx: &Ctx, group: &str, ingress: bool, add: Vec<IpPermission>) -> StepResult<()> {
    let r = wait::consistent(|| async {
        if ingress {
            cx.aws
                .ec2
                .authorize_security_group_ingress()
                .group_id(group)
                .set_ip_permissions(Some(add.clone()))
                .send()
                .await
                .aws("AuthorizeSecurityGroupIngress")
                .map(|_| ())
        } else {
            cx.aws
                .ec2
                .authorize_security_group_egress()
                .group_id(group)
                .set_ip_permissions(Some(add.clone()))
                .send()
                .await
                .aws("AuthorizeSecurityGroupEgress")
                .map(|_| ())
        }
    })
    .await;
    match r {
        Err(e) if e.code_is("InvalidPermission.Duplicate") => Ok(()),
        r => r,
    }
}

/// The group's name: `secgroup-{purpose}-{suffix}`. CreateSecurityGroup
/// refuses a GroupName that starts with `sg-` (EC2 API Reference,
/// CreateSecurityGroup: "Constraints: Up to 255 characters in length.
/// Cannot start with sg-."). Groups are found by their tags, so those
/// created under the old `sg-…` names still match.
pub(super) fn group_name(cx: &Ctx, purpose: &str) -> String {
    cx.name("secgroup", purpose)
}

/// The inventory key of a prefix list's id.
fn prefix_list_key(name: &str) -> String {
    format!("prefix-list:{name}")
}

#[async_trait]
impl Step for SecurityGroup {
    fn id(&self) -> &str {
        self.id
    }
    fn kind(&self) -> &'static str {
        "security-group"
    }
    fn deps(&self) -> Vec<Dep> {
        let mut d = vec![Dep::id(ids::VPC)];
        for r in self.ingress.iter().chain(&self.egress) {
            if let Peer::Group(g) = r.peer {
                d.push(Dep::id(g));
            }
        }
        d
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        self.resolve_prefix_lists(cx).await?;
        Ok(groups(cx)
            .await?
            .iter()
            .find(|g| owned_by(cx, g.tags(), self.id))
            .map(|g| Record::new(g.group_id().unwrap_or_default())))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let name = group_name(cx, self.purpose);
        let vpc = cx.id_of(ids::VPC)?;
        // No client token, but only a refusal is retried: never two groups.
        let out = wait::consistent(|| async {
            cx.aws
                .ec2
                .create_security_group()
                .group_name(&name)
                .description(self.description)
                .vpc_id(&vpc)
                .tag_specifications(tag_spec(cx, ResourceType::SecurityGroup, &name, self.id, &[]))
                .send()
                .await
                .aws("CreateSecurityGroup")
        })
        .await?;
        let id = out.group_id().unwrap_or_default().to_owned();
        // A new group allows all egress; make both directions exact.
        let default_egress: BTreeSet<String> = [format!("-1:all:{ANYWHERE}")].into();
        self.converge(cx, &id, false, default_egress, true, true).await?;
        self.converge(cx, &id, true, BTreeSet::new(), true, true).await?;
        Ok(Record::new(id))
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let Some(g) = groups(cx)
            .await?
            .iter()
            .find(|g| g.group_id() == Some(rec.id.as_str()))
            .cloned()
        else {
            return Ok(vec![]);
        };
        let mut drift = self
            .converge(cx, &rec.id, true, rule_keys(g.ip_permissions()), fix, false)
            .await?;
        drift.extend(
            self.converge(cx, &rec.id, false, rule_keys(g.ip_permissions_egress()), fix, false)
                .await?,
        );
        Ok(drift)
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        // Rules that reference other groups block those groups' deletion:
        // revoke them first.
        if let Some(g) = groups(cx).await?.iter().find(|g| g.group_id() == Some(rec.id.as_str())) {
            let refs = |perms: &[IpPermission]| -> Vec<IpPermission> {
                perms
                    .iter()
                    .filter(|p| !p.user_id_group_pairs().is_empty())
                    .cloned()
                    .collect()
            };
            let ingress = refs(g.ip_permissions());
            if !ingress.is_empty() {
                let r = cx
                    .aws
                    .ec2
                    .revoke_security_group_ingress()
                    .group_id(&rec.id)
                    .set_ip_permissions(Some(ingress))
                    .send()
                    .await
                    .aws("RevokeSecurityGroupIngress");
                ignore_not_found(r.map(|_| ()))?;
            }
            let egress = refs(g.ip_permissions_egress());
            if !egress.is_empty() {
                let r = cx
                    .aws
                    .ec2
                    .revoke_security_group_egress()
                    .group_id(&rec.id)
                    .set_ip_permissions(Some(egress))
                    .send()
                    .await
                    .aws("RevokeSecurityGroupEgress");
                ignore_not_found(r.map(|_| ()))?;
            }
        }
        // ENIs of deleted tasks, load balancers and databases linger.
        wait::delete(Backoff::DRAIN, || async {
            cx.aws
                .ec2
                .delete_security_group()
                .group_id(&rec.id)
                .send()
                .await
                .aws("DeleteSecurityGroup")
                .map(|_| ())
        })
        .await
    }
}

fn ignore_not_found(r: StepResult<()>) -> StepResult<()> {
    match r {
        Err(e) if e.is_not_found() || e.code_is("InvalidPermission.NotFound") => Ok(()),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::network::mock::{ec2_ctx, ec2_error};
    use crate::steps::network::security_groups;
    use aws_sdk_ec2::operation::authorize_security_group_egress::AuthorizeSecurityGroupEgressError;
    use aws_sdk_ec2::operation::authorize_security_group_ingress::AuthorizeSecurityGroupIngressOutput;
    use aws_sdk_ec2::operation::create_security_group::{CreateSecurityGroupError, CreateSecurityGroupOutput};
    use aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsOutput;
    use aws_sdk_ec2::operation::revoke_security_group_egress::{
        RevokeSecurityGroupEgressError, RevokeSecurityGroupEgressOutput,
    };
    use aws_sdk_ec2::operation::revoke_security_group_ingress::RevokeSecurityGroupIngressError;
    use aws_smithy_mocks::mock;

    fn group(id: &str) -> SecurityGroup {
        security_groups(&crate::testing::settings(&["--no-edge"]))
            .into_iter()
            .find(|g| g.id == id)
            .unwrap()
    }

    #[test]
    fn group_names_never_start_with_sg() {
        let cx = crate::testing::ctx(&[]);
        for g in security_groups(&cx.settings) {
            let name = group_name(&cx, g.purpose);
            assert!(!name.starts_with("sg-"), "{name}");
            assert_eq!(name, format!("secgroup-{}-dev1", g.purpose));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn create_sends_a_valid_name_and_waits_for_the_new_group() {
        let create = mock!(aws_sdk_ec2::Client::create_security_group)
            .match_requests(|r| r.group_name() == Some("secgroup-alb-dev1") && r.vpc_id() == Some("vpc-1"))
            .sequence()
            .error(|| CreateSecurityGroupError::generic(ec2_error("InvalidVpcID.NotFound")))
            .output(|| CreateSecurityGroupOutput::builder().group_id("sg-1").build())
            .build();
        // The default egress rule, revoked once the group is visible.
        let revoke = mock!(aws_sdk_ec2::Client::revoke_security_group_egress)
            .match_requests(|r| r.group_id() == Some("sg-1") && r.ip_permissions()[0].ip_protocol() == Some("-1"))
            .sequence()
            .error(|| RevokeSecurityGroupEgressError::generic(ec2_error("InvalidGroup.NotFound")))
            .error(|| RevokeSecurityGroupEgressError::generic(ec2_error("InvalidPermission.NotFound")))
            .output(|| RevokeSecurityGroupEgressOutput::builder().r#return(true).build())
            .build();
        let egress = mock!(aws_sdk_ec2::Client::authorize_security_group_egress)
            .match_requests(|r| r.group_id() == Some("sg-1"))
            .sequence()
            .error(|| AuthorizeSecurityGroupEgressError::generic(ec2_error("InvalidGroup.NotFound")))
            .error(|| AuthorizeSecurityGroupEgressError::generic(ec2_error("InvalidPermission.Duplicate")))
            .build();
        let ingress = mock!(aws_sdk_ec2::Client::authorize_security_group_ingress)
            .match_requests(|r| r.group_id() == Some("sg-1") && r.ip_permissions().len() == 2)
            .then_output(|| AuthorizeSecurityGroupIngressOutput::builder().build());
        let cx = ec2_ctx(
            &[&create, &revoke, &egress, &ingress],
            &[(ids::VPC, Record::new("vpc-1"))],
        );
        let rec = group(ids::SG_ALB).create(&cx).await.unwrap();
        assert_eq!(rec.id, "sg-1");
        let calls = [
            create.num_calls(),
            revoke.num_calls(),
            egress.num_calls(),
            ingress.num_calls(),
        ];
        assert_eq!(calls, [2, 3, 2, 1]);
    }

    #[tokio::test(start_paused = true)]
    async fn reconcile_counts_a_rule_already_revoked_as_done() {
        // The wanted rules, plus an SSH rule someone added.
        let describe = mock!(aws_sdk_ec2::Client::describe_security_groups).then_output(|| {
            let perms = |keys: &[&str]| keys.iter().map(|k| permission_from_key(k)).collect::<Vec<_>>();
            DescribeSecurityGroupsOutput::builder()
                .security_groups(
                    aws_sdk_ec2::types::SecurityGroup::builder()
                        .group_id("sg-1")
                        .set_ip_permissions(Some(perms(&[
                            "tcp:80:0.0.0.0/0",
                            "tcp:443:0.0.0.0/0",
                            "tcp:22:0.0.0.0/0",
                        ])))
                        .set_ip_permissions_egress(Some(perms(&["tcp:5000:10.0.0.0/16"])))
                        .build(),
                )
                .build()
        });
        let revoke = mock!(aws_sdk_ec2::Client::revoke_security_group_ingress)
            .then_error(|| RevokeSecurityGroupIngressError::generic(ec2_error("InvalidPermission.NotFound")));
        let cx = ec2_ctx(&[&describe, &revoke], &[]);
        let start = tokio::time::Instant::now();
        let drift = group(ids::SG_ALB)
            .reconcile(&cx, &Record::new("sg-1"), true)
            .await
            .unwrap();
        assert_eq!(drift, ["ingress tcp:22:0.0.0.0/0 not allowed"]);
        assert_eq!(revoke.num_calls(), 1);
        assert_eq!(start.elapsed(), std::time::Duration::ZERO);
    }
}
