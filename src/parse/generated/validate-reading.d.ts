import type { ErrorObject } from 'ajv'

/** Standalone validator generated from reading-schema.ts (see generate-validator.ts). */
export declare const validateReading: {
  (data: unknown): boolean
  errors?: ErrorObject[] | null
}
