//! Rolling a revision out on the ECS service and judging where the rollout
//! stands: UpdateService to start it, then DescribeServices and
//! DescribeServiceDeployments (native blue/green) to follow it. What
//! `provision deploy` is made of; the judging itself is pure.

use super::discovery::describe_service;
use super::{cluster_name, service_name};
use crate::aws::AwsResultExt;
use crate::steps::{Ctx, StepResult};
use aws_sdk_ecs::types::Service as EcsService;

/// Where a rollout stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollout {
    InProgress,
    /// Completed; the deployment id.
    Done(String),
    /// Failed or rolled back; why.
    Failed(String),
}

/// Judges a rollout of `target` from DescribeServices alone.
pub fn judge(svc: &EcsService, target: &str) -> Rollout {
    use aws_sdk_ecs::types::DeploymentRolloutState as S;
    if let Some(d) = svc.deployments().iter().find(|d| d.task_definition() == Some(target)) {
        let id = d.id().unwrap_or_default().to_owned();
        return match d.rollout_state() {
            Some(S::Completed) => Rollout::Done(id),
            Some(S::Failed) => Rollout::Failed(format!(
                "deployment {id} failed: {}",
                d.rollout_state_reason().unwrap_or("no reason given")
            )),
            _ => Rollout::InProgress,
        };
    }
    if svc.task_definition() != Some(target) {
        return Rollout::Failed(format!(
            "the service was rolled back to {}",
            svc.task_definition().unwrap_or("its previous revision")
        ));
    }
    // The service runs the target but lists no deployment for it (a
    // consolidated history): settled when everything is completed.
    let settled = svc
        .deployments()
        .iter()
        .all(|d| d.rollout_state() == Some(&S::Completed))
        && svc.running_count() == svc.desired_count();
    match svc.deployments().iter().find(|d| d.status() == Some("PRIMARY")) {
        Some(p) if settled => Rollout::Done(p.id().unwrap_or_default().to_owned()),
        _ => Rollout::InProgress,
    }
}

/// Judges a native blue/green service deployment.
pub fn judge_service_deployment(d: &aws_sdk_ecs::types::ServiceDeployment) -> Rollout {
    use aws_sdk_ecs::types::ServiceDeploymentStatus as S;
    let arn = d.service_deployment_arn().unwrap_or_default().to_owned();
    let reason = d.status_reason().unwrap_or("no reason given");
    // A rollback the deployment alarms caused names them.
    let triggered = d.alarms().map(|a| a.triggered_alarm_names()).unwrap_or_default();
    let why = if triggered.is_empty() {
        reason.to_owned()
    } else {
        format!("the alarm(s) {} went into ALARM ({reason})", triggered.join(", "))
    };
    match d.status() {
        Some(S::Successful) => Rollout::Done(arn),
        Some(S::RollbackSuccessful) => Rollout::Failed(format!("deployment {arn} was rolled back: {why}")),
        Some(S::RollbackFailed) => {
            Rollout::Failed(format!("deployment {arn} failed and its rollback failed too: {why}"))
        }
        Some(S::Stopped) => Rollout::Failed(format!("deployment {arn} was stopped: {why}")),
        _ => Rollout::InProgress,
    }
}

/// Starts a deployment of `target` on the service (`force` starts fresh
/// tasks even when the service already runs `target`, e.g. a moved mutable
/// image tag). Returns the id of the deployment ECS started for `target`,
/// or an empty string when the answer names none.
pub async fn start(cx: &Ctx, target: &str, force: bool) -> StepResult<String> {
    // A service that ran no task (its image was not in the registry yet)
    // starts the configured number with its first deployed image.
    let idle = describe_service(cx).await?.is_some_and(|s| s.desired_count() == 0);
    let out = cx
        .aws
        .ecs
        .update_service()
        .cluster(cluster_name(cx))
        .service(service_name(cx))
        .task_definition(target)
        .set_desired_count(idle.then_some(super::DESIRED_COUNT))
        // Same definition (a moved mutable tag): start fresh tasks anyway.
        .force_new_deployment(force)
        .send()
        .await
        .aws("UpdateService")?;
    Ok(out
        .service()
        .and_then(|s| s.deployments().iter().find(|d| d.task_definition() == Some(target)))
        .and_then(|d| d.id())
        .unwrap_or("")
        .to_owned())
}

