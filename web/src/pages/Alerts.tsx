import { useState } from 'react'
import { call, can, type Role } from '../api'
import { Table, type Column } from '../components/Table'
import type { AlertRow, Rule, RuleBody } from '../generated/api'
import { useEnv } from '../env'
import { useApi } from '../hooks'
import { EnvPill } from './Fleet'

type RuleKind = RuleBody['kind']

/** Parameters each rule kind takes (name, unit hint, required), as the form shows them. */
const KINDS: Record<RuleKind, [string, string, boolean][]> = {
  bot_down: [['after_s', 's', true]],
  bot_error: [],
  bot_unhealthy: [['within_s', 's', true]],
  node_lost: [['after_s', 's', true]],
  p99_above: [
    ['stage', 'decoded|detected|decided|executed', true],
    ['budget_ns', 'ns', true],
    ['for_s', 's', false],
  ],
  daily_loss: [['limit_usd', 'USD', false]],
  feed_stale: [['after_ms', 'ms', true]],
  trade: [
    ['min_abs_pnl_usd', 'USD', false],
    ['failures_only', 'true|false', false],
  ],
}

/** Webhook body shapes (`chat_id`: Telegram's only). */
const FORMATS = ['generic', 'slack', 'discord', 'telegram'] as const
type Format = (typeof FORMATS)[number]

export function Alerts({ role }: { role: Role }) {
  const env = useEnv()
  const alertList = useApi('GET /api/v1/alerts', env ? { query: { env } } : {}, { intervalMs: 3_000 })
  const ruleList = useApi('GET /api/v1/alerts/rules', {}, { intervalMs: 3_000 })
  const alerts = alertList.data?.alerts ?? []
  const rules = ruleList.data?.rules ?? []
  const error = alertList.error || ruleList.error
  const reload = () => {
    void alertList.reload()
    void ruleList.reload()
  }
  const active = alerts.filter((a) => a.state === 'active')
  const past = alerts.filter((a) => a.state !== 'active')
  return (
    <main>
      <header className="page-head">
        <h2>Alerts</h2>
        <span className={`pill ${active.length ? 'bad' : 'ok'}`} data-testid="active-count">
          {active.length} active
        </span>
      </header>
      {error && <div className="error">{error}</div>}
      <h3>Active</h3>
      <AlertTable rows={active} />
      <h3>History</h3>
      <AlertTable rows={past.slice(0, 100)} />
      <h3>Rules</h3>
      <Table testId="rules" columns={RULE_COLUMNS} rows={rules} rowKey={(r) => r.rule_id} />
      {can(role, 'admin') && <RuleForm onSaved={reload} />}
    </main>
  )
}

/** A rule's kind-specific parameters as `name=value, …`. */
function ruleParams(r: Rule): string {
  const { rule_id: _id, kind: _kind, webhook: _webhook, scope: _scope, format: _format, chat_id: _chat, ...params } = r
  return (
    Object.entries(params)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(', ') || '—'
  )
}

const RULE_COLUMNS: Column<Rule>[] = [
  { header: 'Rule', cell: (r) => r.rule_id },
  { header: 'Kind', cell: (r) => r.kind },
  { header: 'Scope', cell: (r) => r.scope },
  { header: 'Parameters', cell: ruleParams },
  { header: 'Webhook', cell: (r) => r.webhook || '—' },
  { header: 'Format', cell: (r) => (r.chat_id ? `${r.format ?? 'generic'} → ${r.chat_id}` : (r.format ?? 'generic')) },
]

const ALERT_COLUMNS: Column<AlertRow>[] = [
  { header: 'Rule', cell: (a) => a.rule_id },
  { header: 'Target', cell: (a) => a.target },
  { header: 'Env', cell: (a) => (a.environment ? <EnvPill env={a.environment} /> : '—') },
  { header: 'Message', cell: (a) => a.message },
  { header: 'Since', cell: (a) => new Date(a.started_at).toLocaleString() },
  { header: 'Resolved', cell: (a) => (a.resolved_at ? new Date(a.resolved_at).toLocaleString() : '—') },
]

function AlertTable({ rows }: { rows: AlertRow[] }) {
  if (!rows.length) return <p className="muted">None.</p>
  return <Table columns={ALERT_COLUMNS} rows={rows} rowKey={(a) => a.alert_id} />
}

function isRuleKind(k: string): k is RuleKind {
  return Object.hasOwn(KINDS, k)
}

