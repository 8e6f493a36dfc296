//! The Price List Query API (`GetProducts`, served in us-east-1): the
//! queries of [`crate::cost::price_list`] asked concurrently, every page
//! through the SDK's paginator, within a bounded time so that `plan` is
//! never held up by an API it cannot reach. A query that fails, or is not
//! answered in time, simply has no answer: its prices are absent.

use super::{AwsError, AwsResultExt, CONNECT_TIMEOUT};
use crate::cost::price_list::{parse_item, Product, Query, API_REGION};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::Region;
use aws_sdk_pricing::types::{Filter, FilterType};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Attempts of one call (the first and one retry).
pub const ATTEMPTS: u32 = 2;
/// How long one attempt of one call may take.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the whole read may take, every query and page included.
pub const TOTAL_TIME: Duration = Duration::from_secs(12);
/// Queries asked at once.
pub const CONCURRENT: usize = 6;
/// Products per page (the API's maximum).
pub const PAGE_SIZE: i32 = 100;

/// The Price List client: the shared configuration (credentials, and
/// `AWS_ENDPOINT_URL` in tests), signed for us-east-1, with its own small
/// retry policy and attempt timeout.
pub fn client(shared: &aws_types::SdkConfig) -> aws_sdk_pricing::Client {
    let conf = aws_sdk_pricing::config::Builder::from(shared)
        .region(Region::from_static(API_REGION))
        .retry_config(RetryConfig::standard().with_max_attempts(ATTEMPTS))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .build(),
        )
        .build();
    aws_sdk_pricing::Client::from_conf(conf)
}

/// Every product `query` matches, all pages; entries that do not parse as
/// price list items are left out.
pub async fn get_products(client: &aws_sdk_pricing::Client, query: &Query) -> Result<Vec<Product>, AwsError> {
    let mut filters = Vec::with_capacity(query.filters.len());
    for (field, value) in &query.filters {
        let f = Filter::builder()
            .r#type(FilterType::TermMatch)
            .field(*field)
            .value(value)
            .build()
            .map_err(super::build_err)?;
        filters.push(f);
    }
    let mut pages = client
        .get_products()
        .service_code(query.service_code)
        .set_filters(Some(filters))
        .format_version("aws_v1")
        .max_results(PAGE_SIZE)
        .into_paginator()
        .send();
    let mut products = Vec::new();
    while let Some(page) = pages.next().await {
        for item in page.aws("GetProducts")?.price_list() {
            match parse_item(item) {
                Ok(p) => products.push(p),
                Err(e) => tracing::debug!(service = query.service_code, "skipping a price list entry: {e}"),
            }
        }
    }
    Ok(products)
}

/// What a read of the Price List API got: the answers by query (a query
/// that failed or was not answered in time is missing), and why queries
/// failed.
#[derive(Debug, Default)]
pub struct Answers {
    pub answers: BTreeMap<Query, Vec<Product>>,
    /// The first failure of each kind (an operator needs one, not twenty).
    pub failures: Vec<AwsError>,
    /// The read ran out of [`TOTAL_TIME`] with queries unanswered.
    pub timed_out: bool,
}

impl Answers {
    /// Whether any query answered at least one product.
    pub fn any_products(&self) -> bool {
        self.answers.values().any(|p| !p.is_empty())
    }
}

