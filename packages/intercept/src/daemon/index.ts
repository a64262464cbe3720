export * from './control-server.js';
export * from './reply-capture.js';
export * from './intercept-daemon.js';
export * from './metrics.js';
