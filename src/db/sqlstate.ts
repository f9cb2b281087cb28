/**
 * The SQLSTATE of a database error, for the callers that branch on it (write/ classifies failed
 * writes, api/ maps refusals to responses, start-up tells "database missing" from "unreachable").
 * A neutral module so that api/ need not reach into write/.
 */
export function sqlstateOf (err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code
  }
  return undefined
}
