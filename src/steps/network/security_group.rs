//! The security groups: `CreateSecurityGroup`, the rules converged with
//! `AuthorizeSecurityGroupIngress`/`Egress` and
//! `RevokeSecurityGroupIngress`/`Egress`, and `DeleteSecurityGroup`.

use super::discovery::{groups, owned_by, tag_spec};
use super::security_group_rules::{permission_from_key, rule_keys, Peer, Rule};
use super::ANYWHERE;
use crate::aws::wait::{self, Backoff};
use crate::aws::AwsResultExt;
use crate::state::Record;
use crate::steps::{ids, Ctx, Dep, Step, StepResult};
use async_trait::async_trait;
use aws_sdk_ec2::types::{IpPermission, IpRange, ResourceType, UserIdGroupPair};
use std::collections::BTreeSet;

pub struct SecurityGroup {
    pub id: &'static str,
    pub purpose: &'static str,
    pub description: &'static str,
    pub ingress: Vec<Rule>,
    pub egress: Vec<Rule>,
}

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

    fn wanted(&self, cx: &Ctx, rules: &[Rule]) -> StepResult<Vec<(String, IpPermission)>> {
        rules.iter().map(|r| self.permission(cx, r)).collect()
    }

    /// Makes one direction's rules exactly `want`.
    async fn converge(
        &self,
        cx: &Ctx,
        group: &str,
        ingress: bool,
        have: BTreeSet<String>,
        fix: bool,
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
                if ingress {
                    cx.aws
                        .ec2
                        .revoke_security_group_ingress()
                        .group_id(group)
                        .set_ip_permissions(Some(perms))
                        .send()
                        .await
                        .aws("RevokeSecurityGroupIngress")?;
                } else {
                    cx.aws
                        .ec2
                        .revoke_security_group_egress()
                        .group_id(group)
                        .set_ip_permissions(Some(perms))
                        .send()
                        .await
                        .aws("RevokeSecurityGroupEgress")?;
                }
            }
            if !add.is_empty() {
                let r = if ingress {
                    cx.aws
                        .ec2
                        .authorize_security_group_ingress()
                        .group_id(group)
                        .set_ip_permissions(Some(add))
                        .send()
                        .await
                        .aws("AuthorizeSecurityGroupIngress")
                        .map(|_| ())
                } else {
                    cx.aws
                        .ec2
                        .authorize_security_group_egress()
                        .group_id(group)
                        .set_ip_permissions(Some(add))
                        .send()
                        .await
                        .aws("AuthorizeSecurityGroupEgress")
                        .map(|_| ())
                };
                match r {
                    Err(e) if e.code_is("InvalidPermission.Duplicate") => {}
                    r => r?,
                }
            }
        }
        Ok(drift)
    }
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
        Ok(groups(cx)
            .await?
            .iter()
            .find(|g| owned_by(cx, g.tags(), self.id))
            .map(|g| Record::new(g.group_id().unwrap_or_default())))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let name = cx.name("sg", self.purpose);
        let out = cx
            .aws
            .ec2
            .create_security_group()
            .group_name(&name)
            .description(self.description)
            .vpc_id(cx.id_of(ids::VPC)?)
            .tag_specifications(tag_spec(cx, ResourceType::SecurityGroup, &name, self.id, &[]))
            .send()
            .await
            .aws("CreateSecurityGroup")?;
        let id = out.group_id().unwrap_or_default().to_owned();
        // A new group allows all egress; make both directions exact.
        let default_egress: BTreeSet<String> = [format!("-1:all:{ANYWHERE}")].into();
        self.converge(cx, &id, false, default_egress, true).await?;
        self.converge(cx, &id, true, BTreeSet::new(), true).await?;
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
            .converge(cx, &rec.id, true, rule_keys(g.ip_permissions()), fix)
            .await?;
        drift.extend(
            self.converge(cx, &rec.id, false, rule_keys(g.ip_permissions_egress()), fix)
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
