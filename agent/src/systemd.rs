//! The `systemd` backend: one transient service `sniperforge-bot@<bot_id>.service` per bot,
//! created over D-Bus (zbus) with the properties of systemd/sniperforge-bot@.service — the
//! bot's command line, CPUAffinity from its reserved cores, MemoryMax, CPUQuota (when the
//! configuration sets `resources.cpu_quota_percent`), Environment,
//! Restart=on-failure with a start limit, ExecReload sending SIGHUP, output appended to its log.
//! Start, stop, reload and restart are jobs whose end arrives as `JobRemoved`; unit state comes
//! from `PropertiesChanged` (ActiveState, SubState, MainPID, NRestarts), never from polling.
//! Units outlive the agent; a restarted agent adopts the ones it finds active.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use zbus::{OwnedObjectPath, OwnedVariant, Variant};
use zbus_systemd::systemd1::{ManagerProxy, ServiceProxy, UnitProxy};

use crate::backend::{Backend, BackendError, BotSpec, Instance, UnitState};

/// Wait for one job (start, stop, reload, restart) at most this long.
const JOB_DEADLINE: Duration = Duration::from_secs(30);
/// Delay between a failure and systemd's restart of the unit.
pub const RESTART_SEC: Duration = Duration::from_secs(1);
/// More starts than this within [`START_LIMIT_INTERVAL`] fail the unit (a crash loop); the agent
/// then backs off and reports it.
pub const START_LIMIT_BURST: u32 = 5;
/// See [`START_LIMIT_BURST`].
pub const START_LIMIT_INTERVAL: Duration = Duration::from_secs(60);
/// SIGTERM grace before SIGKILL.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Scheduling priority of bots (above ordinary services).
pub const NICE: i32 = -10;
/// A bot whose strategy loop has not pinged for this long is killed and started again.
pub const WATCHDOG: Duration = Duration::from_secs(5);

/// The unit name of a bot.
pub fn unit_name(bot_id: &str) -> String {
    format!("sniperforge-bot@{bot_id}.service")
}

/// CPUAffinity as systemd's D-Bus property wants it: a little-endian bitmask.
pub fn cpu_mask(cores: &[usize]) -> Vec<u8> {
    let mut mask = Vec::new();
    for &c in cores.iter().filter(|c| **c < 8192) {
        if mask.len() <= c / 8 {
            mask.resize(c / 8 + 1, 0);
        }
        mask[c / 8] |= 1 << (c % 8);
    }
    mask
}

fn var<'a, T: Into<Variant<'a>>>(v: T) -> OwnedVariant {
    // Every value built here is plain data with no file descriptors: the conversion cannot fail.
    OwnedVariant::try_from(v.into()).unwrap_or_else(|_| OwnedVariant::from(false))
}