/// Asks `queries`, [`CONCURRENT`] at a time, within `total`. A query with a
/// region filter that answers nothing is asked once more by the region's
/// location name ([`Query::by_location`]).
pub async fn read(client: &aws_sdk_pricing::Client, queries: Vec<Query>, total: Duration) -> Answers {
    let permits = Arc::new(tokio::sync::Semaphore::new(CONCURRENT));
    let mut tasks = tokio::task::JoinSet::new();
    for query in queries {
        let client = client.clone();
        let permits = permits.clone();
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let mut answer = get_products(&client, &query).await;
            if matches!(&answer, Ok(p) if p.is_empty()) {
                if let Some(by_name) = query.by_location() {
                    answer = get_products(&client, &by_name).await;
                }
            }
            (query, answer)
        });
    }
    let mut out = Answers::default();
    let deadline = tokio::time::Instant::now() + total;
    loop {
        match tokio::time::timeout_at(deadline, tasks.join_next()).await {
            Ok(Some(Ok((query, Ok(products))))) => {
                out.answers.insert(query, products);
            }
            Ok(Some(Ok((_, Err(e))))) => {
                if !out.failures.iter().any(|f| f.code == e.code) {
                    out.failures.push(e);
                }
            }
            Ok(Some(Err(join))) => tracing::debug!("a price list query did not finish: {join}"),
            Ok(None) => break,
            Err(_) => {
                out.timed_out = true;
                tasks.abort_all();
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::price_list::queries;
    use aws_sdk_pricing::operation::get_products::{GetProductsError, GetProductsOutput};
    use aws_smithy_mocks::{mock, RuleMode};

    fn entry(sku: &str, usage: &str, usd: &str) -> String {
        serde_json::json!({"product": {"sku": sku, "productFamily": "NAT Gateway",
            "attributes": {"usagetype": usage, "regionCode": "ap-southeast-2"}},
            "terms": {"OnDemand": {"T": {"priceDimensions": {"R": {"unit": "Hrs", "beginRange": "0",
                "endRange": "Inf", "pricePerUnit": {"USD": usd}}}}}}})
        .to_string()
    }

    fn client_with(rules: &[&aws_smithy_mocks::Rule]) -> aws_sdk_pricing::Client {
        let mut interceptor = aws_smithy_mocks::MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
        for rule in rules {
            interceptor = interceptor.with_rule(rule);
        }
        let conf = aws_sdk_pricing::Config::builder()
            .behavior_version(aws_sdk_pricing::config::BehaviorVersion::latest())
            .region(Region::new(API_REGION))
            .credentials_provider(aws_sdk_pricing::config::Credentials::new("t", "t", None, None, "t"))
            .http_client(aws_smithy_mocks::create_mock_http_client())
            .interceptor(interceptor)
            .build();
        aws_sdk_pricing::Client::from_conf(conf)
    }

    #[tokio::test]
    async fn every_page_is_read_and_each_query_keeps_its_own_answer() {
        let first = mock!(aws_sdk_pricing::Client::get_products)
            .match_requests(|r| r.service_code() == Some("AmazonEC2") && r.next_token().is_none())
            .then_output(|| {
                GetProductsOutput::builder()
                    .price_list(entry("A", "APS2-NatGateway-Hours", "0.059"))
                    .next_token("page2")
                    .format_version("aws_v1")
                    .build()
            });
        let second = mock!(aws_sdk_pricing::Client::get_products)
            .match_requests(|r| r.next_token() == Some("page2"))
            .then_output(|| {
                GetProductsOutput::builder()
                    .price_list(entry("B", "APS2-NatGateway-Bytes", "0.059"))
                    .price_list("not an entry")
                    .build()
            });
        let denied = mock!(aws_sdk_pricing::Client::get_products)
            .match_requests(|r| r.service_code() != Some("AmazonEC2"))
            .then_error(|| {
                GetProductsError::generic(
                    aws_smithy_types::error::ErrorMetadata::builder()
                        .code("AccessDeniedException")
                        .message("not allowed")
                        .build(),
                )
            });
        let client = client_with(&[&first, &second, &denied]);
        let qs = queries("ap-southeast-2");
        let nat = qs.iter().find(|q| q.service_code == "AmazonEC2").unwrap().clone();
        let got = read(&client, qs.clone(), Duration::from_secs(10)).await;
        assert!(!got.timed_out);
        assert_eq!(got.answers.len(), 1, "only EC2 answered");
        let skus: Vec<&str> = got.answers[&nat].iter().map(|p| p.sku.as_str()).collect();
        assert_eq!(skus, ["A", "B"]);
        assert!(got.any_products());
        assert_eq!(got.failures.len(), 1, "one failure of each kind: {:?}", got.failures);
        assert_eq!(got.failures[0].code.as_deref(), Some("AccessDeniedException"));
    }

    #[tokio::test]
    async fn an_empty_regional_answer_is_asked_again_by_location_name() {
        let by_code = mock!(aws_sdk_pricing::Client::get_products)
            .match_requests(|r| r.filters().iter().any(|f| f.field() == "regionCode"))
            .then_output(|| GetProductsOutput::builder().build());
        let by_name = mock!(aws_sdk_pricing::Client::get_products)
            .match_requests(|r| {
                r.filters()
                    .iter()
                    .any(|f| f.field() == "location" && f.value() == "Asia Pacific (Sydney)")
            })
            .then_output(|| {
                GetProductsOutput::builder()
                    .price_list(entry("C", "APS2-NatGateway-Hours", "0.059"))
                    .build()
            });
        let client = client_with(&[&by_code, &by_name]);
        let nat = queries("ap-southeast-2")
            .into_iter()
            .find(|q| q.service_code == "AmazonEC2")
            .unwrap();
        let got = read(&client, vec![nat.clone()], Duration::from_secs(10)).await;
        assert_eq!(got.answers[&nat][0].sku, "C", "kept under the query asked");
    }
}
