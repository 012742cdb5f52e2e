//! Hot reload: the mapping follows the file (on change and on SIGHUP); a bad edit is refused
//! and the running configuration stays.

use std::time::Duration;

use crate::helpers::{
    SIGNING_KEY,
    process::{Bridge, Spawn, listeners_and_store},
    wait_for,
};

fn config_text(store: &str, offer: &str, rule: &str) -> String {
    format!(
        r#"{head}
[session]
signing_key = "{SIGNING_KEY}"
[mapping]
rule = "{rule}"
[mapping.products]
"S1-US" = "{offer}"
"#,
        head = listeners_and_store(&format!("sqlite://{store}/bridge.db"))
    )
}

async fn offer_of(bridge: &Bridge, token: &str) -> String {
    let body = bridge.get("/roku/entitlements/S1-US", token).await;
    body["offerId"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapping_edits_apply_without_a_restart_and_bad_ones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().display().to_string();
    let path = dir.path().join("bridge.toml");
    std::fs::write(&path, config_text(&store, "OFFER_A", "dash_to_underscore")).unwrap();
    let bridge = Spawn::config(&path).start();
    let token = bridge.register("r@example.com").await;
    assert_eq!(offer_of(&bridge, &token).await, "OFFER_A");

    // The file changes: the bridge follows.
    std::fs::write(&path, config_text(&store, "OFFER_B", "dash_to_underscore")).unwrap();
    wait_for("the edit applied", || async {
        offer_of(&bridge, &token).await == "OFFER_B"
    })
    .await;

    // A bad edit is refused; the running mapping stays.
    std::fs::write(&path, config_text(&store, "OFFER_X", "no_such_rule")).unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(offer_of(&bridge, &token).await, "OFFER_B");

    // SIGHUP reloads even when the file looks untouched (same size, same mtime).
    let reference = dir.path().join("reference");
    std::fs::write(&path, config_text(&store, "OFFER_C", "dash_to_underscore")).unwrap();
    std::fs::copy(&path, &reference).unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await; // the poll takes this version
    assert_eq!(offer_of(&bridge, &token).await, "OFFER_C");
    std::fs::write(&path, config_text(&store, "OFFER_D", "dash_to_underscore")).unwrap();
    let same_time = std::process::Command::new("touch")
        .arg("-r")
        .arg(&reference)
        .arg(&path)
        .status()
        .unwrap();
    assert!(same_time.success());
    bridge.signal("HUP");
    wait_for("the SIGHUP reload", || async {
        offer_of(&bridge, &token).await == "OFFER_D"
    })
    .await;
}
