export {};
export * from './packet/index.js';
export * from './control/index.js';
export * from './errors.js';
export * from './log.js';
export * from './cli.js';
export * from './cli-values.js';
export * from './cli-daemon.js';
export * from './io/index.js';