/// The transient unit's properties for `spec` (what systemd/sniperforge-bot@.service sets).
pub fn properties(spec: &BotSpec) -> Vec<(String, OwnedVariant)> {
    let exe = spec.exe.display().to_string();
    let mut argv = vec![exe.clone()];
    argv.extend(spec.args());
    let log = spec.log_path.display().to_string();
    let mut writable = vec![spec.state_dir.display().to_string()];
    if let Some(dir) = spec.log_path.parent().filter(|d| *d != spec.state_dir) {
        writable.push(dir.display().to_string());
    }
    let mut p: Vec<(String, OwnedVariant)> = vec![
        (
            "Description".into(),
            var(format!("SniperForge bot {}", spec.bot_id)),
        ),
        // Started once the bot says READY=1 (market loaded, /health served); kept alive by the
        // strategy loop's WATCHDOG=1 pings.
        ("Type".into(), var("notify".to_string())),
        ("NotifyAccess".into(), var("main".to_string())),
        ("WatchdogUSec".into(), var(WATCHDOG.as_micros() as u64)),
        ("ExecStart".into(), var(vec![(exe, argv, false)])),
        (
            "ExecReload".into(),
            var(vec![(
                "/bin/kill".to_string(),
                vec!["/bin/kill".to_string(), "-HUP".into(), "$MAINPID".into()],
                false,
            )]),
        ),
        ("Restart".into(), var("on-failure".to_string())),
        ("RestartUSec".into(), var(RESTART_SEC.as_micros() as u64)),
        ("StartLimitBurst".into(), var(START_LIMIT_BURST)),
        (
            "StartLimitIntervalUSec".into(),
            var(START_LIMIT_INTERVAL.as_micros() as u64),
        ),
        (
            "TimeoutStopUSec".into(),
            var(STOP_TIMEOUT.as_micros() as u64),
        ),
        // A watchdog timeout sends SIGABRT, then SIGKILL after this (not the manager's 90 s).
        (
            "TimeoutAbortUSec".into(),
            var(STOP_TIMEOUT.as_micros() as u64),
        ),
        ("KillSignal".into(), var(15i32)),
        (
            "WorkingDirectory".into(),
            var(spec.state_dir.display().to_string()),
        ),
        ("StandardOutputFileToAppend".into(), var(log.clone())),
        ("StandardErrorFileToAppend".into(), var(log)),
        (
            "Environment".into(),
            var(vec![
                format!("SNIPERFORGE_BOT_ID={}", spec.bot_id),
                "RUST_BACKTRACE=1".to_string(),
            ]),
        ),
        ("Nice".into(), var(NICE)),
        ("LimitMEMLOCK".into(), var(u64::MAX)),
        ("UMask".into(), var(0o077u32)),
        ("NoNewPrivileges".into(), var(true)),
        ("PrivateTmp".into(), var(true)),
        ("ProtectSystem".into(), var("strict".to_string())),
        ("ProtectHome".into(), var("read-only".to_string())),
        ("ReadWritePaths".into(), var(writable)),
        ("CollectMode".into(), var("inactive-or-failed".to_string())),
    ];
    if let Some(user) = &spec.user {
        p.push(("User".into(), var(user.name.clone())));
        p.push(("Group".into(), var(user.group.clone())));
    }
    if !spec.cores.is_empty() {
        // The reserved cores for the hot threads, the shared ones for the rest (the bot pins
        // each thread itself).
        let mut allowed = spec.cores.clone();
        allowed.extend(&spec.shared_cores);
        p.push(("CPUAffinity".into(), var(cpu_mask(&allowed))));
    }
    if spec.memory_mb > 0 {
        p.push(("MemoryMax".into(), var(spec.memory_mb * 1024 * 1024)));
    }
    if let Some(q) = spec.cpu_quota_percent {
        // CPUQuota=N% is N% of one core's second, in µs.
        p.push(("CPUQuotaPerSecUSec".into(), var(u64::from(q) * 10_000)));
    }
    p
}

#[derive(Debug)]
struct Unit {
    spec: BotSpec,
    info: Arc<Mutex<Instance>>,
    watcher: tokio::task::JoinHandle<()>,
}

/// systemd over D-Bus.
#[derive(Debug)]
pub struct SystemdBackend {
    conn: zbus::Connection,
    manager: ManagerProxy<'static>,
    units: tokio::sync::Mutex<HashMap<String, Unit>>,
}

/// The bus or the manager could not be reached.
#[derive(Debug, thiserror::Error)]
#[error("{doing}: {source}")]
pub struct ConnectError {
    /// What was being done.
    pub doing: String,
    /// D-Bus's error.
    pub source: zbus::Error,
}

impl SystemdBackend {
    /// Connects to the system bus (`None`) or to `address` (`unix:path=…`, e.g. a user
    /// manager's `$XDG_RUNTIME_DIR/bus`) and subscribes to the manager's signals.
    pub async fn connect(address: Option<&str>) -> Result<Self, ConnectError> {
        let failed = |doing: String| move |source| ConnectError { doing, source };
        let conn = match address {
            None => zbus::Connection::system()
                .await
                .map_err(failed("connecting to the system bus".into()))?,
            Some(a) => zbus::connection::Builder::address(a)
                .build()
                .await
                .map_err(failed(format!("connecting to {a}")))?,
        };
        let manager = ManagerProxy::new(&conn)
            .await
            .map_err(failed("systemd manager proxy".into()))?;
        manager
            .subscribe()
            .await
            .map_err(failed("subscribing to systemd's signals".into()))?;
        Ok(Self {
            conn,
            manager,
            units: tokio::sync::Mutex::new(HashMap::new()),
        })
    }

