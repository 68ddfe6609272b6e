//! The agent's small pieces: CPU lists, log tails, the fencing lease, the fills tail.

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

#[test]
fn the_fills_tail_sends_from_its_cursor_and_moves_it_only_once_taken() {
    use crate::files::FillsTail;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("fills.jsonl");
    let cursor = dir.path().join("cursor/arb");
    let line = |seq: u64| {
        format!(
            r#"{{"seq":{seq},"at_ms":1,"bot_id":"arb","token":"SOL","amount_in":1.0,"amount_out":1.0,"pnl":0.0,"pnl_usd":0.0}}"#
        ) + "\n"
    };
    // An unnumbered line from before, a bad one, three fills, a half-written one.
    let mut text = r#"{"at_ms":1,"bot_id":"arb","token":"SOL","amount_in":1.0,"amount_out":1.0,"pnl":0.0,"pnl_usd":0.0}"#.to_string() + "\n";
    text += "not json\n";
    for s in 1..=3 {
        text += &line(s);
    }
    text += r#"{"seq":4,"at_ms""#;
    std::fs::write(&journal, &text).unwrap();
    let mut tail = FillsTail::open(&journal, &cursor);
    assert!(tail.behind());
    let (fills, _) = tail.read(100, 1 << 20);
    assert_eq!(fills.iter().map(|f| f.seq).collect::<Vec<_>>(), [1, 2, 3]);
    // The report did not get through: read again from the cursor.
    tail.reset();
    assert!(tail.commit(), "nothing read: nothing moved");
    let (fills, _) = tail.read(2, 1 << 20);
    assert_eq!(fills.len(), 2, "at most two");
    assert!(tail.commit());
    // A new agent resumes from the kept cursor; a byte budget smaller than a line sends none.
    let mut tail = FillsTail::open(&journal, &cursor);
    assert_eq!(tail.read(100, 10), (Vec::new(), 0));
    assert!(
        tail.commit(),
        "the budget was spent, not the journal: more to come"
    );
    let (fills, bytes) = tail.read(100, 1 << 20);
    assert_eq!(fills.iter().map(|f| f.seq).collect::<Vec<_>>(), [3]);
    assert_eq!(bytes, line(3).len());
    assert!(tail.commit());
    // The half-written line completes: sent once whole.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&journal)
        .unwrap();
    use std::io::Write as _;
    f.write_all(&line(4).as_bytes()[r#"{"seq":4,"at_ms""#.len()..])
        .unwrap();
    assert_eq!(tail.read(100, 1 << 20).0[0].seq, 4);
    assert!(tail.commit());
    assert!(!tail.behind());
    assert_eq!(tail.read(100, 1 << 20).0.len(), 0);
    assert!(!tail.commit(), "nothing new");
    // Another file in the journal's place (longer, too): read from its start.
    let other = dir.path().join("other");
    let whole = &text[..text.rfind('\n').unwrap() + 1];
    std::fs::write(&other, whole.to_string() + &line(4) + &line(5)).unwrap();
    std::fs::rename(&other, &journal).unwrap();
    let mut tail = FillsTail::open(&journal, &cursor);
    assert!(tail.behind());
    let (fills, _) = tail.read(100, 1 << 20);
    assert_eq!(
        fills.iter().map(|f| f.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    // A long backlog: a budget ends the read mid-buffer, never past it, and the rest follows.
    let mut long = String::new();
    for seq in 1..=3_000 {
        long += &line(seq);
    }
    std::fs::write(&journal, &long).unwrap();
    let mut tail = FillsTail::open(&journal, &dir.path().join("cursor/long"));
    let budget = 10 * line(1).len() + 5;
    let (fills, bytes) = tail.read(1_000, budget);
    assert_eq!(fills.len(), 10);
    assert!(bytes <= budget);
    assert!(tail.commit());
    let mut sent = fills.len();
    loop {
        let (fills, bytes) = tail.read(1_000, 1 << 20);
        assert!(bytes <= 1 << 20);
        sent += fills.len();
        if !tail.commit() {
            break;
        }
    }
    assert_eq!(sent, 3_000, "every fill once, none skipped");
    // A symlink in its place is not followed.
    std::fs::remove_file(&journal).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", &journal).unwrap();
    let mut tail = FillsTail::open(&journal, &cursor);
    assert_eq!(tail.read(100, 1 << 20).0.len(), 0);
}
