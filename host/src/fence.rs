//! A fencing lease in a file, as an agent writes it for a bot that fails over and the bot reads
//! it: `<end> <grace>`, the lease's end on the node's monotonic clock (ms; the agent and its bots
//! share it, and a step of the wall clock moves nothing) and how long the bot may take to stop
//! once it has passed (ms).

use std::io::Write as _;
use std::path::Path;

/// The node's monotonic clock, ms (what a lease's end is read against).
pub fn now_ms() -> i64 {
    i64::try_from(crate::clock::monotonic_ns() / 1_000_000).unwrap_or(i64::MAX)
}

/// The grace a file without one gives, ms.
pub const DEFAULT_GRACE_MS: u64 = 1_000;

/// The end and grace in `file` (`None`: no file, a link, or not a time; at most 64 bytes read).
pub fn read(file: &Path) -> Option<(i64, u64)> {
    let text = crate::files::read_small(file, 64).ok()?;
    let mut parts = text.split_whitespace();
    let end = parts.next()?.parse::<i64>().ok()?;
    let grace = parts
        .next()
        .and_then(|g| g.parse::<u64>().ok())
        .unwrap_or(DEFAULT_GRACE_MS);
    Some((end, grace))
}

/// Why the lease in `file` has lapsed (past its end, or no readable file), or `None` while it
/// holds.
pub fn lapsed(file: &Path) -> Option<String> {
    let Some((end, _)) = read(file) else {
        return Some(format!(
            "fence {}: no readable lease (missing, a link, or not a time)",
            file.display()
        ));
    };
    let now = now_ms();
    (end <= now).then(|| {
        format!(
            "fencing lease ended {} ms ago: its agent has lost the gateway, which may run it elsewhere",
            now - end
        )
    })
}

/// Writes `end grace` to `file`: a new file renamed over the old one (never written through a
/// link; a reader sees the old lease or the new one), readable by all (it holds two numbers),
/// in a directory made 0755 (its writer's only). No fsync: a file lost to a crash fences the
/// bot, which is the safe side.
pub fn write(file: &Path, end: i64, grace_ms: u64) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    }
    let tmp = file.with_extension("tmp");
    let mut f = crate::files::create_private(&tmp)?;
    f.write_all(format!("{end} {grace_ms}").as_bytes())?;
    f.set_permissions(std::fs::Permissions::from_mode(0o644))?;
    drop(f);
    std::fs::rename(&tmp, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_holds_until_its_end_and_a_missing_bad_or_linked_one_is_lapsed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("fences").join("b-1");
        assert!(lapsed(&file).unwrap().contains("no readable lease"));
        write(&file, now_ms() + 60_000, 2_500).unwrap();
        assert_eq!(lapsed(&file), None);
        assert_eq!(read(&file).map(|r| r.1), Some(2_500));
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o644);
        assert_eq!(mode(file.parent().unwrap()), 0o755);
        std::fs::write(&file, format!("{}", now_ms() - 10)).unwrap();
        assert!(lapsed(&file).unwrap().starts_with("fencing lease ended"));
        assert_eq!(read(&file).map(|r| r.1), Some(DEFAULT_GRACE_MS));
        std::fs::write(&file, "soon").unwrap();
        assert!(lapsed(&file).is_some());
        let target = dir.path().join("target");
        std::fs::write(&target, format!("{}", now_ms() + 60_000)).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(lapsed(&link).is_some(), "never through a link");
    }
}
