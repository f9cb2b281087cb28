/**
 * How a route reaches the database: the server hands every route a StoreAccess, which returns the
 * Store once start-up has connected it and throws 503 database_unavailable before. Its own file so
 * routes and the server both import it and neither imports the other.
 */
import type pg from 'pg'
import type { BucketQuery } from '../store/buckets.js'

/** The API's database access once start-up has made it (the server listens before). */
export interface Store {
  readonly db: pg.Pool
  readonly buckets: BucketQuery
}

/** Returns the store or throws 503 while the database is not connected yet. */
export type StoreAccess = () => Store
