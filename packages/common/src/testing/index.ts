export * from './packet-builder.js';
export * from './pcap-file.js';
export * from './pcapng-file.js';
export * from './prng.js';
