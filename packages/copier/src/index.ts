export * from './engine/index.js';
export * from './config.js';
export * from './check.js';
