// Generated from the gateway's OpenAPI document by
// `UPDATE_TS=1 cargo test -p sniperforge-gateway --test typescript`; do not edit (a test fails
// when it is out of date).

/** `POST /api/v1/bots/{bot_id}/{action}`. */
export type ActionDone = {
  /** Bot id. */
  bot_id: string
  /** Its desired state now. */
  desired_state: DesiredState
  /** Whether a restart was asked for. */
  restart: boolean
}

/** `GET /api/v1/alerts`. */
export type AlertList = {
  /** Active alerts, then the most recent resolved ones (500 at most). */
  alerts: AlertRow[]
}

/** An alert, active or resolved. */
export type AlertRow = {
  /** `<rule>:<target>`. */
  alert_id: string
  /** The environment it belongs to (`null`: a node's serving several, or a fleet rule's). */
  environment: (Environment | null)
  /** What fired. */
  message: string
  /** Resolved, unix ms (0 while active). */
  resolved_at: number
  /** The rule. */
  rule_id: string
  /** Raised, unix ms. */
  started_at: number
  /** `active` or `resolved`. */
  state: string
  /** The bot or node. */
  target: string
}

/** `GET /api/v1/system/audit`. */
export type AuditList = {
  /** The newest 200 entries, newest first. */
  audit: AuditRow[]
}

/** One entry of the audit trail. */
export type AuditRow = {
  /** What, e.g. `bot.create`. */
  action: string
  /** Token or user name (or `anonymous`). */
  actor: string
  /** When, unix ms. */
  at: number
  /** What the action recorded. */
  details: unknown
  /** Which bot, token, user or rule. */
  target: string
}

/** A backtest a node's agent is to run (in its desired state until the result is in). */
export type BacktestJob = {
  /** The bot configuration to run. */
  config: unknown
  /** The gateway's id of it. */
  id: string
  /** The modelled decision-to-fill latency, µs (`None`: the configuration's). */
  latency_us?: (number | null)
  /** A recording in the node's `DATA/recordings/`. */
  recording: string
  /** `--sweep` arguments (none: one run). */
  sweep?: string[]
}

/** `GET /api/v1/backtests`. */
export type BacktestList = {
  /** The newest (at most 200): each report's totals and the configuration's id, type and environment, no timing, Markdown or chart. */
  backtests: BacktestRow[]
}

/** `DELETE /api/v1/backtests/{id}`. */
export type BacktestRemoved = {
  /** The backtest. */
  backtest_id: string
  /** `cancelled` (it was queued or running) or `deleted` (it had finished). */
  done: string
}

/** `POST /api/v1/agent/backtests/{id}`: what the agent has of a backtest. */
export type BacktestResult = {
  /** Why it failed. */
  error?: (string | null)
  /** The node that ran it. */
  node_id: NodeId
  /** `pnl.svg` (one run). */
  pnl_svg?: (string | null)
  /** `report.json` (one run) or `sweep.json` (a sweep). */
  report?: unknown
  /** `report.md` or `sweep.md`. */
  report_md?: (string | null)
  /** `running` (started), `done` or `failed`. */
  state: BacktestState
  /** `timing.json` (one run). */
  timing?: unknown
}

/** A backtest as stored. */
export type BacktestRow = {
  /** Id. */
  backtest_id: string
  /** Asked at, unix ms. */
  created_at: number
  /** Who asked for it. */
  created_by: string
  /** The configuration's environment. */
  environment: Environment
  /** Why it failed. */
  error: (string | null)
  /** The node that runs it. */
  node_id: string
  /** The cumulative-PnL chart (SVG), when done with one run (left out of listings). */
  pnl_svg?: (string | null)
  /** `report.json` (one run) or `sweep.json` (a sweep), when done. */
  report: unknown
  /** The Markdown report, when done (left out of listings). */
  report_md?: (string | null)
  /** The job as asked (configuration, recording, latency, sweep). */
  request: BacktestJob
  /** Where it stands. */
  state: BacktestState
  /** What the run measured (wall time, throughput). */
  timing: unknown
  /** Last changed at, unix ms. */
  updated_at: number
}

/** Where a backtest stands. */
export type BacktestState = ("queued" | "running" | "done" | "failed")

/** `POST /api/v1/agent/backtests/{id}`: what the gateway took. */
export type BacktestTaken = {
  /** The backtest. */
  backtest_id: string
  /** Where it stands now. */
  state: BacktestState
}

/** What an operator may ask of a bot (`POST /api/v1/bots/{id}/{action}`). */
export type BotAction = ("start" | "stop" | "pause" | "resume" | "restart")

/** A bot's configuration: the schema of its `bot_type`. */
export type BotConfig = (Config_enhanced_arbitrage | Config_triangular_arbitrage | Config_flash_loan_arbitrage | Config_cross_chain_arbitrage | Config_ml_analytics | Config_portfolio_manager | Config_real_time_dashboard)

/** `POST /api/v1/bots`. */
export type BotCreated = {
  /** The bot as stored. */
  bot: (BotRow | null)
}

/** `data` of a `bot:<bot_id>` topic. */
export type BotData = {
  /** What the gateway wants of it. */
  desired_state: DesiredState
  /** Stage → its merged latency, ns. */
  latency_ns: Partial<Record<string, Percentiles>>
  /** Its last report (`null` until its agent reports). */
  reported: (ReportRow | null)
}

/** A bot id. */
export type BotId = string

/** `GET /api/v1/bots/{bot_id}/latency`. */
export type BotLatency = {
  /** Bot id. */
  bot_id: string
  /** Stage → merged percentiles. */
  stages: Partial<Record<string, Percentiles>>
  /** `ns`. */
  unit: string
}

/** `GET /api/v1/bots`. */
export type BotList = {
  /** Every bot. */
  bots: BotRow[]
}

/** `GET /api/v1/system/logs/{bot_id}`. */
export type BotLogs = {
  /** Bot id. */
  bot_id: string
  /** Lines, oldest first. */
  lines: LogLine[]
}

/** `GET /api/v1/bots/{bot_id}/metrics`. */
export type BotMetricsBody = {
  /** Bot id. */
  bot_id: string
  /** Its counters as it wrote them (`null` until its agent reports). */
  metrics: unknown
  /** The node that reported them. */
  node_id: (string | null)
  /** When they were reported, unix ms. */
  reported_at: (number | null)
}

/** One bot in a report. */
export type BotReport = {
  /** Bot id. */
  bot_id: BotId
  /** Fills the bot journaled since the last report the gateway took, oldest first (at most [`FILLS_PER_REPORT`]): the gateway stores each once, by the bot's sequence number. */
  fills?: TradeFill[]
  /** Stage (one of [`REPORT_STAGES`](crate::control::REPORT_STAGES)) → interval histogram (HdrHistogram V2, base64), as the bot's `/hdr` gives it. */
  hdr?: Partial<Record<"decoded" | "detected" | "decided" | "executed", string>>
  /** Log lines written since the last report, oldest first: at most [`LOG_LINES_PER_REPORT`], each at most [`LOG_LINE_MAX`] bytes. */
  logs?: string[]
  /** Its counters (a [`BotMetrics`] object as the bot wrote it, so an older or newer bot's counters pass through), `null` when it did not answer. */
  metrics?: (Record<string, unknown> | null)
  /** Its status as the node sees it. */
  status: NodeBotStatus
}

/** One bot row. */
export type BotRow = {
  /** Id. */
  bot_id: string
  /** Type name. */
  bot_type: string
  /** Latest configuration version. */
  config_version: number
  /** The cores it holds on its node: its configuration's `resources.cores`, or those the gateway chose for `placement.cores`. */
  cores: number[]
  /** Created, unix ms. */
  created_at: number
  /** What the agents converge to. */
  desired_state: DesiredState
  /** Its environment (from its configuration; never changes). */
  environment: Environment
  /** Node it runs on (empty while pending with no node chosen). */
  node_id: string
  /** Why no node runs it yet (`null`: placed). */
  pending: (string | null)
  /** How it asked to be placed. */
  placement: Placement
  /** The bot this instance replicates (`null`: a bot of its own): it runs that bot's configuration, on another node than the bot's other instances. */
  replica_of: (string | null)
  /** Restart generation: bumped by each restart request. */
  restarts: number
  /** Last changed, unix ms. */
  updated_at: number
}

/** `GET /api/v1/bots/{bot_id}/status`. */
export type BotStatusBody = {
  /** Bot id. */
  bot_id: string
  /** What the gateway wants of it. */
  desired_state: DesiredState
  /** Its last report (`null` until its agent reports). */
  reported: (ReportRow | null)
}

/** The seven bot types. */
export type BotType = ("enhanced_arbitrage" | "triangular_arbitrage" | "flash_loan_arbitrage" | "cross_chain_arbitrage" | "ml_analytics" | "portfolio_manager" | "real_time_dashboard")

/** `GET /api/v1/bots/{bot_id}`. */
export type BotWithConfig = {
  /** The bot. */
  bot: BotRow
  /** Its latest configuration version. */
  config: (ConfigVersion | null)
}

/** A build of SniperForge: the workspace version and the executable's build id (the GNU build id its linker wrote, hex; `file-<size>-<mtime>` for a file without one). */
export type Build = {
  /** Build id (lowercase letters, digits, `-`). */
  build_id: string
  /** Version, e.g. `0.1.0` (letters, digits, `.`, `+`, `-`). */
  version: string
}

