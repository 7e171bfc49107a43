use super::*;
use crate::pricing::DAY;
use ferry_core::scenario::given;
use uuid::Uuid;

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("instant")
}

fn date(text: &str) -> NaiveDate {
    text.parse().expect("date")
}

fn opened(started_at: &str, monthly_cents: i64, free_period_days: u32) -> LoanOpened {
    LoanOpened {
        migration_id: Uuid::from_u128(7),
        transit_server_id: "tr-1".into(),
        customer_id: "c-42".into(),
        client_server_id: "srv-1".into(),
        started_at: at(started_at),
        monthly_price: Money::new(monthly_cents, "EUR"),
        free_period_days,
    }
}

fn charged(day: &str, cents: i64) -> LoanEvent {
    LoanEvent::LoanDayCharged(LoanDayCharged {
        day: date(day),
        amount: Money::new(cents, "EUR"),
    })
}

fn advance(now: &str) -> LoanCommand {
    LoanCommand::Advance {
        now: at(now),
        notice: None,
    }
}

#[test]
fn opens_once() {
    let opening = opened("2027-01-01T10:00:00Z", 3100, 14);
    given::<LoanDecider>([])
        .when(LoanCommand::Open(opening.clone()))
        .then(vec![LoanEvent::LoanOpened(opening.clone())]);
    given::<LoanDecider>([LoanEvent::LoanOpened(opening.clone())])
        .when(LoanCommand::Open(opening.clone()))
        .then_nothing();
    let mut other = opening.clone();
    other.transit_server_id = "tr-2".into();
    given::<LoanDecider>([LoanEvent::LoanOpened(opening)])
        .when(LoanCommand::Open(other))
        .then_refused(RefusalKind::Conflict);
}

#[test]
fn nothing_is_charged_inside_the_free_period() {
    let opening = opened("2027-01-01T10:00:00Z", 3100, 14);
    // Day 14 starts on the 14th at 10:00; day 15 on the 15th at 10:00.
    given::<LoanDecider>([LoanEvent::LoanOpened(opening.clone())])
        .when(advance("2027-01-15T09:59:59Z"))
        .then_nothing();
    given::<LoanDecider>([LoanEvent::LoanOpened(opening)])
        .when(advance("2027-01-15T10:00:00Z"))
        .then(vec![charged("2027-01-15", 100)]);
}

#[test]
fn each_started_day_is_charged_once_pro_rata_of_its_calendar_month() {
    // Started 2027-01-29 23:00, no free period: days start on Jan 29, 30, 31, Feb 1...
    let opening = opened("2027-01-29T23:00:00Z", 3000, 0);
    let state = given::<LoanDecider>([LoanEvent::LoanOpened(opening)])
        .when(advance("2027-02-01T23:00:00Z"))
        .then(vec![
            charged("2027-01-29", 97), // 3000/31 = 96.77
            charged("2027-01-30", 97),
            charged("2027-01-31", 97),
            charged("2027-02-01", 107), // 3000/28 = 107.14
        ]);
    // Again at the same time, or a little later within the day: nothing more.
    let history: Vec<LoanEvent> = [LoanEvent::LoanOpened(state.opened.clone().expect("opened"))]
        .into_iter()
        .chain(state.charged.iter().map(|(d, m)| {
            LoanEvent::LoanDayCharged(LoanDayCharged {
                day: *d,
                amount: m.clone(),
            })
        }))
        .collect();
    given::<LoanDecider>(history.clone())
        .when(advance("2027-02-02T22:59:59Z"))
        .then_nothing();
    given::<LoanDecider>(history)
        .when(LoanCommand::Close {
            ended_at: at("2027-02-02T23:00:00Z"),
        })
        .then(vec![
            charged("2027-02-02", 107),
            LoanEvent::LoanClosed(LoanClosed {
                ended_at: at("2027-02-02T23:00:00Z"),
                days_used: 5,
                billable_days: 5,
                total: Money::new(97 * 3 + 107 * 2, "EUR"),
            }),
        ]);
}

