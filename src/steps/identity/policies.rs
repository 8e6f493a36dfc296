//! The inline IAM policy documents of the app roles (sent with
//! `PutRolePolicy` by the role step): the task execution role's, the task
//! role's, and "none" for roles that carry only AWS-managed policies.

use crate::steps::{ids, Ctx, StepResult};
use serde_json::{json, Value};

/// The task execution role: what the ECS agent does on the task's behalf.
/// Every resource is one of this stack's ARNs, except
/// `ecr:GetAuthorizationToken`, which has no resource-level permissions
/// (AWS requires `"Resource": "*"` for it).
pub fn exec_policy(cx: &Ctx, _account: &str) -> StepResult<Value> {
    let repo = cx.attr(ids::ECR_REPO, "arn")?;
    let mut logs = Vec::new();
    for step in [ids::LOG_APP, ids::LOG_OTEL] {
        let arn = cx.attr(step, "arn")?;
        let arn = arn.trim_end_matches(":*").to_owned();
        logs.push(json!(format!("{arn}:*")));
        logs.push(json!(arn));
    }
    // Only the connection secret is injected (host, port, name); the
    // credentials are the app's to read (the task role's grant).
    let secrets = vec![cx.attr(ids::SECRET_DB_CONNECTION, "arn")?];
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
    // The app's own secrets (`--secret KEY=ARN[:json-key]`): ECS reads them
    // with this role when a task starts ("Required IAM permissions for
    // Amazon ECS secrets", ECS developer guide). A secret encrypted with a
    // customer managed key also needs kms:Decrypt on that key, which the
    // key's own policy can grant to this role.
    let app: Vec<String> = cx
        .settings
        .secrets
        .values()
        .flat_map(|s| s.policy_resources())
        .collect();
    if !app.is_empty() {
        statements.push(json!({
            "Sid": "AppSecrets",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": app
        }));
    }
    if let Some(key) = &cx.settings.kms_key_arn {
        statements.push(decrypt_via(
            "DecryptWithStackKey",
            key,
            &["secretsmanager", "ecr"],
            cx.region(),
        ));
    }
    Ok(json!({"Version": "2012-10-17", "Statement": statements}))
}