/** `POST /api/v1/configs` and `PUT /api/v1/bots/{bot_id}`: a configuration. */
export type ConfigBody = {
  /** The configuration. */
  config: BotConfig
}

/** `POST /api/v1/configs/validate`: a valid configuration. */
export type ConfigChecked = {
  /** Its bot id. */
  bot_id: string
  /** Its type. */
  bot_type: BotType
  /** Its environment. */
  environment: Environment
  /** Always `true` (an invalid one is a 400). */
  valid: boolean
}

/** `POST /api/v1/configs`. */
export type ConfigCreated = {
  /** Its bot type. */
  bot_type: string
  /** Configuration id (the configuration's `bot_id`). */
  config_id: string
  /** 1. */
  version: number
}

/** `GET /api/v1/configs`. */
export type ConfigList = {
  /** Each configuration at its latest version. */
  configs: ConfigVersion[]
}

/** A configuration version stored: which of its changes apply hot. */
export type ConfigUpdated = {
  /** Changed fields that apply without a restart. */
  applied_hot: string[]
  /** Configuration (bot) id. */
  config_id: string
  /** Whether `restart_required` is not empty. */
  needs_restart: boolean
  /** Changed fields that apply at the next restart. */
  restart_required: string[]
  /** The new version. */
  version: number
}

/** One configuration version. */
export type ConfigVersion = {
  /** The configuration. */
  body: BotConfig
  /** Bot type. */
  bot_type: string
  /** Configuration id (the bot id). */
  config_id: string
  /** Created, unix ms. */
  created_at: number
  /** Token name that wrote it. */
  created_by: string
  /** Its environment. */
  environment: Environment
  /** Version, from 1. */
  version: number
}

export type Config_cross_chain_arbitrage = {
  bot_id: string
  bot_type: "cross_chain_arbitrage"
  environment: "dev" | "test" | "prod"
  /** Health checks by the agent: a bot failing `failures` checks in a row, `interval_ms` apart, is replaced through a warm handover (0: never). Default 3 checks 1 s apart. */
  health?: {
    failures: number
    interval_ms: number
  }
  parameters: {
    bridge: {
      /** Modelled transfer time (applies without a restart) */
      delay_seconds: number
      /** Modelled bridge fee (applies without a restart) */
      fee_bps: number
      /** Inventory drift that triggers a rebalancing transfer (applies without a restart) */
      rebalance_threshold_pct: number
    }
    execution: {
      /** Send transactions without confirmation (live mode only) (needs a restart) */
      auto_execute: boolean
      /** Venues routes may use (needs a restart) */
      dexs: Array<"Jupiter" | "Orca" | "Raydium">
      /** Signing keypair file (live mode); referenced, never stored (needs a restart) */
      keypair_path: string
      /** Paper executor: decision to fill (applies without a restart) */
      paper_latency_us: number
      /** Compute-unit price (applies without a restart) */
      priority_fee_micro_lamports: number
      /** Paper trading on the exact quotes; false means live trading (needs a restart) */
      simulation_mode: boolean
      /** Minimum-out below the expected output (applies without a restart) */
      slippage_bps: number
      /** Strategy (and feed) threads busy-poll their reserved cores instead of parking (needs a restart) */
      spin: boolean
    }
    risk_management: {
      /** Whether reaching a loss limit stops trading (applies without a restart) */
      emergency_stop_enabled: boolean
      /** Daily loss (UTC day) that triggers the emergency stop (applies without a restart) */
      max_daily_loss_usd: number
      /** Oldest pool state a trade may use, in slots (applies without a restart) */
      max_state_age_slots: number
      /** Loss on one trade, relative to its input, that stops the bot (applies without a restart) */
      stop_loss_bps: number
    }
    trading: {
      /** Paper inventory at start, split evenly: base and quote on each side (needs a restart) */
      inventory_usd: number
      /** Largest trade, in USD (applies without a restart) */
      max_trade_usd: number
      /** Smallest price gap after fees and amortised bridge cost (applies without a restart) */
      min_gap_bps: number
      /** Pairs watched on both sides (needs a restart) */
      pairs: string[]
      /** Taker fee on the external venue (applies without a restart) */
      venue_fee_bps: number
      /** External venue price stream (JSON over WebSocket; `sniperforge venue-sim` serves one) (needs a restart) */
      venue_url: string
    }
  }
  resources: {
    cores: number[]
    /** CPU time the bot may use, percent of one core (200: two cores); left out: no quota (systemd CPUQuota, cgroup v2 cpu.max) */
    cpu_quota_percent?: number
    memory_mb: number
  }
}

export type Config_enhanced_arbitrage = {
  bot_id: string
  bot_type: "enhanced_arbitrage"
  environment: "dev" | "test" | "prod"
  /** Health checks by the agent: a bot failing `failures` checks in a row, `interval_ms` apart, is replaced through a warm handover (0: never). Default 3 checks 1 s apart. */
  health?: {
    failures: number
    interval_ms: number
  }
  parameters: {
    execution: {
      /** Send transactions without confirmation (live mode only) (needs a restart) */
      auto_execute: boolean
      /** Venues routes may use (needs a restart) */
      dexs: Array<"Jupiter" | "Orca" | "Raydium">
      /** Signing keypair file (live mode); referenced, never stored (needs a restart) */
      keypair_path: string
      /** Paper executor: decision to fill (applies without a restart) */
      paper_latency_us: number
      /** Compute-unit price (applies without a restart) */
      priority_fee_micro_lamports: number
      /** Paper trading on the exact quotes; false means live trading (needs a restart) */
      simulation_mode: boolean
      /** Minimum-out below the expected output (applies without a restart) */
      slippage_bps: number
      /** Strategy (and feed) threads busy-poll their reserved cores instead of parking (needs a restart) */
      spin: boolean
    }
    risk_management: {
      /** Whether reaching a loss limit stops trading (applies without a restart) */
      emergency_stop_enabled: boolean
      /** Daily loss (UTC day) that triggers the emergency stop (applies without a restart) */
      max_daily_loss_usd: number
      /** Oldest pool state a trade may use, in slots (applies without a restart) */
      max_state_age_slots: number
      /** Loss on one trade, relative to its input, that stops the bot (applies without a restart) */
      stop_loss_bps: number
    }
    trading: {
      /** Minimum confidence (freshness, depth, quote stability) (applies without a restart) */
      confidence_threshold: number
      /** Orders in flight at once (applies without a restart) */
      max_concurrent_trades: number
      /** Largest input per trade, in SOL (applies without a restart) */
      max_trade_sol: number
      /** Smallest profit worth a trade, relative to its input (applies without a restart) */
      min_profit_bps: number
      /** Pairs traded across pools (needs a restart) */
      pairs: string[]
    }
  }
  resources: {
    cores: number[]
    /** CPU time the bot may use, percent of one core (200: two cores); left out: no quota (systemd CPUQuota, cgroup v2 cpu.max) */
    cpu_quota_percent?: number
    memory_mb: number
  }
}

export type Config_flash_loan_arbitrage = {
  bot_id: string
  bot_type: "flash_loan_arbitrage"
  environment: "dev" | "test" | "prod"
  /** Health checks by the agent: a bot failing `failures` checks in a row, `interval_ms` apart, is replaced through a warm handover (0: never). Default 3 checks 1 s apart. */
  health?: {
    failures: number
    interval_ms: number
  }
  parameters: {
    execution: {
      /** Send transactions without confirmation (live mode only) (needs a restart) */
      auto_execute: boolean
      /** Venues routes may use (needs a restart) */
      dexs: Array<"Jupiter" | "Orca" | "Raydium">
      /** Signing keypair file (live mode); referenced, never stored (needs a restart) */
      keypair_path: string
      /** Paper executor: decision to fill (applies without a restart) */
      paper_latency_us: number
      /** Compute-unit price (applies without a restart) */
      priority_fee_micro_lamports: number
      /** Paper trading on the exact quotes; false means live trading (needs a restart) */
      simulation_mode: boolean
      /** Minimum-out below the expected output (applies without a restart) */
      slippage_bps: number
      /** Strategy (and feed) threads busy-poll their reserved cores instead of parking (needs a restart) */
      spin: boolean
    }
    flash_loan: {
      /** Loan fee, booked on every trade (applies without a restart) */
      fee_bps: number
      /** Lending program whose flash loan wraps the route (needs a restart) */
      provider: "marginfi" | "solend" | "kamino"
    }
    risk_management: {
      /** Whether reaching a loss limit stops trading (applies without a restart) */
      emergency_stop_enabled: boolean
      /** Daily loss (UTC day) that triggers the emergency stop (applies without a restart) */
      max_daily_loss_usd: number
      /** Oldest pool state a trade may use, in slots (applies without a restart) */
      max_state_age_slots: number
      /** Loss on one trade, relative to its input, that stops the bot (applies without a restart) */
      stop_loss_bps: number
    }
    trading: {
      /** Tokens borrowed and repaid (needs a restart) */
      base_mints: string[]
      /** Largest loan per trade, in SOL (applies without a restart) */
      max_borrow_sol: number
      /** Orders in flight at once (applies without a restart) */
      max_concurrent_trades: number
      /** Pools per route (needs a restart) */
      max_hops: number
      /** Smallest profit after the loan fee, relative to the input (applies without a restart) */
      min_profit_bps: number
    }
  }
  resources: {
    cores: number[]
    /** CPU time the bot may use, percent of one core (200: two cores); left out: no quota (systemd CPUQuota, cgroup v2 cpu.max) */
    cpu_quota_percent?: number
    memory_mb: number
  }
}

