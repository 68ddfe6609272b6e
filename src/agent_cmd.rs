//! `sniperforge agent`: the node agent over the chosen supervisor backend.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::ValueEnum;
use sniperforge_agent::{
    Agent, AgentOptions, Backend, GatewayClient, NomadBackend, ProcessBackend, SystemdBackend,
    installed_build, local_node,
};
use sniperforge_protocol::fleet::NodeInfo;

/// Which supervisor runs the bots.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BackendArg {
    /// Child processes of the agent (restart with backoff, logs captured).
    Process,
    /// systemd units over D-Bus.
    Systemd,
    /// Nomad jobs.
    Nomad,
}

#[derive(Debug, clap::Args)]
pub struct AgentArgs {
    /// Gateway URL (http://HOST:PORT, or https://HOST:PORT when the gateway serves TLS).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub gateway: String,
    /// PEM file of CA certificates trusted for an https:// gateway besides the system's (a
    /// private CA).
    #[arg(long)]
    pub gateway_ca: Option<PathBuf>,
    /// File holding this node's agent token (`POST /api/v1/auth/tokens {"role": "agent",
    /// "node_id": …}`; an admin token works too).
    #[arg(long)]
    pub token_file: PathBuf,
    /// This node's id (letters, digits, '.', '-' and '_').
    #[arg(long)]
    pub node_id: String,
    /// Supervisor backend.
    #[arg(long, value_enum, default_value = "process")]
    pub backend: BackendArg,
    /// The environments this node serves, e.g. `prod` or `dev,test` (default: all three). The
    /// gateway places and sends it only bots of these, and the agent refuses any other.
    #[arg(long, value_parser = parse_environments)]
    pub environments: Option<Environments>,
    /// Labels placement constraints match, e.g. `region=ny,rack=3` (a bot created with
    /// `"labels": {"region": "ny"}` goes only to nodes carrying them).
    #[arg(long, value_parser = parse_labels)]
    pub labels: Option<Labels>,
    /// How long this node may be silent (seconds) before the gateway counts it lost and fails
    /// its bots over (default: the gateway's --failover-after-s). The fencing lease its bots
    /// hold is half of it, renewed by its reports (every second): 4 s at the least; a node on a
    /// flaky or distant link asks for more.
    #[arg(long, value_parser = clap::value_parser!(u32).range(4..=3_600))]
    pub failover_after_s: Option<u32>,
    /// Directory for bot configs, logs, state and the agent's records.
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// The feed every bot gets.
    #[command(flatten)]
    pub feed: crate::feed_args::FeedArgs,
    /// Simulator seed.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Binary the bots run as (default: this one).
    #[arg(long)]
    pub bot_exe: Option<PathBuf>,
    /// systemd backend: the bus of the manager to drive — `system`, or a D-Bus address such as
    /// unix:path=/run/user/1000/bus for a user manager.
    #[arg(long, default_value = "system")]
    pub systemd_bus: String,
    /// nomad backend: the Nomad agent's HTTP API.
    #[arg(long, default_value = "http://127.0.0.1:4646")]
    pub nomad_addr: String,
    /// nomad backend: file holding a Nomad ACL token (default: $NOMAD_TOKEN, if set).
    #[arg(long)]
    pub nomad_token_file: Option<PathBuf>,
    /// nomad backend: the Nomad node name (node.unique.name) bots are constrained to
    /// (default: --node-id).
    #[arg(long)]
    pub nomad_node: Option<String>,
    /// Stop the bots when the agent stops (by default they keep running and are adopted).
    #[arg(long)]
    pub stop_bots_on_exit: bool,
    /// The unprivileged account bots run as (process and systemd backends; Nomad's task user).
    /// Default: `sniperforge-bot` when the agent runs as root and that user exists (never the
    /// gateway's `sniperforge`: a bot must not read the gateway's tokens); otherwise the
    /// agent's own account. `--bot-user ''` keeps the agent's account.
    #[arg(long)]
    pub bot_user: Option<String>,
    /// How long a warm handover's new instance has to pass /health in standby, ms (then it is
    /// stopped and the running instance trades on).
    #[arg(long, default_value_t = sniperforge_agent::READY_DEADLINE.as_millis() as u64)]
    pub handover_ready_ms: u64,
    /// Stop a bot before starting its new instance on a restart or cold change, instead of
    /// handing over warm (seconds blind to the market: a baseline to compare with).
    #[arg(long)]
    pub cold_restarts: bool,
}

/// The account bots run as: `--bot-user`, or `sniperforge-bot` for a root agent where it
/// exists.
fn bot_user(flag: Option<&str>) -> Result<Option<sniperforge_agent::backend::BotUser>, String> {
    use sniperforge_agent::backend::BotUser;
    let root = sniperforge_agent::backend::effective_uid() == 0;
    match flag {
        Some("") => Ok(None),
        Some(name) => {
            let user = BotUser::lookup(name)
                .ok_or_else(|| format!("--bot-user {name:?}: no such user in /etc/passwd"))?;
            if !root && user.uid != sniperforge_agent::backend::effective_uid() {
                return Err(format!(
                    "--bot-user {name:?}: only an agent running as root can start bots as another user"
                ));
            }
            Ok(Some(user))
        }
        None if root => Ok(BotUser::lookup("sniperforge-bot")),
        None => Ok(None),
    }
}

