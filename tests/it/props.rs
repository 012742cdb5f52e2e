//! More properties for any input (proptest), beyond `properties.rs`: the mapping with a table,
//! through the config file as an operator writes it; messages that are valid base64 (so the
//! JSON and event layers are reached, not only the base64 one); every date form against the
//! WCF one; subscriber-list lines. Case counts stay modest so `cargo test` stays quick.

use std::collections::BTreeMap;

use base64::{Engine, engine::general_purpose};
use proptest::prelude::*;
use roku_bridge::{
    config::Config,
    domain::mapping::{ProductMap, Rule},
    roku::{
        events::{decode_message, parse_event},
        isu::{ImportLine, email_hash, normalize_hash, parse_import_line},
        wcf,
    },
};
use serde_json::Value;

fn config() -> ProptestConfig {
    ProptestConfig {
        // A failure prints its minimal input; nothing is written under tests/.
        failure_persistence: None,
        ..ProptestConfig::with_cases(256)
    }
}

fn any_rule() -> impl Strategy<Value = Rule> {
    prop_oneof![
        Just(Rule::DashToUnderscore),
        Just(Rule::Identity),
        Just(Rule::None)
    ]
}

fn rule_name(rule: Rule) -> &'static str {
    match rule {
        Rule::DashToUnderscore => "dash_to_underscore",
        Rule::Identity => "identity",
        Rule::None => "none",
    }
}

/// Ids from a small alphabet, so that tables collide (same offer twice, a code with `_`, a
/// rule-derived offer equal to a listed one), mixed with anything at all.
fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[AB1_-]{1,4}",
        1 => ".{0,6}",
    ]
}

fn table() -> impl Strategy<Value = BTreeMap<String, String>> {
    proptest::collection::btree_map(id(), id(), 0..6)
}

