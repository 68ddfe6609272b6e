//! The `nomad` backend: one service job `sniperforge-bot-<bot_id>` per bot (nomad/bot.nomad.hcl
//! in JSON form), registered through Nomad's HTTP API with nomad-client-rs: raw_exec driver,
//! `resources { cores }`, a dynamic control port, an HTTP check on the bot's /health with
//! `check_restart`, an update block that deploys every new version as a canary beside the
//! running allocation (promoted automatically once healthy, reverted when it is not), a restart
//! policy, and a constraint to this node. Stop is deregister with purge.
//!
//! A restart or a cold change registers a new job version (the task's `generation` meta): the
//! canary loads in standby (the running allocation holds the bot's trading lease), Nomad
//! promotes it once its check has passed for `min_healthy_time`, then stops the old allocation
//! with SIGTERM, which drains and lets the lease go, and the canary takes it: the standby and
//! handover protocol of the other backends, driven by Nomad's deployment.
//! State comes from the job's allocations, then from the Allocation and Deployment event
//! streams (ndjson). Hot reload goes to the bot's control endpoint (`PUT /config` with the new
//! file), since Nomad owns the process.
//!
//! Each job goes to the Nomad namespace of its bot's environment (`dev`, `test`, `prod`;
//! created on first use when missing, which needs a token that may), so Nomad ACLs and quotas
//! can keep the environments apart; jobs of agents before it stay in `default`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use nomad_client_rs::allocation::Allocation;
use nomad_client_rs::deployment::{Deployment, ListDeploymentsOptions};
use nomad_client_rs::event::{EventTopic, SubscribeToEventsOptions};
use nomad_client_rs::job::{
    CreateJobRequest, Job, ListJobAllocationsOptions, ReadJobOptions, StopJobOptions,
};
use nomad_client_rs::job_specification::{
    CheckRestart, Constraint, NetworkResource, Port, Resources, RestartPolicy, Service,
    ServiceCheck, Task, TaskGroup, UpdateStrategy,
};
use nomad_client_rs::{Config, Connection, Credential, NomadClient};
use serde_json::json;

use crate::backend::{Backend, BackendError, BotSpec, DeployState, Instance, UnitState};
use crate::http::Endpoint;

/// The Nomad namespace of a bot's job: its environment's name (`default` for records of
/// agents before environments).
pub fn namespace_of(spec: &BotSpec) -> String {
    spec.environment
        .map_or_else(|| "default".to_string(), |e| e.as_str().to_string())
}

/// Every namespace a bot job may be in.
const NAMESPACES: [&str; 4] = ["dev", "test", "prod", "default"];

/// The job id of a bot.
pub fn job_id(bot_id: &str) -> String {
    format!("sniperforge-bot-{bot_id}")
}

const SECOND_NS: i64 = 1_000_000_000;
/// The task group and task name.
pub const GROUP: &str = "bot";
/// The control port's label (the bot listens on `${NOMAD_PORT_control}`).
pub const PORT_LABEL: &str = "control";
/// The task meta key whose change makes a new job version (a restart, a cold change).
pub const GENERATION: &str = "generation";
/// How long a canary's check must pass before it is promoted.
pub const MIN_HEALTHY: Duration = Duration::from_secs(3);
/// Consecutive failed checks after which Nomad restarts the task (`check_restart.limit`).
pub const CHECK_RESTART_LIMIT: i32 = 3;

/// The deadlines the job's update block and check take from the agent's options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// A new version's allocation must pass its check within this (`healthy_deadline`; also
    /// `check_restart.grace`, the time a start has to load). Whole seconds, at least
    /// [`MIN_HEALTHY`] + 2 s.
    pub healthy_s: u64,
}

impl Deadlines {
    /// From the agent's `--handover-ready-ms`: rounded up to whole seconds, at least 5 s.
    pub fn from_ready(ready: Duration) -> Self {
        let s = ready.as_millis().div_ceil(1000);
        Self {
            healthy_s: u64::try_from(s)
                .unwrap_or(u64::MAX / 2)
                .clamp(MIN_HEALTHY.as_secs() + 2, 24 * 3600),
        }
    }

