//! An in-process server that speaks the part of Nomad's HTTP API the agent uses, in Nomad's wire
//! format (PascalCase fields, `X-Nomad-Index` headers, ndjson event stream with `{}`
//! heartbeats), and runs each job's raw_exec task as a real process with the group's restart
//! policy, its dynamic port interpolated (`${NOMAD_PORT_control}`). It models deployments: each
//! new job version gets one; where allocations run and the update block asks for a canary, the
//! new version is placed beside them as a canary, its service check (HTTP, at the check's
//! interval) must pass for `min_healthy_time` within `healthy_deadline`; then it is promoted
//! (`auto_promote`) and the old allocations are stopped, or the deployment fails, the canary is
//! stopped and the job is reverted to its last stable version (`auto_revert`) while the old
//! allocations run on. `check_restart` restarts a task whose check fails `limit` times in a row
//! after `grace`. No Nomad binary can be installed on these machines (see
//! ../shared/notes/control-plane.md); a real `nomad agent -dev` tier runs when one is on PATH.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

mod deploy;
use deploy::{deploy_json, list_deployments, read_deployment};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

fn rfc3339_now() -> String {
    // Nomad's timestamps; the agent does not read them.
    "2026-11-24T12:00:00.000000000Z".to_string()
}

/// A Nomad duration (ns) in a job body.
fn dur(v: &Value) -> Duration {
    Duration::from_nanos(v.as_u64().unwrap_or(0))
}

#[derive(Debug)]
struct Alloc {
    id: String,
    job_id: String,
    /// Its job's namespace.
    namespace: String,
    job_version: u64,
    create_index: u64,
    modify_index: u64,
    client_status: String,
    desired_status: String,
    task_state: String,
    failed: bool,
    restarts: u32,
    events: Vec<Value>,
    pid: Option<u32>,
    /// Bumped on each (re)start: a watcher of an older run ignores its process's exit.
    run: u64,
    /// Its dynamic `control` port.
    port: u16,
    /// Placed as its deployment's canary.
    canary: bool,
    deployment: Option<String>,
    /// Its deployment's verdict on it.
    healthy: Option<bool>,
    /// When its task last started, and since when its check passes.
    started_at: Option<Instant>,
    passing_since: Option<Instant>,
    /// Each service check's last result and failures in a row, and the restarts check_restart
    /// made.
    checks_ok: Vec<bool>,
    check_failures: Vec<u32>,
    check_restarts: u32,
}

#[derive(Debug, Clone)]
struct Deploy {
    id: String,
    job_id: String,
    /// Its job's namespace.
    namespace: String,
    job_version: u64,
    status: String,
    description: String,
    canaries: u64,
    placed: Vec<String>,
    promoted: bool,
    auto_promote: bool,
    auto_revert: bool,
    healthy: u32,
    unhealthy: u32,
    create_index: u64,
    modify_index: u64,
    started: Instant,
    min_healthy: Duration,
    healthy_deadline: Duration,
    progress_deadline_ns: i64,
}

#[derive(Debug)]
struct JobEntry {
    job: Value,
    version: u64,
    /// The last version a deployment promoted: what auto_revert goes back to.
    stable: Option<(Value, u64)>,
}

#[derive(Debug, Default)]
struct Inner {
    index: u64,
    jobs: HashMap<String, JobEntry>,
    allocs: HashMap<String, Alloc>,
    deployments: HashMap<String, Deploy>,
    /// Every job body registered, in order.
    registered: Vec<Value>,
    next_id: u64,
    /// Namespaces that exist (`default` always).
    namespaces: std::collections::HashSet<String>,
}

/// A job's namespace (`default` when its body names none).
fn namespace_of(job: &Value) -> String {
    job["Namespace"].as_str().unwrap_or("default").to_string()
}

/// `?namespace=` on a request (Nomad's default: `default`; `*`: every one).
#[derive(serde::Deserialize, Default)]
struct NsQuery {
    #[serde(default)]
    namespace: Option<String>,
}

impl NsQuery {
    fn admits(&self, ns: &str) -> bool {
        match self.namespace.as_deref() {
            Some("*") => true,
            Some(asked) => asked == ns,
            None => ns == "default",
        }
    }
}

#[derive(Clone)]
struct Fake {
    inner: Arc<Mutex<Inner>>,
    events: tokio::sync::broadcast::Sender<String>,
}

