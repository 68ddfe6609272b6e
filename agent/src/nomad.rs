//! The `nomad` backend: one service job `sniperforge-bot-<bot_id>` per bot (nomad/bot.nomad.hcl
//! in JSON form), registered through Nomad's HTTP API with nomad-client-rs: raw_exec driver,
//! `resources { cores }`, an HTTP check on the bot's /health, an update block for rolling
//! deploys, a restart policy, and a constraint to this node. Stop is deregister with purge.
//! State comes from the job's allocations, then from the Allocation event stream (ndjson).
//! Hot reload goes to the bot's control endpoint (`PUT /config` with the new file), since Nomad
//! owns the process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use nomad_client_rs::allocation::{Allocation, RestartAllocationRequest};
use nomad_client_rs::event::{EventTopic, SubscribeToEventsOptions};
use nomad_client_rs::job::{
    CreateJobRequest, Job, ListJobAllocationsOptions, ReadJobOptions, StopJobOptions,
};
use nomad_client_rs::job_specification::{
    Constraint, NetworkResource, Port, Resources, RestartPolicy, Service, ServiceCheck, Task,
    TaskGroup, UpdateStrategy,
};
use nomad_client_rs::{Config, Connection, Credential, NomadClient};
use serde_json::json;

use crate::backend::{Backend, BackendError, BotSpec, Instance, UnitState};
use crate::http::Endpoint;

/// The job id of a bot.
pub fn job_id(bot_id: &str) -> String {
    format!("sniperforge-bot-{bot_id}")
}

const SECOND_NS: i64 = 1_000_000_000;
/// The task group and task name.
pub const GROUP: &str = "bot";

/// The job registered for `spec` on Nomad node `node` (what nomad/bot.nomad.hcl describes).
pub fn job_for(spec: &BotSpec, node: &str) -> Job {
    let mut args = spec.args();
    args.extend([
        "--log-file".to_string(),
        spec.log_path.display().to_string(),
    ]);
    let cores = i32::try_from(spec.cores.len().max(1)).unwrap_or(1);
    let port = i32::from(spec.control_port);
    let task = Task {
        name: Some(GROUP.into()),
        driver: Some("raw_exec".into()),
        config: Some(HashMap::from([
            ("command".to_string(), json!(spec.exe.display().to_string())),
            ("args".to_string(), json!(args)),
        ])),
        env: Some(HashMap::from([(
            "SNIPERFORGE_BOT_ID".to_string(),
            spec.bot_id.clone(),
        )])),
        kill_signal: Some("SIGTERM".into()),
        kill_timeout: Some(10 * SECOND_NS),
        resources: Some(Resources {
            cores: Some(cores),
            memory_mb: Some(i32::try_from(spec.memory_mb.max(64)).unwrap_or(i32::MAX)),
            ..Default::default()
        }),
        // raw_exec runs the task as this user (Nomad's client runs as root).
        user: spec.user.as_ref().map(|u| u.name.clone()),
        ..Default::default()
    };
    let group = TaskGroup {
        name: Some(GROUP.into()),
        count: Some(1),
        restart_policy: Some(RestartPolicy {
            attempts: Some(5),
            interval: Some(60 * SECOND_NS),
            delay: Some(SECOND_NS),
            mode: Some("delay".into()),
        }),
        networks: Some(vec![NetworkResource {
            reserved_ports: Some(vec![Port {
                label: Some("control".into()),
                value: Some(port),
                ..Default::default()
            }]),
            ..Default::default()
        }]),
        services: Some(vec![Service {
            name: Some(job_id(&spec.bot_id)),
            provider: Some("nomad".into()),
            port_label: Some("control".into()),
            address: Some("127.0.0.1".into()),
            checks: Some(vec![ServiceCheck {
                r#type: Some("http".into()),
                path: Some("/health".into()),
                interval: Some(5 * SECOND_NS),
                timeout: Some(2 * SECOND_NS),
                ..Default::default()
            }]),
            ..Default::default()
        }]),
        tasks: Some(vec![task]),
        ..Default::default()
    };
    Job {
        id: Some(job_id(&spec.bot_id)),
        name: Some(job_id(&spec.bot_id)),
        r#type: Some("service".into()),
        datacenters: Some(vec!["*".into()]),
        priority: Some(80),
        constraints: Some(vec![Constraint {
            l_target: Some("${node.unique.name}".into()),
            operand: Some("=".into()),
            r_target: Some(node.to_string()),
        }]),
        update: Some(UpdateStrategy {
            max_parallel: Some(1),
            health_check: Some("checks".into()),
            min_healthy_time: Some(10 * SECOND_NS),
            healthy_deadline: Some(120 * SECOND_NS),
            progress_deadline: Some(300 * SECOND_NS),
            auto_revert: Some(true),
            ..Default::default()
        }),
        meta: Some(HashMap::from([("bot_id".to_string(), spec.bot_id.clone())])),
        task_groups: Some(vec![group]),
        ..Default::default()
    }
}

