export {};
export * from './config.js';
export * from './core/index.js';
export * from './daemon/index.js';
export * from './check.js';
