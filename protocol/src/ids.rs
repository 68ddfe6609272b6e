//! Bot and node ids: what they may hold, checked once where they enter.
//!
//! A bot id names files, systemd units and Nomad jobs; a node id names a machine. Both are
//! short ASCII, so neither can reach outside a directory or a unit name.
//!
//! ```
//! use sniperforge_protocol::{BotId, NodeId};
//! assert!(BotId::new("arb-1").is_ok());
//! assert!(BotId::new("../etc").is_err());
//! let node: NodeId = serde_json::from_str("\"ny-1.dc\"").unwrap();
//! assert_eq!(node.as_str(), "ny-1.dc");
//! ```

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// Whether `id` is a valid bot id: 1 to 64 ASCII letters, digits, `-` or `_`.
pub fn valid_bot_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `id` is a valid node id: 1 to 64 ASCII letters, digits, `-`, `_` or `.`.
pub fn valid_node_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// An id that does not follow its rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Not a bot id.
    #[error("bot id: must be 1 to 64 letters, digits, '-' or '_' (got {len} bytes)")]
    Bot {
        /// Length of what was given, in bytes (the text itself may be hostile).
        len: usize,
    },
    /// Not a node id.
    #[error("node id: must be 1 to 64 letters, digits, '-', '_' or '.' (got {len} bytes)")]
    Node {
        /// Length of what was given, in bytes.
        len: usize,
    },
}

macro_rules! id_type {
    ($name:ident, $valid:ident, $err:ident, $what:literal, $pattern:literal) => {
        #[doc = concat!("A ", $what, " id, valid by construction (see [`", stringify!($valid), "`]).")]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            #[doc = concat!("Checks `id` and wraps it.")]
            pub fn new(id: impl Into<String>) -> Result<Self, IdError> {
                let id = id.into();
                if $valid(&id) {
                    Ok(Self(id))
                } else {
                    Err(IdError::$err { len: id.len() })
                }
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id as an owned string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        #[cfg(feature = "schema")]
        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "pattern": $pattern,
                    "description": concat!("A ", $what, " id."),
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        // Hash and Eq are the inner string's, so maps keyed by the id are looked up by text.
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::new(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(BotId, valid_bot_id, Bot, "bot", "^[A-Za-z0-9_-]{1,64}$");
id_type!(
    NodeId,
    valid_node_id,
    Node,
    "node",
    "^[A-Za-z0-9_.-]{1,64}$"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_their_rules_and_refuse_without_echoing() {
        assert!(BotId::new("arb-1_x").is_ok());
        assert!(BotId::new("a.b").is_err(), "dots name no bot");
        assert!(NodeId::new("node-1.dc").is_ok());
        for bad in ["", "../x", "a b", "é", &"x".repeat(65)] {
            assert!(BotId::new(bad).is_err(), "{bad:?}");
            assert!(NodeId::new(bad).is_err(), "{bad:?}");
        }
        let e = serde_json::from_str::<BotId>("\"../../etc\"").unwrap_err();
        assert!(e.to_string().contains("bot id"), "{e}");
        assert!(
            !e.to_string().contains("etc"),
            "the hostile text is not echoed: {e}"
        );
        let id: NodeId = serde_json::from_str("\"n1\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"n1\"");
    }
}
