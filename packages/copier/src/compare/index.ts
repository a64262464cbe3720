export * from './stream-reassembly.js';
export * from './exchange-recorder.js';
export * from './exchange-compare.js';
export * from './diff-record.js';
