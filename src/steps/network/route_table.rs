//! The route tables, each with its default route and subnet associations:
//! `CreateRouteTable`, `CreateRoute`/`ReplaceRoute`/`DeleteRoute`,
//! `AssociateRouteTable`/`DisassociateRouteTable` and `DeleteRouteTable`.

use super::discovery::{owned_by, route_tables, subnet_route_table, tag_spec};
use super::ANYWHERE;
use crate::aws::wait::{self, Backoff};
use crate::aws::AwsResultExt;
use crate::state::Record;
use crate::steps::{ids, Ctx, Dep, Step, StepResult};
use async_trait::async_trait;
use aws_sdk_ec2::types::ResourceType;
use std::collections::BTreeSet;

/// Where a route table's default route points: a step's gateway.
#[derive(Debug, Clone)]
pub enum Target {
    Gateway(String),
    Nat(String),
}

impl Target {
    fn step(&self) -> &str {
        match self {
            Target::Gateway(s) | Target::Nat(s) => s,
        }
    }
}

/// A route table with its default route and subnet associations.
pub struct RouteTable {
    pub(super) id: String,
    pub(super) purpose: String,
    pub(super) default_route: Option<Target>,
    pub(super) subnets: Vec<String>,
}

impl RouteTable {
    async fn table(&self, cx: &Ctx, rtb: &str) -> StepResult<Option<aws_sdk_ec2::types::RouteTable>> {
        Ok(route_tables(cx)
            .await?
            .iter()
            .find(|t| t.route_table_id() == Some(rtb))
            .cloned())
    }

    /// Points the default route at `target` (which may be new: a NAT
    /// gateway just become available, a gateway just created).
    async fn set_route(&self, cx: &Ctx, rtb: &str, target: &Target, replace: bool) -> StepResult<()> {
        let target_id = cx.id_of(target.step())?;
        wait::consistent(|| async {
            if replace {
                let mut req = cx
                    .aws
                    .ec2
                    .replace_route()
                    .route_table_id(rtb)
                    .destination_cidr_block(ANYWHERE);
                req = match target {
                    Target::Gateway(_) => req.gateway_id(&target_id),
                    Target::Nat(_) => req.nat_gateway_id(&target_id),
                };
                req.send().await.aws("ReplaceRoute").map(|_| ())
            } else {
                let mut req = cx
                    .aws
                    .ec2
                    .create_route()
                    .route_table_id(rtb)
                    .destination_cidr_block(ANYWHERE);
                req = match target {
                    Target::Gateway(_) => req.gateway_id(&target_id),
                    Target::Nat(_) => req.nat_gateway_id(&target_id),
                };
                req.send().await.aws("CreateRoute").map(|_| ())
            }
        })
        .await
    }

    async fn associate(&self, cx: &Ctx, rtb: &str, subnet_step: &str) -> StepResult<()> {
        let subnet = cx.id_of(subnet_step)?;
        let r = wait::consistent(|| async {
            cx.aws
                .ec2
                .associate_route_table()
                .route_table_id(rtb)
                .subnet_id(&subnet)
                .send()
                .await
                .aws("AssociateRouteTable")
                .map(|_| ())
        })
        .await;
        match r {
            // Done already if it is this table the subnet is associated
            // with (an earlier attempt went through); another table's
            // association is a conflict to report.
            Err(e) if e.code_is("Resource.AlreadyAssociated") => {
                if subnet_route_table(cx, &subnet).await?.as_deref() == Some(rtb) {
                    Ok(())
                } else {
                    Err(e)
                }
            }
            r => r,
        }
    }
}

