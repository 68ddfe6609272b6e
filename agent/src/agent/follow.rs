//! The agent's two loops with the gateway: the desired state (held query, cached on disk) and
//! the heartbeat.

use super::*;

/// Registers, then holds the blocking desired-state query; each new state goes to `tx` and to
/// the cache file. Backs off (0.5 s doubling to 30 s) while the gateway is unreachable.
pub(super) async fn follow(opts: AgentOptions, cache: PathBuf, tx: watch::Sender<Option<Desired>>) {
    let mut registered = false;
    let mut index = 0i64;
    let mut delay = Duration::from_millis(500);
    let mut last_error = String::new();
    loop {
        let step = async {
            if !registered {
                opts.gateway.register(&opts.node).await?;
                registered = true;
                tracing::info!(node_id = %opts.node.node_id, "registered with the gateway");
            }
            opts.gateway
                .desired(&opts.node.node_id, index, DESIRED_WAIT)
                .await
        };
        match step.await {
            Ok(d) => {
                delay = Duration::from_millis(500);
                last_error.clear();
                if d.index != index || tx.borrow().as_ref() != Some(&d) {
                    index = d.index;
                    if let Ok(bytes) = serde_json::to_vec(&d)
                        && let Err(e) = write_atomic(&cache, &bytes, None)
                    {
                        tracing::error!(path = %cache.display(), error = %e, "caching the desired state");
                    }
                    tx.send_replace(Some(d));
                }
            }
            Err(e) => {
                if e.is_unknown_node() {
                    registered = false;
                }
                let text = e.to_string();
                if text != last_error {
                    tracing::warn!(error = %text, retry_in_ms = delay.as_millis() as u64, "gateway unreachable; keeping the last desired state");
                    last_error = text;
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// Heartbeats; registers again when the gateway forgot the node, or when the build installed at
/// the agent's `--exe` changed (what a new bot instance, and an upgraded agent, would run).
pub(super) async fn heartbeat(opts: AgentOptions, contact: fence::Contact) {
    let mut tick = tokio::time::interval(opts.heartbeat_interval);
    let mut node = opts.node.clone();
    let mut versions = std::collections::HashMap::new();
    loop {
        tick.tick().await;
        let installed =
            installed_build_cached(&opts.exe, &mut versions, opts.bot_user.as_ref()).await;
        let mut register = installed != node.installed;
        node.installed = installed;
        if !register {
            let sent = fence::Contact::now();
            match opts.gateway.heartbeat(&node.node_id).await {
                Ok(_) => contact.touch(sent),
                Err(e) => register = e.is_unknown_node(),
            }
        }
        if register && let Err(e) = opts.gateway.register(&node).await {
            tracing::warn!(error = %e, "re-registering");
        }
    }
}

/// The build installed at `exe`: its build id, and the version it prints (`exe --version`, run
/// with an empty environment, as the bot account where the agent has one); `None` for a file
/// the agent must not trust (see `trusted_exe`).
pub async fn installed_build(
    exe: &Path,
    user: Option<&crate::backend::BotUser>,
) -> Option<sniperforge_protocol::fleet::Build> {
    installed_build_cached(exe, &mut std::collections::HashMap::new(), user).await
}

/// Whether the agent may run `exe` as itself (its upgrade): a regular file owned by the agent's
/// user or root, and neither it nor its directory writable by group or others (otherwise an
/// account that can write there gets the agent's rights, root's under systemd).
pub fn trusted_exe(exe: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt as _;
    let me = crate::backend::effective_uid();
    let check = |path: &Path, what: &str| -> Result<(), String> {
        let m = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if m.uid() != me && m.uid() != 0 {
            return Err(format!(
                "{what} {} is owned by uid {}, not this agent's ({me}) or root",
                path.display(),
                m.uid()
            ));
        }
        if m.mode() & 0o022 != 0 {
            return Err(format!(
                "{what} {} is writable by group or others (mode {:o})",
                path.display(),
                m.mode() & 0o7777
            ));
        }
        Ok(())
    };
    // What is executed is the file a link resolves to: that file and its directory (and the
    // link's own directory) are checked.
    let real = std::fs::canonicalize(exe).map_err(|e| format!("{}: {e}", exe.display()))?;
    let m = std::fs::metadata(&real).map_err(|e| format!("{}: {e}", real.display()))?;
    if !m.is_file() {
        return Err(format!("{}: not a regular file", real.display()));
    }
    check(&real, "the binary")?;
    for dir in [real.parent(), exe.parent()].into_iter().flatten() {
        if !dir.as_os_str().is_empty() {
            check(dir, "its directory")?;
        }
    }
    Ok(())
}

/// [`installed_build`], asking the binary its version only for a build id not seen before.
async fn installed_build_cached(
    exe: &Path,
    versions: &mut std::collections::HashMap<String, String>,
    user: Option<&crate::backend::BotUser>,
) -> Option<sniperforge_protocol::fleet::Build> {
    if let Err(why) = trusted_exe(exe) {
        tracing::warn!(%why, "the installed binary is not trusted: no installed build reported");
        return None;
    }
    let path = exe.to_path_buf();
    let build_id = tokio::task::spawn_blocking(move || sniperforge_host::build::build_id_of(&path))
        .await
        .ok()?
        .ok()?;
    let version = match versions.get(&build_id) {
        Some(v) => v.clone(),
        None => {
            let mut command = tokio::process::Command::new(exe);
            command
                .arg("--version")
                .env_clear()
                .stdin(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true);
            if let Some(u) = user.filter(|_| crate::backend::effective_uid() == 0) {
                command.uid(u.uid).gid(u.gid);
            }
            let out = tokio::time::timeout(Duration::from_secs(10), command.output())
                .await
                .ok()?
                .ok()?;
            // `sniperforge 0.1.0`
            let text = String::from_utf8_lossy(&out.stdout);
            let version = text.split_whitespace().nth(1)?.to_string();
            versions.insert(build_id.clone(), version.clone());
            version
        }
    };
    let build = sniperforge_protocol::fleet::Build { version, build_id };
    build.valid().then_some(build)
}

/// Set on the agent a self-upgrade executes: the build id it was executed toward.
const UPGRADED_TO: &str = "SNIPERFORGE_UPGRADED_TO";

/// Executes the installed build (`--exe`, with this process's arguments) when the desired state
/// names it as the agent's build and this process runs another: the process stays (its pid, its
/// children), its bots run on, and the new build adopts them from their records. Returns only
/// when there is nothing to do or the exec failed (logged; tried again when the desired state
/// next changes, else the rollout's agent step fails at its deadline).
pub(super) fn upgrade_if_asked(opts: &AgentOptions, desired: &Desired) {
    let Some(want) = &desired.upgrade else {
        return;
    };
    // Only a `sniperforge agent` process executes itself: `exec` starts the whole command again
    // with its arguments, which for anything else (a test harness, a bench) is not an agent.
    if std::env::args_os().nth(1).as_deref() != Some(std::ffi::OsStr::new("agent")) {
        tracing::warn!(to = %want, "asked to upgrade, but this process is not `sniperforge agent`: not upgrading");
        return;
    }
    let mine = sniperforge_host::build::this_build_id();
    if want.build_id == mine {
        return;
    }
    if mine == "unknown" {
        tracing::error!(to = %want, "asked to upgrade, but this process cannot read its own build: not upgrading");
        return;
    }
    // Executed once toward a build already: this process is what that gave (a file replaced
    // meanwhile, or an id read differently); no loop of executions.
    if std::env::var_os(UPGRADED_TO).is_some_and(|v| v == want.build_id.as_str()) {
        tracing::error!(to = %want, "already executed toward this build once: not again");
        return;
    }
    if let Err(why) = trusted_exe(&opts.exe) {
        tracing::error!(to = %want, %why, "asked to upgrade to an untrusted binary: not upgrading");
        return;
    }
    match sniperforge_host::build::build_id_of(&opts.exe) {
        Ok(installed) if installed == want.build_id => {}
        Ok(installed) => {
            tracing::error!(want = %want, %installed, exe = %opts.exe.display(), "asked to upgrade to a build that is not the one installed: not upgrading");
            return;
        }
        Err(e) => {
            tracing::error!(exe = %opts.exe.display(), error = %e, "reading the installed build");
            return;
        }
    }
    tracing::warn!(to = %want, exe = %opts.exe.display(), "upgrading: executing the installed build (bots keep running)");
    use std::os::unix::process::CommandExt as _;
    let err = std::process::Command::new(&opts.exe)
        .args(std::env::args_os().skip(1))
        .env(UPGRADED_TO, &want.build_id)
        .exec();
    tracing::error!(error = %err, exe = %opts.exe.display(), "executing the installed build");
}
