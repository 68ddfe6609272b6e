//! The fake Nomad's deployments and service checks: a canary promoted once its checks have
//! passed for `min_healthy_time`, or failed and the job reverted at its healthy deadline; HTTP
//! checks with `check_restart`; `GET /v1/deployments` and `GET /v1/deployment/{id}`.

use super::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

pub(super) fn deploy_json(d: &Deploy) -> Value {
    json!({
        "ID": d.id, "Namespace": d.namespace, "JobID": d.job_id, "JobVersion": d.job_version,
        "JobModifyIndex": d.create_index, "JobSpecModifyIndex": d.create_index,
        "JobCreateIndex": 1, "IsMultiregion": false,
        "TaskGroups": {"bot": {
            "AutoRevert": d.auto_revert, "AutoPromote": d.auto_promote, "Promoted": d.promoted,
            "PlacedCanaries": if d.canaries > 0 { json!(d.placed) } else { Value::Null },
            "DesiredCanaries": d.canaries, "DesiredTotal": 1, "PlacedAllocs": d.placed.len(),
            "HealthyAllocs": d.healthy, "UnhealthyAllocs": d.unhealthy,
            "ProgressDeadline": d.progress_deadline_ns, "RequireProgressBy": rfc3339_now(),
        }},
        "Status": d.status, "StatusDescription": d.description,
        "CreateIndex": d.create_index, "ModifyIndex": d.modify_index,
    })
}

impl Fake {
    /// Service check `index` of one allocation (HTTP GET at its interval; the allocation passes
    /// while every check does) and its check_restart: `limit` failures in a row, `grace` after
    /// the task started, restart the task (SIGTERM, SIGKILL after the kill timeout).
    pub(super) fn watch_check(
        self,
        alloc_id: String,
        port: u16,
        index: usize,
        check: Value,
        kill_timeout: Duration,
    ) {
        let interval = dur(&check["Interval"]).max(Duration::from_millis(100));
        let timeout = dur(&check["Timeout"]).max(Duration::from_millis(100));
        let path = check["Path"].as_str().unwrap_or("/").to_string();
        let limit = check["CheckRestart"]["Limit"].as_u64().unwrap_or(0) as u32;
        let grace = dur(&check["CheckRestart"]["Grace"]);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let running = {
                    let inner = self.inner.lock().unwrap();
                    match inner.allocs.get(&alloc_id) {
                        Some(a) if a.desired_status == "run" => a.pid.is_some(),
                        _ => return,
                    }
                };
                if !running {
                    continue;
                }
                let ok = http_ok(port, &path, timeout).await;
                let mut inner = self.inner.lock().unwrap();
                let Some(a) = inner.allocs.get_mut(&alloc_id) else {
                    return;
                };
                if let Some(c) = a.checks_ok.get_mut(index) {
                    *c = ok;
                }
                if ok {
                    if a.checks_ok.iter().all(|c| *c) {
                        a.passing_since.get_or_insert_with(Instant::now);
                    }
                    if let Some(f) = a.check_failures.get_mut(index) {
                        *f = 0;
                    }
                    continue;
                }
                a.passing_since = None;
                let failures = match a.check_failures.get_mut(index) {
                    Some(f) => {
                        *f += 1;
                        *f
                    }
                    None => continue,
                };
                let past_grace = a.started_at.is_some_and(|t| t.elapsed() >= grace);
                if limit == 0 || failures < limit || !past_grace {
                    continue;
                }
                a.check_failures.iter_mut().for_each(|f| *f = 0);
                a.check_restarts += 1;
                a.events.push(event(
                    "Restart Signaled",
                    "healthcheck: check \"service: \\\"bot\\\" check\" unhealthy",
                    json!({"restart_reason": "healthcheck: check unhealthy"}),
                ));
                let (pid, run) = (a.pid, a.run);
                self.publish(&mut inner, &alloc_id);
                drop(inner);
                if let Some(pid) = pid {
                    kill(pid, "TERM");
                    let fake = self.clone();
                    let id = alloc_id.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(kill_timeout).await;
                        let same = fake
                            .inner
                            .lock()
                            .unwrap()
                            .allocs
                            .get(&id)
                            .is_some_and(|a| a.run == run && a.pid == Some(pid));
                        if same {
                            kill(pid, "KILL");
                        }
                    });
                }
            }
        });
    }

    /// Follows a deployment: promoted once an allocation it placed has passed its check for
    /// `min_healthy_time`; failed (and reverted) when none has by `healthy_deadline` or one
    /// failed.
    pub(super) fn watch_deployment(self, id: String) {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let mut relaunch = None;
                {
                    let mut inner = self.inner.lock().unwrap();
                    let Some(d) = inner.deployments.get(&id).cloned() else {
                        return;
                    };
                    if d.status != "running" {
                        return;
                    }
                    let placed: Vec<&Alloc> = d
                        .placed
                        .iter()
                        .filter_map(|a| inner.allocs.get(a))
                        .collect();
                    let healthy = placed.iter().any(|a| {
                        a.passing_since
                            .is_some_and(|t| t.elapsed() >= d.min_healthy)
                    });
                    let failed = placed.iter().any(|a| a.client_status == "failed");
                    if healthy && (d.canaries == 0 || d.auto_promote) {
                        // Healthy; promoted canaries are canaries no more (as Nomad marks them).
                        for a in &d.placed {
                            if let Some(a) = inner.allocs.get_mut(a) {
                                a.healthy = Some(true);
                                a.canary = false;
                            }
                            self.publish(&mut inner, a);
                        }
                        // Promoted: the allocations of older versions stop.
                        let old: Vec<String> = inner
                            .allocs
                            .values()
                            .filter(|a| {
                                a.job_id == d.job_id
                                    && a.desired_status == "run"
                                    && !d.placed.contains(&a.id)
                            })
                            .map(|a| a.id.clone())
                            .collect();
                        for a in old {
                            self.stop_alloc(&mut inner, &a);
                        }
                        if let Some(j) = inner.jobs.get_mut(&d.job_id)
                            && j.version == d.job_version
                        {
                            j.stable = Some((j.job.clone(), j.version));
                        }
                        let dep = inner.deployments.get_mut(&id).unwrap();
                        dep.healthy = 1;
                        dep.promoted = d.canaries > 0;
                        dep.status = "successful".into();
                        dep.description = "Deployment completed successfully".into();
                        self.publish_deploy(&mut inner, &id, "DeploymentStatusUpdate");
                        return;
                    }
                    if !failed && d.started.elapsed() < d.healthy_deadline {
                        continue;
                    }
                    for a in &d.placed {
                        if let Some(a) = inner.allocs.get_mut(a) {
                            a.healthy = Some(false);
                        }
                        self.stop_alloc(&mut inner, a);
                    }
                    let stable = inner.jobs.get(&d.job_id).and_then(|j| j.stable.clone());
                    let revert = stable.filter(|_| d.auto_revert);
                    let dep = inner.deployments.get_mut(&id).unwrap();
                    dep.unhealthy = 1;
                    dep.status = "failed".into();
                    dep.description = match &revert {
                        Some((_, v)) => format!(
                            "Failed due to unhealthy allocations - rolling back to job version {v}"
                        ),
                        None => "Failed due to unhealthy allocations".into(),
                    };
                    self.publish_deploy(&mut inner, &id, "DeploymentStatusUpdate");
                    if let Some((job, _)) = revert {
                        // A new version, a copy of the stable one: the allocations that run it
                        // are updated in place; where none runs, one is placed.
                        let version = {
                            let j = inner.jobs.get_mut(&d.job_id).unwrap();
                            j.version += 1;
                            j.job = job.clone();
                            j.version
                        };
                        let running: Vec<String> = inner
                            .allocs
                            .values()
                            .filter(|a| a.job_id == d.job_id && a.desired_status == "run")
                            .map(|a| a.id.clone())
                            .collect();
                        for a in &running {
                            inner.allocs.get_mut(a).unwrap().job_version = version;
                            self.publish(&mut inner, a);
                        }
                        if running.is_empty() {
                            let a = self.place(&mut inner, &d.job_id, false, None);
                            relaunch = Some((a, job));
                        }
                    }
                }
                if let Some((a, job)) = relaunch {
                    self.launch(a, &job);
                }
                return;
            }
        });
    }
}

