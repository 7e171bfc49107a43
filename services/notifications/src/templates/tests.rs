use super::*;

fn sample() -> BTreeMap<String, String> {
    [
        ("server", "vps42.hosting.example"),
        ("server_id", "srv-0042"),
        ("target_version", "v2026"),
        ("accounts", "3"),
        ("account", "shop"),
        ("test_address", "pg-test-1.hosting.example:5432"),
        ("reason", "disk full"),
        ("configuration", "vps-4c-8g"),
        ("position", "2"),
        ("transit_server", "tr-0007"),
        ("destination", "TransitServer"),
        ("attempt", "3"),
        ("downtime", "2 min 05 s"),
        ("estimated_downtime", "1 min 00 s"),
        ("infrastructure_version", "v2026"),
        ("total_downtime", "4 min 10 s"),
        ("domain", "shop.example"),
        ("record", "MX 5 vps42.hosting.example"),
        (
            "keep",
            "MX 10 mx1.hosting.example, MX 20 mx2.hosting.example",
        ),
        ("ends_at", "2026-12-18 09:30 UTC"),
        ("days_left", "2"),
        ("day_price", "1.50 EUR"),
        ("day", "2026-12-19"),
        ("amount", "1.50 EUR"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

const AUDIENCES: [NotificationAudience; 2] = [
    NotificationAudience::Customer,
    NotificationAudience::Support,
];

#[test]
fn every_template_renders_in_both_languages_with_nothing_left_over() {
    let templates = Templates::new();
    let mut rendered = 0;
    for template in Template::ALL {
        let mut found = false;
        for audience in AUDIENCES {
            let exists: Vec<bool> = LANGUAGES
                .iter()
                .map(|l| templates.has(*template, audience, l))
                .collect();
            assert!(
                exists.iter().all(|e| *e) || exists.iter().all(|e| !*e),
                "{template} for {audience:?} exists in one language only"
            );
            if !exists[0] {
                continue;
            }
            found = true;
            for language in LANGUAGES {
                let message = templates
                    .render(*template, audience, language, &sample())
                    .unwrap_or_else(|e| panic!("{e}"));
                for text in [&message.subject, &message.body] {
                    assert!(!text.contains("{{") && !text.contains("{%"), "{text}");
                    assert!(!text.contains("}}"), "{text}");
                }
                assert!(message.subject.len() < 160, "{}", message.subject);
                assert!(message.body.len() > 40, "{template} body too short");
                rendered += 1;
            }
        }
        assert!(found, "{template} has no text");
    }
    assert_eq!(rendered, FILES.len());
}

#[test]
fn the_languages_differ_and_follow_the_documentation() {
    let templates = Templates::new();
    let en = templates
        .render(
            Template::TransitReady,
            NotificationAudience::Customer,
            "en",
            &sample(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let fr = templates
        .render(
            Template::TransitReady,
            NotificationAudience::Customer,
            "fr",
            &sample(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(en.body.contains("one by one"), "{}", en.body);
    assert!(
        en.body
            .contains("one minute of downtime per gigabyte of databases")
    );
    assert!(fr.body.contains("un par un"), "{}", fr.body);
    assert!(
        fr.body
            .contains("une minute d'indisponibilité par giga de bases de données")
    );
    assert!(fr.subject.starts_with("Étape 4"));
    // A language without texts falls back to English.
    let de = templates
        .render(
            Template::TransitReady,
            NotificationAudience::Customer,
            "de",
            &sample(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(de, en);
}

#[test]
fn a_missing_value_is_an_error_never_a_blank() {
    let templates = Templates::new();
    let mut values = sample();
    values.remove("position");
    let error = templates
        .render(
            Template::TransitQueued,
            NotificationAudience::Customer,
            "en",
            &values,
        )
        .expect_err("position is missing");
    assert!(matches!(error, RenderError::Failed { .. }), "{error}");
    assert!(matches!(
        templates.render(
            Template::TransitQueued,
            NotificationAudience::Support,
            "en",
            &sample()
        ),
        Err(RenderError::Unknown(_))
    ));
}

#[test]
fn the_mx_advice_lists_the_records_to_keep_only_when_there_are_some() {
    let templates = Templates::new();
    let mut values = sample();
    let with = templates
        .render(
            Template::MxRecordRemoval,
            NotificationAudience::Customer,
            "fr",
            &values,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        with.body.contains("MX 10 mx1.hosting.example"),
        "{}",
        with.body
    );
    values.insert("keep".into(), String::new());
    let without = templates
        .render(
            Template::MxRecordRemoval,
            NotificationAudience::Customer,
            "fr",
            &values,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!without.body.contains("gardés"), "{}", without.body);
}
