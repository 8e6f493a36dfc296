//! `deploy` on the complete stack: a tag missing from the registry is
//! refused before any revision; a pushed one is rolled out as a new
//! revision, starting the configured tasks.

use crate::common::*;
use crate::service_scalable_targets;

/// Deploys `v2`, first before and then after it is in the registry.
pub async fn check_deploy(aws: &provision::aws::Clients, stack: &Stack) {
    let family = stack.name("task", "api");
    // A tag that is not in the registry is refused before any revision.
    let out = stack.run("deploy", &["--image-tag", "v2", "--timeout", "120"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_stderr_has(&out, &["is not in the repository"]);
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
    let app = app_container(aws, newest).await;
    assert!(app.image().unwrap().ends_with(":v2"), "{:?}", app.image());
    let svc = ecs_service(aws, &stack.suffix).await;
    assert_eq!(svc.task_definition(), Some(newest.as_str()));
    // The first deployed image starts the configured tasks, and auto
    // scaling's floor is back at 2.
    assert_eq!(svc.desired_count(), 2);
    assert_eq!(service_scalable_targets(aws, stack).await[0].min_capacity(), 2);
}
