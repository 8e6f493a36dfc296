//! An IAM role assumed by one AWS service, under `/provision/{suffix}/`
//! (`ListRoles`, `CreateRole`, `GetRole`, `UpdateRole`, `PutRolePolicy`,
//! `GetRolePolicy`, `DeleteRolePolicy`, `AttachRolePolicy`,
//! `ListAttachedRolePolicies`, `DetachRolePolicy`, `ListRolePolicies`,
//! `DeleteRole`).

use super::POLICY_NAME;
use crate::aws::wait::{self, Backoff};
use crate::aws::{tags, AwsResultExt, NotFoundExt};
use crate::state::Record;
use crate::steps::{Ctx, Dep, Step, StepResult};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::sync::Arc;

/// Builds a role's inline policy from the records of its dependencies and
/// the account id. A policy fn that returns `Value::Null` means "no inline
/// policy" (a role that only carries AWS-managed policies); reconcile then
/// removes any inline policy someone added.
pub type PolicyFn = fn(&Ctx, &str) -> StepResult<Value>;

/// A role assumed by one AWS service, with one inline policy and optional
/// AWS-managed policies.
pub struct Role {
    pub id: &'static str,
    /// Becomes `role-{purpose}-{suffix}`.
    pub purpose: &'static str,
    /// The service principal trusted to assume it.
    pub service: &'static str,
    pub deps: Vec<&'static str>,
    /// AWS-managed policy names (never a `*FullAccess` one).
    pub managed: Vec<&'static str>,
    pub policy: PolicyFn,
}

pub fn role_path(cx: &Ctx) -> String {
    format!("/provision/{}/", cx.suffix())
}

/// The stack's roles: everything under its path (one paginated call).
async fn roles(cx: &Ctx) -> StepResult<Arc<Vec<aws_sdk_iam::types::Role>>> {
    cx.inventory
        .get("iam:roles", || async {
            cx.aws
                .iam
                .list_roles()
                .path_prefix(role_path(cx))
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .aws("ListRoles")
        })
        .await
}

/// The trust policy: only `service`, and only on behalf of this account.
pub fn trust_policy(service: &str, account: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": account}}
        }]
    })
}

fn decode(doc: &str) -> Option<Value> {
    let decoded = percent_encoding::percent_decode_str(doc).decode_utf8().ok()?;
    serde_json::from_str(&decoded).ok()
}

impl Role {
    fn name(&self, cx: &Ctx) -> String {
        cx.name("role", self.purpose)
    }

    /// `name` carries the policy's path when it has one
    /// (`service-role/AmazonECSTaskExecutionRolePolicy`).
    fn managed_arn(&self, cx: &Ctx, name: &str) -> String {
        format!("arn:{}:iam::aws:policy/{name}", crate::aws::partition(cx.region()))
    }

    /// The inline policy this role should carry (`null`: none).
    async fn wanted_policy(&self, cx: &Ctx) -> StepResult<Value> {
        let account = cx.account_id().await?;
        (self.policy)(cx, &account)
    }

    async fn put_policy(&self, cx: &Ctx, name: &str, doc: &Value) -> StepResult<()> {
        if doc.is_null() {
            return Ok(());
        }
        cx.aws
            .iam
            .put_role_policy()
            .role_name(name)
            .policy_name(POLICY_NAME)
            .policy_document(doc.to_string())
            .send()
            .await
            .aws("PutRolePolicy")?;
        Ok(())
    }

    /// The fingerprint of the permissions this role should carry.
    fn fingerprint(&self, doc: &Value) -> String {
        crate::naming::fingerprint(&format!("{doc};{}", self.managed.join(",")))
    }

    /// The role's description, ending in the fingerprint of the permissions
    /// last applied in full. `ListRoles` returns descriptions (not tags), so
    /// the one discovery call also says whether the policies need checking.
    fn description(cx: &Ctx, id: &str, fingerprint: Option<&str>) -> String {
        match fingerprint {
            Some(f) => format!("provision {}: {id} (permissions {f})", cx.suffix()),
            None => format!("provision {}: {id}", cx.suffix()),
        }
    }

    /// Written after the policies: says every call before it succeeded.
    async fn mark_configured(&self, cx: &Ctx, name: &str, doc: &Value) -> StepResult<()> {
        let f = self.fingerprint(doc);
        cx.aws
            .iam
            .update_role()
            .role_name(name)
            .description(Self::description(cx, self.id, Some(&f)))
            .send()
            .await
            .aws("UpdateRole")?;
        Ok(())
    }

