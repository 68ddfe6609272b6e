//! An in-process server that speaks the part of Nomad's HTTP API the agent uses, in Nomad's wire
//! format (PascalCase fields, `X-Nomad-Index` headers, ndjson event stream with `{}`
//! heartbeats), and runs each job's raw_exec task as a real process with the group's restart
//! policy. No Nomad binary can be installed on these machines (see
//! ../shared/notes/control-plane.md); a real `nomad agent -dev` tier runs when one is on PATH.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

#[derive(Debug)]
struct Alloc {
    id: String,
    job_id: String,
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
}

#[derive(Debug, Default)]
struct Inner {
    index: u64,
    jobs: HashMap<String, (Value, u64)>,
    allocs: HashMap<String, Alloc>,
    /// Every job body registered, in order.
    registered: Vec<Value>,
    next_id: u64,
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
        "Namespace": "default",
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
            "Namespace": "default", "FilterKeys": [a.job_id], "Index": index,
            "Payload": {"Allocation": alloc_json(a)}
        }]});
        let _ = self.events.send(line.to_string());
    }

    /// Starts the task of `alloc_id` (raw_exec: command + args + env) and watches it.
    fn launch(&self, alloc_id: String, task: Value) {
        let command = task["Config"]["command"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let args: Vec<String> = task["Config"]["args"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let env: HashMap<String, String> =
            serde_json::from_value(task["Env"].clone()).unwrap_or_default();
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
                        return;
                    }
                    a.run += 1;
                    run = a.run;
                    match child {
                        Ok(c) => {
                            a.pid = c.id();
                            a.client_status = "running".into();
                            a.task_state = "running".into();
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
            a.desired_status = "stop".into();
            a.desired_status = "stop".into();
            a.events.push(event(
                "Killing",
                "Sent interrupt. Waiting 10s before force killing",
                json!({"kill_timeout": "10s"}),
            ));
            if let Some(pid) = a.pid {
                let _ = std::process::Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status();
            } else {
                a.client_status = "complete".into();
                a.task_state = "dead".into();
            }
        }
        self.publish(inner, alloc_id);
    }
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
    let task = job["TaskGroups"][0]["Tasks"][0].clone();
    let mut inner = fake.inner.lock().unwrap();
    inner.registered.push(job.clone());
    inner.index += 1;
    let index = inner.index;
    let changed = inner.jobs.get(&id).is_none_or(|(old, _)| *old != job);
    let version = inner
        .jobs
        .get(&id)
        .map_or(0, |(_, v)| v + u64::from(changed));
    inner.jobs.insert(id.clone(), (job, version));
    let running: Vec<String> = inner
        .allocs
        .values()
        .filter(|a| a.job_id == id && a.desired_status == "run")
        .map(|a| a.id.clone())
        .collect();
    if changed || running.is_empty() {
        // A new version replaces the allocation (max_parallel = 1, one allocation).
        for old in running {
            fake.stop_alloc(&mut inner, &old);
        }
        inner.next_id += 1;
        let alloc_id = format!("5b2c6f4e-0000-4000-8000-{:012}", inner.next_id);
        let alloc = Alloc {
            id: alloc_id.clone(),
            job_id: id.clone(),
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
        };
        inner.allocs.insert(alloc_id.clone(), alloc);
        fake.publish(&mut inner, &alloc_id);
        drop(inner);
        fake.launch(alloc_id, task);
    }
    with_index(
        index,
        json!({
            "EvalID": format!("eval-{index}"), "EvalCreateIndex": index, "JobModifyIndex": index,
            "Warnings": "", "Index": index, "LastContact": 0, "KnownLeader": false
        }),
    )
}

async fn read_job(State(fake): State<Fake>, Path(id): Path<String>) -> Response {
    let inner = fake.inner.lock().unwrap();
    match inner.jobs.get(&id) {
        Some((job, version)) => {
            let mut job = job.clone();
            job["Status"] = json!("running");
            job["Stop"] = json!(false);
            job["Version"] = json!(version);
            job["Namespace"] = json!("default");
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
}

async fn deregister(
    State(fake): State<Fake>,
    Path(id): Path<String>,
    Query(q): Query<StopQuery>,
) -> Response {
    let mut inner = fake.inner.lock().unwrap();
    if !inner.jobs.contains_key(&id) {
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

async fn job_allocations(State(fake): State<Fake>, Path(id): Path<String>) -> Response {
    let inner = fake.inner.lock().unwrap();
    let list: Vec<Value> = inner
        .allocs
        .values()
        .filter(|a| a.job_id == id)
        .map(alloc_json)
        .collect();
    with_index(inner.index, Value::Array(list))
}

async fn restart_alloc(State(fake): State<Fake>, Path(id): Path<String>, body: String) -> Response {
    let task: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let (pid, job_task) = {
        let mut inner = fake.inner.lock().unwrap();
        let Some(a) = inner.allocs.get_mut(&id) else {
            return (StatusCode::NOT_FOUND, "Unknown allocation").into_response();
        };
        if task["TaskName"] != "bot" && task["AllTasks"] != true {
            return (StatusCode::BAD_REQUEST, "task not found").into_response();
        }
        a.restarts += 1;
        a.events.push(event(
            "Restart Signaled",
            "User requested task to restart",
            json!({"restart_reason": "User requested task to restart"}),
        ));
        let pid = a.pid.take();
        a.run += 1; // the running watcher's exit is now stale
        let job = a.job_id.clone();
        fake.publish(&mut inner, &id);
        (
            pid,
            inner
                .jobs
                .get(&job)
                .map(|(j, _)| j["TaskGroups"][0]["Tasks"][0].clone()),
        )
    };
    if let Some(pid) = pid {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        // Wait for it to go, as Nomad waits for the task to be killed before starting it.
        for _ in 0..200 {
            if !super::alive(pid) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    if let Some(task) = job_task {
        fake.launch(id, task);
    }
    (StatusCode::OK, axum::Json(json!({}))).into_response()
}

async fn event_stream(State(fake): State<Fake>) -> Response {
    let mut rx = fake.events.subscribe();
    let stream = async_stream(
        move |tx: tokio::sync::mpsc::Sender<Result<String, std::io::Error>>| async move {
            let _ = tx.send(Ok("{}\n".to_string())).await;
            loop {
                let line = tokio::select! {
                    l = rx.recv() => match l { Ok(l) => l + "\n", Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue, Err(_) => return },
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
            .route(
                "/v1/client/allocation/{id}/restart",
                post(restart_alloc).put(restart_alloc),
            )
            .route("/v1/event/stream", get(event_stream))
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

    /// Job ids currently registered.
    pub fn jobs(&self) -> Vec<String> {
        self.inner.lock().unwrap().jobs.keys().cloned().collect()
    }

    /// The pid of a job's running task, if any.
    pub fn pid(&self, job_id: &str) -> Option<u32> {
        let inner = self.inner.lock().unwrap();
        inner
            .allocs
            .values()
            .filter(|a| a.job_id == job_id && a.desired_status == "run")
            .max_by_key(|a| a.create_index)
            .and_then(|a| a.pid)
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
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}