export type Config_ml_analytics = {
  bot_id: string
  bot_type: "ml_analytics"
  environment: "dev" | "test" | "prod"
  /** Health checks by the agent: a bot failing `failures` checks in a row, `interval_ms` apart, is replaced through a warm handover (0: never). Default 3 checks 1 s apart. */
  health?: {
    failures: number
    interval_ms: number
  }
  parameters: {
    features: {
      /** Pairs modelled (each its own features and models) (needs a restart) */
      pairs: string[]
      /** Walk-forward retraining period (applies without a restart) */
      retrain_interval_minutes: number
      /** Windows of the return and volatility features (needs a restart) */
      return_windows_s: number[]
    }
    models: {
      /** Smallest confidence a signal is published with (applies without a restart) */
      confidence_threshold: number
      /** LSTM, random forest, linear baseline; sum 1 (applies without a restart) */
      ensemble_weights: number[]
      /** Run the LSTM (needs a restart) */
      lstm_enabled: boolean
      /** Classify volatility regimes (applies without a restart) */
      market_regime_detection: boolean
      /** Horizon of the predicted return (needs a restart) */
      prediction_horizon_minutes: number
      /** Run the random forest (needs a restart) */
      random_forest_enabled: boolean
    }
  }
  resources: {
    cores: number[]
    /** CPU time the bot may use, percent of one core (200: two cores); left out: no quota (systemd CPUQuota, cgroup v2 cpu.max) */
    cpu_quota_percent?: number
    memory_mb: number
  }
}

export type Config_portfolio_manager = {
  bot_id: string
  bot_type: "portfolio_manager"
  environment: "dev" | "test" | "prod"
  /** Health checks by the agent: a bot failing `failures` checks in a row, `interval_ms` apart, is replaced through a warm handover (0: never). Default 3 checks 1 s apart. */
  health?: {
    failures: number
    interval_ms: number
  }
  parameters: {
    portfolio: {
      /** Currency values are marked in (applies without a restart) */
      base_currency: "USD" | "SOL"
      /** Paper wallet at start, token units (live mode reads token accounts) (needs a restart) */
      initial_balances: Partial<Record<string, number>>
      /** Target share of value per token (applies without a restart) */
      target_weights: Partial<Record<string, number>>
    }
    rebalance: {
      /** Planning period (applies without a restart) */
      interval_minutes: number
      /** Smallest rebalancing trade (applies without a restart) */
      min_trade_usd: number
      /** Drift from target that triggers a plan (applies without a restart) */
      threshold_pct: number
    }
    risk_management: {
      /** Daily loss that raises an alert (applies without a restart) */
      max_daily_loss_usd: number
      /** Exposure above which an alert fires (applies without a restart) */
      max_exposure_pct_per_token: number
    }
  }
  resources: {
    cores: number[]
    /** CPU time the bot may use, percent of one core (200: two cores); left out: no quota (systemd CPUQuota, cgroup v2 cpu.max) */
    cpu_quota_percent?: number
    memory_mb: number
  }
}

export type Config_real_time_dashboard = {
  bot_id: string
  bot_type: "real_time_dashboard"
  environment: "dev" | "test" | "prod"
  /** Health checks by the agent: a bot failing `failures` checks in a row, `interval_ms` apart, is replaced through a warm handover (0: never). Default 3 checks 1 s apart. */
  health?: {
    failures: number
    interval_ms: number
  }
  parameters: {
    view: {
      /** A pair whose spread across venues is above this is in alert (applies without a restart) */
      alert_spread_bps: number
      /** Venues compared (needs a restart) */
      dexs: Array<"Jupiter" | "Orca" | "Raydium">
      /** Pairs shown (needs a restart) */
      pairs: string[]
      /** Publication period (applies without a restart) */
      refresh_ms: number
      /** Price samples kept per pair (one per publication) (applies without a restart) */
      series_points: number
      /** Opportunities listed (applies without a restart) */
      top_opportunities: number
    }
  }
  resources: {
    cores: number[]
    /** CPU time the bot may use, percent of one core (200: two cores); left out: no quota (systemd CPUQuota, cgroup v2 cpu.max) */
    cpu_quota_percent?: number
    memory_mb: number
  }
}

export type Config_triangular_arbitrage = {
  bot_id: string
  bot_type: "triangular_arbitrage"
  environment: "dev" | "test" | "prod"
  /** Health checks by the agent: a bot failing `failures` checks in a row, `interval_ms` apart, is replaced through a warm handover (0: never). Default 3 checks 1 s apart. */
  health?: {
    failures: number
    interval_ms: number
  }
  parameters: {
    execution: {
      /** Send transactions without confirmation (live mode only) (needs a restart) */
      auto_execute: boolean
      /** Venues routes may use (needs a restart) */
      dexs: Array<"Jupiter" | "Orca" | "Raydium">
      /** Signing keypair file (live mode); referenced, never stored (needs a restart) */
      keypair_path: string
      /** Paper executor: decision to fill (applies without a restart) */
      paper_latency_us: number
      /** Compute-unit price (applies without a restart) */
      priority_fee_micro_lamports: number
      /** Paper trading on the exact quotes; false means live trading (needs a restart) */
      simulation_mode: boolean
      /** Minimum-out below the expected output (applies without a restart) */
      slippage_bps: number
      /** Strategy (and feed) threads busy-poll their reserved cores instead of parking (needs a restart) */
      spin: boolean
    }
    risk_management: {
      /** Whether reaching a loss limit stops trading (applies without a restart) */
      emergency_stop_enabled: boolean
      /** Daily loss (UTC day) that triggers the emergency stop (applies without a restart) */
      max_daily_loss_usd: number
      /** Oldest pool state a trade may use, in slots (applies without a restart) */
      max_state_age_slots: number
      /** Loss on one trade, relative to its input, that stops the bot (applies without a restart) */
      stop_loss_bps: number
    }
    trading: {
      /** Tokens routes start and end in (needs a restart) */
      base_mints: string[]
      /** Orders in flight at once (applies without a restart) */
      max_concurrent_trades: number
      /** Pools per route (needs a restart) */
      max_hops: number
      /** Largest input per trade, in SOL (applies without a restart) */
      max_trade_sol: number
      /** Smallest profit worth a trade, relative to its input (applies without a restart) */
      min_profit_bps: number
    }
  }
  resources: {
    cores: number[]
    /** CPU time the bot may use, percent of one core (200: two cores); left out: no quota (systemd CPUQuota, cgroup v2 cpu.max) */
    cpu_quota_percent?: number
    memory_mb: number
  }
}

/** `POST /api/v1/bots`: a configuration, or the id of a stored one, and the node to run on. */
export type CreateBot = {
  /** The bot's configuration (stored as a new version); give this or `config_id`. */
  config?: BotConfig
  /** The id of a configuration stored with `POST /api/v1/configs`, run as it is. */
  config_id?: string
  /** Free cores the gateway chooses on its node (0 to 64; its configuration's `resources.cores` must then be empty). */
  cores?: number
  /** Placed again on another node when its node is lost (default: true for a paper bot, false for one trading live). */
  failover?: (boolean | null)
  /** Labels its node must carry (`{"region": "ny"}`; at most 32). */
  labels?: Partial<Record<string, string>>
  /** The node to run on (default `local`), or `auto`: the gateway places it on a live node serving its environment that carries `labels` and has `cores` free (a bot no node can take yet waits, pending, with the reason). */
  node_id?: string
  /** Instances to run, each on another node (1 to 16, default 1); more than one only for `ml_analytics`, `portfolio_manager` and `real_time_dashboard` (a trading bot stays single-writer). The further instances are bots `<bot_id>-r1`, … that the gateway places; `PUT /api/v1/bots/{bot_id}/replicas` changes the count. */
  replicas?: number
}

/** A node's desired state at an index. */
export type Desired = {
  /** Backtests queued for (or run by) the node, until their results are in. */
  backtests?: BacktestJob[]
  /** The node's bots. */
  bots: DesiredBot[]
  /** The fencing lease, ms (half the node's failover window): a bot that fails over stops once this long has passed since its agent sent the last report or heartbeat the gateway took, well before the gateway places it elsewhere. */
  fence_ms: number
  /** The gateway's desired-state index. */
  index: number
  /** Node id. */
  node_id: NodeId
  /** The build the node's agent is to run, while a rollout upgrades it: an agent on another build whose installed build (`--exe`) is this one executes it, keeping its bots running (the new agent adopts them). */
  upgrade?: (Build | null)
}

/** One bot the gateway wants on a node. */
export type DesiredBot = {
  /** Bot id (checked as the answer is read). */
  bot_id: BotId
  /** Type name. */
  bot_type: string
  /** That version's body (with the cores the gateway placed it on, for a bot that asked for some). */
  config: unknown
  /** Latest configuration version. */
  config_version: number
  /** What the gateway wants of it. */
  desired_state: DesiredState
  /** Whether the gateway moves it to another node when this one is lost: the agent then keeps its fencing lease renewed ([`Desired::fence_ms`]), and the bot stops when it lapses. */
  failover: boolean
  /** Restart generation: a bump asks for one restart. */
  restarts: number
}

/** `GET /api/v1/agent/desired?node_id=&index=&wait_ms=`: answers at once when the gateway's index is past `index`, else when it moves or after `wait_ms` (at most [`DESIRED_WAIT_MAX_MS`]). */
export type DesiredQuery = {
  /** The index the agent holds. */
  index?: number
  /** Node id. */
  node_id: string
  /** How long to wait for a change, ms (longer asks wait [`DESIRED_WAIT_MAX_MS`]). */
  wait_ms?: number
}