    async fn attach(&self, cx: &Ctx, name: &str) -> StepResult<()> {
        for m in &self.managed {
            cx.aws
                .iam
                .attach_role_policy()
                .role_name(name)
                .policy_arn(self.managed_arn(cx, m))
                .send()
                .await
                .aws("AttachRolePolicy")?;
        }
        Ok(())
    }
}

#[async_trait]
impl Step for Role {
    fn id(&self) -> &str {
        self.id
    }
    fn kind(&self) -> &'static str {
        "iam-role"
    }
    fn deps(&self) -> Vec<Dep> {
        self.deps.iter().map(|d| Dep::id(*d)).collect()
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        let name = self.name(cx);
        Ok(roles(cx).await?.iter().find(|r| r.role_name() == name).map(|r| {
            let f = r
                .description()
                .and_then(|d| d.rsplit_once("(permissions "))
                .map(|(_, f)| f.trim_end_matches(')'))
                .unwrap_or_default();
            Record::new(r.role_name()).with("arn", r.arn()).with("permissions", f)
        }))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let name = self.name(cx);
        let account = cx.account_id().await?;
        let tags = tags::iam(cx.tags(&name, self.id))?;
        let created = cx
            .aws
            .iam
            .create_role()
            .role_name(&name)
            .path(role_path(cx))
            .assume_role_policy_document(trust_policy(self.service, &account).to_string())
            .description(Self::description(cx, self.id, None))
            .set_tags(Some(tags))
            .send()
            .await
            .aws("CreateRole");
        let arn = match created {
            Ok(out) => out.role().map(|r| r.arn().to_owned()).unwrap_or_default(),
            // Created by a run that crashed before recording it.
            Err(e) if e.code_is("EntityAlreadyExists") => cx
                .aws
                .iam
                .get_role()
                .role_name(&name)
                .send()
                .await
                .aws("GetRole")?
                .role()
                .map(|r| r.arn().to_owned())
                .unwrap_or_default(),
            Err(e) => return Err(e),
        };
        let doc = self.wanted_policy(cx).await?;
        self.put_policy(cx, &name, &doc).await?;
        self.attach(cx, &name).await?;
        self.mark_configured(cx, &name, &doc).await?;
        Ok(Record::new(name).with("arn", arn))
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let want = self.wanted_policy(cx).await?;
        if rec.attr("permissions") == Some(self.fingerprint(&want).as_str()) {
            return Ok(vec![]);
        }
        let have = cx
            .aws
            .iam
            .get_role_policy()
            .role_name(&rec.id)
            .policy_name(POLICY_NAME)
            .send()
            .await
            .aws("GetRolePolicy")
            .or_not_found()?
            .and_then(|o| decode(o.policy_document()));
        let mut drift = Vec::new();
        if want.is_null() {
            if have.is_some() {
                drift.push("has an inline policy it must not have".into());
                if fix {
                    let r = cx
                        .aws
                        .iam
                        .delete_role_policy()
                        .role_name(&rec.id)
                        .policy_name(POLICY_NAME)
                        .send()
                        .await;
                    r.aws("DeleteRolePolicy").or_not_found()?;
                }
            }
        } else if have.as_ref() != Some(&want) {
            drift.push(if have.is_none() {
                "inline policy missing".into()
            } else {
                "inline policy differs".to_string()
            });
            if fix {
                self.put_policy(cx, &rec.id, &want).await?;
            }
        }
        if !self.managed.is_empty() {
            let attached = cx
                .aws
                .iam
                .list_attached_role_policies()
                .role_name(&rec.id)
                .send()
                .await
                .aws("ListAttachedRolePolicies")?;
            let have: Vec<&str> = attached
                .attached_policies()
                .iter()
                .filter_map(|p| p.policy_arn())
                .collect();
            if self
                .managed
                .iter()
                .any(|m| !have.contains(&self.managed_arn(cx, m).as_str()))
            {
                drift.push("managed policy not attached".into());
                if fix {
                    self.attach(cx, &rec.id).await?;
                }
            }
        }
        if fix {
            self.mark_configured(cx, &rec.id, &want).await?;
        }
        Ok(drift)
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        let iam = &cx.aws.iam;
        let inline = iam
            .list_role_policies()
            .role_name(&rec.id)
            .send()
            .await
            .aws("ListRolePolicies")
            .or_not_found()?;
        for p in inline.iter().flat_map(|o| o.policy_names()) {
            let r = iam
                .delete_role_policy()
                .role_name(&rec.id)
                .policy_name(p)
                .send()
                .await
                .aws("DeleteRolePolicy");
            r.or_not_found()?;
        }
        let attached = iam
            .list_attached_role_policies()
            .role_name(&rec.id)
            .send()
            .await
            .aws("ListAttachedRolePolicies")
            .or_not_found()?;
        for p in attached
            .iter()
            .flat_map(|o| o.attached_policies())
            .filter_map(|p| p.policy_arn())
        {
            let r = iam
                .detach_role_policy()
                .role_name(&rec.id)
                .policy_arn(p)
                .send()
                .await
                .aws("DetachRolePolicy");
            r.or_not_found()?;
        }
        wait::delete(Backoff::DRAIN, || async {
            iam.delete_role()
                .role_name(&rec.id)
                .send()
                .await
                .aws("DeleteRole")
                .map(|_| ())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::super::{no_inline_policy, roles, steps};
    use super::*;
    use crate::steps::ids;

    const ACCOUNT: &str = "123456789012";

    #[test]
    fn the_roles_trust_the_right_services_and_use_no_full_access_policy() {
        let cx = crate::testing::ctx(&[]);
        let steps = steps(&cx.settings);
        let got: Vec<&str> = steps.iter().map(|s| s.id()).collect();
        assert_eq!(got, [ids::ROLE_EXEC, ids::ROLE_TASK, ids::ROLE_ECS_INFRA]);
        assert!(steps[0].deps().contains(&Dep::id(ids::SECRET_DB_CREDENTIALS)));
        let infra = roles().into_iter().find(|r| r.id == ids::ROLE_ECS_INFRA).unwrap();
        assert_eq!(infra.service, "ecs.amazonaws.com");
        assert_eq!(
            infra.managed_arn(&cx, infra.managed[0]),
            "arn:aws:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers"
        );
        assert!(no_inline_policy(&cx, ACCOUNT).unwrap().is_null());
        for m in &infra.managed {
            assert!(!m.contains("FullAccess"), "{m}");
        }
        assert_eq!(infra.name(&cx), "role-ecsinfra-dev1");
    }

    /// CreateRole (IAM API Reference): `RoleName` is 1-64 characters of
    /// "upper and lowercase alphanumeric characters with no spaces. You can
    /// also include any of the following characters: _+=,.@-"; `Path` is
    /// `/` or 1-512 characters that "begin and end with forward slashes"
    /// with ASCII `!` through DEL in between.
    #[test]
    fn every_role_name_and_the_path_fit_the_iam_rules_for_the_longest_suffixes() {
        // The network family's flow-log role is declared there, as
        // `role-flowlogs-{suffix}`; its purpose is checked here too.
        let flowlogs = Role {
            id: ids::ROLE_FLOWLOGS,
            purpose: "flowlogs",
            service: "vpc-flow-logs.amazonaws.com",
            deps: vec![],
            managed: vec![],
            policy: no_inline_policy,
        };
        for suffix in ["abcdefghijkl", "abcdefghij-1", "abcde-fghijk", "a-b-c-d-e-f1"] {
            let mut settings = crate::testing::settings(&[]);
            settings.suffix = crate::naming::Suffix::parse(suffix).unwrap();
            let cx = crate::testing::ctx_with(crate::testing::offline_clients(), settings);
            for role in super::super::roles().iter().chain([&flowlogs]) {
                let name = role.name(&cx);
                assert!((1..=64).contains(&name.len()), "{name}");
                assert!(
                    name.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)),
                    "{name}"
                );
            }
            let path = role_path(&cx);
            assert!(
                path.len() <= 512 && path.starts_with('/') && path.ends_with('/'),
                "{path}"
            );
            assert!(path.chars().all(|c| ('\u{21}'..='\u{7f}').contains(&c)), "{path}");
        }
    }

    #[test]
    fn trust_policy_names_one_service_and_the_account() {
        let t = trust_policy("ecs-tasks.amazonaws.com", "123456789012");
        assert_eq!(t["Statement"][0]["Principal"]["Service"], "ecs-tasks.amazonaws.com");
        assert_eq!(
            t["Statement"][0]["Condition"]["StringEquals"]["aws:SourceAccount"],
            "123456789012"
        );
    }

    #[test]
    fn url_encoded_documents_decode() {
        let v = decode("%7B%22Version%22%3A%222012-10-17%22%7D").unwrap();
        assert_eq!(v["Version"], "2012-10-17");
        assert_eq!(decode("{\"a\":1}").unwrap()["a"], 1);
    }
}
