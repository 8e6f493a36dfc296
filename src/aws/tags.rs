//! One way to turn the stack's tags (`naming::tags`, key/value pairs) into
//! each SDK's tag type. Builders that can refuse (a required field unset)
//! return an error instead of silently dropping a tag: a resource missing
//! its `provision:step` tag could never be found again.

use super::AwsError;

pub type Pairs = Vec<(String, String)>;

fn refused(e: impl std::fmt::Display) -> AwsError {
    AwsError::custom("BuildRequest", "InvalidTag", e.to_string())
}

pub fn ec2(pairs: Pairs) -> Vec<aws_sdk_ec2::types::Tag> {
    pairs
        .into_iter()
        .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build())
        .collect()
}

pub fn rds(pairs: Pairs) -> Vec<aws_sdk_rds::types::Tag> {
    pairs
        .into_iter()
        .map(|(k, v)| aws_sdk_rds::types::Tag::builder().key(k).value(v).build())
        .collect()
}

pub fn ecs(pairs: Pairs) -> Vec<aws_sdk_ecs::types::Tag> {
    pairs
        .into_iter()
        .map(|(k, v)| aws_sdk_ecs::types::Tag::builder().key(k).value(v).build())
        .collect()
}

pub fn elb(pairs: Pairs) -> Vec<aws_sdk_elasticloadbalancingv2::types::Tag> {
    pairs
        .into_iter()
        .map(|(k, v)| {
            aws_sdk_elasticloadbalancingv2::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
        })
        .collect()
}

pub fn secrets(pairs: Pairs) -> Vec<aws_sdk_secretsmanager::types::Tag> {
    pairs
        .into_iter()
        .map(|(k, v)| aws_sdk_secretsmanager::types::Tag::builder().key(k).value(v).build())
        .collect()
}

pub fn cloudwatch(pairs: Pairs) -> Vec<aws_sdk_cloudwatch::types::Tag> {
    pairs
        .into_iter()
        .map(|(k, v)| aws_sdk_cloudwatch::types::Tag::builder().key(k).value(v).build())
        .collect()
}

pub fn logs(pairs: Pairs) -> std::collections::HashMap<String, String> {
    pairs.into_iter().collect()
}

pub fn iam(pairs: Pairs) -> Result<Vec<aws_sdk_iam::types::Tag>, AwsError> {
    pairs
        .into_iter()
        .map(|(k, v)| {
            aws_sdk_iam::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(refused)
        })
        .collect()
}

pub fn sns(pairs: Pairs) -> Result<Vec<aws_sdk_sns::types::Tag>, AwsError> {
    pairs
        .into_iter()
        .map(|(k, v)| {
            aws_sdk_sns::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(refused)
        })
        .collect()
}

pub fn ecr(pairs: Pairs) -> Result<Vec<aws_sdk_ecr::types::Tag>, AwsError> {
    pairs
        .into_iter()
        .map(|(k, v)| {
            aws_sdk_ecr::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(refused)
        })
        .collect()
}

pub fn s3(pairs: Pairs) -> Result<Vec<aws_sdk_s3::types::Tag>, AwsError> {
    pairs
        .into_iter()
        .map(|(k, v)| {
            aws_sdk_s3::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(refused)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_pair_becomes_a_tag() {
        let pairs = vec![
            ("Name".to_string(), "vpc-main-dev1".to_string()),
            ("k".into(), "".into()),
        ];
        assert_eq!(super::ec2(pairs.clone()).len(), 2);
        assert_eq!(super::iam(pairs.clone()).unwrap().len(), 2);
        assert_eq!(super::s3(pairs.clone()).unwrap()[1].value(), "");
        assert_eq!(super::logs(pairs)["Name"], "vpc-main-dev1");
    }
}
