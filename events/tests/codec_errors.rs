//! Every way a message can fail to decode (or an envelope to encode) gives the
//! right [`CodecError`], with a message naming the type and version.

use std::fs;
use std::path::Path;

use ferry_events::{
    AggregateIdProblem, AggregateType, CodecError, Envelope, Event, decode, encode,
};
use serde_json::{Value, json};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn fixture(relative: &str) -> Result<Value, Box<dyn std::error::Error>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(relative);
    Ok(serde_json::from_slice(&fs::read(path)?)?)
}

/// The `AccountMarkedReady` fixture with `field` set to `value`, decoded.
fn decode_with(field: &str, value: Value) -> Result<CodecError, Box<dyn std::error::Error>> {
    let mut wire = fixture("current/AccountMarkedReady.json")?;
    wire[field] = value;
    match decode(&serde_json::to_vec(&wire)?) {
        Ok(envelope) => Err(format!("decoded {envelope:?}").into()),
        Err(error) => Ok(error),
    }
}

#[test]
fn the_unmodified_fixture_decodes() -> TestResult {
    let wire = fixture("current/AccountMarkedReady.json")?;
    let envelope = decode(&serde_json::to_vec(&wire)?)?;
    assert_eq!(envelope.event_type(), "AccountMarkedReady");
    Ok(())
}

#[test]
fn unknown_event_type() -> TestResult {
    let error = decode_with("type", json!("AccountTeleported"))?;
    assert!(
        matches!(&error, CodecError::UnknownEventType { event_type, schema_version: 1 }
            if event_type == "AccountTeleported"),
        "{error:?}"
    );
    assert!(error.to_string().contains("AccountTeleported"));
    Ok(())
}

#[test]
fn future_version() -> TestResult {
    let error = decode_with("schema_version", json!(2))?;
    assert!(
        matches!(&error, CodecError::FutureVersion { event_type, schema_version: 2, current: 1 }
            if event_type == "AccountMarkedReady"),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("AccountMarkedReady") && message.contains('2'),
        "{message}"
    );
    Ok(())
}

#[test]
fn version_zero_never_existed() -> TestResult {
    let error = decode_with("schema_version", json!(0))?;
    assert!(
        matches!(&error, CodecError::UnsupportedVersion { event_type, schema_version: 0, missing_from: 0 }
            if event_type == "AccountMarkedReady"),
        "{error:?}"
    );
    Ok(())
}

#[test]
fn malformed_json() {
    for bytes in [&b"{\"event_id\": "[..], b"", b"[]", b"null", b"{}"] {
        let error = decode(bytes).expect_err("must not decode");
        assert!(matches!(error, CodecError::Malformed(_)), "{error:?}");
        assert!(error.to_string().starts_with("malformed event envelope"));
    }
}

#[test]
fn missing_or_ill_typed_envelope_fields_are_malformed() -> TestResult {
    for field in ["event_id", "actor", "occurred_at", "data", "type"] {
        let mut wire = fixture("current/AccountMarkedReady.json")?;
        wire.as_object_mut()
            .ok_or("the fixture is an object")?
            .remove(field);
        let error = decode(&serde_json::to_vec(&wire)?).expect_err("must not decode");
        assert!(
            matches!(error, CodecError::Malformed(_)),
            "{field}: {error:?}"
        );
    }
    let error = decode_with("event_id", json!("not-a-uuid"))?;
    assert!(matches!(error, CodecError::Malformed(_)), "{error:?}");
    let error = decode_with("schema_version", json!(-1))?;
    assert!(matches!(error, CodecError::Malformed(_)), "{error:?}");
    Ok(())
}

#[test]
fn event_type_of_another_aggregate() -> TestResult {
    let error = decode_with("aggregate_type", json!("loan"))?;
    assert!(
        matches!(&error, CodecError::AggregateMismatch {
            event_type,
            expected: AggregateType::Migration,
            found: AggregateType::Loan,
        } if event_type == "AccountMarkedReady"),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("AccountMarkedReady") && message.contains("migration"),
        "{message}"
    );
    Ok(())
}

