//! Backtests the gateway queues for this node: each job in the desired state, one at a time,
//! is `sniperforge backtest` run as a child of the agent over a recording in
//! `DATA/recordings/`, in `DATA/agent/backtests/<id>/`; its report goes back to the gateway
//! (`POST /api/v1/agent/backtests/<id>`), and the directory is removed once it has it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sniperforge_protocol::backtests::{
    BacktestJob, BacktestResult, BacktestState, ERROR_MAX, REPORT_MAX, REPORT_MD_MAX, SVG_MAX,
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

/// At most `max` bytes of `s`, without NULs or other control characters but line breaks.
fn cut(s: &str, max: usize) -> String {
    let s: String = s
        .chars()
        .filter(|c| *c == '\n' || !c.is_control())
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
}