/// `kms:Decrypt` with the stack's key, only through these services of the
/// region (`kms:ViaService`, AWS KMS Developer Guide, "AWS KMS condition
/// keys"). One service is written as a string, as the policies already in
/// place have it, so they do not read as changed.
fn decrypt_via(sid: &str, key: &str, services: &[&str], region: &str) -> Value {
    let mut via: Vec<Value> = services
        .iter()
        .map(|s| Value::from(format!("{s}.{region}.amazonaws.com")))
        .collect();
    let via = if via.len() == 1 {
        via.remove(0)
    } else {
        Value::from(via)
    };
    json!({
        "Sid": sid,
        "Effect": "Allow",
        "Action": "kms:Decrypt",
        "Resource": key,
        "Condition": {"StringEquals": {"kms:ViaService": via}}
    })
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
pub fn task_policy(cx: &Ctx, account: &str) -> StepResult<Value> {
    let partition = crate::aws::partition(cx.region());
    let cluster = cx.rec(ids::DB_CLUSTER)?;
    let resource_id = cluster.attr("resource_id").unwrap_or_default();
    let mut statements = vec![
        json!({
            "Sid": "WriteTraces",
            "Effect": "Allow",
            "Action": XRAY_ACTIONS,
            "Resource": "*"
        }),
        // The app reads the admin credentials when its pool opens a
        // connection (so it survives the secret's rotation) to run the
        // migrations, and logs in as its own role with IAM auth tokens.
        json!({
            "Sid": "ReadDatabaseCredentials",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": cx.attr(ids::SECRET_DB_CREDENTIALS, "arn")?
        }),
    ];
    // RDS user guide, "Creating and using an IAM policy for IAM database
    // access": arn:aws:rds-db:REGION:ACCOUNT:dbuser:DbClusterResourceId/USER.
    if !resource_id.is_empty() {
        statements.push(json!({
            "Sid": "ConnectAsTheAppRole",
            "Effect": "Allow",
            "Action": "rds-db:connect",
            "Resource": format!("arn:{partition}:rds-db:{}:{account}:dbuser:{resource_id}/{APP_DB_USER}", cx.region())
        }));
    }
    // The idempotency keys of the API's writes (container/app): these four
    // item actions on the stack's table only (no Query, Scan or batch).
    statements.push(json!({
        "Sid": "IdempotencyKeys",
        "Effect": "Allow",
        "Action": IDEMPOTENCY_ACTIONS,
        "Resource": cx.attr(ids::DDB_IDEMPOTENCY, "arn")?
    }));
    // The table is encrypted with the stack's key (or --kms-key-arn), whose
    // policy leaves its use to IAM: DynamoDB uses it for the caller.
    let table_key = match &cx.settings.kms_key_arn {
        Some(k) => k.clone(),
        None => cx.attr(ids::KMS_ALARMS, "arn")?,
    };
    statements.push(json!({
        "Sid": "UseTheTableKey",
        "Effect": "Allow",
        "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
        "Resource": table_key,
        "Condition": {"StringEquals": {"kms:ViaService": format!("dynamodb.{}.amazonaws.com", cx.region())}}
    }));
    if let Some(key) = &cx.settings.kms_key_arn {
        statements.push(decrypt_via(
            "DecryptTheCredentials",
            key,
            &["secretsmanager"],
            cx.region(),
        ));
    }
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

/// What the API does with its idempotency table.
pub const IDEMPOTENCY_ACTIONS: [&str; 4] = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
];

/// The database role the app's migrations create and its queries run as.
pub const APP_DB_USER: &str = "catalog_app";

/// The ECS infrastructure role carries only its AWS-managed policy.
pub fn no_inline_policy(_cx: &Ctx, _account: &str) -> StepResult<Value> {
    Ok(Value::Null)
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
            (ids::ECR_REPO, "arn:aws:ecr:ap-southeast-2:123456789012:repository/ecr-api-dev1"),
            (ids::LOG_APP, "arn:aws:logs:ap-southeast-2:123456789012:log-group:/provision/dev1/app"),
            (ids::LOG_OTEL, "arn:aws:logs:ap-southeast-2:123456789012:log-group:/provision/dev1/otel-collector"),
            (ids::SECRET_DB_CONNECTION, "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:db-connection-dev1-AbCdEf"),
            (
                ids::SECRET_DB_CREDENTIALS,
                "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:rds!cluster-0a1b2c3d-aaaa-bbbb-cccc-0123456789ab-XyZ123",
            ),
            (ids::DDB_IDEMPOTENCY, "arn:aws:dynamodb:ap-southeast-2:123456789012:table/ddb-idempotency-dev1"),
            (ids::KMS_ALARMS, "arn:aws:kms:ap-southeast-2:123456789012:key/stack-key"),
        ];
        let mut scoped = Vec::new();
        for (step, arn) in arns {
            cx.set_record(step, Record::new(step).with("arn", arn));
            scoped.push(arn.to_string());
            scoped.push(format!("{arn}:*"));
        }
        cx.set_record(
            ids::DB_CLUSTER,
            Record::new("aurora-catalog-dev1").with("resource_id", "cluster-ABCDEFGHIJKL"),
        );
        scoped.push(format!(
            "arn:aws:rds-db:ap-southeast-2:123456789012:dbuser:cluster-ABCDEFGHIJKL/{APP_DB_USER}"
        ));
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
        // Only the connection secret: the credentials are the app's to read.
        assert_eq!(as_list(&secrets["Resource"]).len(), 1);
        assert!(as_list(&secrets["Resource"])[0].contains("db-connection-dev1"));
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

    /// Every action the document allows, in statement order.
    fn actions(doc: &Value) -> Vec<String> {
        doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| as_list(&s["Action"]))
            .collect()
    }

    #[test]
    fn task_policy_writes_traces_and_exec_channels_only_when_enabled() {
        let (cx, scoped) = stack_ctx(&[]);
        let doc = task_policy(&cx, ACCOUNT).unwrap();
        check_least_privilege(&doc, &scoped);
        assert!(!doc.to_string().contains("ssmmessages"));
        let all = actions(&doc);
        let mut want = XRAY_ACTIONS.map(String::from).to_vec();
        want.extend([
            "secretsmanager:GetSecretValue".to_string(),
            "rds-db:connect".to_string(),
        ]);
        want.extend(IDEMPOTENCY_ACTIONS.map(String::from));
        want.extend(["kms:Decrypt".to_string(), "kms:GenerateDataKey".to_string()]);
        assert_eq!(all, want);
        let table = doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == "IdempotencyKeys")
            .unwrap();
        assert_eq!(
            table["Resource"], "arn:aws:dynamodb:ap-southeast-2:123456789012:table/ddb-idempotency-dev1",
            "the stack's table only"
        );
        let st = doc["Statement"].as_array().unwrap();
        let connect = st.iter().find(|s| s["Action"] == "rds-db:connect").unwrap();
        assert_eq!(
            connect["Resource"],
            "arn:aws:rds-db:ap-southeast-2:123456789012:dbuser:cluster-ABCDEFGHIJKL/catalog_app"
        );
        let read = st
            .iter()
            .find(|s| s["Action"] == "secretsmanager:GetSecretValue")
            .unwrap();
        assert!(read["Resource"].as_str().unwrap().contains("rds!cluster"));

        let (cx, scoped) = stack_ctx(&["--enable-exec"]);
        let doc = task_policy(&cx, ACCOUNT).unwrap();
        check_least_privilege(&doc, &scoped);
        let all = actions(&doc);
        for a in EXEC_ACTIONS {
            assert!(all.contains(&a.to_string()), "{a}");
        }
        assert_eq!(
            all.len(),
            XRAY_ACTIONS.len() + EXEC_ACTIONS.len() + IDEMPOTENCY_ACTIONS.len() + 4
        );
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
}

