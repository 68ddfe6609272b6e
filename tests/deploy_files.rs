//! The deployment unit files pass `systemd-analyze verify` with no warning (with the built
//! binary in place of /usr/local/bin/sniperforge, which verify requires to exist).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

#[test]
fn systemd_unit_files_verify_clean() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        common::skip_unless_ci(
            "systemd_unit_files_verify_clean",
            "systemd-analyze missing (apt-get install systemd)",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd");
    let mut names = Vec::new();
    for name in [
        "sniperforge-gateway.service",
        "sniperforge-agent.service",
        "sniperforge-bot@.service",
    ] {
        let text = std::fs::read_to_string(root.join(name)).unwrap();
        let text = text.replace(
            "/usr/local/bin/sniperforge",
            env!("CARGO_BIN_EXE_sniperforge"),
        );
        // A template is verified through an instance of it.
        let file = name.replace("@.", "@verify-1.");
        std::fs::write(dir.path().join(&file), text).unwrap();
        names.push(file);
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(&names)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "systemd-analyze verify failed:\n{stderr}"
    );
    assert!(
        stderr.trim().is_empty(),
        "systemd-analyze verify warned:\n{stderr}"
    );

    // And it does catch a mistake (the check can fail).
    std::fs::write(
        dir.path().join("bad.service"),
        "[Service]\nExecStart=/bin/true\nCPUAfinity=2\n",
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "bad.service"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("Unknown key"));
}
