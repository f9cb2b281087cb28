/**
 * Build step: the code derived from the field descriptor where speed needs it.
 *   tsx src/parse/generate.ts          write src/parse/generated/{validate-reading.js,encode-fields.ts}
 *   tsx src/parse/generate.ts --check  exit 1 when a committed file is stale (npm run typecheck)
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { ENCODER_FILE, generateEncoderSource } from './generate-encoder.js'
import { VALIDATOR_FILE, generateValidatorSource } from './generate-validator.js'

const OUTPUTS: ReadonlyArray<[string, () => string]> = [
  [VALIDATOR_FILE, generateValidatorSource],
  [ENCODER_FILE, generateEncoderSource],
]

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const check = process.argv.includes('--check')
  let stale = false
  for (const [file, source] of OUTPUTS) {
    const text = source()
    if (!check) {
      writeFileSync(file, text)
    } else if (readFileSync(file, 'utf8') !== text) {
      console.error(`${file} is stale: run npm run build`)
      stale = true
    }
  }
  if (stale) process.exit(1)
}
