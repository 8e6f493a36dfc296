//! The service's deployments: native blue/green with a bake time, the
//! circuit breaker and the CloudWatch deployment alarms, all rolling back;
//! and what differs from that in a live service.

use aws_sdk_ecs::types::{DeploymentAlarms, DeploymentCircuitBreaker, DeploymentConfiguration, DeploymentStrategy};

/// The CloudWatch alarms that roll a deployment back (ECS deployment
/// alarms): the load balancer's 5xx and unhealthy-target alarms. The
/// circuit breaker catches tasks that never become healthy; these catch a
/// release that runs but answers errors.
pub fn deployment_alarms(suffix: &str) -> Vec<String> {
    DEPLOYMENT_ALARMS
        .iter()
        .map(|p| crate::steps::observability::alarm_name(p, suffix))
        .collect()
}

/// The alarm purposes (`alarm-{purpose}-{suffix}`) deployments watch.
pub const DEPLOYMENT_ALARMS: [&str; 2] = ["5xx", "unhealthy"];

/// Native blue/green with a bake time (`--bake-minutes`, during which the
/// alarms can still roll the new revision back), the circuit breaker and
/// the deployment alarms, both rolling back.
pub fn deployment_configuration(suffix: &str, bake_minutes: u32) -> DeploymentConfiguration {
    DeploymentConfiguration::builder()
        .strategy(DeploymentStrategy::BlueGreen)
        .bake_time_in_minutes(bake_minutes as i32)
        .deployment_circuit_breaker(DeploymentCircuitBreaker::builder().enable(true).rollback(true).build())
        .alarms(
            DeploymentAlarms::builder()
                .set_alarm_names(Some(deployment_alarms(suffix)))
                .enable(true)
                .rollback(true)
                .build()
                .expect("alarm names, enable and rollback are set"),
        )
        .maximum_percent(200)
        .minimum_healthy_percent(100)
        .build()
}

/// What differs between the live deployment configuration and the wanted.
pub fn deployment_drift(d: Option<&DeploymentConfiguration>, suffix: &str, bake_minutes: u32) -> Vec<String> {
    let mut out = Vec::new();
    let Some(d) = d else {
        return vec!["no deployment configuration (wants BLUE_GREEN, circuit breaker and alarms)".into()];
    };
    if d.strategy() != Some(&DeploymentStrategy::BlueGreen)
        || !d
            .deployment_circuit_breaker()
            .is_some_and(|c| c.enable() && c.rollback())
    {
        out.push("deployment is not BLUE_GREEN with a rolling-back circuit breaker".into());
    }
    let mut want = deployment_alarms(suffix);
    want.sort();
    let alarms_ok = d.alarms().is_some_and(|a| {
        let mut have = a.alarm_names().to_vec();
        have.sort();
        a.enable() && a.rollback() && have == want
    });
    if !alarms_ok {
        out.push(format!(
            "deployments do not roll back on the alarms {} (wants them)",
            want.join(", ")
        ));
    }
    if d.bake_time_in_minutes().is_some_and(|b| b != bake_minutes as i32) {
        out.push(format!(
            "bake time is {} minutes (wants {bake_minutes})",
            d.bake_time_in_minutes().unwrap_or_default()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployments_roll_back_on_the_alarms_and_bake() {
        let d = deployment_configuration("dev1", 10);
        assert!(deployment_drift(Some(&d), "dev1", 10).is_empty());
        let a = d.alarms().unwrap();
        assert!(a.enable() && a.rollback());
        assert_eq!(a.alarm_names(), ["alarm-5xx-dev1", "alarm-unhealthy-dev1"]);
        assert_eq!(d.bake_time_in_minutes(), Some(10));
        let bake = deployment_drift(Some(&d), "dev1", 5);
        assert_eq!(bake, ["bake time is 10 minutes (wants 5)"]);
        let no_alarms = DeploymentConfiguration::builder()
            .strategy(DeploymentStrategy::BlueGreen)
            .deployment_circuit_breaker(DeploymentCircuitBreaker::builder().enable(true).rollback(true).build())
            .build();
        let drift = deployment_drift(Some(&no_alarms), "dev1", 5);
        assert_eq!(drift.len(), 1, "{drift:?}");
        assert!(drift[0].contains("alarm-5xx-dev1"), "{drift:?}");
        assert!(!deployment_drift(None, "dev1", 5).is_empty());
    }
}
