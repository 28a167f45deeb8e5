//! Typed identifiers.
//!
//! Every resource is identified by a UUIDv7 (time-ordered, so primary-key indexes stay compact and
//! cursors sort by creation time). Each kind of resource has its own type so an id of one kind
//! cannot be passed where another is expected.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $human:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps an existing UUID.
            #[must_use]
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The underlying UUID.
            #[must_use]
            pub const fn as_uuid(self) -> Uuid {
                self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::try_parse(s).map(Self).map_err(|_| InvalidId {
                    kind: $human,
                })
            }
        }
    };
}

/// A string that is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {kind}: expected a UUID such as 0194f3a2-7b1c-7d3e-9f00-1234567890ab")]
pub struct InvalidId {
    kind: &'static str,
}

id_type!(
    /// A managed service provider: the organization that owns tenants and staff users.
    MspId,
    "MSP id"
);
id_type!(
    /// A tenant: one customer business of an MSP, the unit of isolation.
    TenantId,
    "tenant id"
);
id_type!(
    /// A user: MSP staff or a customer's user.
    UserId,
    "user id"
);
id_type!(
    /// An API token.
    ApiTokenId,
    "API token id"
);
id_type!(
    /// A signed-in browser session.
    SessionId,
    "session id"
);
id_type!(
    /// One entry of an audit chain.
    AuditEntryId,
    "audit entry id"
);
id_type!(
    /// A tenant's connection to one vendor.
    IntegrationId,
    "integration id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_strings() {
        let text = "0194f3a2-7b1c-7d3e-9f00-1234567890ab";
        let id: TenantId = text.parse().expect("valid uuid");
        assert_eq!(id.to_string(), text);
        assert_eq!(format!("{id:?}"), format!("TenantId({text})"));
    }

    #[test]
    fn malformed_ids_name_their_kind() {
        let err = "not-a-uuid".parse::<MspId>().expect_err("must fail");
        assert!(err.to_string().contains("MSP id"), "{err}");
    }
}

id_type!(
    /// A group of findings worked as one.
    IncidentId,
    "incident id"
);

id_type!(
    /// A proposed or executed change at a vendor.
    ActionId,
    "action id"
);
