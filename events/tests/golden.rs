//! The compatibility guard: golden wire fixtures of every event type.
//!
//! - `fixtures/current/<EventType>.json`: one envelope per catalogue type, at its
//!   current schema version. Decoding then re-encoding it must give the same JSON:
//!   renaming, retyping, adding or removing a field fails here.
//! - `fixtures/old/<EventType>.v<N>.json`: envelopes of older versions, kept forever,
//!   which must still decode (through the upcasters).
//!
//! A changed event shape gets a new schema version and an upcaster: move the current
//! fixture to `old/` as `<EventType>.v<N>.json`, then write the new one. A new event
//! type gets its sample in `support/mod.rs`, then its fixture with
//! `cargo run -p ferry-events --example write_fixtures`
//! (it never overwrites a fixture).

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use ferry_events::{Event, LoanOpened, decode, encode, encode_pretty};
use serde_json::Value;

type Error = Box<dyn std::error::Error>;
type TestResult = Result<(), Error>;

fn fixtures(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(kind)
}

/// Every `.json` file of a fixture directory: (file stem, contents).
fn read_fixtures(kind: &str) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let mut found = Vec::new();
    for entry in fs::read_dir(fixtures(kind))? {
        let path = entry?.path();
        let stem = path
            .file_stem()
            .and_then(|stem| stem.to_str())
            .ok_or_else(|| format!("fixture name is not UTF-8: {}", path.display()))?
            .to_owned();
        if path.extension().and_then(|ext| ext.to_str()) != Some("json") {
            return Err(format!("not a .json fixture: {}", path.display()).into());
        }
        found.push((stem, fs::read(&path)?));
    }
    found.sort();
    Ok(found)
}

#[test]
fn every_catalogue_type_has_a_current_fixture_and_nothing_else_has() -> TestResult {
    let on_disk: BTreeSet<String> = read_fixtures("current")?
        .into_iter()
        .map(|(stem, _)| stem)
        .collect();
    let catalogue: BTreeSet<String> = Event::TYPES
        .iter()
        .map(|(name, _, _)| (*name).to_owned())
        .collect();
    let missing: Vec<_> = catalogue.difference(&on_disk).collect();
    let unknown: Vec<_> = on_disk.difference(&catalogue).collect();
    assert!(
        missing.is_empty(),
        "event types without a golden fixture in fixtures/current: {missing:?}"
    );
    assert!(
        unknown.is_empty(),
        "fixtures in fixtures/current that are no catalogue type: {unknown:?}"
    );
    Ok(())
}

#[test]
fn current_fixtures_decode_and_reencode_to_the_same_json() -> TestResult {
    for (stem, bytes) in read_fixtures("current")? {
        let envelope = decode(&bytes).map_err(|e| format!("{stem}.json: {e}"))?;
        assert_eq!(
            envelope.event_type(),
            stem,
            "{stem}.json holds another type"
        );
        let on_disk: Value = serde_json::from_slice(&bytes)?;
        assert_eq!(
            on_disk["schema_version"],
            Value::from(envelope.schema_version()),
            "{stem}.json is not at the current schema version"
        );
        let again: Value = serde_json::from_slice(&encode(&envelope)?)?;
        assert_eq!(again, on_disk, "{stem}.json changed when re-encoded");
        let pretty: Value = serde_json::from_slice(&encode_pretty(&envelope)?)?;
        assert_eq!(
            pretty, on_disk,
            "{stem}.json changed when re-encoded pretty"
        );
    }
    Ok(())
}

#[test]
fn current_fixtures_hold_the_samples() -> TestResult {
    for sample in support::sample_envelopes() {
        let name = sample.event_type();
        let bytes = fs::read(fixtures("current").join(format!("{name}.json")))?;
        assert_eq!(
            decode(&bytes)?,
            sample,
            "{name}.json differs from its sample"
        );
    }
    assert_eq!(support::samples().len(), Event::TYPES.len());
    Ok(())
}

