export * from './constants.js';
export * from './routes.js';
export * from './responses.js';
export * from './messages.js';
export * from './codec.js';
export * from './connection.js';
export * from './legacy-routes.js';
export * from './legacy-replies.js';
