//! The store's promises, on SQLite and PostgreSQL alike.

use std::{collections::HashSet, time::Duration};

use roku_bridge::{
    domain::{
        ids::{PurchaseId, ReceiptKey},
        receipt::{ReceiptState, Step},
        subscription::Subscription,
        time::EpochMs,
    },
    store::{DeliveryKind, NewDelivery, NewPush, OutboxStatus, Store, pushes::PushRecord},
};

use crate::{
    backend::{Backend, fresh_store},
    on_both_backends,
};

fn push(key: &str, rcid: &str) -> NewPush {
    NewPush {
        message_key: key.into(),
        message_type: "roku.rpay.push".into(),
        transaction_type: Some("Sale".into()),
        transaction_id: Some(format!("tx-{key}")),
        roku_customer_id: Some(rcid.into()),
        product_code: Some("S1-US".into()),
        raw_jws: format!("jws.{key}.sig"),
        event_json: Some("{}".into()),
        test: false,
    }
}

/// One push, its deliveries and its subscription change, stored as one record.
async fn record(
    store: &Store,
    push: NewPush,
    deliveries: &[NewDelivery],
    subscription: Option<&Subscription>,
) -> Option<i64> {
    store
        .record_push(&PushRecord {
            push,
            deliveries: deliveries.to_vec(),
            subscription: subscription.cloned(),
        })
        .await
        .unwrap()
}

fn key(purchase: &str) -> ReceiptKey {
    ReceiptKey::single(PurchaseId::parse(purchase).unwrap())
}

fn delivery(target: &str, key: &str, customer: &str) -> NewDelivery {
    NewDelivery {
        target: target.into(),
        kind: DeliveryKind::Push,
        payload: format!("jws.{key}.sig"),
        dedupe_key: key.into(),
        ordering_key: Some(customer.into()),
    }
}

/// The stored state of `rcid`'s S1-US subscription.
async fn state_of(store: &Store, rcid: &str) -> &'static str {
    store
        .subscription(rcid, "S1-US")
        .await
        .unwrap()
        .expect("a subscription")
        .state
        .as_str()
}

/// Queues a delivery to the provider; `false` when the same key is queued already.
async fn enqueue(store: &Store, key: &str, customer: &str) -> bool {
    store
        .enqueue(&delivery("provider", key, customer))
        .await
        .unwrap()
}

async fn receipts_are_first_come(backend: Backend) {
    let (store, _g) = fresh_store(backend).await;
    let first = store
        .claim_receipt(&key("p1"), "ann", "{\"a\":1}")
        .await
        .unwrap();
    assert_eq!(first.customer_id, "ann");
    let second = store
        .claim_receipt(&key("p1"), "bob", "{\"b\":2}")
        .await
        .unwrap();
    assert_eq!(second.customer_id, "ann", "the first claim holds");
    assert_eq!(second.forward_json, "{\"a\":1}");
    for step in [Step::Forwarded, Step::Granted] {
        store.advance_receipt(&key("p1"), step, None).await.unwrap();
    }
    assert_eq!(
        store.receipt(&key("p1")).await.unwrap().unwrap().state,
        ReceiptState::Granted
    );
    assert!(store.receipt(&key("nope")).await.unwrap().is_none());
}
on_both_backends!(receipts_are_first_come_on, receipts_are_first_come);

/// A receipt's lease goes to one owner at a time, passes on once it runs out, and is not to be
/// had once the receipt is settled.
async fn receipt_leases_have_one_owner(backend: Backend) {
    let (store, _g) = fresh_store(backend).await;
    let p = key("p-lease");
    store.claim_receipt(&p, "ann", "{}").await.unwrap();
    let later = |ms: i64| EpochMs(EpochMs::now().0 + ms);
    assert!(store.lease_receipt(&p, "a", later(60_000)).await.unwrap());
    assert!(
        !store.lease_receipt(&p, "b", later(60_000)).await.unwrap(),
        "held by a"
    );
    assert!(
        store.lease_receipt(&p, "a", later(60_000)).await.unwrap(),
        "a again"
    );
    assert!(store.renew_receipt_lease(&p, "a", later(-1)).await.unwrap());
    // Run out: b takes it, and a's next renewal finds it gone.
    assert!(store.lease_receipt(&p, "b", later(60_000)).await.unwrap());
    assert!(
        !store
            .renew_receipt_lease(&p, "a", later(60_000))
            .await
            .unwrap()
    );
    store.release_receipt(&p, "a").await.unwrap();
    assert!(
        !store.lease_receipt(&p, "a", later(60_000)).await.unwrap(),
        "a releases nothing of b's"
    );
    store.release_receipt(&p, "b").await.unwrap();
    for step in [Step::Forwarded, Step::Granted] {
        store.advance_receipt(&p, step, None).await.unwrap();
    }
    assert!(
        !store.lease_receipt(&p, "a", later(60_000)).await.unwrap(),
        "settled"
    );
    assert!(
        !store
            .lease_receipt(&key("unclaimed"), "a", later(1))
            .await
            .unwrap()
    );
}
on_both_backends!(
    receipt_leases_have_one_owner_on,
    receipt_leases_have_one_owner
);