/** What the gateway wants of a bot. */
export type DesiredState = ("running" | "paused" | "stopped")

/** `POST /api/v1/system/emergency-stop`. */
export type EmergencyStop = {
  /** Bots whose desired state became `stopped`. */
  bots_stopped: number
}

/** `?env=`: lists of bots, configurations, alerts and nodes in these environments only. */
export type EnvQuery = {
  /** `dev`, `test`, `prod` or several joined with commas (`dev,test`); a token scoped to environments only ever gets its own. */
  env?: (string | null)
}

/** Deployment environment: a boundary. Only `prod` trades live; agents serve the environments they declare; tokens and users may be scoped to some of them. */
export type Environment = ("dev" | "test" | "prod")

export type Error = {
  error: {
    /** Stable, machine-readable: not_found, invalid_config, … */
    code: string
    /** For invalid configurations: [{path, message}]; else what the code names, or null */
    details: unknown
    message: string
  }
}

/** What one evaluation changed. */
export type Evaluation = {
  /** Webhook deliveries that failed after every retry. */
  delivery_failures: string[]
  /** Alerts that started firing. */
  raised: string[]
  /** Alerts that stopped. */
  resolved: string[]
}

/** One bot of the `fleet` topic's table. */
export type FleetBotRow = {
  /** Bot id. */
  bot_id: string
  /** Type name. */
  bot_type: string
  /** Latest configuration version. */
  config_version: number
  /** The cores it holds on its node. */
  cores: number[]
  /** What the gateway wants of it. */
  desired_state: DesiredState
  /** Environment. */
  environment: Environment
  /** Stage → its merged latency, ns. */
  latency_ns: Partial<Record<string, Percentiles>>
  /** Node it runs on. */
  node_id: string
  /** Why no node runs it yet (`null`: placed). */
  pending: (string | null)
  /** Its reported `profit_usd` counter (`null` until it reports one that is a number). */
  profit_usd: (number | null)
  /** The bot this instance replicates (`null`: a bot of its own). */
  replica_of: (string | null)
  /** When it last reported, unix ms. */
  reported_at: (number | null)
  /** Its last reported status (`null` until its agent reports). */
  status: (NodeBotStatus | null)
  /** Its reported `trades_executed` counter (`null` until it reports one that is a whole number). */
  trades_executed: (number | null)
}

/** `data` of the `fleet` topic. */
export type FleetData = {
  /** One row per bot. */
  bot_rows: FleetBotRow[]
  /** Bots. */
  bots: number
  /** Stage → latency merged over the fleet, ns. */
  latency_ns: Partial<Record<string, Percentiles>>
  /** Nodes. */
  nodes: number
  /** Bots whose desired state is running. */
  running: number
}

/** `GET /api/v1/system/metrics`. */
export type FleetMetrics = {
  /** Bots. */
  bots: number
  /** Desired state → bots. */
  bots_by_desired_state: Partial<Record<string, number>>
  /** The desired-state index. */
  desired_index: number
  /** Stage → latency merged over the bots asked for, ns. */
  latency_ns: Partial<Record<string, Percentiles>>
  /** Nodes. */
  nodes: number
}

/** `GET /api/v1/system/metrics`. */
export type FleetQuery = {
  /** Merge the latency of this bot type only. */
  bot_type?: (string | null)
  /** Only these environments (`dev`, or `dev,test`); a scoped token's are always applied. */
  env?: (string | null)
  /** Merge the latency of this node's bots only. */
  node_id?: (string | null)
}

/** A bot's warm handover: a new instance started beside the running one in standby (market loaded, deciding nothing), the old one drained and its trading lease let go, the new one trading, the old one stopped; or, when the new one is not healthy in time, stopped instead. */
export type Handover = {
  /** When it ended (Unix ms). */
  at_ms: number
  /** The same in words: which configuration fields, which restart generation, what the failed health checks said. */
  cause: string
  /** The old instance's drain (no new decision, orders in flight settled, state persisted, lease let go), ns. */
  drain_ns?: (number | null)
  /** From the old instance's last decision to the new one's first, ns (when both decided; negative would mean the two decided at once). */
  gap_ns?: (number | null)
  /** How it ended. */
  outcome: HandoverOutcome
  /** The instance that trades after it (its pid). */
  pid?: (number | null)
  /** Why it was rolled back. */
  reason?: (string | null)
  /** What called for it. */
  trigger: HandoverTrigger
}

/** How a warm handover ended. */
export type HandoverOutcome = ("completed" | "rolled_back")

/** What called for a handover. */
export type HandoverTrigger = ("config" | "restart" | "unhealthy")

/** `GET /api/v1/system/health`. */
export type HealthBody = {
  /** `reachable`. */
  database: string
  /** `ok`. */
  status: string
}

/** One point of a latency series. */
export type LatencyPoint = {
  /** Samples. */
  count: number
  /** Largest. */
  max: number
  /** Median. */
  p50: number
  /** 90th percentile. */
  p90: number
  /** 99th percentile. */
  p99: number
  /** 99.9th percentile. */
  p999: number
  /** Start of the point, unix ms. */
  t: number
}

/** `GET /api/v1/latency`. */
export type LatencyRange = {
  /** Range start, unix ms. */
  from: number
  /** Resolution the points were merged from (1,000 or 60,000 ms). */
  resolution_ms: number
  /** The scope asked for. */
  scope: string
  /** Stage → series. */
  stages: Partial<Record<string, StageSeries>>
  /** Width of a point, ms. */
  step_ms: number
  /** Range end, unix ms (exclusive). */
  to: number
  /** `ns`. */
  unit: string
}

/** A node as `GET /api/v1/nodes` lists it. */
export type ListedNode = {
  /** The build its agent runs (`null` for agents before it). */
  agent: (Build | null)
  /** Supervisor backend. */
  backend: string
  /** CPU cores. */
  cores: number
  /** The environments its agent serves (`null`: all). */
  environments: (Environment[] | null)
  /** Its failover window, ms: the one its agent asked for (`agent --failover-after-s`), else the gateway's when it registered (`null` only for a row from before windows were kept, until the gateway starts: the gateway's). */
  failover_after_ms: (number | null)
  /** Whether its agent fences the bots that fail over (only then are they failed over). */
  fences: boolean
  /** Host name. */
  hostname: string
  /** The build installed where its agent starts bots from (`null` for agents before it). */
  installed: (Build | null)
  /** Cores isolated for bots. */
  isolated_cores: number[]
  /** Its labels (`--labels`), what placement constraints match. */
  labels: Partial<Record<string, string>>
  /** Last heartbeat, unix ms. */
  last_heartbeat: number
  /** Memory, MiB. */
  memory_mb: number
  /** Node id. */
  node_id: string
  /** The recordings its agent last listed in `DATA/recordings/`, newest first: what a backtest on it can replay (`null` until its agent lists them: an agent older than listing never does). */
  recordings: (RecordingFile[] | null)
  /** First registered, unix ms. */
  registered_at: number
  /** A longer window it had before registering again with a shorter one, in force until the leases its agent held under the old one have lapsed. */
  window_floor: (WindowFloor | null)
}

/** One log line of a bot, as its agent reported it. */
export type LogLine = {
  /** Received at the gateway, unix ms. */
  at: number
  /** Bot. */
  bot_id: string
  /** The line (a JSON log record from the bot process, or plain text). */
  line: string
  /** Node whose agent reported it. */
  node_id: string
}

/** What `/api/v1/ws/logs` sends. */
export type LogMessage = (LogLine | StreamError)

/** `POST /api/v1/auth/login`. */
export type Login = {
  /** User name. */
  name: string
  /** Password. */
  password: string
}

/** `GET /api/v1/system/logs/{bot_id}`. */
export type LogsQuery = {
  /** Only lines containing this text. */
  filter?: (string | null)
  /** Most lines to answer (the newest), default 200, at most 2,000. */
  tail?: (number | null)
}

/** What `/api/v1/ws/metrics` sends. */
export type MetricsMessage = (TopicMessage | StreamError)

/** `PUT /api/v1/auth/users/{name}` and `GET /api/v1/auth/me`: a name and its role. */
export type NameRole = {
  /** The environments it reaches (`null`: all). */
  environments: (Environment[] | null)
  /** Name. */
  name: string
  /** Role. */
  role: Role
}

/** `POST /api/v1/backtests`. */
export type NewBacktest = {
  /** The bot configuration to run (an arbitrage type's). */
  config: unknown
  /** The modelled decision-to-fill latency, µs (default: the configuration's). */
  latency_us?: (number | null)
  /** The node that runs it (it serves the configuration's environment). */
  node_id: string
  /** A recording in the node's `DATA/recordings/` (a file name ending in `.sfrec`). */
  recording: string
  /** `section.field=v1,v2,…` grids (at most 4). */
  sweep?: string[]
}

/** `POST /api/v1/rollouts`. */
export type NewRollout = {
  /** Bots of one node restarted at once (1 to 64; default 1). */
  max_unavailable?: number
  /** Whether the first failed step pauses the rollout (default true); otherwise it goes on. */
  pause_on_failure?: boolean
  /** `fleet` (the default), `node:<id>`, `type:<bot_type>` or `env:<environment>`. */
  scope?: string
  /** `restart` (a warm handover of every bot in scope), or a version (each node must have it installed; bots already on the node's installed build are skipped). */
  target: string
}

