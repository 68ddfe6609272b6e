import { errorsFor, getAt, sections, setAt, unplacedErrors, type Field, type JsonSchema } from '../schema'
import type { FieldError } from '../api'
import { ListInput } from './ListInput'

/** A form generated from a bot type's JSON Schema; `errors` are the server's, shown at their fields. */
export function SchemaForm({
  schema,
  value,
  onChange,
  errors,
  readOnly,
  lockId,
}: {
  schema: JsonSchema
  /** The configuration as edited (free-form JSON: a field may hold text the server will refuse). */
  value: unknown
  onChange: (v: Record<string, unknown>) => void
  errors: FieldError[]
  readOnly?: boolean
  /** The bot id cannot change once the bot exists. */
  lockId?: boolean
}) {
  const secs = sections(schema)
  const all = secs.flatMap((s) => s.fields)
  const loose = unplacedErrors(all, errors)
  return (
    <form className="schema-form" onSubmit={(e) => e.preventDefault()}>
      {loose.length > 0 && (
        <ul className="errors" data-testid="form-errors">
          {loose.map((e) => (
            <li key={e.path + e.message}>
              <code>{e.path}</code>: {e.message}
            </li>
          ))}
        </ul>
      )}
      {secs.map((s) => (
        <fieldset key={s.path || 'root'}>
          <legend>{s.path || 'bot'}</legend>
          {s.fields.map((f) => (
            <FieldInput
              key={f.path}
              field={f}
              value={getAt(value, f.path)}
              onChange={(v) => onChange(setAt(value, f.path, v))}
              errors={errorsFor(f.path, errors)}
              readOnly={readOnly || (lockId && f.path === 'bot_id') || 'const' in (f.schema ?? {})}
            />
          ))}
        </fieldset>
      ))}
    </form>
  )
}

function FieldInput({
  field,
  value,
  onChange,
  errors,
  readOnly,
}: {
  field: Field
  value: unknown
  onChange: (v: unknown) => void
  errors: string[]
  readOnly?: boolean
}) {
  const s: JsonSchema = field.schema ?? {}
  const name = field.path.split('.').pop()
  const id = `f-${field.path}`
  let input
  if (s.type === 'boolean') {
    input = (
      <input id={id} type="checkbox" checked={!!value} disabled={readOnly} onChange={(e) => onChange(e.target.checked)} />
    )
  } else if (Array.isArray(s.enum)) {
    input = (
      <select id={id} value={String(value ?? '')} disabled={readOnly} onChange={(e) => onChange(e.target.value)}>
        {s.enum.map((o: unknown) => (
          <option key={String(o)}>{String(o)}</option>
        ))}
      </select>
    )
  } else if (s.type === 'integer' || s.type === 'number') {
    input = (
      <input
        id={id}
        type="number"
        step={s.type === 'integer' ? 1 : 'any'}
        min={s.minimum}
        max={s.maximum}
        value={typeof value === 'number' || typeof value === 'string' ? value : ''}
        readOnly={readOnly}
        onChange={(e) => {
          const raw = e.target.value
          const n = Number(raw)
          const ok = raw.trim() !== '' && Number.isFinite(n) && (s.type !== 'integer' || Number.isInteger(n))
          // Not a number: sent as typed, so the server says what is wrong at this field.
          onChange(ok ? n : raw)
        }}
      />
    )
  } else if (s.type === 'array') {
    // Ordered lists: reorder by dragging (or the keyboard), add and remove.
    input = (
      <ListInput
        id={id}
        value={value}
        onChange={onChange}
        readOnly={readOnly}
        numeric={s.items?.type === 'integer' || s.items?.type === 'number'}
        choices={Array.isArray(s.items?.enum) ? s.items.enum : undefined}
      />
    )
  } else if (s.type === 'object') {
    // A map (symbol → weight or amount), edited as JSON; text that is not an object is sent as
    // typed so the server says what is wrong here.
    input = <MapInput id={id} value={value} readOnly={readOnly} onChange={onChange} />
  } else if ('const' in s) {
    input = <input id={id} type="text" value={String(s.const)} readOnly />
  } else {
    input = (
      <input id={id} type="text" value={String(value ?? '')} readOnly={readOnly} onChange={(e) => onChange(e.target.value)} />
    )
  }
  return (
    <div className={`field${errors.length ? ' invalid' : ''}`} data-path={field.path}>
      <label htmlFor={id}>
        {name}
        {field.hot === true && (
          <span className="badge hot" title="applies without a restart">
            hot
          </span>
        )}
        {field.hot === false && (
          <span className="badge restart" title="needs a restart">
            restart
          </span>
        )}
      </label>
      {input}
      {s.description && <small className="muted">{s.description.replace(/ \((needs a restart|applies without a restart)\)$/, '')}</small>}
      {errors.map((e) => (
        <div key={e} className="error" role="alert">
          {e}
        </div>
      ))}
    </div>
  )
}

function MapInput({
  id,
  value,
  readOnly,
  onChange,
}: {
  id: string
  value: unknown
  readOnly?: boolean
  onChange: (v: unknown) => void
}) {
  const text = typeof value === 'string' ? value : JSON.stringify(value ?? {})
  return (
    <input
      id={id}
      type="text"
      value={text}
      readOnly={readOnly}
      onChange={(e) => {
        try {
          const v: unknown = JSON.parse(e.target.value)
          onChange(v && typeof v === 'object' && !Array.isArray(v) ? v : e.target.value)
        } catch {
          onChange(e.target.value)
        }
      }}
    />
  )
}