/// Whether `GET path` on the loopback port answers 2xx within `timeout` (Nomad's HTTP check).
async fn http_ok(port: u16, path: &str, timeout: Duration) -> bool {
    let ask = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
        let mut head = [0u8; 12];
        s.read_exact(&mut head).await?;
        Ok::<_, std::io::Error>(head.starts_with(b"HTTP/1.1 2") || head.starts_with(b"HTTP/1.0 2"))
    };
    matches!(tokio::time::timeout(timeout, ask).await, Ok(Ok(true)))
}

#[derive(serde::Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    filter: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
}

/// `GET /v1/deployments`, with the one filter expression the agent sends (`JobID == "…"`);
/// any other filter is refused as Nomad refuses one it cannot parse.
pub(super) async fn list_deployments(
    State(fake): State<Fake>,
    Query(q): Query<ListQuery>,
) -> Response {
    let job = match q.filter.as_deref() {
        None => None,
        Some(f) => match f
            .strip_prefix("JobID == \"")
            .and_then(|r| r.strip_suffix('"'))
        {
            Some(job) => Some(job.to_string()),
            None => {
                return (
                    StatusCode::BAD_REQUEST,
                    format!("failed to read filter expression: {f}"),
                )
                    .into_response();
            }
        },
    };
    let inner = fake.inner.lock().unwrap();
    let mut list: Vec<&Deploy> = inner
        .deployments
        .values()
        .filter(|d| job.as_ref().is_none_or(|j| *j == d.job_id))
        .filter(|d| {
            NsQuery {
                namespace: q.namespace.clone(),
            }
            .admits(&d.namespace)
        })
        .collect();
    list.sort_by_key(|d| std::cmp::Reverse(d.create_index));
    with_index(
        inner.index,
        Value::Array(list.into_iter().map(deploy_json).collect()),
    )
}

pub(super) async fn read_deployment(State(fake): State<Fake>, Path(id): Path<String>) -> Response {
    let inner = fake.inner.lock().unwrap();
    match inner.deployments.get(&id) {
        Some(d) => with_index(inner.index, deploy_json(d)),
        None => (StatusCode::NOT_FOUND, "deployment not found").into_response(),
    }
}
