//! IAM roles with least-privilege inline policies. Roles live under the
//! path `/provision/{suffix}/`, so one `ListRoles` call finds them all.

use super::{Ctx, Dep, Step, StepRef, StepResult};
use crate::aws::wait::{self, Backoff};
use crate::aws::{AwsError, AwsResultExt, NotFoundExt};
use crate::config::Settings;
use crate::state::Record;
use async_trait::async_trait;
use serde_json::{json, Value};
use std::sync::Arc;

/// The name of the inline policy every role carries.
pub const POLICY_NAME: &str = "least-privilege";

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

/// The roles of the app layer: the task execution role (pull the image,
/// write the container logs, read the two database secrets), the task role
/// (what the app itself may call: trace writes, and ECS Exec when enabled)
/// and the ECS infrastructure role (blue/green traffic shifting on the
/// load balancer).
///
/// Steps that hand a brand-new role to another service (task definitions,
/// services) must retry while it propagates:
/// `wait::retry_while(ErrorClass::NotYetPropagated, Backoff::IAM, ..)`.
pub fn steps(_settings: &Settings) -> Vec<StepRef> {
    let steps: Vec<StepRef> = vec![
        Arc::new(Role {
            id: "role-exec",
            purpose: "exec",
            service: "ecs-tasks.amazonaws.com",
            deps: vec![
                "ecr-repo",
                "log-app",
                "log-otel",
                "secret-db-connection",
                "secret-db-credentials",
            ],
            managed: vec![],
            policy: exec_policy,
        }),
        Arc::new(Role {
            id: "role-task",
            purpose: "task",
            service: "ecs-tasks.amazonaws.com",
            deps: vec![],
            managed: vec![],
            policy: task_policy,
        }),
        Arc::new(Role {
            id: "role-ecs-infra",
            purpose: "ecsinfra",
            service: "ecs.amazonaws.com",
            deps: vec![],
            // At the root path (not service-role/); scoped by AWS to the
            // load balancer calls blue/green deployments make.
            managed: vec!["AmazonECSInfrastructureRolePolicyForLoadBalancers"],
            policy: no_inline_policy,
        }),
    ];
    steps.into_iter().map(|s: Arc<dyn Step>| s).collect()
}

/// An attribute of a finished dependency's record, or a clear error.
fn dep_attr(cx: &Ctx, step: &str, key: &str) -> StepResult<String> {
    let rec = cx.rec(step)?;
    rec.attr(key).map(str::to_owned).ok_or_else(|| {
        AwsError::custom(
            "Policy",
            "MissingAttribute",
            format!("step `{step}` recorded no `{key}`; run `provision up` to refresh it"),
        )
    })
}

/// The task execution role: what the ECS agent does on the task's behalf.
/// Every resource is one of this stack's ARNs, except
/// `ecr:GetAuthorizationToken`, which has no resource-level permissions
/// (AWS requires `"Resource": "*"` for it).
pub fn exec_policy(cx: &Ctx, _account: &str) -> StepResult<Value> {
    let repo = dep_attr(cx, "ecr-repo", "arn")?;
    let mut logs = Vec::new();
    for step in ["log-app", "log-otel"] {
        let arn = dep_attr(cx, step, "arn")?;
        let arn = arn.trim_end_matches(":*").to_owned();
        logs.push(json!(format!("{arn}:*")));
        logs.push(json!(arn));
    }
    let secrets = vec![
        dep_attr(cx, "secret-db-connection", "arn")?,
        dep_attr(cx, "secret-db-credentials", "arn")?,
    ];
    let mut statements = vec![
        json!({
            "Sid": "EcrAuthToken",
            "Effect": "Allow",
            // GetAuthorizationToken supports no resource-level permissions.
            "Action": "ecr:GetAuthorizationToken",
            "Resource": "*"
        }),
        json!({
            "Sid": "PullImage",
            "Effect": "Allow",
            "Action": ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            "Resource": repo
        }),
        json!({
            "Sid": "ContainerLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": logs
        }),
        json!({
            "Sid": "DatabaseSecrets",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": secrets
        }),
    ];
    if let Some(key) = &cx.settings.kms_key_arn {
        statements.push(json!({
            "Sid": "DecryptWithStackKey",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": key,
            "Condition": {"StringEquals": {"kms:ViaService": [
                format!("secretsmanager.{}.amazonaws.com", cx.region()),
                format!("ecr.{}.amazonaws.com", cx.region())
            ]}}
        }));
    }
    Ok(json!({"Version": "2012-10-17", "Statement": statements}))
}

/// The X-Ray actions the tracing sidecar needs to send segments and use
/// sampling rules.
pub const XRAY_ACTIONS: [&str; 5] = [
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "xray:GetSamplingStatisticSummaries",
];

/// The Session Manager channel actions ECS Exec needs.
pub const EXEC_ACTIONS: [&str; 4] = [
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
];

