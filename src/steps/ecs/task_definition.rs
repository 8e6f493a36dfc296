//! The task definition: the app container and the ADOT collector sidecar,
//! on Fargate. Calls RegisterTaskDefinition (a new revision whenever the
//! wanted definition differs), DescribeTaskDefinition (drift),
//! DeregisterTaskDefinition and DeleteTaskDefinitions (destroy); found
//! through ListTaskDefinitions.

use super::discovery::{latest_revision, revisions, services};
use super::task_fingerprint::{described_fingerprint, fingerprint_diff};
use super::task_inputs::TaskInputs;
use super::{family, DEFAULT_TAG};
use crate::aws::wait::{self, Backoff};
use crate::aws::{tags, AwsError, AwsResultExt};
use crate::state::Record;
use crate::steps::registry::{image_exists, repo_name};
use crate::steps::{ids, Ctx, Dep, Step, StepResult};
use async_trait::async_trait;
use aws_sdk_ecs::types::{
    Compatibility, CpuArchitecture, NetworkMode, OsFamily, RuntimePlatform, TaskDefinition, TaskDefinitionStatus,
    Volume,
};

/// Registers a revision of the family from `inputs`; returns its ARN.
pub async fn register(cx: &Ctx, inputs: &TaskInputs) -> StepResult<String> {
    let out = wait::retry_while(crate::aws::ErrorClass::NotYetPropagated, Backoff::IAM, || async {
        cx.aws
            .ecs
            .register_task_definition()
            .family(&inputs.family)
            .network_mode(NetworkMode::Awsvpc)
            .requires_compatibilities(Compatibility::Fargate)
            // A Fargate CPU/memory pair ("Task CPU and memory", ECS developer
            // guide), checked when the settings are validated.
            .cpu(inputs.cpu.to_string())
            .memory(inputs.memory.to_string())
            .runtime_platform(
                RuntimePlatform::builder()
                    .operating_system_family(OsFamily::Linux)
                    .cpu_architecture(CpuArchitecture::X8664)
                    .build(),
            )
            .execution_role_arn(&inputs.exec_role)
            .task_role_arn(&inputs.task_role)
            .set_container_definitions(Some(inputs.containers()?))
            .volumes(Volume::builder().name(super::task_inputs::APP_SCRATCH_VOLUME).build())
            .volumes(Volume::builder().name(super::task_inputs::OTEL_SCRATCH_VOLUME).build())
            .set_tags(Some(tags::ecs(cx.tags(&inputs.family, ids::TASK_DEF))))
            .send()
            .await
            .aws("RegisterTaskDefinition")
    })
    .await?;
    Ok(out
        .task_definition()
        .and_then(|t| t.task_definition_arn())
        .unwrap_or_default()
        .to_owned())
}

/// The revision `arn` as AWS describes it.
pub async fn describe_task_definition(cx: &Ctx, arn: &str) -> StepResult<TaskDefinition> {
    // A revision never changes, so one answer per ARN serves the whole run
    // (the drift check and `status`'s image line ask for the same one).
    let td = cx
        .inventory
        .get(format!("ecs:task-definition:{arn}"), || async {
            let out = cx
                .aws
                .ecs
                .describe_task_definition()
                .task_definition(arn)
                .send()
                .await
                .aws("DescribeTaskDefinition")?;
            out.task_definition().cloned().ok_or_else(|| {
                AwsError::custom(
                    "DescribeTaskDefinition",
                    "EmptyResponse",
                    format!("no task definition {arn}"),
                )
            })
        })
        .await?;
    Ok((*td).clone())
}

pub struct TaskDef {
    /// The image comes from the stack's ECR repository (no `--image`).
    pub own_image: bool,
}

impl TaskDef {
    /// Whether the tag is in the stack's repository (an `--image` elsewhere
    /// is the operator's to vouch for).
    async fn image_present(&self, cx: &Ctx) -> StepResult<bool> {
        if !self.own_image {
            return Ok(true);
        }
        image_exists(cx, &cx.settings.image_tag).await
    }
}

/// A revision is never registered for a tag that was asked for and is not
/// in the registry: the step stops first, naming the tag and the
/// repository. Only the default tag of a fresh stack may be missing (the
/// service then runs no task until `image push` and `deploy`).
fn refuse_missing_tag(cx: &Ctx, present: bool) -> StepResult<()> {
    if present || cx.settings.image_tag == DEFAULT_TAG {
        return Ok(());
    }
    Err(AwsError::custom(
        "RegisterTaskDefinition",
        "ImageNotFound",
        format!(
            "the repository {} has no image tagged `{}`; nothing was registered\n  hint: push it first: provision image push --suffix {} --tag {}",
            repo_name(cx),
            cx.settings.image_tag,
            cx.suffix(),
            cx.settings.image_tag
        ),
    ))
}