fn alloc_json(a: &Alloc) -> Value {
    json!({
        "ID": a.id,
        "EvalID": format!("eval-{}", a.id),
        "Name": format!("{}.bot[0]", a.job_id),
        "Namespace": a.namespace,
        "NodeID": "node-uuid-1",
        "NodeName": "fake-node",
        "JobID": a.job_id,
        "JobType": "service",
        "JobVersion": a.job_version,
        "TaskGroup": "bot",
        "DesiredStatus": a.desired_status,
        "DesiredDescription": "",
        "ClientStatus": a.client_status,
        "ClientDescription": "",
        "DeploymentID": a.deployment,
        "DeploymentStatus": a.deployment.as_ref().map(|_| json!({
            "Healthy": a.healthy, "Canary": a.canary, "Timestamp": rfc3339_now(),
            "ModifyIndex": a.modify_index,
        })),
        "AllocatedResources": {"Shared": {"DiskMB": 300, "Ports": [
            {"Label": "control", "Value": a.port, "To": 0, "HostIP": "127.0.0.1"}
        ]}},
        "TaskStates": {"bot": {
            "State": a.task_state,
            "Failed": a.failed,
            "Restarts": a.restarts,
            "LastRestart": Value::Null,
            "StartedAt": rfc3339_now(),
            "FinishedAt": Value::Null,
            "Events": a.events,
        }},
        "CreateIndex": a.create_index,
        "ModifyIndex": a.modify_index,
        "AllocModifyIndex": a.modify_index,
        "CreateTime": now_ns(),
        "ModifyTime": now_ns(),
    })
}

fn event(kind: &str, message: &str, details: Value) -> Value {
    json!({"Type": kind, "Time": now_ns(), "DisplayMessage": message, "Details": details,
           "FailsTask": false, "RestartReason": "", "SetupError": "", "DriverError": "",
           "ExitCode": 0, "Signal": 0, "Message": "", "KillTimeout": 0, "KillError": "",
           "KillReason": "", "StartDelay": 0, "DownloadError": "", "ValidationError": "",
           "DiskLimit": 0, "FailedSibling": "", "VaultError": "", "TaskSignalReason": "",
           "TaskSignal": "", "DriverMessage": "", "GenericSource": ""})
}

impl Fake {
    /// Bumps the index, stamps the alloc, and emits its AllocationUpdated event.
    fn publish(&self, inner: &mut Inner, alloc_id: &str) {
        inner.index += 1;
        let index = inner.index;
        let Some(a) = inner.allocs.get_mut(alloc_id) else {
            return;
        };
        a.modify_index = index;
        let line = json!({"Index": index, "Events": [{
            "Topic": "Allocation", "Type": "AllocationUpdated", "Key": a.id,
            "Namespace": a.namespace, "FilterKeys": [a.job_id], "Index": index,
            "Payload": {"Allocation": alloc_json(a)}
        }]});
        let _ = self.events.send(line.to_string());
    }

    /// Bumps the index, stamps the deployment, and emits its Deployment event.
    fn publish_deploy(&self, inner: &mut Inner, id: &str, kind: &str) {
        inner.index += 1;
        let index = inner.index;
        let Some(d) = inner.deployments.get_mut(id) else {
            return;
        };
        d.modify_index = index;
        let line = json!({"Index": index, "Events": [{
            "Topic": "Deployment", "Type": kind, "Key": d.id,
            "Namespace": d.namespace, "FilterKeys": [d.job_id], "Index": index,
            "Payload": {"Deployment": deploy_json(d)}
        }]});
        let _ = self.events.send(line.to_string());
    }

    /// Places an allocation of the job's current version (a free port of its own); the caller
    /// launches it once the lock is let go.
    fn place(
        &self,
        inner: &mut Inner,
        job_id: &str,
        canary: bool,
        deployment: Option<String>,
    ) -> String {
        inner.next_id += 1;
        let alloc_id = format!("5b2c6f4e-0000-4000-8000-{:012}", inner.next_id);
        let port = super::free_port();
        let version = inner.jobs.get(job_id).map_or(0, |j| j.version);
        let namespace = inner
            .jobs
            .get(job_id)
            .map_or_else(|| "default".to_string(), |j| namespace_of(&j.job));
        let alloc = Alloc {
            id: alloc_id.clone(),
            job_id: job_id.to_string(),
            namespace,
            job_version: version,
            create_index: inner.index + 1,
            modify_index: 0,
            client_status: "pending".into(),
            desired_status: "run".into(),
            task_state: "pending".into(),
            failed: false,
            restarts: 0,
            events: vec![event("Received", "Task received by client", json!({}))],
            pid: None,
            run: 0,
            port,
            canary,
            deployment,
            healthy: None,
            started_at: None,
            passing_since: None,
            checks_ok: Vec::new(),
            check_failures: Vec::new(),
            check_restarts: 0,
        };
        inner.allocs.insert(alloc_id.clone(), alloc);
        self.publish(inner, &alloc_id);
        alloc_id
    }

