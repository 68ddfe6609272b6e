// Generated from protocol/ by `UPDATE_TS=1 cargo test -p sniperforge-protocol typescript`;
// do not edit (a test fails when it is out of date).

export type BotType = "enhanced_arbitrage" | "triangular_arbitrage" | "flash_loan_arbitrage" | "cross_chain_arbitrage" | "ml_analytics" | "portfolio_manager" | "real_time_dashboard";

export type Environment = "dev" | "test" | "prod";

export type Resources = { 
/**
 * CPU cores to pin to (feed thread first, then strategy thread).
 */
cores: number[], 
/**
 * Memory limit in MiB.
 */
memory_mb: number, 
/**
 * CPU time the bot may use, percent of one core (200: two cores); `None`: no quota.
 */
cpu_quota_percent?: number, };

export type HealthPolicy = { 
/**
 * Checks failed in a row that replace the bot (0: never replaced; 0 to 100).
 */
failures: number, 
/**
 * Between two checks, ms (200 to 60,000).
 */
interval_ms: number, };

export type BotConfig = { 
/**
 * Unique id (letters, digits, '-' and '_').
 */
bot_id: string, 
/**
 * Type.
 */
bot_type: BotType, 
/**
 * Type-specific parameters (see the type's JSON Schema).
 */
parameters: Record<string, Record<string, unknown>>, 
/**
 * Environment.
 */
environment: Environment, 
/**
 * Reserved resources.
 */
resources: Resources, 
/**
 * Health checks and self-healing (3 failed checks 1 s apart when left out).
 */
health?: HealthPolicy, };

export type BotStatus = { "state": "starting" } | { "state": "running" } | { "state": "paused" } | { "state": "stopping" } | { "state": "stopped" } | { "state": "error", "reason": string };

export type StageLatency = { 
/**
 * Median.
 */
p50: number, 
/**
 * 99th percentile.
 */
p99: number, 
/**
 * 99.9th percentile.
 */
p999: number, 
/**
 * Largest.
 */
max: number, };

export type BotMetrics = { 
/**
 * Trades executed (paper or live).
 */
trades_executed: number, 
/**
 * Profit in USD.
 */
profit_usd: number, 
/**
 * Filled / executed.
 */
success_rate: number, 
/**
 * Seconds since start.
 */
uptime_seconds: number, 
/**
 * CPU use, percent of one core: the bot's own figure is since its process started; the
 * agent's report replaces it with the last report interval's, measured from `/proc/<pid>`.
 */
cpu_usage: number, 
/**
 * Resident memory, bytes.
 */
memory_usage: number, 
/**
 * Type-specific numbers.
 */
custom_metrics: { [key in string]?: number }, 
/**
 * Per-stage latency (stage name → percentiles).
 */
latency: { [key in string]?: StageLatency }, };

export type DesiredState = "running" | "paused" | "stopped";

export type BotAction = "start" | "stop" | "pause" | "resume" | "restart";

export type HandoverOutcome = "completed" | "rolled_back";

export type HandoverTrigger = "config" | "restart" | "unhealthy";

export type Handover = { 
/**
 * How it ended.
 */
outcome: HandoverOutcome, 
/**
 * What called for it.
 */
trigger: HandoverTrigger, 
/**
 * The same in words: which configuration fields, which restart generation, what the
 * failed health checks said.
 */
cause: string, 
/**
 * Why it was rolled back.
 */
reason?: string, 
/**
 * When it ended (Unix ms).
 */
at_ms: number, 
/**
 * From the old instance's last decision to the new one's first, ns (when both decided;
 * negative would mean the two decided at once).
 */
gap_ns?: number, 
/**
 * The old instance's drain (no new decision, orders in flight settled, state persisted,
 * lease let go), ns.
 */
drain_ns?: number, 
/**
 * The instance that trades after it (its pid).
 */
pid?: number, };

export type Build = { 
/**
 * Version, e.g. `0.1.0` (letters, digits, `.`, `+`, `-`).
 */
version: string, 
/**
 * Build id (lowercase letters, digits, `-`).
 */
build_id: string, };

export type NodeBotStatus = { 
/**
 * `starting`, `running`, `paused`, `stopping`, `stopped` or `error`.
 */
state?: string, 
/**
 * Why, for `error` and some `starting` and `stopped` states.
 */
reason?: string, 
/**
 * The node's supervisor backend.
 */
backend?: string, 
/**
 * The configuration version the node runs.
 */
config_version?: number, 
/**
 * The bot's control port on the node's loopback.
 */
control_port?: number, 
/**
 * Process id.
 */
pid?: number, 
/**
 * Restarts by the supervisor.
 */
restarts?: number, 
/**
 * What the bot publishes (the dashboard's market view).
 */
outputs?: Record<string, unknown>, 
/**
 * The bot's last warm handover on its node (absent before its first).
 */
handover?: Handover, 
/**
 * Health checks (`/health`) failed in a row, when any have.
 */
health_failures?: number, 
/**
 * The build the bot's trading instance runs (absent from bots before it).
 */
build?: Build, 
/**
 * The restart generation its node has applied (each restart request bumps it; the agent
 * takes it when it starts the restart).
 */
restart_generation?: number, };

export type Role = "starting" | "standby" | "trading" | "draining" | "released";

export type Health = { 
/**
 * Whether everything is alive and fresh.
 */
healthy: boolean, 
/**
 * What is wrong, when anything is.
 */
reasons: Array<string>, 
/**
 * The instance's part in a handover (absent from bots of builds before it).
 */
role?: Role, 
/**
 * How the runtime runs (layout, cores, spin or park) and what it could not honour (a
 * configured core the machine lacks, fewer cores than threads): worth knowing, not a fault.
 */
details?: Array<string>, };

/** Every bot type, in the order the gateway lists them. */
export const BOT_TYPES: readonly BotType[] = ['enhanced_arbitrage', 'triangular_arbitrage', 'flash_loan_arbitrage', 'cross_chain_arbitrage', 'ml_analytics', 'portfolio_manager', 'real_time_dashboard'] as const

/** Every desired state. */
export const DESIRED_STATES: readonly DesiredState[] = ['running', 'paused', 'stopped'] as const

/** The actions the gateway accepts from each desired state (`restart` from any). */
export const ACTIONS_FROM: Record<DesiredState, readonly BotAction[]> = {
  running: ['pause', 'stop', 'restart'],
  paused: ['resume', 'stop', 'restart'],
  stopped: ['start', 'restart'],
}
