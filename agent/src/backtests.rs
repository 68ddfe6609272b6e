//! Backtests the gateway queues for this node: each job in the desired state, one at a time,
//! is `sniperforge backtest` run as a child of the agent over a recording in
//! `DATA/recordings/`, in `DATA/agent/backtests/<id>/`; its report goes back to the gateway
//! (`POST /api/v1/agent/backtests/<id>`), and the directory is removed once it has it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sniperforge_protocol::backtests::{
    BacktestJob, BacktestResult, BacktestState, ERROR_MAX, RECORDING_BYTES_MAX,
    RECORDING_TIME_MAX_MS, RECORDINGS_MAX, REPORT_MAX, REPORT_MD_MAX, RecordingFile, SVG_MAX,
    valid_recording_name, valid_sweep,
};
use sniperforge_protocol::fleet::Desired;
use tokio::sync::watch;

use crate::agent::AgentOptions;

/// Longest one backtest may run (the CLI's `--timeout-s`; the child is killed a minute later).
pub const BACKTEST_TIMEOUT: Duration = Duration::from_secs(3600);

/// Tries to post a result before giving up.
const POST_ATTEMPTS: u32 = 40;

/// Whether `id` is one the gateway gives (`bt-` and 16 hex digits): it names a directory.
fn valid_id(id: &str) -> bool {
    id.strip_prefix("bt-")
        .is_some_and(|h| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The recordings a node holds for backtests.
pub fn recordings_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("recordings")
}

/// Most directory entries read when listing the recordings (a directory of many more files
/// is listed in part, never read whole every report).
pub const RECORDINGS_SCAN_MAX: usize = 4096;

/// A report carries the recordings again this long after the gateway last took them, even
/// unchanged.
const RECORDINGS_RESEND: Duration = Duration::from_secs(60);

/// How often the recordings are listed (off the agent's loop), and how long a listing may take
/// before the last one stands (a hung mount behind a link).
const RECORDINGS_EVERY: Duration = Duration::from_secs(5);

/// After a gateway refused the listing as a field it does not know (one older than this
/// agent), reports go without it this long before trying again.
const RECORDINGS_REFUSED_FOR: Duration = Duration::from_secs(600);

/// A file written this recently is being written (a copy, a recording): it is listed once it
/// has been still this long.
pub const RECORDING_SETTLE: Duration = Duration::from_secs(10);

/// The recordings in `DATA/recordings/` a backtest can name: regular files (a link is
/// followed, as a backtest opens it) with a recording's name, not written in the last
/// [`RECORDING_SETTLE`], newest first, at most [`RECORDINGS_MAX`] of the first
/// [`RECORDINGS_SCAN_MAX`] entries in the directory's own order. Nothing is opened: a FIFO is
/// never read. Blocking: [`Recordings::start`] runs it off the agent's loop.
pub fn list_recordings(data_dir: &Path) -> Vec<RecordingFile> {
    let Ok(dir) = std::fs::read_dir(recordings_dir(data_dir)) else {
        return Vec::new();
    };
    let now = std::time::SystemTime::now();
    let mut list: Vec<RecordingFile> = dir
        .take(RECORDINGS_SCAN_MAX)
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            if !valid_recording_name(&name) {
                return None;
            }
            let meta = std::fs::metadata(entry.path()).ok()?;
            let modified = meta.modified().ok()?;
            if now
                .duration_since(modified)
                .is_ok_and(|age| age < RECORDING_SETTLE)
            {
                return None; // a copy or a recording in progress: listed once it settles
            }
            let modified_ms = modified
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX));
            meta.is_file().then(|| RecordingFile {
                name,
                bytes: meta.len().min(RECORDING_BYTES_MAX),
                modified_ms: modified_ms.min(RECORDING_TIME_MAX_MS),
            })
        })
        .collect();
    list.sort_by(|a, b| {
        b.modified_ms
            .cmp(&a.modified_ms)
            .then_with(|| a.name.cmp(&b.name))
    });
    list.truncate(RECORDINGS_MAX);
    list
}

