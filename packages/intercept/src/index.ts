export {};
export * from './core/index.js';
