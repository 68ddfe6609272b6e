import { useEffect, useState } from 'react'
import { ApiError, call, can, type Role } from '../api'
import type { BotRow } from '../generated/api'
import { useApi } from '../hooks'

/** The types that observe and never trade: only they run several instances. */
export const REPLICABLE = ['ml_analytics', 'portfolio_manager', 'real_time_dashboard']

/**
 * A bot's instances on different nodes: for a replica, the bot it follows; for an observer
 * bot, its replicas (node, status) and, for an operator, the count to run.
 */
export function ReplicasPanel({ bot, role, onChanged }: { bot: BotRow; role: Role; onChanged: () => void }) {
  const [count, setCount] = useState(bot.placement.replicas)
  const [error, setError] = useState('')
  const [notice, setNotice] = useState('')
  useEffect(() => setCount(bot.placement.replicas), [bot.placement.replicas])
  const all = useApi('GET /api/v1/bots', bot.replica_of || !REPLICABLE.includes(bot.bot_type) ? null : {}, { intervalMs: 5_000 })
  if (bot.replica_of)
    return (
      <p data-testid="replica-of">
        Replica of <a href={`#/bots/${encodeURIComponent(bot.replica_of)}`}>{bot.replica_of}</a>: it runs that bot&apos;s configuration
        on a node of its own and follows its start, stop and restart.
      </p>
    )
  if (!REPLICABLE.includes(bot.bot_type)) return null
  const replicas = (all.data?.bots ?? []).filter((b) => b.replica_of === bot.bot_id)
  const apply = async (e: React.FormEvent) => {
    e.preventDefault()
    try {
      const done = await call('PUT /api/v1/bots/{bot_id}/replicas', { params: { bot_id: bot.bot_id }, body: { replicas: count } })
      const what = [done.added.length ? `added ${done.added.join(', ')}` : '', done.removed.length ? `removed ${done.removed.join(', ')}` : '']
        .filter(Boolean)
        .join('; ')
      setNotice(`${done.replicas} instance(s)${what ? `: ${what}` : ''}`)
      setError('')
      await all.reload()
      onChanged()
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err))
    }
  }
  return (
    <section data-testid="replicas">
      <h3>Replicas</h3>
      <p className="muted">
        {bot.placement.replicas} instance(s), each on another node: this bot and {replicas.length} replica(s).
      </p>
      {replicas.length > 0 && (
        <ul>
          {replicas.map((r) => (
            <li key={r.bot_id}>
              <a href={`#/bots/${encodeURIComponent(r.bot_id)}`}>{r.bot_id}</a> on {r.node_id || 'no node yet'}
              {r.pending && <span className="pill warn"> pending: {r.pending}</span>}
            </li>
          ))}
        </ul>
      )}
      {can(role, 'operator') && (
        <form className="row" onSubmit={apply}>
          <label>
            Instances{' '}
            <input
              type="number"
              min={1}
              max={16}
              value={count}
              onChange={(e) => setCount(Number(e.target.value))}
              data-testid="replicas-count"
            />
          </label>
          <button type="submit">Apply</button>
        </form>
      )}
      {notice && <div className="notice">{notice}</div>}
      {error && (
        <div className="error" role="alert">
          {error}
        </div>
      )}
    </section>
  )
}