    fn err(bot_id: &str, message: impl Into<String>) -> BackendError {
        BackendError {
            backend: "systemd",
            bot_id: bot_id.to_string(),
            message: message.into(),
        }
    }

    /// Runs `call` (which queues a job) and waits for that job's `JobRemoved`; the job result
    /// must be `done`.
    async fn job<F>(&self, bot_id: &str, what: &str, call: F) -> Result<(), BackendError>
    where
        F: std::future::Future<Output = zbus::Result<OwnedObjectPath>>,
    {
        let mut removed = self
            .manager
            .receive_job_removed()
            .await
            .map_err(|e| Self::err(bot_id, format!("JobRemoved stream: {e}")))?;
        let job = call
            .await
            .map_err(|e| Self::err(bot_id, format!("{what}: {e}")))?;
        let wait = async {
            while let Some(signal) = removed.next().await {
                let Ok(args) = signal.args() else { continue };
                if args.job == job {
                    return Some(args.result.clone());
                }
            }
            None
        };
        match tokio::time::timeout(JOB_DEADLINE, wait).await {
            Ok(Some(result)) if result == "done" => Ok(()),
            Ok(Some(result)) => Err(Self::err(bot_id, format!("{what}: job {result}"))),
            Ok(None) => Err(Self::err(bot_id, format!("{what}: signal stream ended"))),
            Err(_) => Err(Self::err(
                bot_id,
                format!("{what}: job not finished within {JOB_DEADLINE:?}"),
            )),
        }
    }

    /// Starts following a unit's properties into an [`Instance`].
    async fn watch(&self, spec: &BotSpec) -> Result<(), BackendError> {
        let path = self
            .manager
            .get_unit(unit_name(&spec.unit_key()))
            .await
            .map_err(|e| Self::err(&spec.unit_key(), format!("GetUnit: {e}")))?;
        let unit = UnitProxy::builder(&self.conn)
            .path(path.clone())
            .build()
            .await
            .map_err(|e| Self::err(&spec.unit_key(), format!("unit proxy: {e}")))?;
        let service = ServiceProxy::builder(&self.conn)
            .path(path)
            .build()
            .await
            .map_err(|e| Self::err(&spec.unit_key(), format!("service proxy: {e}")))?;
        let info = Arc::new(Mutex::new(read_instance(&unit, &service).await));
        let watcher = tokio::spawn(follow_unit(unit, service, Arc::clone(&info)));
        let mut units = self.units.lock().await;
        if let Some(old) = units.insert(
            spec.unit_key(),
            Unit {
                spec: spec.clone(),
                info,
                watcher,
            },
        ) {
            old.watcher.abort();
        }
        Ok(())
    }

    async fn forget(&self, bot_id: &str) {
        if let Some(u) = self.units.lock().await.remove(bot_id) {
            u.watcher.abort();
        }
    }

    async fn active_state(&self, bot_id: &str) -> Option<String> {
        let path = self.manager.get_unit(unit_name(bot_id)).await.ok()?;
        let unit = UnitProxy::builder(&self.conn)
            .path(path)
            .build()
            .await
            .ok()?;
        unit.active_state().await.ok()
    }
}

