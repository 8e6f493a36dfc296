//! One way to turn the stack's tags (`naming::tags`, key/value pairs) into
//! each SDK's tag type. Builders that can refuse (a required field unset)
//! return an error instead of silently dropping a tag: a resource missing
//! its `provision:step` tag could never be found again.

use super::AwsError;

pub type Pairs = Vec<(String, String)>;

fn refused(e: impl std::fmt::Display) -> AwsError {
    AwsError::custom("BuildRequest", "InvalidTag", e.to_string())
}

/// `function: sdk_crate;` for the SDKs whose tag builder cannot fail.
macro_rules! tags {
    ($($fn:ident: $sdk:ident;)*) => {$(
        #[doc = concat!("The pairs as `", stringify!($sdk), "` tags.")]
        pub fn $fn(pairs: Pairs) -> Vec<$sdk::types::Tag> {
            pairs.into_iter().map(|(k, v)| $sdk::types::Tag::builder().key(k).value(v).build()).collect()
        }
    )*};
}

/// `function: sdk_crate(key setter, value setter);` for the SDKs whose tag
/// builder refuses a missing key or value.
macro_rules! fallible_tags {
    ($($fn:ident: $sdk:ident($key:ident, $value:ident);)*) => {$(
        #[doc = concat!("The pairs as `", stringify!($sdk), "` tags.")]
        pub fn $fn(pairs: Pairs) -> Result<Vec<$sdk::types::Tag>, AwsError> {
            pairs
                .into_iter()
                .map(|(k, v)| $sdk::types::Tag::builder().$key(k).$value(v).build().map_err(refused))
                .collect()
        }
    )*};
}

tags! {
    ec2: aws_sdk_ec2;
    rds: aws_sdk_rds;
    ecs: aws_sdk_ecs;
    elb: aws_sdk_elasticloadbalancingv2;
    secrets: aws_sdk_secretsmanager;
    cloudwatch: aws_sdk_cloudwatch;
}

fallible_tags! {
    iam: aws_sdk_iam(key, value);
    sns: aws_sdk_sns(key, value);
    ecr: aws_sdk_ecr(key, value);
    s3: aws_sdk_s3(key, value);
    kms: aws_sdk_kms(tag_key, tag_value);
    wafv2: aws_sdk_wafv2(key, value);
    dynamodb: aws_sdk_dynamodb(key, value);
}

/// CloudFront takes its tags as `Tags { Items }`.
pub fn cloudfront(pairs: Pairs) -> Result<aws_sdk_cloudfront::types::Tags, AwsError> {
    let items = pairs
        .into_iter()
        .map(|(k, v)| {
            aws_sdk_cloudfront::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(refused)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(aws_sdk_cloudfront::types::Tags::builder()
        .set_items(Some(items))
        .build())
}

/// CloudWatch Logs takes its tags as a map.
pub fn logs(pairs: Pairs) -> std::collections::HashMap<String, String> {
    pairs.into_iter().collect()
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
        assert_eq!(super::kms(pairs.clone()).unwrap()[0].tag_key(), "Name");
        assert_eq!(super::wafv2(pairs.clone()).unwrap()[1].value(), "");
        assert_eq!(super::cloudfront(pairs.clone()).unwrap().items().len(), 2);
        assert_eq!(super::logs(pairs)["Name"], "vpc-main-dev1");
    }
}