    /// Starts the task of `alloc_id` (raw_exec: command + args + env, its port interpolated),
    /// watches it, and runs its service check.
    fn launch(&self, alloc_id: String, job: &Value) {
        let task = job["TaskGroups"][0]["Tasks"][0].clone();
        let checks = job["TaskGroups"][0]["Services"][0]["Checks"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let port = {
            let inner = self.inner.lock().unwrap();
            inner.allocs.get(&alloc_id).map_or(0, |a| a.port)
        };
        let interpolate = |s: &str| {
            s.replace("${NOMAD_PORT_control}", &port.to_string())
                .replace("${NOMAD_ALLOC_ID}", &alloc_id)
        };
        let command = interpolate(task["Config"]["command"].as_str().unwrap_or_default());
        let args: Vec<String> = task["Config"]["args"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(interpolate))
                    .collect()
            })
            .unwrap_or_default();
        let mut env: HashMap<String, String> =
            serde_json::from_value(task["Env"].clone()).unwrap_or_default();
        env.insert("NOMAD_PORT_control".into(), port.to_string());
        env.insert("NOMAD_ALLOC_ID".into(), alloc_id.clone());
        let kill_timeout = dur(&task["KillTimeout"]);
        {
            let mut inner = self.inner.lock().unwrap();
            if let Some(a) = inner.allocs.get_mut(&alloc_id) {
                a.checks_ok = vec![false; checks.len()];
                a.check_failures = vec![0; checks.len()];
            }
        }
        for (i, check) in checks.into_iter().enumerate() {
            self.clone()
                .watch_check(alloc_id.clone(), port, i, check, kill_timeout);
        }
        let fake = self.clone();
        tokio::spawn(async move {
            let mut failures_in_interval = 0u32;
            loop {
                let child = tokio::process::Command::new(&command)
                    .args(&args)
                    .envs(&env)
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .process_group(0)
                    .spawn();
                let run;
                let mut child = {
                    let mut inner = fake.inner.lock().unwrap();
                    let Some(a) = inner.allocs.get_mut(&alloc_id) else {
                        return;
                    };
                    if a.desired_status != "run" {
                        if let Ok(mut c) = child {
                            let _ = c.start_kill();
                        }
                        return;
                    }
                    a.run += 1;
                    run = a.run;
                    match child {
                        Ok(c) => {
                            a.pid = c.id();
                            a.client_status = "running".into();
                            a.task_state = "running".into();
                            a.started_at = Some(Instant::now());
                            a.passing_since = None;
                            a.checks_ok.iter_mut().for_each(|c| *c = false);
                            a.check_failures.iter_mut().for_each(|f| *f = 0);
                            a.events
                                .push(event("Started", "Task started by client", json!({})));
                            fake.publish(&mut inner, &alloc_id);
                            c
                        }
                        Err(e) => {
                            a.client_status = "failed".into();
                            a.task_state = "dead".into();
                            a.failed = true;
                            a.events.push(event(
                                "Driver Failure",
                                &e.to_string(),
                                json!({"driver_error": e.to_string()}),
                            ));
                            fake.publish(&mut inner, &alloc_id);
                            return;
                        }
                    }
                };
                let status = child.wait().await.ok();
                let code = status.and_then(|s| s.code()).unwrap_or(-1);
                failures_in_interval += 1;
                if !fake.task_exited(&alloc_id, run, code, failures_in_interval) {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }

    /// Records a task exit; whether the task is to be started again (after the delay).
    fn task_exited(&self, alloc_id: &str, run: u64, code: i32, failures: u32) -> bool {
        let mut inner = self.inner.lock().unwrap();
        let Some(a) = inner.allocs.get_mut(alloc_id) else {
            return false;
        };
        if a.run != run {
            return false; // restarted on request: a newer run owns the alloc
        }
        a.pid = None;
        a.passing_since = None;
        a.events.push(event(
            "Terminated",
            &format!("Exit Code: {code}"),
            json!({"exit_code": code.to_string(), "signal": "0", "oom_killed": "false"}),
        ));
        if a.desired_status != "run" {
            a.client_status = "complete".into();
            a.task_state = "dead".into();
            self.publish(&mut inner, alloc_id);
            return false;
        }
        if failures > 5 {
            a.client_status = "failed".into();
            a.task_state = "dead".into();
            a.failed = true;
            a.events.push(event(
                "Not Restarting",
                "Exceeded allowed attempts 5 in interval 1m0s and mode is \"fail\"",
                json!({"fails_task": "true"}),
            ));
            self.publish(&mut inner, alloc_id);
            return false;
        }
        a.restarts += 1;
        a.task_state = "pending".into();
        a.events.push(event(
            "Restarting",
            "Task restarting in 1s",
            json!({"restart_reason": "Restart within policy", "start_delay": "1000000000"}),
        ));
        self.publish(&mut inner, alloc_id);
        true
    }

    fn stop_alloc(&self, inner: &mut Inner, alloc_id: &str) {
        if let Some(a) = inner.allocs.get_mut(alloc_id) {
            if a.desired_status == "stop" {
                return;
            }
            a.desired_status = "stop".into();
            a.events.push(event(
                "Killing",
                "Sent interrupt. Waiting 10s before force killing",
                json!({"kill_timeout": "10s"}),
            ));
            if let Some(pid) = a.pid {
                kill(pid, "TERM");
            } else {
                a.client_status = "complete".into();
                a.task_state = "dead".into();
            }
        }
        self.publish(inner, alloc_id);
    }
}

fn kill(pid: u32, signal: &str) {
    let _ = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status();
}

fn with_index(index: u64, body: Value) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert("X-Nomad-Index", index.to_string().parse().unwrap());
    headers.insert("X-Nomad-KnownLeader", "true".parse().unwrap());
    headers.insert("X-Nomad-LastContact", "0".parse().unwrap());
    (headers, axum::Json(body)).into_response()
}

async fn register(State(fake): State<Fake>, body: String) -> Response {
    let v: Value = match serde_json::from_str(&body) {
        Ok(v) => v,
        Err(e) => {
            return (StatusCode::BAD_REQUEST, format!("Failed to parse job: {e}")).into_response();
        }
    };
    let job = v["Job"].clone();
    let Some(id) = job["ID"].as_str().map(str::to_string) else {
        return (
            StatusCode::BAD_REQUEST,
            "1 error occurred:\n\t* Missing job ID\n\n",
        )
            .into_response();
    };
    let mut inner = fake.inner.lock().unwrap();
    let ns = namespace_of(&job);
    if ns != "default" && !inner.namespaces.contains(&ns) {
        return (
            StatusCode::BAD_REQUEST,
            format!("job \"{id}\" is in nonexistent namespace \"{ns}\""),
        )
            .into_response();
    }
    // One job id lives in one namespace here (the agent's ids are unique per bot).
    if let Some(other) = inner.jobs.get(&id).map(|j| namespace_of(&j.job))
        && other != ns
    {
        return (
            StatusCode::BAD_REQUEST,
            format!("the fake holds job {id} in namespace {other}; purge it there first"),
        )
            .into_response();
    }
    inner.registered.push(job.clone());
    inner.index += 1;
    let index = inner.index;
    let changed = inner.jobs.get(&id).is_none_or(|j| j.job != job);
    let version = inner
        .jobs
        .get(&id)
        .map_or(0, |j| j.version + u64::from(changed));
    let stable = inner.jobs.get(&id).and_then(|j| j.stable.clone());
    inner.jobs.insert(
        id.clone(),
        JobEntry {
            job: job.clone(),
            version,
            stable,
        },
    );
    let running: Vec<String> = inner
        .allocs
        .values()
        .filter(|a| a.job_id == id && a.desired_status == "run")
        .map(|a| a.id.clone())
        .collect();
    let mut launch = None;
    if changed || running.is_empty() {
        // A deployment of a newer version cancels the one under way (its canary stops).
        let under_way: Vec<String> = inner
            .deployments
            .values()
            .filter(|d| d.job_id == id && d.status == "running")
            .map(|d| d.id.clone())
            .collect();
        let mut running = running;
        for d in under_way {
            let dep = inner.deployments.get_mut(&d).unwrap();
            dep.status = "cancelled".into();
            dep.description = "Cancelled due to newer version of job".into();
            let canaries: Vec<String> = if dep.canaries > 0 {
                dep.placed.clone()
            } else {
                Vec::new()
            };
            fake.publish_deploy(&mut inner, &d, "DeploymentStatusUpdate");
            for a in canaries {
                fake.stop_alloc(&mut inner, &a);
                running.retain(|r| *r != a);
            }
        }
        let update = &job["Update"];
        let canaries = update["Canary"].as_u64().unwrap_or(0);
        let canary = canaries > 0 && !running.is_empty();
        if !canary {
            // Destructive: the old allocations stop first.
            for old in &running {
                fake.stop_alloc(&mut inner, old);
            }
        }
        inner.next_id += 1;
        let dep_id = format!("d0e1f2a3-0000-4000-8000-{:012}", inner.next_id);
        let alloc = fake.place(&mut inner, &id, canary, Some(dep_id.clone()));
        inner.index += 1;
        let d = Deploy {
            id: dep_id.clone(),
            job_id: id.clone(),
            namespace: namespace_of(&job),
            job_version: version,
            status: "running".into(),
            description: if canary {
                "Deployment is running but requires manual promotion".into()
            } else {
                "Deployment is running".into()
            },
            canaries: if canary { canaries } else { 0 },
            placed: vec![alloc.clone()],
            promoted: false,
            auto_promote: update["AutoPromote"].as_bool().unwrap_or(false),
            auto_revert: update["AutoRevert"].as_bool().unwrap_or(false),
            healthy: 0,
            unhealthy: 0,
            create_index: inner.index,
            modify_index: inner.index,
            started: Instant::now(),
            min_healthy: dur(&update["MinHealthyTime"]),
            healthy_deadline: dur(&update["HealthyDeadline"]),
            progress_deadline_ns: update["ProgressDeadline"].as_i64().unwrap_or(0),
        };
        inner.deployments.insert(dep_id.clone(), d);
        fake.publish_deploy(&mut inner, &dep_id, "DeploymentStatusUpdate");
        launch = Some((alloc, dep_id));
    }
    drop(inner);
    if let Some((alloc, dep_id)) = launch {
        fake.launch(alloc, &job);
        fake.clone().watch_deployment(dep_id);
    }
    with_index(
        index,
        json!({
            "EvalID": format!("eval-{index}"), "EvalCreateIndex": index, "JobModifyIndex": index,
            "Warnings": "", "Index": index, "LastContact": 0, "KnownLeader": false
        }),
    )
}

async fn read_job(
    State(fake): State<Fake>,
    Path(id): Path<String>,
    Query(q): Query<NsQuery>,
) -> Response {
    let inner = fake.inner.lock().unwrap();
    match inner
        .jobs
        .get(&id)
        .filter(|j| q.admits(&namespace_of(&j.job)))
    {
        Some(j) => {
            let mut job = j.job.clone();
            job["Status"] = json!("running");
            job["Stop"] = json!(false);
            job["Version"] = json!(j.version);
            job["Stable"] = json!(j.stable.as_ref().is_some_and(|s| s.1 == j.version));
            job["Namespace"] = json!(namespace_of(&j.job));
            job["CreateIndex"] = json!(1);
            job["ModifyIndex"] = json!(inner.index);
            job["JobModifyIndex"] = json!(inner.index);
            with_index(inner.index, job)
        }
        None => (StatusCode::NOT_FOUND, "job not found").into_response(),
    }
}

#[derive(serde::Deserialize)]
struct StopQuery {
    #[serde(default)]
    purge: Option<bool>,
    #[serde(default)]
    namespace: Option<String>,
}

async fn deregister(
    State(fake): State<Fake>,
    Path(id): Path<String>,
    Query(q): Query<StopQuery>,
) -> Response {
    let mut inner = fake.inner.lock().unwrap();
    let asked = NsQuery {
        namespace: q.namespace.clone(),
    };
    if !inner
        .jobs
        .get(&id)
        .is_some_and(|j| asked.admits(&namespace_of(&j.job)))
    {
        return (StatusCode::NOT_FOUND, "job not found").into_response();
    }
    let allocs: Vec<String> = inner
        .allocs
        .values()
        .filter(|a| a.job_id == id)
        .map(|a| a.id.clone())
        .collect();
    for a in allocs {
        fake.stop_alloc(&mut inner, &a);
    }
    let under_way: Vec<String> = inner
        .deployments
        .values()
        .filter(|d| d.job_id == id && d.status == "running")
        .map(|d| d.id.clone())
        .collect();
    for d in under_way {
        let dep = inner.deployments.get_mut(&d).unwrap();
        dep.status = "cancelled".into();
        dep.description = "Cancelled because job is stopped".into();
        fake.publish_deploy(&mut inner, &d, "DeploymentStatusUpdate");
    }
    if q.purge == Some(true) {
        inner.jobs.remove(&id);
    }
    let index = inner.index;
    with_index(
        index,
        json!({"EvalID": format!("eval-{index}"), "EvalCreateIndex": index,
        "JobModifyIndex": index, "VolumeEvalID": "", "VolumeEvalIndex": 0, "Index": index,
        "LastContact": 0, "KnownLeader": false}),
    )
}

async fn job_allocations(
    State(fake): State<Fake>,
    Path(id): Path<String>,
    Query(q): Query<NsQuery>,
) -> Response {
    let inner = fake.inner.lock().unwrap();
    let list: Vec<Value> = inner
        .allocs
        .values()
        .filter(|a| a.job_id == id && q.admits(&a.namespace))
        .map(alloc_json)
        .collect();
    with_index(inner.index, Value::Array(list))
}

async fn event_stream(State(fake): State<Fake>, Query(q): Query<NsQuery>) -> Response {
    let mut rx = fake.events.subscribe();
    // Nomad streams the events of the namespace asked for (`default` unless told).
    let wanted = move |line: &str| {
        serde_json::from_str::<Value>(line).is_ok_and(|v| {
            v["Events"].as_array().is_some_and(|e| {
                e.iter()
                    .all(|e| q.admits(e["Namespace"].as_str().unwrap_or("default")))
            })
        })
    };
    let stream = async_stream(
        move |tx: tokio::sync::mpsc::Sender<Result<String, std::io::Error>>| async move {
            let _ = tx.send(Ok("{}\n".to_string())).await;
            loop {
                let line = tokio::select! {
                    l = rx.recv() => match l { Ok(l) if !wanted(&l) => continue, Ok(l) => l + "\n", Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue, Err(_) => return },
                    _ = tokio::time::sleep(Duration::from_secs(10)) => "{}\n".to_string(),
                };
                if tx.send(Ok(line)).await.is_err() {
                    return;
                }
            }
        },
    );
    (
        [("content-type", "application/json")],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}

async fn read_namespace(State(fake): State<Fake>, Path(name): Path<String>) -> Response {
    let inner = fake.inner.lock().unwrap();
    if name == "default" || inner.namespaces.contains(&name) {
        with_index(inner.index, json!({"Name": name, "Description": ""}))
    } else {
        (StatusCode::NOT_FOUND, "namespace not found").into_response()
    }
}

async fn create_namespace(State(fake): State<Fake>, body: String) -> Response {
    let v: Value = serde_json::from_str(&body).unwrap_or_default();
    let Some(name) = v["Name"].as_str().filter(|n| !n.is_empty()) else {
        return (StatusCode::BAD_REQUEST, "namespace name required").into_response();
    };
    let mut inner = fake.inner.lock().unwrap();
    inner.namespaces.insert(name.to_string());
    inner.index += 1;
    with_index(inner.index, json!({"Index": inner.index}))
}

/// A stream fed by a task through a channel (no extra crates).
fn async_stream<F, Fut>(
    f: F,
) -> impl futures_core_stream::Stream<Item = Result<String, std::io::Error>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<String, std::io::Error>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(f(tx));
    futures_core_stream::ReceiverStream(rx)
}

mod futures_core_stream {
    pub use futures_util::Stream;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    pub struct ReceiverStream<T>(pub tokio::sync::mpsc::Receiver<T>);

    impl<T> Stream for ReceiverStream<T> {
        type Item = T;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
            self.0.poll_recv(cx)
        }
    }
}

/// The fake Nomad on a free loopback port, on its own runtime.
pub struct FakeNomad {
    pub addr: String,
    inner: Arc<Mutex<Inner>>,
    runtime: Option<tokio::runtime::Runtime>,
}

/// One allocation as a test sees it.
#[derive(Debug, Clone)]
pub struct AllocView {
    pub id: String,
    pub job_version: u64,
    pub desired: String,
    pub client: String,
    pub pid: Option<u32>,
    pub port: u16,
    pub canary: bool,
    pub healthy: Option<bool>,
    pub check_restarts: u32,
    pub create_index: u64,
}

/// One deployment as a test sees it.
#[derive(Debug, Clone)]
pub struct DeployView {
    pub job_version: u64,
    pub status: String,
    pub description: String,
    pub canaries: u64,
    pub placed: Vec<String>,
    pub promoted: bool,
}

impl FakeNomad {
    pub fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let inner: Arc<Mutex<Inner>> = Arc::default();
        let fake = Fake {
            inner: Arc::clone(&inner),
            events: tokio::sync::broadcast::Sender::new(1024),
        };
        let app = Router::new()
            .route("/v1/jobs", post(register).put(register))
            .route("/v1/job/{id}", get(read_job).delete(deregister))
            .route("/v1/job/{id}/allocations", get(job_allocations))
            .route("/v1/deployments", get(list_deployments))
            .route("/v1/deployment/{id}", get(read_deployment))
            .route("/v1/event/stream", get(event_stream))
            .route("/v1/namespace/{name}", get(read_namespace))
            .route("/v1/namespace", post(create_namespace))
            .with_state(fake);
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            inner,
            runtime: Some(runtime),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every job body registered so far.
    pub fn registered(&self) -> Vec<Value> {
        self.inner.lock().unwrap().registered.clone()
    }

