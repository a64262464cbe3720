export * from './stream-reassembly.js';
export * from './exchange-recorder.js';
export * from './exchange-compare.js';
export * from './diff-record.js';
export * from './http-body.js';
export * from './http-head.js';
export * from './http-parser.js';
export * from './http-compare.js';
