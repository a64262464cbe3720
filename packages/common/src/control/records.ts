/**
 * The control channel's record formats without its message codec: route records, response
 * records and their constants. The pure layers (the intercept core) import this, not the
 * control index, whose codec loads msgpackr and its native addon.
 */
export * from './constants.js';
export * from './responses.js';
export * from './payload-responses.js';
export * from './routes.js';
