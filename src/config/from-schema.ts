/**
 * The TypeScript type of a value that passed a JSON schema (ajv with useDefaults), computed from
 * the schema's `as const` literal, for the keywords configSchema uses:
 *
 *   enum                  the union of its values            type integer | number → number
 *   type string → string  type boolean → boolean             type array → readonly items[]
 *   type object           readonly properties; a property listed in `required` or carrying a
 *                         `default` is present, any other is optional
 *
 * Bounds, patterns and lengths narrow nothing here (ajv enforces them at run time). A keyword
 * outside this list yields `unknown`, so a schema change that this type does not understand shows
 * up as a type error where the value is used, never as a wrong type.
 */
export type FromSchema<S> =
  S extends { readonly enum: ReadonlyArray<infer E> } ? E
    : S extends { readonly type: 'integer' | 'number' } ? number
      : S extends { readonly type: 'string' } ? string
        : S extends { readonly type: 'boolean' } ? boolean
          : S extends { readonly type: 'array', readonly items: infer I } ? ReadonlyArray<FromSchema<I>>
            : S extends { readonly type: 'object', readonly properties: infer P } ? ObjectOf<P, RequiredOf<S>>
              : unknown

type RequiredOf<S> = S extends { readonly required: ReadonlyArray<infer R> } ? R : never

type Present<P, R> = { [K in keyof P]: K extends R ? K : P[K] extends { readonly default: unknown } ? K : never }[keyof P]

type Expand<T> = T extends infer O ? { [K in keyof O]: O[K] } : never

type ObjectOf<P, R> = Expand<
  { readonly [K in Present<P, R>]: FromSchema<P[K]> } &
  { readonly [K in Exclude<keyof P, Present<P, R>>]?: FromSchema<P[K]> }
>
