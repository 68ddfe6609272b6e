import { useEffect, useState } from 'react'
import { api, ApiError, can, type Role } from '../api'

/** Parameters each rule kind takes (name, unit hint, required). */
const KINDS: Record<string, [string, string, boolean][]> = {
  bot_down: [['after_s', 's', true]],
  bot_error: [],
  node_lost: [['after_s', 's', true]],
  p99_above: [
    ['stage', 'decoded|detected|decided|executed', true],
    ['budget_ns', 'ns', true],
    ['for_s', 's', false],
  ],
  daily_loss: [['limit_usd', 'USD', false]],
  feed_stale: [['after_ms', 'ms', true]],
}

export function Alerts({ role }: { role: Role }) {
  const [alerts, setAlerts] = useState<any[]>([])
  const [rules, setRules] = useState<any[]>([])
  const [error, setError] = useState('')
  const load = () => {
    api('GET', '/api/v1/alerts')
      .then((r) => setAlerts(r.alerts))
      .catch((e) => setError(e.message))
    api('GET', '/api/v1/alerts/rules')
      .then((r) => setRules(r.rules))
      .catch((e) => setError(e.message))
  }
  useEffect(() => {
    load()
    const t = setInterval(load, 3_000)
    return () => clearInterval(t)
  }, [])
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
      <table data-testid="rules">
        <thead>
          <tr>
            <th>Rule</th>
            <th>Kind</th>
            <th>Parameters</th>
            <th>Webhook</th>
          </tr>
        </thead>
        <tbody>
          {rules.map((r) => {
            const { rule_id, kind, webhook, ...params } = r
            return (
              <tr key={rule_id}>
                <td>{rule_id}</td>
                <td>{kind}</td>
                <td>
                  {Object.entries(params)
                    .map(([k, v]) => `${k}=${String(v)}`)
                    .join(', ') || '—'}
                </td>
                <td>{webhook || '—'}</td>
              </tr>
            )
          })}
        </tbody>
      </table>
      {can(role, 'admin') && <RuleForm onSaved={load} />}
    </main>
  )
}

function AlertTable({ rows }: { rows: any[] }) {
  if (!rows.length) return <p className="muted">None.</p>
  return (
    <table>
      <thead>
        <tr>
          <th>Rule</th>
          <th>Target</th>
          <th>Message</th>
          <th>Since</th>
          <th>Resolved</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((a) => (
          <tr key={a.alert_id}>
            <td>{a.rule_id}</td>
            <td>{a.target}</td>
            <td>{a.message}</td>
            <td>{new Date(a.started_at).toLocaleString()}</td>
            <td>{a.resolved_at ? new Date(a.resolved_at).toLocaleString() : '—'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  )
}

function RuleForm({ onSaved }: { onSaved: () => void }) {
  const [id, setId] = useState('')
  const [kind, setKind] = useState('bot_down')
  const [params, setParams] = useState<Record<string, string>>({})
  const [webhook, setWebhook] = useState('')
  const [message, setMessage] = useState('')
  const save = async (e: React.FormEvent) => {
    e.preventDefault()
    const body: Record<string, unknown> = { kind, webhook }
    for (const [name] of KINDS[kind]) {
      const raw = params[name]?.trim()
      if (raw) body[name] = name === 'stage' ? raw : Number(raw)
    }
    try {
      await api('PUT', `/api/v1/alerts/rules/${encodeURIComponent(id)}`, body)
      setMessage(`rule ${id} saved`)
      onSaved()
    } catch (err) {
      setMessage(err instanceof ApiError ? err.message : String(err))
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
          <select value={kind} onChange={(e) => setKind(e.target.value)}>
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
          Webhook <input placeholder="http://host:port/path" value={webhook} onChange={(e) => setWebhook(e.target.value)} />
        </label>
        <button className="primary" type="submit">
          Save rule
        </button>
      </div>
      {message && <div className="muted">{message}</div>}
    </form>
  )
}
