//! The Application Load Balancer, with access logs to the log bucket and
//! invalid headers dropped: internal, in the private subnets, when the edge
//! (CloudFront through a VPC origin) is its only client; internet-facing in
//! the public subnets with `--no-edge`. A load balancer's scheme is fixed
//! when it is created (ELBv2 `CreateLoadBalancer` `Scheme`), so turning the
//! edge on or off replaces it (a destructive change `up` confirms). APIs:
//! `CreateLoadBalancer`, `ModifyLoadBalancerAttributes`,
//! `DescribeLoadBalancerAttributes`, `SetSecurityGroups`,
//! `DescribeLoadBalancers` (readiness), `DeleteLoadBalancer` and its
//! deleted waiter.

use super::discovery::lbs;
use super::{alb_name, lb_dimension, LOG_PREFIX};
use crate::aws::wait::{self, Backoff};
use crate::aws::{tags, AwsError, AwsResultExt, NotFoundExt};
use crate::state::Record;
use crate::steps::network::{subnet_steps, Tier};
use crate::steps::{ids, waiter_err, Ctx, Dep, Step, StepResult, Timing};
use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::client::Waiters;
use aws_sdk_elasticloadbalancingv2::types::{
    LoadBalancer, LoadBalancerAttribute, LoadBalancerSchemeEnum, LoadBalancerStateEnum, LoadBalancerTypeEnum,
};
use std::collections::BTreeMap;
use std::time::Duration;

/// The attributes the load balancer must have: deletion protection with
/// the stack's data (`--protect-data`: a protected stack keeps serving).
pub fn alb_attributes(bucket: &str, protect: bool) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("deletion_protection.enabled", protect.to_string()),
        ("routing.http.drop_invalid_header_fields.enabled", "true".to_string()),
        ("access_logs.s3.enabled", "true".to_string()),
        ("access_logs.s3.bucket", bucket.to_string()),
        ("access_logs.s3.prefix", LOG_PREFIX.to_string()),
    ])
}

pub struct Alb;