/** `POST /api/v1/auth/tokens`: an `agent` token names its node, no other does. */
export type NewToken = {
  /** The environments a `viewer` or `operator` token reaches (left out: all). Bots, configs and alerts of others answer 404 to it, as if absent. */
  environments?: (Environment[] | null)
  /** 1-64 characters of `A-Z a-z 0-9 - _ . @`. */
  name: string
  /** The node an `agent` token is bound to (required for agents, refused for other roles). */
  node_id?: (string | null)
  /** `agent`, `viewer`, `operator` or `admin`. */
  role: "agent" | "viewer" | "operator" | "admin"
}

/** The answer to a register or a heartbeat. */
export type NodeAck = {
  /** The gateway's desired-state index now. */
  desired_index: number
  /** Node id. */
  node_id: NodeId
}

/** A bot as its node sees it: the lifecycle state, why, and where it runs. The gateway keeps it as the bot's status; fields it does not name are ignored. */
export type NodeBotStatus = {
  /** The node's supervisor backend. */
  backend?: (string | null)
  /** The build the bot's trading instance runs (absent from bots before it). */
  build?: (Build | null)
  /** The configuration version the node runs. */
  config_version?: (number | null)
  /** The bot's control port on the node's loopback. */
  control_port?: (number | null)
  /** The bot's last warm handover on its node (absent before its first). */
  handover?: (Handover | null)
  /** Health checks (`/health`) failed in a row, when any have. */
  health_failures?: (number | null)
  /** What the bot publishes (the dashboard's market view). */
  outputs?: unknown
  /** Process id. */
  pid?: (number | null)
  /** Why, for `error` and some `starting` and `stopped` states. */
  reason?: (string | null)
  /** The restart generation its node has applied (each restart request bumps it; the agent takes it when it starts the restart). */
  restart_generation?: (number | null)
  /** Restarts by the supervisor. */
  restarts?: (number | null)
  /** `starting`, `running`, `paused`, `stopping`, `stopped` or `error`. */
  state?: (string | null)
}

/** `data` of a `node:<node_id>` topic. */
export type NodeData = {
  /** Bots on it. */
  bots: number
  /** Stage → latency merged over its bots, ns. */
  latency_ns: Partial<Record<string, Percentiles>>
  /** The node. */
  node: NodeRow
}

/** A node id. */
export type NodeId = string

/** `POST /api/v1/agent/register`: what an agent says about its node. */
export type NodeInfo = {
  /** The build the agent runs (absent from agents before it). */
  agent?: (Build | null)
  /** Supervisor backend: systemd, nomad or process. */
  backend: "systemd" | "nomad" | "process"
  /** CPU cores. */
  cores: number
  /** The environments the agent serves (`--environments`): the gateway places and sends it only bots of these (absent: all, as agents before it). */
  environments?: (Environment[] | null)
  /** How long the node may be silent before the gateway counts it lost and fails its bots over, s ([`FAILOVER_AFTER_S`]; `agent --failover-after-s`; absent: the gateway's `--failover-after-s`). Its agents' fencing lease is half of it. */
  failover_after_s?: (number | null)
  /** Whether the agent fences the bots that fail over (renews their lease; it stops them when it lapses): only such a node's bots are failed over (absent: an agent before it). */
  fences?: boolean
  /** Host name (at most [`HOSTNAME_MAX`] characters, no control, bidi or zero-width ones). */
  hostname: string
  /** The build installed where the agent starts bots from (`--exe`): what a new instance runs, and what an agent that upgrades itself becomes. */
  installed?: (Build | null)
  /** Cores isolated for bots (from `/sys/devices/system/cpu/isolated`): at most [`MAX_CPU`](crate::cpus::MAX_CPU) of them, each below it. */
  isolated_cores?: number[]
  /** Labels placement constraints match (`--labels region=ny,rack=3`): at most [`LABELS_MAX`], keys and values 1 to 64 of letters, digits, `.`, `_`, `-`. */
  labels?: Partial<Record<string, string>>
  /** Memory, MiB (at most [`MEMORY_MB_MAX`]). */
  memory_mb: number
  /** Node id. */
  node_id: NodeId
}

/** `GET /api/v1/nodes`. */
export type NodeList = {
  /** Every node. */
  nodes: ListedNode[]
}

/** `POST /api/v1/agent/heartbeat`: the node that is alive. */
export type NodeRef = {
  /** Node id. */
  node_id: NodeId
}

/** A node as registered, with its last heartbeat. */
export type NodeRow = {
  /** The build its agent runs (`null` for agents before it). */
  agent: (Build | null)
  /** Supervisor backend. */
  backend: string
  /** CPU cores. */
  cores: number
  /** The environments its agent serves (`null`: all). */
  environments: (Environment[] | null)
  /** Its failover window, ms: the one its agent asked for (`agent --failover-after-s`), else the gateway's when it registered (`null` only for a row from before windows were kept, until the gateway starts: the gateway's). */
  failover_after_ms: (number | null)
  /** Whether its agent fences the bots that fail over (only then are they failed over). */
  fences: boolean
  /** Host name. */
  hostname: string
  /** The build installed where its agent starts bots from (`null` for agents before it). */
  installed: (Build | null)
  /** Cores isolated for bots. */
  isolated_cores: number[]
  /** Its labels (`--labels`), what placement constraints match. */
  labels: Partial<Record<string, string>>
  /** Last heartbeat, unix ms. */
  last_heartbeat: number
  /** Memory, MiB. */
  memory_mb: number
  /** Node id. */
  node_id: string
  /** First registered, unix ms. */
  registered_at: number
  /** A longer window it had before registering again with a shorter one, in force until the leases its agent held under the old one have lapsed. */
  window_floor: (WindowFloor | null)
}

/** Latency percentiles of a histogram, ns. */
export type Percentiles = {
  /** Samples. */
  count: number
  /** Largest. */
  max: number
  /** Median. */
  p50: number
  /** 90th percentile. */
  p90: number
  /** 99th percentile. */
  p99: number
  /** 99.9th percentile. */
  p999: number
}

/** How a bot asked to be placed. */
export type Placement = {
  /** The gateway chooses its node (`node_id: "auto"`), and chooses again when it is lost. */
  auto: boolean
  /** Free cores it needs on its node, the gateway choosing which (its configuration's `resources.cores` then names none): 0 to [`CORES_MAX`]. */
  cores: number
  /** Placed again on another node when its node is lost (paper bots by default; a live bot only when set). The bot stops once its node's fencing lease lapses, before that. */
  failover: boolean
  /** Whether `failover` was asked for (`false`: the default of its trading mode, which a configuration that turns live trading on or off changes). */
  failover_set: boolean
  /** Labels its node must carry (`{"region": "ny"}`). */
  labels: Partial<Record<string, string>>
  /** Instances it runs, each on another node: 1 (the bot alone) to [`REPLICAS_MAX`]; more than one only for types that observe and never trade. Its further instances are bots of their own, `<id>-r1` and on ([`replica_id`]), placed by the gateway. */
  replicas: number
}

/** One interval of a PnL answer. */
export type PnlPoint = {
  /** PnL from `from` to this interval's end, USD. */
  cumulative_pnl_usd: number
  /** The deepest fall of the cumulative PnL (from 0 at `from`) below its running peak (0 included), at any trade within, USD. */
  drawdown_usd: number
  /** Routes that failed at fill time (no output, no PnL). */
  failed: number
  /** Fees booked against it, USD. */
  fee_usd: number
  /** Trades with a loss. */
  losses: number
  /** Profit, USD (fees already taken off). */
  pnl_usd: number
  /** Start, unix ms (it runs for `step_ms`, the last one to `to`). */
  start_ms: number
  /** Trades (failed ones included). */
  trades: number
  /** Inputs traded, USD. */
  volume_usd: number
  /** `wins / trades` (`null`: no trades). */
  win_rate: (number | null)
  /** Trades with a profit. */
  wins: number
}

/** `GET /api/v1/pnl`: which trades, over which range, in which steps. */
export type PnlQuery = {
  /** From, unix ms (default: a day before `to`). */
  from?: (number | null)
  /** `fleet` (every environment the caller reaches; the default), `env:<dev|test|prod>` or `bot:<bot id>`. */
  scope?: (string | null)
  /** Interval: seconds (`3600`) or with a unit (`30s`, `5m`, `1h`, `1d`); default: the smallest of 1 s, 10 s, 1 min, 5 min, 15 min, 1 h, 4 h, 1 d and 7 d giving at most 200 intervals. At most 2,000 intervals. */
  step?: (string | null)
  /** To (exclusive), unix ms (default: now). */
  to?: (number | null)
}

/** `GET /api/v1/pnl`. */
export type PnlReport = {
  /** From, unix ms. */
  from: number
  /** Every interval from `from`, oldest first, empty ones too. */
  intervals: PnlPoint[]
  /** The scope, as asked (`fleet`, `env:<env>` or `bot:<id>`). */
  scope: string
  /** Interval length, ms. */
  step_ms: number
  /** To (exclusive), unix ms. */
  to: number
  /** The whole range (`drawdown_usd`: the maximum drawdown). */
  totals: PnlSums
}

