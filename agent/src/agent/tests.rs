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
