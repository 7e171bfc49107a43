//! Lines and units.

use super::*;
use ferry_events::{AccountMoved, Actor, TransitServerAssigned};

fn envelope(aggregate_id: &str, event: impl Into<Event>) -> Envelope {
    let id = Uuid::now_v7();
    Envelope::new(aggregate_id, event, id, id, Actor::customer("c-42"))
}

#[test]
fn durations_and_sizes_read_well() {
    assert_eq!(duration(850), "850 ms");
    assert_eq!(duration(2_400), "2.4 s");
    assert_eq!(duration(60_000), "1 min");
    assert_eq!(duration(192_000), "3 min 12 s");
    assert_eq!(duration(7_500_000), "2 h 05 min");
    assert_eq!(bytes(512), "512 B");
    assert_eq!(bytes(1_500), "1.5 kB");
    assert_eq!(bytes(2_000_000_000), "2.0 GB");
    assert_eq!(
        accounts(&["a".into(), "b".into(), "c".into()]),
        "a, b and c"
    );
}

#[test]
fn a_move_names_the_transit_server_assigned_before() {
    let migration = Uuid::now_v7().to_string();
    let mut narrator = Narrator::new("srv-0042");
    narrator.tell(&envelope(
        &migration,
        TransitServerAssigned {
            transit_server_id: "tr-0007".into(),
        },
    ));
    let line = narrator.tell(&envelope(
        &migration,
        AccountMoved {
            account_id: "acc-1".into(),
            transfer_id: Uuid::now_v7(),
            downtime_ms: 2_400,
        },
    ));
    assert_eq!(line.summary, "account acc-1 moved to tr-0007 in 2.4 s");
    assert_eq!(line.downtime_ms, Some(2_400));
}