/** Sums over trades: one interval's or the whole range's. */
export type PnlSums = {
  /** The deepest fall of the cumulative PnL (from 0 at `from`) below its running peak (0 included), at any trade within, USD. */
  drawdown_usd: number
  /** Routes that failed at fill time (no output, no PnL). */
  failed: number
  /** Fees booked against it, USD. */
  fee_usd: number
  /** Trades with a loss. */
  losses: number
  /** Profit, USD (fees already taken off). */
  pnl_usd: number
  /** Trades (failed ones included). */
  trades: number
  /** Inputs traded, USD. */
  volume_usd: number
  /** `wins / trades` (`null`: no trades). */
  win_rate: (number | null)
  /** Trades with a profit. */
  wins: number
}

/** `PUT /api/v1/auth/users/{name}`. */
export type PutUser = {
  /** The environments a `viewer` or `operator` reaches (left out: all); their sessions carry it. */
  environments?: (Environment[] | null)
  /** 12 to 1,024 characters. */
  password: string
  /** `viewer`, `operator` or `admin`. */
  role: "viewer" | "operator" | "admin"
}

/** `GET /api/v1/latency`. */
export type RangeQuery = {
  /** Range start, unix ms (default: 5 min before `to`). */
  from?: (number | null)
  /** `fleet` (default), `bot:<id>`, `type:<bot_type>`, `env:<environment>` or `node:<id>`. A token scoped to environments reads `env:<e>` of its own and `bot:<id>` of its bots. */
  scope?: string
  /** Width of a point (ms): a multiple of the resolution, 1 s within the 1 s windows' reach, 1 min beyond it (default: the range in about 300 points). */
  step_ms?: (number | null)
  /** Range end, unix ms, exclusive (default: now); after `from`. */
  to?: (number | null)
}

/** A recording a node holds in `DATA/recordings/`, as its agent lists it. */
export type RecordingFile = {
  /** Its size, bytes (at most 2^53 - 1). */
  bytes: number
  /** When it was last written, unix ms (at most 8.64e15, the latest a JavaScript `Date` holds). */
  modified_ms: number
  /** Its file name (what a backtest's `recording` names). */
  name: string
}

/** `POST /api/v1/agent/report`: every bot of a node. */
export type Report = {
  /** Its bots, each once (at most [`REPORT_BOTS_MAX`]). */
  bots: BotReport[]
  /** Node id. */
  node_id: NodeId
  /** The recordings the node holds for backtests, its newest first (at most [`RECORDINGS_MAX`](crate::backtests::RECORDINGS_MAX)): sent when they changed and once a minute (absent: unchanged since, or an agent before it). */
  recordings?: (RecordingFile[] | null)
}

/** The answer to a report. */
export type ReportAck = {
  /** Bots taken. */
  accepted: number
  /** Bots left out because the gateway does not know them. */
  unknown: string[]
}

/** A bot's latest report as stored. */
export type ReportRow = {
  /** Its counters as the bot wrote them (`null` when it did not answer). */
  metrics: unknown
  /** The node that reported it. */
  node_id: string
  /** When, unix ms. */
  reported_at: number
  /** Its status as the node saw it. */
  status: NodeBotStatus
}

/** Access level of a token. */
export type Role = ("agent" | "viewer" | "operator" | "admin")

/** `?version=N`, required: the version to roll back to. */
export type RollbackQuery = {
  /** A configuration version (from 1). */
  version: number
}

/** A rollout and its steps. */
export type Rollout = {
  /** Started, unix ms. */
  created_at: number
  /** Who started it. */
  created_by: string
  /** Bots of one node restarted at once. */
  max_unavailable: number
  /** Whether the first failed step pauses it. */
  pause_on_failure: boolean
  /** Why it paused or failed. */
  reason?: (string | null)
  /** Id. */
  rollout_id: string
  /** `fleet`, `node:<id>`, `type:<bot_type>` or `env:<environment>`. */
  scope: string
  /** Where it is. */
  state: RolloutState
  /** One per bot, in the order they are walked. */
  steps: RolloutStep[]
  /** `restart`, or the version every bot in scope ends up running. */
  target: string
  /** Last changed, unix ms. */
  updated_at: number
}

/** `GET /api/v1/rollouts`. */
export type RolloutList = {
  /** The latest rollouts, newest first (at most 20; the store keeps the newest 200). */
  rollouts: Rollout[]
}

/** Where a rollout is. */
export type RolloutState = ("running" | "paused" | "aborted" | "completed" | "failed")

/** One step: a bot, or a node's agent. */
export type RolloutStep = {
  /** The bot (empty for the agent's step). */
  bot_id: string
  /** When it ended, unix ms. */
  finished_at?: (number | null)
  /** The build the bot ran before. */
  from?: (Build | null)
  /** When its last handover before the step ended (its node's clock, unix ms): a handover reported with another time is the step's, whatever the skew between the clocks. */
  from_handover_at?: (number | null)
  /** Its process before (to see a restart that reports no handover: `--cold-restarts`). */
  from_pid?: (number | null)
  /** The restart generation the step asked for: only what the node did once it applied that one is the step's (not a crash restart, nor a handover for another reason). */
  generation?: (number | null)
  /** A bot or the node's agent. */
  kind: StepKind
  /** What happened, in words. */
  message?: (string | null)
  /** The node. */
  node_id: string
  /** When its restart was requested, unix ms. */
  started_at?: (number | null)
  /** Where it is. */
  state: StepState
  /** The build a version step must end on (the node's installed one when it started). */
  target_build?: (Build | null)
  /** The build it runs after. */
  to?: (Build | null)
}

/** A rule as the API takes it. Unknown fields are refused by [`RuleKind`], which receives every field but these. */
export type Rule = ({
  /** Silence that counts as down. */
  after_s: number
  kind: "bot_down"
} | {
  kind: "bot_error"
} | {
  kind: "bot_unhealthy"
  /** How long a replacement for failed health checks keeps the alert up. */
  within_s: number
} | {
  /** Silence that counts as lost. */
  after_s: number
  kind: "node_lost"
} | {
  kind: "daily_loss"
  /** Loss in USD that fires the alert without waiting for the bot's own limit. */
  limit_usd: (number | null)
} | {
  /** Age that counts as stale. */
  after_ms: number
  kind: "feed_stale"
} | {
  /** Only routes that failed at fill time. */
  failures_only: boolean
  kind: "trade"
  /** Only fills whose PnL is at least this in magnitude, USD. */
  min_abs_pnl_usd?: (number | null)
} | {
  /** Budget in ns. */
  budget_ns: number
  /** Seconds the p99 must stay above the budget (1 to 900: the p99s kept). */
  for_s?: (number | null)
  kind: "p99_above"
  /** Stage name (decoded, detected, decided). */
  stage: string
}) & {
  /** The chat a `telegram` rule's messages go to (its bot API's `chat_id`). */
  chat_id?: (string | null)
  /** How its webhook bodies are shaped. */
  format: WebhookFormat
  /** Id. */
  rule_id: string
  /** What it watches: `fleet` (the default), `env:<environment>`, `type:<bot_type>` or `bot:<bot_id>`. */
  scope: string
  /** Webhook URL (`http://host:port/path` or `https://…`), or empty for none. */
  webhook: string
}

/** What a rule watches. */
export type RuleBody = ({
  /** Silence that counts as down. */
  after_s: number
  /** The chat a `telegram` rule's messages go to (its bot API's `chat_id`). */
  chat_id?: (string | null)
  /** How its webhook bodies are shaped. */
  format?: WebhookFormat
  kind: "bot_down"
  /** What it watches: `fleet` (the default), `env:<environment>`, `type:<bot_type>` or `bot:<bot_id>`. */
  scope?: string
  /** Webhook URL (`http://…` or `https://…`, printable ASCII), or empty for none. */
  webhook?: string
} | {
  /** The chat a `telegram` rule's messages go to (its bot API's `chat_id`). */
  chat_id?: (string | null)
  /** How its webhook bodies are shaped. */
  format?: WebhookFormat
  kind: "bot_error"
  /** What it watches: `fleet` (the default), `env:<environment>`, `type:<bot_type>` or `bot:<bot_id>`. */
  scope?: string
  /** Webhook URL (`http://…` or `https://…`, printable ASCII), or empty for none. */
  webhook?: string
} | {
  /** The chat a `telegram` rule's messages go to (its bot API's `chat_id`). */
  chat_id?: (string | null)
  /** How its webhook bodies are shaped. */
  format?: WebhookFormat
  kind: "bot_unhealthy"
  /** What it watches: `fleet` (the default), `env:<environment>`, `type:<bot_type>` or `bot:<bot_id>`. */
  scope?: string
  /** Webhook URL (`http://…` or `https://…`, printable ASCII), or empty for none. */
  webhook?: string
  /** How long a replacement for failed health checks keeps the alert up. */
  within_s: number
} | {
  /** Silence that counts as lost. */
  after_s: number
  /** The chat a `telegram` rule's messages go to (its bot API's `chat_id`). */
  chat_id?: (string | null)
  /** How its webhook bodies are shaped. */
  format?: WebhookFormat
  kind: "node_lost"
  /** What it watches: `fleet` (the default), `env:<environment>`, `type:<bot_type>` or `bot:<bot_id>`. */
  scope?: string
  /** Webhook URL (`http://…` or `https://…`, printable ASCII), or empty for none. */
  webhook?: string
} | {
  /** The chat a `telegram` rule's messages go to (its bot API's `chat_id`). */
  chat_id?: (string | null)
  /** How its webhook bodies are shaped. */
  format?: WebhookFormat
  kind: "daily_loss"
  /** Loss in USD that fires the alert without waiting for the bot's own limit. */
  limit_usd?: (number | null)
  /** What it watches: `fleet` (the default), `env:<environment>`, `type:<bot_type>` or `bot:<bot_id>`. */
  scope?: string
  /** Webhook URL (`http://…` or `https://…`, printable ASCII), or empty for none. */
  webhook?: string
} | {
  /** Age that counts as stale. */
  after_ms: number
  /** The chat a `telegram` rule's messages go to (its bot API's `chat_id`). */
  chat_id?: (string | null)
  /** How its webhook bodies are shaped. */
  format?: WebhookFormat
  kind: "feed_stale"
  /** What it watches: `fleet` (the default), `env:<environment>`, `type:<bot_type>` or `bot:<bot_id>`. */
  scope?: string
  /** Webhook URL (`http://…` or `https://…`, printable ASCII), or empty for none. */
  webhook?: string
} | {
  /** The chat a `telegram` rule's messages go to (its bot API's `chat_id`). */
  chat_id?: (string | null)
  /** Only routes that failed at fill time. */
  failures_only?: boolean
  /** How its webhook bodies are shaped. */
  format?: WebhookFormat
  kind: "trade"
  /** Only fills whose PnL is at least this in magnitude, USD. */
  min_abs_pnl_usd?: (number | null)
  /** What it watches: `fleet` (the default), `env:<environment>`, `type:<bot_type>` or `bot:<bot_id>`. */
  scope?: string
  /** Webhook URL (`http://…` or `https://…`, printable ASCII), or empty for none. */
  webhook?: string
} | {
  /** Budget in ns. */
  budget_ns: number
  /** The chat a `telegram` rule's messages go to (its bot API's `chat_id`). */
  chat_id?: (string | null)
  /** Seconds the p99 must stay above the budget (1 to 900: the p99s kept). */
  for_s?: (number | null)
  /** How its webhook bodies are shaped. */
  format?: WebhookFormat
  kind: "p99_above"
  /** What it watches: `fleet` (the default), `env:<environment>`, `type:<bot_type>` or `bot:<bot_id>`. */
  scope?: string
  /** Stage name (decoded, detected, decided). */
  stage: string
  /** Webhook URL (`http://…` or `https://…`, printable ASCII), or empty for none. */
  webhook?: string
})