/// The instance as the proxies' property caches (kept by PropertiesChanged) describe it.
async fn read_instance(unit: &UnitProxy<'static>, service: &ServiceProxy<'static>) -> Instance {
    let active = unit.active_state().await.unwrap_or_default();
    let sub = unit.sub_state().await.unwrap_or_default();
    let pid = service.main_pid().await.unwrap_or(0);
    let restarts = service.n_restarts().await.unwrap_or(0);
    let result = service.result().await.unwrap_or_default();
    let status = service.exec_main_status().await.unwrap_or(0);
    let last_exit = format!("{result} (exit status {status})");
    let state = match (active.as_str(), sub.as_str()) {
        ("activating", "auto-restart") => UnitState::Restarting {
            last_exit,
            failures: restarts,
            delay_ms: RESTART_SEC.as_millis() as u64,
        },
        ("active" | "reloading" | "activating" | "deactivating", _) => UnitState::Running,
        ("failed", _) => UnitState::Exited {
            last_exit: format!("unit failed: {last_exit}"),
        },
        _ => UnitState::Exited {
            last_exit: format!("unit {active}: {last_exit}"),
        },
    };
    Instance {
        pid: (pid != 0 && state == UnitState::Running).then_some(pid),
        state,
        restarts,
    }
}

async fn follow_unit(
    unit: UnitProxy<'static>,
    service: ServiceProxy<'static>,
    info: Arc<Mutex<Instance>>,
) {
    let mut active = unit.receive_active_state_changed().await;
    let mut sub = unit.receive_sub_state_changed().await;
    let mut pid = service.receive_main_pid_changed().await;
    let mut restarts = service.receive_n_restarts_changed().await;
    loop {
        let more = tokio::select! {
            c = active.next() => c.is_some(),
            c = sub.next() => c.is_some(),
            c = pid.next() => c.is_some(),
            c = restarts.next() => c.is_some(),
        };
        if !more {
            return;
        }
        let now = read_instance(&unit, &service).await;
        if let Ok(mut i) = info.lock() {
            *i = now;
        }
    }
}

