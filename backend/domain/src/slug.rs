//! Short, URL-safe names for MSPs and tenants.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// Lowercase ASCII letters, digits and single dashes; 1 to 63 characters; starts and ends with a
/// letter or digit (the shape of a DNS label, so a slug can later name a subdomain).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(value_type = String, pattern = "^[a-z0-9]+(-[a-z0-9]+)*$", example = "acme-dental")
)]
#[serde(try_from = "String", into = "String")]
pub struct Slug(String);

/// Why a string is not a valid slug.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a valid slug: use 1 to 63 lowercase letters, digits and dashes, starting and ending with a letter or digit"
)]
pub struct InvalidSlug(pub String);

impl Slug {
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Derives a slug from a display name (`"Acme Dental, Inc."` → `acme-dental-inc`).
    /// Returns `None` when the name has no letters or digits.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        let mut slug = String::with_capacity(name.len());
        for ch in name.chars().flat_map(char::to_lowercase) {
            if ch.is_ascii_alphanumeric() {
                slug.push(ch);
            } else if !slug.is_empty() && !slug.ends_with('-') {
                slug.push('-');
            }
        }
        slug.truncate(63);
        let slug = slug.trim_end_matches('-').to_owned();
        slug.parse().ok()
    }
}

impl FromStr for Slug {
    type Err = InvalidSlug;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let valid_chars = s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        let valid = (1..=63).contains(&s.len())
            && valid_chars
            && !s.starts_with('-')
            && !s.ends_with('-')
            && !s.contains("--");
        if valid {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidSlug(s.to_owned()))
        }
    }
}

impl TryFrom<String> for Slug {
    type Error = InvalidSlug;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Slug> for String {
    fn from(slug: Slug) -> Self {
        slug.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dns_label_shapes() {
        for ok in ["a", "acme", "acme-dental", "x1-2y", &"a".repeat(63)] {
            assert!(ok.parse::<Slug>().is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "",
            "-acme",
            "acme-",
            "Acme",
            "ac me",
            "acme--dental",
            "é",
            &"a".repeat(64),
        ] {
            assert!(bad.parse::<Slug>().is_err(), "{bad}");
        }
    }

    #[test]
    fn derives_from_names() {
        assert_eq!(
            Slug::from_name("Acme Dental, Inc.").unwrap().as_str(),
            "acme-dental-inc"
        );
        assert_eq!(
            Slug::from_name("  Bob's  Bakery ").unwrap().as_str(),
            "bob-s-bakery"
        );
        assert!(Slug::from_name("!!!").is_none());
    }
}
