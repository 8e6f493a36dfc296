//! The stack file: settings checked into the repository, so that a change
//! to a production stack is reviewed in a pull request like code. One table
//! per suffix; keys are the setting names (the flags without `--`), plus
//! `account` and `region`, which bind the stack to one AWS account and
//! region on every machine:
//!
//! ```toml
//! [prod]
//! account = "123456789012"
//! region = "ap-southeast-2"
//! protect-data = true
//! alarm-email = "oncall@example.com"
//! env = { FEATURE_FLAGS = "search,reviews" }
//! ```
//!
//! The file is optional. `--stack-file PATH` names one (it must exist);
//! otherwise `provision.toml` in the working directory is used when present.

use super::layers::{keys, Values};
use super::InputError;
use std::path::{Path, PathBuf};

/// The file used when `--stack-file` is not given, if it exists.
pub const DEFAULT_PATH: &str = "provision.toml";

/// What the stack file declares for one suffix.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Declared {
    /// The file it came from (for messages and `plan`).
    pub path: Option<PathBuf>,
    pub values: Values,
    pub account: Option<String>,
    pub region: Option<String>,
}

fn file_err(path: &Path, reason: impl Into<String>, hint: impl Into<String>) -> InputError {
    InputError::StackFile {
        path: path.display().to_string(),
        reason: reason.into(),
        hint: hint.into(),
    }
}

/// Reads the table of `suffix` from `explicit`, or from `provision.toml`
/// when no file is named and it exists. A missing table is no declaration.
pub fn load(explicit: Option<&Path>, suffix: &str) -> Result<Declared, InputError> {
    let path = match explicit {
        Some(p) => p.to_owned(),
        None => {
            let p = PathBuf::from(DEFAULT_PATH);
            if !p.is_file() {
                return Ok(Declared::default());
            }
            p
        }
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        file_err(
            &path,
            e.to_string(),
            "check the path given with --stack-file (or PROVISION_STACK_FILE)",
        )
    })?;
    parse(&text, &path, suffix)
}

/// Parses a stack file's text (see the module's documentation).
pub fn parse(text: &str, path: &Path, suffix: &str) -> Result<Declared, InputError> {
    let doc: toml::Table = toml::from_str(text).map_err(|e| {
        file_err(
            path,
            format!("not valid TOML: {}", e.message()),
            "one [SUFFIX] table per stack, with setting = value lines",
        )
    })?;
    let Some(table) = doc.get(suffix) else {
        return Ok(Declared {
            path: Some(path.to_owned()),
            ..Declared::default()
        });
    };
    let Some(table) = table.as_table() else {
        return Err(file_err(
            path,
            format!("`{suffix}` is not a table"),
            format!("write it as [{suffix}] followed by setting = value lines"),
        ));
    };
    let mut declared = Declared {
        path: Some(path.to_owned()),
        ..Declared::default()
    };
    let known = keys();
    for (k, v) in table {
        let text_of = |v: &toml::Value| v.as_str().map(str::to_owned);
        match k.as_str() {
            "account" => {
                let a = text_of(v).filter(|a| a.len() == 12 && a.chars().all(|c| c.is_ascii_digit()));
                declared.account = Some(a.ok_or_else(|| {
                    file_err(
                        path,
                        format!("[{suffix}] account must be a 12-digit string"),
                        "quote it: account = \"123456789012\"",
                    )
                })?);
            }
            "region" => {
                declared.region = Some(text_of(v).ok_or_else(|| {
                    file_err(
                        path,
                        format!("[{suffix}] region must be a string"),
                        "e.g. region = \"ap-southeast-2\"",
                    )
                })?);
            }
            _ if known.contains(k) => {
                let json = serde_json::to_value(v).map_err(|e| file_err(path, e.to_string(), "use plain values"))?;
                declared.values.insert(k.clone(), json);
            }
            _ => {
                return Err(file_err(
                    path,
                    format!("[{suffix}] has an unknown key `{k}`"),
                    format!("the keys are account, region, {}", known.join(", ")),
                ))
            }
        }
    }
    Ok(declared)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[prod]
account = "123456789012"
region = "ap-southeast-2"
protect-data = true
log-retention-days = 365
env = { FEATURE_FLAGS = "search" }

[dev1]
spot-percent = 100
"#;

    #[test]
    fn a_suffix_table_declares_settings_and_the_binding() {
        let d = parse(FILE, Path::new("provision.toml"), "prod").unwrap();
        assert_eq!(d.account.as_deref(), Some("123456789012"));
        assert_eq!(d.region.as_deref(), Some("ap-southeast-2"));
        assert_eq!(d.values["protect-data"], serde_json::json!(true));
        assert_eq!(d.values["env"]["FEATURE_FLAGS"], serde_json::json!("search"));
        assert!(!d.values.contains_key("spot-percent"));
        let d = parse(FILE, Path::new("provision.toml"), "other").unwrap();
        assert!(d.values.is_empty() && d.account.is_none());
    }

    #[test]
    fn mistakes_are_named_with_the_allowed_keys() {
        let e = parse("[prod]\nprotect_data = true\n", Path::new("p.toml"), "prod")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("p.toml") && e.contains("protect_data") && e.contains("protect-data"),
            "{e}"
        );
        let e = parse("[prod]\naccount = 1234\n", Path::new("p.toml"), "prod")
            .unwrap_err()
            .to_string();
        assert!(e.contains("12-digit"), "{e}");
        let e = parse("[prod\n", Path::new("p.toml"), "prod").unwrap_err().to_string();
        assert!(e.contains("not valid TOML") && e.contains("hint:"), "{e}");
        let e = load(Some(Path::new("/nonexistent/provision.toml")), "prod")
            .unwrap_err()
            .to_string();
        assert!(e.contains("--stack-file"), "{e}");
    }
}