#[cfg(test)]
mod app_secret_tests {
    use super::*;
    use crate::state::Record;

    /// The exec policy for these flags, with the dependencies it names.
    fn policy(flags: &[&str]) -> Value {
        let cx = crate::testing::ctx(flags);
        for (step, a) in [
            (
                ids::ECR_REPO,
                "arn:aws:ecr:ap-southeast-2:123456789012:repository/ecr-api-dev1",
            ),
            (
                ids::LOG_APP,
                "arn:aws:logs:ap-southeast-2:123456789012:log-group:/provision/dev1/app",
            ),
            (
                ids::LOG_OTEL,
                "arn:aws:logs:ap-southeast-2:123456789012:log-group:/provision/dev1/otel",
            ),
            (
                ids::SECRET_DB_CONNECTION,
                "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:c-AbCdEf",
            ),
        ] {
            cx.set_record(step, Record::new(step).with("arn", a));
        }
        exec_policy(&cx, "123456789012").unwrap()
    }

    #[test]
    fn the_exec_role_may_read_exactly_the_apps_secrets() {
        let arn = "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:payments";
        let p = policy(&["--secret", &format!("STRIPE_KEY={arn}:api_key")]);
        let st = p["Statement"].as_array().unwrap();
        let app = st
            .iter()
            .find(|s| s["Sid"] == "AppSecrets")
            .expect("a statement for the app's secrets");
        assert_eq!(app["Action"], "secretsmanager:GetSecretValue");
        assert_eq!(app["Resource"], serde_json::json!([arn, format!("{arn}-??????")]));
        let p = policy(&[]);
        assert!(p["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["Sid"] != "AppSecrets"));
    }
}
