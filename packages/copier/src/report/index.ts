export * from './diff-line.js';
export * from './classify.js';
export * from './aggregate.js';
export * from './side-by-side.js';
export * from './text.js';
export * from './html.js';
export * from './cli.js';