#[test]
fn unknown_aggregate_type() -> TestResult {
    let error = decode_with("aggregate_type", json!("spaceship"))?;
    assert!(
        matches!(&error, CodecError::UnknownAggregateType { aggregate_type }
            if aggregate_type == "spaceship"),
        "{error:?}"
    );
    Ok(())
}

#[test]
fn invalid_aggregate_id() -> TestResult {
    let error = decode_with("aggregate_id", json!("bakery.example"))?;
    let CodecError::InvalidAggregateId(invalid) = &error else {
        return Err(format!("{error:?}").into());
    };
    assert_eq!(invalid.id, "bakery.example");
    assert!(matches!(
        invalid.problem,
        AggregateIdProblem::ForbiddenCharacter { character: '.', .. }
    ));
    Ok(())
}

#[test]
fn payload_not_matching_its_schema() -> TestResult {
    for data in [json!({}), json!({"account_id": 42}), json!([]), json!("x")] {
        let error = decode_with("data", data)?;
        assert!(
            matches!(&error, CodecError::InvalidPayload { event_type, schema_version: 1, .. }
                if event_type == "AccountMarkedReady"),
            "{error:?}"
        );
        assert!(error.to_string().contains("AccountMarkedReady"));
    }
    Ok(())
}

#[test]
fn old_payload_an_upcaster_refuses() -> TestResult {
    let mut wire = fixture("old/LoanOpened.v1.json")?;
    wire["data"] = json!([1, 2]);
    let error = decode(&serde_json::to_vec(&wire)?).expect_err("must not decode");
    assert!(
        matches!(&error, CodecError::Upcast { event_type, from_version: 1, .. }
            if event_type == "LoanOpened"),
        "{error:?}"
    );
    Ok(())
}

#[test]
fn old_payload_invalid_after_upcasting() -> TestResult {
    let mut wire = fixture("old/LoanOpened.v1.json")?;
    // Every upcaster of the chain accepts it (v2 → v3 needs the daily price).
    wire["data"] = json!({
        "migration_id": "nope",
        "daily_price": {"amount_cents": 150, "currency": "EUR"}
    });
    let error = decode(&serde_json::to_vec(&wire)?).expect_err("must not decode");
    assert!(
        matches!(&error, CodecError::InvalidPayload { event_type, schema_version: 1, .. }
            if event_type == "LoanOpened"),
        "{error:?}"
    );
    Ok(())
}

#[test]
fn encode_refuses_inconsistent_envelopes() -> TestResult {
    let wire = fixture("current/AccountMarkedReady.json")?;
    let envelope = decode(&serde_json::to_vec(&wire)?)?;

    let wrong_aggregate = Envelope {
        aggregate_type: AggregateType::Server,
        ..envelope.clone()
    };
    let error = encode(&wrong_aggregate).expect_err("must not encode");
    assert!(
        matches!(
            error,
            CodecError::AggregateMismatch {
                expected: AggregateType::Migration,
                found: AggregateType::Server,
                ..
            }
        ),
        "{error:?}"
    );

    let wrong_id = Envelope {
        aggregate_id: "ferry.events.>".into(),
        ..envelope
    };
    let error = encode(&wrong_id).expect_err("must not encode");
    assert!(
        matches!(error, CodecError::InvalidAggregateId(_)),
        "{error:?}"
    );
    Ok(())
}

#[test]
fn every_event_converts_into_its_aggregate() -> TestResult {
    // Decoding any fixture gives an event whose aggregate matches its envelope.
    for (name, aggregate, _) in Event::TYPES {
        let wire = fixture(&format!("current/{name}.json"))?;
        let envelope = decode(&serde_json::to_vec(&wire)?)?;
        assert_eq!(envelope.event.aggregate_type(), *aggregate);
        assert_eq!(envelope.aggregate_type, *aggregate);
    }
    Ok(())
}