/// Lists the recordings every [`RECORDINGS_EVERY`] on a blocking thread into `tx`, until its
/// receivers are gone. A listing that takes longer leaves the last one standing and is waited
/// for (never a second one beside it).
async fn watch_recordings(data_dir: PathBuf, tx: watch::Sender<Option<Vec<RecordingFile>>>) {
    let mut hung: Option<tokio::task::JoinHandle<Vec<RecordingFile>>> = None;
    while !tx.is_closed() {
        let mut job = hung.take().unwrap_or_else(|| {
            let dir = data_dir.clone();
            tokio::task::spawn_blocking(move || list_recordings(&dir))
        });
        match tokio::time::timeout(RECORDINGS_EVERY, &mut job).await {
            Ok(Ok(list)) => {
                tx.send_if_modified(|old| {
                    let changed = old.as_ref() != Some(&list);
                    *old = Some(list);
                    changed
                });
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "listing DATA/recordings/ failed"),
            Err(_) => {
                tracing::warn!(
                    "listing DATA/recordings/ takes over {RECORDINGS_EVERY:?} (a hung mount behind a link?): the last listing stands"
                );
                hung = Some(job);
                continue;
            }
        }
        tokio::time::sleep(RECORDINGS_EVERY).await;
    }
}

/// What the agent has told the gateway of its recordings: a report carries the listing when
/// it changed since the gateway last took one, and a minute after that.
#[derive(Debug, Default)]
pub struct Recordings {
    /// The listing, as [`watch_recordings`] last made it (`None` before it starts).
    listed: Option<watch::Receiver<Option<Vec<RecordingFile>>>>,
    /// The listing the gateway last took, and when.
    taken: Option<(Vec<RecordingFile>, Instant)>,
    /// The listing the report being sent carries.
    sending: Option<Vec<RecordingFile>>,
    /// When a gateway refused the field as unknown.
    refused_at: Option<Instant>,
}

impl Recordings {
    /// Starts listing `data_dir`'s recordings; abort the task to stop.
    pub fn start(&mut self, data_dir: &Path) -> tokio::task::JoinHandle<()> {
        let (tx, rx) = watch::channel(None);
        self.listed = Some(rx);
        tokio::spawn(watch_recordings(data_dir.to_path_buf(), tx))
    }

    /// The listing the next report carries (`None`: the gateway has it, or none is made yet).
    pub fn due(&mut self) -> Option<Vec<RecordingFile>> {
        self.sending = None;
        if self
            .refused_at
            .is_some_and(|at| at.elapsed() < RECORDINGS_REFUSED_FOR)
        {
            return None;
        }
        let now = self.listed.as_ref()?.borrow().clone()?;
        let known = self
            .taken
            .as_ref()
            .is_some_and(|(list, at)| *list == now && at.elapsed() < RECORDINGS_RESEND);
        self.sending = (!known).then(|| now.clone());
        (!known).then_some(now)
    }

    /// The gateway took the report [`Self::due`] last gave a listing to.
    pub fn taken(&mut self) {
        if let Some(list) = self.sending.take() {
            self.taken = Some((list, Instant::now()));
        }
    }

    /// The report [`Self::due`] last gave a listing to failed with `error`: a gateway older
    /// than this agent refuses the field it does not know, and the reports go without it.
    pub fn failed(&mut self, error: &crate::gateway::GatewayError) {
        if self.sending.take().is_some()
            && matches!(error, crate::gateway::GatewayError::Status { status: 400, message, .. }
                if message.contains("unknown field `recordings`"))
        {
            tracing::warn!(
                "the gateway does not know a node's recordings (it is older than this agent): reports go without them"
            );
            self.refused_at = Some(Instant::now());
        }
    }
}