/// The instance an allocation describes.
pub fn instance_of(alloc: &Allocation) -> Instance {
    let task = alloc.task_states.as_ref().and_then(|t| t.get(GROUP));
    let restarts = task
        .and_then(|t| t.restarts)
        .and_then(|r| u32::try_from(r).ok())
        .unwrap_or(0);
    let task_state = task.and_then(|t| t.state.as_deref()).unwrap_or("pending");
    let last_event = task
        .and_then(|t| t.events.as_ref())
        .and_then(|e| e.last())
        .and_then(|e| e.r#type.clone())
        .unwrap_or_default();
    let exit = task
        .and_then(|t| t.find_last_exit_code())
        .map_or_else(String::new, |c| format!(" (exit code {c})"));
    let client = alloc.client_status.as_deref().unwrap_or("pending");
    let desired = alloc.desired_status.as_deref().unwrap_or("run");
    let state = match (client, task_state) {
        (_, _) if desired == "stop" || desired == "evict" => UnitState::Stopped,
        ("running" | "pending", "running") => UnitState::Running,
        ("running" | "pending", "pending") if last_event == "Restarting" => UnitState::Restarting {
            last_exit: format!("task restarting{exit}"),
            failures: restarts,
            delay_ms: 1000,
        },
        ("running" | "pending", _) => UnitState::Running,
        ("failed", _) => UnitState::Exited {
            last_exit: format!("allocation failed{exit}"),
        },
        (other, _) => UnitState::Exited {
            last_exit: format!("allocation {other}{exit}"),
        },
    };
    Instance {
        state,
        pid: None,
        restarts,
    }
}

#[derive(Debug)]
struct Unit {
    spec: BotSpec,
    /// Allocation id → its instance; the newest non-stopped one describes the bot.
    allocs: HashMap<String, (u64, Instance)>,
}

type Units = Arc<Mutex<HashMap<String, Unit>>>;

/// Nomad over its HTTP API.
#[derive(Debug)]
pub struct NomadBackend {
    client: NomadClient,
    node: String,
    units: Units,
    events: tokio::task::JoinHandle<()>,
}

impl Drop for NomadBackend {
    fn drop(&mut self) {
        self.events.abort();
    }
}

/// The Nomad client could not be made for an address.
#[derive(Debug, Clone, thiserror::Error)]
#[error("Nomad at {address}: {why}")]
pub struct ConnectError {
    /// The agent's address.
    pub address: String,
    /// The client's error, as it words it.
    pub why: String,
}

impl NomadBackend {
    /// A backend for the Nomad agent at `address` (token from `token`, if any), placing jobs on
    /// node `node` (its `node.unique.name`). Follows the Allocation event stream at once.
    pub fn connect(address: &str, token: Option<String>, node: &str) -> Result<Self, ConnectError> {
        // reqwest is built without a bundled TLS provider: install ring's (once per process).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = NomadClient::new(Config {
            connection: Connection::HttpApi {
                address: address.to_string(),
                credential: token.map(Credential::AclToken),
            },
            ..Default::default()
        })
        .map_err(|e| ConnectError {
            address: address.to_string(),
            why: e.to_string(),
        })?;
        let units: Units = Arc::default();
        let events = tokio::spawn(follow_events(client.clone(), Arc::clone(&units)));
        Ok(Self {
            client,
            node: node.to_string(),
            units,
            events,
        })
    }

    fn err(bot_id: &str, message: impl Into<String>) -> BackendError {
        BackendError {
            backend: "nomad",
            bot_id: bot_id.to_string(),
            message: message.into(),
        }
    }

    /// Reads the job's allocations into the unit (the event stream keeps them current after).
    async fn refresh(&self, spec: &BotSpec) -> Result<(), BackendError> {
        let allocs = self
            .client
            .list_job_allocations(&job_id(&spec.bot_id), &ListJobAllocationsOptions::default())
            .await
            .map_err(|e| Self::err(&spec.bot_id, format!("listing allocations: {e}")))?;
        if let Ok(mut units) = self.units.lock() {
            let unit = units.entry(spec.bot_id.clone()).or_insert_with(|| Unit {
                spec: spec.clone(),
                allocs: HashMap::new(),
            });
            unit.spec = spec.clone();
            for a in &allocs {
                if let Some(id) = &a.id {
                    unit.allocs
                        .insert(id.clone(), (a.create_index.unwrap_or(0), instance_of(a)));
                }
            }
        }
        Ok(())
    }

    async fn register(&self, spec: &BotSpec) -> Result<(), BackendError> {
        let request = CreateJobRequest {
            job: Some(job_for(spec, &self.node)),
            ..Default::default()
        };
        self.client
            .create_job(&request)
            .await
            .map_err(|e| Self::err(&spec.bot_id, format!("registering the job: {e}")))?;
        if let Ok(mut units) = self.units.lock() {
            units.insert(
                spec.bot_id.clone(),
                Unit {
                    spec: spec.clone(),
                    allocs: HashMap::new(),
                },
            );
        }
        self.refresh(spec).await
    }

    fn current_alloc(&self, bot_id: &str) -> Option<String> {
        let units = self.units.lock().ok()?;
        units
            .get(bot_id)?
            .allocs
            .iter()
            .filter(|(_, (_, i))| i.state != UnitState::Stopped)
            .max_by_key(|(_, (index, _))| *index)
            .map(|(id, _)| id.clone())
    }
}

