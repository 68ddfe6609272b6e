// What bots publish as `outputs` in their status (`NodeBotStatus.outputs`, free-form JSON that
// the gateway passes through): one key per kind of bot, written in bots/src/bot/worker.rs.
// These describe the current bots; older or newer bots may leave fields out, so the panels
// read them defensively.

import { isRecord } from './api'

/** `outputs.market` of a real_time_dashboard bot (bots/src/dashboard.rs, `publish`). */
export interface MarketView {
  pairs: MarketPair[]
  /** Best round trips, most profitable first. */
  opportunities: MarketOpportunity[]
  /** Pairs whose spread is above the alert threshold. */
  alerts: MarketAlert[]
  /** Pool updates applied. */
  updates: number
}

export interface MarketPair {
  pair: string
  /** Venue → mid price. */
  quotes: Partial<Record<string, number>>
  /** Spread across venues (`null` with fewer than two quotes). */
  spread_bps: number | null
  liquidity_usd: number
  /** [unix ms, median mid price]. */
  series: [number, number][]
}

export interface MarketOpportunity {
  pair: string
  /** e.g. `buy SOL on Orca, sell on Raydium`. */
  route: string
  dexes: string[]
  /** e.g. `12.3456 USDC`. */
  size: string
  profit_bps: number
  profit_usd: number
}

export interface MarketAlert {
  pair: string
  kind: string
  spread_bps: number
  threshold_bps: number
  /** unix ms. */
  since: number
  message: string
}

/** `outputs.portfolio` of a portfolio_manager bot (bots/src/portfolio.rs, `publish`). */
export interface PortfolioBook {
  base_currency: string
  total_value_usd: number
  realised_pnl_usd: number
  realised_today_usd: number
  unrealised_pnl_usd: number
  balances: PortfolioBalance[]
  /** Bot id → what its fills added up to. */
  bots: Partial<Record<string, PortfolioBotBook>>
  alerts: PortfolioAlert[]
  /** The rebalancing plan. */
  plan: PlanTrade[]
  /** When the plan was made, unix ms. */
  plan_at: number | null
  malformed_journal_lines: number
}

export interface PortfolioBalance {
  token: string
  quantity: number
  price_usd: number | null
  value_usd: number
  /** Share of the total value, 0..1. */
  weight: number
  /** Target share, 0..1. */
  target: number
}

export interface PortfolioBotBook {
  fills: number
  failed: number
  realised_usd: number
  /** Token → net quantity change. */
  positions: Partial<Record<string, number>>
}

export type PortfolioAlert =
  | { kind: 'exposure'; token: string; weight_pct: number; message: string }
  | { kind: 'daily_loss'; realised_today_usd: number; message: string }

/** One trade of the rebalancing plan: routed (`route`, `expected_out`) or not (`error`). */
export interface PlanTrade {
  sell: string
  buy: string
  amount: number
  value_usd: number
  /** Venues of the route, `null` when no route fills the size. */
  route: string[] | null
  expected_out?: number
  error?: string
}

/** `outputs.ml` of an ml_analytics bot (bots/src/ml/mod.rs). */
export interface MlView {
  pairs: MlPair[]
}

export interface MlPair {
  pair: string
  samples: number
  mid: number | null
  /** Sample count the models were last trained at (`null` before the first training). */
  trained_at_sample: number | null
  prediction: MlPrediction | null
  regime: 'calm' | 'normal' | 'volatile' | null
  evaluation: WalkForward | null
}

export interface MlPrediction {
  horizon_minutes: number
  /** The ensemble's predicted return. */
  return_bps: number
  lstm_bps: number | null
  random_forest_bps: number | null
  linear_bps: number | null
  confidence: number
  signal: 'none' | 'up' | 'down'
}

/** How one model or forecast scored in the walk-forward evaluation. */
export interface ModelScore {
  n: number
  rmse_bps: number
  direction_hit_rate: number
}

/** The models scored (bots/src/ml/eval.rs, `walk_forward`). */
export const SCORED = [
  'lstm',
  'random_forest',
  'linear',
  'ensemble',
  'ensemble_confident',
  'naive_zero_return',
  'naive_momentum',
] as const

export type Scored = (typeof SCORED)[number]

export type WalkForward = {
  samples: number
  rows: number
  folds: number
  horizon_minutes: number
} & Record<Scored, ModelScore>

/** `outputs.cross_chain` of a cross_chain_arbitrage bot (bots/src/cross_chain.rs, `publish`). */
export interface CrossChainView {
  pairs: CrossChainPair[]
  inventory: {
    solana: Partial<Record<string, number>>
    venue: Partial<Record<string, number>>
    in_transit: Partial<Record<string, number>>
  }
  /** Token → inventory drift between the sides, percent. */
  drift_pct: Partial<Record<string, number>>
  transfers: BridgeTransfer[]
  /** The latest trades, newest first. */
  trades: CrossChainTrade[]
  trade_count: number
  realised_usd: number
}

export interface CrossChainPair {
  pair: string
  /** The external venue's quote (`null` before the first). */
  venue: { bid: number; ask: number; ts_ms: number; age_ms: number } | null
  solana: { mid: number; pool: string | null } | null
  gap_bps: { buy_solana_sell_venue: number | null; buy_venue_sell_solana: number | null } | null
}

export interface BridgeTransfer {
  token: string
  from: string
  to: string
  amount: number
  fee: number
  started_ms: number
  arrives_ms: number
  state: 'in flight' | 'arrived'
}

export interface CrossChainTrade {
  at: number
  pair: string
  way: string
  gap_bps: number
  pnl_usd: number
}

/** A bot's `outputs`: at most one of these, by its type. */
export interface BotOutputs {
  market?: MarketView
  portfolio?: PortfolioBook
  ml?: MlView
  cross_chain?: CrossChainView
  /** A live (not paper) runner's state. */
  live?: unknown
}

/** The outputs in a reported status's `outputs` (none when it is not an object). */
export function outputsOf(outputs: unknown): BotOutputs {
  if (!isRecord(outputs)) return {}
  const pick = <K extends keyof BotOutputs>(k: K): BotOutputs[K] | undefined =>
    isRecord(outputs[k]) ? (outputs[k] as BotOutputs[K]) : undefined
  return { market: pick('market'), portfolio: pick('portfolio'), ml: pick('ml'), cross_chain: pick('cross_chain'), live: outputs.live }
}