/** `GET /api/v1/alerts/rules`. */
export type RuleList = {
  /** Every rule. */
  rules: Rule[]
}

/** `PUT /api/v1/bots/{bot_id}/replicas`: how many instances the bot runs. */
export type ScaleBody = {
  /** 1 (the bot alone) to 16. */
  replicas: number
}

/** `PUT /api/v1/bots/{bot_id}/replicas`: the bot's instances after the change. */
export type Scaled = {
  /** Replicas created (waiting for placement, or placed already). */
  added: string[]
  /** The bot. */
  bot_id: string
  /** The bot and its replicas as stored, the bot first. */
  instances: BotRow[]
  /** Replicas deleted. */
  removed: string[]
  /** Its instances now. */
  replicas: number
}

/** `POST /api/v1/auth/login`. */
export type Session = {
  /** The environments the session reaches (`null`: all). */
  environments: (Environment[] | null)
  /** When the token stops working, unix ms. */
  expires_at: number
  /** User name. */
  name: string
  /** The user's role. */
  role: Role
  /** The session token (`Authorization: Bearer …`). */
  token: string
}

/** One stage over a range. */
export type StageSeries = {
  /** A point per step. */
  points: LatencyPoint[]
  /** The whole range merged. */
  total: Percentiles
}

/** What a step replaces. */
export type StepKind = ("bot" | "agent")

/** Where one bot's step is. */
export type StepState = ("pending" | "in_progress" | "done" | "failed" | "skipped")

/** What a client sends on either stream: topics to add and to drop (`fleet`, `bot:<bot_id>`, `node:<node_id>`; at most 64 held). */
export type StreamCommand = {
  /** Topics to add. */
  subscribe?: string[]
  /** Topics to drop. */
  unsubscribe?: string[]
}

/** What went wrong on a stream (the socket stays open, except after `unauthenticated`). */
export type StreamError = {
  /** The error. */
  error: StreamErrorBody
}

/** [`StreamError`]'s body. */
export type StreamErrorBody = {
  /** `bad_message`, `bad_topic`, `too_many_topics`, `topic_unavailable`, `store`, `lagged` or `unauthenticated`. */
  code: string
  /** What, for a person. */
  message: string
}

/** `POST /api/v1/auth/tokens`: the only time the token is shown. */
export type TokenCreated = {
  /** The environments it reaches (`null`: all). */
  environments: (Environment[] | null)
  /** Name. */
  name: string
  /** The node an agent token is bound to. */
  node_id: (string | null)
  /** Role. */
  role: Role
  /** The token. */
  token: string
}

/** `GET /api/v1/auth/tokens`. */
export type TokenList = {
  /** Every token's name and role (never the token). */
  tokens: TokenRow[]
}

/** A token as listed (never the token or its hash). */
export type TokenRow = {
  /** Created, unix ms. */
  created_at: number
  /** The environments it reaches (`null`: all). */
  environments: (Environment[] | null)
  /** When it stops working, unix ms (`null`: never). */
  expires_at: (number | null)
  /** Name (`session:<user>` for a login session). */
  name: string
  /** The node an agent token is bound to. */
  node_id?: (string | null)
  /** Role. */
  role: Role
}

/** `DELETE /api/v1/auth/tokens/{name}`. */
export type TokensRevoked = {
  /** Name. */
  name: string
  /** Tokens revoked. */
  revoked: number
}

/** A topic's data. */
export type TopicData = (FleetData | BotData | NodeData | RolloutList)

/** A topic's metrics, sent at once on subscription and then every second. */
export type TopicMessage = {
  /** When, unix ms. */
  at: number
  /** Its metrics. */
  data: TopicData
  /** The topic. */
  topic: string
}

/** One fill a bot booked, as its journal (`fills.jsonl`) holds it and its agent reports it. */
export type TradeFill = {
  /** Input, token units. */
  amount_in: number
  /** Output, token units (`null`: the route failed at fill time). */
  amount_out?: (number | null)
  /** Booked at, unix ms. */
  at_ms: number
  /** The route (the strategy's cycle number). */
  cycle?: number
  /** Output the programs quoted at decision time, token units. */
  expected_out?: number
  /** The route cost booked against the profit (a flash loan's fee; pool fees are inside the amounts), token units. */
  fee?: number
  /** The fee in USD. */
  fee_usd?: number
  /** Decision to fill, µs. */
  latency_us?: number
  /** Profit, token units. */
  pnl: number
  /** Profit, USD at the fill's reference prices. */
  pnl_usd: number
  /** The route's name (`SOL>USDC>SOL via raydium-v4,whirlpool`), when the bot named it. */
  route?: (string | null)
  /** The bot's sequence number of it, from 1, never reused. */
  seq: number
  /** The live transaction's signature, base58 (absent for a paper fill). */
  signature?: (string | null)
  /** Newest slot among the route's pool states at decision time. */
  slot?: number
  /** The token the round trip started and ended in. */
  token: string
  /** The input in USD at the fill's reference prices (the trade's volume; 0 for a route that failed). */
  volume_usd?: number
}

/** `GET /api/v1/trades`: a page of trades, newest first. */
export type TradeList = {
  /** The next page's `cursor` (`null`: this was the last). */
  next_cursor: (string | null)
  /** The trades. */
  trades: TradeRow[]
}

/** `GET /api/v1/trades`: which trades, newest first. */
export type TradeQuery = {
  /** One bot's. */
  bot?: (string | null)
  /** The previous page's `next_cursor`. */
  cursor?: (string | null)
  /** `dev`, `test`, `prod` or several joined with commas. */
  env?: (string | null)
  /** Booked at or after, unix ms. */
  from?: (number | null)
  /** At most this many (default 100, at most 1,000). */
  limit?: (number | null)
  /** Booked before, unix ms. */
  to?: (number | null)
}

/** One stored trade. */
export type TradeRow = {
  /** Input, token units. */
  amount_in: number
  /** Output, token units (`null`: the route failed at fill time). */
  amount_out: (number | null)
  /** Booked at, unix ms. */
  at_ms: number
  /** The bot that booked it. */
  bot_id: string
  /** The route (the strategy's cycle number). */
  cycle: number
  /** The bot's environment. */
  environment: Environment
  /** Output quoted at decision time, token units. */
  expected_out: number
  /** The route cost booked against the profit (a flash loan's fee; pool fees are inside the amounts), token units. */
  fee: number
  /** The fee in USD. */
  fee_usd: number
  /** Decision to fill, µs. */
  latency_us: number
  /** The node that reported it. */
  node_id: string
  /** Profit, token units. */
  pnl: number
  /** Profit, USD. */
  pnl_usd: number
  /** The route's name (`SOL>USDC>SOL via raydium-v4,whirlpool`). */
  route: (string | null)
  /** The bot's sequence number of it. */
  seq: number
  /** The live transaction's signature, base58 (`null`: a paper fill). */
  signature: (string | null)
  /** Newest slot among the route's pool states at decision time. */
  slot: number
  /** The token the round trip started and ended in. */
  token: string
  /** The input in USD (the trade's volume; 0 for a route that failed). */
  volume_usd: number
}

/** `GET /api/v1/auth/users`. */
export type UserList = {
  /** Every user (never a hash). */
  users: UserRow[]
}

