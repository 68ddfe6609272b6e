import { useEffect, useRef, useState } from 'react'

/** `list` with the item at `from` moved to `to`. */
export function moved<T>(list: readonly T[], from: number, to: number): T[] {
  if (from === to || from < 0 || from >= list.length || to < 0 || to >= list.length) return [...list]
  const out = [...list]
  const [item] = out.splice(from, 1)
  out.splice(to, 0, item)
  return out
}

/**
 * An ordered list field (venues, pairs, base mints, weights): each item a chip to drag onto
 * another's place, or to move with its ◀ ▶ buttons or Alt+←/→ (the keyboard way; focus follows
 * the chip), or to remove; the list is also edited in place as comma-separated text. `choices`
 * (an enum) turns the text into checkboxes.
 */
export function ListInput({
  id,
  value,
  onChange,
  readOnly,
  numeric,
  choices,
}: {
  id: string
  value: unknown
  onChange: (v: unknown[]) => void
  readOnly?: boolean
  /** Items typed are numbers. */
  numeric?: boolean
  /** The items allowed (checkboxes add and remove them). */
  choices?: readonly unknown[]
}) {
  const items: unknown[] = Array.isArray(value) ? value : []
  const [dragged, setDragged] = useState<number | null>(null)
  // The chip a keyboard move put somewhere: focused again there after the render.
  const [focusAt, setFocusAt] = useState<number | null>(null)
  const [draft, setDraft] = useState<string | null>(null)
  const chips = useRef<HTMLOListElement>(null)
  useEffect(() => {
    if (focusAt === null) return
    const el = chips.current?.children[focusAt]
    if (el instanceof HTMLElement) el.focus()
    setFocusAt(null)
  }, [focusAt])
  const move = (from: number, to: number) => onChange(moved(items, from, to))
  const moveByKey = (from: number, to: number) => {
    if (to < 0 || to >= items.length) return
    move(from, to)
    setFocusAt(to)
  }
  return (
    <span id={id} className="list-input" data-testid={`list-${id.slice(2)}`}>
      <ol className="chips" ref={chips}>
        {items.map((item, i) => (
          <li
            key={`${String(item)}-${i}`}
            className={`chip${dragged === i ? ' dragged' : ''}`}
            draggable={!readOnly}
            data-item={String(item)}
            tabIndex={readOnly ? -1 : 0}
            aria-label={`${String(item)}, ${i + 1} of ${items.length}`}
            onDragStart={(e) => {
              setDragged(i)
              e.dataTransfer.effectAllowed = 'move'
              e.dataTransfer.setData('text/plain', String(i))
            }}
            onDragEnd={() => setDragged(null)}
            onDragOver={(e) => {
              if (dragged !== null) e.preventDefault()
            }}
            onDrop={(e) => {
              // Only this list's own chips move here (a file or a stored configuration dropped
              // on a chip goes on to the editor's drop zone).
              if (dragged === null) return
              e.preventDefault()
              e.stopPropagation()
              setDragged(null)
              move(dragged, i)
            }}
            onKeyDown={(e) => {
              if (readOnly || !e.altKey) return
              if (e.key === 'ArrowLeft' || e.key === 'ArrowUp') {
                e.preventDefault()
                moveByKey(i, i - 1)
              } else if (e.key === 'ArrowRight' || e.key === 'ArrowDown') {
                e.preventDefault()
                moveByKey(i, i + 1)
              }
            }}
          >
            {!readOnly && <span className="grip" aria-hidden="true">⠿</span>}
            {String(item)}
            {!readOnly && (
              <>
                <button type="button" aria-label={`move ${String(item)} earlier`} disabled={i === 0} onClick={() => move(i, i - 1)}>
                  ◀
                </button>
                <button
                  type="button"
                  aria-label={`move ${String(item)} later`}
                  disabled={i === items.length - 1}
                  onClick={() => move(i, i + 1)}
                >
                  ▶
                </button>
                {!choices && (
                  <button type="button" aria-label={`remove ${String(item)}`} onClick={() => onChange(items.filter((_, j) => j !== i))}>
                    ×
                  </button>
                )}
              </>
            )}
          </li>
        ))}
      </ol>
      {choices ? (
        <span className="choices">
          {choices.map((o) => (
            <label key={String(o)}>
              <input
                type="checkbox"
                disabled={readOnly}
                checked={items.includes(o)}
                onChange={(e) => onChange(e.target.checked ? [...items, o] : items.filter((c) => c !== o))}
              />
              {String(o)}
            </label>
          ))}
        </span>
      ) : (
        <input
          type="text"
          aria-label={`${id.slice(2)} as text`}
          placeholder="comma-separated"
          readOnly={readOnly}
          value={draft ?? items.join(', ')}
          onChange={(e) => {
            // The text as typed while editing (a trailing comma stays), the list parsed from it.
            setDraft(e.target.value)
            onChange(
              e.target.value
                .split(',')
                .map((p) => p.trim())
                .filter(Boolean)
                .map((p) => (numeric && Number.isFinite(Number(p)) ? Number(p) : p)),
            )
          }}
          onBlur={() => setDraft(null)}
        />
      )}
    </span>
  )
}