    fn healthy_ns(self) -> i64 {
        i64::try_from(self.healthy_s).unwrap_or(i64::MAX / SECOND_NS) * SECOND_NS
    }
}

/// The job registered for `spec` on Nomad node `node` (what nomad/bot.nomad.hcl describes),
/// `generation` in its task's meta.
pub fn job_for(spec: &BotSpec, node: &str, generation: u64, deadlines: Deadlines) -> Job {
    let mut args = spec.args();
    // The port Nomad gives the allocation, interpolated by its client when it starts the task.
    if let Some(i) = args.iter().position(|a| a == "--control-addr")
        && let Some(addr) = args.get_mut(i + 1)
    {
        *addr = format!("127.0.0.1:${{NOMAD_PORT_{PORT_LABEL}}}");
    }
    args.extend([
        "--log-file".to_string(),
        spec.log_path.display().to_string(),
    ]);
    let cores = i32::try_from(spec.cores.len().max(1)).unwrap_or(1);
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
        meta: Some(HashMap::from([(
            GENERATION.to_string(),
            generation.to_string(),
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
            dynamic_ports: Some(vec![Port {
                label: Some(PORT_LABEL.into()),
                ..Default::default()
            }]),
            ..Default::default()
        }]),
        services: Some(vec![Service {
            name: Some(job_id(&spec.bot_id)),
            provider: Some("nomad".into()),
            port_label: Some(PORT_LABEL.into()),
            address: Some("127.0.0.1".into()),
            checks: Some(vec![
                // Ready: market loaded, feed fresh (what a canary must pass to be promoted).
                ServiceCheck {
                    name: Some("ready".into()),
                    r#type: Some("http".into()),
                    path: Some("/health".into()),
                    interval: Some(SECOND_NS),
                    timeout: Some(SECOND_NS),
                    ..Default::default()
                },
                // Alive: the process answers and its strategy loop runs. Only this one restarts
                // the task: a stale feed fails /health on every bot at once, and a restart
                // would not mend it.
                ServiceCheck {
                    name: Some("live".into()),
                    r#type: Some("http".into()),
                    path: Some("/live".into()),
                    interval: Some(SECOND_NS),
                    timeout: Some(SECOND_NS),
                    check_restart: Some(CheckRestart {
                        limit: Some(CHECK_RESTART_LIMIT),
                        grace: Some(deadlines.healthy_ns()),
                        ignore_warnings: Some(false),
                    }),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        }]),
        tasks: Some(vec![task]),
        ..Default::default()
    };
    let min_healthy = i64::try_from(MIN_HEALTHY.as_secs()).unwrap_or(3) * SECOND_NS;
    Job {
        id: Some(job_id(&spec.bot_id)),
        name: Some(job_id(&spec.bot_id)),
        namespace: Some(namespace_of(spec)),
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
            canary: Some(1),
            auto_promote: Some(true),
            health_check: Some("checks".into()),
            min_healthy_time: Some(min_healthy),
            healthy_deadline: Some(deadlines.healthy_ns()),
            // 0: the first allocation unhealthy at its healthy deadline fails the deployment
            // (and reverts it) at once.
            progress_deadline: Some(0),
            auto_revert: Some(true),
            ..Default::default()
        }),
        meta: Some(HashMap::from([("bot_id".to_string(), spec.bot_id.clone())])),
        task_groups: Some(vec![group]),
        ..Default::default()
    }
}

/// The generation in a registered job's task meta (0 when it has none).
pub fn generation_of(job: &Job) -> u64 {
    job.task_groups
        .as_ref()
        .and_then(|g| g.first())
        .and_then(|g| g.tasks.as_ref())
        .and_then(|t| t.first())
        .and_then(|t| t.meta.as_ref())
        .and_then(|m| m.get(GENERATION))
        .and_then(|g| g.parse().ok())
        .unwrap_or(0)
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

/// The control port Nomad gave an allocation (its `control` label), if it says.
pub fn port_of(alloc: &Allocation) -> Option<u16> {
    let shared = alloc.allocated_resources.as_ref()?.shared.as_ref()?;
    let from_ports = shared.ports.as_ref().and_then(|ports| {
        ports
            .iter()
            .find(|p| p.label.as_deref() == Some(PORT_LABEL))
            .and_then(|p| p.value)
    });
    let from_networks = || {
        shared.networks.as_ref()?.iter().find_map(|n| {
            n.dynamic_ports
                .as_ref()?
                .iter()
                .find(|p| p.label.as_deref() == Some(PORT_LABEL))
                .and_then(|p| p.value)
        })
    };
    from_ports
        .or_else(from_networks)
        .and_then(|v| u16::try_from(v).ok())
        .filter(|p| *p != 0)
}

/// What the agent keeps of one allocation.
#[derive(Debug, Clone)]
struct AllocInfo {
    index: u64,
    instance: Instance,
    port: Option<u16>,
    /// Its task runs (started by the client): its port is the bot's, not only booked.
    task_running: bool,
    /// Placed as a deployment's canary.
    canary: bool,
    deployment: Option<String>,
}

impl AllocInfo {
    fn of(alloc: &Allocation) -> Self {
        Self {
            index: alloc.create_index.unwrap_or(0),
            instance: instance_of(alloc),
            port: port_of(alloc),
            task_running: alloc.client_status.as_deref() == Some("running")
                && alloc
                    .task_states
                    .as_ref()
                    .and_then(|t| t.get(GROUP))
                    .and_then(|t| t.state.as_deref())
                    == Some("running"),
            canary: alloc
                .deployment_status
                .as_ref()
                .and_then(|d| d.canary)
                .unwrap_or(false),
            deployment: alloc.deployment_id.clone(),
        }
    }
}

/// What the agent keeps of one deployment.
#[derive(Debug, Clone)]
struct DeployInfo {
    index: u64,
    job_version: i64,
    status: String,
    description: String,
    promoted: bool,
}

impl DeployInfo {
    fn of(d: &Deployment) -> Self {
        Self {
            index: d.create_index.unwrap_or(0),
            job_version: i64::from(d.job_version.unwrap_or(-1)),
            status: d.status.clone().unwrap_or_default(),
            description: d.status_description.clone().unwrap_or_default(),
            promoted: d
                .task_groups
                .as_ref()
                .and_then(|g| g.get(GROUP))
                .and_then(|g| g.promoted)
                .unwrap_or(false),
        }
    }

    fn state(&self) -> DeployState {
        match self.status.as_str() {
            "successful" => DeployState::Successful,
            "failed" | "cancelled" => DeployState::Failed(if self.description.is_empty() {
                format!("deployment {}", self.status)
            } else {
                self.description.clone()
            }),
            _ => DeployState::Running,
        }
    }
}

#[derive(Debug)]
struct Unit {
    spec: BotSpec,
    /// Allocation id → what it is.
    allocs: HashMap<String, AllocInfo>,
    /// Deployment id → how it went.
    deployments: HashMap<String, DeployInfo>,
    /// The generation in the job the agent registered last.
    generation: u64,
    /// The job version whose deployment the agent follows (registered by a restart).
    awaiting: Option<i64>,
}

impl Unit {
    fn new(spec: &BotSpec) -> Self {
        Self {
            spec: spec.clone(),
            allocs: HashMap::new(),
            deployments: HashMap::new(),
            generation: 0,
            awaiting: None,
        }
    }

    /// The allocation that stands for the bot: the newest one not stopped, passing over a
    /// canary whose deployment is not promoted yet (it waits in standby while the one before
    /// it trades); the canary itself when nothing else runs.
    fn current(&self) -> Option<&AllocInfo> {
        let live = || {
            self.allocs
                .values()
                .filter(|a| a.instance.state != UnitState::Stopped)
        };
        let settled = |a: &&AllocInfo| {
            !a.canary
                || a.deployment
                    .as_ref()
                    .and_then(|d| self.deployments.get(d))
                    .is_some_and(|d| d.promoted || d.status == "successful")
        };
        live()
            .filter(settled)
            .max_by_key(|a| a.index)
            .or_else(|| live().max_by_key(|a| a.index))
    }
}

type Units = Arc<Mutex<HashMap<String, Unit>>>;

/// Nomad over its HTTP API.
#[derive(Debug)]
pub struct NomadBackend {
    client: NomadClient,
    node: String,
    deadlines: Deadlines,
    units: Units,
    events: tokio::task::JoinHandle<()>,
    /// Namespaces known to exist.
    namespaces: Mutex<HashSet<String>>,
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
    /// node `node` (its `node.unique.name`), a new version's deadline to be healthy `ready`.
    /// Follows the Allocation and Deployment event streams at once.
    pub fn connect(
        address: &str,
        token: Option<String>,
        node: &str,
        ready: Duration,
    ) -> Result<Self, ConnectError> {
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
            deadlines: Deadlines::from_ready(ready),
            units,
            events,
            namespaces: Mutex::default(),
        })
    }

    fn err(bot_id: &str, message: impl Into<String>) -> BackendError {
        BackendError {
            backend: "nomad",
            bot_id: bot_id.to_string(),
            message: message.into(),
        }
    }

    /// Creates the namespace `ns` unless it exists (read first: an existing one's settings
    /// are the operator's).
    async fn ensure_namespace(&self, ns: &str, bot_id: &str) -> Result<(), BackendError> {
        if self.namespaces.lock().is_ok_and(|n| n.contains(ns)) {
            return Ok(());
        }
        match self.client.read_namespace(ns).await {
            Ok(_) => {}
            Err(nomad_client_rs::ClientError::NomadRejected { status: 404, .. }) => {
                let request = nomad_client_rs::namespace::CreateNamespaceRequest {
                    name: ns.to_string(),
                    description: Some(format!("SniperForge {ns} bots")),
                    meta: None,
                    quota: None,
                    capabilities: None,
                    node_pool_configuration: None,
                };
                self.client.create_namespace(&request).await.map_err(|e| {
                    Self::err(
                        bot_id,
                        format!("creating Nomad namespace {ns} (create it, or give the agent a token that may): {e}"),
                    )
                })?;
            }
            Err(e) => {
                return Err(Self::err(
                    bot_id,
                    format!("reading Nomad namespace {ns}: {e}"),
                ));
            }
        }
        if let Ok(mut n) = self.namespaces.lock() {
            n.insert(ns.to_string());
        }
        Ok(())
    }

    /// Reads the job's allocations into the unit (the event stream keeps them current after).
    async fn refresh(&self, spec: &BotSpec) -> Result<(), BackendError> {
        let options = ListJobAllocationsOptions {
            namespace: Some(namespace_of(spec)),
            ..Default::default()
        };
        let allocs = self
            .client
            .list_job_allocations(&job_id(&spec.bot_id), &options)
            .await
            .map_err(|e| Self::err(&spec.bot_id, format!("listing allocations: {e}")))?;
        if let Ok(mut units) = self.units.lock() {
            let unit = units
                .entry(spec.bot_id.clone())
                .or_insert_with(|| Unit::new(spec));
            unit.spec = spec.clone();
            for a in &allocs {
                if let Some(id) = &a.id {
                    unit.allocs.insert(id.clone(), AllocInfo::of(a));
                }
            }
        }
        self.refresh_deployments(&spec.bot_id).await;
        Ok(())
    }

    /// Reads the job's deployments into the unit (whether a canary is promoted: an agent that
    /// starts during a deployment must not take the standby canary for the bot).
    async fn refresh_deployments(&self, bot_id: &str) {
        read_deployments(&self.client, &self.units, bot_id).await;
    }

    /// Registers the job for `spec` at `generation`; the version it made is the one whose
    /// deployment [`Backend::deployment`] follows.
    async fn register(&self, spec: &BotSpec, generation: u64) -> Result<(), BackendError> {
        let ns = namespace_of(spec);
        // A job in another namespace (an agent before environments put it in `default`) is
        // stopped first: the bot never runs in two.
        let before = self
            .units
            .lock()
            .ok()
            .and_then(|u| u.get(&spec.bot_id).map(|u| namespace_of(&u.spec)));
        if let Some(old) = before.filter(|old| *old != ns) {
            self.stop_in(&spec.bot_id, &old).await?;
        }
        self.ensure_namespace(&ns, &spec.bot_id).await?;
        let request = CreateJobRequest {
            job: Some(job_for(spec, &self.node, generation, self.deadlines)),
            ..Default::default()
        };
        self.client
            .create_job(&request)
            .await
            .map_err(|e| Self::err(&spec.bot_id, format!("registering the job: {e}")))?;
        let version = self
            .client
            .read_job(
                &job_id(&spec.bot_id),
                &ReadJobOptions {
                    namespace: Some(ns),
                },
            )
            .await
            .ok()
            .and_then(|j| j.version)
            .map(i64::from);
        if let Ok(mut units) = self.units.lock() {
            let unit = units
                .entry(spec.bot_id.clone())
                .or_insert_with(|| Unit::new(spec));
            unit.spec = spec.clone();
            unit.generation = generation;
            unit.awaiting = version;
        }
        self.refresh(spec).await
    }

    /// Deregisters (and purges) the bot's job in namespace `ns`; one that is not there is
    /// stopped already.
    async fn stop_in(&self, bot_id: &str, ns: &str) -> Result<(), BackendError> {
        let options = StopJobOptions {
            purge: Some(true),
            namespace: Some(ns.to_string()),
            ..Default::default()
        };
        match self.client.stop_job(&job_id(bot_id), &options).await {
            Ok(_) | Err(nomad_client_rs::ClientError::NomadRejected { status: 404, .. }) => Ok(()),
            Err(e) => Err(Self::err(
                bot_id,
                format!("deregistering the job in namespace {ns}: {e}"),
            )),
        }
    }

    /// The generation after the job's current one.
    fn next_generation(&self, bot_id: &str) -> u64 {
        self.units
            .lock()
            .ok()
            .and_then(|u| u.get(bot_id).map(|u| u.generation))
            .unwrap_or(0)
            + 1
    }
}

