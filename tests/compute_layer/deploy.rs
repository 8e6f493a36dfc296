//! `deploy` on the complete stack: a tag missing from the registry is
//! refused before any revision; a pushed one is rolled out as a new
//! revision, starting the configured tasks.

use crate::common::*;
use crate::{active_task_definitions, service_resource_id};

/// Deploys `v2`, first before and then after it is in the registry.
pub async fn check_deploy(aws: &provision::aws::Clients, stack: &Stack) {
    let family = stack.name("task", "api");
    let rid = service_resource_id(stack);
    // ------------------------------------------------ deploy
    // A tag that is not in the registry is refused before any revision.
    let out = stack.run("deploy", &["--image-tag", "v2", "--timeout", "120"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("is not in the repository"), "{}", stderr(&out));
    assert_eq!(active_task_definitions(aws, &family).await.len(), 1);
    put_image(aws, &stack.name("ecr", "api"), "v2").await;
    let report = stack.ok("deploy", &["--image-tag", "v2", "--timeout", "120"]);
    assert!(
        report.contains("deployment ") && report.contains("completed"),
        "{report}"
    );
    let revisions = active_task_definitions(aws, &family).await;
    assert_eq!(revisions.len(), 2, "deploy registered a revision: {revisions:?}");
    let newest = revisions
        .iter()
        .max_by_key(|a| a.rsplit(':').next().unwrap().parse::<u32>().unwrap())
        .unwrap();
    assert!(report.contains(newest.as_str()), "{report}");
    let td = aws
        .ecs
        .describe_task_definition()
        .task_definition(newest)
        .send()
        .await
        .unwrap();
    let app = td
        .task_definition()
        .unwrap()
        .container_definitions()
        .iter()
        .find(|c| c.name() == Some("app"))
        .unwrap()
        .clone();
    assert!(app.image().unwrap().ends_with(":v2"), "{:?}", app.image());
    let svc = aws
        .ecs
        .describe_services()
        .cluster(stack.name("ecs", "api"))
        .services(stack.name("svc", "api"))
        .send()
        .await
        .unwrap();
    assert_eq!(svc.services()[0].task_definition(), Some(newest.as_str()));
    // The first deployed image starts the configured tasks, and auto
    // scaling's floor is back at 2.
    assert_eq!(svc.services()[0].desired_count(), 2);
    let targets = aws
        .autoscaling
        .describe_scalable_targets()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
        .resource_ids(&rid)
        .send()
        .await
        .unwrap();
    assert_eq!(targets.scalable_targets()[0].min_capacity(), 2);
}