/** A user as listed (never the hash). */
export type UserRow = {
  /** Created, unix ms. */
  created_at: number
  /** The environments the user reaches (`null`: all). */
  environments: (Environment[] | null)
  /** Name. */
  name: string
  /** Role. */
  role: Role
  /** Last changed, unix ms. */
  updated_at: number
}

/** `?version=N`. */
export type VersionQuery = {
  /** A configuration version (from 1; the latest when absent). */
  version?: (number | null)
}

/** How a webhook body is shaped (see [`format::body`]). */
export type WebhookFormat = ("generic" | "slack" | "discord" | "telegram")

/** A longer failover window a node keeps for a while. */
export type WindowFloor = {
  /** Until when, unix ms. */
  until: number
  /** The window, ms. */
  window_ms: number
}

/** Every REST route: its path parameters, query string, request body and answer. */
export interface Routes {
  'POST /api/v1/agent/backtests/{backtest_id}': {
    params: { backtest_id: string }
    query: Record<string, never>
    body: BacktestResult
    answer: BacktestTaken
  }
  'GET /api/v1/agent/desired': {
    params: Record<string, never>
    query: { index?: number; node_id: string; wait_ms?: number }
    body: never
    answer: Desired
  }
  'POST /api/v1/agent/heartbeat': {
    params: Record<string, never>
    query: Record<string, never>
    body: NodeRef
    answer: NodeAck
  }
  'POST /api/v1/agent/register': {
    params: Record<string, never>
    query: Record<string, never>
    body: NodeInfo
    answer: NodeAck
  }
  'POST /api/v1/agent/report': {
    params: Record<string, never>
    query: Record<string, never>
    body: Report
    answer: ReportAck
  }
  'GET /api/v1/alerts': {
    params: Record<string, never>
    query: { env?: string }
    body: never
    answer: AlertList
  }
  'POST /api/v1/alerts/evaluate': {
    params: Record<string, never>
    query: Record<string, never>
    body: never
    answer: Evaluation
  }
  'GET /api/v1/alerts/rules': {
    params: Record<string, never>
    query: Record<string, never>
    body: never
    answer: RuleList
  }
  'PUT /api/v1/alerts/rules/{rule_id}': {
    params: { rule_id: string }
    query: Record<string, never>
    body: RuleBody
    answer: Rule
  }
  'POST /api/v1/auth/login': {
    params: Record<string, never>
    query: Record<string, never>
    body: Login
    answer: Session
  }
  'GET /api/v1/auth/me': {
    params: Record<string, never>
    query: Record<string, never>
    body: never
    answer: NameRole
  }
  'GET /api/v1/auth/tokens': {
    params: Record<string, never>
    query: Record<string, never>
    body: never
    answer: TokenList
  }
  'POST /api/v1/auth/tokens': {
    params: Record<string, never>
    query: Record<string, never>
    body: NewToken
    answer: TokenCreated
  }
  'DELETE /api/v1/auth/tokens/{name}': {
    params: { name: string }
    query: Record<string, never>
    body: never
    answer: TokensRevoked
  }
  'GET /api/v1/auth/users': {
    params: Record<string, never>
    query: Record<string, never>
    body: never
    answer: UserList
  }
  'DELETE /api/v1/auth/users/{name}': {
    params: { name: string }
    query: Record<string, never>
    body: never
    answer: null
  }
  'PUT /api/v1/auth/users/{name}': {
    params: { name: string }
    query: Record<string, never>
    body: PutUser
    answer: NameRole
  }
  'GET /api/v1/backtests': {
    params: Record<string, never>
    query: { env?: string }
    body: never
    answer: BacktestList
  }
  'POST /api/v1/backtests': {
    params: Record<string, never>
    query: Record<string, never>
    body: NewBacktest
    answer: BacktestRow
  }
  'DELETE /api/v1/backtests/{backtest_id}': {
    params: { backtest_id: string }
    query: Record<string, never>
    body: never
    answer: BacktestRemoved
  }
  'GET /api/v1/backtests/{backtest_id}': {
    params: { backtest_id: string }
    query: Record<string, never>
    body: never
    answer: BacktestRow
  }
  'GET /api/v1/bots': {
    params: Record<string, never>
    query: { env?: string }
    body: never
    answer: BotList
  }
  'POST /api/v1/bots': {
    params: Record<string, never>
    query: Record<string, never>
    body: CreateBot
    answer: BotCreated
  }
  'DELETE /api/v1/bots/{bot_id}': {
    params: { bot_id: string }
    query: Record<string, never>
    body: never
    answer: null
  }
  'GET /api/v1/bots/{bot_id}': {
    params: { bot_id: string }
    query: Record<string, never>
    body: never
    answer: BotWithConfig
  }
  'PUT /api/v1/bots/{bot_id}': {
    params: { bot_id: string }
    query: Record<string, never>
    body: ConfigBody
    answer: ConfigUpdated
  }
  'GET /api/v1/bots/{bot_id}/latency': {
    params: { bot_id: string }
    query: Record<string, never>
    body: never
    answer: BotLatency
  }
  'GET /api/v1/bots/{bot_id}/metrics': {
    params: { bot_id: string }
    query: Record<string, never>
    body: never
    answer: BotMetricsBody
  }
  'PUT /api/v1/bots/{bot_id}/replicas': {
    params: { bot_id: string }
    query: Record<string, never>
    body: ScaleBody
    answer: Scaled
  }
  'GET /api/v1/bots/{bot_id}/status': {
    params: { bot_id: string }
    query: Record<string, never>
    body: never
    answer: BotStatusBody
  }
  'POST /api/v1/bots/{bot_id}/{action}': {
    params: { bot_id: string; action: BotAction }
    query: Record<string, never>
    body: never
    answer: ActionDone
  }
  'GET /api/v1/configs': {
    params: Record<string, never>
    query: { env?: string }
    body: never
    answer: ConfigList
  }
  'POST /api/v1/configs': {
    params: Record<string, never>
    query: Record<string, never>
    body: ConfigBody
    answer: ConfigCreated
  }
  'GET /api/v1/configs/schemas/{bot_type}': {
    params: { bot_type: BotType }
    query: Record<string, never>
    body: never
    answer: Record<string, unknown>
  }
  'GET /api/v1/configs/templates/{bot_type}': {
    params: { bot_type: BotType }
    query: Record<string, never>
    body: never
    answer: BotConfig
  }
  'POST /api/v1/configs/validate': {
    params: Record<string, never>
    query: Record<string, never>
    body: ConfigBody
    answer: ConfigChecked
  }
  'GET /api/v1/configs/{config_id}': {
    params: { config_id: string }
    query: { version?: number }
    body: never
    answer: ConfigVersion
  }
  'PUT /api/v1/configs/{config_id}': {
    params: { config_id: string }
    query: Record<string, never>
    body: BotConfig
    answer: ConfigUpdated
  }
  'POST /api/v1/configs/{config_id}/rollback': {
    params: { config_id: string }
    query: { version: number }
    body: never
    answer: ConfigUpdated
  }
  'GET /api/v1/latency': {
    params: Record<string, never>
    query: { from?: number; scope?: string; step_ms?: number; to?: number }
    body: never
    answer: LatencyRange
  }
  'GET /api/v1/nodes': {
    params: Record<string, never>
    query: { env?: string }
    body: never
    answer: NodeList
  }
  'GET /api/v1/openapi.json': {
    params: Record<string, never>
    query: Record<string, never>
    body: never
    answer: Record<string, unknown>
  }
  'GET /api/v1/pnl': {
    params: Record<string, never>
    query: { from?: number; scope?: string; step?: string; to?: number }
    body: never
    answer: PnlReport
  }
  'GET /api/v1/rollouts': {
    params: Record<string, never>
    query: Record<string, never>
    body: never
    answer: RolloutList
  }
  'POST /api/v1/rollouts': {
    params: Record<string, never>
    query: Record<string, never>
    body: NewRollout
    answer: Rollout
  }
  'GET /api/v1/rollouts/{rollout_id}': {
    params: { rollout_id: string }
    query: Record<string, never>
    body: never
    answer: Rollout
  }
  'POST /api/v1/rollouts/{rollout_id}/abort': {
    params: { rollout_id: string }
    query: Record<string, never>
    body: never
    answer: Rollout
  }
  'POST /api/v1/rollouts/{rollout_id}/pause': {
    params: { rollout_id: string }
    query: Record<string, never>
    body: never
    answer: Rollout
  }
  'POST /api/v1/rollouts/{rollout_id}/resume': {
    params: { rollout_id: string }
    query: Record<string, never>
    body: never
    answer: Rollout
  }
  'GET /api/v1/system/audit': {
    params: Record<string, never>
    query: Record<string, never>
    body: never
    answer: AuditList
  }
  'POST /api/v1/system/emergency-stop': {
    params: Record<string, never>
    query: Record<string, never>
    body: never
    answer: EmergencyStop
  }
  'GET /api/v1/system/health': {
    params: Record<string, never>
    query: Record<string, never>
    body: never
    answer: HealthBody
  }
  'GET /api/v1/system/logs/{bot_id}': {
    params: { bot_id: string }
    query: { filter?: string; tail?: number }
    body: never
    answer: BotLogs
  }
  'GET /api/v1/system/metrics': {
    params: Record<string, never>
    query: { bot_type?: string; env?: string; node_id?: string }
    body: never
    answer: FleetMetrics
  }
  'GET /api/v1/trades': {
    params: Record<string, never>
    query: { bot?: string; cursor?: string; env?: string; from?: number; limit?: number; to?: number }
    body: never
    answer: TradeList
  }
}
