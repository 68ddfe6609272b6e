import type { HTMLAttributes, Key, ReactNode } from 'react'

export interface Column<R> {
  header: ReactNode
  cell: (row: R, index: number) => ReactNode
  /** On both the header and the cells (e.g. `num` for right-aligned numbers). */
  className?: string
}

/** Attributes of a row's `<tr>`, `data-*` ones included. */
export type RowProps = HTMLAttributes<HTMLTableRowElement> & {
  [data: `data-${string}`]: string | number | undefined
}

/** A data table: a header row, then a row per item (or the `empty` row when there is none). */
export function Table<R>({
  columns,
  rows,
  rowKey,
  empty,
  testId,
  className,
  rowProps,
}: {
  columns: Column<R>[]
  rows: readonly R[]
  rowKey: (row: R, index: number) => Key
  /** Shown across every column when `rows` is empty (no row when absent). */
  empty?: ReactNode
  /** The table's `data-testid`. */
  testId?: string
  className?: string
  rowProps?: (row: R) => RowProps
}) {
  return (
    <table data-testid={testId} className={className}>
      <thead>
        <tr>
          {columns.map((c, i) => (
            <th key={i} className={c.className}>
              {c.header}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map((r, i) => (
          <tr key={rowKey(r, i)} {...rowProps?.(r)}>
            {columns.map((c, j) => (
              <td key={j} className={c.className}>
                {c.cell(r, i)}
              </td>
            ))}
          </tr>
        ))}
        {rows.length === 0 && empty !== undefined && empty !== null && empty !== false && (
          <tr>
            <td colSpan={columns.length} className="muted">
              {empty}
            </td>
          </tr>
        )}
      </tbody>
    </table>
  )
}