async fn a_push_is_stored_once_with_its_deliveries(backend: Backend) {
    let (store, _g) = fresh_store(backend).await;
    let d = [
        delivery("provider", "k1", "rc1"),
        delivery("publisher", "k1", "rc1"),
    ];
    assert!(record(&store, push("k1", "rc1"), &d, None).await.is_some());
    assert!(
        record(&store, push("k1", "rc1"), &d, None).await.is_none(),
        "duplicate key"
    );
    assert_eq!(store.push_count().await.unwrap(), 1);
    assert_eq!(store.outbox_depth().await.unwrap(), (2, 0));
    // The subscription change rides in the push's own transaction, and only with a new push.
    let sub = Subscription {
        roku_customer_id: "rc2".into(),
        product_code: "S1-US".into(),
        state: "active".parse().unwrap(),
        expires_at: None,
        cancelled_at: None,
        last_transaction_id: Some("tx-k2".into()),
        last_event_at: EpochMs(100),
    };
    let first = record(&store, push("k2", "rc2"), &[], Some(&sub)).await;
    assert!(first.is_some());
    assert_eq!(state_of(&store, "rc2").await, "active");
    let mut cancelled = sub.clone();
    cancelled.state = "cancelled".parse().unwrap();
    cancelled.last_event_at = EpochMs(200);
    let again = record(&store, push("k2", "rc2"), &[], Some(&cancelled)).await;
    assert!(again.is_none());
    assert_eq!(
        state_of(&store, "rc2").await,
        "active",
        "a duplicate push changes nothing"
    );
}
on_both_backends!(
    a_push_is_stored_once_on,
    a_push_is_stored_once_with_its_deliveries
);

async fn claims_are_leased_and_ordered_per_customer(backend: Backend) {
    let (store, _g) = fresh_store(backend).await;
    for (key, customer) in [("a1", "A"), ("b1", "B"), ("a2", "A")] {
        enqueue(&store, key, customer).await;
    }
    let first = store.claim_due("w1", 60_000, 10).await.unwrap();
    let keys: Vec<_> = first.iter().map(|i| i.dedupe_key.as_str()).collect();
    assert_eq!(keys, ["a1", "b1"], "a2 waits behind a1");
    assert!(
        store.claim_due("w2", 60_000, 10).await.unwrap().is_empty(),
        "leased items are not handed out twice"
    );
    // Only the lease holder settles.
    assert!(!store.mark_delivered(first[0].id, "w2").await.unwrap());
    assert!(store.mark_delivered(first[0].id, "w1").await.unwrap());
    let next = store.claim_due("w2", 60_000, 10).await.unwrap();
    assert_eq!(
        next.iter()
            .map(|i| i.dedupe_key.as_str())
            .collect::<Vec<_>>(),
        ["a2"]
    );
    // b1's holder died: its lease runs out and another worker takes it over.
    let (store2, b1) = (&store, first[1].id);
    assert!(store2.release_leases("w1").await.unwrap() >= 1);
    let again = store.claim_due("w3", 1, 10).await.unwrap();
    assert_eq!(again.iter().map(|i| i.id).collect::<Vec<_>>(), [b1]);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let after_expiry = store.claim_due("w4", 60_000, 10).await.unwrap();
    assert_eq!(
        after_expiry.iter().map(|i| i.id).collect::<Vec<_>>(),
        [b1],
        "an expired lease frees the item"
    );
}
on_both_backends!(
    claims_are_leased_and_ordered_on,
    claims_are_leased_and_ordered_per_customer
);

