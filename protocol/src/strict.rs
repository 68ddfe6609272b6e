//! Deserializers stricter than serde's derives where a message must match its schema: a
//! derived struct also accepts a JSON array (its fields by position), which no JSON Schema of
//! the struct allows. Fields of struct type that arrive from outside use [`object`] or
//! [`objects`].
//!
//! ```
//! #[derive(serde::Deserialize)]
//! struct Inner { a: u32 }
//! #[derive(serde::Deserialize)]
//! struct Outer {
//!     #[serde(deserialize_with = "sniperforge_protocol::strict::object")]
//!     inner: Inner,
//! }
//! assert!(serde_json::from_str::<Outer>(r#"{"inner": {"a": 1}}"#).is_ok());
//! assert!(serde_json::from_str::<Outer>(r#"{"inner": [1]}"#).is_err());
//! ```

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

struct ObjectOnly<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectOnly<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map))
    }
}

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for ObjectOnly<T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_map(self)
    }
}

/// A `T` from a JSON object only (never from an array).
pub fn object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    d.deserialize_map(ObjectOnly(PhantomData))
}

struct ObjectsOnly<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectsOnly<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        // The size hint is the caller's: capped so it cannot reserve much up front.
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1_024));
        while let Some(item) = seq.next_element_seed(ObjectOnly(PhantomData))? {
            out.push(item);
        }
        Ok(out)
    }
}

/// A `Vec<T>` from a JSON array of objects only.
pub fn objects<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    d.deserialize_seq(ObjectsOnly(PhantomData))
}
