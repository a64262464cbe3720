export * from './types.js';
export * from './link.js';
export * from './ipv4.js';
export * from './tcp.js';
export * from './tcp-options.js';
export * from './checksum.js';
export * from './rewrite.js';
export * from './write.js';
