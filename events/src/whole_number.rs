//! Whole numbers as JSON Schema reads them: `"type": "integer"` holds `1742` and
//! `1742.0` alike, so a request carrying a size or a price written with a zero
//! fraction is read as the integer it is, rather than refused. A fraction is still
//! refused.

use serde::de::{Deserializer, Error, Unexpected, Visitor};
use std::fmt;

/// Reads a `u64` written as an integer or as a float with no fraction.
pub fn unsigned<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    deserializer.deserialize_any(Whole::<u64>(std::marker::PhantomData))
}

/// Reads an `i64` written as an integer or as a float with no fraction.
pub fn signed<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    deserializer.deserialize_any(Whole::<i64>(std::marker::PhantomData))
}

/// Reads any integer type (a `u32` count of days, say) written as an integer or as
/// a float with no fraction; a value out of the type's range is refused.
pub fn whole<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64> + TryFrom<i64>,
{
    deserializer.deserialize_any(Whole::<T>(std::marker::PhantomData))
}

struct Whole<T>(std::marker::PhantomData<T>);

impl<T> Visitor<'_> for Whole<T>
where
    T: TryFrom<u64> + TryFrom<i64>,
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a whole number in range")
    }

    fn visit_u64<E: Error>(self, v: u64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
    }

    fn visit_i64<E: Error>(self, v: i64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
    }

    fn visit_f64<E: Error>(self, v: f64) -> Result<T, E> {
        // 2^63 and -2^63 are exact in f64, so the bounds below are exact too.
        const TWO_TO_63: f64 = 9_223_372_036_854_775_808.0;
        let refuse = || E::invalid_value(Unexpected::Float(v), &self);
        if v.fract() != 0.0 || !v.is_finite() {
            return Err(refuse());
        }
        if (0.0..2.0 * TWO_TO_63).contains(&v) {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            return self.visit_u64(v as u64); // whole and in range: exact
        }
        if (-TWO_TO_63..0.0).contains(&v) {
            #[allow(clippy::cast_possible_truncation)]
            return self.visit_i64(v as i64); // whole and in range: exact
        }
        Err(refuse())
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Sizes {
        #[serde(deserialize_with = "super::unsigned")]
        bytes: u64,
        #[serde(deserialize_with = "super::signed")]
        cents: i64,
    }

    #[derive(Deserialize)]
    struct Days {
        #[serde(deserialize_with = "super::whole")]
        days: u32,
    }

    #[test]
    fn a_smaller_type_reads_whole_floats_and_refuses_what_it_cannot_hold() {
        let days = |json: &str| serde_json::from_str::<Days>(json).map(|d| d.days).ok();
        assert_eq!(days(r#"{"days": 171.0}"#), Some(171));
        assert_eq!(days(r#"{"days": 14}"#), Some(14));
        assert_eq!(days(r#"{"days": 4294967296}"#), None);
        assert_eq!(days(r#"{"days": -1}"#), None);
        assert_eq!(days(r#"{"days": 1.5}"#), None);
    }

    fn read(json: &str) -> Result<(u64, i64), serde_json::Error> {
        serde_json::from_str::<Sizes>(json).map(|s| (s.bytes, s.cents))
    }

    #[test]
    fn whole_floats_are_the_integers_they_are() {
        assert_eq!(
            read(r#"{"bytes": 1742.0, "cents": -5.0}"#).ok(),
            Some((1742, -5))
        );
        assert_eq!(
            read(r#"{"bytes": 1742, "cents": 4900}"#).ok(),
            Some((1742, 4900))
        );
    }

    #[test]
    fn fractions_negatives_and_overflows_are_refused() {
        for json in [
            r#"{"bytes": 1.5, "cents": 0}"#,
            r#"{"bytes": -1, "cents": 0}"#,
            r#"{"bytes": -1.0, "cents": 0}"#,
            r#"{"bytes": 0, "cents": 1e30}"#,
            r#"{"bytes": "1", "cents": 0}"#,
        ] {
            assert!(read(json).is_err(), "{json}");
        }
    }
}
