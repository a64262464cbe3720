/**
 * A validator for the part of JSON Schema draft 2020-12 that docs/compare-diff-log.schema.json
 * uses, so the schema can be checked without a validator dependency. A keyword outside that part
 * is an error: the schema cannot grow past what this checks without the test saying so.
 */
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Schema = { readonly [keyword: string]: Json };

const ANNOTATIONS = new Set(['$schema', '$defs', 'title', 'description']);
const CHECKED = new Set([
  'type',
  'required',
  'properties',
  'additionalProperties',
  'enum',
  'minimum',
  'maximum',
  'pattern',
  'items',
  'prefixItems',
  'minItems',
  'maxItems',
  'oneOf',
  '$ref',
]);

function isObject(value: Json | undefined): value is { [key: string]: Json } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function typeOf(value: Json): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function typeMatches(value: Json, type: Json): boolean {
  const types = Array.isArray(type) ? type : [type];
  const actual = typeOf(value);
  return types.some((t) => t === actual || (t === 'number' && actual === 'integer'));
}

/** The problems found in `value`, as "path: what"; empty when it is valid. */
export function validate(root: Schema, value: Json): string[] {
  const check = (schema: Schema, v: Json, path: string, problems: string[]): void => {
    for (const keyword of Object.keys(schema)) {
      if (!ANNOTATIONS.has(keyword) && !CHECKED.has(keyword)) throw new Error(`unsupported keyword ${keyword}`);
    }
    const ref = schema['$ref'];
    if (typeof ref === 'string') {
      const name = ref.replace(/^#\/\$defs\//, '');
      const defs = root['$defs'];
      const target = isObject(defs) ? defs[name] : undefined;
      if (!isObject(target)) throw new Error(`unresolved $ref ${ref}`);
      check(target, v, path, problems);
    }
    const oneOf = schema['oneOf'];
    if (Array.isArray(oneOf)) {
      const matching = oneOf.filter((s) => {
        const own: string[] = [];
        if (isObject(s)) check(s, v, path, own);
        return isObject(s) && own.length === 0;
      }).length;
      if (matching !== 1) problems.push(`${path}: matches ${matching} of oneOf`);
    }
    if (schema['type'] !== undefined && !typeMatches(v, schema['type'])) {
      problems.push(`${path}: ${typeOf(v)} is not ${JSON.stringify(schema['type'])}`);
      return;
    }
    const allowed = schema['enum'];
    if (Array.isArray(allowed) && !allowed.includes(v)) problems.push(`${path}: ${JSON.stringify(v)} not in enum`);
    if (typeof v === 'number') {
      const min = schema['minimum'];
      const max = schema['maximum'];
      if (typeof min === 'number' && v < min) problems.push(`${path}: ${v} < ${min}`);
      if (typeof max === 'number' && v > max) problems.push(`${path}: ${v} > ${max}`);
    }
    const pattern = schema['pattern'];
    if (typeof v === 'string' && typeof pattern === 'string' && !new RegExp(pattern, 'u').test(v)) {
      problems.push(`${path}: does not match ${pattern}`);
    }
    if (isObject(v)) {
      const properties = isObject(schema['properties']) ? schema['properties'] : {};
      const required = schema['required'];
      if (Array.isArray(required)) {
        for (const name of required) if (typeof name === 'string' && !(name in v)) problems.push(`${path}: no ${name}`);
      }
      for (const [name, member] of Object.entries(v)) {
        const sub = properties[name];
        if (isObject(sub)) check(sub, member, `${path}.${name}`, problems);
        else if (schema['additionalProperties'] === false) problems.push(`${path}: unexpected ${name}`);
      }
    }
    if (Array.isArray(v)) {
      const minItems = schema['minItems'];
      const maxItems = schema['maxItems'];
      if (typeof minItems === 'number' && v.length < minItems) problems.push(`${path}: fewer than ${minItems} items`);
      if (typeof maxItems === 'number' && v.length > maxItems) problems.push(`${path}: more than ${maxItems} items`);
      const prefix = Array.isArray(schema['prefixItems']) ? schema['prefixItems'] : [];
      v.forEach((item, i) => {
        const sub = i < prefix.length ? prefix[i] : schema['items'];
        if (isObject(sub)) check(sub, item, `${path}[${i}]`, problems);
      });
    }
  };
  const problems: string[] = [];
  check(root, value, '$', problems);
  return problems;
}

export type { Json, Schema };