/// Applies every Allocation event to the unit of its job; reconnects with backoff.
async fn follow_events(client: NomadClient, units: Units) {
    let mut delay = Duration::from_millis(250);
    loop {
        let mut options = SubscribeToEventsOptions::default();
        options.add_topic(EventTopic::Allocation);
        let (task, mut rx) = client.subscribe_to_events(&options);
        while let Some(event) = rx.recv().await {
            delay = Duration::from_millis(250);
            let Some(alloc) = event.payload.and_then(|p| p.allocation) else {
                continue;
            };
            let (Some(job), Some(id)) = (alloc.job_id.as_deref(), alloc.id.clone()) else {
                continue;
            };
            let Some(bot_id) = job.strip_prefix("sniperforge-bot-") else {
                continue;
            };
            if let Ok(mut units) = units.lock()
                && let Some(unit) = units.get_mut(bot_id)
            {
                unit.allocs
                    .insert(id, (alloc.create_index.unwrap_or(0), instance_of(&alloc)));
            }
        }
        match task.await {
            Ok(Err(e)) => tracing::warn!(error = %e, "Nomad event stream ended; reconnecting"),
            _ => tracing::warn!("Nomad event stream closed; reconnecting"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

#[async_trait]
impl Backend for NomadBackend {
    fn name(&self) -> &'static str {
        "nomad"
    }

    fn side_by_side(&self) -> bool {
        // Nomad replaces an allocation through its own deployments.
        false
    }

    async fn adopt(&self, spec: &BotSpec) -> Result<bool, BackendError> {
        match self
            .client
            .read_job(&job_id(&spec.bot_id), &ReadJobOptions::default())
            .await
        {
            Ok(job) if job.stop != Some(true) => {
                self.refresh(spec).await?;
                Ok(true)
            }
            Ok(_) => Ok(false),
            Err(nomad_client_rs::ClientError::NomadRejected { status: 404, .. }) => Ok(false),
            Err(e) => Err(Self::err(&spec.bot_id, format!("reading the job: {e}"))),
        }
    }

    async fn start(&self, spec: &BotSpec) -> Result<(), BackendError> {
        self.register(spec).await
    }

    async fn stop(&self, bot_id: &str) -> Result<(), BackendError> {
        let options = StopJobOptions {
            purge: Some(true),
            ..Default::default()
        };
        match self.client.stop_job(&job_id(bot_id), &options).await {
            Ok(_) | Err(nomad_client_rs::ClientError::NomadRejected { status: 404, .. }) => {}
            Err(e) => return Err(Self::err(bot_id, format!("deregistering the job: {e}"))),
        }
        if let Ok(mut units) = self.units.lock() {
            units.remove(bot_id);
        }
        Ok(())
    }

    async fn reload(&self, bot_id: &str) -> Result<(), BackendError> {
        let spec = self
            .units
            .lock()
            .ok()
            .and_then(|u| u.get(bot_id).map(|u| u.spec.clone()))
            .ok_or_else(|| Self::err(bot_id, "not running: nothing to reload"))?;
        let body = crate::files::read_config_file(&spec.config_path).ok_or_else(|| {
            Self::err(
                bot_id,
                format!(
                    "{}: unreadable (or not a plain file)",
                    spec.config_path.display()
                ),
            )
        })?;
        let r = Endpoint::loopback(spec.control_port)
            .request(
                "PUT",
                "/config",
                spec.control_token(),
                Some(body),
                Duration::from_secs(5),
            )
            .await
            .map_err(|e| Self::err(bot_id, e.to_string()))?;
        if r.status == 200 {
            Ok(())
        } else {
            Err(Self::err(
                bot_id,
                format!("PUT /config: HTTP {}: {}", r.status, r.error_message()),
            ))
        }
    }

    async fn restart(&self, spec: &BotSpec) -> Result<(), BackendError> {
        // The control secret changes on every start and lives in a file, not in the job.
        let same = self
            .units
            .lock()
            .ok()
            .and_then(|u| u.get(&spec.bot_id).map(|u| u.spec.same_job(spec)))
            .unwrap_or(false);
        match self.current_alloc(&spec.bot_id) {
            Some(alloc) if same => {
                self.client
                    .restart_allocation(
                        &alloc,
                        &RestartAllocationRequest {
                            task_name: Some(GROUP.into()),
                            all_tasks: None,
                        },
                    )
                    .await
                    .map_err(|e| Self::err(&spec.bot_id, format!("restarting {alloc}: {e}")))?;
                if let Ok(mut units) = self.units.lock()
                    && let Some(unit) = units.get_mut(&spec.bot_id)
                {
                    unit.spec = spec.clone();
                }
                Ok(())
            }
            // New settings: a new job version, rolled out by the update block.
            _ => self.register(spec).await,
        }
    }

    async fn instance(&self, bot_id: &str) -> Option<Instance> {
        let units = self.units.lock().ok()?;
        let unit = units.get(bot_id)?;
        let newest = unit
            .allocs
            .values()
            .filter(|(_, i)| i.state != UnitState::Stopped)
            .max_by_key(|(index, _)| *index)
            .map(|(_, i)| i.clone());
        // Registered, not yet placed: starting.
        Some(newest.unwrap_or(Instance {
            state: UnitState::Running,
            pid: None,
            restarts: 0,
        }))
    }
}