    /// The namespace a job is registered in.
    pub fn namespace(&self, job_id: &str) -> Option<String> {
        self.inner
            .lock()
            .unwrap()
            .jobs
            .get(job_id)
            .map(|j| namespace_of(&j.job))
    }

    /// Namespaces that exist (besides `default`).
    pub fn namespaces(&self) -> Vec<String> {
        let mut list: Vec<String> = self
            .inner
            .lock()
            .unwrap()
            .namespaces
            .iter()
            .cloned()
            .collect();
        list.sort();
        list
    }

    /// Job ids currently registered.
    pub fn jobs(&self) -> Vec<String> {
        self.inner.lock().unwrap().jobs.keys().cloned().collect()
    }

    /// A job's current version.
    pub fn version(&self, job_id: &str) -> Option<u64> {
        self.inner
            .lock()
            .unwrap()
            .jobs
            .get(job_id)
            .map(|j| j.version)
    }

    /// The pid of a job's running task, if any (its newest allocation's).
    pub fn pid(&self, job_id: &str) -> Option<u32> {
        let inner = self.inner.lock().unwrap();
        inner
            .allocs
            .values()
            .filter(|a| a.job_id == job_id && a.desired_status == "run")
            .max_by_key(|a| a.create_index)
            .and_then(|a| a.pid)
    }

