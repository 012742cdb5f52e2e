//! The binary as an operator runs it: check-config, serve, demo.

use std::path::Path;

use crate::helpers::process::{ROOT, Spawn, bridge_command as bridge};

#[test]
fn shipped_configs_pass_check_config() {
    let out = bridge().args(["check-config"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("config/bridge.toml: ok"));

    let token = "tok-check-config-never-printed-0123456789";
    let key = "key-check-config-never-printed-0123456789";
    let out = bridge()
        .args(["check-config", "config/cleeng.example.toml"])
        .env("ROKU_BRIDGE__PROVIDER__PUBLISHER_TOKEN", token)
        .env("ROKU_BRIDGE__SESSION__SIGNING_KEY", key)
        // Cleeng's publisher ids are numbers; from the environment they arrive as one.
        .env("ROKU_BRIDGE__PROVIDER__PUBLISHER_ID", "123456789")
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{all}");
    assert!(!all.contains(token) && !all.contains(key), "{all}");
}

#[test]
fn a_bad_file_fails_naming_the_file_the_key_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    for (text, key, reason) in [
        (
            "[provider]\npublisher_tokn = \"x\"\n",
            "publisher_tokn",
            "unknown field",
        ),
        (
            "[payment]\nconfirm_timeout = \"soon\"\n",
            "payment.confirm_timeout",
            "expected a duration",
        ),
        (
            "[server]\nlisten = \"nowhere\"\n",
            "server.listen",
            "socket address",
        ),
        (
            "[provider]\nkind = \"magic\"\n",
            "provider.kind",
            "unknown variant",
        ),
        ("[payment\n", "(file)", "TOML"),
    ] {
        std::fs::write(&file, text).unwrap();
        let out = bridge().arg("check-config").arg(&file).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{text}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("bad.toml"), "{err}");
        assert!(err.contains(key), "{key}: {err}");
        assert!(err.contains(reason), "{reason}: {err}");
    }

    std::fs::write(
        &file,
        "[mapping.products]\n\"gold plan\" = \"S1_US\"\n\"a\" = \"X_1\"\n\"b\" = \"X_1\"\n",
    )
    .unwrap();
    let out = bridge().arg("check-config").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("mapping.products.\"gold plan\""), "{err}");
    assert!(
        err.contains("mapping.products.\"b\"") && err.contains("ambiguous"),
        "{err}"
    );

    // A too-short secret from the environment is refused without being echoed.
    let out = bridge()
        .args(["check-config"])
        .env("ROKU_BRIDGE__SESSION__SIGNING_KEY", "hunter2")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("session.signing_key") && !err.contains("hunter2"),
        "{err}"
    );

    let out = bridge()
        .args(["serve", "--config", "does/not/exist.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does/not/exist.toml"));
}

#[test]
fn demo_walks_the_purchase_path_against_the_default_config() {
    assert!(Path::new(ROOT).join("config/bridge.toml").exists());
    let dir = tempfile::tempdir().unwrap();
    // `roku-bridge serve` on the shipped default config, on free ports.
    let served = Spawn::default_in(dir.path()).start();
    let out = bridge()
        .args(["demo", "--url", &served.url("")])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("← 202"), "{stdout}");
    assert!(stdout.contains("\"status\":\"granted\""), "{stdout}");
    assert!(stdout.contains("demo complete"), "{stdout}");
    assert!(!stdout.contains("eyJ"), "no token is printed: {stdout}");
}

#[test]
fn demo_fails_clearly_when_no_bridge_runs() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = bridge()
        .args(["demo", "--url", &format!("http://{closed}")])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach the bridge"));
}
