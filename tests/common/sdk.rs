//! SDK clients pointed at the emulator, for assertions that look at what
//! the binary did from the outside (never through `provision` itself).

use super::REGION;

/// SDK clients pointed at the emulator, for assertions.
pub async fn clients(endpoint: &str) -> provision::aws::Clients {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_ec2::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await;
    provision::aws::Clients::from_conf(&conf)
}

pub fn tag_filter(suffix: &str) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder()
        .name("tag:EnvironmentSuffix")
        .values(suffix)
        .build()
}
