/**
 * The SQL panels and template variables of the bundled Grafana dashboard, with Grafana's macros
 * substituted the way its PostgreSQL data source does, so tests can run them against a database.
 *
 *   $__timeFilter(col)      col BETWEEN '<from>' AND '<to>'      (RFC 3339 UTC, as Grafana writes them)
 *   $__timeFrom() $__timeTo()  '<from>'  '<to>'
 *   $__timeGroup(col, '1m')    floor(extract(epoch from col)/60)*60   (…Alias adds AS "time")
 *   $var                       the variable's values, quoted and comma-separated (a multi-value IN list)
 */
import { readFileSync } from 'node:fs'

export const DASHBOARD = new URL('../../docker/grafana/dashboards/cnc-monitor.json', import.meta.url)

interface Target { readonly rawSql?: string, readonly refId?: string }
interface Panel { readonly title?: string, readonly datasource?: { readonly type?: string }, readonly targets?: readonly Target[], readonly panels?: readonly Panel[] }
interface Variable { readonly name: string, readonly type: string, readonly query?: string | { readonly rawSql?: string }, readonly datasource?: { readonly type?: string } }

export interface PanelQuery { readonly title: string, readonly sql: string }

const isSql = (ds: { readonly type?: string } | undefined): boolean => ds?.type === 'grafana-postgresql-datasource' || ds?.type === 'postgres'

function dashboard (): { panels: Panel[], templating?: { list?: Variable[] } } {
  return JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[], templating?: { list?: Variable[] } }
}

/** Every SQL target of every panel (rows' nested panels included). */
export function panelQueries (): PanelQuery[] {
  const out: PanelQuery[] = []
  const walk = (panels: readonly Panel[]): void => {
    for (const p of panels) {
      if (isSql(p.datasource)) for (const t of p.targets ?? []) if (t.rawSql !== undefined) out.push({ title: `${p.title ?? '?'} (${t.refId ?? 'A'})`, sql: t.rawSql })
      if (p.panels !== undefined) walk(p.panels)
    }
  }
  walk(dashboard().panels)
  return out
}

/** The SQL query variables, by name. */
export function variableQueries (): PanelQuery[] {
  return (dashboard().templating?.list ?? [])
    .filter((v) => v.type === 'query' && isSql(v.datasource))
    .map((v) => ({ title: `$${v.name}`, sql: typeof v.query === 'string' ? v.query : v.query?.rawSql ?? '' }))
}

const quote = (s: string): string => `'${s.replaceAll("'", "''")}'`

function intervalSeconds (text: string): number {
  const m = /^'?(\d+)([smhd])'?$/.exec(text.trim())
  if (m === null) throw new Error(`unsupported $__timeGroup interval ${text}`)
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd']
}

export function substitute (sql: string, from: Date, to: Date, vars: Record<string, readonly string[]>): string {
  const f = quote(from.toISOString())
  const t = quote(to.toISOString())
  let out = sql
    .replace(/\$__timeFilter\(([^)]+)\)/g, (_, col: string) => `${col.trim()} BETWEEN ${f} AND ${t}`)
    .replaceAll('$__timeFrom()', f)
    .replaceAll('$__timeTo()', t)
    .replace(/\$__timeGroup(Alias)?\(([^,]+),([^)]+)\)/g, (_, alias: string | undefined, col: string, iv: string) => {
      const s = intervalSeconds(iv)
      return `to_timestamp(floor(extract(epoch from ${col.trim()})/${s})*${s})${alias === undefined ? '' : ' AS "time"'}`
    })
  for (const [name, values] of Object.entries(vars)) {
    out = out.replace(new RegExp(`\\$\\{?${name}\\b\\}?`, 'g'), values.length === 0 ? 'NULL' : values.map(quote).join(','))
  }
  const left = /\$\{?[A-Za-z_]\w*/.exec(out)
  if (left !== null) throw new Error(`unsubstituted ${left[0]} in: ${sql}`)
  return out
}
