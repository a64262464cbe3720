export * from './keys.js';
export * from './route-table.js';
export * from './parking-lot.js';
export * from './batcher.js';
export * from './intercept-core.js';
