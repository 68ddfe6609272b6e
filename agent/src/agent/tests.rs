//! The agent's small pieces: CPU lists, log tails.

use super::*;
use crate::files::LOG_LINE_MAX;

#[test]
fn cpu_lists_parse() {
    assert_eq!(parse_cpu_list("0-2,5\n"), vec![0, 1, 2, 5]);
    assert_eq!(parse_cpu_list("\n"), Vec::<u32>::new());
    assert_eq!(parse_cpu_list("x,3"), Vec::<u32>::new());
}

#[test]
fn log_tail_sends_whole_lines_once_and_follows_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bot.log");
    std::fs::write(&path, "old line\n").unwrap();
    let mut tail = LogTail::at_end(&path);
    assert!(tail.read().is_empty());
    std::fs::write(&path, "old line\nfirst\nsecond\npart").unwrap();
    assert_eq!(tail.read(), vec!["first", "second"]);
    std::fs::write(&path, "old line\nfirst\nsecond\npartial done\n").unwrap();
    assert_eq!(tail.read(), vec!["partial done"]);
    std::fs::write(&path, "new file\n").unwrap();
    assert_eq!(tail.read(), vec!["new file"]);
    let long = "x".repeat(LOG_LINE_MAX * 2);
    std::fs::write(&path, format!("new file\n{long}\n")).unwrap();
    assert_eq!(tail.read(), vec!["x".repeat(LOG_LINE_MAX)]);
}

#[test]
fn the_fencing_lease_holds_from_the_last_exchange_and_lapses() {
    let mut lease = fence::Lease::default();
    // Never in contact, or no length: lapsed.
    assert!(lease.end().is_err());
    // A report sent 10 s ago that the gateway took: the lease runs from when it was sent.
    let sent = fence::Contact::now() - 10_000;
    lease.touch(sent);
    assert!(lease.end().is_err(), "no length given yet");
    lease.set_length(60_000);
    let end = lease.end().unwrap();
    assert_eq!(end, sent + 60_000);
    // An older request answered late never moves it back.
    lease.touch(sent - 5_000);
    assert_eq!(lease.end().unwrap(), sent + 60_000);
    lease.touch(fence::Contact::now());
    let end = lease.end().unwrap();
    let now = sniperforge_host::fence::now_ms();
    assert!(
        (now + 59_000..=now + 60_000).contains(&end),
        "{end} vs {now}"
    );
    // A failing-over bot's fence file gets the end and the grace (a quarter of the lease), readable
    // by all, in a directory only the agent writes.
    let dir = tempfile::tempdir().unwrap();
    let file = fence::path(dir.path(), "b-1");
    let mut spec = crate::backend::BotSpec {
        bot_id: "b-1".into(),
        exe: "/x".into(),
        config_path: dir.path().join("c.json"),
        state_dir: dir.path().join("b-1"),
        log_path: dir.path().join("b.log"),
        control_port: 0,
        cores: vec![],
        shared_cores: vec![],
        memory_mb: 0,
        cpu_quota_percent: None,
        feed_args: vec![],
        seed: 7,
        control_secret: String::new(),
        user: None,
        instance: 0,
        environment: None,
        fence_file: None,
    };
    // A bot that does not fail over has no fence.
    lease.arm(&spec).unwrap();
    assert!(!file.exists());
    spec.fence_file = Some(file.clone());
    lease.arm(&spec).unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text, format!("{end} 15000"));
    assert!(!fence::lapsed(&file));
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&file), 0o644);
    assert_eq!(mode(file.parent().unwrap()), 0o755);
    std::fs::write(
        &file,
        format!("{} 15000", sniperforge_host::fence::now_ms() - 1),
    )
    .unwrap();
    assert!(fence::lapsed(&file));
    assert!(fence::lapsed(&dir.path().join("gone")));
    // A lapsed lease arms nothing: the bot is not started.
    lease.set_length(1);
    std::thread::sleep(std::time::Duration::from_millis(5));
    let e = lease.arm(&spec).unwrap_err();
    assert!(
        e.starts_with("fenced: no exchange with the gateway for"),
        "{e}"
    );
}
