export * from './addressing.js';
export * from './config.js';
export * from './counters.js';
export * from './engine.js';
export * from './segment.js';
export * from './seq.js';
export * from './wire.js';
export * from './rtt.js';