/**
 * The body of `PUT /api/v1/alerts/rules/{rule_id}` from the form's text fields: `kind`,
 * `webhook`, then the kind's parameters (numbers but `stage`; an empty optional one left out).
 * Throws for an empty required one.
 */
function ruleBody(kind: RuleKind, fields: Record<string, string>, webhook: string): RuleBody {
  const text = (name: string): string | undefined => fields[name]?.trim() || undefined
  const num = (name: string): number | undefined => {
    const raw = text(name)
    return raw === undefined ? undefined : Number(raw)
  }
  const need = <T,>(name: string, v: T | undefined): T => {
    if (v === undefined) throw new Error(`${name} is required`)
    return v
  }
  switch (kind) {
    case 'bot_down':
    case 'node_lost':
      return { kind, webhook, after_s: need('after_s', num('after_s')) }
    case 'bot_error':
      return { kind, webhook }
    case 'bot_unhealthy':
      return { kind, webhook, within_s: need('within_s', num('within_s')) }
    case 'p99_above':
      return {
        kind,
        webhook,
        stage: need('stage', text('stage')),
        budget_ns: need('budget_ns', num('budget_ns')),
        for_s: num('for_s'),
      }
    case 'daily_loss':
      return { kind, webhook, limit_usd: num('limit_usd') }
    case 'feed_stale':
      return { kind, webhook, after_ms: need('after_ms', num('after_ms')) }
    case 'trade': {
      const failures = text('failures_only')
      if (failures !== undefined && failures !== 'true' && failures !== 'false') {
        throw new Error('failures_only is true or false')
      }
      return { kind, webhook, min_abs_pnl_usd: num('min_abs_pnl_usd'), failures_only: failures === 'true' }
    }
  }
}

function isFormat(f: string): f is Format {
  return (FORMATS as readonly string[]).includes(f)
}

function RuleForm({ onSaved }: { onSaved: () => void }) {
  const [id, setId] = useState('')
  const [kind, setKind] = useState<RuleKind>('bot_down')
  const [params, setParams] = useState<Record<string, string>>({})
  const [webhook, setWebhook] = useState('')
  const [scope, setScope] = useState('fleet')
  const [format, setFormat] = useState<Format>('generic')
  const [chatId, setChatId] = useState('')
  const [message, setMessage] = useState('')
  const save = async (e: React.FormEvent) => {
    e.preventDefault()
    try {
      await call('PUT /api/v1/alerts/rules/{rule_id}', { params: { rule_id: id }, body: {
          ...ruleBody(kind, params, webhook),
          scope,
          format,
          ...(format === 'telegram' ? { chat_id: chatId.trim() } : {}),
        },
      })
      setMessage(`rule ${id} saved`)
      onSaved()
    } catch (err) {
      setMessage(err instanceof Error ? err.message : String(err))
    }
  }
  return (
    <form className="card" onSubmit={save}>
      <h4>Add or replace a rule</h4>
      <div className="row">
        <label>
          Rule id <input value={id} onChange={(e) => setId(e.target.value)} required />
        </label>
        <label>
          Kind
          <select value={kind} onChange={(e) => isRuleKind(e.target.value) && setKind(e.target.value)}>
            {Object.keys(KINDS).map((k) => (
              <option key={k}>{k}</option>
            ))}
          </select>
        </label>
        {KINDS[kind].map(([name, unit, required]) => (
          <label key={name}>
            {name} ({unit})
            <input
              value={params[name] ?? ''}
              required={required}
              onChange={(e) => setParams({ ...params, [name]: e.target.value })}
            />
          </label>
        ))}
        <label>
          Scope{' '}
          <input
            data-testid="rule-scope"
            placeholder="fleet | env:prod | type:<bot_type> | bot:<id>"
            value={scope}
            onChange={(e) => setScope(e.target.value)}
          />
        </label>
        <label>
          Webhook <input placeholder="http://host:port/path" value={webhook} onChange={(e) => setWebhook(e.target.value)} />
        </label>
        <label>
          Format
          <select data-testid="rule-format" value={format} onChange={(e) => isFormat(e.target.value) && setFormat(e.target.value)}>
            {FORMATS.map((f) => (
              <option key={f}>{f}</option>
            ))}
          </select>
        </label>
        {format === 'telegram' && (
          <label>
            Chat id <input placeholder="-1001234 or @channel" value={chatId} onChange={(e) => setChatId(e.target.value)} required />
          </label>
        )}
        <button className="primary" type="submit">
          Save rule
        </button>
      </div>
      {message && <div className="muted">{message}</div>}
    </form>
  )
}
