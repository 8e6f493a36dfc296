//! The DB cluster parameter group `dbparams-catalog-{suffix}` that forces
//! TLS (`CreateDBClusterParameterGroup`, `ModifyDBClusterParameterGroup`,
//! `DescribeDBClusterParameters`, `DeleteDBClusterParameterGroup`).

use super::{discovery, family};
use crate::aws::wait::{self, Backoff};
use crate::aws::{tags, AwsResultExt};
use crate::state::Record;
use crate::steps::{ids, Ctx, Dep, Step, StepResult};
use async_trait::async_trait;
use aws_sdk_rds::types::{ApplyMethod, Parameter};

pub struct DbParams;

impl DbParams {
    /// `dbparams-catalog-{suffix}`.
    pub(super) fn name(cx: &Ctx) -> String {
        cx.name("dbparams", "catalog")
    }

    async fn force_ssl(&self, cx: &Ctx, name: &str) -> StepResult<()> {
        cx.aws
            .rds
            .modify_db_cluster_parameter_group()
            .db_cluster_parameter_group_name(name)
            .parameters(
                Parameter::builder()
                    .parameter_name("rds.force_ssl")
                    .parameter_value("1")
                    .apply_method(ApplyMethod::Immediate)
                    .build(),
            )
            .send()
            .await
            .aws("ModifyDBClusterParameterGroup")?;
        Ok(())
    }
}

#[async_trait]
impl Step for DbParams {
    fn id(&self) -> &str {
        ids::DB_PARAMS
    }
    fn kind(&self) -> &'static str {
        "db-cluster-parameter-group"
    }
    fn deps(&self) -> Vec<Dep> {
        vec![]
    }

    async fn find(&self, cx: &Ctx) -> StepResult<Option<Record>> {
        let name = Self::name(cx);
        let groups = discovery::cluster_parameter_groups(cx, &name).await?;
        Ok(groups
            .iter()
            .find(|g| g.db_cluster_parameter_group_name() == Some(name.as_str()))
            .map(|g| {
                Record::new(&name)
                    .with("family", g.db_parameter_group_family().unwrap_or_default())
                    .with("arn", g.db_cluster_parameter_group_arn().unwrap_or_default())
            }))
    }

    async fn create(&self, cx: &Ctx) -> StepResult<Record> {
        let name = Self::name(cx);
        let family = family(&cx.settings);
        let r = cx
            .aws
            .rds
            .create_db_cluster_parameter_group()
            .db_cluster_parameter_group_name(&name)
            .db_parameter_group_family(&family)
            .description(format!("Aurora catalog database of {}: TLS only", cx.suffix()))
            .set_tags(Some(tags::rds(cx.tags(&name, ids::DB_PARAMS))))
            .send()
            .await
            .aws("CreateDBClusterParameterGroup");
        let arn = match r {
            Ok(o) => o
                .db_cluster_parameter_group()
                .and_then(|g| g.db_cluster_parameter_group_arn())
                .unwrap_or_default()
                .to_owned(),
            Err(e) if e.code_is("DBParameterGroupAlreadyExists") || e.code_is("DBParameterGroupAlreadyExistsFault") => {
                String::new()
            }
            Err(e) => return Err(e),
        };
        self.force_ssl(cx, &name).await?;
        Ok(Record::new(name).with("family", family).with("arn", arn))
    }

    async fn reconcile(&self, cx: &Ctx, rec: &Record, fix: bool) -> StepResult<Vec<String>> {
        let mut drift = Vec::new();
        let want = family(&cx.settings);
        if rec.attr("family").is_some_and(|f| f != want) {
            drift.push(format!(
                "family is {} but the engine needs {want}; provision does not upgrade databases (upgrade the cluster, or `down` and `up`)",
                rec.attr("family").unwrap_or_default()
            ));
        }
        // Page by page, stopping at the page that gives the parameter a value.
        let mut value = None;
        let mut pages = cx
            .aws
            .rds
            .describe_db_cluster_parameters()
            .db_cluster_parameter_group_name(&rec.id)
            .source("user")
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.aws("DescribeDBClusterParameters")?;
            if let Some(p) = page
                .parameters()
                .iter()
                .find(|p| p.parameter_name() == Some("rds.force_ssl"))
            {
                value = p.parameter_value().map(str::to_owned);
            }
            if value.is_some() {
                break;
            }
        }
        if value.as_deref() != Some("1") {
            drift.push(format!(
                "rds.force_ssl is {}, wants 1",
                value.as_deref().unwrap_or("the default (0)")
            ));
            if fix {
                self.force_ssl(cx, &rec.id).await?;
            }
        }
        Ok(drift)
    }

    async fn destroy(&self, cx: &Ctx, rec: &Record) -> StepResult<()> {
        wait::delete(Backoff::DRAIN, || async {
            cx.aws
                .rds
                .delete_db_cluster_parameter_group()
                .db_cluster_parameter_group_name(&rec.id)
                .send()
                .await
                .aws("DeleteDBClusterParameterGroup")
                .map(|_| ())
        })
        .await
    }
}
