/** The daemon's parts around the pure engine: capture glue, control links, timers, diagnosis, metrics. */
export * from './address-watch.js';
export * from './capture-filter.js';
export * from './capture-loss.js';
export * from './comparison.js';
export * from './diff-log.js';
export * from './deadline-timer.js';
export * from './diagnosis.js';
export * from './intercept-links.js';
export * from './memory-guard.js';
export * from './metrics.js';
export * from './pipeline.js';
export * from './stats.js';