/// The same instant written as ISO-8601, test-side, so the parser is checked against an
/// independent formatter: `YYYY-MM-DDTHH:MM:SS[.fraction]` plus the zone.
fn iso(ms: i64, fraction_digits: usize, offset_minutes: i64) -> String {
    let local = ms.div_euclid(1000) + offset_minutes * 60;
    let (days, secs) = (local.div_euclid(86_400), local.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut s = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    if fraction_digits > 0 {
        // Nanoseconds, of which the parser keeps the milliseconds.
        let nanos = format!("{:03}456789", ms.rem_euclid(1000));
        s.push('.');
        s.push_str(&nanos[..fraction_digits]);
    }
    if offset_minutes == 0 {
        s.push('Z');
    } else {
        let sign = if offset_minutes < 0 { '-' } else { '+' };
        let m = offset_minutes.abs();
        s.push_str(&format!("{sign}{:02}:{:02}", m / 60, m % 60));
    }
    s
}

/// JSON values of any shape, small.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,30}".prop_map(Value::String),
        "/Date\\(-?[0-9]{0,20}([+-][0-9]{0,5})?\\)/".prop_map(Value::String),
        "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,12})?(Z|[+-][0-9:]{0,6})?"
            .prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(".{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A push event's fields (and aliases), each holding any JSON, some left out.
fn event_object() -> impl Strategy<Value = Value> {
    const FIELDS: &[&str] = &[
        "transactionType",
        "transactionId",
        "customerId",
        "rokuCustomerId",
        "channelId",
        "productCode",
        "productId",
        "originalTransactionId",
        "OriginalTransactionId",
        "eventDate",
        "expirationDate",
        "responseKey",
        "purchaseContext",
        "purchaseChannel",
        "isFreeTrial",
        "email",
        "firstName",
        "lastName",
        "price",
    ];
    proptest::collection::vec((0..FIELDS.len(), json_value()), 0..12).prop_map(|fields| {
        Value::Object(
            fields
                .into_iter()
                .map(|(i, v)| (FIELDS[i].to_string(), v))
                .collect(),
        )
    })
}

proptest! {
    #![proptest_config(config())]

    /// Any table and any lookup under any rule: no panic, and every answer is consistent with
    /// the table (a listed code gives its offer, a listed offer gives its code).
    #[test]
    fn the_mapping_answers_any_lookup_consistently(
        rule in any_rule(),
        table in table(),
        lookups in proptest::collection::vec(id(), 0..8),
    ) {
        let Ok(map) = ProductMap::new(rule, table.clone()) else { return Ok(()) };
        for (code, offer) in &table {
            prop_assert_eq!(&map.offer_for(code).unwrap(), offer);
            prop_assert_eq!(map.code_for(offer), Some(code.clone()));
            // An id that is both a listed code and a listed offer resolves as the code.
            if !table.contains_key(offer) {
                let p = map.resolve(offer).unwrap();
                prop_assert_eq!((&p.code, &p.offer_id), (code, offer));
            }
        }
        for x in lookups {
            let _ = map.offer_for(&x);
            let _ = map.resolve(&x);
            if let Some(code) = map.code_for(&x) {
                // The reverse direction only names codes that lead back to the offer.
                prop_assert_eq!(map.offer_for(&code).unwrap(), x);
            }
        }
    }

    #[test]
    fn identity_codes_round_trip(code in "[^/?#%\\s\\p{Cc}]{1,40}") {
        let map = ProductMap::new(Rule::Identity, BTreeMap::new()).unwrap();
        // `.` and `..` would resolve away in the provider's URL: refused, never round-tripped.
        if code == "." || code == ".." {
            prop_assert!(map.offer_for(&code).is_err());
            return Ok(());
        }
        let offer = map.offer_for(&code).unwrap();
        prop_assert_eq!(&offer, &code);
        prop_assert_eq!(map.code_for(&offer), Some(code));
    }

    /// The `[mapping]` section as an operator writes it: validation accepts exactly the tables
    /// `ProductMap::new` accepts, and names every refused entry by its key.
    #[test]
    fn config_mapping_tables_validate_or_name_their_problems(rule in any_rule(), table in table()) {
        let mut mapping = toml::Table::new();
        mapping.insert("rule".into(), rule_name(rule).into());
        mapping.insert("products".into(), toml::Value::try_from(&table).unwrap());
        let text = toml::to_string(&toml::Table::from_iter([("mapping".to_string(), mapping.into())]))
            .unwrap();
        let config = Config::from_toml(&text).unwrap();
        prop_assert_eq!(&config.mapping.products, &table);
        match (config.validate(), ProductMap::new(rule, table.clone())) {
            (Ok(map), Ok(_)) => {
                prop_assert_eq!(map.len(), table.len());
                prop_assert_eq!(map.rule(), rule);
            }
            (Err(problems), Err(mapping)) => {
                prop_assert_eq!(problems.len(), mapping.len());
                for ((key, _), p) in problems.iter().zip(&mapping) {
                    prop_assert_eq!(key, &format!("mapping.products.\"{}\"", p.code));
                }
            }
            (ours, direct) => prop_assert!(
                false,
                "validate() = {:?} but ProductMap::new = {:?}",
                ours.map(|m| m.len()),
                direct.map(|m| m.len())
            ),
        }
    }

    #[test]
    fn any_text_as_config_is_parsed_or_refused(
        text in prop_oneof![
            ".{0,300}",
            "[\\[\\]a-z_.=\"' \n0-9{},#+-]{0,300}",
            "(\\[(mapping|mapping.products|server|catalog|isu|relay)\\]\n([\"a-z_. -]{1,12} = (\"[^\"\\\\]{0,12}\"|-?[0-9]{1,20}|true|\\[\\]|\\{\\})\n){0,5}){0,3}",
        ],
    ) {
        if let Ok(config) = Config::from_toml(&text) {
            let _ = config.validate();
        }
    }

    /// Arbitrary bytes, base64-encoded in either alphabet, padded or not, with stray spaces:
    /// the decoder reaches the JSON layer and agrees with serde_json on every input.
    #[test]
    fn base64_messages_decode_to_their_json_or_fail_cleanly(
        bytes in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..200),
            json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        ],
        engine in 0..4usize,
        pad in "[ \n\t]{0,2}",
    ) {
        let encoded = match engine {
            0 => general_purpose::STANDARD.encode(&bytes),
            1 => general_purpose::STANDARD_NO_PAD.encode(&bytes),
            2 => general_purpose::URL_SAFE.encode(&bytes),
            _ => general_purpose::URL_SAFE_NO_PAD.encode(&bytes),
        };
        let decoded = decode_message(&format!("{pad}{encoded}{pad}"));
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(json) => prop_assert_eq!(decoded.unwrap(), json),
            Err(_) => prop_assert!(decoded.is_err()),
        }
    }

    /// Objects with the event's own keys holding any JSON: typed or refused, never a panic,
    /// and a string field that was sent comes out as sent.
    #[test]
    fn any_event_object_is_typed_or_refused(value in event_object()) {
        if let Ok(event) = parse_event(&value) {
            if let Some(Value::String(id)) = value.get("transactionId") {
                prop_assert_eq!(event.transaction_id.as_ref(), Some(id));
            }
            if let Some(Value::String(date)) = value.get("eventDate") {
                prop_assert_eq!(event.event_date, wcf::parse(date));
            }
        }
    }

    /// The ISO forms Roku sends (0–9 fraction digits, `Z` or an offset) and the WCF form of the
    /// same instant parse to the same milliseconds, years 0001 to 9999.
    #[test]
    fn iso_and_wcf_forms_of_one_instant_agree(
        ms in -62_135_596_800_000i64..253_402_300_799_000i64,
        fraction_digits in 0..=9usize,
        offset_minutes in prop_oneof![Just(0i64), -(23i64 * 60 + 59)..=(23 * 60 + 59)],
    ) {
        let local = ms + offset_minutes * 60_000;
        prop_assume!((-62_135_596_800_000..253_402_300_800_000).contains(&local));
        // Fewer than 3 fraction digits carry that much of the milliseconds.
        let unit = 10i64.pow(3 - fraction_digits.min(3) as u32);
        let truncated = ms - ms.rem_euclid(unit);
        prop_assert_eq!(wcf::parse(&format!("/Date({ms}+0000)/")), Some(ms));
        let text = iso(ms, fraction_digits, offset_minutes);
        prop_assert_eq!(wcf::parse(&text), Some(truncated), "{}", text);
    }

    #[test]
    fn subscriber_list_lines_are_classified(
        line in prop_oneof![
            ".{0,160}",
            "\u{feff}?[ \t]{0,2}#.{0,20}",
            "[ \t]{0,3}",
            "\u{feff}?[ \t]{0,2}[a-zA-Z0-9.+]{1,12}@[a-zA-Z0-9.]{1,12}[ \t]{0,2}",
            "\u{feff}?[ \t]{0,2}[0-9a-fA-F]{120,136}[ \t]{0,2}",
        ],
    ) {
        let content = line.trim().trim_start_matches('\u{feff}');
        match parse_import_line(&line) {
            ImportLine::Blank => {
                prop_assert!(content.is_empty() || content.starts_with('#'));
            }
            ImportLine::Hash(h) => {
                prop_assert_eq!(h.len(), 128);
                prop_assert!(h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
                if content.contains('@') {
                    prop_assert_eq!(h, email_hash(content));
                } else {
                    prop_assert_eq!(Some(h), normalize_hash(content));
                }
            }
            ImportLine::Invalid => {
                prop_assert!(!content.is_empty() && !content.starts_with('#'));
                prop_assert!(!content.contains('@'));
                prop_assert_eq!(normalize_hash(content), None);
            }
        }
    }

    #[test]
    fn only_128_hex_digits_make_an_email_hash(
        hex in "[0-9a-fA-F]{0,200}",
        space in "[ \t\n]{0,2}",
    ) {
        let normalized = normalize_hash(&format!("{space}{hex}{space}"));
        if hex.len() == 128 {
            prop_assert_eq!(normalized, Some(hex.to_ascii_lowercase()));
        } else {
            prop_assert_eq!(normalized, None);
        }
    }
}