#[test]
fn a_leap_february_prices_its_days_by_29() {
    let opening = opened("2028-02-28T00:00:00Z", 2900, 0);
    given::<LoanDecider>([LoanEvent::LoanOpened(opening)])
        .when(advance("2028-03-01T00:00:00Z"))
        .then(vec![
            charged("2028-02-28", 100),
            charged("2028-02-29", 100),
            charged("2028-03-01", 94), // 2900/31 = 93.55
        ]);
}

#[test]
fn a_loan_released_inside_its_free_period_closes_with_nothing_charged() {
    let opening = opened("2027-01-01T10:00:00Z", 3100, 14);
    given::<LoanDecider>([LoanEvent::LoanOpened(opening)])
        .when(LoanCommand::Close {
            ended_at: at("2027-01-03T09:00:00Z"),
        })
        .then(vec![LoanEvent::LoanClosed(LoanClosed {
            ended_at: at("2027-01-03T09:00:00Z"),
            days_used: 2,
            billable_days: 0,
            total: Money::new(0, "EUR"),
        })]);
    // Released the moment it was lent: one day used.
    let opening = opened("2027-01-01T10:00:00Z", 3100, 14);
    let closed = given::<LoanDecider>([LoanEvent::LoanOpened(opening)])
        .when(LoanCommand::Close {
            ended_at: at("2027-01-01T10:00:00Z"),
        })
        .events();
    assert!(matches!(&closed[..], [LoanEvent::LoanClosed(c)] if c.days_used == 1));
}

#[test]
fn a_closed_loan_charges_and_closes_no_more() {
    let opening = opened("2027-01-01T10:00:00Z", 3100, 0);
    let history = vec![
        LoanEvent::LoanOpened(opening),
        charged("2027-01-01", 100),
        LoanEvent::LoanClosed(LoanClosed {
            ended_at: at("2027-01-01T12:00:00Z"),
            days_used: 1,
            billable_days: 1,
            total: Money::new(100, "EUR"),
        }),
    ];
    given::<LoanDecider>(history.clone())
        .when(advance("2027-03-01T00:00:00Z"))
        .then_nothing();
    given::<LoanDecider>(history.clone())
        .when(LoanCommand::Close {
            ended_at: at("2027-03-01T00:00:00Z"),
        })
        .then_nothing();
    given::<LoanDecider>(history)
        .when(LoanCommand::ChangeFreePeriod {
            actor: Actor::support("alice"),
            free_period_days: 30,
            reason: "gesture".into(),
        })
        .then_refused(RefusalKind::Conflict);
    given::<LoanDecider>([])
        .when(advance("2027-03-01T00:00:00Z"))
        .then_refused(RefusalKind::NotFound);
}

#[test]
fn support_changes_the_free_period_with_a_reason_and_charged_days_stay() {
    let opening = opened("2027-01-01T10:00:00Z", 3100, 14);
    let history = vec![
        LoanEvent::LoanOpened(opening),
        charged("2027-01-15", 100),
        charged("2027-01-16", 100),
    ];
    let change = |actor: Actor, days: u32, reason: &str| LoanCommand::ChangeFreePeriod {
        actor,
        free_period_days: days,
        reason: reason.into(),
    };
    given::<LoanDecider>(history.clone())
        .when(change(Actor::customer("c-42"), 30, "please"))
        .then_refused(RefusalKind::Forbidden);
    given::<LoanDecider>(history.clone())
        .when(change(Actor::support("alice"), 30, "  "))
        .then_refused(RefusalKind::Invalid);
    given::<LoanDecider>(history.clone())
        .when(change(Actor::support("alice"), 366, "a year"))
        .then_refused(RefusalKind::Invalid);
    given::<LoanDecider>(history.clone())
        .when(change(Actor::support("alice"), 14, "same"))
        .then_nothing();
    let state = given::<LoanDecider>(history.clone())
        .when(change(
            Actor::support("alice"),
            20,
            "disk fault on our side",
        ))
        .then(vec![LoanEvent::LoanFreePeriodChanged(
            LoanFreePeriodChanged {
                free_period_days: 20,
                previous_free_period_days: 14,
                reason: "disk fault on our side".into(),
            },
        )]);
    assert_eq!(state.charged.len(), 2, "days charged stay charged");
    assert_eq!(
        state.free_period_ends_at(),
        Some(at("2027-01-01T10:00:00Z") + DAY * 20)
    );
    // Days 17 to 20 are free now; day 21 is charged once started.
    let mut extended = history.clone();
    extended.push(LoanEvent::LoanFreePeriodChanged(LoanFreePeriodChanged {
        free_period_days: 20,
        previous_free_period_days: 14,
        reason: "disk fault on our side".into(),
    }));
    given::<LoanDecider>(extended.clone())
        .when(advance("2027-01-20T12:00:00Z"))
        .then_nothing();
    given::<LoanDecider>(extended)
        .when(advance("2027-01-21T10:00:00Z"))
        .then(vec![charged("2027-01-21", 100)]);
    // Shortened: the started days it makes billable are charged at once.
    let mut shortened = vec![LoanEvent::LoanOpened(opened(
        "2027-01-01T10:00:00Z",
        3100,
        14,
    ))];
    shortened.push(LoanEvent::LoanFreePeriodChanged(LoanFreePeriodChanged {
        free_period_days: 7,
        previous_free_period_days: 14,
        reason: "new policy".into(),
    }));
    given::<LoanDecider>(shortened)
        .when(advance("2027-01-09T11:00:00Z"))
        .then(vec![charged("2027-01-08", 100), charged("2027-01-09", 100)]);
}

