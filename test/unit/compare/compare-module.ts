/**
 * The compare layer, loaded from the copier's build: it has no package sub-path yet (the copier's
 * `exports` will get one when the layer is wired in), so tests reach its compiled index directly.
 * Types come from the sources, so the tests still type-check against them.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
const INDEX = pathToFileURL(resolve(ROOT, 'packages/copier/dist/compare/index.js')).href;

export const compare = (await import(INDEX)) as typeof import('../../../packages/copier/src/compare/index.js');