pub fn run(a: AgentArgs) -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_target(false)
        .with_current_span(false)
        .try_init();
    let node_id = match sniperforge_protocol::NodeId::new(a.node_id.clone()) {
        Ok(id) => id,
        Err(_) => {
            eprintln!(
                "error: --node-id {:?}: use 1 to 64 letters, digits, '.', '-' or '_'",
                a.node_id
            );
            return ExitCode::from(2);
        }
    };
    let token = match std::fs::read_to_string(&a.token_file) {
        Ok(t) if !t.trim().is_empty() => t.trim().to_string(),
        Ok(_) => {
            eprintln!("error: {}: empty token file", a.token_file.display());
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("error: reading {}: {e}", a.token_file.display());
            return ExitCode::from(2);
        }
    };
    let gateway = match GatewayClient::with_ca(&a.gateway, token, a.gateway_ca.as_deref()) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("error: --gateway {e}");
            return ExitCode::from(2);
        }
    };
    if gateway.plaintext_remote() {
        eprintln!(
            "warning: --gateway {} is another host over plain HTTP: this node's token and its bots' configurations cross the network in clear text; serve the gateway with --tls-cert/--tls-key and use https://",
            a.gateway
        );
    }
    let exe = match a.bot_exe.clone().map_or_else(std::env::current_exe, Ok) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: finding this binary: {e}");
            return ExitCode::FAILURE;
        }
    };
    let data_dir = match std::path::absolute(&a.data_dir) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {}: {e}", a.data_dir.display());
            return ExitCode::from(2);
        }
    };
    if matches!(a.backend, BackendArg::Systemd)
        && (data_dir.starts_with("/tmp") || data_dir.starts_with("/var/tmp"))
    {
        eprintln!(
            "error: --data-dir {}: bot units run with PrivateTmp=yes and cannot see /tmp or /var/tmp; use a directory such as /var/lib/sniperforge",
            data_dir.display()
        );
        return ExitCode::from(2);
    }
    let bot_user = match bot_user(a.bot_user.as_deref()) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let backend: Arc<dyn Backend> = match a.backend {
            BackendArg::Process => Arc::new(ProcessBackend::new()),
            BackendArg::Systemd => {
                let bus = (a.systemd_bus != "system").then_some(a.systemd_bus.as_str());
                match SystemdBackend::connect(bus).await {
                    Ok(b) => Arc::new(b),
                    Err(e) => {
                        eprintln!("error: --backend systemd: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
            BackendArg::Nomad => {
                let token = match &a.nomad_token_file {
                    Some(f) => match std::fs::read_to_string(f) {
                        Ok(t) => Some(t.trim().to_string()),
                        Err(e) => {
                            eprintln!("error: reading {}: {e}", f.display());
                            return ExitCode::from(2);
                        }
                    },
                    None => std::env::var("NOMAD_TOKEN").ok().filter(|t| !t.is_empty()),
                };
                let node = a.nomad_node.clone().unwrap_or_else(|| a.node_id.clone());
                match NomadBackend::connect(
                    &a.nomad_addr,
                    token,
                    &node,
                    Duration::from_millis(a.handover_ready_ms),
                ) {
                    Ok(b) => Arc::new(b),
                    Err(e) => {
                        eprintln!("error: --backend nomad: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
        };
        let opts = AgentOptions {
            gateway,
            node: NodeInfo {
                installed: installed_build(&exe, bot_user.as_ref()).await,
                environments: a.environments.clone().map(|e| e.0),
                labels: a.labels.clone().map(|l| l.0).unwrap_or_default(),
                failover_after_s: a.failover_after_s,
                ..local_node(node_id, backend.name())
            },
            data_dir,
            exe,
            feed_args: a.feed.bot_args(),
            seed: a.seed,
            report_interval: Duration::from_secs(1),
            heartbeat_interval: Duration::from_secs(5),
            stop_bots_on_exit: a.stop_bots_on_exit,
            bot_user,
            handover_ready: Duration::from_millis(a.handover_ready_ms),
            cold_restarts: a.cold_restarts,
        };
        Agent::new(opts, backend).run(shutdown_signal()).await;
        ExitCode::SUCCESS
    })
}

/// `--environments dev,test`, read.
#[derive(Debug, Clone)]
pub struct Environments(pub Vec<sniperforge_protocol::Environment>);

/// `--labels region=ny,rack=3`, read.
#[derive(Debug, Clone)]
pub struct Labels(pub std::collections::BTreeMap<String, String>);

fn parse_labels(s: &str) -> Result<Labels, String> {
    sniperforge_protocol::fleet::parse_labels(s).map(Labels)
}

fn parse_environments(s: &str) -> Result<Environments, String> {
    sniperforge_protocol::Environment::parse_list(s).map(Environments)
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