#[test]
fn every_earlier_version_of_a_type_keeps_its_fixture() -> TestResult {
    // A bumped version whose predecessor has no fixture could no longer be shown
    // to read the logs written before it.
    let old: BTreeSet<String> = read_fixtures("old")?
        .into_iter()
        .map(|(stem, _)| stem)
        .collect();
    let mut missing = Vec::new();
    for (name, _, version) in Event::TYPES {
        for earlier in 1..*version {
            let stem = format!("{name}.v{earlier}");
            if !old.contains(&stem) {
                missing.push(stem);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "earlier versions without a fixture in fixtures/old: {missing:?}"
    );
    Ok(())
}

#[test]
fn old_fixtures_decode_to_the_current_version() -> TestResult {
    let old = read_fixtures("old")?;
    assert!(!old.is_empty(), "fixtures/old is empty");
    for (stem, bytes) in old {
        let (name, version) = stem
            .split_once(".v")
            .ok_or_else(|| format!("old fixture {stem}.json is not <EventType>.v<N>.json"))?;
        let version: u16 = version.parse()?;
        let (_, current) =
            Event::find_type(name).ok_or_else(|| format!("{stem}.json: unknown type {name}"))?;
        assert!(
            version < current,
            "{stem}.json: v{version} is not older than current v{current}"
        );
        let on_disk: Value = serde_json::from_slice(&bytes)?;
        assert_eq!(on_disk["type"], Value::from(name), "{stem}.json type");
        assert_eq!(
            on_disk["schema_version"],
            Value::from(version),
            "{stem}.json version"
        );
        let envelope = decode(&bytes).map_err(|e| format!("{stem}.json: {e}"))?;
        assert_eq!(envelope.event_type(), name);
        assert_eq!(envelope.schema_version(), current);
        // Re-encoding writes the current version.
        let again: Value = serde_json::from_slice(&encode(&envelope)?)?;
        assert_eq!(again["schema_version"], Value::from(current));
    }
    Ok(())
}

#[test]
fn loan_opened_v1_upcasts_with_a_one_week_free_period() -> TestResult {
    let bytes = fs::read(fixtures("old").join("LoanOpened.v1.json"))?;
    let v1: Value = serde_json::from_slice(&bytes)?;
    assert!(v1["data"].get("free_period_days").is_none());

    let envelope = decode(&bytes)?;
    assert_eq!(envelope.schema_version(), 3);
    let Event::Loan(ferry_events::LoanEvent::LoanOpened(opened)) = &envelope.event else {
        return Err(format!("decoded {} instead of LoanOpened", envelope.event_type()).into());
    };
    let LoanOpened {
        free_period_days,
        transit_server_id,
        ..
    } = opened;
    assert_eq!(*free_period_days, 7);
    assert_eq!(transit_server_id, "tr-0003");

    let v3: Value = serde_json::from_slice(&encode(&envelope)?)?;
    assert_eq!(v3["schema_version"], Value::from(3));
    assert_eq!(v3["data"]["free_period_days"], Value::from(7));
    Ok(())
}

#[test]
fn loan_opened_v2_upcasts_its_daily_price_to_thirty_days_a_month() -> TestResult {
    let bytes = fs::read(fixtures("old").join("LoanOpened.v2.json"))?;
    let v2: Value = serde_json::from_slice(&bytes)?;
    let daily = v2["data"]["daily_price"]["amount_cents"]
        .as_i64()
        .ok_or("the v2 fixture has a daily price")?;

    let envelope = decode(&bytes)?;
    let Event::Loan(ferry_events::LoanEvent::LoanOpened(opened)) = &envelope.event else {
        return Err(format!("decoded {} instead of LoanOpened", envelope.event_type()).into());
    };
    assert_eq!(opened.monthly_price.amount_cents, daily * 30);
    assert_eq!(opened.monthly_price.currency, "EUR");
    assert_eq!(opened.free_period_days, 14);
    Ok(())
}

#[test]
fn transfer_progressed_v1_upcasts_with_no_run_and_nothing_counted() -> TestResult {
    let bytes = fs::read(fixtures("old").join("TransferProgressed.v1.json"))?;
    let envelope = decode(&bytes)?;
    assert_eq!(envelope.schema_version(), 2);
    let Event::Transfer(ferry_events::TransferEvent::TransferProgressed(progressed)) =
        &envelope.event
    else {
        return Err(format!("decoded {} instead", envelope.event_type()).into());
    };
    assert_eq!(progressed.run_id, None);
    assert_eq!(progressed.run_bytes_copied, 0);
    assert_eq!(progressed.bytes_copied, 0);
    assert_eq!(progressed.bytes_done, 1_073_741_824, "the rest as it was");
    Ok(())
}

#[test]
fn a_commands_events_share_one_body_each_with_its_own_type_and_version() -> TestResult {
    // An old and a current event in one body, as the log stores a command's events.
    let old = fs::read(fixtures("old").join("LoanOpened.v1.json"))?;
    let current = fs::read(fixtures("current").join("LoanDayCharged.json"))?;
    let mut body = b"[".to_vec();
    body.extend_from_slice(&old);
    body.push(b',');
    body.extend_from_slice(&current);
    body.push(b']');

    let events = ferry_events::decode_all(&body)?;
    let types: Vec<_> = events.iter().map(|e| e.event_type()).collect();
    assert_eq!(types, ["LoanOpened", "LoanDayCharged"]);
    assert_eq!(events[0].schema_version(), 3, "the old one is upcast");
    assert_eq!(events[0], decode(&old)?);
    assert_eq!(events[1], decode(&current)?);

    // Written back, each keeps its own wire form.
    let again = ferry_events::encode_all(&events)?;
    assert_eq!(ferry_events::decode_all(&again)?, events);
    let items: Vec<Value> = serde_json::from_slice(&again)?;
    assert_eq!(
        items[0],
        serde_json::from_slice::<Value>(&encode(&events[0])?)?
    );

    // One bad event spoils the body: it is refused, never read in part.
    let mut spoiled: Vec<Value> = serde_json::from_slice(&again)?;
    spoiled[1]["type"] = Value::from("LoanTeleported");
    let error = ferry_events::decode_all(&serde_json::to_vec(&spoiled)?)
        .err()
        .ok_or("a body with an unknown event type decoded")?;
    assert!(error.to_string().contains("LoanTeleported"), "{error}");
    Ok(())
}

#[test]
fn storages_of_version_1_are_read_without_their_passwords() -> TestResult {
    for (name, pointers) in [
        ("ServerRegistered", &["/data/storage"][..]),
        ("ServerDetailsChanged", &["/data/storage"][..]),
        ("TransitServerAdded", &["/data/storage"][..]),
        (
            "TransferScheduled",
            &["/data/source", "/data/destination"][..],
        ),
    ] {
        let mut v1: Value =
            serde_json::from_slice(&fs::read(fixtures("old").join(format!("{name}.v1.json")))?)?;
        // As operators wrote them before references: the password in the URL.
        for pointer in pointers {
            let storage = v1
                .pointer_mut(pointer)
                .ok_or_else(|| format!("{name}: no {pointer}"))?;
            storage["postgres_url"] = Value::from("postgres://ferry:s%40cret@db-7:5432/postgres");
            storage["mysql_url"] = Value::from("mysql://root@db-7:3306");
        }
        let envelope = decode(&serde_json::to_vec(&v1)?)?;
        assert_eq!(envelope.schema_version(), 2, "{name}");
        let v2: Value = serde_json::from_slice(&encode(&envelope)?)?;
        let text = v2.to_string();
        assert!(
            !text.contains("s%40cret") && !text.contains("s@cret"),
            "{name}: {text}"
        );
        for pointer in pointers {
            let storage = v2.pointer(pointer).ok_or("storage")?;
            assert_eq!(
                storage["postgres_url"],
                Value::from("postgres://ferry@db-7:5432/postgres")
            );
            assert_eq!(
                storage["postgres_credential"],
                Value::from("postgres_db-7_5432_ferry")
            );
            assert_eq!(
                storage["mysql_credential"],
                Value::Null,
                "no password, none"
            );
        }
    }
    Ok(())
}
