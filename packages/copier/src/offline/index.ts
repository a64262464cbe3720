/** Offline replay: a pcap file as a paced packet source. */
export * from './offline-source.js';
export * from './replay-schedule.js';
export * from './progress.js';
