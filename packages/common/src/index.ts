export {};
export * from './packet/index.js';
