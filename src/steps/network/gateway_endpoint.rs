//! A gateway VPC endpoint on the private route tables: S3 (ECR serves
//! image layers from S3, so every image pull from the private subnets
//! would otherwise pay NAT data processing) and DynamoDB (the API's
//! idempotency keys). Gateway endpoints are free; each has an endpoint
//! policy scoped to what the stack needs. APIs:
//! `CreateVpcEndpoint` (tagged atomically, with a client token),
//! `DescribeVpcEndpoints` (by the stack's tags), `ModifyVpcEndpoint`,
//! `DeleteVpcEndpoints`.

use super::discovery::{owned_by, tag_spec};
use super::private_route_table_step;
use super::AZ_COUNT;
use crate::aws::wait;
use crate::aws::{AwsError, AwsResultExt};
use crate::state::Record;
use crate::steps::{ids, Ctx, Dep, Step, StepResult};
use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, ResourceType, VpcEndpoint, VpcEndpointType};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// The inventory key of the endpoints' look-up.
const ENDPOINTS: &str = "ec2:DescribeVpcEndpoints";

/// One gateway endpoint: the service (`s3`, `dynamodb`), its policy, and
/// the steps the policy names.
pub struct GatewayEndpoint {
    pub id: &'static str,
    pub service: &'static str,
    pub policy: fn(cx: &Ctx) -> StepResult<Value>,
    pub names: Vec<&'static str>,
}

/// What the tasks need of S3: ECR's image layers, which live in the
/// region's `prod-{region}-starport-layer-bucket` (Amazon ECR User Guide,
/// "Create the Amazon S3 gateway endpoint": the minimum endpoint policy).
/// Nothing else in the private subnets reads or writes S3.
pub fn s3_policy(cx: &Ctx) -> StepResult<Value> {
    Ok(s3_layer_policy(cx.region(), crate::aws::partition(cx.region())))
}

/// What the tasks need of DynamoDB: the four item actions of the API on
/// the stack's idempotency table.
pub fn dynamodb_policy(cx: &Ctx) -> StepResult<Value> {
    Ok(json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "IdempotencyTableOnly",
            "Effect": "Allow",
            "Principal": "*",
            "Action": crate::steps::identity::IDEMPOTENCY_ACTIONS,
            "Resource": [cx.attr(ids::DDB_IDEMPOTENCY, "arn")?]
        }]
    }))
}

fn s3_layer_policy(region: &str, partition: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "EcrImageLayersOnly",
            "Effect": "Allow",
            "Principal": "*",
            "Action": ["s3:GetObject"],
            "Resource": [format!("arn:{partition}:s3:::prod-{region}-starport-layer-bucket/*")]
        }]
    })
}

impl GatewayEndpoint {
    fn name(&self, cx: &Ctx) -> String {
        cx.name("vpce", self.service)
    }

    fn service_name(&self, cx: &Ctx) -> String {
        format!("com.amazonaws.{}.{}", cx.region(), self.service)
    }

    fn wanted_policy(&self, cx: &Ctx) -> StepResult<Value> {
        (self.policy)(cx)
    }

    fn route_tables(cx: &Ctx) -> StepResult<BTreeSet<String>> {
        (0..AZ_COUNT)
            .map(|az| cx.id_of(&private_route_table_step(az)))
            .collect()
    }

    /// The stack's endpoints, one `DescribeVpcEndpoints` per run shared by
    /// both endpoint steps (by the stack's tags).
    async fn current(&self, cx: &Ctx) -> StepResult<Option<VpcEndpoint>> {
        let all = cx
            .inventory
            .get(ENDPOINTS, || async {
                let out = cx
                    .aws
                    .ec2
                    .describe_vpc_endpoints()
                    .filters(
                        Filter::builder()
                            .name("tag:EnvironmentSuffix")
                            .values(cx.suffix().as_str())
                            .build(),
                    )
                    .send()
                    .await
                    .aws("DescribeVpcEndpoints")?;
                Ok(out.vpc_endpoints().to_vec())
            })
            .await?;
        Ok(all
            .iter()
            .filter(|e| {
                !matches!(
                    e.state().map(|s| s.as_str().to_ascii_lowercase()).as_deref(),
                    Some("deleted" | "deleting")
                )
            })
            .find(|e| owned_by(cx, e.tags(), self.id))
            .cloned())
    }

