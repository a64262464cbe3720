export * from './source.js';
export * from './sink.js';
export * from './clock.js';
export * from './live-capture.js';
export * from './pcap-format.js';
export * from './pcap-file.js';
export * from './raw-socket-sink.js';
export * from './devices.js';
