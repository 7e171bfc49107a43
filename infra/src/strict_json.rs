//! Reading a request's nested values strictly: a field the type does not know is
//! refused, naming where it is, instead of being dropped quietly.
//!
//! serde's `deny_unknown_fields` covers one struct, not the types it holds, and the
//! event payloads request bodies reuse (accounts, databases, domains, storage) must
//! stay lenient: an older reader has to fold a newer event. So a request body
//! marks such a field `#[serde(deserialize_with = "ferry_infra::strict_json::deserialize")]`:
//! it is read as JSON, parsed as the type, written back, and every key of the input
//! that the written-back value lacks is an unknown field.
//!
//! This module emits and consumes no event.

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// Deserializes a `T`, refusing any field, at any depth, that `T` does not keep.
pub fn deserialize<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned + Serialize,
{
    let input = Value::deserialize(deserializer)?;
    let parsed: T = serde_json::from_value(input.clone()).map_err(D::Error::custom)?;
    let kept = serde_json::to_value(&parsed).map_err(D::Error::custom)?;
    let mut unknown = Vec::new();
    unknown_fields(&input, &kept, "", &mut unknown);
    match unknown.first() {
        None => Ok(parsed),
        Some(first) => Err(D::Error::custom(format!(
            "unknown field `{first}`{}",
            match unknown.len() {
                1 => String::new(),
                n => format!(" (and {} more)", n - 1),
            }
        ))),
    }
}

/// Pushes the path of every key of `input` that `kept` has not, e.g. `[1].domains[0].dsn`.
fn unknown_fields(input: &Value, kept: &Value, path: &str, unknown: &mut Vec<String>) {
    match (input, kept) {
        (Value::Object(input), Value::Object(kept)) => {
            for (key, value) in input {
                let at = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match kept.get(key) {
                    Some(kept) => unknown_fields(value, kept, &at, unknown),
                    None => unknown.push(at),
                }
            }
        }
        (Value::Array(input), Value::Array(kept)) => {
            for (index, (value, kept)) in input.iter().zip(kept).enumerate() {
                unknown_fields(value, kept, &format!("{path}[{index}]"), unknown);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Inner {
        name: String,
        #[serde(default)]
        size: Option<u64>,
    }

    #[derive(Debug, Deserialize)]
    struct Body {
        #[serde(deserialize_with = "deserialize")]
        items: Vec<Inner>,
    }

    fn read(json: &str) -> Result<Body, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn known_fields_and_absent_optional_ones_are_read() {
        let body = read(r#"{"items": [{"name": "a"}, {"name": "b", "size": 3}]}"#).expect("read");
        assert_eq!(body.items[1].size, Some(3));
    }

    #[test]
    fn an_unknown_field_at_any_depth_is_refused_with_its_path() {
        let err =
            read(r#"{"items": [{"name": "a"}, {"name": "b", "sise": 3}]}"#).expect_err("refused");
        assert!(err.contains("unknown field `[1].sise`"), "{err}");
        let err = read(r#"{"items": [{"name": "a", "x": 1, "y": 2}]}"#).expect_err("refused");
        assert!(err.contains("(and 1 more)"), "{err}");
    }

    #[test]
    fn a_type_error_is_still_the_type_error() {
        let err = read(r#"{"items": [{"name": 7}]}"#).expect_err("refused");
        assert!(err.contains("invalid type"), "{err}");
    }
}