async fn failures_back_off_and_dead_letters_redrive(backend: Backend) {
    let (store, _g) = fresh_store(backend).await;
    enqueue(&store, "x1", "A").await;
    assert!(
        !enqueue(&store, "x1", "A").await,
        "same target and key once"
    );
    let item = store.claim_due("w", 60_000, 10).await.unwrap().remove(0);
    let later = roku_bridge::store::now_ms() + 60_000;
    assert!(
        store
            .mark_failed(item.id, "w", later, "HTTP 503", false)
            .await
            .unwrap()
    );
    assert!(
        store.claim_due("w", 60_000, 10).await.unwrap().is_empty(),
        "not due before its next attempt"
    );
    let row = &store
        .list_outbox(Some(OutboxStatus::Pending), 10)
        .await
        .unwrap()[0];
    assert_eq!(
        (row.attempts, row.last_error.as_deref()),
        (1, Some("HTTP 503"))
    );

    // Another customer's delivery is refused for good: a dead letter, then redriven.
    enqueue(&store, "x2", "B").await;
    let item = store.claim_due("w", 60_000, 10).await.unwrap().remove(0);
    assert_eq!(item.dedupe_key, "x2");
    store
        .mark_failed(item.id, "w", 0, "HTTP 404", true)
        .await
        .unwrap();
    assert_eq!(store.outbox_depth().await.unwrap(), (1, 1));
    assert_eq!(
        store
            .list_outbox(Some(OutboxStatus::Dead), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store.claim_due("w", 60_000, 10).await.unwrap().is_empty(),
        "dead items are not retried"
    );
    assert_eq!(store.redrive(Some(item.id)).await.unwrap(), 1);
    assert_eq!(store.outbox_depth().await.unwrap(), (2, 0));
    let again = store.claim_due("w", 60_000, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(
        (again[0].id, again[0].attempts),
        (item.id, 0),
        "a redrive starts a fresh window"
    );
}
on_both_backends!(
    failures_back_off_and_dead_letters_redrive_on,
    failures_back_off_and_dead_letters_redrive
);

async fn concurrent_workers_never_share_an_item(backend: Backend) {
    let (store, _g) = fresh_store(backend).await;
    for i in 0..120 {
        enqueue(&store, &format!("k{i}"), &format!("c{i}")).await;
    }
    let workers = (0..4).map(|w| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = store.claim_due(&format!("w{w}"), 60_000, 7).await.unwrap();
                if batch.is_empty() {
                    break;
                }
                for item in batch {
                    assert!(
                        store
                            .mark_delivered(item.id, &format!("w{w}"))
                            .await
                            .unwrap()
                    );
                    mine.push(item.id);
                }
            }
            mine
        })
    });
    let mut seen = HashSet::new();
    for w in futures_util::future::join_all(workers).await {
        for id in w.unwrap() {
            assert!(seen.insert(id), "item {id} delivered twice");
        }
    }
    assert_eq!(seen.len(), 120);
    assert_eq!(store.outbox_depth().await.unwrap(), (0, 0));
}
on_both_backends!(
    concurrent_workers_never_share_an_item_on,
    concurrent_workers_never_share_an_item
);

async fn an_older_event_does_not_overwrite_a_newer_state(backend: Backend) {
    let (store, _g) = fresh_store(backend).await;
    let sub = |state: &str, at: i64| Subscription {
        roku_customer_id: "rc1".into(),
        product_code: "S1-US".into(),
        state: state.parse().unwrap(),
        expires_at: Some(EpochMs(2_000_000_000_000)),
        cancelled_at: None,
        last_transaction_id: None,
        last_event_at: EpochMs(at),
    };
    assert!(
        store
            .record_subscription(&sub("cancelled", 200))
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_subscription(&sub("active", 100))
            .await
            .unwrap(),
        "a replayed older Sale"
    );
    assert_eq!(state_of(&store, "rc1").await, "cancelled");
    assert!(
        store
            .record_subscription(&sub("active", 300))
            .await
            .unwrap()
    );
    assert_eq!(state_of(&store, "rc1").await, "active");
}
on_both_backends!(
    an_older_event_does_not_overwrite_on,
    an_older_event_does_not_overwrite_a_newer_state
);

/// The first link stands: a Roku customer's purchases sign its account in, so a later poster
/// must not take it over (issue 17). Relinking the same account is a no-op that keeps the email.
async fn accounts_link_once_and_keep_the_first(backend: Backend) {
    let (store, _g) = fresh_store(backend).await;
    assert!(
        store
            .link_account("rc1", "C1", Some("a@example.com"))
            .await
            .unwrap()
    );
    assert!(!store.link_account("rc1", "C2", None).await.unwrap());
    assert!(store.link_account("rc1", "C1", None).await.unwrap());
    let acct = store.account("rc1").await.unwrap().unwrap();
    assert_eq!(
        (acct.customer_id.as_str(), acct.email.as_deref()),
        ("C1", Some("a@example.com"))
    );
}
on_both_backends!(
    accounts_link_once_and_keep_the_first_on,
    accounts_link_once_and_keep_the_first
);

#[tokio::test]
async fn the_sqlite_file_and_its_folder_are_created_on_first_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/deeper/bridge.db");
    let store = roku_bridge::store::Store::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    store.ping().await.unwrap();
    assert!(path.exists());
    store.close().await;
    // Opening again applies no migration twice.
    let again = roku_bridge::store::Store::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    again.ping().await.unwrap();
}