#[test]
fn notices_are_given_once_while_the_free_period_runs() {
    let opening = opened("2027-01-01T10:00:00Z", 3100, 14);
    let ends_at = at("2027-01-15T10:00:00Z");
    let notice = |now: &str, days_left: u32| LoanCommand::Advance {
        now: at(now),
        notice: Some(Notice { ends_at, days_left }),
    };
    let given_3 = LoanEvent::LoanFreePeriodEnding(LoanFreePeriodEnding {
        ends_at,
        days_left: 3,
        first_day_price: Money::new(100, "EUR"),
    });
    // Not due yet.
    given::<LoanDecider>([LoanEvent::LoanOpened(opening.clone())])
        .when(notice("2027-01-12T09:00:00Z", 3))
        .then_nothing();
    given::<LoanDecider>([LoanEvent::LoanOpened(opening.clone())])
        .when(notice("2027-01-12T10:00:00Z", 3))
        .then(vec![given_3.clone()]);
    // Once.
    given::<LoanDecider>([LoanEvent::LoanOpened(opening.clone()), given_3.clone()])
        .when(notice("2027-01-12T10:00:00Z", 3))
        .then_nothing();
    given::<LoanDecider>([LoanEvent::LoanOpened(opening.clone()), given_3.clone()])
        .when(notice("2027-01-14T10:00:00Z", 1))
        .then(vec![LoanEvent::LoanFreePeriodEnding(
            LoanFreePeriodEnding {
                ends_at,
                days_left: 1,
                first_day_price: Money::new(100, "EUR"),
            },
        )]);
    // Late (the service was down past the 1-day mark): the 3-day notice, still
    // owed, says what is true now, and the 1-day one is then given already.
    let given_1 = LoanEvent::LoanFreePeriodEnding(LoanFreePeriodEnding {
        ends_at,
        days_left: 1,
        first_day_price: Money::new(100, "EUR"),
    });
    given::<LoanDecider>([LoanEvent::LoanOpened(opening.clone())])
        .when(notice("2027-01-14T11:00:00Z", 3))
        .then(vec![given_1.clone()]);
    given::<LoanDecider>([LoanEvent::LoanOpened(opening.clone()), given_1])
        .when(notice("2027-01-14T11:00:00Z", 1))
        .then_nothing();
    // Too late: the free period is over; the first day is charged instead.
    given::<LoanDecider>([LoanEvent::LoanOpened(opening.clone())])
        .when(notice("2027-01-15T10:00:00Z", 1))
        .then(vec![charged("2027-01-15", 100)]);
    // For a free period no longer in force: nothing.
    given::<LoanDecider>([LoanEvent::LoanOpened(opened(
        "2027-01-01T10:00:00Z",
        3100,
        20,
    ))])
    .when(notice("2027-01-14T10:00:00Z", 1))
    .then_nothing();
}
