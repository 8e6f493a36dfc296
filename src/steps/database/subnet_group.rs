//! The DB subnet group `dbsubnet-catalog-{suffix}` over the isolated
//! subnets (`CreateDBSubnetGroup`, `ModifyDBSubnetGroup`,
//! `DeleteDBSubnetGroup`).

use super::discovery;
use crate::aws::wait::{self, Backoff};
use crate::aws::{tags, AwsResultExt};
use crate::state::Record;
use crate::steps::network::{subnet_steps, Tier};
use crate::steps::{ids, Ctx, Dep, Step, StepResult};
use async_trait::async_trait;

pub struct DbSubnetGroup;

impl DbSubnetGroup {
    /// `dbsubnet-catalog-{suffix}`.
    pub(super) fn name(cx: &Ctx) -> String {
        cx.name("dbsubnet", "catalog")
    }

    fn wanted(&self, cx: &Ctx) -> StepResult<Vec<String>> {
        let mut ids = subnet_steps(Tier::Isolated)
            .iter()
            .map(|s| cx.id_of(s))
            .collect::<StepResult<Vec<_>>>()?;
        ids.sort();
        Ok(ids)
    }
}

#[async_trait]
impl Step for DbSubnetGroup {
    fn id(&self) -> &str {
        ids::DB_SUBNETS
    }
    fn kind(&self) -> &'static str {
        "db-subnet-group"
    }
    fn deps(&self) -> Vec<Dep> {
        subnet_steps(Tier::Isolated).into_iter().map(Dep::id).collect()
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        let name = Self::name(cx);
        let groups = discovery::subnet_groups(cx, &name).await?;
        Ok(groups
            .iter()
            .find(|g| g.db_subnet_group_name() == Some(name.as_str()))
            .map(|g| {
                let mut subnets: Vec<&str> = g.subnets().iter().filter_map(|s| s.subnet_identifier()).collect();
                subnets.sort();
                Record::new(&name)
                    .with("vpc", g.vpc_id().unwrap_or_default())
                    .with("subnets", subnets.join(","))
            }))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let name = Self::name(cx);
        let subnets = self.wanted(cx)?;
        let r = cx
            .aws
            .rds
            .create_db_subnet_group()
            .db_subnet_group_name(&name)
            .db_subnet_group_description(format!("Aurora catalog database of {}: isolated subnets", cx.suffix()))
            .set_subnet_ids(Some(subnets.clone()))
            .set_tags(Some(tags::rds(cx.tags(&name, ids::DB_SUBNETS))))
            .send()
            .await
            .aws("CreateDBSubnetGroup");
        match r {
            // Left by a run that crashed before recording it; reconcile
            // checks its subnets next time.
            Err(e) if e.code_is("DBSubnetGroupAlreadyExists") || e.code_is("DBSubnetGroupAlreadyExistsFault") => {}
            r => {
                r?;
            }
        }
        Ok(Record::new(name)
            .with("vpc", cx.id_of(ids::VPC).unwrap_or_default())
            .with("subnets", subnets.join(",")))
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let want = self.wanted(cx)?.join(",");
        if rec.attr("subnets") == Some(want.as_str()) {
            return Ok(vec![]);
        }
        if fix {
            cx.aws
                .rds
                .modify_db_subnet_group()
                .db_subnet_group_name(&rec.id)
                .set_subnet_ids(Some(want.split(',').map(str::to_owned).collect()))
                .send()
                .await
                .aws("ModifyDBSubnetGroup")?;
        }
        Ok(vec![format!(
            "subnets are {}, want the isolated subnets {want}",
            rec.attr("subnets").unwrap_or("none")
        )])
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        wait::delete(Backoff::DRAIN, || async {
            cx.aws
                .rds
                .delete_db_subnet_group()
                .db_subnet_group_name(&rec.id)
                .send()
                .await
                .aws("DeleteDBSubnetGroup")
                .map(|_| ())
        })
        .await
    }
}