/// Runs the node's backtests as the desired state names them, until `rx` closes.
pub async fn run(opts: AgentOptions, mut rx: watch::Receiver<Option<Desired>>) {
    let mut finished: HashSet<String> = HashSet::new();
    loop {
        let jobs: Vec<BacktestJob> = rx
            .borrow_and_update()
            .as_ref()
            .map(|d| d.backtests.clone())
            .unwrap_or_default();
        for job in &jobs {
            if finished.contains(&job.id) {
                continue;
            }
            if post(
                &opts,
                &job.id,
                &state_only(&opts, BacktestState::Running, None),
            )
            .await
                == Posted::Closed
            {
                finished.insert(job.id.clone());
                continue;
            }
            let result = run_one(&opts, job, rx.clone()).await;
            if let Some(e) = &result.error {
                tracing::warn!(backtest = %job.id, error = %e, "backtest failed");
            } else {
                tracing::info!(backtest = %job.id, "backtest done");
            }
            // Until the gateway has it (or holds the backtest closed): a gateway restart
            // loses nothing.
            // (at most about 18 min: a gateway that keeps refusing it is not waited on for good).
            let mut wait = Duration::from_secs(1);
            for attempt in 1.. {
                if post(&opts, &job.id, &result).await != Posted::Retry {
                    break;
                }
                if attempt == POST_ATTEMPTS {
                    tracing::error!(backtest = %job.id, "backtest result never taken: given up");
                    // At least its end, so it does not stand `running` at the gateway.
                    let _ = post(
                        &opts,
                        &job.id,
                        &state_only(
                            &opts,
                            BacktestState::Failed,
                            Some("the node's result was not taken".into()),
                        ),
                    )
                    .await;
                    break;
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(30));
            }
            finished.insert(job.id.clone());
            if valid_id(&job.id) {
                let _ = std::fs::remove_dir_all(job_dir(&opts, &job.id));
            }
        }
        // Ids the gateway no longer lists are not kept.
        finished.retain(|id| jobs.iter().any(|j| &j.id == id));
        if rx.changed().await.is_err() {
            return;
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Posted {
    Taken,
    Closed,
    Retry,
}

async fn post(opts: &AgentOptions, id: &str, result: &BacktestResult) -> Posted {
    match opts.gateway.backtest(id, result).await {
        Ok(()) => Posted::Taken,
        Err(crate::gateway::GatewayError::Status {
            status: 409 | 404 | 400 | 403,
            ..
        }) => Posted::Closed,
        Err(e) => {
            tracing::warn!(backtest = %id, error = %e, "backtest result not taken; retrying");
            Posted::Retry
        }
    }
}

fn state_only(opts: &AgentOptions, state: BacktestState, error: Option<String>) -> BacktestResult {
    BacktestResult {
        node_id: opts.node.node_id.clone(),
        state,
        error: error.map(|e| cut(&e, ERROR_MAX)),
        report: None,
        report_md: None,
        pnl_svg: None,
        timing: None,
    }
}

/// At most `max` bytes of `s`, without control, bidi or zero-width characters but line breaks.
fn cut(s: &str, max: usize) -> String {
    let s: String = s
        .chars()
        .filter(|c| *c == '\n' || !sniperforge_protocol::fleet::hidden_char(*c))
        .collect();
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

fn job_dir(opts: &AgentOptions, id: &str) -> PathBuf {
    opts.data_dir.join("agent").join("backtests").join(id)
}

/// The markets file the node's bots run with (`--markets FILE` among the feed arguments).
fn markets_arg(opts: &AgentOptions) -> Option<&String> {
    let at = opts.feed_args.iter().position(|a| a == "--markets")?;
    opts.feed_args.get(at + 1)
}

/// A file of at most `max` bytes, as text (`None`: absent).
fn read_bounded(path: &Path, max: usize) -> Result<Option<String>, String> {
    match std::fs::metadata(path) {
        Err(_) => Ok(None),
        Ok(m) if m.len() > max as u64 => Err(format!(
            "{}: {} bytes, more than the {max} a result carries",
            path.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
            m.len()
        )),
        Ok(_) => std::fs::read_to_string(path)
            .map(|t| Some(t.replace('\0', "")))
            .map_err(|e| format!("{}: {e}", path.display())),
    }
}

async fn run_one(
    opts: &AgentOptions,
    job: &BacktestJob,
    mut desired: watch::Receiver<Option<Desired>>,
) -> BacktestResult {
    let failed = |e: String| state_only(opts, BacktestState::Failed, Some(e));
    if !valid_id(&job.id) {
        return failed(format!("id {:?}: not a backtest id", job.id));
    }
    if !valid_recording_name(&job.recording) {
        return failed(format!(
            "recording {:?}: not a recording's file name",
            job.recording
        ));
    }
    if let Some(bad) = job.sweep.iter().find(|s| !valid_sweep(s)) {
        return failed(format!("sweep {bad:?}: not section.field=v1,v2,…"));
    }
    let recording = recordings_dir(&opts.data_dir).join(&job.recording);
    match std::fs::metadata(&recording) {
        Ok(m) if m.is_file() => {}
        _ => {
            return failed(format!(
                "recording {}: no such file in the recordings directory (DATA/recordings/) of node {}",
                job.recording, opts.node.node_id
            ));
        }
    }
    let dir = job_dir(opts, &job.id);
    let _ = std::fs::remove_dir_all(&dir);
    let config = dir.join("config.json");
    let written = std::fs::create_dir_all(&dir).and_then(|()| {
        use std::io::Write as _;
        sniperforge_host::files::create_private(&config)?
            .write_all(job.config.to_string().as_bytes())
    });
    if let Err(e) = written {
        return failed(format!("{}: {e}", dir.display()));
    }
    let out = dir.join("out");
    let mut cmd = tokio::process::Command::new(&opts.exe);
    cmd.arg("backtest")
        .arg("--config")
        .arg(&config)
        .arg("--replay")
        .arg(&recording)
        .arg("--out")
        .arg(&out)
        .arg("--timeout-s")
        .arg(BACKTEST_TIMEOUT.as_secs().to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    if let Some(l) = job.latency_us {
        cmd.arg("--latency-us").arg(l.to_string());
    }
    // One argument each (`--sweep=…`): a value can never read as another flag.
    for s in &job.sweep {
        cmd.arg(format!("--sweep={s}"));
    }
    if let Some(m) = markets_arg(opts) {
        cmd.arg("--markets").arg(m);
    }
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return failed(format!("{}: {e}", opts.exe.display())),
    };
    // Until it ends, runs past its time, or the gateway no longer lists it (cancelled): the
    // child is killed when its future is dropped.
    let run = tokio::time::timeout(
        BACKTEST_TIMEOUT + Duration::from_secs(60),
        child.wait_with_output(),
    );
    tokio::pin!(run);
    let output = loop {
        tokio::select! {
            waited = &mut run => match waited {
                Err(_) => return failed(format!("ran past {} s: killed", BACKTEST_TIMEOUT.as_secs())),
                Ok(Err(e)) => return failed(format!("waiting for the backtest: {e}")),
                Ok(Ok(o)) => break o,
            },
            changed = desired.changed() => {
                let listed = changed.is_ok()
                    && desired
                        .borrow_and_update()
                        .as_ref()
                        .is_some_and(|d| d.backtests.iter().any(|j| j.id == job.id));
                if !listed {
                    return failed("cancelled: the gateway no longer lists it".into());
                }
            }
        }
    };
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        // The last lines say why; the path of the job's directory is the node's business.
        let tail: String = err
            .lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        return failed(tail.replace(&dir.display().to_string(), "<job>"));
    }
    let sweep = !job.sweep.is_empty();
    let (report, md) = if sweep {
        ("sweep.json", "sweep.md")
    } else {
        ("report.json", "report.md")
    };
    let read = || -> Result<BacktestResult, String> {
        let json = |name: &str| -> Result<Option<serde_json::Value>, String> {
            read_bounded(&out.join(name), REPORT_MAX)?
                .map(|t| serde_json::from_str(&t).map_err(|e| format!("{name}: {e}")))
                .transpose()
        };
        Ok(BacktestResult {
            node_id: opts.node.node_id.clone(),
            state: BacktestState::Done,
            error: None,
            report: json(report)?,
            report_md: read_bounded(&out.join(md), REPORT_MD_MAX)?,
            pnl_svg: if sweep {
                None
            } else {
                read_bounded(&out.join("pnl.svg"), SVG_MAX)?
            },
            timing: if sweep { None } else { json("timing.json")? },
        })
    };
    read().unwrap_or_else(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_name_directories_only_when_they_are_the_gateways() {
        assert!(valid_id("bt-0123456789abcdef"));
        for bad in [
            "bt-0123",
            "bt-../../../etc",
            "x-0123456789abcdef",
            "bt-0123456789abcdeg",
        ] {
            assert!(!valid_id(bad), "{bad}");
        }
        assert_eq!(cut("aé", 2), "a");
    }

    #[test]
    fn the_recordings_listed_are_the_files_a_backtest_can_name_newest_first() {
        let data = tempfile::tempdir().unwrap();
        assert_eq!(list_recordings(data.path()), [], "no directory yet");
        let dir = recordings_dir(data.path());
        std::fs::create_dir_all(dir.join("sub.sfrec")).unwrap();
        let at = |name: &str, bytes: usize, secs: u64| {
            let path = dir.join(name);
            std::fs::write(&path, vec![0u8; bytes]).unwrap();
            let t = std::time::UNIX_EPOCH + Duration::from_secs(secs);
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(t)
                .unwrap();
        };
        at("old.sfrec", 18, 1_000);
        at("new.sfrec", 40, 2_000);
        at("notes.txt", 1, 3_000);
        at(".hidden.sfrec", 1, 3_000);
        at("bad name.sfrec", 1, 3_000);
        std::os::unix::fs::symlink(dir.join("old.sfrec"), dir.join("linked.sfrec")).unwrap();
        std::os::unix::fs::symlink(dir.join("gone"), dir.join("dangling.sfrec")).unwrap();
        std::fs::write(dir.join("being-written.sfrec"), b"SFREC").unwrap();
        at("before-1970.sfrec", 3, 0);
        std::fs::File::options()
            .write(true)
            .open(dir.join("before-1970.sfrec"))
            .unwrap()
            .set_modified(std::time::UNIX_EPOCH - Duration::from_secs(60))
            .unwrap();
        let listed = list_recordings(data.path());
        let names: Vec<(&str, u64, u64)> = listed
            .iter()
            .map(|r| (r.name.as_str(), r.bytes, r.modified_ms))
            .collect();
        assert_eq!(
            names,
            [
                ("new.sfrec", 40, 2_000_000),
                ("linked.sfrec", 18, 1_000_000),
                ("old.sfrec", 18, 1_000_000),
                ("before-1970.sfrec", 3, 0),
            ]
        );
        // A report carries them once, then not until they change (or a minute passes);
        // a report the gateway did not take leaves them due.
        let mut known = Recordings::default();
        assert_eq!(known.due(), None, "not listed yet");
        let (tx, rx) = watch::channel(None);
        known.listed = Some(rx);
        assert_eq!(known.due(), None, "no listing made yet");
        tx.send_replace(Some(listed.clone()));
        assert_eq!(known.due().as_ref(), Some(&listed));
        assert_eq!(known.due().as_ref(), Some(&listed), "not taken yet");
        known.taken();
        assert_eq!(known.due(), None);
        known.taken();
        at("newest.sfrec", 1, 4_000);
        tx.send_replace(Some(list_recordings(data.path())));
        assert_eq!(known.due().map(|l| l.len()), Some(5));
        // A gateway older than the agent refuses the field: the reports go without it.
        let other = crate::gateway::GatewayError::Status {
            what: "report",
            status: 400,
            message: "bots[0].fills: too many".into(),
        };
        known.failed(&other);
        assert!(known.due().is_some(), "another refusal changes nothing");
        let older = crate::gateway::GatewayError::Status {
            what: "report",
            status: 400,
            message: "request body: recordings: unknown field `recordings`, expected `node_id` or `bots` at line 1 column 42"
                .into(),
        };
        known.failed(&older);
        assert_eq!(known.due(), None, "left out for a while");
    }
}
