export * from './engine/index.js';
export * from './config.js';