#[async_trait]
impl Step for TaskDef {
    fn id(&self) -> &str {
        ids::TASK_DEF
    }
    fn kind(&self) -> &'static str {
        "task-definition"
    }
    fn deps(&self) -> Vec<Dep> {
        let mut d: Vec<Dep> = [
            ids::ROLE_EXEC,
            ids::ROLE_TASK,
            ids::LOG_APP,
            ids::LOG_OTEL,
            ids::SECRET_DB_CONNECTION,
            ids::SECRET_DB_CREDENTIALS,
            ids::DDB_IDEMPOTENCY,
        ]
        .into_iter()
        .map(Dep::id)
        .collect();
        if self.own_image {
            d.push(ids::ECR_REPO.into());
        }
        d
    }

    /// The revision the service runs, else the newest: after a `rollback`
    /// the service rightly runs an older revision than the newest, and that
    /// is the one the settings (which `rollback` recorded) describe.
    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        let fam = family(cx);
        let running = services(cx)
            .await?
            .first()
            .and_then(|s| s.task_definition())
            .filter(|td| {
                td.rsplit_once(':')
                    .is_some_and(|(base, _)| base.ends_with(&format!("/{fam}")))
            })
            .map(str::to_owned);
        let arn = match running {
            Some(arn) => arn,
            None => match latest_revision(cx, &fam).await? {
                Some(arn) => arn,
                None => return Ok(None),
            },
        };
        let present = self.image_present(cx).await?;
        Ok(Some(
            Record::new(arn)
                .with("family", family(cx))
                .with("image_present", present.to_string()),
        ))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let present = self.image_present(cx).await?;
        let inputs = TaskInputs::from_ctx(cx)?;
        refuse_missing_tag(cx, present)?;
        let arn = register(cx, &inputs).await?;
        Ok(Record::new(arn)
            .with("family", inputs.family)
            .with("image", inputs.image)
            .with("image_present", present.to_string()))
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let inputs = TaskInputs::from_ctx(cx)?;
        let want = inputs.desired_fingerprint()?;
        let have = described_fingerprint(&describe_task_definition(cx, &rec.id).await?);
        if have == want {
            return Ok(vec![]);
        }
        let mut drift = fingerprint_diff(&have, &want);
        if drift.is_empty() {
            drift.push("definition differs".into());
        }
        if fix {
            let present = rec.attr("image_present") != Some("false");
            refuse_missing_tag(cx, present)?;
            let arn = register(cx, &inputs).await?;
            drift.push(format!("registered {arn}"));
            // The service step reads this record to roll the new revision out.
            cx.set_record(
                ids::TASK_DEF,
                Record::new(arn)
                    .with("family", inputs.family)
                    .with("image", inputs.image)
                    .with("image_present", present.to_string()),
            );
        }
        Ok(drift)
    }

    async fn destroy(&self, cx: &Ctx, _rec: &Record) -> StepResult<()> {
        let fam = family(cx);
        let active = revisions(cx, &fam, TaskDefinitionStatus::Active).await?;
        for arn in &active {
            let r = cx
                .aws
                .ecs
                .deregister_task_definition()
                .task_definition(arn)
                .send()
                .await
                .aws("DeregisterTaskDefinition");
            match r {
                Err(e) if e.is_not_found() || e.code_is("ClientException") => {}
                r => {
                    r?;
                }
            }
        }
        // Deregistered revisions stay listed (and tagged) until deleted.
        let inactive = revisions(cx, &fam, TaskDefinitionStatus::Inactive).await?;
        for chunk in inactive.chunks(10) {
            let r = cx
                .aws
                .ecs
                .delete_task_definitions()
                .set_task_definitions(Some(chunk.to_vec()))
                .send()
                .await
                .aws("DeleteTaskDefinitions");
            if let Err(e) = r {
                // Deregistered is enough for the service to be gone; an old
                // API without DeleteTaskDefinitions should not fail `down`.
                tracing::warn!(error = %e, "could not delete deregistered task definitions");
            }
        }
        Ok(())
    }
}