impl Alb {
    async fn set_attributes(&self, cx: &Ctx, arn: &str) -> StepResult<()> {
        let bucket = cx.id_of(ids::ALB_LOGS)?;
        let attrs: Vec<LoadBalancerAttribute> = alb_attributes(&bucket, cx.settings.protect_data)
            .into_iter()
            .map(|(k, v)| LoadBalancerAttribute::builder().key(k).value(v).build())
            .collect();
        // ELB checks it may write to the bucket; a fresh bucket policy can
        // take a few seconds to be seen.
        let backoff = Backoff {
            first: Duration::from_secs(2),
            max: Duration::from_secs(10),
            timeout: Duration::from_secs(90),
        };
        wait::poll("the load balancer to accept the access-log bucket", backoff, || async {
            let r = cx
                .aws
                .elb
                .modify_load_balancer_attributes()
                .load_balancer_arn(arn)
                .set_attributes(Some(attrs.clone()))
                .send()
                .await
                .aws("ModifyLoadBalancerAttributes");
            match r {
                Ok(_) => Ok(Some(())),
                Err(e)
                    if e.code_is("InvalidConfigurationRequest")
                        && e.message.to_ascii_lowercase().contains("access denied") =>
                {
                    tracing::debug!(error = %e, "access-log bucket not writable yet");
                    Ok(None)
                }
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// The load balancer's attributes, key to value (None: it is gone).
    async fn attributes(cx: &Ctx, arn: &str) -> StepResult<Option<BTreeMap<String, String>>> {
        let out = cx
            .aws
            .elb
            .describe_load_balancer_attributes()
            .load_balancer_arn(arn)
            .send()
            .await
            .aws("DescribeLoadBalancerAttributes")
            .or_not_found()?;
        Ok(out.map(|o| {
            o.attributes()
                .iter()
                .filter_map(|a| Some((a.key()?.to_owned(), a.value().unwrap_or_default().to_owned())))
                .collect()
        }))
    }

    /// The scheme and the subnet tier the settings ask for.
    fn placement(cx: &Ctx) -> (LoadBalancerSchemeEnum, Tier) {
        if cx.settings.edge {
            (LoadBalancerSchemeEnum::Internal, Tier::Private)
        } else {
            (LoadBalancerSchemeEnum::InternetFacing, Tier::Public)
        }
    }

    /// Replaces a load balancer of the other scheme: deleted (its listeners
    /// go with it; the target groups stay), then created again under the
    /// same name. The listeners and the rule are created again by their
    /// steps, which come after this one.
    async fn replace(&self, cx: &Ctx, rec: &Record) -> StepResult<Record> {
        self.destroy(cx, rec).await?;
        cx.inventory.invalidate(super::discovery::LBS);
        let new = self.create(cx).await?;
        cx.set_record(ids::ALB, new.clone());
        Ok(new)
    }

    fn record(lb: &LoadBalancer) -> Record {
        let arn = lb.load_balancer_arn().unwrap_or_default();
        let r = Record::new(arn)
            .with("dns", lb.dns_name().unwrap_or_default())
            .with("name", lb.load_balancer_name().unwrap_or_default())
            .with("dimension", lb_dimension(arn))
            .with("zone", lb.canonical_hosted_zone_id().unwrap_or_default())
            .with("scheme", lb.scheme().map(|s| s.as_str()).unwrap_or_default());
        if lb.state().and_then(|s| s.code()) == Some(&LoadBalancerStateEnum::Active) {
            r
        } else {
            r.pending()
        }
    }
}

#[async_trait]
impl Step for Alb {
    fn id(&self) -> &str {
        ids::ALB
    }
    fn kind(&self) -> &'static str {
        "load-balancer"
    }
    fn deps(&self) -> Vec<Dep> {
        // Either tier's subnets (the scheme picks one): both exist early.
        let mut d: Vec<Dep> = [Tier::Public, Tier::Private]
            .into_iter()
            .flat_map(subnet_steps)
            .map(Dep::id)
            .collect();
        // An internet-facing load balancer needs the VPC's internet gateway,
        // and its public subnets the route through it: the public route
        // table (which creates its 0.0.0.0/0 route to the gateway) comes
        // first, so the load balancer is never reachable-but-unrouted.
        d.extend([ids::SG_ALB, ids::IGW, ids::RT_PUBLIC, ids::ALB_LOGS].map(Dep::id));
        d
    }
    fn timing(&self) -> Timing {
        Timing::secs(5, 150, 30).source("Elastic Load Balancing User Guide: provisioning until active, 2-3 min typical")
    }
    fn waits(&self) -> bool {
        true
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        Ok(lbs(cx).await?.first().map(Self::record))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let name = alb_name(cx);
        let (scheme, tier) = Self::placement(cx);
        let subnets = subnet_steps(tier)
            .iter()
            .map(|s| cx.id_of(s))
            .collect::<StepResult<Vec<_>>>()?;
        let out = cx
            .aws
            .elb
            .create_load_balancer()
            .name(&name)
            .r#type(LoadBalancerTypeEnum::Application)
            .scheme(scheme)
            .set_subnets(Some(subnets))
            .security_groups(cx.id_of(ids::SG_ALB)?)
            .set_tags(Some(tags::elb(cx.tags(&name, ids::ALB))))
            .send()
            .await
            .aws("CreateLoadBalancer")?;
        let lb = out.load_balancers().first().cloned().ok_or_else(|| {
            AwsError::custom(
                "CreateLoadBalancer",
                "EmptyResponse",
                "no load balancer in the response",
            )
        })?;
        let rec = Self::record(&lb);
        self.set_attributes(cx, &rec.id).await?;
        Ok(rec.pending())
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let mut drift = Vec::new();
        let (scheme, _) = Self::placement(cx);
        if let Some(have) = rec.attr("scheme").filter(|h| *h != scheme.as_str()) {
            drift.push(format!(
                "scheme is {have} (wants {}: {})",
                scheme.as_str(),
                if cx.settings.edge {
                    "behind CloudFront, off the internet"
                } else {
                    "no edge, so clients reach it directly"
                }
            ));
            if fix {
                self.replace(cx, rec).await?;
            }
            return Ok(drift);
        }
        let bucket = cx.id_of(ids::ALB_LOGS)?;
        let have = Self::attributes(cx, &rec.id).await?.unwrap_or_default();
        for (k, v) in alb_attributes(&bucket, cx.settings.protect_data) {
            if have.get(k) != Some(&v) {
                drift.push(format!(
                    "{k} is {} (wants {v})",
                    have.get(k).map(String::as_str).unwrap_or("unset")
                ));
            }
        }
        if fix && !drift.is_empty() {
            self.set_attributes(cx, &rec.id).await?;
        }
        if let Some(lb) = lbs(cx)
            .await?
            .iter()
            .find(|l| l.load_balancer_arn() == Some(rec.id.as_str()))
        {
            let sg = cx.id_of(ids::SG_ALB)?;
            if lb.security_groups() != [sg.clone()] {
                drift.push(format!("security groups are {:?} (wants [{sg}])", lb.security_groups()));
                if fix {
                    cx.aws
                        .elb
                        .set_security_groups()
                        .load_balancer_arn(&rec.id)
                        .security_groups(&sg)
                        .send()
                        .await
                        .aws("SetSecurityGroups")?;
                }
            }
        }
        Ok(drift)
    }

    async fn wait_ready(&self, cx: &Ctx, rec: &Record) -> StepResult<Record> {
        cx.waiting(ids::ALB, "load balancer to become active");
        // Polled with backoff from 1 s to 15 s rather than the SDK waiter's
        // fixed 15 s first delay: an ALB that is active in seconds is not
        // waited on for 15.
        let backoff = Backoff {
            first: Duration::from_secs(1),
            max: Duration::from_secs(15),
            timeout: Duration::from_secs(15 * 60),
        };
        wait::poll("the load balancer to become active", backoff, || async {
            let out = cx
                .aws
                .elb
                .describe_load_balancers()
                .load_balancer_arns(&rec.id)
                .send()
                .await
                .aws("DescribeLoadBalancers")?;
            let state = out
                .load_balancers()
                .first()
                .and_then(|l| l.state())
                .and_then(|s| s.code());
            match state.map(|c| c.as_str()) {
                Some("active") => Ok(Some(())),
                Some("failed") => Err(AwsError::custom(
                    "DescribeLoadBalancers",
                    "LoadBalancerFailed",
                    "the load balancer failed to provision",
                )),
                _ => Ok(None),
            }
        })
        .await?;
        Ok(rec.clone())
    }

    async fn protection(&self, cx: &Ctx, rec: &Record) -> StepResult<Option<String>> {
        let on = Self::attributes(cx, &rec.id)
            .await?
            .is_some_and(|a| a.get("deletion_protection.enabled").map(String::as_str) == Some("true"));
        Ok(on.then(|| "the load balancer has deletion protection (--protect-data)".to_string()))
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        if cx
            .aws
            .elb
            .delete_load_balancer()
            .load_balancer_arn(&rec.id)
            .send()
            .await
            .aws("DeleteLoadBalancer")
            .or_not_found()?
            .is_none()
        {
            return Ok(());
        }
        cx.waiting(ids::ALB, "load balancer to be deleted");
        cx.aws
            .elb
            .wait_until_load_balancers_deleted()
            .load_balancer_arns(&rec.id)
            .wait(Duration::from_secs(10 * 60))
            .await
            .map_err(|e| waiter_err("WaitLoadBalancersDeleted", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_load_balancer_waits_for_the_public_route_to_the_internet_gateway() {
        let deps = Alb.deps();
        assert!(deps.contains(&Dep::id(ids::RT_PUBLIC)), "{deps:?}");
        assert!(deps.contains(&Dep::id(ids::IGW)), "{deps:?}");
        let stack: Vec<String> = crate::steps::stack(&crate::testing::settings(&[]))
            .iter()
            .map(|s| s.id().to_owned())
            .collect();
        assert!(
            stack.iter().any(|s| s == ids::RT_PUBLIC),
            "rt-public is a step of the stack"
        );
    }
}