/// Reads a bot job's deployments into its unit (a failed read leaves what was known).
async fn read_deployments(client: &NomadClient, units: &Units, bot_id: &str) {
    let Some(namespace) = units
        .lock()
        .ok()
        .and_then(|u| u.get(bot_id).map(|u| namespace_of(&u.spec)))
    else {
        return;
    };
    let options = ListDeploymentsOptions {
        filter: Some(format!("JobID == \"{}\"", job_id(bot_id))),
        namespace: Some(namespace),
        ..Default::default()
    };
    if let Ok(list) = client.list_deployments(&options).await
        && let Ok(mut units) = units.lock()
        && let Some(unit) = units.get_mut(bot_id)
    {
        for d in list {
            if let Some(id) = d.id.clone() {
                unit.deployments.insert(id, DeployInfo::of(&d));
            }
        }
    }
}

/// Applies every Allocation and Deployment event to the unit of its job; reconnects with
/// backoff.
async fn follow_events(client: NomadClient, units: Units) {
    let mut delay = Duration::from_millis(250);
    loop {
        // Every namespace: each environment's jobs are in their own.
        let mut options = SubscribeToEventsOptions {
            namespace: Some("*".into()),
            ..Default::default()
        };
        options.add_topic(EventTopic::Allocation);
        options.add_topic(EventTopic::Deployment);
        let (task, mut rx) = client.subscribe_to_events(&options);
        // Whatever changed while the stream was down (a missed stop would leave a released
        // port in use): every followed job's allocations again.
        let followed: Vec<(String, String)> = units
            .lock()
            .map(|u| {
                u.iter()
                    .map(|(id, unit)| (id.clone(), namespace_of(&unit.spec)))
                    .collect()
            })
            .unwrap_or_default();
        for (bot_id, namespace) in followed {
            let options = ListJobAllocationsOptions {
                namespace: Some(namespace),
                ..Default::default()
            };
            if let Ok(allocs) = client
                .list_job_allocations(&job_id(&bot_id), &options)
                .await
                && let Ok(mut units) = units.lock()
                && let Some(unit) = units.get_mut(&bot_id)
            {
                // Gone meanwhile (purged, collected): dropped with their ports.
                unit.allocs
                    .retain(|id, _| allocs.iter().any(|a| a.id.as_ref() == Some(id)));
                for a in &allocs {
                    if let Some(id) = &a.id {
                        unit.allocs.insert(id.clone(), AllocInfo::of(a));
                    }
                }
            }
            read_deployments(&client, &units, &bot_id).await;
        }
        while let Some(event) = rx.recv().await {
            delay = Duration::from_millis(250);
            let Some(payload) = event.payload else {
                continue;
            };
            if let Some(alloc) = payload.allocation
                && let (Some(job), Some(id)) = (alloc.job_id.as_deref(), alloc.id.clone())
                && let Some(bot_id) = job.strip_prefix("sniperforge-bot-")
                && let Ok(mut units) = units.lock()
                && let Some(unit) = units.get_mut(bot_id)
            {
                unit.allocs.insert(id, AllocInfo::of(&alloc));
            }
            if let Some(d) = payload.deployment
                && let (Some(job), Some(id)) = (d.job_id.as_deref(), d.id.clone())
                && let Some(bot_id) = job.strip_prefix("sniperforge-bot-")
                && let Ok(mut units) = units.lock()
                && let Some(unit) = units.get_mut(bot_id)
            {
                unit.deployments.insert(id, DeployInfo::of(&d));
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
        let options = ReadJobOptions {
            namespace: Some(namespace_of(spec)),
        };
        match self.client.read_job(&job_id(&spec.bot_id), &options).await {
            Ok(job) if job.stop != Some(true) => {
                self.refresh(spec).await?;
                if let Ok(mut units) = self.units.lock()
                    && let Some(unit) = units.get_mut(&spec.bot_id)
                {
                    unit.generation = generation_of(&job);
                }
                Ok(true)
            }
            Ok(_) => Ok(false),
            Err(nomad_client_rs::ClientError::NomadRejected { status: 404, .. }) => Ok(false),
            Err(e) => Err(Self::err(&spec.bot_id, format!("reading the job: {e}"))),
        }
    }

    async fn start(&self, spec: &BotSpec) -> Result<(), BackendError> {
        let generation = self.next_generation(&spec.bot_id);
        self.register(spec, generation).await
    }

    async fn stop(&self, bot_id: &str) -> Result<(), BackendError> {
        // Its namespace when the agent follows it; otherwise every one it could be in.
        let known = self
            .units
            .lock()
            .ok()
            .and_then(|u| u.get(bot_id).map(|u| namespace_of(&u.spec)));
        match known {
            Some(ns) => self.stop_in(bot_id, &ns).await?,
            None => {
                for ns in NAMESPACES {
                    self.stop_in(bot_id, ns).await?;
                }
            }
        }
        if let Ok(mut units) = self.units.lock() {
            units.remove(bot_id);
        }
        Ok(())
    }

    async fn reload(&self, bot_id: &str) -> Result<(), BackendError> {
        let (spec, port) = self
            .units
            .lock()
            .ok()
            .and_then(|u| {
                u.get(bot_id).map(|u| {
                    let port = u.current().filter(|a| a.task_running).and_then(|a| a.port);
                    (u.spec.clone(), port)
                })
            })
            .ok_or_else(|| Self::err(bot_id, "not running: nothing to reload"))?;
        let port = port.ok_or_else(|| Self::err(bot_id, "no control port allocated yet"))?;
        let body = crate::files::read_config_file(&spec.config_path).ok_or_else(|| {
            Self::err(
                bot_id,
                format!(
                    "{}: unreadable (or not a plain file)",
                    spec.config_path.display()
                ),
            )
        })?;
        let r = Endpoint::loopback(port)
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
        // Always a new job version: Nomad deploys it as a canary beside the running
        // allocation, promotes it once healthy, and reverts it when it is not.
        let generation = self.next_generation(&spec.bot_id);
        self.register(spec, generation).await
    }

    async fn instance(&self, bot_id: &str) -> Option<Instance> {
        let units = self.units.lock().ok()?;
        let unit = units.get(bot_id)?;
        // Registered, not yet placed: starting.
        Some(unit.current().map_or(
            Instance {
                state: UnitState::Running,
                pid: None,
                restarts: 0,
            },
            |a| a.instance.clone(),
        ))
    }

    fn control_port(&self, bot_id: &str) -> Option<u16> {
        let units = self.units.lock().ok()?;
        // 0 until the allocation's task runs: nothing is asked (with the secret) on a port
        // Nomad only booked, which any local process could have bound.
        Some(
            units
                .get(bot_id)
                .and_then(|u| u.current().filter(|a| a.task_running)?.port)
                .unwrap_or(0),
        )
    }

    async fn deployment(&self, bot_id: &str) -> Option<DeployState> {
        let awaiting = self.units.lock().ok()?.get(bot_id)?.awaiting?;
        // Asked as well as followed: a lost event must not leave a deployment unknown.
        self.refresh_deployments(bot_id).await;
        let units = self.units.lock().ok()?;
        units
            .get(bot_id)?
            .deployments
            .values()
            .filter(|d| d.job_version == awaiting)
            .max_by_key(|d| d.index)
            .map(DeployInfo::state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alloc(index: u64, canary: bool, deployment: &str, state: UnitState) -> AllocInfo {
        AllocInfo {
            index,
            instance: Instance {
                state,
                pid: None,
                restarts: 0,
            },
            port: Some(u16::try_from(index).unwrap_or(0) + 20_000),
            task_running: true,
            canary,
            deployment: Some(deployment.to_string()),
        }
    }

    fn deploy(status: &str, promoted: bool) -> DeployInfo {
        DeployInfo {
            index: 1,
            job_version: 1,
            status: status.into(),
            description: String::new(),
            promoted,
        }
    }

    #[test]
    fn the_bot_is_its_trading_allocation_until_the_canary_is_promoted() {
        let spec: BotSpec = serde_json::from_value(serde_json::json!({
            "bot_id": "b", "exe": "/x", "config_path": "/c", "state_dir": "/s",
            "log_path": "/l", "control_port": 0, "cores": [], "memory_mb": 0,
            "feed_args": [], "seed": 1
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let mut unit = Unit::new(&spec);
        unit.allocs
            .insert("old".into(), alloc(1, false, "d1", UnitState::Running));
        unit.allocs
            .insert("new".into(), alloc(2, true, "d2", UnitState::Running));
        // The canary's deployment not known yet, then running: the old allocation trades.
        assert_eq!(unit.current().map(|a| a.index), Some(1));
        unit.deployments
            .insert("d2".into(), deploy("running", false));
        assert_eq!(unit.current().map(|a| a.index), Some(1));
        // Promoted: the canary stands for the bot.
        unit.deployments
            .insert("d2".into(), deploy("running", true));
        assert_eq!(unit.current().map(|a| a.index), Some(2));
        // Failed: the canary is stopped, the old one is the bot again.
        unit.deployments
            .insert("d2".into(), deploy("failed", false));
        unit.allocs
            .insert("new".into(), alloc(2, true, "d2", UnitState::Stopped));
        assert_eq!(unit.current().map(|a| a.port), Some(Some(20_001)));
        // Only a canary running (the old one gone): that one.
        unit.allocs
            .insert("old".into(), alloc(1, false, "d1", UnitState::Stopped));
        unit.allocs
            .insert("new".into(), alloc(2, true, "d2", UnitState::Running));
        assert_eq!(unit.current().map(|a| a.index), Some(2));
    }

    #[test]
    fn deadlines_are_whole_seconds_with_room_for_min_healthy_time() {
        assert_eq!(
            Deadlines::from_ready(Duration::from_millis(30_000)).healthy_s,
            30
        );
        assert_eq!(
            Deadlines::from_ready(Duration::from_millis(6_001)).healthy_s,
            7
        );
        assert_eq!(
            Deadlines::from_ready(Duration::from_millis(10)).healthy_s,
            5
        );
        assert_eq!(
            DeployInfo {
                status: "failed".into(),
                description: String::new(),
                ..deploy("x", false)
            }
            .state(),
            DeployState::Failed("deployment failed".into())
        );
    }
}