    /// A job's allocations, oldest first.
    pub fn allocs(&self, job_id: &str) -> Vec<AllocView> {
        let inner = self.inner.lock().unwrap();
        let mut list: Vec<AllocView> = inner
            .allocs
            .values()
            .filter(|a| a.job_id == job_id)
            .map(|a| AllocView {
                id: a.id.clone(),
                job_version: a.job_version,
                desired: a.desired_status.clone(),
                client: a.client_status.clone(),
                pid: a.pid,
                port: a.port,
                canary: a.canary,
                healthy: a.healthy,
                check_restarts: a.check_restarts,
                create_index: a.create_index,
            })
            .collect();
        list.sort_by_key(|a| a.create_index);
        list
    }

    /// A job's deployments, oldest first.
    pub fn deployments(&self, job_id: &str) -> Vec<DeployView> {
        let inner = self.inner.lock().unwrap();
        let mut list: Vec<&Deploy> = inner
            .deployments
            .values()
            .filter(|d| d.job_id == job_id)
            .collect();
        list.sort_by_key(|d| d.create_index);
        list.into_iter()
            .map(|d| DeployView {
                job_version: d.job_version,
                status: d.status.clone(),
                description: d.description.clone(),
                canaries: d.canaries,
                placed: d.placed.clone(),
                promoted: d.promoted,
            })
            .collect()
    }
}

impl Drop for FakeNomad {
    fn drop(&mut self) {
        let pids: Vec<u32> = self
            .inner
            .lock()
            .map(|i| i.allocs.values().filter_map(|a| a.pid).collect())
            .unwrap_or_default();
        for pid in pids {
            kill(pid, "TERM");
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}
