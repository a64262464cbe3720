export {};
export * from './packet/index.js';
export * from './control/index.js';
