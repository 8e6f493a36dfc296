//! The connection secret's resource policy: nobody but the stack's roles
//! may read its value (`secretsmanager:GetSecretValue`), whatever their IAM
//! policies allow (AWS Security Hub SecretsManager controls; Secrets
//! Manager User Guide, "Resource-based policies"). A step of its own: the
//! policy names the roles, and the execution role's policy names the
//! secret. The RDS-managed credentials secret stays RDS's to manage. APIs:
//! `GetResourcePolicy`, `PutResourcePolicy` (with `BlockPublicPolicy`),
//! `DeleteResourcePolicy`.

use crate::aws::{AwsResultExt, NotFoundExt};
use crate::state::Record;
use crate::steps::{ids, Ctx, Dep, Step, StepResult};
use async_trait::async_trait;
use serde_json::{json, Value};

pub struct ConnectionSecretPolicy;

/// Denies every read of the secret's value by a principal that is not one
/// of `readers` (the stack's task execution role, which injects it, and
/// its task role).
pub fn secret_policy(readers: &[String]) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "OnlyTheStackReadsTheValue",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:PrincipalArn": readers}}
        }]
    })
}

impl ConnectionSecretPolicy {
    fn want(cx: &Ctx) -> StepResult<Value> {
        let readers = [ids::ROLE_EXEC, ids::ROLE_TASK]
            .iter()
            .map(|r| cx.attr(r, "arn"))
            .collect::<StepResult<Vec<_>>>()?;
        Ok(secret_policy(&readers))
    }

    async fn put(cx: &Ctx, secret: &str) -> StepResult<()> {
        cx.aws
            .secrets
            .put_resource_policy()
            .secret_id(secret)
            .resource_policy(Self::want(cx)?.to_string())
            .block_public_policy(true)
            .send()
            .await
            .aws("PutResourcePolicy")?;
        Ok(())
    }
}

#[async_trait]
impl Step for ConnectionSecretPolicy {
    fn id(&self) -> &str {
        ids::SECRET_DB_CONNECTION_POLICY
    }
    fn kind(&self) -> &'static str {
        "secret-policy"
    }
    fn deps(&self) -> Vec<Dep> {
        [ids::SECRET_DB_CONNECTION, ids::ROLE_EXEC, ids::ROLE_TASK]
            .map(Dep::id)
            .to_vec()
    }

    /// Present when the stack's connection secret has a resource policy.
    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        let Some(secret) = super::discovery::secrets(cx)
            .await?
            .iter()
            .find(|s| s.name() == Some(super::ConnectionSecret::name(cx).as_str()))
            .and_then(|s| s.arn().map(str::to_owned))
        else {
            return Ok(None);
        };
        let out = cx
            .aws
            .secrets
            .get_resource_policy()
            .secret_id(&secret)
            .send()
            .await
            .aws("GetResourcePolicy")
            .or_not_found()?;
        Ok(out
            .and_then(|o| o.resource_policy().map(str::to_owned))
            .map(|p| Record::new(&secret).with("policy", p)))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let secret = cx.attr(ids::SECRET_DB_CONNECTION, "arn")?;
        Self::put(cx, &secret).await?;
        Ok(Record::new(secret).with("policy", Self::want(cx)?.to_string()))
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let have: Option<Value> = rec.attr("policy").and_then(|p| serde_json::from_str(p).ok());
        if have.as_ref() == Some(&Self::want(cx)?) {
            return Ok(Vec::new());
        }
        if fix {
            Self::put(cx, &rec.id).await?;
        }
        Ok(vec![
            "the secret's resource policy differs (only the stack's roles may read it)".into(),
        ])
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        cx.aws
            .secrets
            .delete_resource_policy()
            .secret_id(&rec.id)
            .send()
            .await
            .aws("DeleteResourcePolicy")
            .or_not_found()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_named_roles_read_the_value() {
        let roles = vec![
            "arn:aws:iam::1:role/role-exec-x".to_string(),
            "arn:aws:iam::1:role/role-task-x".to_string(),
        ];
        let p = secret_policy(&roles);
        let st = &p["Statement"][0];
        assert_eq!(st["Effect"], "Deny");
        assert_eq!(st["Action"], "secretsmanager:GetSecretValue");
        assert_eq!(st["Condition"]["StringNotEquals"]["aws:PrincipalArn"], json!(roles));
        // Nothing is allowed by the policy itself: it cannot make the secret public.
        assert!(p["Statement"].as_array().unwrap().iter().all(|s| s["Effect"] == "Deny"));
    }
}