/// Where the rollout of `target` stands now. `before` is the service
/// deployment that was current before the rollout started: only a newer one
/// speaks for this rollout.
pub async fn progress(cx: &Ctx, target: &str, before: Option<&str>) -> StepResult<Rollout> {
    let Some(svc) = describe_service(cx).await? else {
        return Ok(Rollout::Failed("the service is no longer active".into()));
    };
    // Native blue/green: the service deployment has the authoritative status.
    if let Some(arn) = svc.current_service_deployment().filter(|a| Some(*a) != before) {
        let out = cx
            .aws
            .ecs
            .describe_service_deployments()
            .service_deployment_arns(arn)
            .send()
            .await
            .aws("DescribeServiceDeployments")?;
        if let Some(d) = out.service_deployments().first() {
            return Ok(judge_service_deployment(d));
        }
    }
    Ok(judge(&svc, target))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::{Deployment, DeploymentRolloutState};

    fn svc(td: &str, deployments: Vec<Deployment>, running: i32) -> EcsService {
        EcsService::builder()
            .service_name("svc-api-dev1")
            .task_definition(td)
            .desired_count(2)
            .running_count(running)
            .set_deployments(Some(deployments))
            .build()
    }

    fn dep(id: &str, td: &str, status: &str, state: DeploymentRolloutState) -> Deployment {
        Deployment::builder()
            .id(id)
            .task_definition(td)
            .status(status)
            .rollout_state(state)
            .build()
    }

    #[test]
    fn an_alarm_rollback_is_a_failure_that_names_the_alarm() {
        use aws_sdk_ecs::types::{ServiceDeployment, ServiceDeploymentAlarms, ServiceDeploymentStatus};
        let d = ServiceDeployment::builder()
            .service_deployment_arn("arn:sd/1")
            .status(ServiceDeploymentStatus::RollbackSuccessful)
            .status_reason("Service deployment rolled back because of alarms")
            .alarms(
                ServiceDeploymentAlarms::builder()
                    .alarm_names("alarm-5xx-dev1")
                    .alarm_names("alarm-unhealthy-dev1")
                    .triggered_alarm_names("alarm-5xx-dev1")
                    .build(),
            )
            .build();
        let Rollout::Failed(why) = judge_service_deployment(&d) else {
            panic!("an alarm rollback must fail the deployment")
        };
        assert!(
            why.contains("rolled back") && why.contains("alarm-5xx-dev1") && !why.contains("unhealthy"),
            "{why}"
        );
        // Without triggered alarms, the reason alone.
        let plain = ServiceDeployment::builder()
            .service_deployment_arn("arn:sd/2")
            .status(ServiceDeploymentStatus::RollbackSuccessful)
            .status_reason("circuit breaker")
            .build();
        assert!(matches!(judge_service_deployment(&plain), Rollout::Failed(w) if w.ends_with("circuit breaker")));
    }

    #[test]
    fn rollouts_are_judged_from_the_deployments() {
        use DeploymentRolloutState as S;
        let s = svc(
            "td:2",
            vec![
                dep("d2", "td:2", "PRIMARY", S::InProgress),
                dep("d1", "td:1", "ACTIVE", S::Completed),
            ],
            2,
        );
        assert_eq!(judge(&s, "td:2"), Rollout::InProgress);
        let s = svc("td:2", vec![dep("d2", "td:2", "PRIMARY", S::Completed)], 2);
        assert_eq!(judge(&s, "td:2"), Rollout::Done("d2".into()));
        let s = svc("td:1", vec![dep("d2", "td:2", "ACTIVE", S::Failed)], 2);
        assert!(matches!(judge(&s, "td:2"), Rollout::Failed(w) if w.contains("d2")));
        let s = svc("td:1", vec![dep("d3", "td:1", "PRIMARY", S::Completed)], 2);
        assert!(matches!(judge(&s, "td:2"), Rollout::Failed(w) if w.contains("rolled back")));
        // The service runs the target; history consolidated into one deployment.
        let s = svc("td:2", vec![dep("d1", "td:1", "PRIMARY", S::Completed)], 2);
        assert_eq!(judge(&s, "td:2"), Rollout::Done("d1".into()));
        let s = svc("td:2", vec![dep("d1", "td:1", "PRIMARY", S::Completed)], 1);
        assert_eq!(judge(&s, "td:2"), Rollout::InProgress);
    }
}