#[async_trait]
impl Backend for SystemdBackend {
    fn name(&self) -> &'static str {
        "systemd"
    }

    async fn adopt(&self, spec: &BotSpec) -> Result<bool, BackendError> {
        match self.active_state(&spec.unit_key()).await.as_deref() {
            Some("active" | "activating" | "reloading") => {
                self.watch(spec).await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn start(&self, spec: &BotSpec) -> Result<(), BackendError> {
        let name = unit_name(&spec.unit_key());
        if let Some(state) = self.active_state(&spec.unit_key()).await {
            if matches!(state.as_str(), "active" | "activating" | "reloading") {
                return Err(Self::err(
                    &spec.unit_key(),
                    format!("{name} is already {state}"),
                ));
            }
            // A failed unit not yet collected: clear it so the name is free.
            let _ = self.manager.reset_failed_unit(name.clone()).await;
        }
        for dir in [Some(spec.state_dir.as_path()), spec.log_path.parent()]
            .into_iter()
            .flatten()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| Self::err(&spec.unit_key(), format!("{}: {e}", dir.display())))?;
        }
        let props = properties(spec);
        self.job(
            &spec.unit_key(),
            "StartTransientUnit",
            self.manager
                .start_transient_unit(name, "fail".into(), props, Vec::new()),
        )
        .await?;
        self.watch(spec).await
    }

    async fn stop(&self, bot_id: &str) -> Result<(), BackendError> {
        let name = unit_name(bot_id);
        if self.active_state(bot_id).await.is_some() {
            let r = self
                .job(
                    bot_id,
                    "StopUnit",
                    self.manager.stop_unit(name.clone(), "replace".into()),
                )
                .await;
            // The unit may be collected between the check and the call.
            if let Err(e) = r
                && self
                    .active_state(bot_id)
                    .await
                    .is_some_and(|s| s != "inactive")
            {
                return Err(e);
            }
        }
        self.forget(bot_id).await;
        Ok(())
    }

    async fn kill(&self, key: &str) -> Result<(), BackendError> {
        if self.active_state(key).await.is_some() {
            // SIGKILL to the unit's processes; the stop job right after cancels the restart
            // Restart=on-failure would schedule.
            let _ = self
                .manager
                .kill_unit(unit_name(key), "all".into(), 9)
                .await;
        }
        self.stop(key).await
    }

    async fn reload(&self, bot_id: &str) -> Result<(), BackendError> {
        self.job(
            bot_id,
            "ReloadUnit",
            self.manager
                .reload_unit(unit_name(bot_id), "replace".into()),
        )
        .await
    }

    async fn restart(&self, spec: &BotSpec) -> Result<(), BackendError> {
        let same = self
            .units
            .lock()
            .await
            .get(&spec.unit_key())
            .is_some_and(|u| u.spec.same_job(spec));
        if same && self.active_state(&spec.unit_key()).await.is_some() {
            // Same properties (the control secret is a file's content): systemd restarts it in
            // place.
            self.job(
                &spec.unit_key(),
                "RestartUnit",
                self.manager
                    .restart_unit(unit_name(&spec.unit_key()), "replace".into()),
            )
            .await?;
            if let Some(unit) = self.units.lock().await.get_mut(&spec.unit_key()) {
                unit.spec = spec.clone();
            }
            return Ok(());
        }
        // New properties (cores, memory): a transient unit is replaced whole.
        self.stop(&spec.unit_key()).await?;
        self.start(spec).await
    }

    async fn instance(&self, bot_id: &str) -> Option<Instance> {
        crate::backend::snapshot(&self.units.lock().await.get(bot_id)?.info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_masks_are_little_endian_bitmaps() {
        assert_eq!(cpu_mask(&[]), Vec::<u8>::new());
        assert_eq!(cpu_mask(&[0]), vec![0b1]);
        assert_eq!(cpu_mask(&[1, 3]), vec![0b1010]);
        assert_eq!(cpu_mask(&[9]), vec![0, 0b10]);
    }

    /// The transient units carry the template's settings (the deployment file and the agent
    /// cannot drift apart).
    #[test]
    fn transient_properties_match_the_template_unit() {
        let template = include_str!("../../systemd/sniperforge-bot@.service");
        let directive = |key: &str| -> String {
            template
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{key}=")))
                .unwrap_or_else(|| panic!("{key}= missing from sniperforge-bot@.service"))
                .to_string()
        };
        let spec = BotSpec {
            bot_id: "b".into(),
            exe: "/x/sniperforge".into(),
            config_path: "/d/bots/b/config.json".into(),
            state_dir: "/d/bots/b".into(),
            log_path: "/d/bots/b/bot.log".into(),
            control_port: 9000,
            cores: vec![2, 3],
            shared_cores: vec![0],
            memory_mb: 256,
            cpu_quota_percent: Some(150),
            feed_args: vec!["--feed".into(), "sim".into()],
            seed: 7,
            control_secret: "s3cret-s3cret-s3cret".into(),
            user: Some(crate::backend::BotUser {
                name: "sniperforge-bot".into(),
                uid: 990,
                gid: 990,
                group: "sniperforge-bot".into(),
            }),
            instance: 0,
            environment: None,
            fence_file: None,
        };
        let props: HashMap<String, OwnedVariant> = properties(&spec).into_iter().collect();
        let get = |k: &str| format!("{:?}", props.get(k).unwrap_or_else(|| panic!("{k}")));
        let s = |v: &str| format!("{:?}", var(v.to_string()));
        let secs = |d: &str| -> u64 { d.parse::<u64>().unwrap() * 1_000_000 };
        assert_eq!(get("Restart"), s(&directive("Restart")));
        assert_eq!(
            get("RestartUSec"),
            format!("{:?}", var(secs(&directive("RestartSec"))))
        );
        assert_eq!(
            get("TimeoutStopUSec"),
            format!("{:?}", var(secs(&directive("TimeoutStopSec"))))
        );
        assert_eq!(
            get("StartLimitIntervalUSec"),
            format!("{:?}", var(secs(&directive("StartLimitIntervalSec"))))
        );
        assert_eq!(
            get("StartLimitBurst"),
            format!(
                "{:?}",
                var(directive("StartLimitBurst").parse::<u32>().unwrap())
            )
        );
        assert_eq!(
            get("Nice"),
            format!("{:?}", var(directive("Nice").parse::<i32>().unwrap()))
        );
        assert_eq!(directive("LimitMEMLOCK"), "infinity");
        assert_eq!(get("LimitMEMLOCK"), format!("{:?}", var(u64::MAX)));
        assert_eq!(directive("KillSignal"), "SIGTERM");
        assert_eq!(get("KillSignal"), format!("{:?}", var(15i32)));
        assert_eq!(get("ProtectSystem"), s(&directive("ProtectSystem")));
        for flag in ["NoNewPrivileges", "PrivateTmp"] {
            assert_eq!(directive(flag), "yes");
            assert_eq!(get(flag), format!("{:?}", var(true)));
        }
        assert_eq!(directive("UMask"), "0077");
        assert_eq!(get("UMask"), format!("{:?}", var(0o077u32)));
        assert_eq!(directive("ExecReload"), "/bin/kill -HUP $MAINPID");
        assert!(get("ExecReload").contains("$MAINPID") && get("ExecReload").contains("-HUP"));
        assert_eq!(get("CPUAffinity"), format!("{:?}", var(vec![0b1101u8])));
        assert_eq!(get("MemoryMax"), format!("{:?}", var(256u64 << 20)));
        assert_eq!(
            get("CPUQuotaPerSecUSec"),
            format!("{:?}", var(1_500_000u64))
        );
        // Every directive of the template's [Service] section is carried, or says why not: a
        // directive added to the template fails here until the transient unit has it too.
        let service = template
            .split("[Service]")
            .nth(1)
            .and_then(|rest| rest.split("\n[").next())
            .unwrap();
        for line in service
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains('='))
        {
            let (key, value) = line.split_once('=').unwrap();
            match key {
                // Same value in both.
                "Type" | "User" | "Group" | "ProtectSystem" | "ProtectHome" | "Restart"
                | "NotifyAccess" => {
                    assert_eq!(get(key), s(value), "{key}")
                }
                "NoNewPrivileges" | "PrivateTmp" => {
                    assert_eq!(
                        (value, get(key)),
                        ("yes", format!("{:?}", var(true))),
                        "{key}"
                    )
                }
                "UMask" => assert_eq!(
                    get(key),
                    format!("{:?}", var(u32::from_str_radix(value, 8).unwrap())),
                ),
                // Checked above in their D-Bus forms.
                "RestartSec" | "TimeoutStopSec" | "KillSignal" | "Nice" | "LimitMEMLOCK"
                | "ExecReload" => {}
                "TimeoutAbortSec" => {
                    assert_eq!(get("TimeoutAbortUSec"), format!("{:?}", var(secs(value))))
                }
                "WatchdogSec" => assert_eq!(
                    get("WatchdogUSec"),
                    format!("{:?}", var(value.parse::<u64>().unwrap() * 1_000_000))
                ),
                // The bot's own: its command line, cores, state directory (which the agent
                // creates itself, so no StateDirectory=).
                "ExecStart" => assert!(get(key).contains("--state-dir")),
                "CPUAffinity" => {}
                "ReadWritePaths" => assert!(get(key).contains("/d/bots/b"), "{}", get(key)),
                "StateDirectory" => assert!(!props.contains_key(key)),
                // The template's variables feed its ExecStart; the transient unit's argv is
                // built from the spec, and it sets the rest.
                "Environment" => {
                    assert!(get(key).contains("SNIPERFORGE_BOT_ID=b"));
                    assert!(get(key).contains("RUST_BACKTRACE=1"));
                }
                other => panic!("{other}= of the template unit is not carried by transient units"),
            }
        }
    }

    #[test]
    fn unit_names_follow_the_template() {
        assert_eq!(unit_name("arb-1"), "sniperforge-bot@arb-1.service");
        assert_eq!(unit_name("arb-1.2"), "sniperforge-bot@arb-1.2.service");
    }
}
