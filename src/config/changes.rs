//! What a run changes in the recorded settings, and which of those changes
//! can lose data or availability. `plan` lists them (`!` marks the
//! destructive ones); `up` asks before making a destructive one, and
//! refuses it without `--yes` when nobody can be asked.

use super::layers::values_of;
use super::StackRequest;
use serde::Serialize;
use serde_json::Value;

/// One setting whose value this run changes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub key: String,
    pub from: Value,
    pub to: Value,
    /// Why the change can lose data or availability, if it can.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destructive: Option<String>,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mark = if self.destructive.is_some() { '!' } else { '~' };
        write!(f, "{mark} {}: {} -> {}", self.key, self.from, self.to)?;
        if let Some(why) = &self.destructive {
            write!(f, "  ({why})")?;
        }
        Ok(())
    }
}

/// The settings that differ between `old` (recorded) and `new`.
pub fn diff(old: &StackRequest, new: &StackRequest) -> Vec<Change> {
    let (a, b) = (values_of(old), values_of(new));
    b.iter()
        .filter(|(k, v)| a.get(*k) != Some(*v))
        .map(|(k, v)| Change {
            key: k.clone(),
            from: a.get(k).cloned().unwrap_or(Value::Null),
            to: v.clone(),
            destructive: destructive(k, old, new),
        })
        .collect()
}

/// Why changing `key` from `old` to `new` can lose data or availability.
fn destructive(key: &str, old: &StackRequest, new: &StackRequest) -> Option<String> {
    let why = match key {
        "protect-data" if old.protect_data && !new.protect_data => {
            "turns deletion protection off and drops the final snapshot: `down` would then delete the database and its data"
                .to_string()
        }
        "log-retention-days" if new.log_retention_days < old.log_retention_days => format!(
            "CloudWatch Logs deletes the events older than {} days",
            new.log_retention_days
        ),
        "certificate-arn" if old.certificate_arn.is_some() && new.certificate_arn.is_none() => {
            "removes HTTPS: clients of https:// lose the API".to_string()
        }
        "certificate-arn" if old.certificate_arn.is_some() => {
            "replaces the certificate of the HTTPS listener: clients that pin it lose the API".to_string()
        }
        "vpc-cidr" => "a VPC's primary CIDR cannot change: the network, the load balancer and the database would be replaced"
            .to_string(),
        "kms-key-arn" => {
            "encrypted resources cannot change key in place: the database, the registry and the log groups would be replaced"
                .to_string()
        }
        "db-major" if new.db_major < old.db_major => {
            "Aurora cannot downgrade a major version: the database would be replaced".to_string()
        }
        "db-major" => "a major version upgrade takes the database offline while it runs".to_string(),
        "db-engine-version" => "an engine version change restarts the database".to_string(),
        "edge" if new.edge => {
            "puts CloudFront in front: the load balancer is replaced by an internal one, and clients move to the \
             distribution's URL (ApiUrl)"
                .to_string()
        }
        "edge" => "removes CloudFront: clients of the distribution's URL lose the API, and the load balancer is \
                   replaced by an internet-facing one"
            .to_string(),
        "waf" if !new.waf => "removes the web firewall: managed rules and the rate limit stop filtering requests".to_string(),
        "domain" | "edge-certificate-arn" if old.domain.is_some() => {
            "changes the API's domain on the distribution: clients of the old name lose the API".to_string()
        }
        "db-secret-arn" => "the database credentials change: the API loses its connections until it reads them".to_string(),
        "secrets" if old.secrets.keys().any(|k| !new.secrets.contains_key(k)) => {
            "removes a secret from the API's environment".to_string()
        }
        _ => return None,
    };
    Some(why)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> StackRequest {
        StackRequest {
            suffix: "prod".into(),
            protect_data: true,
            log_retention_days: 90,
            certificate_arn: Some("arn:aws:acm:ap-southeast-2:123456789012:certificate/a".into()),
            ..StackRequest::default()
        }
    }

    #[test]
    fn losing_protection_retention_or_https_is_destructive() {
        let mut new = base();
        new.protect_data = false;
        new.log_retention_days = 30;
        new.certificate_arn = None;
        new.spot_percent = 50;
        let changes = diff(&base(), &new);
        let by = |k: &str| changes.iter().find(|c| c.key == k).unwrap();
        assert!(by("protect-data").destructive.is_some());
        assert!(by("log-retention-days")
            .destructive
            .as_deref()
            .unwrap()
            .contains("30 days"));
        assert!(by("certificate-arn").destructive.as_deref().unwrap().contains("HTTPS"));
        assert_eq!(by("spot-percent").destructive, None);
        assert_eq!(changes.len(), 4);
        assert!(by("protect-data")
            .to_string()
            .starts_with("! protect-data: true -> false"));
        assert!(by("spot-percent").to_string().starts_with("~ spot-percent: 70 -> 50"));
    }

    #[test]
    fn the_safe_directions_are_not_destructive() {
        let old = StackRequest {
            protect_data: false,
            log_retention_days: 30,
            ..base()
        };
        let new = StackRequest {
            protect_data: true,
            log_retention_days: 365,
            ..base()
        };
        assert!(diff(&old, &new).iter().all(|c| c.destructive.is_none()));
        assert!(diff(&base(), &base()).is_empty());
    }
}