/// The task role: what the app's containers may call. Only trace writes,
/// plus the ECS Exec channels when `--enable-exec` is set.
///
/// `"Resource": "*"` is unavoidable here: neither X-Ray nor the
/// `ssmmessages` channel actions support resource-level permissions. The
/// actions are named one by one; there is no service-wide wildcard.
pub fn task_policy(cx: &Ctx, _account: &str) -> StepResult<Value> {
    let mut statements = vec![json!({
        "Sid": "WriteTraces",
        "Effect": "Allow",
        "Action": XRAY_ACTIONS,
        "Resource": "*"
    })];
    if cx.settings.enable_exec {
        statements.push(json!({
            "Sid": "EcsExecChannels",
            "Effect": "Allow",
            "Action": EXEC_ACTIONS,
            "Resource": "*"
        }));
    }
    Ok(json!({"Version": "2012-10-17", "Statement": statements}))
}

/// The ECS infrastructure role carries only its AWS-managed policy.
pub fn no_inline_policy(_cx: &Ctx, _account: &str) -> StepResult<Value> {
    Ok(Value::Null)
}

pub fn role_path(cx: &Ctx) -> String {
    format!("/provision/{}/", cx.suffix())
}

async fn roles(cx: &Ctx) -> StepResult<Arc<Vec<aws_sdk_iam::types::Role>>> {
    cx.inventory
        .get("iam:roles", || async {
            let mut out = Vec::new();
            let mut marker = None;
            loop {
                let page = cx
                    .aws
                    .iam
                    .list_roles()
                    .path_prefix(role_path(cx))
                    .set_marker(marker)
                    .send()
                    .await
                    .aws("ListRoles")?;
                out.extend(page.roles().iter().cloned());
                marker = page.marker().map(str::to_owned);
                if !page.is_truncated() || marker.is_none() {
                    break;
                }
            }
            Ok(out)
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
        let tags: Vec<aws_sdk_iam::types::Tag> = cx
            .tags(&name, self.id)
            .into_iter()
            .filter_map(|(k, v)| aws_sdk_iam::types::Tag::builder().key(k).value(v).build().ok())
            .collect();
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
    use super::*;
    use crate::state::Record;

    const ACCOUNT: &str = "123456789012";
    const KMS: &str = "arn:aws:kms:ap-southeast-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    /// The ARNs the dependencies of the roles recorded.
    fn stack_ctx(flags: &[&str]) -> (Ctx, Vec<String>) {
        let cx = crate::testing::ctx(flags);
        let arns = [
            ("ecr-repo", "arn:aws:ecr:ap-southeast-2:123456789012:repository/ecr-api-dev1"),
            ("log-app", "arn:aws:logs:ap-southeast-2:123456789012:log-group:/provision/dev1/app"),
            ("log-otel", "arn:aws:logs:ap-southeast-2:123456789012:log-group:/provision/dev1/otel-collector"),
            ("secret-db-connection", "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:db-connection-dev1-AbCdEf"),
            (
                "secret-db-credentials",
                "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:rds!cluster-0a1b2c3d-aaaa-bbbb-cccc-0123456789ab-XyZ123",
            ),
        ];
        let mut scoped = Vec::new();
        for (step, arn) in arns {
            cx.set_record(step, Record::new(step).with("arn", arn));
            scoped.push(arn.to_string());
            scoped.push(format!("{arn}:*"));
        }
        (cx, scoped)
    }

    fn as_list(v: &Value) -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a.iter().map(|x| x.as_str().expect("strings only").to_owned()).collect(),
            other => panic!("not a string or list: {other}"),
        }
    }

    /// Every statement: no wildcard action, no service-wide action, and a
    /// `*` resource only for actions that have no resource-level
    /// permissions (listed, documented in the policy fns).
    fn check_least_privilege(doc: &Value, scoped: &[String]) {
        let star_ok: Vec<&str> = ["ecr:GetAuthorizationToken"]
            .into_iter()
            .chain(XRAY_ACTIONS)
            .chain(EXEC_ACTIONS)
            .collect();
        let statements = doc["Statement"].as_array().expect("statements");
        assert!(!statements.is_empty());
        for st in statements {
            assert_eq!(st["Effect"], "Allow", "{st}");
            assert!(st.get("NotAction").is_none() && st.get("NotResource").is_none(), "{st}");
            let actions = as_list(&st["Action"]);
            for a in &actions {
                assert_ne!(a, "*", "{st}");
                let (service, name) = a.split_once(':').expect("service:Action");
                assert!(!service.is_empty() && !name.is_empty(), "{a}");
                assert!(!name.contains('*'), "wildcard action {a}");
            }
            for r in as_list(&st["Resource"]) {
                if r == "*" {
                    for a in &actions {
                        assert!(star_ok.contains(&a.as_str()), "{a} on * in {st}");
                    }
                } else {
                    assert!(scoped.contains(&r) || r == KMS, "{r} is not one of this stack's ARNs");
                }
            }
        }
    }

    #[test]
    fn exec_policy_is_scoped_to_the_stack() {
        let (cx, scoped) = stack_ctx(&[]);
        let doc = exec_policy(&cx, ACCOUNT).unwrap();
        check_least_privilege(&doc, &scoped);
        let text = doc.to_string();
        assert!(!text.contains("kms:"), "no KMS statement without --kms-key-arn");
        let st = doc["Statement"].as_array().unwrap();
        let secrets = st
            .iter()
            .find(|s| s["Action"] == "secretsmanager:GetSecretValue")
            .unwrap();
        assert_eq!(as_list(&secrets["Resource"]).len(), 2);
        let pull = st
            .iter()
            .find(|s| as_list(&s["Action"]).contains(&"ecr:BatchGetImage".to_string()))
            .unwrap();
        assert_eq!(
            pull["Resource"],
            "arn:aws:ecr:ap-southeast-2:123456789012:repository/ecr-api-dev1"
        );
        let logs = st
            .iter()
            .find(|s| as_list(&s["Action"]).contains(&"logs:PutLogEvents".to_string()))
            .unwrap();
        let log_resources = as_list(&logs["Resource"]);
        assert!(log_resources
            .contains(&"arn:aws:logs:ap-southeast-2:123456789012:log-group:/provision/dev1/app:*".to_string()));
        assert!(
            log_resources.iter().all(|r| r.contains("/provision/dev1/")),
            "{log_resources:?}"
        );
    }

    #[test]
    fn exec_policy_decrypts_only_with_the_given_key() {
        let (cx, scoped) = stack_ctx(&["--kms-key-arn", KMS]);
        let doc = exec_policy(&cx, ACCOUNT).unwrap();
        check_least_privilege(&doc, &scoped);
        let st = doc["Statement"].as_array().unwrap();
        let kms = st.iter().find(|s| s["Action"] == "kms:Decrypt").expect("kms statement");
        assert_eq!(kms["Resource"], KMS);
    }

    #[test]
    fn exec_policy_needs_its_dependencies() {
        let cx = crate::testing::ctx(&[]);
        assert!(exec_policy(&cx, ACCOUNT).is_err());
    }

    #[test]
    fn task_policy_writes_traces_and_exec_channels_only_when_enabled() {
        let (cx, scoped) = stack_ctx(&[]);
        let doc = task_policy(&cx, ACCOUNT).unwrap();
        check_least_privilege(&doc, &scoped);
        assert!(!doc.to_string().contains("ssmmessages"));
        let all: Vec<String> = doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| as_list(&s["Action"]))
            .collect();
        assert_eq!(all, XRAY_ACTIONS.map(String::from).to_vec());

        let (cx, scoped) = stack_ctx(&["--enable-exec"]);
        let doc = task_policy(&cx, ACCOUNT).unwrap();
        check_least_privilege(&doc, &scoped);
        let all: Vec<String> = doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| as_list(&s["Action"]))
            .collect();
        for a in EXEC_ACTIONS {
            assert!(all.contains(&a.to_string()), "{a}");
        }
        assert_eq!(all.len(), XRAY_ACTIONS.len() + EXEC_ACTIONS.len());
    }

    #[test]
    fn the_checker_rejects_what_it_must() {
        let scoped = vec!["arn:aws:ecr:ap-southeast-2:1:repository/x".to_string()];
        for bad in [
            json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
            json!({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": scoped[0]}]}),
            json!({"Statement": [{"Effect": "Allow", "Action": "ecr:BatchGetImage", "Resource": "*"}]}),
            json!({"Statement": [{"Effect": "Allow", "Action": "ecr:BatchGetImage", "Resource": "arn:aws:ecr:ap-southeast-2:1:repository/other"}]}),
        ] {
            let r = std::panic::catch_unwind(|| check_least_privilege(&bad, &scoped));
            assert!(r.is_err(), "accepted {bad}");
        }
    }

    #[test]
    fn the_roles_trust_the_right_services_and_use_no_full_access_policy() {
        let cx = crate::testing::ctx(&[]);
        let steps = steps(&cx.settings);
        let ids: Vec<&str> = steps.iter().map(|s| s.id()).collect();
        assert_eq!(ids, ["role-exec", "role-task", "role-ecs-infra"]);
        assert!(steps[0].deps().contains(&Dep::id("secret-db-credentials")));
        let infra = Role {
            id: "role-ecs-infra",
            purpose: "ecsinfra",
            service: "ecs.amazonaws.com",
            deps: vec![],
            managed: vec!["AmazonECSInfrastructureRolePolicyForLoadBalancers"],
            policy: no_inline_policy,
        };
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
