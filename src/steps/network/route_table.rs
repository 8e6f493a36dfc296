//! The route tables, each with its default route and subnet associations:
//! `CreateRouteTable`, `CreateRoute`/`ReplaceRoute`/`DeleteRoute`,
//! `AssociateRouteTable`/`DisassociateRouteTable` and `DeleteRouteTable`.

use super::discovery::{owned_by, route_tables, tag_spec};
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

    async fn set_route(&self, cx: &Ctx, rtb: &str, target: &Target, replace: bool) -> StepResult<()> {
        let target_id = cx.id_of(target.step())?;
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
            req.send().await.aws("ReplaceRoute")?;
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
            req.send().await.aws("CreateRoute")?;
        }
        Ok(())
    }

    async fn associate(&self, cx: &Ctx, rtb: &str, subnet_step: &str) -> StepResult<()> {
        cx.aws
            .ec2
            .associate_route_table()
            .route_table_id(rtb)
            .subnet_id(cx.id_of(subnet_step)?)
            .send()
            .await
            .aws("AssociateRouteTable")?;
        Ok(())
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
        let out = cx
            .aws
            .ec2
            .create_route_table()
            .vpc_id(cx.id_of(ids::VPC)?)
            .tag_specifications(tag_spec(cx, ResourceType::RouteTable, &name, &self.id, &[]))
            .send()
            .await
            .aws("CreateRouteTable")?;
        let rtb = out
            .route_table()
            .and_then(|t| t.route_table_id())
            .unwrap_or_default()
            .to_owned();
        if let Some(target) = &self.default_route {
            self.set_route(cx, &rtb, target, false).await?;
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
