/**
 * The least a database handle must offer the write side's SQL helpers: pg's Client/PoolClient/Pool
 * satisfy it, and so does an adapter over PGlite (the TimescaleDB tests).
 */
export interface SqlResult<R> {
  readonly rows: R[]
  readonly rowCount: number | null
}

export interface SqlClient {
  query<R extends object = Record<string, unknown>> (text: string, params?: unknown[]): Promise<SqlResult<R>>
}
