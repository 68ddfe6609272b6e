//! The trading lease: an exclusive `flock` on `<state_dir>/trading.lease`. Two instances of one
//! bot (the old and the new of a warm handover) share its state directory; only the one holding
//! the lease takes decisions and writes the bot's state files. The kernel lets the lock go when
//! its holder's process ends, however it ends, so a crashed instance never keeps it.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// The lease file's name in the state directory.
pub const LEASE_FILE: &str = "trading.lease";

/// The lease file, open (not necessarily held).
#[derive(Debug)]
pub struct LeaseFile {
    file: File,
    path: PathBuf,
}

impl LeaseFile {
    /// Opens (creating, 0600) the lease file in `state_dir`, never through a symlink and only a
    /// regular file.
    pub fn open(state_dir: &Path) -> io::Result<Self> {
        use std::os::unix::fs::OpenOptionsExt as _;
        std::fs::create_dir_all(state_dir)?;
        let path = state_dir.join(LEASE_FILE);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(
                (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32,
            )
            .open(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: not a regular file", path.display()),
            ));
        }
        // A hard link would tie this bot's lease to another file's (another bot's).
        if std::os::unix::fs::MetadataExt::nlink(&meta) != 1 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: has other hard links", path.display()),
            ));
        }
        Ok(Self { file, path })
    }

    /// Takes the lease if no one holds it; `false` when another holds it.
    pub fn try_take(&self) -> io::Result<bool> {
        match self.file.try_lock() {
            Ok(()) => Ok(true),
            Err(std::fs::TryLockError::WouldBlock) => Ok(false),
            Err(std::fs::TryLockError::Error(e)) => Err(self.error(e)),
        }
    }

    /// Waits until the lease is free and takes it.
    pub fn take(&self) -> io::Result<()> {
        self.file.lock().map_err(|e| self.error(e))
    }

    /// Lets the lease go.
    pub fn release(&self) -> io::Result<()> {
        self.file.unlock().map_err(|e| self.error(e))
    }

    /// Where the lease file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, e: io::Error) -> io::Error {
        io::Error::new(e.kind(), format!("{}: {e}", self.path.display()))
    }
}

/// What a bot's JSON log says of its trading lease, process by process (both instances of a
/// handover append to one log): the bot logs `taken_ns` when an instance takes the lease and
/// `released_ns` (with its `last_decision_ns`) when it lets it go, each with its `pid`. A process
/// that died holding the lease has an interval that never closes (`u64::MAX`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LeaseLog {
    /// pid → when it held the lease: `(taken_ns, released_ns)`.
    pub held: std::collections::BTreeMap<u64, Vec<(u64, u64)>>,
    /// pid → its last decision as its latest release logged it (0: none).
    pub last_decision: std::collections::BTreeMap<u64, u64>,
}

impl LeaseLog {
    /// Reads a log's text (lines that are not the bot's JSON are skipped).
    pub fn parse(text: &str) -> Self {
        let mut log = Self::default();
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let f = &v["fields"];
            let Some(pid) = f["pid"].as_u64() else {
                continue;
            };
            if let Some(at) = f["taken_ns"].as_u64() {
                log.held.entry(pid).or_default().push((at, u64::MAX));
            } else if let Some(at) = f["released_ns"].as_u64() {
                if let Some(last) = log.held.get_mut(&pid).and_then(|v| v.last_mut()) {
                    last.1 = at;
                }
                if let Some(d) = f["last_decision_ns"].as_u64() {
                    log.last_decision.insert(pid, d);
                }
            }
        }
        log
    }

    /// Every interval as `(taken_ns, released_ns, pid)`, in order of taking.
    pub fn intervals(&self) -> Vec<(u64, u64, u64)> {
        let mut all: Vec<(u64, u64, u64)> = self
            .held
            .iter()
            .flat_map(|(pid, v)| v.iter().map(move |(a, b)| (*a, *b, *pid)))
            .collect();
        all.sort_unstable();
        all
    }

    /// Pairs of intervals of two processes that overlap (two instances trading at once).
    pub fn overlaps(&self) -> u64 {
        let all = self.intervals();
        let mut n = 0;
        for (i, a) in all.iter().enumerate() {
            n += all[i + 1..]
                .iter()
                .filter(|b| b.2 != a.2 && b.0 < a.1)
                .count() as u64;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_a_waiter_gets_it_when_let_go() {
        let dir = tempfile::tempdir().unwrap();
        let a = LeaseFile::open(dir.path()).unwrap();
        let b = LeaseFile::open(dir.path()).unwrap();
        assert!(a.try_take().unwrap());
        assert!(!b.try_take().unwrap(), "two holders");
        let waiter = std::thread::spawn(move || {
            b.take().unwrap();
            b
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!waiter.is_finished(), "took a held lease");
        a.release().unwrap();
        let b = waiter.join().unwrap();
        assert!(!a.try_take().unwrap(), "the waiter holds it now");
        drop(b);
        assert!(a.try_take().unwrap(), "a closed holder lets it go");
    }

    #[test]
    fn the_log_gives_each_process_its_intervals_and_overlaps_count() {
        let line = |pid: u64, field: &str, at: u64| {
            format!(
                r#"{{"fields":{{"message":"m","pid":{pid},"{field}":{at},"last_decision_ns":{}}}}}"#,
                at - 1
            )
        };
        let text = [
            line(1, "taken_ns", 10),
            "not json".to_string(),
            line(1, "released_ns", 20),
            line(2, "taken_ns", 21),
            line(2, "released_ns", 30),
            line(3, "taken_ns", 25),
        ]
        .join("\n");
        let log = LeaseLog::parse(&text);
        assert_eq!(
            log.intervals(),
            vec![(10, 20, 1), (21, 30, 2), (25, u64::MAX, 3)]
        );
        assert_eq!(log.last_decision[&1], 19);
        assert_eq!(log.overlaps(), 1);
    }

    #[test]
    fn a_planted_link_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, "x").unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join(LEASE_FILE)).unwrap();
        let e = LeaseFile::open(dir.path()).unwrap_err();
        assert!(e.to_string().contains(LEASE_FILE), "{e}");
    }
}