    fn record(e: &VpcEndpoint) -> Record {
        let tables: Vec<&str> = e.route_table_ids().iter().map(String::as_str).collect();
        Record::new(e.vpc_endpoint_id().unwrap_or_default())
            .with("route_tables", tables.join(","))
            .with("policy", e.policy_document().unwrap_or_default())
    }
}

#[async_trait]
impl Step for GatewayEndpoint {
    fn id(&self) -> &str {
        self.id
    }
    fn kind(&self) -> &'static str {
        "vpc-endpoint"
    }
    fn deps(&self) -> Vec<Dep> {
        let mut d = vec![Dep::id(ids::VPC)];
        d.extend((0..AZ_COUNT).map(|az| Dep::id(private_route_table_step(az))));
        d.extend(self.names.iter().map(|n| Dep::id(*n)));
        d
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        Ok(self.current(cx).await?.as_ref().map(Self::record))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let name = self.name(cx);
        let token = cx.client_token(self.id, 64);
        let tables = Self::route_tables(cx)?;
        let vpc = cx.id_of(ids::VPC)?;
        let policy = self.wanted_policy(cx)?.to_string();
        let out = wait::consistent(|| async {
            cx.aws
                .ec2
                .create_vpc_endpoint()
                .vpc_id(&vpc)
                .vpc_endpoint_type(VpcEndpointType::Gateway)
                .service_name(self.service_name(cx))
                .set_route_table_ids(Some(tables.iter().cloned().collect()))
                .policy_document(policy.clone())
                .client_token(&token)
                .tag_specifications(tag_spec(cx, ResourceType::VpcEndpoint, &name, self.id, &[]))
                .send()
                .await
                .aws("CreateVpcEndpoint")
        })
        .await?;
        let e = out
            .vpc_endpoint()
            .ok_or_else(|| AwsError::custom("CreateVpcEndpoint", "EmptyResponse", "no endpoint in the response"))?;
        Ok(Self::record(e))
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let mut drift = Vec::new();
        let want = Self::route_tables(cx)?;
        let have: BTreeSet<String> = rec
            .attr("route_tables")
            .unwrap_or_default()
            .split(',')
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect();
        let add: Vec<String> = want.difference(&have).cloned().collect();
        let remove: Vec<String> = have.difference(&want).cloned().collect();
        if !add.is_empty() {
            drift.push(format!("not on route tables {}", add.join(", ")));
        }
        if !remove.is_empty() {
            drift.push(format!("on route tables {} too", remove.join(", ")));
        }
        let policy: Option<Value> = rec.attr("policy").and_then(|p| serde_json::from_str(p).ok());
        let wanted = self.wanted_policy(cx)?;
        let policy_differs = policy.as_ref() != Some(&wanted);
        if policy_differs {
            drift.push("the endpoint policy differs (the stack's needs only)".into());
        }
        if fix && !drift.is_empty() {
            let mut m = cx
                .aws
                .ec2
                .modify_vpc_endpoint()
                .vpc_endpoint_id(&rec.id)
                .set_add_route_table_ids((!add.is_empty()).then_some(add))
                .set_remove_route_table_ids((!remove.is_empty()).then_some(remove));
            if policy_differs {
                m = m.policy_document(wanted.to_string());
            }
            m.send().await.aws("ModifyVpcEndpoint")?;
        }
        Ok(drift)
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        let out = cx
            .aws
            .ec2
            .delete_vpc_endpoints()
            .vpc_endpoint_ids(&rec.id)
            .send()
            .await
            .aws("DeleteVpcEndpoints");
        match out {
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
            // EC2 answers per endpoint in `Unsuccessful`, with HTTP 200.
            Ok(o) => match o.unsuccessful().iter().find_map(|u| u.error()) {
                Some(err) if err.code().is_some_and(|c| c.ends_with(".NotFound")) => Ok(()),
                Some(err) => Err(AwsError::custom(
                    "DeleteVpcEndpoints",
                    err.code().unwrap_or("Unsuccessful"),
                    err.message().unwrap_or_default(),
                )),
                None => Ok(()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_s3_endpoint_lets_through_only_ecr_image_layers() {
        let p = s3_layer_policy("ap-southeast-2", "aws");
        let st = p["Statement"].as_array().unwrap();
        assert_eq!(st.len(), 1);
        assert_eq!(st[0]["Action"], json!(["s3:GetObject"]));
        assert_eq!(
            st[0]["Resource"],
            json!(["arn:aws:s3:::prod-ap-southeast-2-starport-layer-bucket/*"])
        );
    }
}
