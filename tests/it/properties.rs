//! Properties that must hold for any input: the parsers never panic, the mapping round-trips.
//! (proptest; case counts kept modest so `cargo test` stays quick.)

use std::collections::BTreeMap;

use base64::Engine;
use proptest::prelude::*;
use roku_bridge::{
    config::Config,
    domain::mapping::{ProductMap, Rule},
    roku::{
        events::{decode_message, parse_event},
        isu::{ImportLine, normalize_hash, parse_import_line},
        wcf,
    },
};

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(256)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_mapping_never_panics_on_any_code(code in ".{0,300}") {
        for rule in [Rule::DashToUnderscore, Rule::Identity, Rule::None] {
            let map = ProductMap::new(rule, BTreeMap::new()).unwrap();
            let _ = map.offer_for(&code);
            let _ = map.code_for(&code);
            let _ = map.resolve(&code);
        }
    }

    #[test]
    fn dash_codes_round_trip_through_their_offer(code in "[A-Za-z0-9][A-Za-z0-9-]{0,40}") {
        let map = ProductMap::new(Rule::DashToUnderscore, BTreeMap::new()).unwrap();
        let offer = map.offer_for(&code).unwrap();
        prop_assert!(!offer.contains('-'));
        prop_assert_eq!(map.code_for(&offer), Some(code));
    }

    #[test]
    fn a_table_entry_always_wins_over_the_rule(
        code in "[A-Za-z0-9][A-Za-z0-9-]{0,20}",
        offer in "[A-Za-z0-9][A-Za-z0-9_]{0,20}",
    ) {
        let table = BTreeMap::from([(code.clone(), offer.clone())]);
        let map = ProductMap::new(Rule::DashToUnderscore, table).unwrap();
        prop_assert_eq!(map.offer_for(&code).unwrap(), offer.clone());
        prop_assert_eq!(map.code_for(&offer), Some(code));
    }

    #[test]
    fn push_messages_never_panic_the_decoder(text in ".{0,400}") {
        if let Ok(value) = decode_message(&text) {
            let _ = parse_event(&value);
        }
    }

    #[test]
    fn both_base64_alphabets_decode_the_same_message(
        kind in "[A-Za-z]{1,20}",
        id in "[ -~]{0,40}",
    ) {
        let json = serde_json::json!({"transactionType": kind, "transactionId": id, "note": "??>>~~"}).to_string();
        let standard = base64::engine::general_purpose::STANDARD.encode(&json);
        let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&json);
        let a = decode_message(&standard).unwrap();
        let b = decode_message(&url_safe).unwrap();
        prop_assert_eq!(a, b);
    }

    #[test]
    fn dates_never_panic_the_parser(text in ".{0,80}") {
        let _ = wcf::parse(&text);
        let _ = wcf::parse(&format!("/Date({text})/"));
    }

    #[test]
    fn wcf_dates_give_back_their_milliseconds(
        ms in -62_135_596_800_000i64..253_402_300_799_000i64,
        offset in "[+-][01][0-9][0-5][0-9]",
    ) {
        prop_assert_eq!(wcf::parse(&format!("/Date({ms})/")), Some(ms));
        // The offset names a display zone; it never moves the instant.
        prop_assert_eq!(wcf::parse(&format!("/Date({ms}{offset})/")), Some(ms));
    }

    #[test]
    fn any_config_text_is_parsed_or_refused_never_panics(text in "(\\[[a-z.]{1,12}\\]\n)?([a-z_]{1,12} = (\"[ -~]{0,12}\"|[0-9]{1,6}|true)\n){0,4}") {
        if let Ok(config) = Config::from_toml(&text) {
            let _ = config.validate();
        }
    }

    #[test]
    fn any_mapping_table_validates_or_names_its_problems(
        table in proptest::collection::btree_map(".{0,12}", ".{0,12}", 0..6),
    ) {
        match ProductMap::new(Rule::DashToUnderscore, table) {
            Ok(map) => prop_assert!(map.len() <= 6),
            Err(problems) => prop_assert!(!problems.is_empty()),
        }
    }

    #[test]
    fn email_hashes_are_normalised_or_refused(text in "[0-9a-fA-F]{128}|.{0,140}") {
        match normalize_hash(&text) {
            Some(h) => {
                prop_assert_eq!(h.len(), 128);
                prop_assert_eq!(h.clone(), h.to_ascii_lowercase());
                prop_assert_eq!(h, text.trim().to_ascii_lowercase());
            }
            None => prop_assert!(
                text.trim().len() != 128 || !text.trim().bytes().all(|b| b.is_ascii_hexdigit())
            ),
        }
        if let ImportLine::Hash(h) = parse_import_line(&text) {
            prop_assert_eq!(h.len(), 128);
        }
    }
}

/// Receipt states through the real store: for any sequence of steps the services could take
/// (in any order, any of them repeated, as racing confirmations, relay attempts and device
/// retries produce), every change the store makes is one the state machine allows, a refused
/// step changes nothing, and replaying the whole sequence again leaves the same state. The one
/// order the services never produce is a grant before any forward (access is only asked once
/// the provider took the receipt), so generated grants before the first forward are dropped.
#[test]
fn every_stored_receipt_transition_is_one_the_state_machine_allows() {
    use roku_bridge::{
        domain::{
            ids::{PurchaseId, ReceiptKey},
            receipt::{ReceiptState, Step},
        },
        store::Store,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = runtime
        .block_on(Store::connect(&format!(
            "sqlite://{}/bridge.db",
            dir.path().display()
        )))
        .unwrap();
    let steps = proptest::collection::vec(proptest::sample::select(Step::ALL.to_vec()), 0..12);
    let case = std::sync::atomic::AtomicU64::new(0);
    proptest!(ProptestConfig::with_cases(64), |(steps in steps)| {
        let first_forward = steps.iter().position(|s| *s == Step::Forwarded);
        let steps: Vec<Step> = steps
            .iter()
            .enumerate()
            .filter(|(i, s)| **s != Step::Granted || first_forward.is_some_and(|f| f < *i))
            .map(|(_, s)| *s)
            .collect();
        let n = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let key = ReceiptKey::single(PurchaseId::parse(&format!("prop-{n}")).unwrap());
        runtime.block_on(async {
            store.claim_receipt(&key, "ann", "{}").await.unwrap();
            let mut expected = ReceiptState::Claimed;
            for step in &steps {
                let before = store.receipt(&key).await.unwrap().unwrap().state;
                let after = store.advance_receipt(&key, *step, None).await.unwrap().unwrap();
                match before.after(*step) {
                    Some(allowed) => assert_eq!(after, allowed, "{before} {step:?}"),
                    None => assert_eq!(after, before, "a refused {step:?} changed {before}"),
                }
                expected = expected.after(*step).unwrap_or(expected);
                assert_eq!(after, expected);
            }
            // The same sequence again (a replay of every receipt and push): nothing moves.
            for step in &steps {
                store.advance_receipt(&key, *step, None).await.unwrap();
            }
            let replayed = store.receipt(&key).await.unwrap().unwrap().state;
            assert_eq!(replayed, expected, "replaying {steps:?}");
        });
    });
}