#[async_trait]
impl Step for RouteTable {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &'static str {
        "route-table"
    }
    fn deps(&self) -> Vec<Dep> {
        let mut d = vec![Dep::id(ids::VPC)];
        d.extend(self.subnets.iter().cloned().map(Dep::id));
        match &self.default_route {
            Some(Target::Gateway(g)) => d.push(Dep::id(g.clone())),
            // A route to a NAT gateway is only useful once it is available.
            Some(Target::Nat(n)) => d.push(Dep::ready(n.clone())),
            None => {}
        }
        d
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        Ok(route_tables(cx)
            .await?
            .iter()
            .find(|t| owned_by(cx, t.tags(), &self.id))
            .map(|t| Record::new(t.route_table_id().unwrap_or_default())))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let name = cx.name("rtb", &self.purpose);
        let vpc = cx.id_of(ids::VPC)?;
        // No client token, but only a refusal is retried: never two tables.
        let out = wait::consistent(|| async {
            cx.aws
                .ec2
                .create_route_table()
                .vpc_id(&vpc)
                .tag_specifications(tag_spec(cx, ResourceType::RouteTable, &name, &self.id, &[]))
                .send()
                .await
                .aws("CreateRouteTable")
        })
        .await?;
        let rtb = out
            .route_table()
            .and_then(|t| t.route_table_id())
            .unwrap_or_default()
            .to_owned();
        if let Some(target) = &self.default_route {
            match self.set_route(cx, &rtb, target, false).await {
                // Only this call adds routes to the new table: an earlier
                // attempt of it went through.
                Err(e) if e.code_is("RouteAlreadyExists") => {}
                r => r?,
            }
        }
        for s in &self.subnets {
            self.associate(cx, &rtb, s).await?;
        }
        Ok(Record::new(rtb))
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let Some(table) = self.table(cx, &rec.id).await? else {
            return Ok(vec![]);
        };
        let mut drift = Vec::new();
        let default = table
            .routes()
            .iter()
            .find(|r| r.destination_cidr_block() == Some(ANYWHERE));
        match (&self.default_route, default) {
            (Some(target), route) => {
                let want = cx.id_of(target.step())?;
                let have = route.and_then(|r| r.nat_gateway_id().or(r.gateway_id()));
                let blackhole = route
                    .and_then(|r| r.state())
                    .map(|s| s.as_str() == "blackhole")
                    .unwrap_or(false);
                if have != Some(want.as_str()) || blackhole {
                    drift.push(format!(
                        "default route goes to {} instead of {want}",
                        have.unwrap_or("nothing")
                    ));
                    if fix {
                        self.set_route(cx, &rec.id, target, route.is_some()).await?;
                    }
                }
            }
            (None, Some(r)) => {
                drift.push(format!(
                    "has an internet route to {} it must not have",
                    r.nat_gateway_id().or(r.gateway_id()).unwrap_or("?")
                ));
                if fix {
                    cx.aws
                        .ec2
                        .delete_route()
                        .route_table_id(&rec.id)
                        .destination_cidr_block(ANYWHERE)
                        .send()
                        .await
                        .aws("DeleteRoute")?;
                }
            }
            (None, None) => {}
        }
        let associated: BTreeSet<&str> = table.associations().iter().filter_map(|a| a.subnet_id()).collect();
        for s in &self.subnets {
            let subnet = cx.id_of(s)?;
            if !associated.contains(subnet.as_str()) {
                drift.push(format!("{s} ({subnet}) not associated"));
                if fix {
                    self.associate(cx, &rec.id, s).await?;
                }
            }
        }
        Ok(drift)
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        if let Some(table) = self.table(cx, &rec.id).await? {
            for a in table.associations().iter().filter(|a| !a.main().unwrap_or(false)) {
                if let Some(id) = a.route_table_association_id() {
                    wait::delete(Backoff::DRAIN, || async {
                        cx.aws
                            .ec2
                            .disassociate_route_table()
                            .association_id(id)
                            .send()
                            .await
                            .aws("DisassociateRouteTable")
                            .map(|_| ())
                    })
                    .await?;
                }
            }
        }
        wait::delete(Backoff::DRAIN, || async {
            cx.aws
                .ec2
                .delete_route_table()
                .route_table_id(&rec.id)
                .send()
                .await
                .aws("DeleteRouteTable")
                .map(|_| ())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::network::mock::{ec2_ctx, ec2_error};
    use crate::steps::network::{subnet_step, Tier};
    use aws_sdk_ec2::operation::associate_route_table::AssociateRouteTableError;
    use aws_sdk_ec2::operation::create_route::{CreateRouteError, CreateRouteOutput};
    use aws_sdk_ec2::operation::create_route_table::{CreateRouteTableError, CreateRouteTableOutput};
    use aws_sdk_ec2::operation::describe_route_tables::DescribeRouteTablesOutput;
    use aws_sdk_ec2::types::RouteTableAssociation;
    use aws_smithy_mocks::mock;

    fn private_a() -> RouteTable {
        RouteTable {
            id: "rt-private-a".into(),
            purpose: "private-a".into(),
            default_route: Some(Target::Nat("nat-a".into())),
            subnets: vec![subnet_step(Tier::Private, 0)],
        }
    }

    /// A context answering from `rules`, with the table's dependencies.
    fn cx(rules: &[&aws_smithy_mocks::Rule]) -> Ctx {
        let cx = ec2_ctx(
            rules,
            &[(ids::VPC, Record::new("vpc-1")), ("nat-a", Record::new("nat-1"))],
        );
        cx.set_record(&subnet_step(Tier::Private, 0), Record::new("subnet-1"));
        cx
    }

    fn create_table() -> aws_smithy_mocks::Rule {
        mock!(aws_sdk_ec2::Client::create_route_table)
            .match_requests(|r| r.vpc_id() == Some("vpc-1"))
            .sequence()
            .error(|| CreateRouteTableError::generic(ec2_error("InvalidVpcID.NotFound")))
            .output(|| {
                CreateRouteTableOutput::builder()
                    .route_table(
                        aws_sdk_ec2::types::RouteTable::builder()
                            .route_table_id("rtb-1")
                            .build(),
                    )
                    .build()
            })
            .build()
    }

    fn table_of_subnet(rtb: &'static str) -> aws_smithy_mocks::Rule {
        mock!(aws_sdk_ec2::Client::describe_route_tables).then_output(move || {
            DescribeRouteTablesOutput::builder()
                .route_tables(
                    aws_sdk_ec2::types::RouteTable::builder()
                        .route_table_id(rtb)
                        .associations(RouteTableAssociation::builder().subnet_id("subnet-1").build())
                        .build(),
                )
                .build()
        })
    }

    #[tokio::test(start_paused = true)]
    async fn create_waits_for_new_ids_and_counts_its_own_earlier_success_as_done() {
        let table = create_table();
        let route = mock!(aws_sdk_ec2::Client::create_route)
            .match_requests(|r| r.route_table_id() == Some("rtb-1") && r.nat_gateway_id() == Some("nat-1"))
            .sequence()
            .error(|| CreateRouteError::generic(ec2_error("InvalidRouteTableID.NotFound")))
            .error(|| CreateRouteError::generic(ec2_error("RouteAlreadyExists")))
            .build();
        let assoc = mock!(aws_sdk_ec2::Client::associate_route_table)
            .match_requests(|r| r.route_table_id() == Some("rtb-1") && r.subnet_id() == Some("subnet-1"))
            .sequence()
            .error(|| AssociateRouteTableError::generic(ec2_error("InvalidRouteTableID.NotFound")))
            .error(|| AssociateRouteTableError::generic(ec2_error("Resource.AlreadyAssociated")))
            .build();
        let described = table_of_subnet("rtb-1");
        let cx = cx(&[&table, &route, &assoc, &described]);
        let rec = private_a().create(&cx).await.unwrap();
        assert_eq!(rec.id, "rtb-1");
        assert_eq!((table.num_calls(), route.num_calls(), assoc.num_calls()), (2, 2, 2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_subnet_associated_with_another_table_is_reported() {
        let table = create_table();
        let route = mock!(aws_sdk_ec2::Client::create_route).then_output(|| CreateRouteOutput::builder().build());
        let assoc = mock!(aws_sdk_ec2::Client::associate_route_table)
            .then_error(|| AssociateRouteTableError::generic(ec2_error("Resource.AlreadyAssociated")));
        let described = table_of_subnet("rtb-other");
        let cx = cx(&[&table, &route, &assoc, &described]);
        let err = private_a().create(&cx).await.unwrap_err();
        assert!(err.code_is("Resource.AlreadyAssociated"), "{err}");
    }
}
