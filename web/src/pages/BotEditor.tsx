import { useEffect, useState } from 'react'
import { api, ApiError, BOT_TYPES, type FieldError } from '../api'
import { SchemaForm } from '../components/SchemaForm'
import { go } from '../router'

/** Creates a bot from its type's template (`id` undefined) or edits an existing bot's config. */
export function BotEditor({ id }: { id?: string }) {
  const [botType, setBotType] = useState<string>(BOT_TYPES[0])
  const [nodeId, setNodeId] = useState('local')
  const [nodes, setNodes] = useState<string[]>([])
  const [schema, setSchema] = useState<any>(null)
  const [config, setConfig] = useState<any>(null)
  const [version, setVersion] = useState<number | null>(null)
  const [errors, setErrors] = useState<FieldError[]>([])
  const [message, setMessage] = useState('')
  const [result, setResult] = useState<any>(null)
  const [busy, setBusy] = useState(false)

  useEffect(() => {
    api('GET', '/api/v1/nodes')
      .then((r) => {
        const ids = r.nodes.map((n: any) => n.node_id)
        setNodes(ids)
        if (ids.length && !ids.includes('local')) setNodeId(ids[0])
      })
      .catch(() => {})
  }, [])
  // Existing bot: its current config and version.
  useEffect(() => {
    if (!id) return
    api('GET', `/api/v1/bots/${encodeURIComponent(id)}`)
      .then((r) => {
        setBotType(r.bot.bot_type)
        setNodeId(r.bot.node_id)
        setConfig(r.config.body)
        setVersion(r.config.version)
      })
      .catch((e) => setMessage(e.message))
  }, [id])
  // The type's schema, and for a new bot its template.
  useEffect(() => {
    setSchema(null)
    setErrors([])
    setMessage('')
    api('GET', `/api/v1/configs/schemas/${botType}`)
      .then(setSchema)
      .catch((e) => setMessage(e.message))
    if (!id)
      api('GET', `/api/v1/configs/templates/${botType}`)
        .then(setConfig)
        .catch((e) => setMessage(e.message))
  }, [botType, id])

  const save = async () => {
    setBusy(true)
    setErrors([])
    setMessage('')
    setResult(null)
    try {
      if (!id) {
        const r = await api('POST', '/api/v1/bots', { config, node_id: nodeId })
        go('bots', r.bot.bot_id)
      } else {
        const r = await api('PUT', `/api/v1/bots/${encodeURIComponent(id)}`, { config }, { 'if-match': String(version) })
        setVersion(r.version)
        setResult(r)
      }
    } catch (e) {
      if (e instanceof ApiError) {
        setErrors(e.fieldErrors())
        setMessage(
          e.code === 'version_conflict' ? `${e.message} — reload to edit the current version` : e.message,
        )
      } else setMessage(String(e))
    } finally {
      setBusy(false)
    }
  }

  return (
    <main>
      <header className="page-head">
        <h2>{id ? `Edit ${id}` : 'New bot'}</h2>
        {version !== null && <span className="muted">based on v{version}</span>}
      </header>
      {!id && (
        <div className="row">
          <label>
            Type
            <select value={botType} onChange={(e) => setBotType(e.target.value)} aria-label="bot type">
              {BOT_TYPES.map((t) => (
                <option key={t}>{t}</option>
              ))}
            </select>
          </label>
          <label>
            Node
            <select value={nodeId} onChange={(e) => setNodeId(e.target.value)} aria-label="node">
              {(nodes.length ? nodes : [nodeId]).map((n) => (
                <option key={n}>{n}</option>
              ))}
            </select>
          </label>
        </div>
      )}
      <p className="muted">
        Fields marked <span className="badge hot">hot</span> apply to a running bot at once; <span className="badge restart">restart</span>{' '}
        fields restart it.
      </p>
      {message && (
        <div className="error" role="alert" data-testid="save-error">
          {message}
        </div>
      )}
      {result && (
        <div className="notice" data-testid="save-result">
          Saved v{result.version}.{' '}
          {result.applied_hot.length > 0 && <>Applied without a restart: {result.applied_hot.join(', ')}. </>}
          {result.restart_required.length > 0 && <>Restarting for: {result.restart_required.join(', ')}.</>}
          {result.applied_hot.length === 0 && result.restart_required.length === 0 && <>No change.</>}
        </div>
      )}
      {schema && config ? (
        <SchemaForm schema={schema} value={config} onChange={setConfig} errors={errors} lockId={!!id} />
      ) : (
        <p className="muted">Loading…</p>
      )}
      <div className="row">
        <button className="primary" disabled={busy || !config} onClick={save}>
          {id ? 'Save' : 'Create bot'}
        </button>
        <button onClick={() => (id ? go('bots', id) : go(''))}>Back</button>
      </div>
    </main>
  )
}
