//! Names and tags: every resource is called `{type}-{purpose}-{suffix}` and
//! carries the same tags, so it can be found again from AWS alone.

use std::fmt;

pub const TAG_NAME: &str = "Name";
pub const TAG_SUFFIX: &str = "EnvironmentSuffix";
pub const TAG_MANAGED_BY: &str = "ManagedBy";
pub const TAG_PROJECT: &str = "Project";
/// Which step owns the resource, so `find` can tell the three subnets of a
/// tier (or the blue and green target groups) apart without the state file.
pub const TAG_STEP: &str = "provision:step";
pub const MANAGED_BY: &str = "provision";
pub const PROJECT: &str = "product-catalog";

/// The longest suffix: `tg-green-` plus 12 stays well under the 32
/// characters ALB and target group names allow.
pub const MAX_SUFFIX_LEN: usize = 12;

/// A validated environment suffix.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Suffix(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid suffix {value:?}: {reason}\n  hint: a suffix is 1-{MAX_SUFFIX_LEN} characters of a-z, 0-9 and '-', starts with a letter and does not end with '-' (e.g. dev1, pr-42)")]
pub struct SuffixError {
    pub value: String,
    pub reason: &'static str,
}

impl Suffix {
    pub fn parse(value: &str) -> Result<Self, SuffixError> {
        let err = |reason| {
            Err(SuffixError {
                value: value.to_owned(),
                reason,
            })
        };
        if value.is_empty() {
            return err("it is empty");
        }
        if value.len() > MAX_SUFFIX_LEN {
            return err("it is longer than 12 characters");
        }
        if !value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return err("it contains a character other than a-z, 0-9 and '-'");
        }
        if !value.starts_with(|c: char| c.is_ascii_lowercase()) {
            return err("it does not start with a letter");
        }
        if value.ends_with('-') {
            return err("it ends with '-'");
        }
        if value.contains("--") {
            return err("it contains '--'");
        }
        Ok(Suffix(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Suffix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `{kind}-{purpose}-{suffix}`, e.g. `vpc-main-dev1`.
pub fn name(kind: &str, purpose: &str, suffix: &Suffix) -> String {
    format!("{kind}-{purpose}-{suffix}")
}

/// The tags every resource carries: Name, the suffix, who manages it, the
/// project, and the owning step.
pub fn tags(suffix: &Suffix, name: &str, step: &str) -> Vec<(String, String)> {
    vec![
        (TAG_NAME.into(), name.into()),
        (TAG_SUFFIX.into(), suffix.to_string()),
        (TAG_MANAGED_BY.into(), MANAGED_BY.into()),
        (TAG_PROJECT.into(), PROJECT.into()),
        (TAG_STEP.into(), step.into()),
    ]
}

/// Tag (or marker) carrying the fingerprint of the configuration a run
/// applied after the resource was created.
pub const TAG_CONFIGURED: &str = "provision:configured";

/// A short, stable fingerprint of a desired configuration (FNV-1a, 64 bit).
/// Written last, after every call that configures a resource succeeded, it
/// lets a converged run see "configured as wanted" from the one describe it
/// already made, instead of one extra call per property; a missing or
/// different fingerprint means "check everything and repair".
pub fn fingerprint(desired: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in desired.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Letter of the n-th availability zone slot (`a`, `b`, `c`).
pub fn az_letter(i: usize) -> char {
    (b'a' + i as u8) as char
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_suffixes() {
        for s in ["a", "dev1", "pr-42", "abcdefghijkl"] {
            assert!(Suffix::parse(s).is_ok(), "{s}");
        }
    }

    #[test]
    fn bad_suffixes_say_why() {
        for (s, why) in [
            ("", "empty"),
            ("UPPER", "character"),
            ("bad_suffix", "character"),
            ("abcdefghijklm", "longer"),
            ("-lead", "start with a letter"),
            ("1abc", "start with a letter"),
            ("trail-", "ends with"),
            ("a--b", "--"),
        ] {
            let e = Suffix::parse(s).unwrap_err();
            assert!(e.to_string().contains(why), "{s}: {e}");
            assert!(e.to_string().contains("hint:"), "{e}");
        }
    }

    #[test]
    fn longest_derived_names_fit_elb_limits() {
        let s = Suffix::parse("abcdefghijkl").unwrap();
        assert!(name("tg", "green", &s).len() <= 32);
        assert!(name("alb", "api", &s).len() <= 32);
        assert_eq!(name("vpc", "main", &Suffix::parse("dev1").unwrap()), "vpc-main-dev1");
    }

    #[test]
    fn fingerprints_are_stable_and_tell_configurations_apart() {
        assert_eq!(fingerprint("a"), fingerprint("a"));
        assert_ne!(fingerprint("policy v1"), fingerprint("policy v2"));
        assert_eq!(fingerprint(""), "cbf29ce484222325");
    }

    #[test]
    fn tags_carry_suffix_owner_and_step() {
        let s = Suffix::parse("dev1").unwrap();
        let t = tags(&s, "vpc-main-dev1", "vpc");
        for (k, v) in [
            ("Name", "vpc-main-dev1"),
            ("EnvironmentSuffix", "dev1"),
            ("ManagedBy", "provision"),
            ("Project", "product-catalog"),
            ("provision:step", "vpc"),
        ] {
            assert!(t.contains(&(k.to_string(), v.to_string())), "{k}");
        }
    }
}
